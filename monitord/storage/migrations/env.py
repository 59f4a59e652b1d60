"""Alembic environment: migrates the connection in ``config.attributes["connection"]``.

``Repository.open`` passes its own connection, so no alembic.ini is needed at
run time. Without one, ``sqlalchemy.url`` from the config is used (e.g. an
alembic.ini a DBA writes to run ``alembic upgrade head --sql`` by hand).
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from monitord.storage.tables import Base

config = context.config
target_metadata = Base.metadata


def _configure(**kwargs: Any) -> None:
    context.configure(target_metadata=target_metadata, compare_type=True, **kwargs)


def run_offline() -> None:
    """Emit the SQL for a DBA to run instead of running it."""
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_on(connection: Connection) -> None:
    """Run the migrations on an open connection."""
    # SQLite can alter little in place; batch mode rebuilds the table instead.
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Run the migrations on the given connection, or on a new one to ``sqlalchemy.url``."""
    connection = config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError('no connection in config.attributes["connection"] and no sqlalchemy.url')
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        run_on(conn)


if context.is_offline_mode():
    run_offline()
else:
    run_online()
