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
from typing import Any, Callable
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, render_template_string, request
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

bp = Blueprint("cc_admin_users", __name__)

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

# ---------------------------------------------------------------- shared chrome (head, header, navigation)

_TOP = """<!doctype html>
<html lang="{{ 'en' if lang == 'en' else 'zh-CN' }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ tr(title_key) }} · {{ tr('app.title') }}</title>
<link rel="stylesheet" href="/assets/cc_theme.css">
<style>
html, body { overflow: auto; height: auto; min-height: 100%; }
.cc-adm { max-width: 120rem; margin: 0 auto; padding: 1rem 1.6rem 3rem; font-size: 1rem; }
.cc-adm a { color: var(--accent); text-decoration: none; }
.cc-adm-head { display: flex; align-items: center; gap: 1rem; padding-bottom: .7rem; border-bottom: 1px solid var(--line-2); }
.cc-adm-head .brand { font-size: 1.5rem; letter-spacing: .12em; color: var(--accent); font-weight: bold; white-space: nowrap; }
.cc-adm-nav { display: flex; gap: .3rem; margin-left: 1.2rem; }
.cc-adm-nav a { padding: .35rem 1rem; border: 1px solid var(--line-2); border-radius: .25rem; color: var(--muted); }
.cc-adm-nav a.on { color: var(--bg); background: var(--accent); border-color: var(--accent); }
.cc-adm-nav a:hover { color: var(--text); border-color: var(--accent); }
.cc-adm-head .flex { flex: 1; }
.cc-adm-head .who { color: var(--muted); }
.cc-adm-head .who b { color: var(--text); font-weight: normal; }
.cc-adm-title { display: flex; align-items: baseline; gap: 1rem; margin: 1rem 0 .2rem; }
.cc-adm-title h1 { margin: 0; font-size: 1.6rem; letter-spacing: .1em; }
.cc-adm-title .sub { color: var(--muted); }
.cc-adm-grid { display: grid; grid-template-columns: 1fr 26rem; gap: 1.2rem; margin-top: .8rem; align-items: start; }
.cc-adm-card { background: var(--panel); border: 1px solid var(--line); border-radius: .4rem; padding: .8rem 1rem;
  box-shadow: inset 0 0 2rem rgba(43, 211, 255, .04); margin-bottom: 1rem; }
.cc-adm-card h2 { margin: 0 0 .6rem; font-size: 1.1rem; letter-spacing: .1em; color: var(--text);
  border-left: .25rem solid var(--accent); padding-left: .6rem; display: flex; gap: 1rem; align-items: baseline; }
.cc-adm-card h2 .muted { font-size: .95rem; letter-spacing: 0; }
table.cc-adm-t { width: 100%; border-collapse: collapse; }
.cc-adm-t th { text-align: left; color: var(--muted); font-weight: normal; padding: .3rem .45rem;
  border-bottom: 1px solid var(--line-2); white-space: nowrap; position: sticky; top: 0; background: var(--bg-2); }
.cc-adm-t td { padding: .28rem .45rem; border-bottom: 1px solid var(--line); vertical-align: middle; }
.cc-adm-t tr:hover td { background: rgba(43, 211, 255, .05); }
.cc-adm-t tr.picked td { background: rgba(43, 211, 255, .12); }
.cc-adm-t .num, .mono { font-family: var(--num-font); white-space: nowrap; }
.mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .88rem; }
.cc-adm-t td.detail { max-width: 34rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; color: var(--muted); }
.tag { display: inline-block; padding: 0 .45rem; border-radius: .2rem; font-size: .88rem; border: 1px solid var(--line-2); white-space: nowrap; }
.tag.good { color: var(--running); border-color: var(--running); }
.tag.warn { color: var(--not_built); border-color: var(--not_built); }
.tag.bad { color: var(--alarm); border-color: var(--alarm); }
.tag.dim { color: var(--dim); }
.tag.role-admin { color: var(--accent); border-color: var(--accent); }
.muted { color: var(--muted); }
.err { color: var(--alarm); }
form.cc-adm-f label { display: block; color: var(--muted); margin: .4rem 0 .12rem; font-size: .95rem; }
.cc-adm input, .cc-adm select { box-sizing: border-box; background: var(--bg-2); color: var(--text);
  border: 1px solid var(--line-2); border-radius: .25rem; padding: .28rem .45rem; font: inherit; }
form.cc-adm-f input, form.cc-adm-f select { width: 100%; }
form.cc-adm-f .two { display: grid; grid-template-columns: 1fr 1fr; gap: 0 .7rem; }
form.inl { display: inline-flex; gap: .25rem; align-items: center; margin: 0 .35rem 0 0; }
form.inl input { width: 9.5rem; padding: .15rem .4rem; }
form.inl select { padding: .15rem .3rem; }
button.cc-adm-b { margin-top: .7rem; background: linear-gradient(180deg, var(--accent-2), #087aa6); color: #fff;
  border: 0; border-radius: .25rem; padding: .4rem 1.1rem; cursor: pointer; font: inherit; }
button.sm { background: transparent; border: 1px solid var(--line-2); color: var(--text); border-radius: .2rem;
  cursor: pointer; font: inherit; font-size: .88rem; padding: .08rem .5rem; white-space: nowrap; }
button.sm:hover { border-color: var(--accent); color: var(--accent); }
button.sm.danger { border-color: var(--alarm); color: var(--alarm); }
button.sm.go { border-color: var(--running); color: var(--running); }
.hint { color: var(--dim); font-size: .88rem; margin: .25rem 0 0; }
.msg { padding: .55rem 1rem; border-radius: .3rem; margin-top: .8rem; }
.msg.ok { border: 1px solid var(--running); color: var(--running); }
.msg.bad { border: 1px solid var(--alarm); color: var(--alarm); }
.cc-adm-filter { display: grid; grid-template-columns: repeat(6, minmax(0, 1fr)) auto; gap: .5rem .8rem; align-items: end; }
.cc-adm-filter label { display: block; color: var(--muted); font-size: .9rem; margin-bottom: .12rem; }
.cc-adm-filter input, .cc-adm-filter select { width: 100%; }
.cc-adm-filter .acts { display: flex; gap: .5rem; align-items: center; white-space: nowrap; }
.cc-adm-filter .acts button.cc-adm-b { margin-top: 0; }
.pager { display: flex; gap: 1rem; align-items: center; justify-content: flex-end; margin-top: .6rem; color: var(--muted); }
.pager a.off { color: var(--dim); pointer-events: none; }
</style>{{ extra_head|safe }}</head>
<body><div class="cc-adm" id="cc-admin" data-lang="{{ lang }}" data-page="{{ page_id }}">
<header class="cc-adm-head">
  <span class="brand">{{ tr('admin.console') }}</span>
  <nav class="cc-adm-nav" id="adm-nav">{% for n in nav %}<a href="{{ n.href }}?lang={{ lang }}" id="nav-{{ n.id }}" class="{{ 'on' if n.id == page_id else '' }}">{{ tr(n.key) }}</a>{% endfor %}</nav>
  <span class="flex"></span>
  <span class="who" id="adm-user"><b>{{ user.display_name or user.username }}</b> · {{ tr('admin.role.' ~ user.role) }}</span>
  <a href="{{ here }}?{{ lang_query }}" id="adm-lang">{{ tr('admin.lang_switch') }}</a>
  <a href="/?lang={{ lang }}" id="adm-back">{{ tr('admin.back') }}</a>
</header>
<div class="cc-adm-title"><h1 id="adm-title">{{ tr(title_key) }}</h1><span class="sub">{{ tr(subtitle_key) }}</span></div>
{% if message %}<div class="msg ok" id="adm-ok">{{ message }}</div>{% endif %}
{% if error %}<div class="msg bad" id="adm-error">{{ error }}</div>{% endif %}
"""

_BOTTOM = """</div></body></html>"""

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


def render_admin(page_id: str, body: str, *, user, lang: str, title_key: str, subtitle_key: str,
                 status: int = 200, message: str = "", error: str = "", extra_head: str = "",
                 **ctx: Any) -> Response:
    """One admin page: the shared chrome (theme, header with navigation filtered by ``user``'s permissions, language
    switch keeping the query, link back to the map) around ``body`` (a Jinja template string rendered with ``ctx``,
    ``tr``, ``lang``, ``user``). Returns a ``text/html`` response with ``status``."""
    args = {k: v for k, v in request.args.items() if k != "lang"}
    args["lang"] = "en" if lang == "zh" else "zh"
    nav = [{"id": i, "href": href, "key": key} for i, href, key, allowed in _NAV if allowed(user)]
    here = next((href for i, href, _k, _a in _NAV if i == page_id), request.path)
    html = render_template_string(
        _TOP + body + _BOTTOM, lang=lang, tr=lambda k, **kw: t(k, lang, **kw), user=user, nav=nav, page_id=page_id,
        here=here, lang_query=urlencode(args), title_key=title_key, subtitle_key=subtitle_key, message=message,
        error=error, extra_head=extra_head, dt=_dt, **ctx)
    return Response(html, status=status, mimetype="text/html")


@bp.errorhandler(Forbidden)
def _forbidden(exc: Forbidden):
    lang = page_lang()
    return Response(
        f'<!doctype html><html lang="{"en" if lang == "en" else "zh-CN"}"><meta charset="utf-8">'
        f'<link rel="stylesheet" href="/assets/cc_theme.css"><body style="overflow:auto">'
        f'<div style="padding:3rem;font-size:1.2rem"><p id="adm-forbidden" style="color:var(--alarm)">'
        f'{t("admin.forbidden_page", lang)}</p><p><a style="color:var(--accent)" href="/?lang={lang}">'
        f'{t("admin.back", lang)}</a></p></div></body></html>', status=exc.status, mimetype="text/html")


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

_USERS = """
<div class="cc-adm-grid"><main>
<section class="cc-adm-card"><h2>{{ tr('admin.users.list') }} <span class="muted" id="adm-users-count">{{ tr('admin.users.count', n=users|length, active=n_active, locked=n_locked) }}</span></h2>
<table class="cc-adm-t" id="adm-users">
<tr><th>{{ tr('admin.u.username') }}</th><th>{{ tr('admin.u.display_name') }}</th><th>{{ tr('admin.u.role') }}</th>
<th>{{ tr('admin.u.engineer') }}</th><th>{{ tr('admin.u.status') }}</th><th>{{ tr('admin.u.locked_until') }}</th>
<th>{{ tr('admin.u.last_login') }}</th><th>{{ tr('admin.u.failed') }}</th><th>{{ tr('admin.u.pw_changed') }}</th><th>{{ tr('admin.u.actions') }}</th></tr>
{% for u in users %}
<tr data-user="{{ u.username }}" data-status="{{ u.status }}">
<td class="mono">{{ u.username }}{% if u.username == user.username %} <span class="tag dim">{{ tr('admin.u.you') }}</span>{% endif %}</td>
<td>{{ u.display_name }}</td>
<td><span class="tag role-{{ u.role }}">{{ tr('admin.role.' ~ u.role) }}</span></td>
<td class="mono">{{ u.engineer_id or '—' }}{% if u.engineer_name %} <span class="muted">{{ u.engineer_name }}</span>{% endif %}</td>
<td class="u-status"><span class="tag {{ {'active': 'good', 'locked': 'warn', 'inactive': 'bad'}[u.status] }}">{{ tr('admin.u.st.' ~ u.status) }}</span></td>
<td class="num">{{ dt(u.locked_until_ms) if u.status == 'locked' else '—' }}</td>
<td class="num">{{ dt(u.last_login_ms) }}</td>
<td class="num">{{ u.failed_logins or 0 }}</td>
<td class="num">{{ dt(u.password_changed_ms) }}</td>
<td style="white-space:nowrap">
<form class="inl" method="post" action="/admin/users/password?lang={{ lang }}"><input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<input type="hidden" name="username" value="{{ u.username }}"><input type="password" name="password" required autocomplete="new-password" placeholder="{{ tr('admin.u.new_password') }}">
<button class="sm" type="submit">{{ tr('admin.u.reset') }}</button></form>
{% if u.username != user.username %}
{% if u.status == 'locked' %}
<form class="inl" method="post" action="/admin/users/unlock?lang={{ lang }}"><input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<input type="hidden" name="username" value="{{ u.username }}"><button class="sm go" type="submit">{{ tr('admin.u.unlock') }}</button></form>
{% else %}
<form class="inl" method="post" action="/admin/users/lock?lang={{ lang }}"><input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<input type="hidden" name="username" value="{{ u.username }}"><select name="hours">{% for h in lock_hours %}<option value="{{ h }}">{{ tr(lock_labels[h]) }}</option>{% endfor %}</select>
<button class="sm" type="submit">{{ tr('admin.u.lock') }}</button></form>
{% endif %}
<form class="inl" method="post" action="/admin/users/active?lang={{ lang }}"{% if u.active %} onsubmit='return confirm({{ tr("admin.u.confirm_deactivate")|tojson }})'{% endif %}><input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<input type="hidden" name="username" value="{{ u.username }}"><input type="hidden" name="active" value="{{ 0 if u.active else 1 }}">
<button class="sm {{ 'danger' if u.active else 'go' }}" type="submit">{{ tr('admin.u.deactivate') if u.active else tr('admin.u.activate') }}</button></form>
{% endif %}
</td></tr>
{% endfor %}</table></section></main>
<aside><section class="cc-adm-card"><h2>{{ tr('admin.u.create') }}</h2>
<form class="cc-adm-f" id="adm-create-user" method="post" action="/admin/users/create?lang={{ lang }}"><input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<div class="two"><div><label for="cu-username">{{ tr('admin.u.username') }}</label><input id="cu-username" name="username" required maxlength="64" autocomplete="off" value="{{ form.username or '' }}"></div>
<div><label for="cu-display">{{ tr('admin.u.display_name') }}</label><input id="cu-display" name="display_name" maxlength="64" value="{{ form.display_name or '' }}"></div></div>
<div class="two"><div><label for="cu-role">{{ tr('admin.u.role') }}</label><select id="cu-role" name="role">{% for r in roles %}<option value="{{ r }}"{% if form.role == r %} selected{% endif %}>{{ tr('admin.role.' ~ r) }}</option>{% endfor %}</select></div>
<div><label for="cu-engineer">{{ tr('admin.u.engineer') }}</label><select id="cu-engineer" name="engineer_id"><option value="">{{ tr('admin.u.none_engineer') }}</option>
{% for e in free_engineers %}<option value="{{ e.engineer_id }}"{% if form.engineer_id == e.engineer_id %} selected{% endif %}>{{ e.engineer_id }} · {{ e.name_en if lang == 'en' and e.name_en else e.name }}</option>{% endfor %}</select></div></div>
<p class="hint">{{ tr('admin.u.engineer_hint') }}</p>
<div class="two"><div><label for="cu-password">{{ tr('admin.u.password') }}</label><input id="cu-password" name="password" type="password" required autocomplete="new-password"></div>
<div><label for="cu-password2">{{ tr('admin.u.password2') }}</label><input id="cu-password2" name="password2" type="password" required autocomplete="new-password"></div></div>
<p class="hint" id="cu-policy">{{ tr('admin.u.policy') }}</p>
<button class="cc-adm-b" type="submit" id="cu-submit">{{ tr('admin.u.create_submit') }}</button></form></section></aside></div>
"""


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
        "users", _USERS, user=user, lang=lang, title_key="admin.users.title", subtitle_key="admin.users.subtitle",
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

_ROSTER = """
<div class="cc-adm-grid"><main>
<section class="cc-adm-card"><h2>{{ tr('admin.roster.list') }} <span class="muted" id="adm-roster-count">{{ tr('admin.roster.count', n=engineers|length, on=n_on, open=n_open) }}</span></h2>
{% if not can_duty %}<p class="muted" id="adm-readonly">{{ tr('admin.r.read_only') }}</p>{% endif %}
<table class="cc-adm-t" id="adm-roster">
<tr><th>{{ tr('admin.r.id') }}</th><th>{{ tr('admin.r.name') }}</th><th>{{ tr('admin.r.phone') }}</th><th>{{ tr('admin.r.city') }}</th>
<th>{{ tr('admin.r.partner') }}</th><th>{{ tr('admin.r.skills') }}</th><th>{{ tr('admin.r.duty') }}</th><th>{{ tr('admin.r.workload') }}</th>
<th>{{ tr('admin.r.login') }}</th>{% if can_link %}<th></th>{% endif %}</tr>
{% for e in engineers %}
<tr data-engineer="{{ e.engineer_id }}" data-on-duty="{{ 1 if e.on_duty else 0 }}">
<td class="mono">{{ e.engineer_id }}</td>
<td>{{ e.name }}{% if lang == 'en' and e.name_en %} <span class="muted">{{ e.name_en }}</span>{% endif %}</td>
<td class="num">{{ e.phone }}</td>
<td>{{ e.city }} <span class="muted num">{{ e.city_adcode }}</span></td>
<td>{{ e.partner }}</td>
<td>{% for s in e.skills %}<span class="tag">{{ tr('skill.' ~ s) }}</span> {% endfor %}</td>
<td style="white-space:nowrap"><span class="tag {{ 'good' if e.on_duty else 'dim' }} r-duty">{{ tr('admin.r.on') if e.on_duty else tr('admin.r.off') }}</span>
{% if can_duty %}<form class="inl" method="post" action="/admin/roster/duty?lang={{ lang }}"><input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<input type="hidden" name="engineer_id" value="{{ e.engineer_id }}"><input type="hidden" name="on_duty" value="{{ 0 if e.on_duty else 1 }}">
<button class="sm {{ '' if e.on_duty else 'go' }}" type="submit">{{ tr('admin.r.set_off') if e.on_duty else tr('admin.r.set_on') }}</button></form>{% endif %}</td>
<td class="num"><span class="tag {{ 'warn' if e.open_orders else 'dim' }}">{{ e.open_orders }}</span></td>
<td class="mono r-login">{% if e.login %}{{ e.login.username }}{% if e.login.status != 'active' %} <span class="tag {{ 'warn' if e.login.status == 'locked' else 'bad' }}">{{ tr('admin.u.st.' ~ e.login.status) }}</span>{% endif %}{% else %}<span class="muted">{{ tr('admin.r.no_login') }}</span>{% endif %}</td>
{% if can_link %}<td style="white-space:nowrap">
{% if e.login %}<form class="inl" method="post" action="/admin/roster/link?lang={{ lang }}"><input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<input type="hidden" name="engineer_id" value="{{ e.engineer_id }}"><input type="hidden" name="username" value="">
<button class="sm danger" type="submit">{{ tr('admin.r.unlink') }}</button></form>
{% elif free_users %}<form class="inl" method="post" action="/admin/roster/link?lang={{ lang }}"><input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<input type="hidden" name="engineer_id" value="{{ e.engineer_id }}"><select name="username" required><option value="">{{ tr('admin.r.pick_user') }}</option>
{% for u in free_users %}<option value="{{ u.username }}">{{ u.username }} · {{ u.display_name }}</option>{% endfor %}</select>
<button class="sm" type="submit">{{ tr('admin.r.link') }}</button></form>{% endif %}
{% if not e.login %}<button class="sm go r-open" type="button" data-open="{{ e.engineer_id }}">{{ tr('admin.r.open_login') }}</button>{% endif %}
</td>{% endif %}</tr>
{% endfor %}</table></section></main>
<aside>{% if can_link %}<section class="cc-adm-card"><h2>{{ tr('admin.r.create_login') }}</h2>
<form class="cc-adm-f" id="adm-roster-login" method="post" action="/admin/roster/login?lang={{ lang }}"><input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<label for="rl-engineer">{{ tr('admin.r.engineer') }}</label><select id="rl-engineer" name="engineer_id" required>
{% for e in engineers if not e.login %}<option value="{{ e.engineer_id }}">{{ e.engineer_id }} · {{ e.name }} · {{ e.city }}</option>{% endfor %}</select>
<div class="two"><div><label for="rl-username">{{ tr('admin.u.username') }}</label><input id="rl-username" name="username" required maxlength="64" autocomplete="off"></div>
<div><label for="rl-display">{{ tr('admin.u.display_name') }}</label><input id="rl-display" name="display_name" maxlength="64"></div></div>
<label for="rl-password">{{ tr('admin.u.password') }}</label><input id="rl-password" name="password" type="password" required autocomplete="new-password">
<p class="hint">{{ tr('admin.u.policy') }}</p><p class="hint">{{ tr('admin.r.create_hint') }}</p>
<button class="cc-adm-b" type="submit" id="rl-submit">{{ tr('admin.u.create_submit') }}</button></form></section>{% endif %}
</aside></div>
<script>
document.querySelectorAll("button[data-open]").forEach(function (b) {
  b.addEventListener("click", function () {
    var sel = document.getElementById("rl-engineer");
    sel.value = b.dataset.open;
    document.querySelectorAll("tr[data-engineer]").forEach(function (tr) {
      tr.classList.toggle("picked", tr.dataset.engineer === b.dataset.open);
    });
    document.getElementById("rl-username").focus();
  });
});
</script>
"""


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
        "roster", _ROSTER, user=user, lang=lang, title_key="admin.roster.title",
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
        wo.set_on_duty(_engine(), eid, on)
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


_AUDIT = """
<section class="cc-adm-card" style="margin-top:.8rem"><form class="cc-adm-filter" id="adm-audit-filter" method="get" action="/admin/audit">
<input type="hidden" name="lang" value="{{ lang }}">
<div><label for="af-from">{{ tr('admin.a.from') }}</label><input id="af-from" type="datetime-local" name="from" value="{{ args.get('from', '') }}"></div>
<div><label for="af-to">{{ tr('admin.a.to') }}</label><input id="af-to" type="datetime-local" name="to" value="{{ args.get('to', '') }}"></div>
<div><label for="af-actor">{{ tr('admin.a.actor') }}</label><input id="af-actor" name="actor" value="{{ args.get('actor', '') }}" list="af-actors"></div>
<div><label for="af-action">{{ tr('admin.a.action') }}</label><input id="af-action" name="action" value="{{ args.get('action', '') }}" placeholder="user. / auth.login" list="af-actions"></div>
<div><label for="af-result">{{ tr('admin.a.result') }}</label><select id="af-result" name="result"><option value="">{{ tr('admin.a.any') }}</option>
{% for r in results %}<option value="{{ r }}"{% if args.get('result') == r %} selected{% endif %}>{{ tr('admin.res.' ~ r) }}</option>{% endfor %}</select></div>
<div><label for="af-target">{{ tr('admin.a.target') }}</label><input id="af-target" name="target" value="{{ args.get('target', '') }}"></div>
<div class="acts"><button class="cc-adm-b" type="submit" id="af-submit">{{ tr('admin.a.filter') }}</button>
<a href="/admin/audit?lang={{ lang }}" id="af-clear">{{ tr('admin.a.clear') }}</a>
<a href="/admin/audit/export.csv?{{ export_query }}" id="af-export" title="{{ tr('admin.a.export_hint', n=export_max) }}">⇩ {{ tr('admin.a.export') }}</a></div>
<datalist id="af-actions">{% for a in known_actions %}<option value="{{ a }}">{% endfor %}</datalist>
<datalist id="af-actors">{% for a in known_actors %}<option value="{{ a }}">{% endfor %}</datalist>
</form></section>
<section class="cc-adm-card"><h2>{{ tr('admin.a.entries') }} <span class="muted" id="adm-audit-count">{{ tr('admin.a.page', page=page, first=first, last=last, total=total_text) }}</span></h2>
{% if not rows %}<p class="muted" id="adm-audit-empty">{{ tr('admin.a.empty') }}</p>{% else %}
<table class="cc-adm-t" id="adm-audit">
<tr><th>{{ tr('admin.a.ts') }}</th><th>{{ tr('admin.a.actor') }}</th><th>{{ tr('admin.a.role') }}</th><th>{{ tr('admin.a.action').split('（')[0].split(' (')[0] }}</th>
<th>{{ tr('admin.a.target').split('（')[0].split(' (')[0] }}</th><th>{{ tr('admin.a.result') }}</th><th>{{ tr('admin.a.detail') }}</th></tr>
{% for r in rows %}<tr class="a-row" data-id="{{ r.id }}" data-action="{{ r.action }}" data-result="{{ r.result }}">
<td class="num">{{ r.ts_local }}</td><td class="mono">{{ r.actor }}</td>
<td>{{ tr('admin.role.' ~ r.role) if r.role in roles else (r.role or '—') }}</td><td class="mono">{{ r.action }}</td>
<td class="mono">{{ r.target }}</td>
<td><span class="tag {{ {'ok': 'good', 'refused': 'bad', 'failed': 'warn', 'locked': 'warn', 'error': 'bad'}.get(r.result, 'dim') }}">{{ tr('admin.res.' ~ r.result) if r.result in results else r.result }}</span></td>
<td class="detail mono" title="{{ r.detail }}">{{ r.detail }}</td></tr>{% endfor %}
</table>{% endif %}
<div class="pager"><a id="af-prev" class="{{ '' if page > 1 else 'off' }}" href="/admin/audit?{{ prev_query }}">‹ {{ tr('admin.a.prev') }}</a>
<span class="num">{{ page }}</span>
<a id="af-next" class="{{ '' if more else 'off' }}" href="/admin/audit?{{ next_query }}">{{ tr('admin.a.next') }} ›</a></div>
</section>
"""


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
        "audit", _AUDIT, user=user, lang=lang, title_key="admin.audit.title", subtitle_key="admin.audit.subtitle",
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
