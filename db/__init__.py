"""The database: typed ORM models, engines and sessions, Alembic migrations, and the bulk write SQL.

No business rules live here; services/ decides, db/ stores. Callers own the session and its
transaction.
"""
