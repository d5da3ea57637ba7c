"""Pipe sensors as Modbus devices: simulated physics, the alarm engine as the only judge of low pipe pressure, and an
open alarm of any rule colouring its station. Real Redis, real SQL, real Modbus TCP (when the profile loads)."""
from __future__ import annotations

from tests.test_alarm_engine import wait_for as _wait_for

import asyncio
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

import datasources.modbus.profiles as profiles_mod
from datasources.workers.alarm_engine import STATION_ALARM_HASH, AlarmEngine, active_severities
from datasources.bus.messages import DeviceReading, StationReading, StationSummary, write_cycle
from datasources.sql.db import make_engine, migrate
from datasources.sql.fleet_spec import DeviceSpec, StationSpec
from datasources.sim.physics import FleetPhysics
from datasources.sim.physics_constants import PIPE_LEAK_RATIO
from layers.live import effective_state
from ops.alarm_rules import load_rules
from ops.station_state import fold_open_alarm

HOST = "127.0.0.1"
T0 = 1_763_700_000_000
SID = "ST00077"
PS = "PS-310100-0001"
WEEKDAY_10H = datetime(2025, 11, 19, 2, 0, tzinfo=timezone.utc).timestamp()
PROFILE_FILE = Path(profiles_mod.__file__).parent / "profiles" / "pipe_sensor.yaml"
PROFILE_READY = "pipe_sensor" in profiles_mod.DEVICE_KINDS and PROFILE_FILE.exists()


def wait_for(predicate, timeout: float = 15.0, what: str = "condition"):
    return _wait_for(predicate, timeout, what)


def fleet_with_pipe_sensor(port: int) -> list[StationSpec]:
    devices = (DeviceSpec(f"{SID}-C1", SID, "compressor", "cc-fixed-speed-compressor", HOST, port, 1, 10.0, 64.0, 6.4),
               DeviceSpec(f"{SID}-FM", SID, "flow_meter", "cc-station-flow-meter", HOST, port, 2),
               DeviceSpec(f"{SID}-IO", SID, "station_io", "cc-station-io", HOST, port, 3),
               DeviceSpec(PS, SID, "pipe_sensor", "cc-pipe-sensor", HOST, port, 4))
    return [StationSpec(SID, SID, SID, "smart_station", "built", 121.47, 31.23, "310000", "310100", 10.0,
                        "test partner", devices, simulated=True)]


# ------------------------------------------------------------------ physics (no I/O)

def test_pipe_sensor_physics_near_nominal_and_pipe_leak_below_the_set_point():
    ph = FleetPhysics(fleet_with_pipe_sensor(15020), seed=5, now_s=WEEKDAY_10H)
    ph.set_pipe(PS, 0.4)  # a 0.4 MPa gas line: set point 0.8 × 0.4 = 0.32 MPa
    seen = []
    for _ in range(60):
        ph.step(5.0)
        v = ph.device_values(PS)
        seen.append(v["pressure_mpa"])
        assert v["nominal_pressure_mpa"] == 0.4 and v["low_pressure_threshold_mpa"] == pytest.approx(0.32)
    assert all(0.4 * 0.98 <= p <= 0.4 * 1.02 for p in seen) and max(seen) - min(seen) > 0.001, "noisy, near nominal"
    ph.set_fault(SID, "pipe_leak")
    ph.step(1.0)
    leak = ph.device_values(PS)["pressure_mpa"]
    assert leak == pytest.approx(0.4 * PIPE_LEAK_RATIO) and leak < 0.32
    ph.set_fault(SID, "pipe_leak", on=False)
    ph.step(1.0)
    assert ph.device_values(PS)["pressure_mpa"] > 0.32
    with pytest.raises(ValueError, match="not a pipe_sensor"):
        ph.set_pipe(f"{SID}-FM", 0.7)
    with pytest.raises(ValueError, match="low_pressure_mpa"):
        ph.set_pipe(PS, 0.4, 0.5)


def test_fold_open_alarm_any_severity_but_not_over_offline():
    assert [fold_open_alarm("running", s) for s in (1, 2, 3, 4)] == ["alarm"] * 4
    assert fold_open_alarm("idle", None) == "idle"
    assert fold_open_alarm("offline", 1) == "offline" and fold_open_alarm("not_built", 2) == "not_built"
    with pytest.raises(ValueError):
        fold_open_alarm("idle", 7)


# ------------------------------------------------------------------ the engine judges (real Redis stream, real SQL)

def pipe_reading(t_s: float, pressure_mpa: float) -> StationReading:
    ts = T0 + int(t_s * 1000)
    devices = [
        DeviceReading(device_id=f"{SID}-FM", kind="flow_meter", model="cc-station-flow-meter", online=True, ts_ms=ts,
                      values={"flow_m3_min": 8.0, "pressure_mpa": 0.68}),
        DeviceReading(device_id=PS, kind="pipe_sensor", model="cc-pipe-sensor", online=True, ts_ms=ts,
                      values={"pressure_mpa": pressure_mpa, "low_pressure_threshold_mpa": 0.32,
                              "nominal_pressure_mpa": 0.4, "sensor_fault": 0}),
    ]
    summary = StationSummary(state="idle", devices_online=2, devices_total=2, compressors_loaded=0,
                             compressors_total=0, flow_m3_min=8.0, power_kw=0.0, discharge_pressure_mpa=0.68,
                             ts_ms=ts)
    return StationReading(station_id=SID, ts_ms=ts, devices=devices, summary=summary)


@pytest.fixture
def db(database_url):
    migrate(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def test_low_pipe_pressure_is_raised_by_the_engine_with_station_and_colours_the_station(db, redis_client):
    engine = AlarmEngine(db, redis_client, load_rules(), consumer="pipes", batch=50)
    stop = threading.Event()
    engine.start()
    thread = threading.Thread(target=engine.run, args=(stop,), kwargs={"block_ms": 100}, daemon=True)
    thread.start()
    try:
        # 0.35 MPa: below the rule's fallback (0.56) but above this sensor's own set point (0.32): no alarm
        write_cycle(redis_client, [pipe_reading(t, 0.35) for t in range(0, 3)])
        wait_for(lambda: engine.stats["readings"] >= 3, what="3 readings")
        assert engine.stats["raised"] == 0
        # leak: 0.24 MPa for longer than on_delay_s (5 s)
        write_cycle(redis_client, [pipe_reading(t, 0.24) for t in range(3, 10)])
        wait_for(lambda: engine.stats["raised"] >= 1, what="low-pressure alarm raised")
        sev = active_severities(db, [SID])
        assert sev == {SID: 2}
        assert redis_client.hget(STATION_ALARM_HASH, SID) in (b"2", "2")
        from datasources.sql import alarm_store  # noqa: PLC0415
        rows = [a for a in alarm_store.list_alarms(db, open_only=True, station_id=SID)]
        assert [(a["rule"], a["station_id"], a["device_id"], a["severity"], a["threshold"]) for a in rows] == [
            ("pipe_pressure_low", SID, PS, 2, 0.32)]
        summary = {"state": "idle", "ts_ms": T0}
        assert effective_state(None, summary, T0, 0, sev.get(SID)) == "alarm"
        # fault removed: back above 0.32 + 0.01 hysteresis for longer than off_delay_s
        write_cycle(redis_client, [pipe_reading(t, 0.40) for t in range(10, 17)])
        wait_for(lambda: engine.stats["cleared"] >= 1, what="alarm cleared")
        assert active_severities(db, [SID]) == {}
        assert redis_client.hget(STATION_ALARM_HASH, SID) is None
        assert effective_state(None, summary, T0, 0, active_severities(db, [SID]).get(SID)) == "idle"
    finally:
        stop.set()
        thread.join(timeout=10)


# ------------------------------------------------------------------ real Modbus: simulator → poller → Redis → engine

@pytest.mark.skipif(not PROFILE_READY, reason="needs 'pipe_sensor' in datasources/modbus/profiles.py DEVICE_KINDS and "
                                              "datasources/modbus/profiles/pipe_sensor.yaml (the lead renames the .draft)")
def test_pipe_sensor_read_by_the_poller_and_pipe_leak_alarm_through_the_engine(db, redis_url, redis_client):
    from datasources.bus.messages import parse_latest  # noqa: PLC0415
    from datasources.modbus.poller import Poller  # noqa: PLC0415
    from datasources.modbus.profiles import load_profiles  # noqa: PLC0415
    from datasources.bus.redis_server import free_port  # noqa: PLC0415
    from datasources.sim.simulator import FleetSimulator  # noqa: PLC0415

    fleet = fleet_with_pipe_sensor(free_port())
    profiles = load_profiles()
    engine = AlarmEngine(db, redis_client, load_rules(), consumer="pipes-modbus", batch=50, start_id="0")
    stop = threading.Event()

    async def scenario():
        sim = FleetSimulator(fleet, profiles, seed=9, tick_s=0.2, start_time_s=WEEKDAY_10H)
        sim.set_pipe_setpoints({PS: (0.4, 0.32)})
        await sim.start()
        poller = Poller(fleet, profiles, redis_url, interval_s=0.2, timeout_s=1.0)
        task = asyncio.create_task(poller.run())

        async def until(pred, what, timeout=30.0):
            deadline = time.monotonic() + timeout
            while not pred():
                if time.monotonic() > deadline:
                    raise AssertionError(f"timed out waiting for {what}")
                await asyncio.sleep(0.05)

        def latest():
            raw = redis_client.hgetall(f"cc:latest:{PS}")
            return parse_latest(raw) if raw else None

        try:
            await until(lambda: (v := latest()) and v["online"] and "pressure_mpa" in v["values"], "sensor polled")
            v = latest()["values"]
            assert 0.39 <= v["pressure_mpa"] <= 0.41 and v["low_pressure_threshold_mpa"] == pytest.approx(0.32)
            sim.inject_fault(SID, "pipe_leak")
            await until(lambda: engine.stats["raised"] >= 1, "alarm raised", 40)
            assert active_severities(db, [SID]) == {SID: 2}
            sim.inject_fault(SID, "pipe_leak", on=False)
            await until(lambda: engine.stats["cleared"] >= 1, "alarm cleared", 40)
            assert active_severities(db, [SID]) == {}
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await sim.stop()

    engine.start()
    thread = threading.Thread(target=engine.run, args=(stop,), kwargs={"block_ms": 100}, daemon=True)
    thread.start()
    try:
        asyncio.run(asyncio.wait_for(scenario(), 120))
    finally:
        stop.set()
        thread.join(timeout=10)


def test_attach_pipe_sensors_makes_devices_on_the_nearest_station(db):
    from datasources.sql.city_models import Pipeline  # noqa: PLC0415
    from datasources.sim.pipe_sensors import attach_pipe_sensors, pipe_sensor_setpoints  # noqa: PLC0415
    from datasources.sql.models import Device  # noqa: PLC0415
    from datasources.sql.repository import save_fleet  # noqa: PLC0415

    near = StationSpec("ST90001", "a", "a", "smart_station", "built", 121.40, 31.20, "310000", "310100", 10.0, "p",
                       (DeviceSpec("ST90001-FM", "ST90001", "flow_meter", "cc-station-flow-meter", HOST, 15020, 1),),
                       simulated=True)
    far = StationSpec("ST90002", "b", "b", "smart_station", "built", 121.90, 31.60, "310000", "310100", 10.0, "p",
                      (DeviceSpec("ST90002-FM", "ST90002", "flow_meter", "cc-station-flow-meter", HOST, 15021, 1),),
                      simulated=True)
    save_fleet(db, [near, far])
    with Session(db) as s:
        s.add(Pipeline(pipeline_id="UG-1", kind="underground", medium="gas", name="g", name_en="g",
                       geometry='{"type":"LineString","coordinates":[[121.41,31.21],[121.42,31.22]]}',
                       min_lon=121.41, min_lat=31.21, max_lon=121.42, max_lat=31.22, length_m=1500.0,
                       province_adcode="310000", city_adcode="310100", nominal_pressure_mpa=0.4,
                       low_pressure_mpa=None, sensor_device_id="PS-310100-0001"))
        s.commit()
    assert attach_pipe_sensors(db) == 1
    assert attach_pipe_sensors(db) == 0, "idempotent"
    with Session(db) as s:
        dev = s.get(Device, "PS-310100-0001")
        assert (dev.station_id, dev.kind, dev.model, dev.host, dev.port, dev.unit_id) == (
            "ST90001", "pipe_sensor", "cc-pipe-sensor", HOST, 15022, 1)
    assert pipe_sensor_setpoints(db) == {"PS-310100-0001": (0.4, 0.32)}
