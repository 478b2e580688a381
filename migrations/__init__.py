"""Alembic revisions of yanex's schema, installed as ``yanex._migrations``."""
