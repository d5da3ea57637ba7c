"""HTTP JSON endpoints: health, and the snapshots the page needs for first paint and resync.

=================================  ==========================================================================
``GET /api/health``                ``{status: "ok"|"degraded", redis: {ok, writable, latency_ms}, database: {ok,
                                   writable}, stations, devices_online, devices_total, newest_reading_age_s,
                                   bridge}``; HTTP 503 (``degraded``) when Redis or the database is down or does
                                   not accept writes (a read-only replica, a full disk, a locked SQLite file:
                                   readings, alarms and work orders would be lost; a SQLite file is also
                                   checked with ``os.access``), or when a background
                                   component's heartbeat (``cc:heartbeats``, e.g. the alarm engine) is older than
                                   ``CC_HEARTBEAT_STALE_S`` (60 s): ``components: {name: {age_s, ok}}``
``GET /api/stations?scope=…``      GeoJSON FeatureCollection (WGS-84) of the scope's stations with live state
``GET /api/stations/<id>``         station, live state, summary, devices with current values (``cc:latest``)
``GET /api/kpis?scope=…``          KPI payload of a region scope (same shape as the ``kpis`` socket event)
``GET /api/states?scope=…``        ``{scope, states: {id: state}, kpis, ts_ms}`` (resync after reconnect)
``GET /api/regions?scope=…``       region boundaries (GeoJSON, WGS-84) drawn for the scope;
                                   ``&part=labels``: their label points
``GET /i18n/catalog.js``           ``window.ccI18n = {lang: {key: text}, formats: {...}}`` for clientside code
=================================  ==========================================================================

``scope`` is ``nation`` (default), ``province:<adcode>`` or ``city:<adcode>``. A bad scope answers 400 with
``{"error": …}``; Redis down answers 503.
"""
from __future__ import annotations

import json
import logging
import os
import time

import redis
from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from datasources.bus.consumer import HEARTBEATS_HASH
from datasources.bus.messages import now_ms
from datasources.sql.db import ping as db_ping
from datasources.sql.db import writable as db_writable
from datasources.sql.repository import count_stations
from datasources.settings import get_settings
from i18n import CATALOG, DEFAULT_LANG
from layers import regions as regions_layer
from layers import stations as stations_layer
from layers.base import ScopeError
from layers.devices import value_formats
from layers.live import read_summaries

log = logging.getLogger(__name__)

bp = Blueprint("cc_api", __name__)
#: key the health check writes (expires after 60 s) to prove the bus accepts writes
HEALTH_PROBE_KEY = "cc:health:probe"


def _ctx():
    return current_app.extensions["cc"]


def _error(status: int, message: str):
    resp = jsonify({"error": message})
    resp.status_code = status
    return resp


def _region_scope(default: str = "nation"):
    scope = _ctx().parse_scope(request.args.get("scope", default))
    if not scope.is_region:
        raise ScopeError(f"scope {scope.room!r}: a region scope (nation, province:…, city:…) is required here")
    return scope


@bp.errorhandler(ScopeError)
def _bad_scope(exc):
    return _error(400, str(exc))


@bp.errorhandler(redis.RedisError)
def _redis_down(exc):
    log.warning("api: Redis error: %s", exc)
    return _error(503, f"redis unavailable: {exc.__class__.__name__}")


@bp.errorhandler(SQLAlchemyError)
def _db_down(exc):
    log.warning("api: database error: %s", exc)
    return _error(503, f"database unavailable: {exc.__class__.__name__}")


def sqlite_files_unwritable(engine) -> str | None:
    """Why a SQLite database's files refuse writes (read-only or immutable file, read-only mount), or ``None``
    (also for other databases and ``:memory:``).

    The write probe of :func:`datasources.sql.db.writable` runs on a pooled connection whose file descriptor was opened
    read-write earlier, and an ``UPDATE … WHERE 1 = 0`` writes no page: a file made read-only afterwards passes it
    while every commit of the recorder fails. ``os.access`` asks the kernel about the file itself (mode bits for a
    non-root user, the immutable attribute and read-only mounts for everyone).
    """
    if engine.dialect.name != "sqlite":
        return None
    path = engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    for f in (path, path + "-wal"):
        if os.path.exists(f) and not os.access(f, os.W_OK):
            return f"{os.path.basename(f)} is not writable (read-only file or file system)"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.access(folder, os.W_OK):
        return f"the folder of {os.path.basename(path)} is not writable"
    return None


@bp.get("/api/health")
def health():
    ctx = _ctx()
    body: dict = {"status": "ok"}
    # Redis
    t0 = time.perf_counter()
    summaries: dict = {}
    try:
        ctx.redis.ping()
        latency = (time.perf_counter() - t0) * 1000
        summaries = read_summaries(ctx.redis)
        body["redis"] = {"ok": True, "writable": True, "latency_ms": round(latency, 2)}
        try:  # READONLY (a replica), MISCONF (snapshot failing, writes stopped), OOM (maxmemory)
            ctx.redis.set(HEALTH_PROBE_KEY, now_ms(), ex=60)
        except redis.ResponseError as exc:
            body["redis"].update(writable=False, error=f"{exc.__class__.__name__}: {exc}"[:200])
    except (redis.RedisError, OSError) as exc:
        body["redis"] = {"ok": False, "writable": False, "latency_ms": None, "error": exc.__class__.__name__}
    # database
    db_ok = db_ping(ctx.engine)
    stations = None
    if db_ok:
        try:
            stations = count_stations(ctx.engine)
        except SQLAlchemyError as exc:
            db_ok = False
            body["database_error"] = exc.__class__.__name__
    body["database"] = {"ok": db_ok, "writable": False}
    if db_ok:
        ok, why = db_writable(ctx.engine)
        if ok:
            why = sqlite_files_unwritable(ctx.engine)
            ok = why is None
        body["database"]["writable"] = ok
        if not ok:
            body["database"]["error"] = why
    body["stations"] = stations
    body["devices_online"] = sum(int(s.get("devices_online") or 0) for s in summaries.values())
    body["devices_total"] = sum(int(s.get("devices_total") or 0) for s in summaries.values())
    newest = max((int(s.get("ts_ms") or 0) for s in summaries.values()), default=0)
    body["newest_reading_age_s"] = round((now_ms() - newest) / 1000, 3) if newest else None
    if ctx.bridge is not None:
        body["bridge"] = ctx.bridge.status()
    # background components (alarm engines, …) that beat after every healthy loop; a stale beat is a dead or stuck
    # component: alarms are no longer judged, so the centre is degraded
    stale_s = get_settings().heartbeat_stale_s
    body["components"] = {}
    try:
        beats = ctx.redis.hgetall(HEARTBEATS_HASH) if body["redis"]["ok"] else {}
    except (redis.RedisError, OSError):
        beats = {}
    for name, ts in beats.items():
        name = name.decode() if isinstance(name, bytes) else str(name)
        try:
            age_s = round((now_ms() - int(ts)) / 1000, 1)
        except ValueError:
            continue
        body["components"][name] = {"age_s": age_s, "ok": age_s <= stale_s}
    stale = sorted(n for n, c in body["components"].items() if not c["ok"])
    if stale:
        body["error"] = f"no heartbeat for more than {stale_s:g} s from: {', '.join(stale)}"
    down = not (body["redis"]["ok"] and body["redis"]["writable"] and db_ok and body["database"]["writable"]) \
        or bool(stale)
    if down:
        body["status"] = "degraded"
    resp = jsonify(body)
    resp.status_code = 503 if down else 200
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/api/stations")
def stations():
    scope = _region_scope()
    return jsonify(stations_layer.data(scope, _ctx().layer_ctx))


@bp.get("/api/stations/<station_id>")
def station(station_id: str):
    detail = stations_layer.station_detail(_ctx().layer_ctx, station_id)
    if detail is None:
        return _error(404, f"unknown station {station_id!r}")
    return jsonify(detail)


@bp.get("/api/kpis")
def kpis():
    return jsonify(_ctx().scope_snapshot(_region_scope())["kpis"])


@bp.get("/api/states")
def states():
    return jsonify(_ctx().scope_snapshot(_region_scope()))


@bp.get("/api/regions")
def regions():
    scope = _region_scope()
    try:
        if request.args.get("part") == "labels":
            text = json.dumps(regions_layer.labels(scope), ensure_ascii=False, separators=(",", ":"))
        else:
            text = regions_layer.data_text(scope)
    except KeyError as exc:
        return _error(404, f"unknown region: {exc}")
    except ImportError as exc:
        return _error(503, f"region boundaries unavailable: {exc}")
    resp = Response(text, mimetype="application/json")
    resp.headers["Cache-Control"] = "public, max-age=3600"
    return resp


_CATALOG_JS: str | None = None


@bp.get("/i18n/catalog.js")
def catalog_js():
    global _CATALOG_JS  # noqa: PLW0603 — built once per process
    if _CATALOG_JS is None:
        payload = {"default": DEFAULT_LANG, "catalog": CATALOG, "formats": value_formats()}
        _CATALOG_JS = "window.ccI18n = " + json.dumps(payload, ensure_ascii=False, separators=(",", ":")) + ";\n"
    resp = Response(_CATALOG_JS, mimetype="application/javascript")
    resp.headers["Cache-Control"] = "no-cache"
    return resp
