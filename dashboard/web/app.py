"""Application factory: one Flask server carrying Dash, Flask-SocketIO, the HTTP API and the live bridge.

Usage::

    app, socketio = create_app()              # settings from the environment
    socketio.run(app.server, port=8050)        # or dashboard.web.server.serve(settings)

Configuration: :class:`datasources.settings.Settings` (``CC_SOCKETIO_MQ``, ``CC_FLUSH_MS``, ``CC_STALE_S``,
``CC_PIPE_EMIT_S``, ``CC_FEED_HEARTBEAT_S``, ``CC_PING_INTERVAL_S`` / ``CC_PING_TIMEOUT_S``, ``CC_TRUSTED_PROXIES``
…; the README's Configuration table).
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import dash
import redis
from flask import Flask
from flask_socketio import SocketIO

from dashboard.live import ops_sockets, sockets
from dashboard.admin.devices import bp as admin_bp
from dashboard.admin.users import bp as admin_users_bp
from dashboard.web.api import bp as api_bp
from dashboard.web.api_city import bp as city_api_bp
from dashboard.web.api_ops import bp as ops_api_bp
from dashboard.web.api_registry import bp as registry_api_bp
from dashboard.auth.session import init_auth
from dashboard.live.bridge import LiveBridge
from dashboard.live.city_live import PipeEmitter
from dashboard.web.context import AppContext, index_provider
from dashboard.auth.csrf import install_csrf
from dashboard.pages.field import init_field_app
from dashboard.pages.layout import serve_layout
from dashboard.auth.login import install_login_page
from dashboard.auth.ratelimit import install_rate_limits
from dashboard.auth.headers import install_proxy_fix, install_request_limits, install_security_headers
from dashboard.pages.snapshot import snapshot_blueprint
from dashboard.pages.wall import install_wall, register as register_wall
from dashboard.web.operations import init_ops
from dashboard.live.ops_bridge import OpsBridge
from dashboard.web.cameras import cameras_blueprint
from datasources.sql.db import make_engine
from datasources.bus.redis_server import ensure_redis
from datasources.settings import Settings, load_settings
from i18n import t
from layers import enterprise_heat
from layers import regions as regions_layer
from ops.vocab import index_with_vocab
from ops.vocab_css import vocab_style_tag

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
ASSETS_DIR = ROOT / "assets"


def create_app(settings: Settings | None = None, engine=None, redis_url: str | None = None, *,
               start_bridge: bool = True) -> tuple[dash.Dash, SocketIO]:
    """Build the web application.

    Args:
        settings: resolved configuration (default :func:`load_settings`).
        engine: SQLAlchemy engine (default ``make_engine(settings.database_url)``; the schema must exist — see
            :func:`datasources.sql.db.migrate`).
        redis_url: the bus (default ``settings.redis_url``; when both are unset a private Redis is started).
        start_bridge: start the Redis → Socket.IO bridge thread (tests of the HTTP API alone may skip it).
    Returns:
        ``(dash_app, socketio)``; ``dash_app.server`` is the Flask app, whose ``extensions["cc"]`` is the
        :class:`~dashboard.web.context.AppContext`.
    """
    settings = settings or load_settings()
    engine = engine if engine is not None else make_engine(settings.database_url)
    redis_url, embedded = ensure_redis(redis_url or settings.redis_url)
    if embedded is not None:
        log.info("REDIS_URL unset: started a private Redis at %s", redis_url)
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=1.0, socket_timeout=2.0)

    server = Flask("dashboard")
    install_proxy_fix(server)  # CC_TRUSTED_PROXIES: client addresses behind a reverse proxy (issue 10)
    server.config["JSON_AS_ASCII"] = False
    server.json.ensure_ascii = False
    server.json.sort_keys = False

    mq = settings.socketio_mq or None
    # Engine.IO's own defaults (25 s / 20 s): a browser whose main thread or network stalls for a few seconds on a
    # loaded wall PC keeps its connection; frozen data is told by the feed heartbeat (dashboard.live.bridge), not by pings
    socketio = SocketIO(server, async_mode="threading", message_queue=mq, cors_allowed_origins=None,
                        ping_interval=settings.ping_interval_s,
                        ping_timeout=settings.ping_timeout_s, logger=False, engineio_logger=False)

    ctx = AppContext(settings=settings, engine=engine, redis_url=redis_url, redis=client, socketio=socketio,
                     stale_after_s=settings.stale_s, embedded_redis=embedded)
    server.extensions["cc"] = ctx
    init_auth(server, engine, data_dir=settings.data_dir)  # logins, roles, audit: before Dash (issue 4)
    install_csrf(server)  # a token on every state-changing request (Dash sends it from the _csrf_token cookie)
    install_login_page(server)
    install_security_headers(server)  # clickjacking, CSP, nosniff (issue 10)
    install_request_limits(server)  # request bodies up to the import limit (issue 10)
    install_rate_limits(server, redis_url)  # sign-in attempts per client address (issue 10)
    server.register_blueprint(api_bp)
    server.register_blueprint(ops_api_bp)
    server.register_blueprint(city_api_bp)  # drill-down figures, city layers, heat, search, import (issue 3)
    server.register_blueprint(registry_api_bp)  # station / device registry (real sites)
    server.register_blueprint(admin_bp)  # /admin/devices
    server.register_blueprint(admin_users_bp)  # /admin/users, /admin/roster, /admin/audit (issue 9)
    server.register_blueprint(snapshot_blueprint(settings.data_dir))  # /snapshots: the leaders' weekly report
    server.register_blueprint(cameras_blueprint(engine))  # /cameras/<id>/stream.mjpg, snapshot.jpg
    install_wall(server, engine)  # /wall: token sign-in of the read-only video wall (issue 9)
    sockets.register(socketio, ctx)
    ops_sockets.register(socketio, ctx)
    init_ops(ctx)

    app = dash.Dash(
        __name__, server=server, assets_folder=str(ASSETS_DIR), title=t("app.title"), update_title=None,
        external_scripts=["/i18n/catalog.js"], suppress_callback_exceptions=True, serve_locally=True,
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    app.index_string = index_with_vocab(app.index_string)  # <script id="cc-vocab">: the vocabulary as data
    server.jinja_env.globals["cc_vocab_css"] = vocab_style_tag()  # its colours for templates using cc_theme.css
    app.layout = serve_layout(ctx)

    from callbacks import register_all  # noqa: PLC0415 — callbacks import layers/datasources only

    register_all(app, ctx)
    register_wall(app, ctx)  # the video wall's callbacks (ids wall-*)
    init_field_app(server, ctx)  # the field page (phone): a second Dash app at /field/

    # the region index takes ~20 s to build on first use (then cached on disk): never make a request wait for it
    threading.Thread(target=regions_layer.warm_up, name="cc-regions-warm-up", daemon=True).start()
    # the enterprise arrays (1,000,000 rows: 3–5 s) and the national heat surfaces, before anyone asks for them
    threading.Thread(target=enterprise_heat.warm_up, args=(ctx.layer_ctx,), name="cc-heat-warm-up",
                     daemon=True).start()

    if start_bridge:
        ctx.bridge = LiveBridge(socketio, redis_url, index_provider(ctx),
                                flush_interval_s=settings.flush_ms / 1000.0,
                                stale_after_s=ctx.stale_after_s).start()
        ctx.ops_bridge = OpsBridge(socketio, redis_url, ctx.station_index).start()
        ctx.pipe_emitter = PipeEmitter(socketio, ctx, interval_s=settings.pipe_emit_s).start()
    return app, socketio
