"""Operations end to end: who may act (HTTP, Dash callbacks, Socket.IO — each refusal and each action audited),
remote control over Modbus against the simulated fleet (refused while someone is in the station room), and the
alarm → work-order loop on the live simulated fleet (simulator → poller → Redis → alarm engine → SQL → web → Socket.IO).

Real Redis (private server), real SQLite, real Modbus TCP (pymodbus simulator and clients), the real web app
(in-process Flask / Flask-SocketIO test clients). No mocks; every wait is on a condition.
"""
from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pymodbus.client import ModbusTcpClient

from dashboard.web.app import create_app
from dashboard.auth.core import seed_demo_users
from datasources.sql.audit import read_audit
from datasources.sql import alarm_store
from datasources.sql import workorders as wo
from datasources.bus.messages import DeviceReading, StationReading, StationSummary
from datasources.modbus.control import execute, load_target
from datasources.sql.db import make_engine, migrate
from datasources.modbus.profiles import default_profiles
from datasources.sql.repository import save_fleet
from datasources.settings import Settings
from i18n import has
from ops.alarm_rules import Evaluator, load_rules
from ops.control_policy import COIL_WRITES
from tests.browser_support import build_fleet
from tests.ops_support import LiveFleet, single_port_fleet, wait_for

ROOT = Path(__file__).resolve().parent.parent
PASSWORDS = {"leader": "Leader#2026", "duty": "Duty#2026", "engineer": "Field#2026", "admin": "Admin#2026"}
INTERVAL_S = 0.5  # poll cycle of the live fleet


# ---------------------------------------------------------------------------------------------- fixtures, helpers
@pytest.fixture
def fleet():
    return single_port_fleet(build_fleet(8, seed=5))


@pytest.fixture
def database_url(tmp_path, fleet):
    url = f"sqlite:///{tmp_path / 'cc.db'}"
    migrate(url)
    engine = make_engine(url)
    save_fleet(engine, fleet)
    seed_demo_users(engine)
    engine.dispose()
    return url


@pytest.fixture
def db(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def web(database_url, redis_url, tmp_path, monkeypatch):
    monkeypatch.setenv("CC_FLUSH_MS", "100")
    settings = Settings(data_dir=tmp_path, redis_url=redis_url, database_url=database_url)
    app, socketio = create_app(settings, engine=make_engine(database_url), redis_url=redis_url)
    ctx = app.server.extensions["cc"]
    wait_for(lambda: ctx.bridge.connected and ctx.ops_bridge.connected, 10, "bridges connected")
    yield app, socketio
    ctx.bridge.stop()
    ctx.ops_bridge.stop()


def login(app, user: str):
    http = app.server.test_client()
    resp = http.post("/auth/login", json={"username": user, "password": PASSWORDS[user]})
    assert resp.status_code == 200, resp.get_json()
    return http


def socket_of(app, socketio, http):
    client = socketio.test_client(app.server, flask_test_client=http)
    assert client.is_connected()
    return client


def sid_of(socketio, client) -> str:
    return socketio.server.manager.sid_from_eio_sid(client.eio_sid, "/")


def received(client, name: str, store: list) -> list:
    """Move ``name`` events received by a Socket.IO test client into ``store`` (kept across calls)."""
    for m in client.get_received():
        if m["name"] == name:
            store.append(m["args"][0])
    return store


def dash_post(http, outputs: list[tuple[str, str]], inputs: list[tuple[str, str, object]],
              state: list[tuple[str, str, object]] = (), changed: str | None = None, prefix: str = ""):
    """POST a Dash callback request the way the renderer does (a forged one when the session may not act)."""
    out_str = outputs[0][0] + "." + outputs[0][1] if len(outputs) == 1 else \
        ".." + "...".join(f"{i}.{p}" for i, p in outputs) + ".."
    # outputs declared with allow_duplicate carry a hash suffix ("prop@<hash>"): use the app's own spelling
    for dep in http.get(f"{prefix}/_dash-dependencies").get_json():
        if re.sub(r"@[0-9a-f]+", "", dep["output"]) == out_str:
            out_str = dep["output"]
            break
    parts = [out_str] if not out_str.startswith("..") else out_str[2:-2].split("...")
    props = [tuple(x.rsplit(".", 1)) for x in parts]
    body = {"output": out_str,
            "outputs": [{"id": i, "property": p} for i, p in props] if len(props) > 1 else
            {"id": props[0][0], "property": props[0][1]},
            "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
            "state": [{"id": i, "property": p, "value": v} for i, p, v in state],
            "changedPropIds": [changed or f"{inputs[0][0]}.{inputs[0][1]}"]}
    return http.post(f"{prefix}/_dash-update-component", json=body)


def ack_callback(http, alarm_id: int, comment: str = "forged"):
    return dash_post(http, [("alarm-dialog-msg", "children"), ("alarm-comment", "value")],
                     [("alarm-do-ack", "n_clicks", 1), ("alarm-do-shelve", "n_clicks", 0),
                      ("alarm-do-unshelve", "n_clicks", 0), ("alarm-do-close", "n_clicks", 0)],
                     [("alarm-open", "data", alarm_id), ("alarm-comment", "value", comment),
                      ("alarm-shelve-dur", "value", 3600), ("lang", "data", "zh")], "alarm-do-ack.n_clicks")


def dispatch_callback(http, alarm_id: int, engineer_id: str = "E01"):
    return dash_post(http, [("dispatch-msg", "children"), ("dispatch-confirm", "disabled"),
                            ("ops-refresh", "data")],
                     [("dispatch-confirm", "n_clicks", 1)],
                     [("dispatch-req", "data", {"alarm_id": alarm_id}), ("dispatch-engineer", "value", engineer_id),
                      ("lang", "data", "zh"), ("ops-refresh", "data", 0)])


def control_callback(http, device_id: str, command: str = "stop"):
    return dash_post(http, [("ctl-msg", "children"), ("ctl-confirm", "disabled")],
                     [("ctl-confirm", "n_clicks", 1)],
                     [("ctl-pending", "data", {"device_id": device_id, "command": command,
                                               "station_id": device_id.split("-")[0]}), ("lang", "data", "zh")])


def raise_fire(db, station_id: str, ts_ms: int) -> int:
    """An active fire alarm (rules evaluated on a reading, persisted as the engine does)."""
    io = DeviceReading(device_id=f"{station_id}-IO1", kind="station_io", model="cc-station-io", online=True,
                       ts_ms=ts_ms, values={"fire": 1})
    rd = StationReading(station_id=station_id, ts_ms=ts_ms, devices=[io],
                        summary=StationSummary(state="alarm", ts_ms=ts_ms))
    msgs = alarm_store.apply_transitions(db, Evaluator(load_rules()).evaluate(rd))
    return msgs[0]["alarm"]["id"]


def audit(db, **kw) -> list[dict]:
    return list(reversed(read_audit(db, limit=5000, **kw)))


def built(fleet):
    return [s for s in fleet if s.lifecycle == "built"]


# ---------------------------------------------------------------------------------------------- who may act
def test_leader_cannot_acknowledge_dispatch_or_control_by_any_channel_and_each_refusal_is_audited(web, db, fleet):
    app, socketio = web
    station = built(fleet)[0]
    c1 = f"{station.station_id}-C1"
    alarm_id = raise_fire(db, station.station_id, 1_763_700_000_000)
    leader = login(app, "leader")

    # 1. HTTP
    assert leader.post(f"/api/alarms/{alarm_id}/acknowledge", json={"comment": "x"}).status_code == 403
    assert leader.post("/api/workorders", json={"alarm_id": alarm_id, "engineer_id": "E01"}).status_code == 403
    assert leader.post("/api/control", json={"device_id": c1, "command": "stop", "confirmed": True}).status_code == 403
    # 2. forged Dash callback requests (what the page would send, had it shown the buttons)
    for resp in (ack_callback(leader, alarm_id), dispatch_callback(leader, alarm_id), control_callback(leader, c1)):
        assert resp.status_code == 200
        text = json.dumps(resp.get_json(), ensure_ascii=False)
        assert "无权执行此操作" in text and "cc-msg-error" in text
    # 3. forged Socket.IO events
    sock = socket_of(app, socketio, leader)
    for event, data in (("ops:acknowledge", {"alarm_id": alarm_id}),
                        ("ops:dispatch", {"alarm_id": alarm_id, "engineer_id": "E01"}),
                        ("ops:control", {"device_id": c1, "command": "stop", "confirmed": True})):
        ack = sock.emit(event, data, callback=True)
        assert ack["ok"] is False and ack["status"] == 403, (event, ack)
    sock.disconnect()
    # anonymous: 401 over HTTP, no socket at all
    anon = app.server.test_client()
    assert anon.post(f"/api/alarms/{alarm_id}/acknowledge", json={}).status_code == 401
    assert not socketio.test_client(app.server).is_connected()

    # nothing happened …
    assert alarm_store.get_alarm(db, alarm_id)["state"] == "active"
    assert wo.list_orders(db) == []
    # … and every refusal of the leader is in the audit log: 3 actions × 3 channels
    refused = [(e["action"], e["target"]) for e in audit(db, actor="leader") if e["result"] == "refused"]
    for action, target in (("alarm.acknowledge", f"alarm:{alarm_id}"), ("workorder.create", f"alarm:{alarm_id}"),
                           ("control.command", f"device:{c1}")):
        assert refused.count((action, target)) == 2, (action, refused)  # HTTP + Dash
    for action, event in (("alarm.acknowledge", "ops:acknowledge"), ("workorder.create", "ops:dispatch"),
                          ("control.command", "ops:control")):
        assert (action, f"socket:{event}") in refused
    assert len(refused) == 9


def test_each_allowed_action_leaves_an_audit_entry(web, db, fleet):
    app, socketio = web
    station = built(fleet)[0]
    duty = login(app, "duty")
    a1 = raise_fire(db, station.station_id, 1_763_700_000_000)
    a2 = raise_fire(db, built(fleet)[1].station_id, 1_763_700_000_000)

    # HTTP: acknowledge with a comment
    resp = duty.post(f"/api/alarms/{a1}/acknowledge", json={"comment": "已电话联系站点"})
    assert resp.status_code == 200 and resp.get_json()["alarm"]["state"] == "acknowledged"
    assert alarm_store.alarm_events(db, a1)[-1]["detail"] == "已电话联系站点"
    # Dash callback: one-click dispatch to E01
    resp = dispatch_callback(duty, a1, "E01")
    assert "已派给" in json.dumps(resp.get_json(), ensure_ascii=False)
    order = wo.list_orders(db)[0]
    assert order["assignee_id"] == "E01" and order["alarm_id"] == a1 and order["state"] == "assigned"
    # Dash callback: acknowledge (the dialog's button)
    resp = ack_callback(duty, a2, "值班确认")
    assert "已确认报警" in json.dumps(resp.get_json(), ensure_ascii=False)
    # Socket.IO: shelve and unshelve
    sock = socket_of(app, socketio, duty)
    ack = sock.emit("ops:shelve", {"alarm_id": a2, "duration_s": 900, "comment": "检修中"}, callback=True)
    assert ack["ok"] and ack["alarm"]["shelved"] is True
    assert sock.emit("ops:unshelve", {"alarm_id": a2}, callback=True)["ok"]
    # a domain refusal after authorisation is audited as an error (alarm already acknowledged)
    assert duty.post(f"/api/alarms/{a1}/acknowledge", json={}).status_code == 409
    # an engineer cannot act on an order that is not theirs; the duty officer cannot accept for them
    assert duty.post(f"/api/workorders/{order['id']}/accept").status_code == 403
    sock.disconnect()

    ok = [(e["action"], e["actor"], e["result"], e["target"]) for e in audit(db)
          if e["action"].startswith(("alarm.", "workorder.")) and e["actor"] == "duty"]
    assert ("alarm.acknowledge", "duty", "ok", f"alarm:{a1}") in ok
    assert ("workorder.create", "duty", "ok", f"order:{order['id']}") in ok
    assert ("alarm.acknowledge", "duty", "ok", f"alarm:{a2}") in ok
    assert [x[:3] for x in ok if x[0] == "alarm.shelve"] == [("alarm.shelve", "duty", "ok")] * 2
    assert ("alarm.acknowledge", "duty", "error", f"alarm:{a1}") in ok
    assert ("workorder.accept", "duty", "refused", f"order:{order['id']}") in ok


def test_literal_catalog_keys_of_operations_exist():
    pattern = re.compile(r"""\b(?:t|T|tr)\(\s*["']([a-z_]+\.[a-z0-9_.]+)["']""")
    files = [ROOT / f for f in ("dashboard/pages/alarms.py", "dashboard/pages/field.py", "dashboard/auth/login.py",
                                "callbacks/alarms.py", "callbacks/dispatch.py", "callbacks/control.py",
                                "assets/cc_alarms.js", "assets/cc_field.js")]
    used = {m.group(1) for f in files for m in pattern.finditer(f.read_text())}
    assert len(used) > 60
    assert sorted(k for k in used if not has(k) and not k.endswith(".")) == []  # "x." = a prefix


# ---------------------------------------------------------------------------------------------- remote control
def _running_compressor(live: LiveFleet, station) -> str:
    """A compressor of ``station`` that is running (loaded or unloaded) according to the bus."""
    def pick():
        for d in station.devices:
            if d.kind == "compressor":
                v = live.latest(d.device_id)
                if v.get("online") and v["values"].get("run_state") in (1, 2):
                    return d.device_id
        return None

    return wait_for(pick, 20, "a running compressor")


def _modbus_read(dev, name: str):
    """Read one value straight from the device over Modbus (not through the poller)."""
    spec = default_profiles()[dev.model].register(name)
    client = ModbusTcpClient(dev.host, port=dev.port, timeout=2)
    assert client.connect()
    try:
        fn = {"coil": client.read_coils, "discrete_input": client.read_discrete_inputs,
              "input": client.read_input_registers, "holding": client.read_holding_registers}[spec.register_type]
        resp = fn(spec.address, count=spec.count, device_id=dev.unit_id)
        assert not resp.isError(), resp
        return int(resp.bits[0]) if spec.is_bit else resp.registers[0]
    finally:
        client.close()


def test_remote_control_refused_while_occupied_and_works_when_empty(web, db, fleet, redis_url, database_url):
    app, _socketio = web
    duty = login(app, "duty")
    station = built(fleet)[0]
    sid = station.station_id
    io = next(d for d in station.devices if d.kind == "station_io")
    with LiveFleet(fleet, redis_url, database_url, interval_s=INTERVAL_S, alarm_engine=False) as live:
        comp_id = _running_compressor(live, station)
        comp = next(d for d in station.devices if d.device_id == comp_id)

        # someone walks into the station room: the bus says occupied → refused, nothing written
        live.inject(sid, "occupancy", True)
        live.wait_latest(io.device_id, lambda v: v.get("occupancy") == 1)
        resp = duty.post("/api/control", json={"device_id": comp_id, "command": "stop", "confirmed": True})
        body = resp.get_json()
        assert resp.status_code == 409 and body["refused"] and any("站房有人" in r for r in body["reasons"])
        assert live.values(comp_id)["run_command"] == 1 and _modbus_read(comp, "run_command") == 1
        # not confirmed → refused as well
        live.inject(sid, "occupancy", False)
        live.wait_latest(io.device_id, lambda v: v.get("occupancy") == 0)
        resp = duty.post("/api/control", json={"device_id": comp_id, "command": "stop", "confirmed": False})
        assert resp.status_code == 409 and any("not confirmed" in r for r in resp.get_json()["reasons"])

        # the occupancy input is read again over Modbus just before writing: occupied on the wire → no write,
        # even when the policy's view (the bus) was still "empty"
        target, io_spec = load_target(db, comp_id)
        live.inject(sid, "occupancy", True)
        res = execute(target, io_spec, "stop", COIL_WRITES["stop"], redis_client=live.redis)
        assert not res.ok and res.phase == "occupancy" and res.occupancy is True and res.written == []
        assert _modbus_read(comp, "run_command") == 1
        live.inject(sid, "occupancy", False)
        live.wait_latest(io.device_id, lambda v: v.get("occupancy") == 0)

        # room empty → stop is written, read back, and the device stops
        before = _modbus_read(comp, "run_state")
        assert before in (1, 2)
        resp = duty.post("/api/control", json={"device_id": comp_id, "command": "stop", "confirmed": True})
        body = resp.get_json()
        assert resp.status_code == 200 and body["ok"], body
        r = body["result"]
        assert r["occupancy"] is False and r["written"] == [["run_command", 0]] and r["coils"] == {"run_command": 0}
        assert r["run_state_before"] in (1, 2) and r["run_state_after"] == 0 and r["reached"]
        assert _modbus_read(comp, "run_state") == 0 and _modbus_read(comp, "run_command") == 0  # from the device
        live.wait_latest(comp_id, lambda v: v.get("run_state") == 0)  # and the poller sees it too

        # start again (automatic mode): the coil reads back 1
        resp = duty.post("/api/control", json={"device_id": comp_id, "command": "start", "confirmed": True})
        assert resp.status_code == 200 and resp.get_json()["result"]["coils"] == {"run_command": 1}
        assert _modbus_read(comp, "run_command") == 1

    entries = [e for e in audit(db, action="control.command") if e["actor"] == "duty"]
    results = [(e["result"], json.loads(e["detail"]).get("step")) for e in entries]
    assert results == [("refused", None), ("refused", None), ("ok", None), ("ok", "modbus"), ("ok", None),
                       ("ok", "modbus")]
    assert "站房有人" in entries[0]["detail"]


# ---------------------------------------------------------------------------------------------- the whole loop
class Hook:
    """A local webhook receiver (WeCom-robot style endpoint)."""

    def __init__(self):
        self.bodies: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                hook.bodies.append(json.loads(self.rfile.read(n)))
                out = b'{"errcode": 0, "errmsg": "ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *_a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/robot/send?key=test"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook(monkeypatch):
    h = Hook()
    monkeypatch.setenv("CC_NOTIFY_WEBHOOK_URL", h.url)
    yield h
    h.close()


def test_fault_to_closed_order_every_step_persisted_and_pushed(hook, web, db, fleet, redis_url, database_url):
    app, socketio = web
    station = built(fleet)[1]
    sid = station.station_id
    duty, engineer = login(app, "duty"), login(app, "engineer")
    officer_sock = socket_of(app, socketio, duty)
    assert officer_sock.emit("join", "nation", callback=True)["ok"]
    field_sock = socket_of(app, socketio, engineer)
    # the field page joins its rooms through its Dash callback (the role is checked there)
    resp = dash_post(engineer, [("f-joined", "data")], [("fsocket", "socketId", sid_of(socketio, field_sock))],
                     [("f-me", "data", None)], prefix="/field")
    assert resp.get_json()["response"]["f-joined"]["data"]["engineer_id"] == "E01"
    alarms, orders, field_orders, pool = [], [], [], []

    def officer_got(kind: str, event: str, key: str, ident):
        def check():
            received(officer_sock, kind, alarms if kind == "alarm" else orders)
            for m in (alarms if kind == "alarm" else orders):
                if m["event"] == event and m[key]["id"] == ident:
                    return m
            return None

        return wait_for(check, 10, f"{kind} {event} pushed to the officer")

    def field_got(event: str, ident: int):
        def check():
            for m in field_sock.get_received():  # "feed" heartbeats reach every page too: not pool events
                if m["name"] in ("workorder", "field_pool"):
                    (field_orders if m["name"] == "workorder" else pool).append(m["args"][0])
            return next((m for m in field_orders if m["event"] == event and m["order"]["id"] == ident), None)

        return wait_for(check, 10, f"workorder {event} pushed to the field page")

    with LiveFleet(fleet, redis_url, database_url, interval_s=INTERVAL_S) as live:
        io = next(d for d in station.devices if d.kind == "station_io")
        live.wait_latest(io.device_id, lambda v: v.get("fire") == 0)

        # 1. an injected fault raises its alarm within two poll cycles
        t_inject = __import__("time").time() * 1000
        live.inject(sid, "fire", True)

        def fire_alarm():
            return next((a for a in alarm_store.list_alarms(db, station_id=sid) if a["rule"] == "fire_alarm"), None)

        alarm = wait_for(fire_alarm, 2 * INTERVAL_S + 5, "fire alarm in SQL")
        assert alarm["raised_ts_ms"] - t_inject <= 2 * INTERVAL_S * 1000, alarm["raised_ts_ms"] - t_inject
        aid = alarm["id"]
        pushed = officer_got("alarm", "raised", "alarm", aid)
        assert pushed["alarm"]["severity"] == 1 and "nation" in pushed["scopes"]
        assert pushed["station"]["id"] == sid

        # 2. acknowledge with a comment (HTTP)
        assert duty.post(f"/api/alarms/{aid}/acknowledge", json={"comment": "已通知站点人员撤离"}).status_code == 200
        assert alarm_store.get_alarm(db, aid)["state"] == "acknowledged"
        officer_got("alarm", "acknowledged", "alarm", aid)

        # 3. one-click dispatch (the proposal, then the order) → the engineer is notified
        prop = duty.get(f"/api/dispatch/proposal?alarm_id={aid}").get_json()
        assert prop["proposal"]["skill"] == "security" and prop["proposal"]["best"]["skill_match"]
        assert len(prop["proposal"]["ranked"]) >= 2  # the runners-up
        resp = duty.post("/api/workorders", json={"alarm_id": aid, "engineer_id": "E01"})
        assert resp.status_code == 201
        oid = resp.get_json()["order"]["id"]
        assert wo.get_order(db, oid)["state"] == "assigned"
        officer_got("workorder", "assigned", "order", oid)
        field_got("assigned", oid)

        # 4. the engineer accepts, checks in on site, resolves (HTTP of the field page's API, Socket.IO event)
        assert engineer.post(f"/api/workorders/{oid}/accept").status_code == 200
        assert wo.get_order(db, oid)["state"] == "accepted"
        officer_got("workorder", "accepted", "order", oid)
        ack = field_sock.emit("ops:order", {"order_id": oid, "action": "check_in", "lon": station.lon,
                                            "lat": station.lat}, callback=True)
        assert ack["ok"] and ack["order"]["state"] == "on_site" and ack["order"]["on_site_distance_m"] < 1
        officer_got("workorder", "on_site", "order", oid)
        assert duty.get("/api/workorders").get_json()["orders"][0]["state"] == "on_site"
        assert engineer.post(f"/api/workorders/{oid}/resolve", json={"result": "烟感误报，已清洁探头"}).status_code == 200
        assert wo.get_order(db, oid)["result"] == "烟感误报，已清洁探头"
        officer_got("workorder", "resolved", "order", oid)

        # 5. the fault clears on the device → the engine clears the alarm
        live.inject(sid, "fire", False)
        wait_for(lambda: alarm_store.get_alarm(db, aid)["state"] == "cleared", 2 * INTERVAL_S + 5, "alarm cleared")
        officer_got("alarm", "cleared", "alarm", aid)

        # 6. return visit and rating close the order; the officer closes the alarm
        resp = duty.post(f"/api/workorders/{oid}/close", json={"return_visit": "站点确认恢复正常", "rating": 5})
        assert resp.status_code == 200 and resp.get_json()["order"]["state"] == "closed"
        officer_got("workorder", "closed", "order", oid)
        assert duty.post(f"/api/alarms/{aid}/close", json={"comment": "处置完毕"}).status_code == 200
        assert alarm_store.get_alarm(db, aid)["state"] == "closed"
        officer_got("alarm", "closed", "alarm", aid)

    # the persisted timelines
    assert [e["event"] for e in alarm_store.alarm_events(db, aid)] == ["raised", "acknowledged", "cleared", "closed"]
    timeline = [e["event"] for e in wo.order_events(db, oid)]
    for ev in ("created", "assigned", "accepted", "on_site", "resolved", "closed"):
        assert ev in timeline
    final = wo.get_order(db, oid)
    assert final["rating"] == 5 and final["return_visit"] == "站点确认恢复正常" and final["overdue"] == []
    # the webhook (WeCom / DingTalk / SMS gateway adapter) got the assignment
    wait_for(lambda: any(b["cc"]["event"] == "assigned" for b in hook.bodies), 10, "webhook delivery")
    body = next(b for b in hook.bodies if b["cc"]["event"] == "assigned")
    assert "已派单" in body["text"]["content"] and body["cc"]["order"]["id"] == oid
    # and the field page's pool channel saw the order move
    assert any(p["order_id"] == oid for p in pool)
    # statistics count it
    stats = duty.get("/api/alarms/stats?period=24h").get_json()["stats"]
    assert stats["by_severity"]["1"] >= 1 and ["fire_alarm", 1] in stats["by_rule"]
    officer_sock.disconnect()
    field_sock.disconnect()


def test_field_engineer_sees_own_and_grabbable_orders_only_and_no_roster(web, db, fleet):
    """Least privilege: an engineer's list holds their orders and the grab pool, not colleagues' orders; the dispatch
    proposal (the roster with every phone number) is refused and the refusal audited."""
    app, _socketio = web
    sts = built(fleet)
    mine = wo.create_order(db, actor="duty", station_id=sts[0].station_id, engineer_id="E01")["id"]
    theirs = wo.create_order(db, actor="duty", station_id=sts[1].station_id, engineer_id="E02")["id"]
    pool = wo.create_order(db, actor="duty", station_id=sts[2].station_id, engineer_id=None)["id"]
    engineer = login(app, "engineer")  # E01
    ids = {o["id"] for o in engineer.get("/api/workorders").get_json()["orders"]}
    assert ids == {mine, pool}
    assert engineer.get(f"/api/workorders/{theirs}").status_code == 403
    resp = engineer.get("/api/dispatch/proposal", query_string={"station_id": sts[0].station_id})
    assert resp.status_code == 403 and "phone" not in resp.get_data(as_text=True)
    assert ("roster.view", "engineer", "refused") in [(e["action"], e["actor"], e["result"]) for e in audit(db)]
    duty = login(app, "duty")
    assert {mine, theirs, pool} <= {o["id"] for o in duty.get("/api/workorders").get_json()["orders"]}
    assert duty.get("/api/dispatch/proposal", query_string={"station_id": sts[0].station_id}).status_code == 200
