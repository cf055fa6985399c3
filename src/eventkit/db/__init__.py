"""The store: tables, engine and sessions, the SQLite write turn, Alembic migrations."""
