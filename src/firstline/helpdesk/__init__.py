"""The helpdesk product: taxonomy, triage, specialists, their tools and the demo seed data."""
