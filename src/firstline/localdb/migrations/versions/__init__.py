"""Alembic revisions of the ticket store, oldest first (``0001_initial.py``, ...). Alembic skips this file."""
