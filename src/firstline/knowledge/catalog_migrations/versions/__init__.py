"""Alembic revisions of the knowledge catalog, oldest first (``0001_catalog.py``, ...). Alembic skips this file."""
