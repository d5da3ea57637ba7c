"""Who may act: logins (Flask-Login), roles, server-side authorisation and the audit log.

Logins on the Flask server (Flask-Login, session expiry, ``/auth/*`` routes): :mod:`dashboard.auth.session`;
guards of views and Socket.IO events: :mod:`dashboard.auth.guards`; password hashing and policy:
:mod:`dashboard.auth.passwords`; the audit log writer: :mod:`datasources.sql.audit`.

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
:func:`authorize` + :func:`datasources.sql.audit.write_audit`), which refuses on the server whatever the UI showed, and writes an
append-only :class:`datasources.sql.models.AuditEntry` (who, role, action, target, result, detail, ts) — for allowed
actions (``ok`` / ``error``), refused ones (``refused``) and every login (``ok`` / ``failed`` / ``locked``),
logout and session expiry. Migration 0003 makes ``audit_log`` append-only in the database itself.

Passwords: :mod:`dashboard.auth.passwords`. Lockout: :data:`MAX_FAILED` consecutive failures lock the account for
:data:`LOCKOUT_S` — for browsers the user never signed in from: a browser that did carries a signed device cookie
(:data:`DEVICE_COOKIE`) and is neither blocked nor counted, so nobody can lock an officer out of their own desk by
guessing.

Sessions (idle and absolute expiry, token rotation, the secret key): :mod:`dashboard.auth.session`.

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
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterator

from flask import current_app
from flask_login import UserMixin, current_user
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from dashboard.auth.passwords import check_password_policy, dummy_check, hash_password, verify_password
from datasources.sql.alarm_models import Engineer, User
from datasources.sql.audit import write_audit
from ops.control_policy import ControlDecision, decide_command

if TYPE_CHECKING:
    from dashboard.auth.session import AuthState

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


# ---------------------------------------------------------------- authentication


def authenticate(engine: Engine, username: str, password: str, *, now_ms: int | None = None,
                 max_failed: int = MAX_FAILED, lockout_s: int = LOCKOUT_S, remote_addr: str = "",
                 trusted_device: bool = False) -> AuthUser:
    """Check credentials, apply the lockout, audit the attempt (``auth.login``: ok / failed / locked).

    The lockout (``max_failed`` consecutive failures → ``lockout_s``) holds for *untrusted* clients only. A browser
    that signed in as this user before carries a device cookie (``trusted_device``, see :func:`dashboard.auth.session.init_auth`): its
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
            dummy_check(password or "")
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
            dummy_check(password or "")
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
