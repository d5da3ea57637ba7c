"""Weekly snapshot (周报): figures equal direct SQL, PDF has pages and Chinese text, /snapshots is guarded and
audited. Real SQLite and PostgreSQL, real WeasyPrint, real Flask + login."""
from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timedelta, timezone

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.orm import Session

from datasources.sql.alarm_models import Alarm
from datasources.sql.db import make_engine, migrate
from tests.ops_support import wait_for
from datasources.sim.fleet import generate_fleet
from datasources.sim.history import generate_history
from datasources.sql.repository import save_fleet
from datasources.sql.workorders import create_order
from ops.energy import CST
from ops.weekly import compliance_pct, delta, previous_week, snapshot_due, week_window

WEEK = "2026-W47"
HOUR = 3_600_000


def test_week_window_is_shanghai_monday_to_monday():
    w = week_window(WEEK)
    assert w.start == datetime(2026, 11, 16, tzinfo=CST) and w.end == datetime(2026, 11, 23, tzinfo=CST)
    assert w.start_ms == int(datetime(2026, 11, 15, 16, tzinfo=timezone.utc).timestamp()) * 1000
    assert previous_week("2027-W01") == "2026-W53"
    with pytest.raises(ValueError):
        week_window("2026-47")
    with pytest.raises(ValueError):
        week_window("2025-W53")
    assert delta(110, 100).change_pct == pytest.approx(10.0) and delta(1, 0).change_pct is None
    assert compliance_pct(0, 0) is None and compliance_pct(3, 4) == 75.0
    with pytest.raises(ValueError):
        compliance_pct(5, 4)
    assert not snapshot_due(datetime(2026, 11, 23, 5, 59, tzinfo=CST))
    assert snapshot_due(datetime(2026, 11, 23, 6, 0, tzinfo=CST))


def _alarm(s: Session, station_id: str, rule: str, sev: int, ts: int) -> None:
    s.add(Alarm(station_id=station_id, source=station_id, rule_id=rule, kind="threshold", severity=sev,
                state="active", raised_ts_ms=ts, last_change_ts_ms=ts))


@pytest.fixture
def seeded(database_url, tmp_path):
    migrate(database_url)
    engine = make_engine(database_url)
    fleet = generate_fleet(12, seed=7)
    save_fleet(engine, fleet)
    with engine.begin() as conn:   # the fleet existed before both weeks
        conn.execute(text("UPDATE stations SET created_at = :t"), {"t": datetime(2026, 1, 1, tzinfo=timezone.utc)})
    generate_history(engine, fleet, end=datetime(2026, 11, 23, tzinfo=CST), days=15, minute_hours=0,
                     device_hour_days=0, devices=False)
    w, pw = week_window(WEEK), week_window("2026-W46")
    sids = [st.station_id for st in fleet]
    with Session(engine) as s, s.begin():
        for i, (rule, sev) in enumerate([("overpressure", 1), ("overtemp", 2), ("offline", 3), ("overtemp", 1)]):
            _alarm(s, sids[i], rule, sev, w.start_ms + (i + 1) * 10 * HOUR)
        _alarm(s, sids[0], "offline", 4, pw.start_ms + 5 * HOUR)
        _alarm(s, sids[1], "overpressure", 1, w.end_ms)          # next week: excluded
    orders = []
    for i, sev in enumerate([1, 2, 3]):
        orders.append(create_order(engine, actor="duty", station_id=sids[i], engineer_id=None, severity=sev,
                                   title=f"t{i}", now=w.start_ms + (i + 1) * 24 * HOUR)["id"])
    create_order(engine, actor="duty", station_id=sids[3], engineer_id=None, severity=3, title="prev",
                 now=pw.start_ms + 30 * HOUR)
    with engine.begin() as conn:   # order 0 handled in time (severity I: 4 h), order 1 late (severity II: 8 h)
        for oid, after in ((orders[0], 3 * HOUR), (orders[1], 20 * HOUR)):
            conn.execute(text("UPDATE work_orders SET state='resolved', accepted_ts_ms=created_ts_ms+60000, "
                              "on_site_ts_ms=created_ts_ms+120000, resolved_ts_ms=created_ts_ms+:a WHERE id=:i"),
                         {"a": after, "i": oid})
    yield engine, tmp_path / "data"
    engine.dispose()


def _direct(engine, start_ms: int, end_ms: int) -> dict:
    """Independent SQL of the week's figures."""
    with engine.connect() as c:
        q = lambda sql, **kw: c.execute(text(sql), {"a": start_ms, "b": end_ms, "as": start_ms // 1000,  # noqa: E731
                                                    "bs": end_ms // 1000, **kw}).scalar()
        air = q("SELECT COALESCE(SUM(air_m3),0) FROM energy_station_day WHERE bucket_ts >= :as AND bucket_ts < :bs")
        kwh = q("SELECT COALESCE(SUM(energy_kwh),0) FROM energy_station_day WHERE bucket_ts >= :as AND bucket_ts < :bs")
        return {
            "stations_total": q("SELECT COUNT(*) FROM stations"),
            "stations_built": q("SELECT COUNT(*) FROM stations WHERE lifecycle='built'"),
            "air_m3": air, "energy_kwh": kwh,
            "alarms_raised": q("SELECT COUNT(*) FROM alarms WHERE raised_ts_ms >= :a AND raised_ts_ms < :b"),
            "alarms_sev1": q("SELECT COUNT(*) FROM alarms WHERE severity=1 AND raised_ts_ms >= :a AND raised_ts_ms < :b"),
            "orders_created": q("SELECT COUNT(*) FROM work_orders WHERE created_ts_ms >= :a AND created_ts_ms < :b"),
            "orders_resolved": q("SELECT COUNT(*) FROM work_orders WHERE resolved_ts_ms >= :a AND resolved_ts_ms < :b"),
            "by_rule": dict(c.execute(text("SELECT rule_id, COUNT(*) FROM alarms WHERE raised_ts_ms >= :a AND "
                                           "raised_ts_ms < :b GROUP BY rule_id"), {"a": start_ms, "b": end_ms}).all()),
        }


def test_snapshot_figures_equal_sql_and_pdf_has_chinese(seeded):
    from dashboard.pages.snapshot import write_snapshot

    engine, data_dir = seeded
    res = write_snapshot(engine, data_dir, WEEK)
    data = res["data"]
    for key, cur in (("current", week_window(WEEK)), ("previous", week_window("2026-W46"))):
        sql = _direct(engine, cur.start_ms, cur.end_ms)
        got = data[key]
        for k in ("stations_total", "stations_built", "alarms_raised", "alarms_sev1", "orders_created",
                  "orders_resolved"):
            assert got[k] == sql[k], (key, k)
        assert got["air_m3"] == pytest.approx(sql["air_m3"]) and got["energy_kwh"] == pytest.approx(sql["energy_kwh"])
        assert got["ratio_m3_per_kwh"] == pytest.approx(sql["air_m3"] / sql["energy_kwh"])
        assert got["alarms_by_rule"] == sql["by_rule"]
    cur = data["current"]
    assert cur["air_m3"] > 0 and cur["alarms_raised"] == 4 and cur["alarms_sev1"] == 2
    assert cur["orders_created"] == 3 and cur["orders_resolved"] == 2
    # order 0 met every clock; order 1 resolved after 20 h > 8 h; order 2 (severity III) unanswered > 2 h
    assert cur["sla"]["met"] == 1 and cur["sla"]["measured"] == 3
    assert cur["sla_compliance_pct"] == pytest.approx(100 / 3)
    assert data["deltas"]["alarms_raised"]["previous"] == 1 and data["deltas"]["alarms_raised"]["change"] == 3
    assert len(data["trend"]) == 7 and data["ranking"]["best"][0]["rank"] == 1

    html = res["html"].read_text(encoding="utf-8")
    assert "气电比" in html and WEEK in html and "data:image/png;base64," in html
    assert f"{sql['alarms_raised']:,}" in html
    assert f"{data['current']['air_m3']:,.0f}" in html and f"{data['current']['ratio_m3_per_kwh']:,.2f}" in html

    pdf = res["pdf"]
    assert pdf.stat().st_size > 10_000
    if shutil.which("pdfinfo") is None:
        pytest.skip("poppler-utils not installed")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, timeout=60, check=True).stdout
    pages = int(next(line for line in info.splitlines() if line.startswith("Pages:")).split()[1])
    assert pages >= 2
    txt = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, timeout=60, check=True).stdout
    assert "气电比" in txt and WEEK in txt and "周报" in txt


def test_english_snapshot_and_bad_week(seeded, tmp_path):
    from dashboard.pages.snapshot import main, write_snapshot

    engine, data_dir = seeded
    res = write_snapshot(engine, data_dir, WEEK, lang="en")
    assert res["html"].name == f"{WEEK}.en.html"
    assert "Air-to-power ratio" in res["html"].read_text(encoding="utf-8")
    assert main(["--week", "2026-W99"]) == 2
    assert not list((data_dir / "snapshots").glob("2026-W99*"))


def test_snapshots_page_guarded_and_audited(seeded):
    from dashboard.auth.core import seed_demo_users
    from dashboard.auth.session import init_auth
    from dashboard.pages.snapshot import ensure_last_week, snapshot_blueprint

    engine, data_dir = seeded
    # the scheduler's step: Monday 06:30 CST after the week → writes 2026-W47 once
    monday = datetime(2026, 11, 23, 6, 30, tzinfo=CST)
    assert ensure_last_week(engine, data_dir, now=monday).name == f"{WEEK}.pdf"
    assert ensure_last_week(engine, data_dir, now=monday + timedelta(minutes=1)) is None
    assert ensure_last_week(engine, data_dir, now=datetime(2026, 11, 30, 5, tzinfo=CST)) is None  # not due yet

    seed_demo_users(engine)
    app = Flask(__name__)
    init_auth(app, engine, data_dir=data_dir, secret_key="test-secret")
    app.register_blueprint(snapshot_blueprint(data_dir))
    client = app.test_client()
    anon = client.get("/snapshots", headers={"Accept": "text/html"})
    assert anon.status_code in (302, 401)
    assert client.get(f"/snapshots/{WEEK}.pdf").status_code == 401

    assert client.post("/auth/login", json={"username": "leader", "password": "Leader#2026"}).status_code == 200
    page = client.get("/snapshots")
    assert page.status_code == 200 and WEEK in page.get_data(as_text=True)
    pdf = client.get(f"/snapshots/{WEEK}.pdf")
    assert pdf.status_code == 200 and pdf.data[:4] == b"%PDF"
    assert client.get("/snapshots/..%2Fcc.db").status_code == 404
    with engine.connect() as c:
        rows = c.execute(text("SELECT actor, target, result FROM audit_log WHERE action='snapshot.read' "
                              "ORDER BY id")).all()
    assert ("leader", "snapshots", "ok") in [tuple(r) for r in rows]
    assert ("leader", f"snapshot:{WEEK}.pdf", "ok") in [tuple(r) for r in rows]

    client.post("/auth/logout")
    client.post("/auth/login", json={"username": "engineer", "password": "Field#2026"})
    assert client.get("/snapshots").status_code == 403


def test_of_several_web_processes_only_the_lock_holder_writes_the_weekly_snapshot(seeded, redis_client):
    """Every web process runs the scheduler; the Redis lock lets one write (issue 10), and a lock left by a dead
    process expires."""
    from dashboard.pages.snapshot import ensure_last_week

    engine, data_dir = seeded
    monday = datetime(2026, 11, 23, 6, 30, tzinfo=CST)
    held = redis_client.lock(f"cc:lock:snapshot:{WEEK}", timeout=30)
    assert held.acquire(blocking=False)  # another process is writing
    assert ensure_last_week(engine, data_dir, now=monday, redis_client=redis_client) is None
    assert not (data_dir / "snapshots" / f"{WEEK}.pdf").exists()
    redis_client.pexpire(f"cc:lock:snapshot:{WEEK}", 1)  # that process died: its lock runs out
    wait_for(lambda: not redis_client.exists(f"cc:lock:snapshot:{WEEK}"), 10, "the dead holder's lock expired")
    assert ensure_last_week(engine, data_dir, now=monday, redis_client=redis_client).name == f"{WEEK}.pdf"
    assert not redis_client.exists(f"cc:lock:snapshot:{WEEK}")  # released after writing
    assert ensure_last_week(engine, data_dir, now=monday, redis_client=redis_client) is None
