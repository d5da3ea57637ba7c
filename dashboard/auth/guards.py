"""Guards of Flask views and Socket.IO events: the server-side checks of :mod:`dashboard.auth.core` at the edge.

* :func:`require_role` — a Flask view decorator (401 / 403 JSON, refusals audited).
* :func:`socketio_guard` — a Flask-SocketIO handler decorator (acknowledges a refusal, audited by
  :func:`dashboard.auth.core.authorize`).
* :func:`socket_connect_allowed` — for the ``connect`` handler: Socket.IO handshakes bypass Flask's hooks.
"""
from __future__ import annotations

import functools

from flask import jsonify, request

from dashboard.auth.core import ROLES, Forbidden, _resolve, authorize
from datasources.sql.audit import write_audit


def require_role(*roles: str):
    """Decorator for Flask views: 401 JSON when nobody is logged in, 403 JSON (audited ``refused``, action
    ``http:<METHOD> <path>``) when the role is not in ``roles``.

    Raises:
        ValueError: an unknown role name (at decoration time).
    """
    for r in roles:
        if r not in ROLES:
            raise ValueError(f"unknown role {r!r} (one of {', '.join(ROLES)})")

    def deco(view):
        @functools.wraps(view)
        def wrapper(*a, **kw):
            user, engine = _resolve(None, None)
            if user is None:
                return jsonify({"ok": False, "error": "login required"}), 401
            if user.role not in roles:
                write_audit(engine, user.username, user.role, f"http:{request.method} {request.path}"[:64],
                            request.path, "refused", {"reason": f"role {user.role} not in {list(roles)}"})
                return jsonify({"ok": False, "error": "forbidden"}), 403
            return view(*a, **kw)

        return wrapper

    return deco


def socketio_guard(action: str):
    """Decorator for Flask-SocketIO event handlers: refuses (audited) with the acknowledgement
    ``{"ok": False, "error": ..., "status": 401|403}`` unless the session's user may ``action``."""

    def deco(handler):
        @functools.wraps(handler)
        def wrapper(*a, **kw):
            event = getattr(request, "event", None)  # Flask-SocketIO: {"message": <event name>, "args": ...}
            name = event.get("message", "") if isinstance(event, dict) else ""
            try:
                authorize(action, target=f"socket:{name}")
            except Forbidden as exc:
                return {"ok": False, "error": str(exc), "status": exc.status}
            return handler(*a, **kw)

        return wrapper

    return deco


def socket_connect_allowed() -> bool:
    """For a Socket.IO ``connect`` handler: True when the handshake carries a logged-in session."""
    user, _ = _resolve(None, None)
    return user is not None
