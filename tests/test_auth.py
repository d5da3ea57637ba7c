"""Logins, lockout, sessions, roles and the audit log (real SQLite and PostgreSQL, real Flask test client)."""
from __future__ import annotations

import pytest
from flask import Flask, jsonify
from flask_socketio import SocketIO
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from dashboard.auth import core as auth
from dashboard.auth.core import (AccountLocked, Forbidden, LoginFailed, audited, authenticate, authorize, can,
                                 control_decision, create_user, seed_demo_users, set_password)
from dashboard.auth.guards import require_role, socketio_guard
from dashboard.auth.passwords import PasswordPolicyError, check_password_policy, hash_password, verify_password
from dashboard.auth.session import init_auth
from datasources.sql.audit import read_audit, write_audit
from datasources.sql import alarm_store, workorders as wo
from datasources.bus.messages import DeviceReading, StationReading, StationSummary
from datasources.sql.db import make_engine, migrate
from datasources.sql.fleet_spec import StationSpec
from datasources.sql.repository import save_fleet
from ops.alarm_rules import Evaluator, load_rules
from ops.control_policy import decide_command

T0 = 1_763_700_000_000


class Clock:
    """A controllable clock, seconds since the epoch."""

    def __init__(self, t: float = T0 / 1000):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def db(database_url):
    migrate(database_url)
    engine = make_engine(database_url)
    save_fleet(engine, [StationSpec("ST00001", "苏州工业园空压站", "Suzhou SIP", "smart_station", "built", 120.62,
                                    31.32, "320000", "320500", 40.0, "华东压缩机服务")])
    seed_demo_users(engine)
    yield engine
    engine.dispose()


def users(db):
    return {name: auth.get_user(db, name) for name in ("leader", "duty", "engineer", "admin")}


def audit(db, action=None, actor=None):
    return read_audit(db, action=action, actor=actor, limit=1000)


def raise_fire(db) -> int:
    io = DeviceReading(device_id="ST00001-IO", kind="station_io", model="cc-station-io", online=True, ts_ms=T0,
                       values={"fire": 1})
    rd = StationReading(station_id="ST00001", ts_ms=T0, devices=[io],
                        summary=StationSummary(state="alarm", ts_ms=T0))
    alarm_store.apply_transitions(db, Evaluator(load_rules()).evaluate(rd))
    return alarm_store.list_alarms(db, now=T0)[0]["id"]


# ---------------------------------------------------------------- passwords and lockout


def test_password_hashing_and_policy():
    h1, h2 = hash_password("Secret#2026"), hash_password("Secret#2026")
    assert h1.startswith("scrypt:") and h1 != h2  # salted
    assert verify_password(h1, "Secret#2026") and not verify_password(h1, "secret#2026")
    assert not verify_password("garbage", "x")
    check_password_policy("Abcdef1!")
    for bad in ("short1A", "alllowercase1", "ALLUPPER#", "x" * 129 + "A1"):
        with pytest.raises(PasswordPolicyError):
            check_password_policy(bad)


def test_demo_users_log_in_with_documented_passwords(db):
    for username, password, role, *_ in auth.DEMO_USERS:
        assert authenticate(db, username, password, now_ms=T0).role == role
    assert auth.get_user(db, "engineer").engineer_id == "E01"
    assert len(wo.list_engineers(db)) == 16
    assert [e["action"] for e in audit(db, action="auth.login")].count("auth.login") == 4


def test_lockout_after_failed_logins_and_release_after_the_period(db):
    for i in range(auth.MAX_FAILED - 1):
        with pytest.raises(LoginFailed) as info:
            authenticate(db, "duty", "wrong", now_ms=T0 + i)
        assert not isinstance(info.value, AccountLocked)
    with pytest.raises(AccountLocked) as info:
        authenticate(db, "duty", "wrong", now_ms=T0 + 10)
    assert info.value.until_ms == T0 + 10 + auth.LOCKOUT_S * 1000
    with pytest.raises(AccountLocked):  # the right password does not help while locked
        authenticate(db, "duty", "Duty#2026", now_ms=T0 + 20)
    assert authenticate(db, "duty", "Duty#2026", now_ms=T0 + 10 + auth.LOCKOUT_S * 1000).username == "duty"
    with pytest.raises(LoginFailed):
        authenticate(db, "nobody", "whatever", now_ms=T0)
    results = [e["result"] for e in reversed(audit(db, actor="duty")) if e["action"] == "auth.login"]
    assert results == ["failed"] * (auth.MAX_FAILED - 1) + ["locked", "locked", "ok"]
    unknown = audit(db, actor="nobody")
    assert [(e["result"], '"unknown user"' in e["detail"]) for e in unknown] == [("failed", True)]


def test_inactive_user_cannot_log_in(db):
    auth.set_active(db, "leader", False, by=users(db)["admin"])
    with pytest.raises(LoginFailed):
        authenticate(db, "leader", "Leader#2026", now_ms=T0)


# ---------------------------------------------------------------- Flask sessions


@pytest.fixture
def web(db):
    clock = Clock()
    server = Flask("test")
    init_auth(server, db, secret_key="test-secret", idle_s=60, max_age_s=300, clock=clock)

    @server.get("/api/thing")
    def thing():
        return jsonify({"ok": True})

    @server.post("/api/alarms/<int:alarm_id>/ack")
    @require_role("duty_officer")
    def ack(alarm_id: int):
        with audited("alarm.acknowledge", target=f"alarm:{alarm_id}") as a:
            msg = alarm_store.acknowledge(db, alarm_id, a.user.username, now=T0)
        return jsonify({"ok": True, "state": msg["alarm"]["state"]})

    @server.post("/dash-like-callback/<int:alarm_id>")
    def callback(alarm_id: int):  # a Dash callback runs in a request like this one
        try:
            authorize("alarm.acknowledge", target=f"alarm:{alarm_id}")
        except Forbidden as exc:
            return jsonify({"ok": False, "error": str(exc)}), exc.status
        return jsonify({"ok": True})

    return server, clock


def login(client, username, password):
    return client.post("/auth/login", json={"username": username, "password": password})


def test_session_idle_and_absolute_expiry(web, db):
    server, clock = web
    c = server.test_client()
    assert c.get("/api/thing").status_code == 401
    r = c.get("/api/thing", headers={"Accept": "text/html"})
    assert r.status_code == 302 and r.headers["Location"].startswith("/auth/login?next=/api/thing")
    assert c.get("/auth/login").status_code == 200
    r = login(c, "leader", "Leader#2026")
    assert r.status_code == 200 and r.json["user"]["role"] == "leader" and "view" in r.json["user"]["permissions"]
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert c.get("/api/thing").status_code == 200
    clock.t += 59
    assert c.get("/auth/me").status_code == 200  # activity refreshes the idle clock
    clock.t += 59
    assert c.get("/api/thing").status_code == 200
    clock.t += 61
    assert c.get("/api/thing").status_code == 401  # idle 61 s > 60 s
    assert [e["result"] for e in audit(db, action="auth.session_expired")] == ["expired"]
    # absolute lifetime: active every 50 s, still ends 300 s after login
    assert login(c, "leader", "Leader#2026").status_code == 200
    for _ in range(6):
        assert c.get("/api/thing").status_code == 200
        clock.t += 50
    clock.t += 1  # 301 s after login, last request 51 s ago
    assert c.get("/api/thing").status_code == 401
    assert len(audit(db, action="auth.session_expired")) == 2


def test_password_change_ends_sessions_and_logout(web, db):
    server, _clock = web
    c = server.test_client()
    assert login(c, "duty", "Duty#2026").status_code == 200
    assert c.get("/auth/me").json["user"]["username"] == "duty"
    set_password(db, "duty", "NewDuty#2027", by=users(db)["admin"])
    assert c.get("/auth/me").status_code == 401
    assert login(c, "duty", "Duty#2026").status_code == 401
    assert login(c, "duty", "NewDuty#2027").status_code == 200
    assert c.post("/auth/logout").json == {"ok": True}
    assert c.get("/auth/me").status_code == 401
    assert [e["result"] for e in audit(db, action="auth.logout")] == ["ok"]
    assert [e["actor"] for e in audit(db, action="user.set_password")] == ["admin"]


def test_logout_ends_a_copied_session_cookie(web):
    """The session cookie is signed, not stored server-side: a copy taken before logout must not work after it."""
    server, _clock = web
    c = server.test_client()
    assert login(c, "duty", "Duty#2026").status_code == 200
    name = server.config["SESSION_COOKIE_NAME"]
    stolen = c.get_cookie(name).value
    thief = server.test_client()
    thief.set_cookie(name, stolen)
    assert thief.get("/auth/me").status_code == 200  # the copy works while the session lives
    assert c.post("/auth/logout").json == {"ok": True}
    assert thief.get("/auth/me").status_code == 401


@pytest.mark.parametrize("target", ["/%09/evil.example", "/\t/evil.example", "//evil.example", "/\\evil.example",
                                    "https://evil.example/", "/\n/evil.example", " /evil", "/%0d%0a/evil.example"])
def test_login_never_redirects_off_site(web, target):
    server, _clock = web
    c = server.test_client()
    from urllib.parse import unquote
    r = c.post("/auth/login", data={"username": "duty", "password": "Duty#2026", "next": unquote(target)})
    assert r.status_code in (302, 303)
    assert r.headers["Location"] in ("/", "http://localhost/")
    page = c.get("/auth/login", query_string={"next": unquote(target)})
    assert b'name="next" id="cc-next" value="/"' in page.data or b'name="next" value="/"' in page.data


def test_login_keeps_an_on_site_next(web):
    server, _clock = web
    c = server.test_client()
    r = c.post("/auth/login", data={"username": "duty", "password": "Duty#2026", "next": "/?scope=city:330100"})
    assert r.headers["Location"].endswith("/?scope=city:330100")


def test_http_lockout_answers_423(web):
    server, _clock = web
    c = server.test_client()
    codes = [login(c, "leader", "nope").status_code for _ in range(auth.MAX_FAILED)]
    assert codes == [401] * (auth.MAX_FAILED - 1) + [423]
    r = login(c, "leader", "Leader#2026")
    assert r.status_code == 423 and r.json["locked_until_ms"] > T0


def test_a_stranger_guessing_cannot_lock_the_officer_out_of_the_desk_they_signed_in_from(web, db):
    """Five wrong passwords from an unknown browser lock unknown browsers out, not the officer's own desk (device
    cookie), and do not end the officer's session; an administrator's lock holds everywhere (issue 10)."""
    server, _clock = web
    desk, stranger = server.test_client(), server.test_client()
    assert login(desk, "duty", "Duty#2026").status_code == 200
    assert desk.get_cookie(auth.DEVICE_COOKIE, path="/auth/") is not None
    codes = [login(stranger, "duty", "guess").status_code for _ in range(auth.MAX_FAILED)]
    assert codes == [401] * (auth.MAX_FAILED - 1) + [423]
    assert login(stranger, "duty", "Duty#2026").status_code == 423  # the stranger is locked out even with it
    assert desk.get("/api/thing").status_code == 200  # the officer's session goes on
    # a forged device cookie does not help the stranger
    stranger.set_cookie(auth.DEVICE_COOKIE, desk.get_cookie(auth.DEVICE_COOKIE, path="/auth/").value[:-4] + "AAAA", path="/auth/")
    assert login(stranger, "duty", "Duty#2026").status_code == 423
    # the desk: a typo is refused (401, not counted), the right password signs in while strangers stay locked
    desk.post("/auth/logout")
    assert login(desk, "duty", "typo").status_code == 401
    assert login(desk, "duty", "Duty#2026").status_code == 200
    assert login(server.test_client(), "duty", "Duty#2026").status_code == 423
    logins = audit(db, action="auth.login", actor="duty")  # newest first
    assert [e["result"] for e in logins[:3]] == ["locked", "ok", "failed"]
    assert '"trusted_device": true' in logins[1]["detail"]
    # an administrator's lock (not caused by guessing) holds for the desk too — also on top of a stranger's lock
    auth.lock_user(db, "duty", T0 + 3_600_000, by=users(db)["admin"])
    desk.post("/auth/logout")
    assert login(desk, "duty", "Duty#2026").status_code == 423


def test_http_roles_leader_refused_duty_officer_allowed(web, db):
    server, _clock = web
    alarm_id = raise_fire(db)
    leader, duty = server.test_client(), server.test_client()
    login(leader, "leader", "Leader#2026")
    login(duty, "duty", "Duty#2026")
    assert leader.post(f"/api/alarms/{alarm_id}/ack").status_code == 403
    assert leader.post(f"/dash-like-callback/{alarm_id}").status_code == 403
    assert server.test_client().post(f"/dash-like-callback/{alarm_id}").status_code == 401
    r = duty.post(f"/api/alarms/{alarm_id}/ack")
    assert r.status_code == 200 and r.json["state"] == "acknowledged"
    assert duty.post(f"/dash-like-callback/{alarm_id}").status_code == 200
    refused = audit(db, actor="leader")
    assert {(e["action"], e["result"]) for e in refused if e["result"] == "refused"} == {
        (f"http:POST /api/alarms/{alarm_id}/ack", "refused"), ("alarm.acknowledge", "refused")}
    ok = [e for e in audit(db, action="alarm.acknowledge") if e["result"] == "ok"]
    assert [(e["actor"], e["role"], e["target"]) for e in ok] == [("duty", "duty_officer", f"alarm:{alarm_id}")]


def test_socketio_event_guard(web, db):
    server, _clock = web
    sio = SocketIO(server, async_mode="threading")

    @sio.on("ack")
    @socketio_guard("alarm.acknowledge")
    def on_ack(data):
        return {"ok": True, "alarm": data}

    for username, password, expected in (("leader", "Leader#2026", False), ("duty", "Duty#2026", True)):
        http = server.test_client()
        login(http, username, password)
        client = sio.test_client(server, flask_test_client=http)
        assert client.is_connected()
        answer = client.emit("ack", 7, callback=True)
        assert answer["ok"] is expected
        if not expected:
            assert answer["status"] == 403
        client.disconnect()
    assert [(e["actor"], e["target"]) for e in audit(db, action="alarm.acknowledge") if e["result"] == "refused"] \
        == [("leader", "socket:ack")]


# ---------------------------------------------------------------- roles and audit without HTTP


def test_leader_cannot_acknowledge_dispatch_or_control_and_each_refusal_is_audited(db):
    u = users(db)
    alarm_id = raise_fire(db)
    for action, target in (("alarm.acknowledge", f"alarm:{alarm_id}"), ("workorder.create", f"alarm:{alarm_id}"),
                           ("control.command", "ST00001-C1")):
        with pytest.raises(Forbidden) as info:
            with audited(action, target=target, user=u["leader"], engine=db):
                raise AssertionError("the block must not run")
        assert info.value.status == 403
    with pytest.raises(Forbidden):
        control_decision(command="stop", confirmed=True, occupancy=False, target="ST00001-C1", user=u["leader"],
                         engine=db)
    with pytest.raises(Forbidden) as info:
        authorize("alarm.acknowledge", user=None, engine=db)
    assert info.value.status == 401
    refused = [(e["action"], e["role"]) for e in audit(db) if e["result"] == "refused"]
    assert sorted(refused) == sorted([("alarm.acknowledge", "leader"), ("workorder.create", "leader"),
                                      ("control.command", "leader"), ("control.command", "leader"),
                                      ("alarm.acknowledge", "")])
    assert alarm_store.get_alarm(db, alarm_id)["state"] == "active"  # nothing happened
    # admin manages users but does not operate; field engineers do not dispatch
    assert not can(u["admin"], "alarm.acknowledge") and can(u["admin"], "user.manage")
    assert not can(u["engineer"], "workorder.create") and not can(u["leader"], "user.manage")
    with pytest.raises(KeyError):
        can(u["duty"], "alarm.delete")


def test_duty_officer_and_field_engineer_flow_every_action_audited(db):
    u = users(db)
    alarm_id = raise_fire(db)
    with audited("alarm.acknowledge", target=f"alarm:{alarm_id}", user=u["duty"], engine=db) as a:
        alarm_store.acknowledge(db, alarm_id, a.user.username, now=T0 + 1000)
    with audited("workorder.create", target=f"alarm:{alarm_id}", user=u["duty"], engine=db) as a:
        order = wo.create_order(db, actor=a.user.username, alarm_id=alarm_id, engineer_id="E01", now=T0 + 2000)
        a.target, a.detail = f"workorder:{order['id']}", {"engineer_id": "E01"}
    oid = order["id"]
    # a duty officer cannot accept on the engineer's behalf; another engineer's order is refused
    with pytest.raises(Forbidden):
        auth.perform("workorder.accept", wo.accept, db, oid, "E01", "duty", user=u["duty"], engine=db)
    other = create_user(db, "li.na", "LiNa#20260", "field_engineer", engineer_id="E02", by=u["admin"])
    with pytest.raises(Forbidden, match="not assigned to E02"):
        auth.perform("workorder.accept", wo.accept, db, oid, "E02", "li.na", user=other, engine=db,
                     target=f"workorder:{oid}", owner_engineer_id=order["assignee_id"])
    eng = u["engineer"]
    auth.perform("workorder.accept", wo.accept, db, oid, eng.engineer_id, eng.username, user=eng, engine=db,
                 target=f"workorder:{oid}", owner_engineer_id=order["assignee_id"], now=T0 + 3000)
    auth.perform("workorder.check_in", wo.check_in, db, oid, eng.engineer_id, 120.62, 31.32, eng.username,
                 user=eng, engine=db, target=f"workorder:{oid}", owner_engineer_id="E01", now=T0 + 4000)
    auth.perform("workorder.resolve", wo.resolve, db, oid, eng.engineer_id, "replaced detector", eng.username,
                 user=eng, engine=db, target=f"workorder:{oid}", owner_engineer_id="E01", now=T0 + 5000)
    auth.perform("workorder.close", wo.close_order, db, oid, "duty", "customer satisfied", 5, user=u["duty"],
                 engine=db, target=f"workorder:{oid}", now=T0 + 6000)
    # an action that fails after authorisation is audited as an error
    with pytest.raises(wo.IllegalOrderTransition):
        auth.perform("workorder.close", wo.close_order, db, oid, "duty", "again", 5, user=u["duty"], engine=db,
                     target=f"workorder:{oid}")
    decision = control_decision(command="stop", confirmed=True, occupancy=False, target="ST00001-C1",
                                user=u["duty"], engine=db)
    assert decision.allowed and decision.writes == (("run_command", 0),)
    occupied = control_decision(command="start", confirmed=True, occupancy=True, target="ST00001-C1",
                                user=u["duty"], engine=db)
    assert not occupied.allowed and any("站房有人" in r for r in occupied.reasons)

    entries = list(reversed(audit(db)))
    ok = [(e["action"], e["actor"], e["result"]) for e in entries
          if e["action"].startswith(("alarm.", "workorder.", "control.")) and e["result"] != "refused"]
    assert ok == [("alarm.acknowledge", "duty", "ok"), ("workorder.create", "duty", "ok"),
                  ("workorder.accept", "engineer", "ok"), ("workorder.check_in", "engineer", "ok"),
                  ("workorder.resolve", "engineer", "ok"), ("workorder.close", "duty", "ok"),
                  ("workorder.close", "duty", "error"), ("control.command", "duty", "ok")]
    create = next(e for e in entries if e["action"] == "workorder.create")
    assert create["target"] == f"workorder:{oid}" and '"E01"' in create["detail"]
    occupied_entry = [e for e in entries if e["action"] == "control.command"][-1]
    assert occupied_entry["result"] == "refused" and "站房有人" in occupied_entry["detail"]
    assert [e["actor"] for e in entries if e["action"] == "user.create"][-1] == "admin"


def test_only_admins_manage_users(db):
    u = users(db)
    with pytest.raises(Forbidden):
        create_user(db, "eve", "Eve#123456", "admin", by=u["duty"])
    with pytest.raises(ValueError, match="roster entry"):
        create_user(db, "ghost", "Ghost#12345", "field_engineer", engineer_id="E99", by=u["admin"])
    with pytest.raises(PasswordPolicyError):
        create_user(db, "weak", "weak", "leader", by=u["admin"])
    assert auth.get_user(db, "eve") is None
    assert [e["result"] for e in audit(db, action="user.manage")] == ["refused"]


def test_audit_log_is_append_only(db):
    write_audit(db, "duty", "duty_officer", "alarm.acknowledge", "alarm:1", "ok")
    with db.connect() as conn:
        with pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text("UPDATE audit_log SET result = 'forged'"))
        conn.rollback()
        with pytest.raises(DBAPIError, match="183 days"):
            conn.execute(text("DELETE FROM audit_log"))
        conn.rollback()
    assert all(e["result"] != "forged" for e in audit(db))


# ---------------------------------------------------------------- control policy (pure)


@pytest.mark.parametrize("kw, allowed, reason", [
    (dict(role="duty_officer", command="start", confirmed=True, occupancy=False), True, ""),
    (dict(role="duty_officer", command="load", confirmed=True, occupancy=True), False, "站房有人"),
    (dict(role="duty_officer", command="stop", confirmed=True, occupancy=None), False, "occupancy unknown"),
    (dict(role="duty_officer", command="stop", confirmed=False, occupancy=False), False, "not confirmed"),
    (dict(role="leader", command="stop", confirmed=True, occupancy=False), False, "duty officer only"),
    (dict(role="admin", command="stop", confirmed=True, occupancy=False), False, "duty officer only"),
    (dict(role="duty_officer", command="reboot", confirmed=True, occupancy=False), False, "unknown command"),
    (dict(role="duty_officer", command="start", confirmed=True, occupancy=False, device_kind="dryer"), False,
     "not remotely controllable"),
    (dict(role="duty_officer", command="start", confirmed=True, occupancy=False, run_state=3), False, "fault"),
    (dict(role="duty_officer", command="stop", confirmed=True, occupancy=False, run_state=3), True, ""),
    (dict(role="duty_officer", command="unload", confirmed=True, occupancy=False, device_online=False), False,
     "offline"),
])
def test_remote_control_policy(kw, allowed, reason):
    d = decide_command(**kw)
    assert d.allowed is allowed and d.open_video
    if allowed:
        assert d.reasons == () and d.writes
    else:
        assert d.writes == () and any(reason in r for r in d.reasons)
