"""Connectors to the service desks IT teams already run, each a :class:`~firstline.ticketing.remote.TicketConnector`.

- :mod:`.servicenow`: ServiceNow Table API on ``incident`` (basic auth or OAuth client credentials).
- :mod:`.jira`: Jira Service Management customer requests, with the Jira platform API for search and edits.
- :mod:`.connectwise`: ConnectWise PSA service tickets.
- :mod:`.webform`: a legacy ticket web application with no API, driven in Chromium.

:mod:`firstline.vendors.http` is the HTTP client they share with the directory connectors (credentials,
retries, the error boundary).
"""
