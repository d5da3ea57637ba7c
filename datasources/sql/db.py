"""Database engine and migrations.

``DATABASE_URL`` (SQLAlchemy URL) selects the database; unset, a SQLite file under ``CC_DATA_DIR``. The schema is
built by Alembic migrations in ``datasources/sql/migrations`` (:func:`migrate`).
"""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(url: str, **kwargs) -> Engine:
    """An engine for ``url``. SQLite gets WAL journaling, foreign keys on and a 30 s busy timeout so the poller,
    recorder and web processes can share one file. ``postgresql://`` URLs use the psycopg 3 driver.

    Raises:
        sqlalchemy.exc.ArgumentError: malformed URL.
    """
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite"):
        db_path = url.split("///", 1)[-1]
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def alembic_config(url: str) -> Config:
    """Alembic configuration pointing at the project's migrations and ``url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision`` (idempotent)."""
    command.upgrade(alembic_config(url), revision)


def ping(engine: Engine) -> bool:
    """True when the database answers ``SELECT 1``."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 — any driver error means "down" for health
        return False


def writable(engine: Engine, timeout_ms: int = 500) -> tuple[bool, str | None]:
    """Whether the database accepts a write now: ``(True, None)`` or ``(False, reason)``.

    Runs ``UPDATE stations … WHERE 1 = 0`` in a transaction that is rolled back: it changes nothing but takes the
    write lock, so it fails on a read-only SQLite file, a SQLite file another process holds locked, a PostgreSQL hot
    standby or ``default_transaction_read_only``. Waits at most ``timeout_ms`` for a lock (SQLite ``busy_timeout``,
    PostgreSQL ``lock_timeout``), so a health check never hangs on the 30 s busy timeout of :func:`make_engine`.
    """
    sqlite = engine.dialect.name == "sqlite"
    try:
        with engine.connect() as conn:
            try:
                if sqlite:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(timeout_ms)}")
                else:
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(timeout_ms)}ms'")
                    conn.exec_driver_sql(f"SET LOCAL statement_timeout = '{int(timeout_ms) * 4}ms'")
                conn.execute(text("UPDATE stations SET station_id = station_id WHERE 1 = 0"))
            finally:
                conn.rollback()
                if sqlite:
                    conn.exec_driver_sql("PRAGMA busy_timeout = 30000")
                    conn.commit()
        return True, None
    except Exception as exc:  # noqa: BLE001 — any driver error means "not writable" for health
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
        return False, reason

