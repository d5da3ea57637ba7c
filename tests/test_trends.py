"""Trend, ranking and baseline queries (datasources.sql.energy_store) on SQLite and PostgreSQL, checked against direct
computations from the rollup rows; demo history (datasources.sim.history) plausibility and idempotency."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import pytest
from sqlalchemy import text

from datasources.sql.db import make_engine, migrate
from datasources.sql.energy_store import (comparison_starts, degradation_flags, rank_stations, ratio_breakdown,
                                          ratio_series, ratio_trend)
from datasources.sql.rollup_writes import write_rollups
from datasources.sql.fleet_spec import DeviceSpec, StationSpec
from datasources.sim.history import generate_history
from datasources.sql.repository import save_fleet
from geo.scope import Scope
from ops.energy import CST, bucket_start, month_key

STATIONS = [  # id, province, city, compressors (rated flow m³/min, specific power kW/(m³/min))
    ("T1", "320000", "320100", [(20.0, 6.5), (10.0, 7.0)]),
    ("T2", "320000", "320200", [(30.0, 6.8)]),
    ("T3", "440000", "440100", [(15.0, 7.2), (15.0, 7.2), (25.0, 6.6)]),
    ("T4", "320000", "320100", [(40.0, 6.2)]),
]


def fleet() -> list[StationSpec]:
    out, unit = [], 0
    for sid, prov, city, comps in STATIONS:
        devs = []
        for i, (flow, sp) in enumerate(comps, start=1):
            unit += 1
            devs.append(DeviceSpec(f"{sid}-C{i}", sid, "compressor", "cc-fixed-speed-compressor", "127.0.0.1", 15020,
                                   unit, flow, flow * sp, sp))
        out.append(StationSpec(sid, f"站{sid}", f"Station {sid}", "smart_station", "built", 118.8, 32.0, prov, city,
                               sum(c[0] for c in comps), "partner", tuple(devs)))
    return out


@pytest.fixture
def engine(database_url):
    migrate(database_url)
    eng = make_engine(database_url)
    save_fleet(eng, fleet())
    yield eng
    eng.dispose()


def cst(*args) -> datetime:
    return datetime(*args, tzinfo=CST)


def ts(*args) -> int:
    return int(cst(*args).timestamp())


def put(engine, hourly: dict[tuple[str, int], tuple[float, float]]) -> None:
    """Write station hour rows ``{(station, hour_ts): (air, energy)}`` and their CST-day sums as day rows."""
    hours, days = [], defaultdict(lambda: [0.0, 0.0, 0])
    for (sid, h), (air, energy) in sorted(hourly.items()):
        hours.append((sid, h, 3600, air * 60, energy * 3600, air, energy, 3600.0, 0, 0, 0, 0, 0, 0.6, 0.7, 0, 0,
                      air, energy))
        d = days[(sid, bucket_start(h, "day"))]
        d[0] += air
        d[1] += energy
        d[2] += 1
    day_rows = [(sid, d, bucket_start(d, "week"), month_key(d), n * 3600, a * 60, e * 3600, a, e, n * 3600.0, 0, 0,
                 0, 0, 0, 0.6, 0.7, 0, 0, a, e) for (sid, d), (a, e, n) in sorted(days.items())]
    with engine.begin() as conn:
        write_rollups(conn, "station", "hour", hours, upsert=False)
        write_rollups(conn, "station", "day", day_rows, upsert=False)


def day_series(sid, start, days, air, energy):
    """Hourly rows of one station: ``air``/``energy`` per day spread evenly over 24 hours."""
    return {(sid, start + h * 3600): (air / 24, energy / 24) for h in range(days * 24)}


# ------------------------------------------------------------------------------------------ hand-built rows

def test_trend_equals_sums_and_aligns_previous_and_year_ago(engine):
    rows = {}
    # current period 10–11 Jan 2026, previous 8–9 Jan 2026, a year before 10–11 Jan 2025
    rows |= day_series("T1", ts(2026, 1, 10), 2, 2400.0, 300.0)     # 8.0
    rows |= day_series("T2", ts(2026, 1, 10), 2, 1400.0, 200.0)     # 7.0
    rows |= day_series("T3", ts(2026, 1, 10), 2, 9000.0, 1000.0)    # other province: must not count
    rows |= day_series("T1", ts(2026, 1, 8), 2, 2000.0, 250.0)
    rows |= day_series("T2", ts(2026, 1, 8), 2, 1000.0, 150.0)
    rows |= day_series("T1", ts(2025, 1, 10), 2, 2100.0, 300.0)
    put(engine, rows)

    tr = ratio_trend(engine, "province:320000", cst(2026, 1, 10), cst(2026, 1, 12), "day")
    assert [p.start for p in tr.points] == [cst(2026, 1, 10), cst(2026, 1, 11)]
    p0 = tr.points[0]
    assert (p0.air_m3, p0.energy_kwh) == pytest.approx((3800.0, 500.0))
    assert p0.ratio == pytest.approx(3800 / 500)                       # Σair/Σenergy = 7.6, not mean(8, 7) = 7.5
    assert p0.specific_power == pytest.approx(60 / 7.6)
    assert p0.reports == 2
    assert (p0.prev_start, p0.prev_ratio) == (cst(2026, 1, 8), pytest.approx(3000 / 400))
    assert (p0.yoy_start, p0.yoy_ratio) == (cst(2025, 1, 10), pytest.approx(7.0))
    assert p0.vs_prev_pct == pytest.approx((7.6 - 7.5) / 7.5 * 100)
    assert (tr.prev_start, tr.prev_end) == (cst(2026, 1, 8), cst(2026, 1, 10))
    assert (tr.yoy_start, tr.yoy_end) == (cst(2025, 1, 10), cst(2025, 1, 12))
    assert (tr.air_m3, tr.energy_kwh, tr.prev_air_m3, tr.yoy_air_m3) == pytest.approx((7600, 1000, 6000, 4200))
    frame = tr.to_frame()
    assert list(frame.index) == [cst(2026, 1, 10), cst(2026, 1, 11)]
    assert frame["ratio"].tolist() == pytest.approx([7.6, 7.6]) and "vs_yoy_pct" in frame.columns

    # hour granularity over the same range reads the hour rows: 48 buckets, each 1/24 of the day
    th = ratio_trend(engine, "province:320000", cst(2026, 1, 10), cst(2026, 1, 12), "hour")
    assert len(th.points) == 48
    assert th.points[5].air_m3 == pytest.approx(3800 / 24) and th.points[5].ratio == pytest.approx(7.6)
    assert th.points[5].prev_start == cst(2026, 1, 8, 5) and th.points[5].yoy_start == cst(2025, 1, 10, 5)
    assert th.air_m3 == pytest.approx(tr.air_m3)

    # city and station scopes; the nation counts every station
    assert ratio_trend(engine, "city:320200", cst(2026, 1, 10), cst(2026, 1, 11)).ratio == pytest.approx(7.0)
    assert ratio_trend(engine, "station:T1", cst(2026, 1, 10), cst(2026, 1, 11)).ratio == pytest.approx(8.0)
    nation = ratio_trend(engine, "nation", cst(2026, 1, 10), cst(2026, 1, 12), compare=False)
    assert nation.air_m3 == pytest.approx(2 * (2400 + 1400 + 9000)) and nation.prev_start is None
    assert ratio_breakdown(engine, "nation", cst(2026, 1, 10), cst(2026, 1, 12))["320000"]["ratio"] == \
        pytest.approx(7.6)


def test_buckets_without_rows_are_gaps_not_zeros(engine):
    put(engine, day_series("T1", ts(2026, 3, 2), 1, 800.0, 100.0) | day_series("T1", ts(2026, 3, 4), 1, 900.0, 100.0))
    series = ratio_series(engine, "station:T1", cst(2026, 3, 2), cst(2026, 3, 5), "day")
    assert [s["reports"] for s in series] == [1, 0, 1]
    assert series[1]["ratio"] is None and series[1]["air_m3"] is None
    assert series[2]["ratio"] == pytest.approx(9.0)


def test_week_and_month_buckets_are_cst_calendar_units(engine):
    # 31 Mar 2026 23:00 CST belongs to March although it is 15:00 UTC; 1 Apr 00:00 CST to April
    put(engine, {("T1", ts(2026, 3, 31, 23)): (800.0, 100.0), ("T1", ts(2026, 4, 1, 0)): (600.0, 100.0)})
    months = ratio_trend(engine, "T1", cst(2026, 3, 1), cst(2026, 5, 1), "month")
    assert [(p.start, p.air_m3) for p in months.points] == [(cst(2026, 3, 1), 800.0), (cst(2026, 4, 1), 600.0)]
    assert months.points[0].prev_start == cst(2026, 1, 1) and months.points[0].yoy_start == cst(2025, 3, 1)
    weeks = ratio_trend(engine, "T1", cst(2026, 3, 31), cst(2026, 4, 2), "week")   # widened to whole ISO weeks
    assert [p.start for p in weeks.points] == [cst(2026, 3, 30)]                   # Monday
    assert weeks.points[0].air_m3 == pytest.approx(1400.0)
    assert weeks.points[0].yoy_start == cst(2025, 3, 31)                           # 52 weeks before, a Monday


def test_comparison_alignment_rules():
    feb29 = [ts(2028, 2, 29, 10)]
    prev, yoy = comparison_starts(feb29, "hour")
    assert prev == [ts(2028, 2, 29, 9)] and yoy == [ts(2027, 2, 28, 10)]
    days = [ts(2026, 1, 10), ts(2026, 1, 11), ts(2026, 1, 12)]
    assert comparison_starts(days, "day")[0] == [ts(2026, 1, 7), ts(2026, 1, 8), ts(2026, 1, 9)]
    months = [ts(2026, 1, 1), ts(2026, 2, 1)]
    assert comparison_starts(months, "month") == ([ts(2025, 11, 1), ts(2025, 12, 1)],
                                                  [ts(2025, 1, 1), ts(2025, 2, 1)])


def test_bad_arguments_raise(engine):
    with pytest.raises(ValueError, match="timezone-aware"):
        ratio_trend(engine, "nation", datetime(2026, 1, 1), datetime(2026, 1, 2))
    with pytest.raises(ValueError, match="after"):
        ratio_trend(engine, "nation", cst(2026, 1, 2), cst(2026, 1, 1))
    with pytest.raises(ValueError, match="granularity"):
        ratio_trend(engine, "nation", cst(2026, 1, 1), cst(2026, 1, 2), "minute")
    with pytest.raises(ValueError, match="6 digits"):
        Scope.parse("province:32")
    assert (Scope.parse("320000", shorthand=True) == Scope("province", "320000")
            and Scope.parse("320100", shorthand=True) == Scope("city", "320100"))
    assert str(Scope.parse("ST00001", shorthand=True)) == "station:ST00001"


def test_ranking_best_to_worst(engine):
    rows = {}
    for sid, air, energy in (("T1", 800.0, 100.0), ("T2", 950.0, 100.0), ("T3", 1200.0, 200.0), ("T4", 700.0, 100.0)):
        rows |= day_series(sid, ts(2026, 5, 1), 3, air, energy)
    put(engine, rows)
    ranked = rank_stations(engine, "nation", cst(2026, 5, 1), cst(2026, 5, 4))
    assert [(r.rank, r.station_id) for r in ranked] == [(1, "T2"), (2, "T1"), (3, "T4"), (4, "T3")]
    assert ranked[0].ratio == pytest.approx(9.5) and ranked[0].energy_kwh == pytest.approx(300.0)
    assert ranked[0].name == "站T2" and ranked[0].province_adcode == "320000"
    assert [r.station_id for r in rank_stations(engine, "province:320000", cst(2026, 5, 1), cst(2026, 5, 4),
                                                limit=2)] == ["T2", "T1"]
    # a range not on whole days reads the hour rows: 1 May 12:00 to 2 May 12:00 = one day of each
    half = rank_stations(engine, "city:320100", cst(2026, 5, 1, 12), cst(2026, 5, 2, 12))
    assert [(r.station_id, round(r.air_m3, 6)) for r in half] == [("T1", 800.0), ("T4", 700.0)]


def test_degradation_flag_against_own_baseline(engine):
    end = ts(2026, 6, 29)
    rows = {}
    rows |= day_series("T1", end - 35 * 86400, 28, 800.0, 100.0)        # baseline 8.0
    rows |= day_series("T1", end - 7 * 86400, 7, 700.0, 100.0)          # last week 7.0: −12.5 % → flagged
    rows |= day_series("T2", end - 35 * 86400, 28, 800.0, 100.0)
    rows |= day_series("T2", end - 7 * 86400, 7, 760.0, 100.0)          # −5 %: not flagged
    rows |= day_series("T3", end - 7 * 86400, 7, 500.0, 100.0)          # no baseline: not assessed
    put(engine, rows)
    flags = degradation_flags(engine, "nation", end=cst(2026, 6, 29))
    assert [(f.station_id, round(f.drop_pct, 6)) for f in flags] == [("T1", 12.5)]
    assert flags[0].baseline == pytest.approx(8.0) and flags[0].current == pytest.approx(7.0) and flags[0].flagged
    every = degradation_flags(engine, "province:320000", end=cst(2026, 6, 29), flagged_only=False)
    assert [f.station_id for f in every] == ["T1", "T2"]
    assert degradation_flags(engine, "nation", end=cst(2026, 6, 29), threshold_pct=15) == []


# ------------------------------------------------------------------------------------- generated history

def test_history_trends_match_a_direct_computation(engine):
    end = cst(2026, 11, 16, 10)
    rep = generate_history(engine, fleet(), seed=3, end=end, days=560, minute_hours=6, device_hour_days=2,
                           degrading_share=0.0)
    assert not rep.skipped and rep.stations == 4
    assert rep.rows["station_hour"] > 4 * 560 * 24 * 0.98          # a few outage hours are missing
    assert rep.rows["station_minute"] == pytest.approx(4 * 6 * 60, abs=4 * 12 * 60)
    again = generate_history(engine, fleet(), seed=3, end=end, days=560)
    assert again.skipped

    with engine.connect() as conn:
        hours = conn.execute(text("SELECT station_id, bucket_ts, air_m3, energy_kwh FROM energy_station_hour")).all()
        days = conn.execute(text("SELECT station_id, bucket_ts, air_m3, energy_kwh FROM energy_station_day")).all()
        minute_sum = conn.execute(text("SELECT SUM(air_m3) FROM energy_station_minute")).scalar()
        last_hours = conn.execute(text("SELECT SUM(air_m3) FROM energy_station_hour WHERE bucket_ts >= :a"),
                                  {"a": int(end.timestamp()) - 6 * 3600}).scalar()
    assert minute_sum == pytest.approx(last_hours)                  # minutes add up to their hours
    prov = {"T1", "T2", "T4"}
    day_of = defaultdict(lambda: [0.0, 0.0])
    for sid, h, air, energy in hours:
        day_of[(sid, bucket_start(h, "day"))][0] += air
        day_of[(sid, bucket_start(h, "day"))][1] += energy
    for sid, d, air, energy in days:                                 # day rows = Σ of their CST hours
        assert (air, energy) == pytest.approx(tuple(day_of[(sid, d)]))

    start, stop = cst(2026, 6, 3), cst(2026, 11, 1)
    for gran, rows_ in (("hour", hours), ("day", days), ("week", days), ("month", days)):
        tr = ratio_trend(engine, "province:320000", start, stop, gran)
        a, b = tr.start.timestamp(), tr.end.timestamp()             # the range widened to whole buckets
        assert a == bucket_start(start.timestamp(), gran) and bucket_start(b - 1, gran) == bucket_start(
            stop.timestamp() - 1, gran)
        want = defaultdict(lambda: [0.0, 0.0])
        for sid, k, air, energy in rows_:
            if sid in prov and a <= k < b:
                want[bucket_start(k, gran)][0] += air
                want[bucket_start(k, gran)][1] += energy
        got = {int(p.start.timestamp()): (p.air_m3, p.energy_kwh) for p in tr.points if p.reports}
        assert got.keys() == want.keys(), gran
        for k in got:
            assert got[k] == pytest.approx(tuple(want[k])), (gran, k)
        # the year-ago bucket of each point is the same computation one year earlier
        p = tr.points[len(tr.points) // 2]
        yk = int(p.yoy_start.timestamp())
        y_air = sum(air for sid, k, air, _ in rows_ if sid in prov and bucket_start(k, gran) == yk)
        assert y_air > 0 and p.yoy_air_m3 == pytest.approx(y_air), gran

    # plausibility: daily station ratios 6–10 m³/kWh (Spring Festival shutdown days may dip below)
    ratios = sorted(air / energy for _, _, air, energy in days if energy > 0)
    assert 6.0 <= ratios[len(ratios) // 20] and ratios[-len(ratios) // 20] <= 10.0


def test_history_degrading_stations_are_flagged(engine):
    end = cst(2026, 11, 16, 0)
    generate_history(engine, fleet(), seed=5, end=end, days=60, minute_hours=0, devices=False, degrading_share=1.0)
    flags = degradation_flags(engine, "nation", end=end)
    assert {f.station_id for f in flags} == {"T1", "T2", "T3", "T4"}
    assert all(f.drop_pct > 10 for f in flags)
    # deterministic by seed: a replaced run writes the same rows
    with engine.connect() as conn:
        before = conn.execute(text("SELECT SUM(air_m3), SUM(energy_kwh), COUNT(*) FROM energy_station_hour")).one()
    generate_history(engine, fleet(), seed=5, end=end, days=60, minute_hours=0, devices=False, degrading_share=1.0,
                     replace=True)
    with engine.connect() as conn:
        after = conn.execute(text("SELECT SUM(air_m3), SUM(energy_kwh), COUNT(*) FROM energy_station_hour")).one()
    assert tuple(after) == pytest.approx(tuple(before))


def test_compressor_kpis_from_device_rollups(engine):
    end = cst(2026, 11, 16, 0)
    generate_history(engine, fleet(), seed=9, end=end, days=10, minute_hours=0, device_hour_days=3)
    from datasources.sql.energy_store import compressor_kpis
    kpis = compressor_kpis(engine, "T1", cst(2026, 11, 9), cst(2026, 11, 16))
    assert [k.device_id for k in kpis] == ["T1-C1", "T1-C2"]
    st = ratio_trend(engine, "station:T1", cst(2026, 11, 9), cst(2026, 11, 16), compare=False)
    with engine.connect() as conn:
        comp_air = conn.execute(text("SELECT SUM(comp_air_m3) FROM energy_station_day WHERE station_id = 'T1' "
                                     "AND bucket_ts >= :a AND bucket_ts < :b"),
                                {"a": ts(2026, 11, 9), "b": ts(2026, 11, 16)}).scalar()
    assert sum(k.air_m3 for k in kpis) == pytest.approx(comp_air)     # compressors add up to the station's sum
    assert st.air_m3 < comp_air                                        # the meter reads a little below them
    for k in kpis:
        assert 5.0 < k.ratio < 11.0 and k.specific_power == pytest.approx(60 / k.ratio)
        assert 0 < k.load_ratio < 1 and k.unloaded_kwh > 0 and k.running_hours_h > 5000
        assert k.grade is not None and "illustrative" in k.grade.note
    hourly = compressor_kpis(engine, "T1", cst(2026, 11, 14, 6), cst(2026, 11, 15, 6))   # hour rows
    assert len(hourly) == 2 and all(h.air_m3 > 0 for h in hourly)


def test_history_stops_where_recorded_data_begins(engine):
    """The live recorder ran first (rows from 10:00 on 15 Nov for T1): history fills T1 only up to 10:00 and merges
    that day's row; the other stations get the whole range; a second call changes nothing."""
    end = cst(2026, 11, 16, 0)
    live = {("T1", ts(2026, 11, 15, h)): (500.0, 60.0) for h in range(10, 24)}
    put(engine, live)
    rep = generate_history(engine, fleet(), seed=4, end=end, days=20, minute_hours=0, devices=False)
    assert rep.stations == 4 and not rep.skipped
    with engine.connect() as conn:
        t1_hours = conn.execute(text("SELECT bucket_ts, air_m3 FROM energy_station_hour WHERE station_id = 'T1' "
                                     "AND bucket_ts >= :a"), {"a": ts(2026, 11, 15)}).all()
        t1_day = conn.execute(text("SELECT air_m3 FROM energy_station_day WHERE station_id = 'T1' AND bucket_ts = :d"),
                              {"d": ts(2026, 11, 15)}).scalar()
        n_t2 = conn.execute(text("SELECT COUNT(*) FROM energy_station_hour WHERE station_id = 'T2'")).scalar()
    assert len(t1_hours) == 24                                          # 10 history hours + 14 live hours
    assert [a for h, a in sorted(t1_hours)][10:] == [500.0] * 14        # live rows untouched
    assert t1_day == pytest.approx(sum(a for _, a in t1_hours))         # merged day row = all its hours
    assert n_t2 > 20 * 24 * 0.95
    assert generate_history(engine, fleet(), seed=4, end=end, days=20).skipped
