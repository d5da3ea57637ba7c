"""HTTP JSON endpoints of operations (alarms, dispatch, work orders, field steps, remote control).

Every endpoint needs a login (the app-wide check of :func:`dashboard.auth.session.init_auth` answers 401 first); every
state-changing one is authorised and audited by :class:`dashboard.web.operations.OpsService`, whatever the page showed.
Errors answer ``{"ok": false, "error": …}`` with 400 / 401 / 403 / 404 / 409; success ``{"ok": true, …}``.

==============================================  ==============================================================
``GET  /api/alarms?scope=…``                    open alarms of a region scope + counts (``alarms_snapshot``)
``GET  /api/alarms/stats?scope=&period=24h``    报警统计: by severity, rule, region, time (24h / 7d / 30d)
``GET  /api/alarms/<id>``                       alarm, timeline, station, its work order
``POST /api/alarms/<id>/acknowledge``           ``{"comment"}`` — duty officer
``POST /api/alarms/<id>/shelve``                ``{"duration_s", "comment"}`` (≤ 24 h) — duty officer
``POST /api/alarms/<id>/unshelve``              duty officer
``POST /api/alarms/<id>/close``                 ``{"comment"}`` (cleared and acknowledged) — duty officer
``GET  /api/dispatch/proposal?alarm_id=|station_id=``  best engineer + runners-up with reasons
``POST /api/workorders``                        ``{"alarm_id" | "station_id", "engineer_id": "auto" | id | null}``
                                                — one-click dispatch, duty officer
``GET  /api/workorders?scope=…``                the officer's list (open + closed in the last 24 h)
``GET  /api/workorders/field``                  the field page's lists (mine / pool / done) — field engineer
``GET  /api/workorders/<id>``                   order, timeline, station, alarm
``POST /api/workorders/<id>/<action>``          ``assign`` {engineer_id}, ``cancel`` {reason}, ``close``
                                                {return_visit, rating} (duty officer); ``grab``, ``accept``,
                                                ``check_in`` {lon, lat}, ``resolve`` {result} (field engineer)
``POST /api/engineers/position``                ``{"lon", "lat"}`` — field engineer (WGS-84 degrees)
``POST /api/control``                           ``{"device_id", "command": start|stop|load|unload, "confirmed"}``
                                                — duty officer; refused while someone is in the station room
``POST /api/devices/<id>/setpoint``             ``{"name", "value", "confirmed"}`` — duty officer; a writable
                                                holding register, engineering units, written via the poller
``GET  /api/stations/<id>/video``               the station's cameras (stream URLs)
==============================================  ==============================================================
"""
from __future__ import annotations

import logging
import time

from flask import Blueprint, current_app, g, jsonify, request

from dashboard.auth.core import Forbidden
from dashboard.web.operations import OpsError
from dashboard.web.payloads import AlarmActionBody, Control, Dispatch, Position, Setpoint, parse
from datasources.settings import get_settings

log = logging.getLogger(__name__)

bp = Blueprint("cc_ops_api", __name__)


# Dash callbacks slower than CC_SLOW_CALLBACK_S (default 1 s) are logged (seed 001 §6: a single operation answers
# within 1 s)


@bp.before_app_request
def _clock_callback():
    g.cc_t0 = time.perf_counter()


@bp.after_app_request
def _log_slow_callback(resp):
    t0 = getattr(g, "cc_t0", None)
    if t0 is not None and request.path.endswith("/_dash-update-component"):
        dt = time.perf_counter() - t0
        if dt > get_settings().slow_callback_s:
            body = request.get_json(silent=True) or {}
            log.warning("slow callback %.2f s: %s", dt, str(body.get("output", "?"))[:160])
    return resp


def _ops():
    return current_app.extensions["cc"].ops


def _body() -> dict:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def _ok(**kw):
    return jsonify({"ok": True, **kw})


@bp.errorhandler(Forbidden)
def _forbidden(exc: Forbidden):
    resp = jsonify({"ok": False, "error": str(exc)})
    resp.status_code = exc.status
    return resp


@bp.errorhandler(OpsError)
def _ops_error(exc: OpsError):
    resp = jsonify({"ok": False, "error": str(exc)})
    resp.status_code = exc.status
    return resp


def _int(value, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise OpsError(f"{name} must be an integer", 400) from None


# ---------------------------------------------------------------- alarms
@bp.get("/api/alarms")
def alarms():
    return _ok(**_ops().alarms_snapshot(request.args.get("scope", "nation")))


@bp.get("/api/alarms/stats")
def alarm_stats():
    return _ok(stats=_ops().stats(request.args.get("scope", "nation"), request.args.get("period", "24h")))


@bp.get("/api/alarms/<int:alarm_id>")
def alarm(alarm_id: int):
    return _ok(**_ops().alarm_detail(alarm_id))


@bp.post("/api/alarms/<int:alarm_id>/<action>")
def alarm_action(alarm_id: int, action: str):
    body = parse(AlarmActionBody, _body(), action)
    msg = _ops().alarm_action(alarm_id, action, comment=body.comment, duration_s=body.duration_s)
    return _ok(alarm=msg["alarm"], event=msg["event"])


# ---------------------------------------------------------------- dispatch and work orders
@bp.get("/api/dispatch/proposal")
def proposal():
    alarm_id = request.args.get("alarm_id")
    return _ok(**_ops().proposal(alarm_id=_int(alarm_id, "alarm_id") if alarm_id else None,
                                 station_id=request.args.get("station_id") or None))


@bp.post("/api/workorders")
def create_order():
    body = parse(Dispatch, _body(), "dispatch")
    order = _ops().dispatch(alarm_id=body.alarm_id, station_id=body.station_id, engineer_id=body.engineer_id)
    return _ok(order=order), 201


@bp.get("/api/workorders")
def orders():
    return _ok(orders=_ops().orders(request.args.get("scope", "nation")))


@bp.get("/api/workorders/field")
def field_orders():
    return _ok(**_ops().field_orders())


@bp.get("/api/workorders/<int:order_id>")
def order(order_id: int):
    return _ok(**_ops().order_detail(order_id))


@bp.post("/api/workorders/<int:order_id>/<action>")
def order_action(order_id: int, action: str):
    return _ok(order=_ops().order_action(order_id, action, **_body()))


@bp.post("/api/engineers/position")
def position():
    body = parse(Position, _body(), "position")
    return _ok(position=_ops().report_position(body.lon, body.lat))


# ---------------------------------------------------------------- remote control and video
@bp.post("/api/control")
def control():
    body = parse(Control, _body(), "control")
    out = _ops().control(body.device_id, body.command, confirmed=body.confirmed)
    resp = jsonify({**out, "ok": out["ok"]})
    resp.status_code = 200 if out["ok"] else 409
    return resp


@bp.post("/api/devices/<device_id>/setpoint")
def setpoint(device_id: str):
    """``{"name", "value", "confirmed"}`` — write a set-point (engineering units); 200 ok, 409 refused / failed."""
    body = parse(Setpoint, _body(), "setpoint")
    out = _ops().setpoint(device_id, body.name, body.value, confirmed=body.confirmed)
    resp = jsonify({**out, "ok": out["ok"]})
    resp.status_code = 200 if out["ok"] else 409
    return resp


@bp.get("/api/stations/<station_id>/video")
def video(station_id: str):
    return _ok(station_id=station_id, cameras=_ops().station_cameras(station_id))
