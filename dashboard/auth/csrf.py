"""CSRF protection of every state-changing request (Flask-WTF ``CSRFProtect``; OWASP CSRF Prevention Cheat Sheet,
"synchronizer token pattern").

Every ``POST``/``PUT``/``PATCH``/``DELETE`` handled by a Flask view must carry the session's CSRF token, either as
the form field ``csrf_token`` (server-rendered forms: ``{{ csrf_token() }}`` in Jinja) or as the ``X-CSRFToken``
header. The token is also sent to the browser as the cookie :data:`COOKIE` (readable by the page's scripts, SameSite
Strict): Dash's renderer reads exactly that cookie and sends it as ``X-CSRFToken`` on every callback request, and the
project's own ``fetch`` calls do the same (``cc.csrfHeaders()`` in ``assets/cc.js``). A page on another site can
neither read the cookie nor set the header, so it cannot acknowledge alarms, dispatch or import as the signed-in
officer.

* The token is bound to the session: it changes at login (the session is cleared) and at logout.
* It does not expire on its own (``WTF_CSRF_TIME_LIMIT = None``): a wall or officer page stays open for a whole
  shift; the session itself expires (``dashboard.auth.core`` idle / absolute limits).
* Socket.IO is not a Flask view: its handshake is restricted to the same origin (``cors_allowed_origins=None``)
  and needs the session cookie; events that act are authorised by role (``dashboard.live.ops_sockets``).
* A refused request answers HTTP 400 JSON ``{"ok": false, "error": "csrf: …"}`` and is written to the audit log
  (action ``security.csrf_refused``).
"""
from __future__ import annotations

from flask import Flask, Response, g, jsonify, request, session
from flask_login import current_user
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf, validate_csrf
from wtforms import ValidationError

from datasources.settings import get_settings

#: cookie that carries the token to the page's scripts (the name Dash's renderer reads)
COOKIE = "_csrf_token"
#: header the scripts send it back in (Flask-WTF's default, and Dash's)
HEADER = "X-CSRFToken"

csrf = CSRFProtect()


def _cookie_is_current() -> bool:
    value = request.cookies.get(COOKIE)
    if not value:
        return False
    try:
        validate_csrf(value)
    except ValidationError:
        return False
    return True


def install_csrf(server: Flask) -> CSRFProtect:
    """Protect every unsafe request of ``server`` and hand the token to pages (call after ``init_auth``).

    Returns:
        the ``CSRFProtect`` extension (``csrf.exempt(view)`` is deliberately not used anywhere).
    """
    server.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    server.config.setdefault("WTF_CSRF_HEADERS", [HEADER, "X-CSRF-Token"])
    csrf.init_app(server)
    secure = get_settings().secure_cookies

    @server.after_request
    def _hand_out_token(resp: Response) -> Response:
        # only where a session exists or starts (pages, API calls), not for static files or the health probe
        if request.path.startswith(("/assets/", "/_dash-component-suites/", "/api/health", "/socket.io")):
            return resp
        if resp.status_code >= 500 or _cookie_is_current():
            return resp
        if "csrf_token" not in session:
            g.pop("csrf_token", None)  # a token generated before a login / logout cleared the session is stale
        resp.set_cookie(COOKIE, generate_csrf(), samesite="Strict", secure=secure, httponly=False, path="/")
        return resp

    @server.errorhandler(CSRFError)
    def _refused(exc: CSRFError):
        from datasources.sql.audit import write_audit  # noqa: PLC0415

        state = server.extensions.get("cc_auth")
        if state is not None:
            user = current_user if getattr(current_user, "is_authenticated", False) else None
            write_audit(state.engine, user.username if user else "anonymous", user.role if user else "",
                        "security.csrf_refused", f"{request.method} {request.path}", "refused",
                        {"reason": exc.description, "remote_addr": request.remote_addr or ""})
        resp = jsonify({"ok": False, "error": f"csrf: {exc.description}"})
        resp.status_code = 400
        return resp

    return csrf


__all__ = ["COOKIE", "HEADER", "csrf", "install_csrf"]
