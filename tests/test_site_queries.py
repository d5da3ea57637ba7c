"""The site panel's read side (:mod:`datasources.sql.site_queries`) on real SQLite and PostgreSQL: alarm history order,
window and bounds, counts by severity; work orders (open first, SLA due / overdue, assignee); partner and the new
station columns (migration 0006) through the fleet repository; idle-room revenue and milestones on hand-computed
cases; the demo fleet's site-record fields."""
from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy.orm import Session

from datasources.sql import site_queries as sq
from datasources.sql.alarm_models import Alarm, Engineer, WorkOrder
from datasources.sql.db import make_engine, migrate
from datasources.sim.fleet import generate_fleet
from datasources.sql.fleet_spec import MILESTONES, StationSpec
from datasources.sql.repository import load_station, save_fleet

NOW = 1_764_662_400_000  # 2025-12-02 08:00 UTC = 16:00 Asia/Shanghai
MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000


def _station(sid: str, lifecycle: str = "idle", **kw) -> StationSpec:
    return StationSpec(sid, f"苏州{sid}", f"Suzhou {sid}", "smart_station", lifecycle, 120.6, 31.3, "320000", "320500",
                       40.0, "华东压缩机服务", (), **kw)


@pytest.fixture
def db(database_url):
    migrate(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


_n = iter(range(1, 10_000))


def _alarm(sid: str, raised_ago_ms: int, severity: int = 2, *, state: str = "closed", cleared_after_ms: int | None = None,
           rule: str = "compressor_discharge_temp_high", shelved: bool = False) -> Alarm:
    raised = NOW - raised_ago_ms
    active = state in ("active", "acknowledged")
    cleared = raised + cleared_after_ms if cleared_after_ms is not None else None
    return Alarm(open_key=None if state == "closed" else f"{rule}|{sid}-C1|{next(_n)}", station_id=sid,
                 device_id=f"{sid}-C1", device_kind="compressor", source=f"{sid}-C1", rule_id=rule, kind="threshold",
                 severity=severity, state=state, active=active, acknowledged=state not in ("active",
                                                                                           "cleared_unacknowledged"),
                 message="排气温度过高 / discharge temperature high", raised_ts_ms=raised,
                 last_change_ts_ms=cleared or raised, cleared_ts_ms=cleared,
                 closed_ts_ms=(cleared + MIN) if state == "closed" and cleared else None,
                 shelved_until_ms=NOW + HOUR if shelved else None)


def test_alarm_history_newest_first_bounded_with_counts(db):
    with Session(db) as s, s.begin():
        s.add_all([
            _alarm("ST1", 2 * HOUR, 1, state="active"),                                   # ongoing: 2 h
            _alarm("ST1", 1 * DAY, 2, state="closed", cleared_after_ms=35 * MIN),          # 35 min
            _alarm("ST1", 3 * DAY, 3, state="cleared_unacknowledged", cleared_after_ms=5 * MIN),
            _alarm("ST1", 10 * DAY, 2, state="acknowledged", shelved=True),
            _alarm("ST1", 29 * DAY, 4, state="closed", cleared_after_ms=HOUR),
            _alarm("ST1", 31 * DAY, 1, state="closed", cleared_after_ms=HOUR),             # outside the window
            _alarm("ST1", 45 * DAY, 3, state="acknowledged"),                              # old but still open
            _alarm("ST2", 1 * HOUR, 1, state="active"),                                    # another station
        ])
    h = sq.alarm_history(db, "ST1", now_ms=NOW, days=30, limit=20)
    assert h["since_ms"] == NOW - 30 * DAY
    assert [NOW - r["raised_ts_ms"] for r in h["rows"]] == [2 * HOUR, DAY, 3 * DAY, 10 * DAY, 29 * DAY, 45 * DAY]
    assert h["counts"] == {1: 1, 2: 2, 3: 2, 4: 1} and h["total"] == 6
    assert h["open"] == 4  # active, cleared_unacknowledged, shelved acknowledged, old acknowledged
    first, second, third, fourth = h["rows"][:4]
    assert (first["state"], first["active"], first["duration_ms"], first["severity_roman"]) == ("active", True,
                                                                                                2 * HOUR, "I")
    assert (second["state"], second["duration_ms"]) == ("closed", 35 * MIN)
    assert (third["state"], third["duration_ms"]) == ("cleared_unacknowledged", 5 * MIN)
    assert fourth["state"] == "shelved"
    assert first["message"].startswith("排气温度过高") and first["rule"] == "compressor_discharge_temp_high"

    short = sq.alarm_history(db, "ST1", now_ms=NOW, days=2, limit=2)  # bounds: rows limited, counts over window
    assert [NOW - r["raised_ts_ms"] for r in short["rows"]] == [2 * HOUR, DAY]
    assert short["total"] == 5 and short["counts"] == {1: 1, 2: 2, 3: 2, 4: 0}  # + the three older open ones
    assert sq.alarm_history(db, "NOPE", now_ms=NOW)["rows"] == []
    with pytest.raises(ValueError):
        sq.alarm_history(db, "ST1", now_ms=NOW, limit=0)


def _order(sid: str, created_ago_ms: int, severity: int, state: str, assignee: str | None = None, **ts) -> WorkOrder:
    created = NOW - created_ago_ms
    return WorkOrder(station_id=sid, title="站房火警 / fire in the station room", severity=severity, state=state,
                     assignee_id=assignee, created_by="duty", created_ts_ms=created,
                     **{k: created + v for k, v in ts.items()})


def test_work_orders_open_first_with_sla(db):
    with Session(db) as s, s.begin():
        s.add(Engineer(engineer_id="E01", name="张伟", name_en="Zhang Wei", home_lon=120.6, home_lat=31.3))
        s.flush()
        s.add_all([
            _order("ST1", 3 * DAY, 2, "closed", "E01", accepted_ts_ms=20 * MIN, on_site_ts_ms=5 * HOUR,
                   resolved_ts_ms=6 * HOUR, closed_ts_ms=7 * HOUR),                    # on-site clock missed (4 h)
            _order("ST1", 1 * HOUR, 1, "assigned", "E01", assigned_ts_ms=MIN),         # respond 30 min: overdue
            _order("ST1", 10 * MIN, 3, "created"),                                     # respond due in 110 min
            _order("ST1", 40 * DAY, 3, "closed", "E01", accepted_ts_ms=MIN, resolved_ts_ms=HOUR, closed_ts_ms=DAY),
            _order("ST1", 2 * DAY, 4, "cancelled"),
            _order("ST2", 5 * MIN, 1, "created"),
        ])
    w = sq.work_orders(db, "ST1", now_ms=NOW, days=30, limit=10)
    assert (w["open"], w["recent"]) == (2, 2)
    assert [(r["state"], NOW - r["created_ts_ms"]) for r in w["rows"]] == [
        ("created", 10 * MIN), ("assigned", HOUR), ("cancelled", 2 * DAY), ("closed", 3 * DAY)]
    created, assigned, cancelled, closed = w["rows"]
    assert (created["sla_clock"], created["sla_due_ms"], created["overdue"]) == ("respond", NOW - 10 * MIN + 2 * HOUR,
                                                                               False)
    assert created["assignee_name"] is None and created["step"] == 0
    assert (assigned["sla_clock"], assigned["sla_due_ms"], assigned["overdue"]) == ("respond", NOW - HOUR + 30 * MIN,
                                                                                  True)
    assert assigned["sla_remaining_ms"] == -30 * MIN and assigned["breached"] == ["respond"]
    assert (assigned["assignee_name"], assigned["assignee_name_en"], assigned["step"]) == ("张伟", "Zhang Wei", 1)
    assert cancelled["step"] == -1 and cancelled["sla_clock"] is None and cancelled["breached"] == []
    assert (closed["step"], closed["overdue"], closed["breached"]) == (5, False, ["on_site"])
    assert [r["state"] for r in sq.work_orders(db, "ST1", now_ms=NOW, limit=1)["rows"]] == ["created"]


def test_station_record_round_trip_of_the_new_columns(db):
    ms = (("survey", "2025-09-01", "2025-09-03"), ("design", "2025-10-01", ""), ("civil", "2025-12-20", ""))
    idle = _station("ST1", "idle", partner_contact="周建国", partner_phone="138-0000-0101", lease_cny_month=3650.0,
                    market_lease_cny_month=4380.0, idle_since="2025-08-24")
    build = _station("ST2", "under_construction", build_milestones=ms)
    save_fleet(db, [idle, build, _station("ST3", "built")])
    assert load_station(db, "ST1") == idle and load_station(db, "ST2") == build

    rec = sq.station_record(db, "ST1", now_ms=NOW)  # today (Asia/Shanghai) 2025-12-02: 100 days idle
    assert rec["partner"] == {"name": "华东压缩机服务", "contact": "周建国", "phone": "138-0000-0101"}
    assert rec["revenue"]["days_idle"] == 100
    assert rec["revenue"]["revenue_to_date_cny"] == 12_000.0 and rec["revenue"]["forgone_cny"] == 2_400.0
    assert rec["milestones"] is None
    rec2 = sq.station_record(db, "ST2", now_ms=NOW)
    assert rec2["revenue"] is None
    assert [i["status"] for i in rec2["milestones"]["items"]] == ["late", "overdue", "planned"]
    assert rec2["milestones"]["current"] == "design"
    built = sq.station_record(db, "ST3", now_ms=NOW)
    assert built["revenue"] is None and built["milestones"] is None
    assert built["partner"]["contact"] == "" and sq.station_record(db, "NOPE", now_ms=NOW) is None

    full = sq.site_record(db, "ST1", now_ms=NOW)
    assert full["alarms"]["rows"] == [] and full["orders"]["rows"] == [] and full["days"] == 30


def test_idle_revenue_hand_computed():
    # daily rent = monthly × 12 / 365: 3650 → 120 CNY/day, 4380 → 144 CNY/day; 100 days
    r = sq.idle_revenue(3650.0, 4380.0, date(2026, 1, 1), date(2026, 4, 11))
    assert r["days_idle"] == 100
    assert (r["revenue_to_date_cny"], r["potential_to_date_cny"], r["forgone_cny"]) == (12_000.0, 14_400.0, 2_400.0)
    assert (r["annual_cny"], r["occupancy_pct"], r["leased"]) == (43_800.0, 83.3, True)
    # not let: everything at market rent is forgone; 2026-02-01 → 2026-03-01 = 28 days × 7300 × 12 / 365 = 6720
    r = sq.idle_revenue(0.0, 7300.0, date(2026, 2, 1), date(2026, 3, 1))
    assert (r["days_idle"], r["revenue_to_date_cny"], r["forgone_cny"], r["leased"]) == (28, 0.0, 6_720.0, False)
    # above market: nothing forgone; no market figure: potential = revenue
    assert sq.idle_revenue(5000.0, 4000.0, date(2026, 1, 1), date(2026, 1, 31))["forgone_cny"] == 0.0
    r = sq.idle_revenue(3650.0, None, date(2026, 1, 1), date(2026, 1, 11))
    assert (r["revenue_to_date_cny"], r["potential_to_date_cny"], r["occupancy_pct"]) == (1_200.0, 1_200.0, None)
    assert sq.idle_revenue(3650.0, 4380.0, date(2027, 1, 1), date(2026, 1, 1))["days_idle"] == 0  # not idle yet
    assert sq.idle_revenue(None, None, None, date(2026, 1, 1)) is None


def test_milestone_progress_statuses():
    text = json.dumps([{"key": "survey", "planned": "2026-01-10", "done": "2026-01-08"},
                       {"key": "design", "planned": "2026-02-10", "done": "2026-02-15"},
                       {"key": "civil", "planned": "2026-04-10", "done": None},
                       {"key": "install", "planned": "2026-05-20", "done": None}])
    p = sq.milestone_progress(text, date(2026, 4, 1))
    assert [(i["status"], i["delay_days"]) for i in p["items"]] == [("done", -2), ("late", 5), ("current", 0),
                                                                    ("planned", 0)]
    assert (p["done"], p["total"], p["pct"], p["current"]) == (2, 4, 50, "civil")
    late = sq.milestone_progress(text, date(2026, 4, 15))
    assert [(i["status"], i["delay_days"]) for i in late["items"]][2] == ("overdue", 5)
    assert sq.milestone_progress("", date(2026, 1, 1)) is None
    assert sq.milestone_progress("not json", date(2026, 1, 1)) is None


def test_demo_fleet_site_record_fields_are_deterministic():
    fleet = generate_fleet(120, seed=42)
    assert generate_fleet(120, seed=42) == fleet
    idle = [s for s in fleet if s.lifecycle == "idle"]
    building = [s for s in fleet if s.lifecycle == "under_construction"]
    assert idle and building
    assert all(s.partner_contact and s.partner_phone for s in fleet)
    for s in idle:
        assert s.market_lease_cny_month > 0 and 0 <= s.lease_cny_month <= s.market_lease_cny_month
        assert date.fromisoformat(s.idle_since) < date(2026, 12, 1)
    assert any(s.lease_cny_month == 0 for s in idle) or len(idle) < 4
    for s in building:
        assert [m[0] for m in s.build_milestones] == list(MILESTONES)
        done = [bool(m[2]) for m in s.build_milestones]
        assert done == sorted(done, reverse=True)  # nothing done after an unfinished milestone
    for s in fleet:
        if s.lifecycle not in ("idle", "under_construction"):
            assert s.build_milestones == () and s.lease_cny_month is None
