"""Alembic revisions of the directory store, oldest first (``0001_initial.py``, ...). Alembic skips this file."""
