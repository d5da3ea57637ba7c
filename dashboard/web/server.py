"""Run the web process: Dash + Flask-SocketIO + live bridge on one port.

``serve(settings)`` is what ``python -m dashboard web`` calls. Host: ``CC_HOST`` (default ``127.0.0.1``), port:
``settings.port`` (``PORT``, default 8050). The server is Werkzeug in threading mode with simple-websocket for the
WebSocket transport.
"""
from __future__ import annotations

import logging

from datasources.sql.db import make_engine, migrate
from datasources.settings import Settings, load_settings

log = logging.getLogger(__name__)


def serve(settings: Settings | None = None, *, host: str | None = None, port: int | None = None,
          migrate_db: bool = True) -> None:
    """Build the app (:func:`dashboard.web.app.create_app`) and serve it until interrupted.

    Args:
        settings: configuration (default from the environment).
        host: bind address (default ``CC_HOST`` or ``127.0.0.1``).
        port: TCP port (default ``settings.port``).
        migrate_db: bring the schema to the newest Alembic revision first (idempotent).
    """
    from dashboard.web.app import create_app  # noqa: PLC0415
    from geo.regions import set_cache_dir  # noqa: PLC0415

    settings = settings or load_settings()
    set_cache_dir(settings.data_dir / "cache")  # the region index's disk cache: <CC_DATA_DIR>/cache
    if migrate_db:
        migrate(settings.database_url)
    engine = make_engine(settings.database_url)
    app, socketio = create_app(settings, engine=engine)
    if settings.snapshot_schedule:  # CC_SNAPSHOT_SCHEDULE: last week's report every Monday from 06:00 (Shanghai)
        from dashboard.pages.snapshot import start_snapshot_scheduler  # noqa: PLC0415

        start_snapshot_scheduler(settings, engine=engine, redis_client=app.server.extensions["cc"].redis)
    host = host or settings.host  # CC_HOST
    port = port or settings.port
    log.info("command center on http://%s:%d/", host, port)
    socketio.run(app.server, host=host, port=port, allow_unsafe_werkzeug=True, use_reloader=False,
                 log_output=False)
