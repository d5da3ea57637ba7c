"""Logins on a Flask server: Flask-Login, the session cookie and its idle / absolute expiry, the trusted-device
cookie and the ``/auth/*`` routes. Who may sign in and what they may do is :mod:`dashboard.auth.core`'s.

Wiring (app factory)::

    from dashboard.auth.session import init_auth
    init_auth(server, engine, data_dir=settings.data_dir)     # after creating the Flask server, before Dash

Sessions: Flask's signed cookie (HttpOnly, SameSite=Lax, Secure when ``CC_SECURE_COOKIES=1``), no "remember me".
A session ends after ``idle_s`` without a request (default 30 min) or ``max_age_s`` after login (default 12 h), and
at once when the user's password changes or the user is deactivated (the session id embeds a token that
rotates). The secret key: ``secret_key`` argument, ``SECRET_KEY`` already configured, ``$CC_SECRET_KEY``, or a
random key persisted in ``<data_dir>/secret_key`` (shared by the web processes of one machine).
"""
from __future__ import annotations

import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, jsonify, redirect, request, session
from flask_login import LoginManager, current_user, login_user, logout_user
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dashboard.auth.core import (DEVICE_COOKIE, DEVICE_MAX_AGE_S, DEVICE_MAX_USERS, IDLE_S, LOCKOUT_S, MAX_AGE_S,
                                 MAX_FAILED, PUBLIC_PREFIXES, AccountLocked, AuthError, _resolve, authenticate,
                                 load_user)
from datasources.settings import get_settings
from datasources.sql.alarm_models import User
from datasources.sql.audit import write_audit

log = logging.getLogger(__name__)


@dataclass
class AuthState:
    """Per-app auth configuration (``server.extensions["cc_auth"]``)."""

    engine: Engine
    clock: Callable[[], float]
    idle_s: float
    max_age_s: float
    max_failed: int
    lockout_s: int
    public_prefixes: tuple[str, ...]
    login_required: bool
    login_manager: LoginManager = field(repr=False, default=None)  # type: ignore[assignment]


def _secret_key(secret_key: str | None, server: Flask, data_dir: str | Path | None) -> str:
    if secret_key:
        return secret_key
    if server.config.get("SECRET_KEY"):
        return server.config["SECRET_KEY"]
    env = get_settings().secret_key
    if env:
        return env
    if data_dir is not None:
        path = Path(data_dir) / "secret_key"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            key = secrets.token_hex(32)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(key)
            try:
                os.link(tmp, path)  # atomic: the first process wins, the others read its key
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
        return path.read_text().strip()
    log.warning("no CC_SECRET_KEY and no data dir: a random session key (sessions end with this process)")
    return secrets.token_hex(32)


_LOGIN_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>登录 · Sign in</title>
<style>body{{font-family:system-ui,"Noto Sans CJK SC",sans-serif;background:#0b1622;color:#dce7f3;display:flex;
min-height:100vh;align-items:center;justify-content:center;margin:0}}form{{background:#12243a;padding:2rem;
border-radius:8px;min-width:18rem}}label{{display:block;margin:.6rem 0 .2rem}}input{{width:100%;padding:.5rem;
box-sizing:border-box}}button{{margin-top:1rem;width:100%;padding:.6rem}}.err{{color:#ff8080}}</style></head>
<body><form method="post" action="/auth/login"><h2>智慧空压站运营指挥中心</h2>
<p class="err">{error}</p><input type="hidden" name="next" value="{next}">
<input type="hidden" name="csrf_token" value="{csrf}">
<label for="u">用户名 / User</label><input id="u" name="username" autocomplete="username" required autofocus>
<label for="p">密码 / Password</label><input id="p" name="password" type="password"
autocomplete="current-password" required><button type="submit">登录 / Sign in</button></form></body></html>"""


def _csrf_value() -> str:
    """The session's CSRF token for a server-rendered form ('' where Flask-WTF is not installed on the app)."""
    if "csrf" not in current_app.extensions:
        return ""
    from flask_wtf.csrf import generate_csrf  # noqa: PLC0415

    return generate_csrf()


def _escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;"))


def safe_next(target: str | None) -> str:
    """``target`` if it is a path on this site, else ``"/"`` (no open redirect after login).

    Browsers drop tabs and newlines from URLs and treat ``\\`` like ``/`` (WHATWG URL standard, "basic URL
    parser"), so ``/\t/evil.example`` or ``/\\evil.example`` would leave the site as ``//evil.example``: any
    control character or white space, a backslash, a scheme or a host makes the target unsafe.
    """
    if not target or not target.startswith("/") or "\\" in target:
        return "/"
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return "/"
    return target


def init_auth(server: Flask, engine: Engine, *, data_dir: str | Path | None = None, secret_key: str | None = None,
              idle_s: float = IDLE_S, max_age_s: float = MAX_AGE_S, max_failed: int = MAX_FAILED,
              lockout_s: int = LOCKOUT_S, login_required: bool = True,
              public_prefixes: tuple[str, ...] = PUBLIC_PREFIXES,
              clock: Callable[[], float] = time.time) -> LoginManager:
    """Install logins on a Flask server.

    Adds: Flask-Login (user loader reading ``users``), session cookie settings, idle/absolute session expiry,
    and the routes ``GET/POST /auth/login`` (form or JSON ``{username, password}``), ``POST /auth/logout``,
    ``GET /auth/me``. With ``login_required`` every other path except ``public_prefixes`` needs a login:
    browsers (GET accepting HTML) are redirected to ``/auth/login?next=…``, other requests get 401 JSON.
    Socket.IO handshakes bypass Flask's hooks: check :func:`socket_connect_allowed` in the ``connect`` handler.

    Args:
        clock: seconds since the epoch (tests pass a controllable clock for session expiry).
    Returns:
        the ``LoginManager``.
    """
    server.secret_key = _secret_key(secret_key, server, data_dir)
    server.config.update(
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=get_settings().secure_cookies,
        SESSION_COOKIE_NAME=server.config.get("SESSION_COOKIE_NAME") or "cc_session",
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=max_age_s),
        REMEMBER_COOKIE_DURATION=timedelta(seconds=0),
    )
    device_signer = URLSafeTimedSerializer(server.secret_key, salt="cc-trusted-device")
    lm = LoginManager()
    lm.session_protection = "basic"
    lm.init_app(server)
    state = AuthState(engine=engine, clock=clock, idle_s=idle_s, max_age_s=max_age_s, max_failed=max_failed,
                      lockout_s=lockout_s, public_prefixes=tuple(public_prefixes), login_required=login_required,
                      login_manager=lm)
    server.extensions["cc_auth"] = state

    @lm.user_loader
    def _load(user_id: str):
        return load_user(engine, user_id)

    @lm.unauthorized_handler
    def _unauthorized():
        return jsonify({"ok": False, "error": "login required"}), 401

    def _wants_html() -> bool:
        return request.method == "GET" and "text/html" in (request.headers.get("Accept") or "")

    @server.before_request
    def _session_clock():
        now = state.clock()
        if "_user_id" in session:
            seen, since = session.get("_cc_seen"), session.get("_cc_since")
            reason = None
            if seen is None or since is None:
                reason = "no session clock"
            elif now - float(seen) > state.idle_s:
                reason = f"idle for more than {int(state.idle_s)} s"
            elif now - float(since) > state.max_age_s:
                reason = f"older than {int(state.max_age_s)} s"
            if reason:
                uid = str(session.get("_user_id"))
                user = load_user(engine, uid)
                logout_user()
                session.clear()
                write_audit(engine, user.username if user else "anonymous", user.role if user else "",
                            "auth.session_expired", f"user:{user.username if user else uid.split(':')[0]}",
                            "expired", {"reason": reason})
            else:
                session["_cc_seen"] = now
        if not state.login_required or request.path.startswith(state.public_prefixes):
            return None
        if getattr(current_user, "is_authenticated", False):
            return None
        if _wants_html():
            return redirect(f"/auth/login?next={safe_next(request.full_path.rstrip('?'))}")
        return jsonify({"ok": False, "error": "login required"}), 401

    @server.get("/auth/login")
    def _login_form():
        return Response(_LOGIN_PAGE.format(error="", next=_escape(safe_next(request.args.get("next"))),
                                           csrf=_escape(_csrf_value())),
                        mimetype="text/html")

    @server.post("/auth/login")
    def _login():
        data = request.get_json(silent=True) if request.is_json else request.form
        data = data or {}
        username, password = str(data.get("username", "")), str(data.get("password", ""))
        known = _device_users()
        try:
            user = authenticate(engine, username, password, now_ms=int(state.clock() * 1000),
                                max_failed=state.max_failed, lockout_s=state.lockout_s,
                                remote_addr=request.remote_addr or "", trusted_device=username.strip() in known)
        except AuthError as exc:
            if request.is_json:
                body = {"ok": False, "error": str(exc)}
                if isinstance(exc, AccountLocked):
                    body["locked_until_ms"] = exc.until_ms
                return jsonify(body), exc.status
            return Response(_LOGIN_PAGE.format(error=_escape(str(exc)), next=_escape(safe_next(data.get("next"))),
                                               csrf=_escape(_csrf_value())),
                            status=exc.status, mimetype="text/html")
        session.clear()
        login_user(user, remember=False)
        session.permanent = True
        now = state.clock()
        session["_cc_since"] = session["_cc_seen"] = now
        if request.is_json:
            resp = jsonify({"ok": True, "user": user.to_dict(), "idle_s": state.idle_s, "max_age_s": state.max_age_s})
        else:
            resp = redirect(safe_next(data.get("next")))
        users = [user.username] + [u for u in known if u != user.username]
        resp.set_cookie(DEVICE_COOKIE, device_signer.dumps(users[:DEVICE_MAX_USERS]), max_age=DEVICE_MAX_AGE_S,
                        httponly=True, samesite="Lax", secure=server.config["SESSION_COOKIE_SECURE"], path="/auth/")
        return resp

    def _device_users() -> list[str]:
        """The users this browser signed in as before (signed cookie, :data:`DEVICE_MAX_AGE_S`); [] if none/forged."""
        raw = request.cookies.get(DEVICE_COOKIE)
        if not raw:
            return []
        try:
            users = device_signer.loads(raw, max_age=DEVICE_MAX_AGE_S)
        except BadSignature:
            return []
        return [str(u) for u in users][:DEVICE_MAX_USERS] if isinstance(users, list) else []

    @server.post("/auth/logout")
    def _logout():
        user, _ = _resolve(None, None)
        if user is not None:
            # the session cookie is signed, not stored: rotating the token is what makes a copy of it worthless
            with Session(engine) as db_session, db_session.begin():
                row = db_session.get(User, user.id)
                if row is not None:
                    row.session_token = secrets.token_hex(16)
            write_audit(engine, user.username, user.role, "auth.logout", f"user:{user.username}", "ok",
                        "session token rotated: this user's sessions end on every device")
        logout_user()
        session.clear()
        return jsonify({"ok": True})

    @server.get("/auth/me")
    def _me():
        user, _ = _resolve(None, None)
        if user is None:
            return jsonify({"ok": False, "error": "login required"}), 401
        return jsonify({"ok": True, "user": user.to_dict()})

    return lm
