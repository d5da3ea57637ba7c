"""Admin pages for users, the duty roster and the audit log (server-rendered: Flask + Jinja, the video-wall theme).

Routes (all need a login; forms answer the page again: 200 with a message, 400 with the error):

=====================================  ===============================================  ==========================
route                                  what                                             permission
=====================================  ===============================================  ==========================
``GET  /admin/users``                  every login: role, state, lockout, last sign-in   ``user.manage`` (admin)
``POST /admin/users/create``           ``username, display_name, role, engineer_id,``    ``user.manage``
                                       ``password, password2``
``POST /admin/users/password``         ``username, password``                            ``user.manage``
``POST /admin/users/lock``             ``username, hours`` (0 = until unlocked)          ``user.manage``
``POST /admin/users/unlock``           ``username``                                      ``user.manage``
``POST /admin/users/active``           ``username, active`` (1 / 0)                      ``user.manage``
``GET  /admin/roster``                 engineers, duty flag, open orders, their login    ``roster.view``
``POST /admin/roster/duty``            ``engineer_id, on_duty`` (1 / 0)                  ``roster.duty``
``POST /admin/roster/link``            ``engineer_id, username`` ('' unlinks)            ``user.manage``
``POST /admin/roster/login``           ``engineer_id, username, display_name, password`` ``user.manage``
``GET  /admin/audit``                  the audit log, filtered, newest first, paged      ``audit.read`` (admin)
``GET  /admin/audit/export.csv``       the filtered rows as CSV (UTF-8 with BOM)         ``audit.read``
=====================================  ===============================================  ==========================

Every change is audited by :mod:`dashboard.auth.core` (``user.create``, ``user.set_password``, ``user.lock``,
``user.unlock``, ``user.set_active``, ``user.link_engineer``) or here (``roster.duty``); a refused request is audited
``refused`` and answered 403; a change the domain rejects (bad password, taken name …) is audited ``error``. Reading
the audit log is audited too (``audit.read`` / ``audit.export`` with the filter and the row count), and so is
reading the user list (``user.list``) — seed 004: every data access is logged.

Audit filters (query string, all optional): ``from`` / ``to`` (``YYYY-MM-DDTHH:MM`` China time, UTC+8, ``to``
exclusive), ``actor`` (exact user name), ``action`` (prefix, e.g. ``user.``), ``result`` (exact), ``target``
(substring), ``page`` (1-based, :data:`PAGE_SIZE` rows). Export: at most :data:`EXPORT_MAX` rows.

Language: ``?lang=en|zh`` else ``Accept-Language``, Chinese default; strings ``admin.*`` (:mod:`i18n.catalog_admin`).
"""
from __future__ import annotations

import csv
import io
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, render_template, request
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from dashboard.auth import core as auth
from dashboard.web.api_registry import READ_ROLES as DEVICE_READ_ROLES
from dashboard.auth.core import Forbidden, authorize, can
from dashboard.auth.passwords import PasswordPolicyError
from datasources.sql.audit import write_audit
from dashboard.auth.login import page_lang
from datasources.sql import workorders as wo
from datasources.sql.models import AuditEntry
from i18n import t

#: the pages' Jinja templates: ``dashboard/templates/admin/`` (``_layout.html`` is the shared chrome)
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"

bp = Blueprint("cc_admin_users", __name__, template_folder=str(TEMPLATES))

#: China Standard Time: the operators' clock (times shown and typed on these pages)
CST = timezone(timedelta(hours=8))
#: audit rows per page
PAGE_SIZE = 100
#: at most this many rows in one export (seed 002 keeps 6 months; narrow the filter for more)
EXPORT_MAX = 50_000
#: total shown as "10000+" above this (the count query stays bounded)
COUNT_CAP = 10_000
#: audit results offered in the filter
RESULTS = ("ok", "refused", "failed", "locked", "error", "expired")
#: lock durations offered, hours (0 = until an administrator unlocks: 100 years)
LOCK_HOURS = (1, 24, 168, 0)
FOREVER_MS = 100 * 365 * 86400 * 1000

# ---------------------------------------------------------------- shared chrome (templates/admin/_layout.html)


#: navigation entries: (id, path, catalog key, may this user see it)
_NAV: tuple[tuple[str, str, str, Callable[[Any], bool]], ...] = (
    ("devices", "/admin/devices", "admin.nav.devices", lambda u: u.role in DEVICE_READ_ROLES),
    ("users", "/admin/users", "admin.nav.users", lambda u: can(u, "user.manage")),
    ("roster", "/admin/roster", "admin.nav.roster", lambda u: can(u, "roster.view")),
    ("audit", "/admin/audit", "admin.nav.audit", lambda u: can(u, "audit.read")),
)


def _ctx():
    return current_app.extensions["cc"]


def _engine() -> Engine:
    return _ctx().engine


def _dt(ms: int | None) -> str:
    """Epoch ms → ``YYYY-MM-DD HH:MM`` China time, ``—`` for none."""
    if not ms:
        return "—"
    return datetime.fromtimestamp(ms / 1000, CST).strftime("%Y-%m-%d %H:%M")


def render_admin(page_id: str, template: str, *, user, lang: str, title_key: str, subtitle_key: str,
                 status: int = 200, message: str = "", error: str = "", extra_head: str = "",
                 **ctx: Any) -> Response:
    """One admin page: ``template`` (a file under ``dashboard/templates/``, e.g. ``admin/users.html``, extending
    ``admin/_layout.html``: the shared chrome — theme, header with navigation filtered by ``user``'s permissions,
    language switch keeping the query, link back to the map) rendered with ``ctx``, ``tr``, ``lang``, ``user``
    (autoescaped). Returns a ``text/html`` response with ``status``."""
    args = {k: v for k, v in request.args.items() if k != "lang"}
    args["lang"] = "en" if lang == "zh" else "zh"
    nav = [{"id": i, "href": href, "key": key} for i, href, key, allowed in _NAV if allowed(user)]
    here = next((href for i, href, _k, _a in _NAV if i == page_id), request.path)
    html = render_template(
        template, lang=lang, tr=lambda k, **kw: t(k, lang, **kw), user=user, nav=nav, page_id=page_id,
        here=here, lang_query=urlencode(args), title_key=title_key, subtitle_key=subtitle_key, message=message,
        error=error, extra_head=extra_head, dt=_dt, **ctx)
    return Response(html, status=status, mimetype="text/html")


@bp.errorhandler(Forbidden)
def _forbidden(exc: Forbidden):
    lang = page_lang()
    html = render_template("admin/forbidden.html", lang=lang, tr=lambda k, **kw: t(k, lang, **kw))
    return Response(html, status=exc.status, mimetype="text/html")


def _error_text(exc: Exception, lang: str, **names: str) -> str:
    """A catalog message for the errors of :mod:`dashboard.auth.core` / :mod:`datasources.sql.workorders` (English text
    matched by its fixed wording), else the exception's own text."""
    msg = str(exc)
    table = (("passwords differ", "admin.err.pw_mismatch"), ("not on your own login", "admin.err.self"),
             ("at least 8 characters", "admin.err.pw_short"), ("at most 128", "admin.err.pw_long"),
             ("needs 3 of", "admin.err.pw_classes"), ("exists", "admin.err.exists"),
             ("user name", "admin.err.bad_username"), ("unknown role", "admin.err.bad_role"),
             ("needs an existing roster entry", "admin.err.need_engineer"), ("no user", "admin.err.no_user"),
             ("is not a field engineer", "admin.err.not_engineer"), ("is linked to", "admin.err.taken"),
             ("no roster entry", "admin.err.no_engineer"), ("does not exist", "admin.err.no_engineer"))
    linked = re.search(r"entry (\S+) is linked to '?([\w.]+)'?", msg)
    if linked:  # name the roster entry and the login that holds it
        names = {**names, "engineer": linked.group(1), "username": linked.group(2)}
    names = {"username": "", "engineer": "", **names}
    for needle, key in table:
        if needle in msg:
            return t(key, lang, **names)
    return t("admin.err.failed", lang, error=msg)


def _audit_error(user, action: str, target: str, exc: Exception, detail: dict | None = None) -> None:
    write_audit(_engine(), user.username, user.role, action, target, "error",
                {"error": f"{exc.__class__.__name__}: {exc}", **(detail or {})})


# ---------------------------------------------------------------- users


def _admin():
    return authorize("user.manage", target="admin:users", engine=_engine())


def _user_rows(engine: Engine, now_ms: int) -> list[dict[str, Any]]:
    names = {e["engineer_id"]: e for e in wo.list_engineers(engine)}
    rows = auth.list_users(engine)
    for u in rows:
        locked = bool(u["locked_until_ms"] and u["locked_until_ms"] > now_ms)
        u["status"] = "inactive" if not u["active"] else ("locked" if locked else "active")
        e = names.get(u["engineer_id"] or "")
        u["engineer_name"] = e["name"] if e else ""
    return rows


def _users_page(user, lang: str, *, message: str = "", error: str = "", status: int = 200,
                form: dict | None = None) -> Response:
    engine = _engine()
    now = int(time.time() * 1000)
    rows = _user_rows(engine, now)
    linked = {u["engineer_id"] for u in rows if u["engineer_id"]}
    free = [e for e in wo.list_engineers(engine) if e["engineer_id"] not in linked]
    return render_admin(
        "users", "admin/users.html", user=user, lang=lang, title_key="admin.users.title", subtitle_key="admin.users.subtitle",
        status=status, message=message, error=error, users=rows, n_active=sum(u["status"] == "active" for u in rows),
        n_locked=sum(u["status"] == "locked" for u in rows), roles=auth.ROLES, free_engineers=free,
        form=form or {}, lock_hours=LOCK_HOURS,
        lock_labels={1: "admin.u.lock_1h", 24: "admin.u.lock_24h", 168: "admin.u.lock_7d", 0: "admin.u.lock_forever"})


@bp.get("/admin/users")
def users_page():
    """The user list and the create form (admin; the read is audited ``user.list``)."""
    user = _admin()
    write_audit(_engine(), user.username, user.role, "user.list", "admin:users", "ok", "")
    return _users_page(user, page_lang())


def _user_change(action: str, fn: Callable[[Any, str, str], str], *, form_back: bool = False) -> Response:
    """Authorise ``user.manage``, run ``fn(user, username, lang)`` → message; domain errors → 400 (audited)."""
    lang = page_lang()
    user = _admin()
    username = (request.form.get("username") or "").strip()
    try:
        message = fn(user, username, lang)
    except (ValueError, PasswordPolicyError) as exc:
        _audit_error(user, action, f"user:{username}", exc)
        form = {k: request.form.get(k, "") for k in ("username", "display_name", "role", "engineer_id")} \
            if form_back else None
        return _users_page(user, lang, error=_error_text(exc, lang, username=username), status=400, form=form)
    return _users_page(user, lang, message=message)


@bp.post("/admin/users/create")
def users_create():
    """Create a login (policy-checked password given twice; a field engineer names a free roster entry)."""

    def run(user, username, lang):
        pw = request.form.get("password") or ""
        if pw != (request.form.get("password2") or ""):
            raise ValueError("passwords differ")
        role = request.form.get("role") or ""
        eid = (request.form.get("engineer_id") or None) if role == "field_engineer" else None
        if eid is not None:
            taken = next((u["username"] for u in auth.list_users(_engine()) if u["engineer_id"] == eid), None)
            if taken is not None:
                raise ValueError(f"roster entry {eid} is linked to {taken!r}")
        auth.create_user(_engine(), username, pw, role, display_name=(request.form.get("display_name") or "").strip(),
                         engineer_id=eid, by=user)
        return t("admin.ok.created", lang, username=username)

    return _user_change("user.create", run, form_back=True)


@bp.post("/admin/users/password")
def users_password():
    """Reset a password (policy-checked); ends that user's sessions and lifts a lockout."""

    def run(user, username, lang):
        auth.set_password(_engine(), username, request.form.get("password") or "", by=user)
        return t("admin.ok.password", lang, username=username)

    return _user_change("user.set_password", run)


def _not_self(user, username: str) -> None:
    if username == user.username:
        raise ValueError("not on your own login")


@bp.post("/admin/users/lock")
def users_lock():
    """Lock a login for ``hours`` (0: until unlocked); its sessions end. Not one's own."""

    def run(user, username, lang):
        _not_self(user, username)
        try:
            hours = int(request.form.get("hours") or 0)
        except ValueError:
            hours = 0
        until = int(time.time() * 1000) + (hours * 3600 * 1000 if hours > 0 else FOREVER_MS)
        auth.lock_user(_engine(), username, until, by=user)
        return t("admin.ok.locked", lang, username=username, until=_dt(until))

    return _user_change("user.lock", run)


@bp.post("/admin/users/unlock")
def users_unlock():
    """Lift a lockout (also one after too many failed sign-ins)."""

    def run(user, username, lang):
        auth.unlock_user(_engine(), username, by=user)
        return t("admin.ok.unlocked", lang, username=username)

    return _user_change("user.unlock", run)


@bp.post("/admin/users/active")
def users_active():
    """Activate (``active=1``) or deactivate (``active=0``, sessions end) a login. Not one's own."""

    def run(user, username, lang):
        _not_self(user, username)
        active = (request.form.get("active") or "") == "1"
        auth.set_active(_engine(), username, active, by=user)
        return t("admin.ok.activated" if active else "admin.ok.deactivated", lang, username=username)

    return _user_change("user.set_active", run)


# ---------------------------------------------------------------- duty roster


def _roster_page(user, lang: str, *, message: str = "", error: str = "", status: int = 200) -> Response:
    engine = _engine()
    engineers = wo.list_engineers(engine)
    now = int(time.time() * 1000)
    users = _user_rows(engine, now)
    by_eng = {u["engineer_id"]: u for u in users if u["engineer_id"]}
    for e in engineers:
        e["login"] = by_eng.get(e["engineer_id"])
    free = [u for u in users if u["role"] == "field_engineer" and not u["engineer_id"]]
    return render_admin(
        "roster", "admin/roster.html", user=user, lang=lang, title_key="admin.roster.title",
        subtitle_key="admin.roster.subtitle", status=status, message=message, error=error, engineers=engineers,
        n_on=sum(bool(e["on_duty"]) for e in engineers), n_open=sum(e["open_orders"] or 0 for e in engineers),
        can_duty=can(user, "roster.duty"), can_link=can(user, "user.manage"), free_users=free)


@bp.get("/admin/roster")
def roster_page():
    """The duty roster (``roster.view``: admin, duty officer, leader; the read is audited ``roster.read``)."""
    user = authorize("roster.view", target="admin:roster", engine=_engine())
    write_audit(_engine(), user.username, user.role, "roster.read", "admin:roster", "ok", "")
    return _roster_page(user, page_lang())


def _engineer_name(engineer_id: str) -> str:
    e = next((x for x in wo.list_engineers(_engine()) if x["engineer_id"] == engineer_id), None)
    return e["name"] if e else engineer_id


@bp.post("/admin/roster/duty")
def roster_duty():
    """Set an engineer's duty flag (``roster.duty``; audited ``roster.duty`` with the new flag)."""
    lang = page_lang()
    eid = request.form.get("engineer_id") or ""
    on = (request.form.get("on_duty") or "") == "1"
    user = authorize("roster.duty", target=f"engineer:{eid}", engine=_engine())
    try:
        wo.set_on_duty(_engine(), eid, on, redis_client=_ctx().redis)
    except wo.WorkOrderNotFound as exc:
        _audit_error(user, "roster.duty", f"engineer:{eid}", exc, {"on_duty": on})
        return _roster_page(user, lang, error=t("admin.err.no_engineer", lang, engineer=eid), status=400)
    write_audit(_engine(), user.username, user.role, "roster.duty", f"engineer:{eid}", "ok", {"on_duty": on})
    return _roster_page(user, lang, message=t("admin.ok.duty", lang, name=_engineer_name(eid),
                                              state=t("admin.r.on" if on else "admin.r.off", lang)))


@bp.post("/admin/roster/link")
def roster_link():
    """Link an existing field-engineer login to a roster entry, or unlink (``username`` empty) the entry's login."""
    lang = page_lang()
    user = authorize("user.manage", target="admin:roster", engine=_engine())
    eid = request.form.get("engineer_id") or ""
    username = (request.form.get("username") or "").strip()
    name = _engineer_name(eid)
    try:
        if username:
            auth.link_engineer(_engine(), username, eid, by=user)
            message = t("admin.ok.linked", lang, name=name, username=username)
        else:
            current = next((u for u in auth.list_users(_engine()) if u["engineer_id"] == eid), None)
            if current is None:
                raise ValueError(f"no login linked to {eid}")
            auth.link_engineer(_engine(), current["username"], None, by=user)
            message = t("admin.ok.unlinked", lang, name=name)
    except ValueError as exc:
        _audit_error(user, "user.link_engineer", f"user:{username}", exc, {"engineer_id": eid})
        taken = next((u["username"] for u in auth.list_users(_engine()) if u["engineer_id"] == eid), "")
        return _roster_page(user, lang, error=_error_text(exc, lang, username=taken or username, engineer=eid),
                            status=400)
    return _roster_page(user, lang, message=message)


@bp.post("/admin/roster/login")
def roster_login():
    """Create the field-engineer login of a roster entry (``user.manage``; audited ``user.create``)."""
    lang = page_lang()
    user = authorize("user.manage", target="admin:roster", engine=_engine())
    eid = request.form.get("engineer_id") or ""
    username = (request.form.get("username") or "").strip()
    display = (request.form.get("display_name") or "").strip() or _engineer_name(eid)
    try:
        if any(u["engineer_id"] == eid for u in auth.list_users(_engine())):
            raise ValueError(f"roster entry {eid} is linked to "
                             f"{next(u['username'] for u in auth.list_users(_engine()) if u['engineer_id'] == eid)!r}")
        auth.create_user(_engine(), username, request.form.get("password") or "", "field_engineer",
                         display_name=display, engineer_id=eid or None, by=user)
    except (ValueError, PasswordPolicyError) as exc:
        _audit_error(user, "user.create", f"user:{username}", exc, {"engineer_id": eid})
        taken = next((u["username"] for u in auth.list_users(_engine()) if u["engineer_id"] == eid), "")
        return _roster_page(user, lang, error=_error_text(exc, lang, username=taken or username, engineer=eid),
                            status=400)
    return _roster_page(user, lang, message=t("admin.ok.linked", lang, name=display, username=username))


# ---------------------------------------------------------------- audit log


@dataclass
class AuditFilter:
    """The audit page's filter. ``start`` / ``end``: aware datetimes (``end`` exclusive) or ``None``; text fields
    '' for "any"."""

    start: datetime | None = None
    end: datetime | None = None
    actor: str = ""
    action: str = ""
    result: str = ""
    target: str = ""

    def as_dict(self) -> dict[str, str]:
        """The filter as given (for the audit entry of a read / export): only the fields set, times ISO."""
        out = {"from": self.start.isoformat() if self.start else "", "to": self.end.isoformat() if self.end else "",
               "actor": self.actor, "action": self.action, "result": self.result, "target": self.target}
        return {k: v for k, v in out.items() if v}


def parse_local_time(value: str | None) -> datetime | None:
    """``YYYY-MM-DDTHH:MM[:SS]`` (or with a space) in China time → aware UTC datetime; ''/None → None.

    Raises:
        ValueError: not such a time.
    """
    value = (value or "").strip()
    if not value:
        return None
    dt = datetime.fromisoformat(value.replace(" ", "T"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=CST)
    return dt.astimezone(timezone.utc)


def filter_from_args(args) -> AuditFilter:
    """An :class:`AuditFilter` from a query string (``from``, ``to``, ``actor``, ``action``, ``result``,
    ``target``). Raises: ValueError (a bad time; the message names the value)."""
    f = AuditFilter(actor=(args.get("actor") or "").strip()[:64], action=(args.get("action") or "").strip()[:64],
                    result=(args.get("result") or "").strip()[:32], target=(args.get("target") or "").strip()[:128])
    for name in ("from", "to"):
        raw = args.get(name)
        try:
            value = parse_local_time(raw)
        except ValueError:
            raise ValueError(raw) from None
        setattr(f, "start" if name == "from" else "end", value)
    return f


def _where(stmt, f: AuditFilter):
    # UTC-aware bounds: PostgreSQL compares timestamptz exactly; SQLite stores the UTC wall time of the aware
    # values write_audit gives and formats these the same way
    if f.start is not None:
        stmt = stmt.where(AuditEntry.ts >= f.start.astimezone(timezone.utc))
    if f.end is not None:
        stmt = stmt.where(AuditEntry.ts < f.end.astimezone(timezone.utc))
    if f.actor:
        stmt = stmt.where(AuditEntry.actor == f.actor)
    if f.action:
        stmt = stmt.where(AuditEntry.action.startswith(f.action, autoescape=True))
    if f.result:
        stmt = stmt.where(AuditEntry.result == f.result)
    if f.target:
        stmt = stmt.where(AuditEntry.target.contains(f.target, autoescape=True))
    return stmt


def _entry(e: AuditEntry) -> dict[str, Any]:
    ts = e.ts if e.ts is None or e.ts.tzinfo else e.ts.replace(tzinfo=timezone.utc)
    return {"id": e.id, "ts": ts.astimezone(CST).isoformat(timespec="seconds") if ts else "",
            "ts_local": ts.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S") if ts else "", "actor": e.actor,
            "role": e.role, "action": e.action, "target": e.target, "result": e.result, "detail": e.detail or ""}


def query_audit(engine: Engine, f: AuditFilter, *, offset: int = 0, limit: int = PAGE_SIZE) -> list[dict[str, Any]]:
    """Audit entries matching ``f``, newest first (by id), ``limit`` rows from ``offset``.

    Returns:
        ``[{id, ts (ISO, UTC+8), ts_local, actor, role, action, target, result, detail}]``.
    """
    stmt = _where(select(AuditEntry), f).order_by(AuditEntry.id.desc()).offset(max(0, offset)).limit(max(1, limit))
    with Session(engine) as s:
        return [_entry(e) for e in s.scalars(stmt)]


def count_audit(engine: Engine, f: AuditFilter, cap: int = COUNT_CAP) -> int:
    """Number of entries matching ``f``, counted up to ``cap + 1`` (a bounded query; more shows as "cap+")."""
    inner = _where(select(AuditEntry.id), f).limit(cap + 1).subquery()
    with Session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(inner)) or 0)


#: CSV columns of the export
CSV_COLUMNS = ("id", "ts", "actor", "role", "action", "target", "result", "detail")


def audit_csv(rows: list[dict[str, Any]]) -> bytes:
    """``rows`` as CSV (:data:`CSV_COLUMNS`, header first, CRLF), UTF-8 with a byte-order mark so Excel reads
    Chinese correctly."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for r in rows:
        w.writerow([r[c] for c in CSV_COLUMNS])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def _known(engine: Engine, column) -> list[str]:
    """Distinct values of a column among the newest 2000 entries (suggestions of the filter inputs)."""
    recent = select(column.label("v")).order_by(AuditEntry.id.desc()).limit(2000).subquery()
    with Session(engine) as s:
        return sorted(v for v in s.scalars(select(recent.c.v).distinct()) if v)


@bp.get("/admin/audit")
def audit_page():
    """The audit log (``audit.read``), filtered and paged, newest first; the read itself is audited
    ``audit.read`` with the filter, the page and the number of rows shown."""
    lang = page_lang()
    engine = _engine()
    user = authorize("audit.read", target="audit_log", engine=engine)
    args = {k: v for k, v in request.args.items() if k in ("from", "to", "actor", "action", "result", "target")}
    error, status = "", 200
    try:
        f = filter_from_args(request.args)
    except ValueError as exc:
        error, status, f = t("admin.a.bad_time", lang, value=str(exc)), 400, AuditFilter()
    try:
        page = max(1, min(int(request.args.get("page") or 1), 100_000))
    except ValueError:
        page = 1
    rows = query_audit(engine, f, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE + 1)
    more, rows = len(rows) > PAGE_SIZE, rows[:PAGE_SIZE]
    total = count_audit(engine, f)
    write_audit(engine, user.username, user.role, "audit.read", "audit_log", "ok",
                {"filter": f.as_dict(), "page": page, "rows": len(rows)})
    base = {**args, "lang": lang}
    first = (page - 1) * PAGE_SIZE + 1 if rows else 0
    return render_admin(
        "audit", "admin/audit.html", user=user, lang=lang, title_key="admin.audit.title", subtitle_key="admin.audit.subtitle",
        status=status, error=error, rows=rows, page=page, more=more, args=args, results=RESULTS, roles=auth.ROLES,
        first=first, last=first + len(rows) - 1 if rows else 0,
        total_text=f"{COUNT_CAP}+" if total > COUNT_CAP else str(total),
        prev_query=urlencode({**base, "page": page - 1}), next_query=urlencode({**base, "page": page + 1}),
        export_query=urlencode(base), export_max=EXPORT_MAX, known_actions=_known(engine, AuditEntry.action),
        known_actors=_known(engine, AuditEntry.actor))


@bp.get("/admin/audit/export.csv")
def audit_export():
    """The filtered entries (same query string as the page, every page, at most :data:`EXPORT_MAX`) as a CSV
    download (UTF-8 with BOM); audited ``audit.export`` with the filter and the row count. A bad time: 400."""
    engine = _engine()
    user = authorize("audit.read", target="audit_log:export", engine=engine)
    try:
        f = filter_from_args(request.args)
    except ValueError as exc:
        write_audit(engine, user.username, user.role, "audit.export", "audit_log", "error",
                    {"error": f"bad time {exc}"})
        return Response(t("admin.a.bad_time", page_lang(), value=str(exc)), status=400, mimetype="text/plain")
    rows = query_audit(engine, f, limit=EXPORT_MAX)
    write_audit(engine, user.username, user.role, "audit.export", "audit_log", "ok",
                {"filter": f.as_dict(), "rows": len(rows), "truncated": len(rows) >= EXPORT_MAX})
    stamp = datetime.now(CST).strftime("%Y%m%d-%H%M%S")
    return Response(audit_csv(rows), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename=audit-{stamp}.csv",
                             "Cache-Control": "no-store"})
