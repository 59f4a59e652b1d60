"""Backends for the storage contract suite: a SQLite file and a PostgreSQL database.

PostgreSQL comes from MONITORD_TEST_PG_URL (default: the database .ci/postgres.sh
creates). When it cannot be reached the PostgreSQL cases are skipped on a
developer's machine, but fail under CI (env var CI set), where a silent skip
would hide that half the contract went untested.

Several test runs on one machine share that database, so each PostgreSQL case
holds an advisory lock from its clean-up to its end: runs take turns instead
of dropping each other's tables.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, MetaData, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from monitord.storage.repo import Repository

PG_LOCK = 0x6D6F6E69  # any constant all runs agree on; "moni"

PG_URL = os.environ.get("MONITORD_TEST_PG_URL", "postgresql+psycopg://monitord:monitord@127.0.0.1:5432/monitord_test")


@functools.cache
def pg_unreachable(url: str) -> str | None:
    """Why the PostgreSQL server at ``url`` cannot be used, or None when it can (asked once)."""
    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return None
    except OperationalError as exc:
        return str(exc.orig or exc).strip()
    finally:
        engine.dispose()


def drop_everything(url: str) -> None:
    """Drop every table in the database, alembic_version included, so a test starts clean."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            meta = MetaData()
            meta.reflect(conn)
            meta.drop_all(conn)
    finally:
        engine.dispose()


def require_pg() -> str:
    """The test PostgreSQL's URL; skips when it is unreachable, but fails under CI."""
    why = pg_unreachable(PG_URL)
    if why is not None:
        message = f"PostgreSQL at {PG_URL} is unreachable: {why}"
        if "CI" in os.environ:
            pytest.fail(f"{message} (CI is set, so this is a failure; run .ci/postgres.sh)", pytrace=False)
        pytest.skip(f"{message} (run .ci/postgres.sh, or set MONITORD_TEST_PG_URL)")
    return PG_URL


@contextmanager
def pg_turn() -> Iterator[Engine]:
    """An engine on the test PostgreSQL, holding the shared advisory lock until the block ends."""
    engine = create_engine(require_pg(), poolclass=NullPool)
    try:
        with engine.connect() as lock:
            lock.execute(text("SELECT pg_advisory_lock(:k)"), {"k": PG_LOCK})
            lock.commit()  # a session-level lock outlives the transaction; don't sit idle in one
            yield engine
            lock.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_LOCK})
            lock.commit()
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A URL to an empty database of each backend, the test's own until it ends."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'monitord.db'}"
        return
    with pg_turn():
        drop_everything(PG_URL)
        yield PG_URL


@pytest.fixture
def repo(db_url: str) -> Iterator[Repository]:
    """A repository on a freshly migrated database of each backend."""
    r = Repository.open(db_url)
    yield r
    r.close()
