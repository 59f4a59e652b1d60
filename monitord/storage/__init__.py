"""Storage: SQLAlchemy models, Alembic migrations and the repository that owns all SQL."""
