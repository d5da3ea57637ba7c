"""The one vocabulary (ops/vocab.py): the alerting rule, open / working order states, SLA countdown text, the
browser's copy (``browser_vocab``) and its delivery in every page, and the flags on real alarm / order payloads.

Real SQLite and real Redis where payloads are made; the pages are rendered by the real app (Flask test client)."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from i18n import t
from ops import alarms as alarm_lifecycle
from ops import vocab
from ops.dispatch import ORDER_TRANSITIONS
from ops.station_state import SUMMARY_STATES, DeviceCycle, fold_open_alarm, summarise

T0 = 1_763_700_000_000
MIN, HOUR = 60_000, 3_600_000


def _alarm(**kw):
    base = {"severity": 1, "state": "active", "active": True, "acknowledged": False, "shelved": False}
    return {**base, **kw}


# ---------------------------------------------------------------- the alerting rule


@pytest.mark.parametrize("alarm, expected", [
    (_alarm(), True),
    (_alarm(severity=2), True),
    (_alarm(severity=3), False),
    (_alarm(severity=4), False),
    (_alarm(acknowledged=True, state="acknowledged"), False),
    (_alarm(shelved=True), False),
    (_alarm(active=False, state="cleared_unacknowledged"), False),
    (_alarm(active=False, acknowledged=True, state="closed"), False),
    (_alarm(state="closed"), False),
    ({"severity": "1", "active": True}, True),          # a severity sent as text, missing booleans are false
    ({"severity": None, "active": True}, False),
    ({"severity": "x", "active": True}, False),
    ({}, False),
])
def test_alerting_rule(alarm, expected):
    assert vocab.alerting(alarm) is expected


def test_alarm_states_follow_the_lifecycle_module():
    assert vocab.ALARM_STATES == alarm_lifecycle.STATES
    assert [s for s in vocab.ALARM_STATES if vocab.alarm_open(s)] == ["active", "acknowledged",
                                                                      "cleared_unacknowledged", "cleared"]
    # every state the lifecycle can reach is named by the vocabulary
    seen = set()
    for active in (True, False):
        for ack in (True, False):
            for closed in (True, False):
                seen.add(alarm_lifecycle.AlarmStatus(active=active, acknowledged=ack, closed=closed).state)
    assert seen <= set(vocab.ALARM_STATES)


# ---------------------------------------------------------------- work-order states


def test_open_and_working_order_states():
    assert vocab.ORDER_OPEN_STATES == ("created", "assigned", "accepted", "on_site", "resolved")
    assert vocab.ORDER_WORKING_STATES == ("created", "assigned", "accepted", "on_site")
    assert not vocab.order_open("closed") and not vocab.order_open("cancelled") and vocab.order_open("resolved")
    assert not vocab.order_working("resolved") and vocab.order_working("on_site")
    assert [vocab.order_step(s) for s in vocab.ORDER_STATES] == [0, 1, 2, 3, 4, 5, -1]
    # every state a transition reaches or starts from is a vocabulary state; cancel starts from the working ones
    for sources, target in ORDER_TRANSITIONS.values():
        assert target in vocab.ORDER_STATES and sources <= set(vocab.ORDER_STATES)
    assert ORDER_TRANSITIONS["cancel"][0] == frozenset(vocab.ORDER_WORKING_STATES)


def _order(state, sla):
    return {"state": state, "sla": sla}


def test_order_flags_name_the_running_clock():
    sla = [{"name": "respond", "deadline_ms": T0 + 30 * MIN, "met_ms": T0 + 5 * MIN},
           {"name": "on_site", "deadline_ms": T0 + 2 * HOUR, "met_ms": None},
           {"name": "handled", "deadline_ms": T0 + 4 * HOUR, "met_ms": None}]
    assert vocab.order_flags(_order("accepted", sla)) == {
        "open": True, "sla_clock": "on_site", "sla_deadline_ms": T0 + 2 * HOUR, "sla_label_key": "sla.on_site"}
    # a cancelled order's clocks never stop, but no countdown is shown; a resolved one has none running
    assert vocab.order_flags(_order("cancelled", sla)) == {
        "open": False, "sla_clock": None, "sla_deadline_ms": None, "sla_label_key": None}
    done = [dict(c, met_ms=T0 + HOUR) for c in sla]
    assert vocab.order_flags(_order("resolved", done))["sla_deadline_ms"] is None
    assert vocab.order_flags(_order("resolved", done))["open"] is True


# ---------------------------------------------------------------- SLA countdown text


@pytest.mark.parametrize("remaining_ms, text", [
    (0, "00:00"),
    (59_999, "00:59"),
    (61_000, "01:01"),
    (3_599_000, "59:59"),
    (3_600_000, "1:00:00"),
    (2 * HOUR + 5 * MIN + 7_000, "2:05:07"),
    (25 * HOUR, "25:00:00"),
    (-1, "-00:00"),
    (-5_400_000, "-1:30:00"),
    (-61_500, "-01:01"),
])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_countdown_text(remaining_ms, text, lang):
    assert vocab.format_countdown(remaining_ms, lang) == text
    # the browser's rule (data) gives the same text: implement it exactly as browser_vocab documents it
    rule = vocab.browser_vocab(lang)["sla"]["countdown"][lang]
    s = abs(remaining_ms) // 1000
    h, m, sec = s // 3600, s % 3600 // 60, s % 60
    pattern = rule["with_hours"] if h else rule["without_hours"]
    browser = (pattern.replace("{sign}", rule["negative"] if remaining_ms < 0 else "").replace("{h}", str(h))
               .replace("{mm}", f"{m:02d}").replace("{ss}", f"{sec:02d}"))
    assert browser == text


def test_countdown_label_in_both_languages():
    assert t(vocab.SLA_LABEL_KEYS["respond"], "zh") != t(vocab.SLA_LABEL_KEYS["respond"], "en")
    assert vocab.format_countdown(HOUR, "fr") == "1:00:00"  # an unknown language reads like zh


# ---------------------------------------------------------------- the browser's copy


def test_browser_vocab_is_json_and_versioned():
    v = vocab.browser_vocab("en")
    assert json.loads(json.dumps(v)) == v
    assert v["version"] == 1 and v["lang"] == "en" and vocab.browser_vocab("xx")["lang"] is None
    assert set(v["station_state_order"]) == set(v["station_legend_order"]) == set(v["station_states"])
    assert set(v["severities"]) == {"1", "2", "3", "4"} and v["severity_order"] == [1, 2, 3, 4]
    assert set(v["pipe_styles"]) == set(v["pipe_draw_order"]) == set(v["pipe_status_order"])
    assert v["order_flow"] + ["cancelled"] == list(v["order_states"])
    assert len(vocab.vocab_script_tag()) < 6000  # a few kB on every page


def test_every_catalog_key_of_the_vocabulary_exists_in_both_languages():
    for key in vocab.catalog_keys():
        for lang in ("zh", "en"):
            assert t(key, lang) != key, f"{key} missing in {lang}"


def _reading(kind, online=True, **values):
    from datasources.bus.messages import DeviceReading

    return DeviceReading(device_id=f"D-{kind}", kind=kind, model="m", online=online, ts_ms=T0, values=values)


def test_every_state_the_python_side_produces_has_a_colour():
    v = vocab.browser_vocab()
    produced = {
        summarise("under_construction", [], T0).state,
        summarise("built", [_reading("compressor", online=False)], T0).state,
        summarise("built", [_reading("station_io", fire=1)], T0).state,
        summarise("built", [_reading("compressor", run_state=2, flow_m3_min=10.0, power_kw=60.0)], T0).state,
        summarise("built", [_reading("compressor", run_state=1)], T0).state,
        fold_open_alarm("running", 3), fold_open_alarm("offline", 1),
    }
    assert produced == set(SUMMARY_STATES)
    for state in produced | {vocab.STATION_FALLBACK_STATE}:
        assert re.fullmatch(r"#[0-9a-f]{6}", v["station_states"][state]["colour"])
    from datasources.bus.messages import STATION_STATES
    from layers import pipelines

    assert tuple(STATION_STATES) == vocab.STATION_STATES
    assert pipelines.STYLES == vocab.PIPE_STYLES
    for args in ((None, 0.7, 0.56, False), (0.5, 0.7, 0.56, True, True), (None, 0.7, 0.56), (0.7, 0.7, 0.56),
                 (0.9, 0.7, 0.56), (0.5, 0.7, 0.56)):
        assert pipelines.pressure_status(*args) in v["pipe_styles"]
    assert {s for s in vocab.STATION_STATES if v["station_states"][s]["online"]} == {"running", "idle", "alarm"}


def test_summarise_reads_any_device_cycle():
    class Cycle:  # not a datasources class: ops reads the shape only (DeviceCycle)
        kind, online, values = "compressor", True, {"run_state": 2, "power_kw": 50.0, "flow_m3_min": 8.0}

    cycle: DeviceCycle = Cycle()
    assert summarise("built", [cycle], T0).state == "running"


def test_ops_does_not_import_datasources():
    code = ("import sys, ops.vocab, ops.station_state, ops.alarms, ops.dispatch, ops.sla; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('datasources', 'dashboard', 'layers')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_index_with_vocab():
    idx = "<html><body>{%app_entry%}<footer>{%config%}{%scripts%}{%renderer%}</footer></body></html>"
    out = vocab.index_with_vocab(idx)
    assert out.count('id="cc-vocab"') == 1 and out.index('id="cc-vocab"') < out.index("{%app_entry%}")
    assert vocab.index_with_vocab(out) == out
    with pytest.raises(ValueError, match="app_entry"):
        vocab.index_with_vocab("<html></html>")


# ---------------------------------------------------------------- flags on real payloads


@pytest.fixture
def db(database_url):
    from datasources.sql.db import make_engine, migrate
    from datasources.sql.fleet_spec import StationSpec
    from datasources.sql.repository import save_fleet
    from datasources.sql import workorders as wo

    migrate(database_url)
    engine = make_engine(database_url)
    save_fleet(engine, [StationSpec("ST00001", "苏州工业园空压站", "Suzhou SIP", "smart_station", "built", 120.62,
                                    31.32, "320000", "320500", 40.0, "华东压缩机服务")])
    wo.seed_demo_roster(engine)
    yield engine
    engine.dispose()


def _fire(db):
    from datasources.bus.messages import DeviceReading, StationReading, StationSummary
    from datasources.sql import alarm_store
    from ops.alarm_rules import Evaluator, load_rules

    io = DeviceReading(device_id="ST00001-IO", kind="station_io", model="cc-station-io", online=True, ts_ms=T0,
                       values={"fire": 1, "flood": 0, "intrusion": 0, "occupancy": 0})
    rd = StationReading(station_id="ST00001", ts_ms=T0, devices=[io],
                        summary=StationSummary(state="alarm", devices_online=1, devices_total=1, ts_ms=T0))
    return alarm_store.apply_transitions(db, Evaluator(load_rules()).evaluate(rd))


def test_alarm_and_order_payloads_carry_the_flags(db, redis_client):
    from datasources.sql import alarm_store, workorders as wo

    messages = _fire(db)
    assert messages and all(m["alarm"]["alerting"] is True for m in messages)  # fire = severity I, unacknowledged
    alarm = alarm_store.list_alarms(db, station_id="ST00001", now=T0)[0]
    assert alarm["alerting"] is True and alarm["severity"] == 1
    acked = alarm_store.acknowledge(db, alarm["id"], "duty", now=T0 + MIN, redis_client=redis_client)
    assert acked["alarm"]["alerting"] is False
    assert alarm_store.get_alarm(db, alarm["id"])["alerting"] is False

    order = wo.create_order(db, actor="duty", alarm_id=alarm["id"], engineer_id="auto", now=T0 + 2 * MIN)
    assert order["open"] is True and order["sla_clock"] == "respond"
    assert order["sla_deadline_ms"] == T0 + 2 * MIN + 30 * MIN and order["sla_label_key"] == "sla.respond"
    eng = order["assignee_id"]
    accepted = wo.accept(db, order["id"], eng, "engineer", now=T0 + 10 * MIN)
    assert accepted["sla_clock"] == "on_site" and accepted["sla_deadline_ms"] == T0 + 2 * MIN + 2 * HOUR
    cancelled = wo.cancel(db, order["id"], "duty", "误报 / false alarm", now=T0 + 20 * MIN)
    assert cancelled["open"] is False and cancelled["sla_deadline_ms"] is None
    listed = wo.list_orders(db, open_only=False, now=T0 + 30 * MIN)
    assert [(o["id"], o["open"]) for o in listed] == [(order["id"], False)]


# ---------------------------------------------------------------- delivery in every page


def _vocab_of(page: str) -> dict:
    m = re.search(r'<script id="cc-vocab" type="application/json">(.*?)</script>', page, re.S)
    assert m, "no cc-vocab script in the page"
    return json.loads(m.group(1))


def test_officer_and_field_pages_carry_the_vocabulary(database_url, redis_url, tmp_path, monkeypatch):
    from dashboard.auth.core import seed_demo_users
    from dashboard.web.app import create_app
    from datasources.settings import Settings
    from datasources.sql.db import make_engine, migrate

    migrate(database_url)
    engine = make_engine(database_url)
    seed_demo_users(engine)
    settings = Settings(data_dir=tmp_path, redis_url=redis_url, database_url=database_url)
    app, _socketio = create_app(settings, engine=engine, redis_url=redis_url, start_bridge=False)
    http = app.server.test_client()
    assert http.post("/auth/login", json={"username": "duty", "password": "Duty#2026"}).status_code == 200
    page = http.get("/", headers={"Accept": "text/html"})
    assert page.status_code == 200
    got = _vocab_of(page.get_data(as_text=True))
    assert got == json.loads(json.dumps(vocab.browser_vocab()))

    field = app.server.test_client()
    assert field.post("/auth/login", json={"username": "engineer", "password": "Field#2026"}).status_code == 200
    fpage = field.get("/field/", headers={"Accept": "text/html"})
    assert fpage.status_code == 200
    assert _vocab_of(fpage.get_data(as_text=True))["version"] == 1
