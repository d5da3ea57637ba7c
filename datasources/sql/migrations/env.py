"""Alembic environment: runs migrations online against the URL given by :func:`datasources.sql.db.alembic_config`."""
from alembic import context

from datasources.sql.db import make_engine
from datasources.sql.models import Base
import datasources.sql.energy_models  # noqa: F401,E402 — registers the energy rollup tables (migration 0002)
import datasources.sql.alarm_models  # noqa: F401,E402 — alarms, work orders, users, roster (migration 0003)
import datasources.sql.city_models  # noqa: F401,E402 — cameras, pipelines, shops, enterprises, parks, staff (migration 0004)

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; give a database URL")
run_migrations_online()
