"""Work orders: dispatch proposal, the full flow, grab, SLA clocks and escalation, webhook notifications.

Real SQL (SQLite and PostgreSQL), real Redis pub/sub, a real local HTTP server for the webhook; time is passed
explicitly (``now``) — nothing sleeps for a fixed time.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from datasources.sql import alarm_store, workorders as wo
from datasources.sql.alarm_models import Notification
from datasources.bus.messages import WORKORDERS_CHANNEL, DeviceReading, StationReading, StationSummary
from datasources.sql.db import make_engine, migrate
from datasources.sql.fleet_spec import StationSpec
from datasources.workers.notify import WebhookNotifier
from datasources.sql.repository import save_fleet
from ops.alarm_rules import Evaluator, load_rules
from ops.dispatch import EngineerCandidate, IllegalOrderTransition, haversine_m, propose
from ops.sla import breached_clocks, clocks

T0 = 1_763_700_000_000
MIN, HOUR = 60_000, 3_600_000
SUZHOU = (120.62, 31.32)  # WGS-84, an industrial park east of Suzhou's centre


def wait_for(predicate, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def db(database_url):
    migrate(database_url)
    engine = make_engine(database_url)
    save_fleet(engine, [StationSpec("ST00001", "苏州工业园空压站", "Suzhou SIP", "smart_station", "built", *SUZHOU,
                                    "320000", "320500", 40.0, "华东压缩机服务"),
                        StationSpec("ST00002", "广州空压站", "Guangzhou", "central_station", "built", 113.30, 23.10,
                                    "440000", "440100", 60.0, "粤海机电")])
    wo.seed_demo_roster(engine)
    yield engine
    engine.dispose()


class Channel:
    """Collects ``cc:workorders`` messages (subscription confirmed before use)."""

    def __init__(self, client):
        self.ps = client.pubsub()
        self.ps.subscribe(WORKORDERS_CHANNEL)
        wait_for(lambda: (m := self.ps.get_message(timeout=0.1)) is not None and m["type"] == "subscribe",
                 what="subscription")
        self.messages: list[dict] = []

    def until(self, n: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {n} messages, got {[m['event'] for m in self.messages]}")
            m = self.ps.get_message(timeout=0.1)
            if m and m["type"] == "message":
                self.messages.append(json.loads(m["data"]))
        return self.messages


@pytest.fixture
def channel(redis_client):
    ch = Channel(redis_client)
    yield ch
    ch.ps.close()


def fire_alarm(db, station_id: str = "ST00001") -> int:
    """Raise a real fire alarm through the rules and the store; returns its id."""
    ev = Evaluator(load_rules())
    io = DeviceReading(device_id=f"{station_id}-IO", kind="station_io", model="cc-station-io", online=True,
                       ts_ms=T0, values={"fire": 1, "flood": 0, "intrusion": 0, "occupancy": 0})
    rd = StationReading(station_id=station_id, ts_ms=T0, devices=[io],
                        summary=StationSummary(state="alarm", devices_online=1, devices_total=1, ts_ms=T0))
    alarm_store.apply_transitions(db, ev.evaluate(rd))
    return alarm_store.list_alarms(db, station_id=station_id, now=T0)[0]["id"]


# ---------------------------------------------------------------- proposal


def test_haversine_matches_geo_and_known_distance():
    from geo.crs import haversine_m as geo_haversine

    beijing, shanghai = (116.4074, 39.9042), (121.4737, 31.2304)
    d = haversine_m(*beijing, *shanghai)
    assert 1_060_000 < d < 1_075_000
    assert abs(d - geo_haversine(*beijing, *shanghai)) < 1.0
    with pytest.raises(ValueError):
        haversine_m(0, 91, 0, 0)


def test_proposal_ranks_on_duty_skill_distance_load_with_runners_up():
    station = (120.0, 30.0)
    near_km = lambda km: (120.0 + km / 96.3, 30.0)  # noqa: E731 — ~96.3 km per degree of longitude at 30°N
    cands = [
        EngineerCandidate("A", "near, wrong skill", frozenset({"dryer"}), *near_km(1), True, 0),
        EngineerCandidate("B", "near, off duty", frozenset({"compressor"}), *near_km(1), False, 0),
        EngineerCandidate("C", "20 km, busy", frozenset({"compressor"}), *near_km(20), True, 2),   # cost 80
        EngineerCandidate("D", "50 km, free", frozenset({"compressor", "dryer"}), *near_km(50), True, 0),  # 50
        EngineerCandidate("E", "70 km, free", frozenset({"compressor"}), *near_km(70), True, 0),  # 70
    ]
    p = propose(cands, *station, skill="compressor", top=3, station_id="X")
    assert [r.engineer_id for r in p.ranked] == ["D", "E", "C"]
    assert p.best.engineer_id == "D" and [r.rank for r in p.ranked] == [1, 2, 3]
    assert p.excluded == (("B", "off duty"),) and p.considered == 5
    assert p.best.reasons[:2] == ("on duty", "skill compressor")
    assert "50.0 km from station" in p.best.reasons and "0 open orders" in p.best.reasons
    assert p.ranked[2].reasons[-1] == "2 open orders"
    # without the skill requirement the nearest wins; a wrong-skill engineer ranks after all matching ones
    assert propose(cands, *station, skill=None, top=1).best.engineer_id == "A"
    assert [r.engineer_id for r in propose(cands, *station, skill="compressor", top=5).ranked][-1] == "A"
    assert propose(cands, *station, skill="compressor", top=5).ranked[-1].reasons[1] == "lacks skill compressor"
    json.dumps(p.to_dict())  # JSON-ready for the UI and the order record


def test_proposal_from_sql_roster_uses_load(db):
    p = wo.propose_for_station(db, "ST00001", skill="compressor")
    ranked = [r.engineer_id for r in p.ranked]
    assert ranked[0] == "E01"  # Suzhou, compressor
    assert ranked[1] == "E03"  # Hangzhou, compressor
    assert all(r.skill_match for r in p.ranked) and len(p.ranked) == 3
    assert ("E04", "off duty") in p.excluded
    # five open orders on E01 (5 × 30 km) make Hangzhou (~110 km) the better choice
    for _ in range(5):
        wo.create_order(db, actor="duty", station_id="ST00001", engineer_id="E01", now=T0)
    assert wo.propose_for_station(db, "ST00001", skill="compressor").best.engineer_id == "E03"
    assert {e["engineer_id"]: e["open_orders"] for e in wo.list_engineers(db)}["E01"] == 5
    with pytest.raises(wo.WorkOrderNotFound):
        wo.propose_for_station(db, "NOPE")


# ---------------------------------------------------------------- full flow


def test_full_flow_acknowledge_dispatch_accept_on_site_resolve_close(db, redis_client, channel):
    alarm_id = fire_alarm(db)
    alarm_store.acknowledge(db, alarm_id, "duty", now=T0 + MIN, redis_client=redis_client)
    prop = wo.propose_for_alarm(db, alarm_id)
    assert prop.skill == "security" and prop.best.engineer_id == "E02"  # Shanghai, ~85 km; E04 Nanjing off duty
    order = wo.create_order(db, actor="duty", alarm_id=alarm_id, engineer_id="auto", now=T0 + 2 * MIN,
                            redis_client=redis_client)
    eng = order["assignee_id"]
    assert order["state"] == "assigned" and eng == prop.best.engineer_id and order["severity"] == 1
    assert order["skill"] == "security" and order["station_id"] == "ST00001"
    with pytest.raises(wo.WorkOrderError, match="already has open work order"):
        wo.create_order(db, actor="duty", alarm_id=alarm_id, now=T0 + 2 * MIN)
    with pytest.raises(wo.WorkOrderError, match="not to E99"):
        wo.accept(db, order["id"], "E99", "intruder", now=T0 + 3 * MIN)
    with pytest.raises(IllegalOrderTransition):
        wo.close_order(db, order["id"], "duty", "ok", 5, now=T0 + 3 * MIN)
    oid = order["id"]
    assert wo.accept(db, oid, eng, "engineer", now=T0 + 10 * MIN, redis_client=redis_client)["state"] == "accepted"
    on_site = wo.check_in(db, oid, eng, SUZHOU[0] + 0.001, SUZHOU[1], "engineer", now=T0 + 90 * MIN,
                          redis_client=redis_client)
    assert on_site["state"] == "on_site" and 50 < on_site["on_site_distance_m"] < 150
    resolved = wo.resolve(db, oid, eng, "烟感误报，已清洁探头并复位 / smoke detector cleaned", "engineer",
                          now=T0 + 3 * HOUR, redis_client=redis_client)
    assert resolved["state"] == "resolved"
    with pytest.raises(wo.WorkOrderError, match="1..5"):
        wo.close_order(db, oid, "duty", "回访", 6, now=T0 + 4 * HOUR)
    closed = wo.close_order(db, oid, "duty", "回访：客户确认恢复正常", 5, now=T0 + 5 * HOUR,
                            redis_client=redis_client)
    assert (closed["state"], closed["rating"], closed["closed_by"]) == ("closed", 5, "duty")
    assert closed["overdue"] == [] and all(not c["breached"] for c in closed["sla"])  # 10 min / 1.5 h / 3 h

    msgs = channel.until(6)
    assert [m["event"] for m in msgs] == ["created", "assigned", "accepted", "on_site", "resolved", "closed"]
    assert all(m["v"] == 1 and m["type"] == "workorder" and m["order"]["id"] == oid for m in msgs)
    assert msgs[0]["proposal"]["best"]["engineer_id"] == eng
    assert [m["actor"] for m in msgs] == ["duty", "duty", "engineer", "engineer", "engineer", "duty"]
    timeline = wo.order_events(db, oid)
    assert [(e["event"], e["actor"], e["state_after"], e["ts_ms"] - T0) for e in timeline] == [
        ("created", "duty", "created", 2 * MIN), ("assigned", "duty", "assigned", 2 * MIN),
        ("accepted", "engineer", "accepted", 10 * MIN), ("on_site", "engineer", "on_site", 90 * MIN),
        ("resolved", "engineer", "resolved", 3 * HOUR), ("closed", "duty", "closed", 5 * HOUR)]
    assert timeline[3]["detail"]["far_from_station"] is False
    stored = wo.get_order(db, oid, now=T0 + 6 * HOUR)
    assert stored["return_visit"].startswith("回访") and stored["result"].startswith("烟感误报")
    # the alarm can now get a new order (the old one is closed)
    assert wo.list_orders(db, open_only=True) == []


def test_dispatch_acknowledges_an_unacknowledged_alarm(db, redis_client):
    alarm_id = fire_alarm(db)
    wo.create_order(db, actor="duty", alarm_id=alarm_id, engineer_id="E06", now=T0 + MIN)
    alarm = alarm_store.get_alarm(db, alarm_id)
    assert alarm["acknowledged"] and alarm["acknowledged_by"] == "duty"
    assert [e["event"] for e in alarm_store.alarm_events(db, alarm_id)] == ["raised", "acknowledged"]


def test_grab_unassigned_order(db, redis_client, channel):
    order = wo.create_order(db, actor="duty", station_id="ST00001", engineer_id=None, skill="dryer",
                            severity=2, title="冷干机异响", now=T0, redis_client=redis_client)
    assert order["state"] == "created" and order["assignee_id"] is None
    assert [o["id"] for o in wo.list_orders(db, unassigned=True)] == [order["id"]]
    with pytest.raises(wo.WorkOrderError, match="off duty"):
        wo.grab(db, order["id"], "E10", "e10", now=T0 + MIN)  # Wu Fang is off duty
    grabbed = wo.grab(db, order["id"], "E02", "e02", now=T0 + 2 * MIN, redis_client=redis_client)
    assert (grabbed["state"], grabbed["assignee_id"], grabbed["dispatch_mode"]) == ("accepted", "E02", "grabbed")
    assert grabbed["accepted_ts_ms"] == T0 + 2 * MIN
    with pytest.raises(IllegalOrderTransition):
        wo.grab(db, order["id"], "E03", "e03", now=T0 + 3 * MIN)  # first grab wins
    assert [m["event"] for m in channel.until(2)] == ["created", "grabbed"]
    assert wo.list_orders(db, engineer_id="E02")[0]["id"] == order["id"]


# ---------------------------------------------------------------- SLA


def test_sla_clocks_per_severity():
    assert [(c.name, c.limit_ms) for c in clocks(1, T0, T0)] == [("respond", 30 * MIN), ("on_site", 2 * HOUR),
                                                                 ("handled", 4 * HOUR)]
    assert [(c.name, c.limit_ms) for c in clocks(2, T0, T0)] == [("respond", 60 * MIN), ("on_site", 4 * HOUR),
                                                                 ("handled", 8 * HOUR)]
    assert [(c.name, c.limit_ms) for c in clocks(3, T0, T0)] == [("respond", 2 * HOUR), ("handled", 24 * HOUR)]
    assert [(c.name, c.limit_ms) for c in clocks(4, T0, T0)] == [("respond", 2 * HOUR), ("handled", 24 * HOUR)]
    assert breached_clocks(1, T0, T0 + 30 * MIN) == []
    assert breached_clocks(1, T0, T0 + 30 * MIN + 1) == ["respond"]
    assert breached_clocks(1, T0, T0 + 5 * HOUR, accepted_ms=T0 + 10 * MIN) == ["on_site", "handled"]
    assert breached_clocks(1, T0, T0 + 5 * HOUR, accepted_ms=T0 + 40 * MIN, on_site_ms=T0 + HOUR,
                           resolved_ms=T0 + 3 * HOUR) == ["respond"]  # late response stays a breach
    with pytest.raises(ValueError):
        clocks(5, T0, T0)


def test_sla_breach_flagged_and_escalated_once_per_clock(db, redis_client, channel):
    alarm_id = fire_alarm(db)  # severity I: 30 min / 2 h / 4 h
    order = wo.create_order(db, actor="duty", alarm_id=alarm_id, engineer_id="E06", now=T0,
                            redis_client=redis_client)
    oid = order["id"]
    assert wo.overdue_orders(db, now=T0 + 30 * MIN) == []
    assert wo.escalate_overdue(db, redis_client=redis_client, now=T0 + 30 * MIN) == []
    late = wo.overdue_orders(db, now=T0 + 31 * MIN)
    assert [(o["id"], o["overdue"]) for o in late] == [(oid, ["respond"])]
    esc = wo.escalate_overdue(db, redis_client=redis_client, now=T0 + 31 * MIN)
    assert [(m["event"], m["clocks"], m["order"]["id"]) for m in esc] == [("escalated", ["respond"], oid)]
    assert wo.escalate_overdue(db, redis_client=redis_client, now=T0 + 40 * MIN) == []  # once per clock
    wo.accept(db, oid, "E06", "engineer", now=T0 + 45 * MIN, redis_client=redis_client)
    esc = wo.escalate_overdue(db, redis_client=redis_client, now=T0 + 2 * HOUR + 1)
    assert [m["clocks"] for m in esc] == [["on_site"]]
    stored = wo.get_order(db, oid, now=T0 + 2 * HOUR + 1)
    assert stored["escalated"] == ["respond", "on_site"] and stored["overdue"] == ["respond", "on_site"]
    events = [e for e in wo.order_events(db, oid) if e["event"] == "escalated"]
    assert [(e["actor"], e["detail"]["clocks"], e["ts_ms"]) for e in events] == [
        ("sla", ["respond"], T0 + 31 * MIN), ("sla", ["on_site"], T0 + 2 * HOUR + 1)]
    published = [m for m in channel.until(5) if m["event"] == "escalated"]
    assert [m["clocks"] for m in published] == [["respond"], ["on_site"]]


# ---------------------------------------------------------------- webhook


class Hook:
    """A real local HTTP server recording POSTed JSON; ``mode`` = ok | fail | hang | errcode."""

    def __init__(self, mode: str = "ok"):
        self.mode, self.bodies, self.hits = mode, [], 0
        self.entered, self.release, self.done = threading.Event(), threading.Event(), threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                hook.hits += 1
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.entered.set()
                if hook.mode == "hang":
                    hook.release.wait(timeout=20)
                if hook.mode == "fail":
                    self.send_response(503)
                    self.end_headers()
                    return
                hook.bodies.append(json.loads(body))
                answer = b'{"errcode":93000,"errmsg":"invalid webhook url"}' if hook.mode == "errcode" \
                    else b'{"errcode":0,"errmsg":"ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                hook.done.set()

            def log_message(self, *_a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cgi-bin/webhook/send?key=test"

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook_factory():
    hooks = []

    def make(mode="ok"):
        hooks.append(Hook(mode))
        return hooks[-1]

    yield make
    for h in hooks:
        h.close()


def notifications(db) -> list[Notification]:
    with Session(db) as s:
        return list(s.scalars(select(Notification).order_by(Notification.id)))


def test_webhook_delivered_to_a_local_http_server(db, redis_client, hook_factory):
    hook = hook_factory("ok")
    notifier = WebhookNotifier(hook.url, db=db, timeout_s=5, retries=1, backoff_s=0.01)
    try:
        order = wo.create_order(db, actor="duty", station_id="ST00002", engineer_id="auto", skill="compressor",
                                severity=2, title="2号机排温高", now=T0, redis_client=redis_client,
                                notifier=notifier)
        assert order["assignee_id"] == "E05"  # Guangzhou, compressor
        assert notifier.flush(timeout=10)
    finally:
        notifier.close()
    assert len(hook.bodies) == 1  # created + assigned in one click: one webhook, the assignment
    body = hook.bodies[0]
    assert body["msgtype"] == "text" and "已派单" in body["text"]["content"] and "陈静" in body["text"]["content"]
    assert body["cc"]["event"] == "assigned" and body["cc"]["order"]["id"] == order["id"]
    rows = notifications(db)
    assert [(r.status, r.attempts, r.http_status, r.order_id, r.event) for r in rows] == [
        ("delivered", 1, 200, order["id"], "assigned")]
    assert "notified" in [e["event"] for e in wo.order_events(db, order["id"])]


def test_failing_or_hanging_webhook_never_blocks_dispatch(db, redis_client, hook_factory):
    hanging = hook_factory("hang")
    slow = WebhookNotifier(hanging.url, db=db, timeout_s=15, retries=0)
    t_start = time.monotonic()
    order = wo.create_order(db, actor="duty", station_id="ST00001", engineer_id="E01", now=T0,
                            redis_client=redis_client, notifier=slow)
    assert order["state"] == "assigned"
    assert not hanging.done.is_set(), "create_order returned while the webhook was still in flight"
    wait_for(hanging.entered.is_set, what="webhook request received")
    assert wo.accept(db, order["id"], "E01", "engineer", now=T0 + MIN)["state"] == "accepted"  # not blocked
    hanging.release.set()
    assert slow.flush(timeout=10)
    slow.close()
    assert time.monotonic() - t_start < 15

    failing = hook_factory("fail")
    bad = WebhookNotifier(failing.url, db=db, timeout_s=2, retries=2, backoff_s=0.01)
    order2 = wo.create_order(db, actor="duty", station_id="ST00002", engineer_id="E05", now=T0,
                             redis_client=redis_client, notifier=bad)
    assert order2["state"] == "assigned"
    assert bad.flush(timeout=10)
    bad.close()
    assert failing.hits == 3  # first attempt + 2 retries on HTTP 503

    refused = WebhookNotifier("http://127.0.0.1:9/unreachable", db=db, timeout_s=1, retries=0)
    order3 = wo.create_order(db, actor="duty", station_id="ST00002", engineer_id="E05", now=T0, notifier=refused)
    assert refused.flush(timeout=10)
    refused.close()

    robot = hook_factory("errcode")
    wrong_key = WebhookNotifier(robot.url, db=db, timeout_s=2, retries=2, backoff_s=0.01)
    order4 = wo.create_order(db, actor="duty", station_id="ST00002", engineer_id="E05", now=T0, notifier=wrong_key)
    assert wrong_key.flush(timeout=10)
    wrong_key.close()
    assert robot.hits == 1  # an application error of the robot is not retried

    by_order = {r.order_id: r for r in notifications(db)}
    assert by_order[order["id"]].status == "delivered"
    assert (by_order[order2["id"]].status, by_order[order2["id"]].attempts,
            by_order[order2["id"]].http_status) == ("failed", 3, 503)
    assert by_order[order3["id"]].status == "failed" and "Error" in by_order[order3["id"]].error
    assert by_order[order4["id"]].status == "failed" and "93000" in by_order[order4["id"]].error
    assert "notify_failed" in [e["event"] for e in wo.order_events(db, order2["id"])]
    assert wo.get_order(db, order2["id"], now=T0)["state"] == "assigned"  # the order is unaffected
