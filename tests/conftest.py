"""Shared fixtures: a private Redis server per test session (never a shared one), a clean DB per test."""
from __future__ import annotations

import pytest
import redis

from datasources.bus.redis_server import EmbeddedRedis


@pytest.fixture(scope="session")
def redis_server():
    """A private redis-server on a free loopback port for the whole session."""
    with EmbeddedRedis() as server:
        yield server


@pytest.fixture
def redis_url(redis_server) -> str:
    """URL of the private Redis, flushed before each test."""
    redis.Redis.from_url(redis_server.url).flushall()
    return redis_server.url


@pytest.fixture
def redis_client(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


# ---------------------------------------------------------------- databases

import os  # noqa: E402
import uuid  # noqa: E402

# Browser and API tests sign in many times a minute from 127.0.0.1; the limiter stays on (every test web process
# runs it) at a rate they do not reach. tests/test_web_api.py checks the product's default rate on its own app.
os.environ.setdefault("CC_LOGIN_RATE_LIMIT", "2000 per minute")
# test web processes do not write weekly snapshots on their own (tests/test_snapshot.py drives the scheduler step)
os.environ.setdefault("CC_SNAPSHOT_SCHEDULE", "0")

# Flask test clients send the CSRF token back like the product's pages do (tests/http_support.py); the protection
# itself stays on in every test app (tests/test_web_api.py checks refusals with a plain client).
import flask  # noqa: E402

from tests.http_support import CsrfClient  # noqa: E402

flask.Flask.test_client_class = CsrfClient

# Browser assertions wait on their condition; on a loaded 2-core CI machine a page's callbacks can take longer than
# Playwright's 5 s default, so every `expect` without its own timeout waits up to 20 s (it returns as soon as the
# condition holds: nothing gets slower on a quiet machine).
try:
    from playwright.sync_api import expect as _expect  # noqa: E402

    _expect.set_options(timeout=20_000)
except ImportError:  # pragma: no cover — playwright is in requirements-dev.txt
    pass

PG_ADMIN_URL = os.environ.get("CC_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_admin_engine():
    from sqlalchemy import create_engine

    url = PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    return create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})


@pytest.fixture(scope="session")
def postgres_admin():
    """An admin engine of the PostgreSQL on 127.0.0.1; the test is skipped only where none runs."""
    import sqlalchemy

    engine = _pg_admin_engine()
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    except sqlalchemy.exc.OperationalError as exc:
        pytest.skip(f"no PostgreSQL reachable at {PG_ADMIN_URL}: {exc.__class__.__name__}")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url(postgres_admin):
    """URL of a fresh, empty PostgreSQL database, dropped after the test."""
    import sqlalchemy

    name = f"cc_test_{uuid.uuid4().hex[:12]}"
    with postgres_admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with postgres_admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """Each test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cc.db'}"
    return request.getfixturevalue("postgres_url")
