"""Who may act: logins (Flask-Login), roles, server-side authorisation and the audit log.

Wiring (app factory)::

    from dashboard.auth.core import init_auth
    init_auth(server, engine, data_dir=settings.data_dir)     # after creating the Flask server, before Dash

Roles (least privilege — seed 000 "role-based permissions, no over-reach"; seed 004 "every access logged"):

==================  ===========================================================================================
role                may
==================  ===========================================================================================
``leader``          read everything (national view, weekly snapshot); no state change
``duty_officer``    acknowledge / shelve / close alarms, create and dispatch work orders, close them with
                    return visit and rating, remote control (start/stop/load/unload), duty flags of the roster
``field_engineer``  the field page: grab unassigned orders, accept / check in / resolve **their own** orders
``admin``           users (create, password, lock/unlock, deactivate), configuration, duty roster, audit reading
``wall``            the video-wall kiosk ``/wall`` (token sign-in, :mod:`dashboard.pages.wall`): ``view`` only
==================  ===========================================================================================

The action → roles table is :data:`PERMISSIONS`. Every state-changing action goes through :func:`audited` (or
:func:`authorize` + :func:`write_audit`), which refuses on the server whatever the UI showed, and writes an
append-only :class:`datasources.sql.models.AuditEntry` (who, role, action, target, result, detail, ts) — for allowed
actions (``ok`` / ``error``), refused ones (``refused``) and every login (``ok`` / ``failed`` / ``locked``),
logout and session expiry. Migration 0003 makes ``audit_log`` append-only in the database itself.

Passwords: werkzeug ``scrypt`` hashes (``generate_password_hash``; N=2^15, r=8, p=1, 16-byte salt). Policy: at
least 8 characters from at least 3 of lower case / upper case / digits / symbols (GB/T 22239 等保 level 2 asks
for complexity). Lockout: :data:`MAX_FAILED` consecutive failures lock the account for :data:`LOCKOUT_S` — for
browsers the user never signed in from: a browser that did carries a signed device cookie (:data:`DEVICE_COOKIE`)
and is neither blocked nor counted, so nobody can lock an officer out of their own desk by guessing.

Sessions: Flask's signed cookie (HttpOnly, SameSite=Lax, Secure when ``CC_SECURE_COOKIES=1``), no "remember me".
A session ends after ``idle_s`` without a request (default 30 min) or ``max_age_s`` after login (default 12 h), and
at once when the user's password changes or the user is deactivated (the session id embeds a token that
rotates). The secret key: ``secret_key`` argument, ``SECRET_KEY`` already configured, ``$CC_SECRET_KEY``, or a
random key persisted in ``<data_dir>/secret_key`` (shared by the web processes of one machine).

Demo users (:func:`seed_demo_users`, also seeds the duty roster) — change them in production:

============  ===============  ==============  ==================================
username      password         role            note
============  ===============  ==============  ==================================
``leader``    ``Leader#2026``  leader          reads
``duty``      ``Duty#2026``    duty_officer    acknowledges, dispatches, controls
``engineer``  ``Field#2026``   field_engineer  roster entry E01 张伟 (Suzhou)
``admin``     ``Admin#2026``   admin           users and configuration
============  ===============  ==============  ==================================
"""
from __future__ import annotations

import contextlib
import functools
import hmac
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, jsonify, redirect, request, session
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from datasources.sql.alarm_models import Engineer, User
from datasources.sql.models import AuditEntry
from ops.control_policy import ControlDecision, decide_command

log = logging.getLogger(__name__)

ROLES = ("leader", "duty_officer", "field_engineer", "admin", "wall")
ROLE_LABELS = {"leader": "领导 / leader", "duty_officer": "值班员 / duty officer",
               "field_engineer": "现场工程师 / field engineer", "admin": "管理员 / administrator",
               "wall": "视频墙 / video wall"}  # wall: the kiosk of /wall (dashboard/pages/wall.py), "view" only

#: action → roles allowed. Reading ("view") is open to every logged-in role.
PERMISSIONS: dict[str, frozenset[str]] = {
    "view": frozenset(ROLES),
    "alarm.acknowledge": frozenset({"duty_officer"}),
    "alarm.shelve": frozenset({"duty_officer"}),
    "alarm.close": frozenset({"duty_officer"}),
    "workorder.create": frozenset({"duty_officer"}),
    "workorder.assign": frozenset({"duty_officer"}),
    "workorder.cancel": frozenset({"duty_officer"}),
    "workorder.close": frozenset({"duty_officer"}),
    "workorder.grab": frozenset({"field_engineer"}),
    "workorder.accept": frozenset({"field_engineer"}),
    "workorder.check_in": frozenset({"field_engineer"}),
    "workorder.resolve": frozenset({"field_engineer"}),
    "control.command": frozenset({"duty_officer"}),
    "roster.duty": frozenset({"duty_officer", "admin"}),
    # the roster with phone numbers and every engineer's workload (dispatch proposals): not for field engineers
    "roster.view": frozenset({"duty_officer", "admin", "leader"}),
    "user.manage": frozenset({"admin"}),
    "config.update": frozenset({"admin"}),
    "audit.read": frozenset({"admin"}),
    "data.import": frozenset({"admin", "duty_officer"}),
}
#: actions a field engineer may only take on orders assigned to them
OWN_ORDER_ACTIONS = frozenset({"workorder.accept", "workorder.check_in", "workorder.resolve"})

MAX_FAILED = 5          # consecutive failed logins before a lockout (engineering default, 等保 practice)
LOCKOUT_S = 15 * 60     # lockout duration, s
IDLE_S = 30 * 60        # session idle timeout, s
MAX_AGE_S = 12 * 3600   # absolute session lifetime (one duty shift), s
DEVICE_COOKIE = "cc_device"       # signed list of the users who signed in from this browser (trusted device)
DEVICE_MAX_AGE_S = 90 * 86400     # a device stays trusted for 90 days after its last sign-in
DEVICE_MAX_USERS = 8              # users remembered per device (a shared duty desk)
PUBLIC_PREFIXES = ("/auth/", "/api/health", "/assets/", "/_favicon.ico", "/favicon.ico", "/i18n/")

DEMO_USERS = (
    ("leader", "Leader#2026", "leader", "领导（演示）", None),
    ("duty", "Duty#2026", "duty_officer", "值班员（演示）", None),
    ("engineer", "Field#2026", "field_engineer", "张伟（现场工程师）", "E01"),
    ("admin", "Admin#2026", "admin", "系统管理员（演示）", None),
)


# ---------------------------------------------------------------- errors


class AuthError(Exception):
    """Base of the authentication/authorisation errors; ``status`` is the HTTP status to answer."""

    status = 403


class LoginFailed(AuthError):
    """Unknown user, wrong password or inactive account (one message for all: no user enumeration)."""

    status = 401


class AccountLocked(LoginFailed):
    """Too many failed logins; ``until_ms`` is the end of the lockout (epoch ms)."""

    status = 423

    def __init__(self, message: str, until_ms: int):
        super().__init__(message)
        self.until_ms = until_ms


class Forbidden(AuthError):
    """The action is refused for this user (status 403), or nobody is logged in (status 401)."""

    def __init__(self, message: str, status: int = 403):
        super().__init__(message)
        self.status = status


class PasswordPolicyError(ValueError):
    """The password does not satisfy the policy; the message says why."""


# ---------------------------------------------------------------- users


@dataclass
class AuthUser(UserMixin):
    """The logged-in user (Flask-Login user object). ``get_id()`` is ``"<id>:<session_token>"`` so a rotated token
    ends existing sessions. ``engineer_id``: roster entry of a field engineer."""

    id: int
    username: str
    role: str
    display_name: str = ""
    engineer_id: str | None = None
    session_token: str = ""
    active: bool = True

    def get_id(self) -> str:
        """Session id ``"<id>:<session_token>"`` (Flask-Login)."""
        return f"{self.id}:{self.session_token}"

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        """False for deactivated logins (Flask-Login refuses them)."""
        return self.active

    def to_dict(self) -> dict[str, Any]:
        """Public fields (no token): ``{id, username, role, role_label, display_name, engineer_id, permissions}``."""
        return {"id": self.id, "username": self.username, "role": self.role,
                "role_label": ROLE_LABELS.get(self.role, self.role), "display_name": self.display_name,
                "engineer_id": self.engineer_id,
                "permissions": sorted(a for a, roles in PERMISSIONS.items() if self.role in roles)}


def _auth_user(row: User) -> AuthUser:
    return AuthUser(id=row.id, username=row.username, role=row.role, display_name=row.display_name,
                    engineer_id=row.engineer_id, session_token=row.session_token, active=row.active)


def _ms(clock: Callable[[], float] | None = None) -> int:
    return int((clock or time.time)() * 1000)


def hash_password(password: str) -> str:
    """werkzeug scrypt hash of ``password`` (salted; ``scrypt:32768:8:1$salt$hash``)."""
    return generate_password_hash(password, method="scrypt")


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches ``password_hash`` (constant-time comparison inside werkzeug)."""
    try:
        return check_password_hash(password_hash, password)
    except (ValueError, TypeError):
        return False


_DUMMY_HASH = None


def _dummy_check(password: str) -> None:
    """Spend the time of one hash check for unknown users (no timing oracle for user names)."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_hex(8))
    verify_password(_DUMMY_HASH, password)


def check_password_policy(password: str) -> None:
    """Raise :class:`PasswordPolicyError` unless ``password`` has ≥ 8 characters from ≥ 3 of the classes lower case,
    upper case, digits, symbols (and ≤ 128 characters)."""
    if not isinstance(password, str) or len(password) < 8:
        raise PasswordPolicyError("password must have at least 8 characters")
    if len(password) > 128:
        raise PasswordPolicyError("password must have at most 128 characters")
    classes = sum((any(c.islower() for c in password), any(c.isupper() for c in password),
                   any(c.isdigit() for c in password), any(not c.isalnum() for c in password)))
    if classes < 3:
        raise PasswordPolicyError("password needs 3 of: lower case, upper case, digits, symbols")


# ---------------------------------------------------------------- audit


def write_audit(engine: Engine, actor: str, role: str, action: str, target: str = "", result: str = "ok",
                detail: str | dict = "", ts: datetime | None = None) -> None:
    """Append one audit entry in its own transaction (so refusals are kept even when the caller rolls back).

    Args:
        result: ``ok`` | ``refused`` | ``failed`` | ``locked`` | ``error`` | ``expired``.
        detail: text or a dict (stored as JSON).
    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database is down — an action that cannot be audited must not proceed.
    """
    if isinstance(detail, dict):
        detail = json.dumps(detail, ensure_ascii=False, default=str)
    with Session(engine) as s, s.begin():
        s.add(AuditEntry(ts=ts or datetime.now(timezone.utc), actor=(actor or "anonymous")[:64], role=(role or "")[:32],
                         action=action[:64], target=(target or "")[:128], result=result[:32], detail=detail or ""))


def read_audit(engine: Engine, *, actor: str | None = None, action: str | None = None,
               limit: int = 200) -> list[dict[str, Any]]:
    """Newest audit entries first (for the admin page; authorise ``audit.read`` before calling)."""
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    with Session(engine) as s:
        return [{"id": e.id, "ts": e.ts.isoformat() if e.ts else None, "actor": e.actor, "role": e.role,
                 "action": e.action, "target": e.target, "result": e.result, "detail": e.detail}
                for e in s.scalars(stmt)]


# ---------------------------------------------------------------- authentication


def authenticate(engine: Engine, username: str, password: str, *, now_ms: int | None = None,
                 max_failed: int = MAX_FAILED, lockout_s: int = LOCKOUT_S, remote_addr: str = "",
                 trusted_device: bool = False) -> AuthUser:
    """Check credentials, apply the lockout, audit the attempt (``auth.login``: ok / failed / locked).

    The lockout (``max_failed`` consecutive failures → ``lockout_s``) holds for *untrusted* clients only. A browser
    that signed in as this user before carries a device cookie (``trusted_device``, see :func:`init_auth`): its
    attempts are neither blocked by nor counted towards the lockout, so a stranger who types five wrong passwords
    for the duty officer's name locks out strangers, not the officer at the desk (OWASP "Slow Down Online Guessing
    Attacks with Device Cookies"). Every address stays limited by :mod:`dashboard.auth.ratelimit`. A lock set by an
    administrator (``failed_logins`` below ``max_failed``) holds for trusted devices too.

    Returns:
        the :class:`AuthUser`.
    Raises:
        AccountLocked: locked now for untrusted clients (also when the password is right), or this failure locked it.
        LoginFailed: unknown user, wrong password, inactive account.
    """
    now = _ms() if now_ms is None else now_ms
    username = (username or "").strip()[:64]
    detail = {"remote_addr": remote_addr} if remote_addr else {}
    if trusted_device:
        detail["trusted_device"] = True
    with Session(engine) as s, s.begin():
        row = s.scalar(select(User).where(User.username == username))
        if row is None:
            _dummy_check(password or "")
            outcome, role, err = "failed", "", LoginFailed("invalid username or password")
            detail["reason"] = "unknown user"
        elif row.locked_until_ms and row.locked_until_ms > now and not (
                trusted_device and row.failed_logins >= max_failed):  # an administrator's lock holds for everyone
            outcome, role = "locked", row.role
            err = AccountLocked(f"account locked until {_iso(row.locked_until_ms)}", row.locked_until_ms)
        elif not verify_password(row.password_hash, password or ""):
            role = row.role
            outcome, err = "failed", LoginFailed("invalid username or password")
            if not trusted_device:  # a trusted device's typos neither count nor lock (see above)
                if row.locked_until_ms and row.locked_until_ms <= now:
                    row.failed_logins, row.locked_until_ms = 0, None  # lockout over: count afresh
                row.failed_logins += 1
                detail["failed_logins"] = row.failed_logins
                if row.failed_logins >= max_failed:
                    row.locked_until_ms = now + lockout_s * 1000  # sessions in use stay (a stranger's guesses
                    outcome = "locked"                            # must not sign the officer out)
                    err = AccountLocked(f"too many failed logins: locked for {lockout_s // 60} min",
                                        row.locked_until_ms)
        elif not row.active:
            _dummy_check(password or "")
            outcome, role, err = "failed", row.role, LoginFailed("invalid username or password")
            detail["reason"] = "inactive"
        else:
            if not (row.locked_until_ms and row.locked_until_ms > now):
                row.failed_logins, row.locked_until_ms = 0, None  # a trusted device leaves a stranger's lock on
            row.last_login_ms = now
            outcome, role, err = "ok", row.role, None
            user = _auth_user(row)
    write_audit(engine, username or "anonymous", role, "auth.login", target=f"user:{username}", result=outcome,
                detail=detail)
    if err is not None:
        raise err
    return user


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="seconds")


def load_user(engine: Engine, user_id: str) -> AuthUser | None:
    """The user of a session id ``"<id>:<token>"``, or ``None`` if unknown, inactive or the token rotated."""
    try:
        uid, token = user_id.split(":", 1)
        uid_int = int(uid)
    except (ValueError, AttributeError):
        return None
    with Session(engine) as s:
        row = s.get(User, uid_int)
        if row is None or not row.active or not hmac.compare_digest(row.session_token, token):
            return None
        return _auth_user(row)


def get_user(engine: Engine, username: str) -> AuthUser | None:
    """A user by name (``None`` if unknown)."""
    with Session(engine) as s:
        row = s.scalar(select(User).where(User.username == username))
        return _auth_user(row) if row else None


# ---------------------------------------------------------------- authorisation


def can(user: AuthUser | None, action: str, owner_engineer_id: str | None = None) -> bool:
    """Pure check (no audit): may ``user`` take ``action``? For enabling UI controls; the server still calls
    :func:`authorize`. ``owner_engineer_id``: assignee of the order for :data:`OWN_ORDER_ACTIONS`.

    Raises:
        KeyError: unknown action (a typo must not silently allow or refuse).
    """
    roles = PERMISSIONS[action]
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return False
    if user.role not in roles:
        return False
    if action in OWN_ORDER_ACTIONS and owner_engineer_id is not None and user.engineer_id != owner_engineer_id:
        return False
    return True


def _state() -> "AuthState | None":
    try:
        return current_app.extensions.get("cc_auth")
    except RuntimeError:  # outside an application context
        return None


def _resolve(user: AuthUser | None, engine: Engine | None) -> tuple[AuthUser | None, Engine]:
    st = _state()
    if engine is None:
        if st is None:
            raise RuntimeError("authorize() outside an app with init_auth(): pass engine=")
        engine = st.engine
    if user is None:
        try:
            cu = current_user._get_current_object()  # noqa: SLF001 — unwrap the proxy
            user = cu if getattr(cu, "is_authenticated", False) else None
        except (RuntimeError, AttributeError):
            user = None
    return user, engine


def authorize(action: str, *, target: str = "", user: AuthUser | None = None, engine: Engine | None = None,
              owner_engineer_id: str | None = None, detail: str | dict = "") -> AuthUser:
    """Server-side check of ``action`` for ``user`` (default: the session's user). A refusal is audited
    (``refused``) and raised; an allowed action is **not** audited here — use :func:`audited` around the action.

    Usable in Flask views, Dash callbacks (they run in a Flask request) and Socket.IO handlers.

    Raises:
        Forbidden: status 401 nobody logged in, 403 role not allowed or not the order's assignee.
        KeyError: unknown action.
    """
    user, engine = _resolve(user, engine)
    if action not in PERMISSIONS:
        raise KeyError(f"unknown action {action!r}")
    if can(user, action, owner_engineer_id):
        return user  # type: ignore[return-value]
    if user is None:
        why, status = "not logged in", 401
    elif user.role not in PERMISSIONS[action]:
        why, status = f"role {user.role} may not {action}", 403
    else:
        why, status = f"{target or 'the order'} is not assigned to {user.engineer_id}", 403
    extra = {"reason": why}
    if detail:
        extra["detail"] = detail
    write_audit(engine, user.username if user else "anonymous", user.role if user else "", action, target,
                "refused", extra)
    raise Forbidden(why, status)


@dataclass
class AuditScope:
    """Yielded by :func:`audited`: the acting ``user``; set ``detail`` (str or dict) or ``target`` before the block
    ends to enrich the entry."""

    user: AuthUser
    action: str
    target: str
    detail: Any = ""


@contextlib.contextmanager
def audited(action: str, *, target: str = "", user: AuthUser | None = None, engine: Engine | None = None,
            owner_engineer_id: str | None = None, detail: Any = "") -> Iterator[AuditScope]:
    """Authorise, run the block, audit the outcome::

        with audited("alarm.acknowledge", target=f"alarm:{alarm_id}") as a:
            alarm_store.acknowledge(engine, alarm_id, a.user.username, redis_client=r)

    Refused → audited ``refused`` and :class:`Forbidden` raised before the block runs; block raises →
    audited ``error`` (exception class and message) and re-raised; otherwise audited ``ok``.
    """
    user, engine = _resolve(user, engine)
    user = authorize(action, target=target, user=user, engine=engine, owner_engineer_id=owner_engineer_id,
                     detail=detail)
    scope = AuditScope(user=user, action=action, target=target, detail=detail)
    try:
        yield scope
    except Exception as exc:
        d = {"error": f"{exc.__class__.__name__}: {exc}"}
        if scope.detail:
            d["detail"] = scope.detail
        write_audit(engine, user.username, user.role, action, scope.target, "error", d)
        raise
    write_audit(engine, user.username, user.role, action, scope.target, "ok", scope.detail)


def perform(action: str, fn: Callable[..., Any], *args: Any, target: str = "", user: AuthUser | None = None,
            engine: Engine | None = None, owner_engineer_id: str | None = None, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` inside :func:`audited`; returns its result."""
    with audited(action, target=target, user=user, engine=engine, owner_engineer_id=owner_engineer_id):
        return fn(*args, **kwargs)


def control_decision(*, command: str, confirmed: bool, occupancy: bool | None, target: str,
                     device_kind: str = "compressor", device_online: bool = True, run_state: int | None = None,
                     user: AuthUser | None = None, engine: Engine | None = None) -> ControlDecision:
    """Authorise a remote command (role via :func:`authorize`, then :func:`ops.control_policy.decide_command`:
    confirmation, nobody in the station room, controllable target) and audit the decision
    (``control.command`` ok / refused with the reasons). The Modbus write follows only when ``allowed``.

    Raises:
        Forbidden: not logged in or role not allowed (audited ``refused``).
    """
    user, engine = _resolve(user, engine)
    user = authorize("control.command", target=target, user=user, engine=engine,
                     detail={"command": command, "confirmed": confirmed})
    decision = decide_command(role=user.role, command=command, confirmed=confirmed, occupancy=occupancy,
                              device_kind=device_kind, device_online=device_online, run_state=run_state)
    write_audit(engine, user.username, user.role, "control.command", target,
                "ok" if decision.allowed else "refused",
                {"command": command, "confirmed": confirmed, "occupancy": occupancy,
                 "reasons": list(decision.reasons), "writes": [list(w) for w in decision.writes]})
    return decision


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


# ---------------------------------------------------------------- user administration


def _system_or_admin(action: str, target: str, by: AuthUser | None, engine: Engine) -> tuple[str, str]:
    if by is None:
        return "system", ""
    authorize(action, target=target, user=by, engine=engine)
    return by.username, by.role


def create_user(engine: Engine, username: str, password: str, role: str, *, display_name: str = "",
                engineer_id: str | None = None, by: AuthUser | None = None) -> AuthUser:
    """Create a login. ``by``: the acting admin (authorised and audited as ``user.manage``); ``None`` = system
    (seeding; audited with actor ``system``).

    Raises:
        Forbidden: ``by`` is not an admin. PasswordPolicyError. ValueError: bad role / user name, user exists,
        field engineer without an existing roster entry.
    """
    actor, arole = _system_or_admin("user.manage", f"user:{username}", by, engine)
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    if not username or len(username) > 64 or not username.replace("_", "").replace(".", "").isalnum():
        raise ValueError(f"user name {username!r}: 1–64 letters, digits, '_' or '.'")
    check_password_policy(password)
    now = _ms()
    with Session(engine) as s, s.begin():
        if s.scalar(select(User.id).where(User.username == username)) is not None:
            raise ValueError(f"user {username!r} exists")
        if role == "field_engineer":
            if not engineer_id or s.get(Engineer, engineer_id) is None:
                raise ValueError(f"a field engineer needs an existing roster entry, got {engineer_id!r}")
        row = User(username=username, display_name=display_name or username, role=role,
                   password_hash=hash_password(password), active=True, failed_logins=0,
                   session_token=secrets.token_hex(16), engineer_id=engineer_id, created_ms=now,
                   password_changed_ms=now)
        s.add(row)
        s.flush()
        user = _auth_user(row)
    write_audit(engine, actor, arole, "user.create", f"user:{username}", "ok", {"role": role,
                                                                               "engineer_id": engineer_id})
    return user


def _update_user(engine: Engine, username: str, action: str, by: AuthUser | None,
                 change: Callable[[User], dict]) -> AuthUser:
    actor, arole = _system_or_admin("user.manage", f"user:{username}", by, engine)
    with Session(engine) as s, s.begin():
        row = s.scalar(select(User).where(User.username == username))
        if row is None:
            raise ValueError(f"no user {username!r}")
        detail = change(row) or {}
        user = _auth_user(row)
    write_audit(engine, actor, arole, action, f"user:{username}", "ok", detail)
    return user


def set_password(engine: Engine, username: str, new_password: str, *, by: AuthUser | None = None) -> AuthUser:
    """Set a password (policy checked); ends the user's sessions. Audited ``user.set_password``.

    Raises:
        Forbidden, PasswordPolicyError, ValueError (unknown user).
    """
    check_password_policy(new_password)

    def change(row: User) -> dict:
        row.password_hash = hash_password(new_password)
        row.password_changed_ms = _ms()
        row.session_token = secrets.token_hex(16)
        row.failed_logins, row.locked_until_ms = 0, None
        return {}

    return _update_user(engine, username, "user.set_password", by, change)


def set_active(engine: Engine, username: str, active: bool, *, by: AuthUser | None = None) -> AuthUser:
    """Activate / deactivate a login (deactivation ends its sessions). Audited ``user.set_active``."""

    def change(row: User) -> dict:
        row.active = bool(active)
        if not active:
            row.session_token = secrets.token_hex(16)
        return {"active": bool(active)}

    return _update_user(engine, username, "user.set_active", by, change)


def unlock_user(engine: Engine, username: str, *, by: AuthUser | None = None) -> AuthUser:
    """Lift a lockout. Audited ``user.unlock``."""

    def change(row: User) -> dict:
        row.failed_logins, row.locked_until_ms = 0, None
        return {}

    return _update_user(engine, username, "user.unlock", by, change)


def lock_user(engine: Engine, username: str, until_ms: int, *, by: AuthUser | None = None) -> AuthUser:
    """Lock a login until ``until_ms`` (epoch ms; sign-in answers "locked" until then) and end its sessions.
    Audited ``user.lock``. Raises: Forbidden, ValueError (unknown user)."""

    def change(row: User) -> dict:
        # failed_logins 0 marks an administrator's lock: it holds for trusted devices too (see authenticate)
        row.locked_until_ms, row.failed_logins = int(until_ms), 0
        row.session_token = secrets.token_hex(16)
        return {"locked_until": _iso(int(until_ms))}

    return _update_user(engine, username, "user.lock", by, change)


def link_engineer(engine: Engine, username: str, engineer_id: str | None, *,
                  by: AuthUser | None = None) -> AuthUser:
    """Link a field-engineer login to its roster entry (``None`` unlinks); ends the user's sessions so the new
    link applies at the next sign-in. Audited ``user.link_engineer``.

    Raises:
        Forbidden. ValueError: unknown user, not a field engineer, unknown roster entry, entry linked to another
        login.
    """

    def change(row: User) -> dict:
        if row.role != "field_engineer":
            raise ValueError(f"user {username!r} is not a field engineer")
        s = Session.object_session(row)
        if engineer_id is not None:
            if s.get(Engineer, engineer_id) is None:
                raise ValueError(f"no roster entry {engineer_id!r}")
            other = s.scalar(select(User.username).where(User.engineer_id == engineer_id, User.id != row.id))
            if other is not None:
                raise ValueError(f"roster entry {engineer_id} is linked to {other!r}")
        before, row.engineer_id = row.engineer_id, engineer_id
        row.session_token = secrets.token_hex(16)
        return {"engineer_id": engineer_id, "before": before}

    return _update_user(engine, username, "user.link_engineer", by, change)


def list_users(engine: Engine) -> list[dict[str, Any]]:
    """Every login without secrets (authorise ``user.manage`` before showing it)."""
    with Session(engine) as s:
        return [{"username": u.username, "display_name": u.display_name, "role": u.role, "active": u.active,
                 "locked_until_ms": u.locked_until_ms, "failed_logins": u.failed_logins,
                 "last_login_ms": u.last_login_ms, "engineer_id": u.engineer_id, "created_ms": u.created_ms,
                 "password_changed_ms": u.password_changed_ms}
                for u in s.scalars(select(User).order_by(User.username))]


def seed_demo_users(engine: Engine) -> list[dict[str, str]]:
    """Seed the duty roster (:func:`datasources.sql.workorders.seed_demo_roster`) and one user per role
    (:data:`DEMO_USERS`); existing users are left untouched. Returns ``[{username, password, role}]``."""
    from datasources.sql.workorders import seed_demo_roster  # noqa: PLC0415

    seed_demo_roster(engine)
    out = []
    for username, password, role, display, engineer_id in DEMO_USERS:
        if get_user(engine, username) is None:
            create_user(engine, username, password, role, display_name=display, engineer_id=engineer_id)
        out.append({"username": username, "password": password, "role": role})
    return out


# ---------------------------------------------------------------- Flask integration


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
    env = os.environ.get("CC_SECRET_KEY")
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


_safe_next = safe_next


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
        SESSION_COOKIE_SECURE=os.environ.get("CC_SECURE_COOKIES") == "1",
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
            return redirect(f"/auth/login?next={_safe_next(request.full_path.rstrip('?'))}")
        return jsonify({"ok": False, "error": "login required"}), 401

    @server.get("/auth/login")
    def _login_form():
        return Response(_LOGIN_PAGE.format(error="", next=_escape(_safe_next(request.args.get("next"))),
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
            return Response(_LOGIN_PAGE.format(error=_escape(str(exc)), next=_escape(_safe_next(data.get("next"))),
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
            resp = redirect(_safe_next(data.get("next")))
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
