"""The admin pages ``/admin/users``, ``/admin/roster``, ``/admin/audit`` (:mod:`dashboard.admin.users`) on the real app
(``dashboard.web.app.create_app``, SQLite, private Redis) through Flask's test client: role refusals (403, audited),
user changes that change what signing in does, the roster link that gives a field engineer their orders, audit
filters, paging, the CSV export and the audit of reading the audit log. The import button of the main page:
rendered for roles with ``data.import`` only, and the import refused on the server for the others."""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.admin import users as admin_users
from dashboard.auth.core import get_user, seed_demo_users
from datasources.sql.audit import write_audit
from datasources.sql import workorders as wo
from datasources.sql.db import make_engine, migrate
from datasources.sim.fleet import generate_fleet
from datasources.sql.models import AuditEntry
from datasources.sql.repository import save_fleet
from datasources.settings import Settings
from i18n.catalog_admin import EN, ZH

ROOT = Path(__file__).resolve().parent.parent
PASSWORDS = {"leader": "Leader#2026", "duty": "Duty#2026", "engineer": "Field#2026", "admin": "Admin#2026"}


@pytest.fixture
def web(tmp_path, redis_url):
    from dashboard.web.app import create_app

    url = f"sqlite:///{tmp_path / 'admin.db'}"
    migrate(url)
    eng = make_engine(url)
    save_fleet(eng, generate_fleet(4, seed=3))
    seed_demo_users(eng)
    settings = Settings(data_dir=ROOT / "data", redis_url=redis_url, database_url=url)
    app, _sio = create_app(settings, engine=eng, redis_url=redis_url, start_bridge=False)
    yield app.server, eng
    eng.dispose()


def _client(server):
    return server.test_client()


def _login(server, user: str, password: str | None = None):
    http = _client(server)
    resp = http.post("/auth/login", json={"username": user, "password": password or PASSWORDS[user]})
    assert resp.status_code == 200, resp.get_json()
    return http


def _sign_in_status(server, user: str, password: str) -> int:
    return _client(server).post("/auth/login", json={"username": user, "password": password}).status_code


def _audit(engine, action: str, **where) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
    for k, v in where.items():
        stmt = stmt.where(getattr(AuditEntry, k) == v)
    with Session(engine) as s:
        return list(s.scalars(stmt))


def _html(resp) -> str:
    return resp.get_data(as_text=True)


# ---------------------------------------------------------------------------------------------- catalog
def test_catalog_has_both_languages_and_pages_switch():
    assert set(ZH) == set(EN)
    for key in ("admin.users.title", "admin.roster.title", "admin.audit.title", "admin.nav.audit"):
        assert ZH[key] and EN[key] and ZH[key] != EN[key]


def test_every_literal_key_of_the_pages_exists():
    from i18n import has

    src = "".join(p.read_text(encoding="utf-8") for p in [
        ROOT / "dashboard/admin/users.py",
        *(ROOT / "dashboard/templates/admin").glob("*.html")])  # and the admin pages' templates
    used = {k for k in re.findall(r"""\b(?:t|tr)\(\s*["']([a-z_]+\.[a-z0-9_.]+)["']""", src) if not k.endswith(".")}
    assert len(used) > 60
    assert not sorted(k for k in used if not has(k))
    for prefix, names in (("admin.role.", ("leader", "duty_officer", "field_engineer", "admin", "wall")),
                          ("admin.res.", admin_users.RESULTS), ("admin.u.st.", ("active", "locked", "inactive"))):
        assert all(f"{prefix}{n}" in ZH for n in names), prefix


# ---------------------------------------------------------------------------------------------- roles
@pytest.mark.parametrize("who", ["duty", "leader", "engineer"])
def test_non_admins_are_refused_users_and_audit_pages_and_audited(web, who):
    server, eng = web
    http = _login(server, who)
    role = get_user(eng, who).role
    for method, path, data in (("get", "/admin/users", None), ("get", "/admin/audit", None),
                               ("get", "/admin/audit/export.csv", None),
                               ("post", "/admin/users/create", {"username": "mallory", "password": "Mallory#2026",
                                                                "password2": "Mallory#2026", "role": "admin"}),
                               ("post", "/admin/users/password", {"username": "admin", "password": "Owned#2026x"}),
                               ("post", "/admin/users/lock", {"username": "admin", "hours": "0"}),
                               ("post", "/admin/users/active", {"username": "admin", "active": "0"}),
                               ("post", "/admin/roster/link", {"engineer_id": "E02", "username": "engineer"}),
                               ("post", "/admin/roster/login", {"engineer_id": "E02", "username": "x2",
                                                                "password": "Xx#20261"})):
        resp = getattr(http, method)(path, data=data)
        assert resp.status_code == 403, (who, path, resp.status_code)
        assert 'id="adm-forbidden"' in _html(resp)
    refused = [e for e in _audit(eng, "user.manage") + _audit(eng, "audit.read") if e.actor == who]
    assert len(refused) >= 9 and {e.result for e in refused} == {"refused"}
    assert {e.role for e in refused} == {role}
    # nothing changed: no new user, the admin still signs in
    assert get_user(eng, "mallory") is None and get_user(eng, "x2") is None
    assert _sign_in_status(server, "admin", PASSWORDS["admin"]) == 200


def test_anonymous_gets_the_sign_in_page_or_401(web):
    server, _ = web
    http = _client(server)
    assert http.get("/admin/users", headers={"Accept": "text/html"}).status_code == 302
    assert http.get("/admin/audit/export.csv").status_code == 401


def test_roster_roles(web):
    server, eng = web
    # leader reads, changes nothing
    http = _login(server, "leader")
    page = _html(http.get("/admin/roster"))
    assert 'id="adm-roster"' in page and 'id="adm-readonly"' in page and "/admin/roster/duty" not in page
    assert http.post("/admin/roster/duty", data={"engineer_id": "E01", "on_duty": "0"}).status_code == 403
    assert _audit(eng, "roster.duty", actor="leader", result="refused")
    # a field engineer may not even read it (phones of colleagues)
    assert _login(server, "engineer").get("/admin/roster").status_code == 403
    assert _audit(eng, "roster.view", actor="engineer", result="refused")
    # the duty officer changes duty flags but not logins
    http = _login(server, "duty")
    page = _html(http.get("/admin/roster"))
    assert "/admin/roster/duty" in page and "/admin/roster/link" not in page and 'id="adm-roster-login"' not in page
    resp = http.post("/admin/roster/duty", data={"engineer_id": "E04", "on_duty": "1"})
    assert resp.status_code == 200 and 'id="adm-ok"' in _html(resp)
    assert next(e for e in wo.list_engineers(eng) if e["engineer_id"] == "E04")["on_duty"] is True
    entry = _audit(eng, "roster.duty", actor="duty", result="ok")[-1]
    assert entry.target == "engineer:E04" and json.loads(entry.detail) == {"on_duty": True}
    assert 'data-engineer="E04" data-on-duty="1"' in _html(http.get("/admin/roster"))
    assert http.post("/admin/roster/duty", data={"engineer_id": "E99", "on_duty": "1"}).status_code == 400


def test_navigation_follows_permissions_and_language(web):
    server, _ = web
    admin = _html(_login(server, "admin").get("/admin/users"))
    for nav in ("nav-devices", "nav-users", "nav-roster", "nav-audit"):
        assert f'id="{nav}"' in admin
    assert 'href="/?lang=zh" id="adm-back"' in admin and "用户管理" in admin
    duty = _html(_login(server, "duty").get("/admin/roster"))
    assert 'id="nav-roster"' in duty and 'id="nav-devices"' in duty
    assert 'id="nav-users"' not in duty and 'id="nav-audit"' not in duty
    en = _html(_login(server, "admin").get("/admin/users?lang=en"))
    assert 'lang="en"' in en and "Users" in en and "Reset password" in en and "重置密码" not in en


# ---------------------------------------------------------------------------------------------- users
def test_admin_creates_resets_locks_unlocks_deactivates_and_sign_in_follows(web):
    server, eng = web
    http = _login(server, "admin")
    page = _html(http.get("/admin/users"))
    for name in ("leader", "duty", "engineer", "admin"):
        assert f'data-user="{name}"' in page
    assert _audit(eng, "user.list", actor="admin", result="ok")

    resp = http.post("/admin/users/create", data={"username": "wang.duty", "display_name": "王值班",
                                                  "role": "duty_officer", "password": "Wang#2026a",
                                                  "password2": "Wang#2026a"})
    assert resp.status_code == 200 and 'id="adm-ok"' in _html(resp), _html(resp)
    assert 'data-user="wang.duty" data-status="active"' in _html(resp)
    assert _sign_in_status(server, "wang.duty", "Wang#2026a") == 200
    created = _audit(eng, "user.create", actor="admin", result="ok")[-1]
    assert created.target == "user:wang.duty" and json.loads(created.detail)["role"] == "duty_officer"

    # reset: the old password stops working, the new one works
    resp = http.post("/admin/users/password", data={"username": "wang.duty", "password": "Neu#Pass2026"})
    assert resp.status_code == 200
    assert _sign_in_status(server, "wang.duty", "Wang#2026a") == 401
    assert _sign_in_status(server, "wang.duty", "Neu#Pass2026") == 200
    assert _audit(eng, "user.set_password", actor="admin", target="user:wang.duty", result="ok")

    # lock: even the right password is refused (423), and a session already open ends
    session = _login(server, "wang.duty", "Neu#Pass2026")
    assert session.get("/auth/me").status_code == 200
    resp = http.post("/admin/users/lock", data={"username": "wang.duty", "hours": "24"})
    assert resp.status_code == 200 and 'data-user="wang.duty" data-status="locked"' in _html(resp)
    assert _sign_in_status(server, "wang.duty", "Neu#Pass2026") == 423
    assert session.get("/auth/me").status_code == 401
    assert _audit(eng, "user.lock", actor="admin", target="user:wang.duty", result="ok")
    # unlock: signs in again
    assert http.post("/admin/users/unlock", data={"username": "wang.duty"}).status_code == 200
    assert _sign_in_status(server, "wang.duty", "Neu#Pass2026") == 200
    assert _audit(eng, "user.unlock", actor="admin", target="user:wang.duty", result="ok")
    # deactivate: refused (401, no enumeration); activate: back
    resp = http.post("/admin/users/active", data={"username": "wang.duty", "active": "0"})
    assert 'data-user="wang.duty" data-status="inactive"' in _html(resp)
    assert _sign_in_status(server, "wang.duty", "Neu#Pass2026") == 401
    http.post("/admin/users/active", data={"username": "wang.duty", "active": "1"})
    assert _sign_in_status(server, "wang.duty", "Neu#Pass2026") == 200
    assert [json.loads(e.detail)["active"] for e in _audit(eng, "user.set_active", target="user:wang.duty")] == \
        [False, True]


def test_a_lockout_after_failed_sign_ins_shows_and_the_admin_lifts_it(web):
    server, eng = web
    for _ in range(5):
        _sign_in_status(server, "leader", "wrong-password")
    http = _login(server, "admin")
    row = re.search(r'<tr data-user="leader" data-status="locked">(.*?)</tr>', _html(http.get("/admin/users")), re.S)
    assert row, "the locked leader is listed as locked"
    assert '<td class="num">5</td>' in row.group(1)  # failed attempts
    http.post("/admin/users/unlock", data={"username": "leader"})
    assert _sign_in_status(server, "leader", PASSWORDS["leader"]) == 200


@pytest.mark.parametrize("password, password2, key", [
    ("short1A", "short1A", "admin.err.pw_short"),
    ("alllowercase", "alllowercase", "admin.err.pw_classes"),
    ("Good#Pass2026", "Other#Pass2026", "admin.err.pw_mismatch"),
])
def test_password_policy_errors_are_shown_and_nothing_is_created(web, password, password2, key):
    server, eng = web
    http = _login(server, "admin")
    resp = http.post("/admin/users/create", data={"username": "weak", "display_name": "弱口令", "role": "leader",
                                                  "password": password, "password2": password2})
    assert resp.status_code == 400
    page = _html(resp)
    assert 'id="adm-error"' in page and ZH[key] in page
    assert 'value="weak"' in page and 'value="弱口令"' in page  # the form keeps what was typed (not the password)
    assert password not in page
    assert get_user(eng, "weak") is None
    assert _audit(eng, "user.create", target="user:weak", result="error")
    # and in English
    resp = http.post("/admin/users/create?lang=en", data={"username": "weak", "role": "leader",
                                                          "password": password, "password2": password2})
    assert EN[key] in _html(resp)


def test_reset_with_a_weak_password_is_refused_and_keeps_the_old_one(web):
    server, eng = web
    http = _login(server, "admin")
    resp = http.post("/admin/users/password", data={"username": "duty", "password": "abc"})
    assert resp.status_code == 400 and ZH["admin.err.pw_short"] in _html(resp)
    assert _sign_in_status(server, "duty", PASSWORDS["duty"]) == 200
    assert _audit(eng, "user.set_password", target="user:duty", result="error")


def test_other_user_errors(web):
    server, eng = web
    http = _login(server, "admin")
    resp = http.post("/admin/users/create", data={"username": "duty", "role": "leader", "password": "Dup#2026aa",
                                                  "password2": "Dup#2026aa"})
    assert resp.status_code == 400 and ZH["admin.err.exists"].format(username="duty") in _html(resp)
    resp = http.post("/admin/users/create", data={"username": "fe2", "role": "field_engineer",
                                                  "password": "Fe2#2026aa", "password2": "Fe2#2026aa"})
    assert resp.status_code == 400 and ZH["admin.err.need_engineer"] in _html(resp)
    # a roster entry has one login (E01 is the demo engineer's), whatever the form offered
    resp = http.post("/admin/users/create", data={"username": "fe2", "role": "field_engineer", "engineer_id": "E01",
                                                  "password": "Fe2#2026aa", "password2": "Fe2#2026aa"})
    assert resp.status_code == 400 and get_user(eng, "fe2") is None
    assert ZH["admin.err.taken"].format(engineer="E01", username="engineer") in _html(resp)
    # a roster entry picked for another role is not stored
    http.post("/admin/users/create", data={"username": "boss2", "role": "leader", "engineer_id": "E02",
                                           "password": "Boss#2026aa", "password2": "Boss#2026aa"})
    assert get_user(eng, "boss2").engineer_id is None
    # an admin cannot lock or deactivate their own login
    assert http.post("/admin/users/lock", data={"username": "admin", "hours": "1"}).status_code == 400
    assert http.post("/admin/users/active", data={"username": "admin", "active": "0"}).status_code == 400
    assert _sign_in_status(server, "admin", PASSWORDS["admin"]) == 200


# ---------------------------------------------------------------------------------------------- roster ↔ login
def _station_id(eng) -> str:
    from datasources.sql.models import Station

    with Session(eng) as s:
        return s.scalars(select(Station.station_id).order_by(Station.station_id)).first()


def test_roster_login_from_the_row_gives_the_field_page_that_engineers_orders(web):
    server, eng = web
    sid = _station_id(eng)
    order = wo.create_order(eng, actor="duty", station_id=sid, engineer_id="E05", title="排气压力低 / low pressure")
    other = wo.create_order(eng, actor="duty", station_id=sid, engineer_id="E01", title="干燥机 / dryer")
    http = _login(server, "admin")
    page = _html(http.get("/admin/roster"))
    assert re.search(r'data-engineer="E01".*?<td class="mono r-login">engineer', page, re.S)
    assert re.search(r'data-engineer="E05"[^>]*>(?:(?!</tr>).)*?<td class="mono r-login"><span class="muted">未开通', page,
                     re.S)
    assert 'data-open="E05"' in page and 'data-open="E01"' not in page  # "create login" on rows without one
    resp = http.post("/admin/roster/login", data={"engineer_id": "E05", "username": "chenjing",
                                                  "password": "Chen#2026x"})
    assert resp.status_code == 200, _html(resp)
    assert re.search(r'data-engineer="E05".*?<td class="mono r-login">chenjing', _html(resp), re.S)
    assert get_user(eng, "chenjing").engineer_id == "E05"
    assert get_user(eng, "chenjing").role == "field_engineer"
    field = _login(server, "chenjing", "Chen#2026x").get("/api/workorders/field").get_json()
    assert [o["id"] for o in field["mine"]] == [order["id"]] and other["id"] not in [o["id"] for o in field["mine"]]
    # one login per roster entry
    resp = http.post("/admin/roster/login", data={"engineer_id": "E05", "username": "chen2", "password": "Chen#2026x"})
    assert resp.status_code == 400 and get_user(eng, "chen2") is None


def test_linking_an_existing_login_and_unlinking(web):
    server, eng = web
    sid = _station_id(eng)
    order = wo.create_order(eng, actor="duty", station_id=sid, engineer_id="E03", title="巡检 / inspection")
    http = _login(server, "admin")
    # the demo engineer (E01) is moved to E03: unlink, then link
    resp = http.post("/admin/roster/link", data={"engineer_id": "E01", "username": ""})
    assert resp.status_code == 200 and get_user(eng, "engineer").engineer_id is None
    assert 'value="engineer">engineer' in _html(resp)  # now offered for linking
    # taken entry refused
    http.post("/admin/users/create", data={"username": "fe3", "role": "field_engineer", "engineer_id": "E03",
                                           "password": "Fe3#2026aa", "password2": "Fe3#2026aa"})
    resp = http.post("/admin/roster/link", data={"engineer_id": "E03", "username": "engineer"})
    assert resp.status_code == 400 and ZH["admin.err.taken"].format(engineer="E03", username="fe3") in _html(resp)
    http.post("/admin/roster/link", data={"engineer_id": "E03", "username": ""})
    resp = http.post("/admin/roster/link", data={"engineer_id": "E03", "username": "engineer"})
    assert resp.status_code == 200 and get_user(eng, "engineer").engineer_id == "E03"
    field = _login(server, "engineer").get("/api/workorders/field").get_json()
    assert [o["id"] for o in field["mine"]] == [order["id"]]
    # only field-engineer logins can be linked
    resp = http.post("/admin/roster/link", data={"engineer_id": "E01", "username": "leader"})
    assert resp.status_code == 400 and ZH["admin.err.not_engineer"] in _html(resp)
    details = [json.loads(e.detail) for e in _audit(eng, "user.link_engineer", result="ok")]
    assert {"engineer_id": None, "before": "E01"} in details and {"engineer_id": "E03", "before": None} in details


# ---------------------------------------------------------------------------------------------- audit log
def _seed_audit(eng) -> None:
    base = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
    for i in range(30):
        write_audit(eng, "alice" if i % 2 else "bob", "duty_officer",
                    "alarm.acknowledge" if i % 3 else "control.command", f"station:ST{i:03d}",
                    "ok" if i % 5 else "refused", {"n": i, "备注": "压力"}, ts=base + timedelta(hours=i))


def _rows(page: str) -> list[str]:
    return re.findall(r'<tr class="a-row" data-id="(\d+)"', page)


def test_audit_filters_paging_and_reads_are_audited(web):
    server, eng = web
    _seed_audit(eng)
    http = _login(server, "admin")
    # actor + action prefix + result, and a time range in China time (from inclusive, to exclusive)
    q = {"actor": "alice", "action": "alarm.", "result": "ok", "from": "2026-11-20T17:00", "to": "2026-11-21T10:00"}
    page = _html(http.get("/admin/audit", query_string=q))
    want = [i for i in range(30) if i % 2 and i % 3 and i % 5 and 1 <= i < 18]  # 08:00Z+i h in CST 16:00+i h
    got = re.findall(r'<td class="mono">station:ST(\d{3})</td>', page)
    assert [int(x) for x in got] == sorted(want, reverse=True)  # newest first
    ids = [int(x) for x in _rows(page)]
    assert ids == sorted(ids, reverse=True)
    # target substring, case of LIKE wildcards taken literally
    page = _html(http.get("/admin/audit", query_string={"target": "ST02"}))
    assert sorted(int(x) for x in re.findall(r"station:ST(\d{3})", page)) == list(range(20, 30))
    assert not _rows(_html(http.get("/admin/audit", query_string={"target": "ST0_"})))
    assert not _rows(_html(http.get("/admin/audit", query_string={"action": "%"})))
    # every read is audited with its filter
    reads = _audit(eng, "audit.read", actor="admin", result="ok")
    assert len(reads) == 4
    assert json.loads(reads[0].detail)["filter"] == {"actor": "alice", "action": "alarm.", "result": "ok",
                                                     "from": "2026-11-20T09:00:00+00:00",
                                                     "to": "2026-11-21T02:00:00+00:00"}
    assert json.loads(reads[0].detail)["rows"] == len(want)
    # a bad time is an error, not a crash
    resp = http.get("/admin/audit", query_string={"from": "yesterday"})
    assert resp.status_code == 400 and 'id="adm-error"' in _html(resp)


def test_audit_paging_is_bounded(web, monkeypatch):
    server, eng = web
    _seed_audit(eng)
    monkeypatch.setattr(admin_users, "PAGE_SIZE", 7)
    http = _login(server, "admin")
    q = {"action": "alarm.acknowledge"}  # 20 of the 30 seeded entries
    pages = [_rows(_html(http.get("/admin/audit", query_string={**q, "page": p}))) for p in (1, 2, 3, 4)]
    assert [len(p) for p in pages] == [7, 7, 6, 0]
    flat = [int(x) for p in pages for x in p]
    assert flat == sorted(flat, reverse=True) and len(set(flat)) == 20
    page3 = _html(http.get("/admin/audit", query_string={**q, "page": 3}))
    assert 'id="af-next" class="off"' in page3 and 'id="af-prev" class=""' in page3


def test_csv_export_equals_the_filtered_rows_and_is_audited(web):
    server, eng = web
    _seed_audit(eng)
    http = _login(server, "admin")
    q = {"actor": "bob", "result": "refused"}
    resp = http.get("/admin/audit/export.csv", query_string=q)
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    raw = resp.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel opens Chinese correctly
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert list(rows[0].keys()) == list(admin_users.CSV_COLUMNS)
    with Session(eng) as s:
        want = list(s.scalars(select(AuditEntry).where(AuditEntry.actor == "bob", AuditEntry.result == "refused")
                              .order_by(AuditEntry.id.desc())))
    assert [int(r["id"]) for r in rows] == [e.id for e in want] and len(want) == 3  # i = 0, 10, 20
    assert [r["target"] for r in rows] == [e.target for e in want]
    assert all(r["actor"] == "bob" and r["result"] == "refused" for r in rows)
    assert json.loads(rows[0]["detail"])["备注"] == "压力"
    assert rows[-1]["ts"] == "2026-11-20T16:00:00+08:00"  # i = 0: 08:00 UTC in China time
    # the page shows the same rows
    page = _html(http.get("/admin/audit", query_string=q))
    assert [int(x) for x in _rows(page)] == [e.id for e in want]
    # the export is audited with its filter and size
    exp = _audit(eng, "audit.export", actor="admin", result="ok")
    assert len(exp) == 1 and json.loads(exp[0].detail)["filter"] == q and json.loads(exp[0].detail)["rows"] == 3
    # and shows up in the log itself
    page = _html(http.get("/admin/audit", query_string={"action": "audit."}))
    assert 'data-action="audit.export"' in page and 'data-action="audit.read"' in page


# ---------------------------------------------------------------------------------------------- import button
def test_import_button_only_for_roles_that_may_import_and_server_refuses(web):
    server, eng = web
    for who, shown in (("leader", False), ("duty", True), ("admin", True)):
        page = _html(_login(server, who).get("/", headers={"Accept": "text/html"}))
        assert "_dash-layout" in page or "_dash-config" in page
        layout = _login(server, who).get("/_dash-layout").get_json()
        assert ('"import-open"' in json.dumps(layout)) is shown, who
    # the server refuses a leader's import whatever the page showed (audited)
    resp = _login(server, "leader").post("/api/import/shops", data={"file": (io.BytesIO(b"a,b\n"), "x.csv")})
    assert resp.status_code == 403
    with Session(eng) as s:
        assert s.scalars(select(AuditEntry).where(AuditEntry.actor == "leader", AuditEntry.result == "refused",
                                                  AuditEntry.action.like("%import%"))).first() is not None


def test_audit_query_on_sqlite_and_postgresql(database_url):
    """The filter's SQL (time bounds in UTC+8, prefix / substring with LIKE wildcards taken literally, bounded
    count) gives the same rows on both databases."""
    migrate(database_url)
    eng = make_engine(database_url)
    try:
        _seed_audit(eng)
        write_audit(eng, "carol", "admin", "user_manage%x", "user:a_b", "ok")
        f = admin_users.filter_from_args({"from": "2026-11-20 18:00", "to": "2026-11-20T20:00", "action": "alarm."})
        rows = admin_users.query_audit(eng, f)
        assert [r["target"] for r in rows] == ["station:ST002"]  # i = 2, 3 in range; 3 is a control.command
        assert rows[0]["ts"] == "2026-11-20T18:00:00+08:00"
        assert admin_users.count_audit(eng, admin_users.AuditFilter()) == 31
        assert admin_users.count_audit(eng, admin_users.AuditFilter(), cap=10) == 11
        assert [r["actor"] for r in admin_users.query_audit(eng, admin_users.AuditFilter(action="user_manage%"))] == \
            ["carol"]
        assert [r["actor"] for r in admin_users.query_audit(eng, admin_users.AuditFilter(action="user_"))] == ["carol"]
        assert not admin_users.query_audit(eng, admin_users.AuditFilter(target="a%b"))
        assert [r["actor"] for r in admin_users.query_audit(eng, admin_users.AuditFilter(target="a_b"))] == ["carol"]
        page2 = admin_users.query_audit(eng, admin_users.AuditFilter(actor="bob"), offset=10, limit=10)
        assert [r["target"] for r in page2] == [f"station:ST{i:03d}" for i in (8, 6, 4, 2, 0)]
        csv_rows = list(csv.DictReader(io.StringIO(admin_users.audit_csv(page2).decode("utf-8-sig"))))
        assert [int(r["id"]) for r in csv_rows] == [r["id"] for r in page2]
    finally:
        eng.dispose()
