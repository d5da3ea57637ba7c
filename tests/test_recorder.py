"""Recorder: real Redis stream → real SQLite / PostgreSQL rollups, compared with hand-computed values.

Every test runs on both databases (``database_url`` fixture). Readings are built with the bus classes and written
with :func:`datasources.bus.messages.write_cycle`, exactly as the poller does. No mocks, no sleeps.
"""
from __future__ import annotations

import pytest
from sqlalchemy import text

from datasources.bus.messages import READINGS_STREAM, DeviceReading, StationReading, write_cycle
from datasources.sql.db import make_engine, migrate
from datasources.workers.recorder import Recorder, RecorderConfig, purge_minutes
from datasources.workers.rollup import split_minutes
from ops.station_state import summarise

# 2026-01-05 00:00:00 CST (a Monday) = 2026-01-04T16:00:00Z
T0_S = 1767542400
T0 = T0_S * 1000
E_MAX = 429_496_729.5   # largest uint32 × 0.1 kWh value
ROLLUP_TABLES = ("energy_station_minute", "energy_station_hour", "energy_station_day", "energy_device_minute",
                 "energy_device_hour", "energy_device_day")


@pytest.fixture
def engine(database_url):
    migrate(database_url)
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


def comp(did, ts, energy, air, state, *, power=None, flow=None, online=True, p=0.70, temp=80.0, rh=100.0):
    """A compressor reading; load: 8 m³/min at 60 kW, unload: 0 m³/min at 20 kW unless given."""
    if power is None:
        power = {2: 60.0, 1: 20.0}.get(state, 0.0)
    if flow is None:
        flow = 8.0 if state == 2 else 0.0
    values = {} if not online else {
        "discharge_pressure_mpa": p, "discharge_temp_c": temp, "flow_m3_min": flow, "power_kw": power,
        "energy_kwh": energy, "air_volume_m3": air, "run_state": state, "running_hours_h": rh, "loaded_hours_h": 90.0,
        "fault_code": 0}
    return DeviceReading(did, "compressor", "cc-fixed-speed-compressor", online, ts, values,
                         None if online else "timeout")


def flow_meter(did, ts, total, flow=15.0, online=True):
    values = {"flow_m3_min": flow, "total_m3": total, "pressure_mpa": 0.68, "temperature_c": 30.0} if online else {}
    return DeviceReading(did, "flow_meter", "cc-station-flow-meter", online, ts, values, None if online else "timeout")


def power_meter(did, ts, energy, power=120.0, online=True):
    values = {"power_kw": power, "energy_kwh": energy, "voltage_v": 380.0} if online else {}
    return DeviceReading(did, "power_meter", "cc-station-power-meter", online, ts, values,
                         None if online else "timeout")


def dryer(did, ts):
    return DeviceReading(did, "dryer", "cc-refrigerated-dryer", True, ts, {"dew_point_c": 3.0, "run_state": 2})


def reading(sid, ts, devices, seq=0):
    return StationReading(sid, ts, devices, summarise("built", devices, ts), seq=seq)


def recorder(engine, redis_client, consumer="rec-1", **kw):
    return Recorder(engine, redis_client, RecorderConfig(consumer=consumer, **kw))


def rows(engine, table, key="station_id"):
    """{(key, bucket_ts): row mapping} of a rollup table."""
    with engine.connect() as conn:
        return {(r[key], r["bucket_ts"]): dict(r) for r in conn.execute(text(f"SELECT * FROM {table}")).mappings()}


def snapshot(engine):
    out = {}
    for t in ROLLUP_TABLES:
        out[t] = rows(engine, t, "device_id" if "device" in t else "station_id")
    with engine.connect() as conn:
        out["state"] = sorted(tuple(r) for r in conn.execute(
            text("SELECT station_id, last_ts_ms, devices FROM recorder_station_state")))
    return out


# ------------------------------------------------------------------------------------------- scenario A
# one compressor, no meters; readings at 0, 20, 40, 70, 100, 120 s; the interval [40, 70) crosses a minute.
A_OFFSETS = (0, 20, 40, 70, 100, 120)
A_ENERGY = (1000.0, 1000.4, 1000.8, 1001.4, 1002.0, 1002.4)   # 0.02 kWh/s
A_AIR = (10000, 10004, 10008, 10014, 10020, 10024)               # 0.2 m³/s
A_STATE = (2, 2, 1, 1, 2, 2)


def scenario_a():
    out = []
    for k, off in enumerate(A_OFFSETS):
        ts = T0 + off * 1000
        out.append(reading("SA", ts, [comp("SA-C1", ts, A_ENERGY[k], A_AIR[k], A_STATE[k]), dryer("SA-D1", ts)],
                           seq=k))
    return out


def test_split_minutes():
    assert split_minutes(T0 + 40_000, T0 + 70_000) == [(T0_S, 20.0), (T0_S + 60, 10.0)]
    assert split_minutes(T0, T0 + 150_000) == [(T0_S, 60.0), (T0_S + 60, 60.0), (T0_S + 120, 30.0)]
    assert split_minutes(T0, T0) == []


def test_rollups_equal_hand_computed_values(engine, redis_client):
    write_cycle(redis_client, scenario_a())
    stats = recorder(engine, redis_client).run_until_idle()
    assert stats.processed == 6 and stats.acked == 6 and stats.skipped == 0
    assert redis_client.xpending(READINGS_STREAM, "recorder")["pending"] == 0

    dev = rows(engine, "energy_device_minute", "device_id")
    assert set(dev) == {("SA-C1", T0_S), ("SA-C1", T0_S + 60), ("SA-C1", T0_S + 120)}  # dryer not recorded
    m0, m1, m2 = dev[("SA-C1", T0_S)], dev[("SA-C1", T0_S + 60)], dev[("SA-C1", T0_S + 120)]
    # minute 0: [0,20) load, [20,40) load, [40,60) = 2/3 of the unload interval [40,70)
    assert m0["energy_kwh"] == pytest.approx(0.4 + 0.4 + 0.6 * 2 / 3)
    assert m0["air_m3"] == pytest.approx(4 + 4 + 6 * 2 / 3)
    assert (m0["loaded_s"], m0["unloaded_s"], m0["covered_s"]) == pytest.approx((40, 20, 60))
    assert m0["unloaded_kwh"] == pytest.approx(20.0 * 20 / 3600)       # 20 kW unloaded × 20 s
    assert (m0["samples"], m0["flow_sum"], m0["power_sum"]) == (3, pytest.approx(16.0), pytest.approx(140.0))
    assert (m0["pressure_min"], m0["pressure_max"], m0["temp_max"]) == pytest.approx((0.70, 0.70, 80.0))
    assert (m0["kind"], m0["station_id"], m0["running_hours_h"]) == ("compressor", "SA", 100.0)
    # minute 1: [60,70) = 1/3 of [40,70) unload, [70,100) unload, [100,120) load
    assert m1["energy_kwh"] == pytest.approx(0.2 + 0.6 + 0.4)
    assert m1["air_m3"] == pytest.approx(2 + 6 + 4)
    assert (m1["loaded_s"], m1["unloaded_s"], m1["stopped_s"], m1["fault_s"]) == pytest.approx((20, 40, 0, 0))
    assert m1["unloaded_kwh"] == pytest.approx(20.0 * 40 / 3600)
    assert (m1["samples"], m1["flow_sum"], m1["power_sum"]) == (2, pytest.approx(8.0), pytest.approx(80.0))
    # minute 2: the last reading only (a sample, no interval yet)
    assert (m2["samples"], m2["energy_kwh"], m2["covered_s"]) == (1, 0.0, 0.0)

    hour = rows(engine, "energy_device_hour", "device_id")[("SA-C1", T0_S)]
    assert (hour["energy_kwh"], hour["air_m3"]) == pytest.approx((2.4, 24.0))
    assert (hour["samples"], hour["loaded_s"], hour["unloaded_s"], hour["covered_s"]) == (6, 60, 60, 120)
    day = rows(engine, "energy_device_day", "device_id")[("SA-C1", T0_S)]
    assert (day["energy_kwh"], day["week_ts"], day["month"]) == (pytest.approx(2.4), T0_S, 202601)

    # station rows: no meters → compressor sums; summary flow/power = compressor sums
    st = rows(engine, "energy_station_minute")
    assert set(st) == {("SA", T0_S), ("SA", T0_S + 60), ("SA", T0_S + 120)}
    s0 = st[("SA", T0_S)]
    assert (s0["air_m3"], s0["energy_kwh"]) == pytest.approx((12.0, 1.2))
    assert (s0["comp_air_m3"], s0["comp_energy_kwh"]) == pytest.approx((12.0, 1.2))
    assert (s0["samples"], s0["flow_sum"], s0["power_sum"], s0["covered_s"]) == (3, 16.0, 140.0, 60.0)
    sday = rows(engine, "energy_station_day")[("SA", T0_S)]
    assert (sday["air_m3"], sday["energy_kwh"], sday["loaded_s"], sday["unloaded_s"]) == pytest.approx(
        (24.0, 2.4, 60, 60))
    assert sday["air_m3"] / sday["energy_kwh"] == pytest.approx(10.0)   # 0.2 m³/s ÷ 0.02 kWh/s


def test_replaying_the_same_entries_changes_nothing(engine, redis_client):
    write_cycle(redis_client, scenario_a())
    recorder(engine, redis_client).run_until_idle()
    before = snapshot(engine)
    # rewind the group: every entry is delivered again, to a fresh recorder process
    redis_client.xgroup_setid(READINGS_STREAM, "recorder", "0")
    stats = recorder(engine, redis_client, consumer="rec-2").run_until_idle()
    assert stats.read == 6 and stats.skipped == 6 and stats.processed == 0 and stats.acked == 6
    assert snapshot(engine) == before
    # and a second time through the same process (warm cache)
    rec = recorder(engine, redis_client, consumer="rec-3")
    redis_client.xgroup_setid(READINGS_STREAM, "recorder", "0")
    rec.run_until_idle()
    redis_client.xgroup_setid(READINGS_STREAM, "recorder", "0")
    assert rec.run_until_idle().skipped == 12
    assert snapshot(engine) == before


# ------------------------------------------------------------------------------------------- scenario B
# two compressors + station flow meter + power meter, readings every 30 s for 3 minutes; the flow meter misses the
# reading at 90 s. Meters: 15 m³ and 2.0 kWh per 30 s; compressors: 6 m³ and 0.8 kWh each per 30 s.

def scenario_b(offsets=range(0, 181, 30), fm_offline=(90,)):
    out = []
    for k, off in enumerate(offsets):
        ts = T0 + off * 1000
        i = off // 30
        devs = [comp("SB-C1", ts, 500.0 + 0.8 * i, 1000 + 6 * i, 2),
                comp("SB-C2", ts, 700.0 + 0.8 * i, 3000 + 6 * i, 2),
                flow_meter("SB-FM", ts, 50_000 + 15 * i, online=off not in fm_offline),
                power_meter("SB-PM", ts, 8_000.0 + 2.0 * i)]
        out.append(reading("SB", ts, devs, seq=k))
    return out


def test_station_uses_meters_and_falls_back_to_compressors(engine, redis_client):
    write_cycle(redis_client, scenario_b())
    recorder(engine, redis_client).run_until_idle()
    st = rows(engine, "energy_station_minute")
    m0, m1, m2 = (st[("SB", T0_S + 60 * i)] for i in range(3))
    # air: meter for [0,30),[30,60); compressors for [60,90) (meter offline at 90) and [90,120) (meter back, not
    # continuous: re-baselined); meter again for [120,150),[150,180)
    assert [m0["air_m3"], m1["air_m3"], m2["air_m3"]] == pytest.approx([30.0, 24.0, 30.0])
    assert [m["energy_kwh"] for m in (m0, m1, m2)] == pytest.approx([4.0, 4.0, 4.0])   # power meter throughout
    assert [m["comp_air_m3"] for m in (m0, m1, m2)] == pytest.approx([24.0, 24.0, 24.0])
    assert [m["comp_energy_kwh"] for m in (m0, m1, m2)] == pytest.approx([3.2, 3.2, 3.2])
    assert [m["loaded_s"] for m in (m0, m1, m2)] == pytest.approx([120.0, 120.0, 120.0])  # 2 compressors × 60 s
    # the flow meter's own rows keep its full delta across its 60 s outage (≤ max gap): 30 m³ in minute 1
    fm = rows(engine, "energy_device_minute", "device_id")
    assert fm[("SB-FM", T0_S + 60)]["air_m3"] == pytest.approx(30.0)
    assert fm[("SB-FM", T0_S + 60)]["samples"] == 1        # the reading at 60 s (the one at 90 s is missing)
    assert fm[("SB-FM", T0_S)]["samples"] == 2
    # summary flow/power come from the meters when they answered
    assert m0["flow_sum"] == pytest.approx(30.0) and m0["power_sum"] == pytest.approx(240.0)


# ------------------------------------------------------------------------------------- scenario C: counters

def test_gap_rollover_and_reset(engine, redis_client):
    """Readings at 0, 30 s, then nothing for 600 s (gap), 630, 660 (rollover), 690 (counter reset)."""
    series = [  # offset s, energy kWh (uint32×0.1), air m³ (uint32)
        (0, E_MAX - 0.7, 4_294_967_290),
        (30, E_MAX - 0.1, 4_294_967_294),   # +0.6 kWh, +4 m³
        (630, E_MAX, 4_294_967_295),        # gap of 600 s > 300 s: not attributed
        (660, 0.3, 3),                      # rollover: +0.4 kWh, +4 m³
        (690, 0.1, 1),                      # reset (device replaced): delta = new value 0.1 kWh, 1 m³
    ]
    readings = [reading("SC", T0 + off * 1000, [comp("SC-C1", T0 + off * 1000, e, a, 2)], seq=k)
                for k, (off, e, a) in enumerate(series)]
    write_cycle(redis_client, readings)
    recorder(engine, redis_client).run_until_idle()
    dev = rows(engine, "energy_device_minute", "device_id")
    # gaps stay gaps: no row for minutes 1..9
    assert sorted(b - T0_S for (_, b) in dev) == [0, 600, 660]
    m0, m10, m11 = dev[("SC-C1", T0_S)], dev[("SC-C1", T0_S + 600)], dev[("SC-C1", T0_S + 660)]
    assert (m0["energy_kwh"], m0["air_m3"], m0["covered_s"]) == pytest.approx((0.6, 4.0, 30.0))
    # minute 10 holds the gap mark (reading at 630) and the rollover interval [630, 660)
    assert (m10["gaps"], m10["energy_kwh"], m10["air_m3"], m10["covered_s"]) == (1, pytest.approx(0.4), 4.0, 30.0)
    assert (m11["energy_kwh"], m11["air_m3"], m11["resets"], m11["covered_s"]) == (
        pytest.approx(0.1), 1.0, 2, 30.0)
    hour = rows(engine, "energy_device_hour", "device_id")[("SC-C1", T0_S)]
    assert hour["energy_kwh"] == pytest.approx(1.1) and hour["air_m3"] == pytest.approx(9.0)
    st = rows(engine, "energy_station_minute")
    assert sorted(b - T0_S for (_, b) in st) == [0, 600, 660]
    assert st[("SC", T0_S + 600)]["gaps"] == 1


def test_offline_station_leaves_no_rows(engine, redis_client):
    ts = [T0 + off * 1000 for off in (0, 60, 120, 180)]
    readings = [reading("SD", t, [comp("SD-C1", t, 10.0, 100, 2, online=False)], seq=k) for k, t in enumerate(ts)]
    write_cycle(redis_client, readings)
    stats = recorder(engine, redis_client).run_until_idle()
    assert stats.processed == 4
    assert rows(engine, "energy_station_minute") == {}
    assert rows(engine, "energy_device_minute", "device_id") == {}


# ------------------------------------------------------------------------------------- catch-up / crashes

def test_stopped_recorder_catches_up_without_loss(engine, redis_client, database_url, tmp_path):
    readings = scenario_b(offsets=range(0, 241, 10), fm_offline=())
    first = [r for r in readings if r.ts_ms < T0 + 120_000]
    second = [r for r in readings if r.ts_ms >= T0 + 120_000]
    write_cycle(redis_client, first)
    recorder(engine, redis_client, consumer="rec-a").run_until_idle()
    # the recorder is down while two minutes of readings arrive; then it restarts (same consumer name)
    write_cycle(redis_client, second)
    recorder(engine, redis_client, consumer="rec-a").run_until_idle()
    got = snapshot(engine)

    # reference: one uninterrupted run over the same entries into a second database
    ref_url = f"sqlite:///{tmp_path / 'ref.db'}"
    migrate(ref_url)
    ref = make_engine(ref_url)
    redis_client.xgroup_create(READINGS_STREAM, "reference", id="0")
    Recorder(ref, redis_client, RecorderConfig(consumer="ref", group="reference")).run_until_idle()
    want = snapshot(ref)
    ref.dispose()
    for t in ROLLUP_TABLES:
        assert got[t].keys() == want[t].keys(), t
        for key in got[t]:
            assert got[t][key] == pytest.approx(want[t][key]), (t, key)
    # and the totals are the counters' increases over 0…240 s: flow meter 8 × 15 m³, compressors 2 × 8 × 0.8 kWh
    day = got["energy_station_day"][("SB", T0_S)]
    assert day["air_m3"] == pytest.approx(120.0)
    assert day["comp_energy_kwh"] == pytest.approx(12.8)
    assert day["samples"] == 25 and day["gaps"] == 0


def test_crash_before_commit_loses_nothing(engine, redis_client):
    write_cycle(redis_client, scenario_a())
    crashed = recorder(engine, redis_client, consumer="rec-x")
    crashed.ensure_group()
    crashed.ingest(crashed._read(None))          # delivered, accumulated, never committed nor acked
    assert redis_client.xpending(READINGS_STREAM, "recorder")["pending"] == 6
    del crashed
    # the same consumer restarting re-reads its pending entries
    recorder(engine, redis_client, consumer="rec-x").run_until_idle()
    hour = rows(engine, "energy_device_hour", "device_id")[("SA-C1", T0_S)]
    assert hour["energy_kwh"] == pytest.approx(2.4) and hour["samples"] == 6
    assert redis_client.xpending(READINGS_STREAM, "recorder")["pending"] == 0


def test_dead_consumers_entries_are_claimed(engine, redis_client):
    write_cycle(redis_client, scenario_a())
    dead = recorder(engine, redis_client, consumer="rec-dead")
    dead.ensure_group()
    dead.ingest(dead._read(None))
    # another consumer takes over entries idle ≥ claim_idle_ms (0 here, so no waiting)
    stats = recorder(engine, redis_client, consumer="rec-live", claim_idle_ms=0).run_until_idle()
    assert stats.processed == 6
    hour = rows(engine, "energy_device_hour", "device_id")[("SA-C1", T0_S)]
    assert hour["energy_kwh"] == pytest.approx(2.4)
    assert redis_client.xpending(READINGS_STREAM, "recorder")["pending"] == 0


def test_two_consumers_never_double_count(engine, redis_client):
    write_cycle(redis_client, scenario_a())
    a = recorder(engine, redis_client, consumer="rec-a", read_count=3)
    b = recorder(engine, redis_client, consumer="rec-b", read_count=3)
    a.ensure_group()
    a.ingest(a._read(None))      # entries 1-3, not yet committed
    b.run_until_idle()           # entries 4-6, committed first
    a.flush()                    # conflict: station advanced by b → nothing of a's is committed
    assert a.stats.conflicts == 1
    a.run_until_idle()           # re-reads its pending entries: older than the watermark → skipped, acked
    assert redis_client.xpending(READINGS_STREAM, "recorder")["pending"] == 0
    hour = rows(engine, "energy_device_hour", "device_id")[("SA-C1", T0_S)]
    # only b's readings (70, 100, 120 s) were integrated: [70,120) → 1.0 kWh; never more than the truth (2.4)
    assert hour["energy_kwh"] == pytest.approx(0.6 + 0.4)
    assert hour["samples"] == 3


def test_shards_split_stations(engine, redis_client):
    import zlib
    write_cycle(redis_client, scenario_a() + scenario_b())
    shard_of = {s: zlib.crc32(s.encode()) % 2 for s in ("SA", "SB")}
    for i in (0, 1):
        st = recorder(engine, redis_client, consumer=f"rec-{i}", shard=(i, 2)).run_until_idle()
        assert st.processed == (6 if shard_of["SA"] == i else 0) + (7 if shard_of["SB"] == i else 0)
        assert st.foreign == 13 - st.processed
    assert {k[0] for k in rows(engine, "energy_station_day")} == {"SA", "SB"}


def test_invalid_entries_are_acknowledged(engine, redis_client):
    redis_client.xadd(READINGS_STREAM, {"data": b"not json"})
    redis_client.xadd(READINGS_STREAM, {"data": b'{"v": 99, "type": "station_reading"}'})
    write_cycle(redis_client, scenario_a()[:2])
    stats = recorder(engine, redis_client).run_until_idle()
    assert (stats.invalid, stats.processed, stats.acked) == (2, 2, 4)


def test_purge_minutes_keeps_hours_and_days(engine, redis_client):
    write_cycle(redis_client, scenario_a())
    recorder(engine, redis_client).run_until_idle()
    assert purge_minutes(engine, older_than_days=1, now_s=T0_S + 86400 + 61) == 2 * 2   # station + device, 2 min
    assert len(rows(engine, "energy_station_minute")) == 1
    assert len(rows(engine, "energy_station_hour")) == 1 and len(rows(engine, "energy_device_day", "device_id")) == 1


def test_malformed_values_never_stop_the_recorder(engine, redis_client):
    good = scenario_a()
    bad = reading("SA", T0 + 130_000, [comp("SA-C1", T0 + 130_000, 1002.6, 10026, 2)], seq=9)
    payload = bad.to_json().replace('"energy_kwh":1002.6', '"energy_kwh":"lots"')
    write_cycle(redis_client, good)
    redis_client.xadd(READINGS_STREAM, {"data": payload})
    stats = recorder(engine, redis_client).run_until_idle()
    assert (stats.invalid, stats.processed) == (1, 6)
    assert redis_client.xpending(READINGS_STREAM, "recorder")["pending"] == 0
    assert rows(engine, "energy_device_hour", "device_id")[("SA-C1", T0_S)]["energy_kwh"] == pytest.approx(2.4)


def test_run_recorder_cli_hook_records_live_entries(database_url, redis_url, redis_client, tmp_path):
    """``run_recorder(settings)`` (the hook of ``python -m dashboard record``) in a thread: entries written while it
    runs are committed; it stops on the event with nothing left pending."""
    import threading
    import time

    from datasources.workers.recorder import run_recorder
    from datasources.settings import Settings

    settings = Settings(data_dir=tmp_path, redis_url=redis_url, database_url=database_url)
    stop = threading.Event()
    result = {}
    worker = threading.Thread(target=lambda: result.update(stats=run_recorder(
        settings, stop, RecorderConfig(consumer="cli", block_ms=50, flush_interval_s=0.2))))
    worker.start()
    try:
        write_cycle(redis_client, scenario_a())
        engine = make_engine(database_url)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:      # poll for the outcome (no fixed sleep)
            try:
                hour = rows(engine, "energy_device_hour", "device_id").get(("SA-C1", T0_S))
            except Exception:  # noqa: BLE001 — tables may not exist until the recorder migrated
                hour = None
            if hour and hour["samples"] == 6:
                break
            time.sleep(0.05)
        engine.dispose()
        assert hour and hour["energy_kwh"] == pytest.approx(2.4)
    finally:
        stop.set()
        worker.join(30)
    assert not worker.is_alive() and result["stats"].processed == 6
    assert redis_client.xpending(READINGS_STREAM, "recorder")["pending"] == 0
