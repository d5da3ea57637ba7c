"""Socket.IO events that act (for video-wall controllers, scripts and any Socket.IO client of a logged-in session).

=====================  =============================================================  ===============================
event                  data                                                           acknowledgement
=====================  =============================================================  ===============================
``ops:acknowledge``    ``{"alarm_id", "comment"}``                                    ``{"ok": true, "alarm": {...}}``
``ops:shelve``         ``{"alarm_id", "duration_s", "comment"}``                      same
``ops:unshelve``       ``{"alarm_id"}``                                               same
``ops:close_alarm``    ``{"alarm_id", "comment"}``                                    same
``ops:dispatch``       ``{"alarm_id" | "station_id", "engineer_id"}``                 ``{"ok": true, "order": {...}}``
``ops:order``          ``{"order_id", "action", …}`` (see ``POST /api/workorders/…``)  ``{"ok": true, "order": {...}}``
``ops:control``        ``{"device_id", "command", "confirmed"}``                      ``{"ok", "refused", "reasons",
                                                                                      "result"}``
=====================  =============================================================  ===============================

Each handler is guarded (:func:`dashboard.auth.core.socketio_guard`: refused and audited unless the session's role may
act) and the action itself is authorised and audited again by :class:`dashboard.web.operations.OpsService`. A refusal
acknowledges ``{"ok": false, "error", "status": 401 | 403}``; a domain error ``{"ok": false, "error", "status": 4xx}``.
"""
from __future__ import annotations

import functools
import logging

from dashboard.auth.core import Forbidden, socketio_guard
from dashboard.web.operations import OpsError

log = logging.getLogger(__name__)


def _safe(fn):
    @functools.wraps(fn)
    def wrapper(data=None):
        if not isinstance(data, dict):
            data = {}
        try:
            return fn(data)
        except Forbidden as exc:
            return {"ok": False, "error": str(exc), "status": exc.status}
        except OpsError as exc:
            return {"ok": False, "error": str(exc), "status": exc.status}

    return wrapper


def _int(v, name: str) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        raise OpsError(f"{name} must be an integer", 400) from None


def register(socketio, ctx) -> None:
    """Attach the ``ops:*`` handlers (namespace ``/``)."""

    def alarm_event(event: str, action: str, perm: str) -> None:
        @socketio.on(event)
        @socketio_guard(perm)
        @_safe
        def handler(data):
            msg = ctx.ops.alarm_action(_int(data.get("alarm_id"), "alarm_id"), action,
                                       comment=str(data.get("comment") or ""), duration_s=data.get("duration_s"))
            return {"ok": True, "alarm": msg["alarm"], "event": msg["event"]}

        handler.__name__ = f"on_{event.replace(':', '_')}"

    alarm_event("ops:acknowledge", "acknowledge", "alarm.acknowledge")
    alarm_event("ops:shelve", "shelve", "alarm.shelve")
    alarm_event("ops:unshelve", "unshelve", "alarm.shelve")
    alarm_event("ops:close_alarm", "close", "alarm.close")

    @socketio.on("ops:dispatch")
    @socketio_guard("workorder.create")
    @_safe
    def on_dispatch(data):
        alarm_id = data.get("alarm_id")
        engineer = data.get("engineer_id", "auto")
        order = ctx.ops.dispatch(alarm_id=_int(alarm_id, "alarm_id") if alarm_id is not None else None,
                                 station_id=data.get("station_id") or None,
                                 engineer_id=str(engineer) if engineer is not None else None)
        return {"ok": True, "order": order}

    @socketio.on("ops:order")
    @_safe
    def on_order(data):
        kw = {k: v for k, v in data.items() if k not in ("order_id", "action")}
        order = ctx.ops.order_action(_int(data.get("order_id"), "order_id"), str(data.get("action") or ""), **kw)
        return {"ok": True, "order": order}

    @socketio.on("ops:control")
    @socketio_guard("control.command")
    @_safe
    def on_control(data):
        return ctx.ops.control(str(data.get("device_id") or ""), str(data.get("command") or ""),
                               confirmed=data.get("confirmed") is True)
