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

Each handler is guarded (:func:`dashboard.auth.guards.socketio_guard`: refused and audited unless the session's role may
act), its data shaped by the same payload model as the HTTP endpoint's (:mod:`dashboard.web.payloads`), and the action
itself is authorised and audited again by :class:`dashboard.web.operations.OpsService`. A refusal
acknowledges ``{"ok": false, "error", "status": 401 | 403}``; a domain error ``{"ok": false, "error", "status": 4xx}``.
"""
from __future__ import annotations

import functools
import logging

from dashboard.auth.core import Forbidden
from dashboard.auth.guards import socketio_guard
from dashboard.web.operations import OpsError
from dashboard.web.payloads import AlarmEvent, Control, Dispatch, OrderEvent, parse

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


def register(socketio, ctx) -> None:
    """Attach the ``ops:*`` handlers (namespace ``/``)."""

    def alarm_event(event: str, action: str, perm: str) -> None:
        @socketio.on(event)
        @socketio_guard(perm)
        @_safe
        def handler(data):
            p = parse(AlarmEvent, data, event)
            msg = ctx.ops.alarm_action(p.alarm_id, action, comment=p.comment, duration_s=p.duration_s)
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
        p = parse(Dispatch, data, "ops:dispatch")
        order = ctx.ops.dispatch(alarm_id=p.alarm_id, station_id=p.station_id, engineer_id=p.engineer_id)
        return {"ok": True, "order": order}

    @socketio.on("ops:order")
    @_safe
    def on_order(data):
        p = parse(OrderEvent, data, "ops:order")
        order = ctx.ops.order_action(p.order_id, p.action, **p.arguments())
        return {"ok": True, "order": order}

    @socketio.on("ops:control")
    @socketio_guard("control.command")
    @_safe
    def on_control(data):
        p = parse(Control, data, "ops:control")
        return ctx.ops.control(p.device_id, p.command, confirmed=p.confirmed)
