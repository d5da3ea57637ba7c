"""Socket.IO events the page (or any Socket.IO client) sends.

=========  ==============================================================  ==========================================
event      data                                                            acknowledgement
=========  ==============================================================  ==========================================
``join``   ``"nation"`` | ``"province:<6 digits>"`` | ``"city:<6 digits>"``  ``{"ok": true, "scope": room}`` or
           | ``"station:<known id>"`` (or ``{"scope": …, "previous": …}``)   ``{"ok": false, "error": why}``
``leave``  a room name                                                     ``{"ok": true}``
=========  ==============================================================  ==========================================

The handshake must carry a logged-in session (:func:`dashboard.auth.guards.socket_connect_allowed`); anonymous clients are
refused.

A client holds one region room (nation / province / city) and at most one station room: joining a region room
leaves the previous region room, joining a station room leaves the previous station room. After a successful
``join`` of a region scope the server sends that client the full snapshot (``station_states`` with ``full: true``
and ``kpis``) so a (re)joining client needs no separate fetch; joining a station room sends one ``station_values``
built from ``cc:latest``.
"""
from __future__ import annotations

import logging

import redis
from flask import request

from dashboard.auth.guards import socket_connect_allowed
from layers import stations as stations_layer
from layers.base import ScopeError

log = logging.getLogger(__name__)


def register(socketio, ctx) -> None:
    """Attach the handlers to ``socketio`` (namespace ``/``)."""

    @socketio.on("connect")
    def on_connect(auth=None):
        return socket_connect_allowed()  # anonymous handshakes are refused (issue 4: acting needs a login)

    @socketio.on("join")
    def on_join(data=None):
        raw, previous = (data.get("scope"), data.get("previous")) if isinstance(data, dict) else (data, None)
        sid = request.sid
        try:
            scope = ctx.enter_scope(sid, raw, previous=previous)
        except ScopeError as exc:
            log.info("join refused for %s: %s", sid, exc)
            return {"ok": False, "error": str(exc)}
        if scope is None:  # disconnected while the event was in flight
            return {"ok": False, "error": "socket disconnected"}
        try:
            if scope.is_region:
                snap = ctx.scope_snapshot(scope)
                socketio.emit("station_states", {"scope": scope.room, "states": snap["states"],
                                                 "ts_ms": snap["ts_ms"], "full": True}, to=sid)
                socketio.emit("kpis", snap["kpis"], to=sid)
            else:
                detail = stations_layer.station_detail(ctx.layer_ctx, scope.code)
                if detail is not None:
                    socketio.emit("station_values", {"station_id": scope.code, "state": detail["state"],
                                                     "ts_ms": None, "seq": None, "summary": detail["summary"],
                                                     "devices": detail["devices"]}, to=sid)
        except redis.RedisError as exc:  # joined anyway: live deltas arrive once Redis is back
            log.warning("join %s: no snapshot (%s)", scope.room, exc)
        if scope.is_region and getattr(ctx, "bridge", None) is not None:
            socketio.emit("feed", ctx.bridge.feed_status(), to=sid)  # the indicator need not wait for a heartbeat
        return {"ok": True, "scope": scope.room}

    @socketio.on("leave")
    def on_leave(room=None):
        if isinstance(room, str):
            ctx.leave_scope(request.sid, room)
        return {"ok": True}
