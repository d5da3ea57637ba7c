"""The simulated fleet: physics (pure) and the pymodbus TCP servers, read and written by a real pymodbus client.

Real TCP on loopback, real Redis (conftest fixtures); no mocks. Where something happens asynchronously the test
polls for the condition with a deadline; where the simulator can be stepped (``tick_s=None`` + ``advance``) the
test steps simulated time instead of waiting.
"""
from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timezone

import numpy as np
import pytest
import redis
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException
from pymodbus.pdu import ExceptionResponse

from datasources.bus.messages import SIM_CONTROL_CHANNEL
from datasources.sql.fleet_spec import DeviceSpec, StationSpec
from datasources.modbus.codec import decode_block, plan_blocks
from datasources.modbus.profiles import default_profiles
from datasources.bus.redis_server import EmbeddedRedis, free_port
from datasources.sim.physics import FleetPhysics
from datasources.sim.physics_constants import FAULTS
from datasources.sim.simulator import FleetSimulator

HOST = "127.0.0.1"
#: Wednesday 2025-11-19 10:00 China Standard Time: day shift everywhere
WEEKDAY_10H = datetime(2025, 11, 19, 2, 0, tzinfo=timezone.utc).timestamp()
PROFILES = default_profiles()
FIXED, VSD = "cc-fixed-speed-compressor", "cc-variable-speed-compressor"
AUX = (("D1", "dryer", "cc-refrigerated-dryer"), ("FM", "flow_meter", "cc-station-flow-meter"),
       ("PM", "power_meter", "cc-station-power-meter"), ("IO", "station_io", "cc-station-io"))


# ----------------------------------------------------------------------------------------------------- fleets
def _station(sid: str, port: int, first_unit: int, compressors: list[tuple[str, float, float]],
             lifecycle: str = "built") -> StationSpec:
    """A station with the given compressors ``(model, rated flow m³/min, specific power)`` + dryer, meters, I/O."""
    devices: list[DeviceSpec] = []
    unit = first_unit
    if lifecycle == "built":
        for i, (model, q, sp) in enumerate(compressors, start=1):
            devices.append(DeviceSpec(f"{sid}-C{i}", sid, "compressor", model, HOST, port, unit, q, round(q * sp, 1),
                                      sp))
            unit += 1
        for suffix, kind, model in AUX:
            devices.append(DeviceSpec(f"{sid}-{suffix}", sid, kind, model, HOST, port, unit))
            unit += 1
    return StationSpec(sid, sid, sid, "smart_station", lifecycle, 121.47, 31.23, "310000", "310100",
                       sum(q for _m, q, _s in compressors), "test partner", tuple(devices))


def small_fleet(port_a: int, port_b: int) -> list[StationSpec]:
    """ST1 and ST2 share ``port_a`` (units 1–7 and 8–13); ST3 is alone on ``port_b`` (units 1–6, as ST1's);
    ST4 is under construction (no devices)."""
    return [
        _station("ST1", port_a, 1, [(VSD, 20.0, 7.0), (FIXED, 16.5, 6.6), (FIXED, 13.5, 7.4)]),
        _station("ST2", port_a, 8, [(FIXED, 10.0, 6.4), (FIXED, 10.0, 7.2)]),
        _station("ST3", port_b, 1, [(VSD, 26.0, 6.8), (FIXED, 20.0, 7.0)]),
        _station("ST4", port_b, 100, [(FIXED, 10.0, 7.0)], lifecycle="under_construction"),
    ]


def synthetic_fleet(n: int, seed: int = 0, port: int = 15020) -> list[StationSpec]:
    """``n`` built stations of 2–5 compressors (first one VSD in 60 % of them) plus dryer, meters and I/O."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        comps = []
        for c in range(int(rng.integers(2, 6))):
            vsd = c == 0 and rng.random() < 0.6
            comps.append((VSD if vsd else FIXED, float(rng.choice([10.0, 13.5, 16.5, 20.0, 26.0, 32.0, 40.0])),
                          round(float(rng.uniform(6.0, 8.0)), 2)))
        out.append(_station(f"SY{i:05d}", port + i // 24, 1 + (i % 24) * 10, comps))
    return out


def _devices(fleet: list[StationSpec]) -> dict[str, DeviceSpec]:
    return {d.device_id: d for s in fleet for d in s.devices}


# ----------------------------------------------------------------------------------------------------- helpers
async def read_device(client: AsyncModbusTcpClient, dev: DeviceSpec) -> dict:
    """Every value of ``dev`` read with its profile's block plan; raises on an exception reply."""
    out: dict = {}
    for block in plan_blocks(PROFILES[dev.model]):
        read = {"coil": client.read_coils, "discrete_input": client.read_discrete_inputs,
                "holding": client.read_holding_registers, "input": client.read_input_registers}[block.register_type]
        rr = await read(block.start, count=block.count, device_id=dev.unit_id)
        if rr.isError():
            raise AssertionError(f"{dev.device_id} {block.register_type}@{block.start}: {rr}")
        out.update(decode_block(block, rr.bits if block.register_type in ("coil", "discrete_input") else rr.registers))
    return out


async def connect(port: int, timeout: float = 1.0) -> AsyncModbusTcpClient:
    client = AsyncModbusTcpClient(HOST, port=port, timeout=timeout, retries=0, reconnect_delay=0)
    assert await client.connect(), f"cannot connect to {HOST}:{port}"
    return client


async def advance_until(sim: FleetSimulator, predicate, max_sim_s: float, step_s: float = 1.0):
    """Step simulated time until ``await predicate()`` is truthy; fail after ``max_sim_s`` simulated seconds."""
    waited = 0.0
    while True:
        result = await predicate()
        if result:
            return result
        if waited >= max_sim_s:
            raise AssertionError(f"condition not met within {max_sim_s} simulated seconds")
        sim.advance(step_s)
        waited += step_s


async def wait_for(predicate, timeout_s: float = 5.0, interval_s: float = 0.02):
    """Poll ``await predicate()`` in real time until truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(interval_s)


def _resolution(spec) -> float:
    return 1e-4 if spec.data_type == "float32" else abs(spec.scale) / 2 + 1e-9


@pytest.fixture
def ports():
    a, b = free_port(), free_port()
    while b == a:
        b = free_port()
    return a, b


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 50))


# ----------------------------------------------------------------------------------------------------- Modbus tests
def test_values_over_modbus_decode_to_plausible_ranges(ports):
    fleet = small_fleet(*ports)
    devs = _devices(fleet)

    async def scenario():
        sim = FleetSimulator(fleet, seed=7, tick_s=None, start_time_s=WEEKDAY_10H)
        assert sim.ports == sorted(ports)
        assert "ST4" not in sim.physics.station_ids and len(sim.device_ids) == 19
        await sim.start()
        ca, cb = await connect(ports[0]), await connect(ports[1])
        try:
            client_of = {ports[0]: ca, ports[1]: cb}
            readings = {d: await read_device(client_of[dev.port], dev) for d, dev in devs.items()}
            # the wire carries what the physics says, within each register's resolution
            for d, got in readings.items():
                expected = sim.values(d)
                for spec in PROFILES[devs[d].model].registers:
                    assert got[spec.name] == pytest.approx(expected[spec.name], abs=_resolution(spec),
                                                           rel=1e-6), (d, spec.name)
            # ST1 and ST3 use the same unit ids on different ports, ST1 and ST2 share a port: all distinct devices
            assert readings["ST1-C1"]["air_volume_m3"] != readings["ST3-C1"]["air_volume_m3"]
            assert readings["ST1-C2"]["air_volume_m3"] != readings["ST2-C1"]["air_volume_m3"]
            loaded = 0
            for d, v in readings.items():
                kind = devs[d].kind
                if kind == "compressor":
                    assert 0.55 <= v["discharge_pressure_mpa"] <= 0.75, (d, v)
                    assert v["run_state"] in (0, 1, 2) and v["fault_code"] == 0 and v["remote_mode"] == 1
                    assert v["run_command"] == 1 and v["load_enable"] == 1
                    assert v["energy_kwh"] > 1000 and v["air_volume_m3"] > 1000 and v["running_hours_h"] > 100
                    assert v["loaded_hours_h"] < v["running_hours_h"]
                    if v["run_state"] == 2:
                        loaded += 1
                        sp = v["power_kw"] / v["flow_m3_min"]
                        assert (6.0 <= sp <= 8.0) if devs[d].model == FIXED else (6.0 <= sp <= 9.0), (d, sp)
                        assert 70.0 <= v["discharge_temp_c"] <= 97.0, (d, v)
                    if devs[d].model == FIXED:
                        assert (v["load_pressure_mpa"], v["unload_pressure_mpa"]) in (
                            (0.62, 0.72), (0.61, 0.71)), (d, v)  # staggered set points
                    else:
                        assert v["target_pressure_mpa"] == pytest.approx(0.67)
                elif kind == "flow_meter":
                    assert 0.55 <= v["pressure_mpa"] <= 0.75 and v["flow_m3_min"] > 0 and v["total_m3"] > 10_000
                elif kind == "power_meter":
                    assert v["power_kw"] > 0 and 360 <= v["voltage_v"] <= 400 and 0.75 <= v["power_factor"] <= 0.95
                    assert v["energy_kwh"] > 1000
                elif kind == "dryer":
                    assert 1.0 <= v["dew_point_c"] <= 6.0 and 0.5 <= v["power_kw"] <= 10 and v["run_state"] == 2
                elif kind == "station_io":
                    assert not any(v[k] for k in ("fire", "flood", "intrusion", "door_open", "occupancy"))
                    assert 5.0 <= v["room_temp_c"] <= 40.0
            assert loaded >= 3, "day shift: several compressors loaded"
            # station meters: flow = Σ compressor flows (± noise), power = Σ compressors + dryer
            for sid in ("ST1", "ST2", "ST3"):
                comps = [readings[d] for d in devs if d.startswith(f"{sid}-C")]
                assert readings[f"{sid}-FM"]["flow_m3_min"] == pytest.approx(
                    sum(c["flow_m3_min"] for c in comps), rel=0.02)
                assert readings[f"{sid}-PM"]["power_kw"] == pytest.approx(
                    sum(c["power_kw"] for c in comps) + readings[f"{sid}-D1"]["power_kw"], rel=0.02)

            # counters are monotonic over several ticks, and grow where something runs
            counters = {"compressor": ("energy_kwh", "air_volume_m3", "running_hours_h", "loaded_hours_h"),
                        "flow_meter": ("total_m3",), "power_meter": ("energy_kwh",)}
            first = readings
            prev = readings
            for _ in range(6):
                sim.advance(10.0)
                now = {d: await read_device(client_of[dev.port], dev) for d, dev in devs.items()}
                for d, names in ((d, counters.get(devs[d].kind, ())) for d in devs):
                    for n in names:
                        assert now[d][n] >= prev[d][n], (d, n, prev[d][n], now[d][n])
                prev = now
            for sid in ("ST1", "ST2", "ST3"):
                assert prev[f"{sid}-FM"]["total_m3"] > first[f"{sid}-FM"]["total_m3"]
                assert prev[f"{sid}-PM"]["energy_kwh"] > first[f"{sid}-PM"]["energy_kwh"]

            # forced unload (coil load_enable = 0): unloaded power ≈ 30 % of loaded
            c2 = devs["ST1-C2"]
            assert not (await ca.write_coil(1, False, device_id=c2.unit_id)).isError()
            sim.advance(1.0)
            v = await read_device(ca, c2)
            assert v["load_enable"] == 0 and v["run_state"] == 1 and v["flow_m3_min"] == 0
            assert 0.25 <= v["power_kw"] / c2.rated_power_kw <= 0.35, v
        finally:
            ca.close()
            cb.close()
            await sim.stop()

    run(scenario())


def test_faults_show_in_registers_and_clear(ports):
    fleet = small_fleet(*ports)
    devs = _devices(fleet)

    async def scenario():
        sim = FleetSimulator(fleet, seed=11, tick_s=None, start_time_s=WEEKDAY_10H)
        await sim.start()
        client = await connect(ports[0], timeout=0.3)
        try:
            io, fm, dryer = devs["ST2-IO"], devs["ST2-FM"], devs["ST2-D1"]

            async def io_bits():
                return await read_device(client, io)

            for fault, bits in (("fire", ("fire",)), ("flood", ("flood",)), ("intrusion", ("intrusion", "door_open")),
                                ("occupancy", ("occupancy", "door_open"))):
                sim.inject_fault("ST2", fault)
                v = await io_bits()
                assert all(v[b] == 1 for b in bits), (fault, v)
                assert sum(v[b] for b in ("fire", "flood", "intrusion", "occupancy")) == 1, (fault, v)
                sim.inject_fault("ST2", fault, on=False)
                v = await io_bits()
                assert not any(v[b] for b in ("fire", "flood", "intrusion", "occupancy", "door_open")), (fault, v)

            # overheat: discharge temperature climbs past 110 °C, the unit trips (run_state 3, fault code)
            sim.inject_fault("ST2", "overheat")
            comps = [devs["ST2-C1"], devs["ST2-C2"]]

            async def tripped():
                for c in comps:
                    v = await read_device(client, c)
                    if v["run_state"] == 3:
                        return c, v
                    assert v["discharge_temp_c"] < 112.0
                return None

            unit, v = await advance_until(sim, tripped, max_sim_s=180)
            assert v["fault_code"] == 101 and v["power_kw"] == 0 and v["flow_m3_min"] == 0
            assert v["discharge_temp_c"] >= 105.0
            sim.advance(5)
            assert (await read_device(client, unit))["run_state"] == 3, "the trip is latched while the fault is on"
            sim.inject_fault("ST2", "overheat", on=False)
            sim.advance(1)
            v = await read_device(client, unit)
            assert v["run_state"] != 3 and v["fault_code"] == 0

            # high dew point: the dryer's dew point rises towards 15 °C (fault code above 10 °C)
            sim.inject_fault("ST2", "high_dew_point")

            async def dew_high():
                v = await read_device(client, dryer)
                return v if v["dew_point_c"] >= 12.0 else None

            v = await advance_until(sim, dew_high, max_sim_s=300, step_s=5)
            assert v["fault_code"] == 201 and v["run_state"] == 2
            sim.inject_fault("ST2", "high_dew_point", on=False)

            async def dew_normal():
                v = await read_device(client, dryer)
                return v if v["dew_point_c"] <= 5.0 else None

            assert (await advance_until(sim, dew_normal, max_sim_s=600, step_s=5))["fault_code"] == 0

            # pressure drop: a leak larger than the station can supply, header pressure falls below 0.5 MPa
            sim.inject_fault("ST2", "pressure_drop")

            async def low_pressure():
                v = await read_device(client, fm)
                return v if v["pressure_mpa"] < 0.5 else None

            await advance_until(sim, low_pressure, max_sim_s=300)
            loaded = [(await read_device(client, c))["run_state"] for c in comps]
            assert loaded == [2, 2], "every compressor runs loaded against the leak"
            sim.inject_fault("ST2", "pressure_drop", on=False)

            async def recovered():
                v = await read_device(client, fm)
                return v if v["pressure_mpa"] > 0.58 else None

            await advance_until(sim, recovered, max_sim_s=300)

            # comm_loss: ST2's devices stop answering (client timeout); ST1 on the same port keeps answering
            sim.inject_fault("ST2", "comm_loss")
            with pytest.raises(ModbusIOException):
                await client.read_input_registers(0, count=2, device_id=devs["ST2-C1"].unit_id)
            assert not (await client.read_input_registers(0, count=2, device_id=devs["ST1-C1"].unit_id)).isError()
            sim.inject_fault("ST2", "comm_loss", on=False)
            if not client.connected:  # pymodbus may drop the connection after unanswered requests
                client.close()
                client = await connect(ports[0])
            assert (await read_device(client, devs["ST2-C1"]))["run_state"] in (0, 1, 2)
            assert sim.physics.faults("ST2") == set()
        finally:
            client.close()
            await sim.stop()

    run(scenario())


def test_comm_loss_exception_mode_answers_gateway_exceptions(ports):
    fleet = small_fleet(*ports)
    devs = _devices(fleet)

    async def scenario():
        sim = FleetSimulator(fleet, seed=3, tick_s=None, start_time_s=WEEKDAY_10H, comm_loss_mode="exception")
        await sim.start()
        client = await connect(ports[1])
        try:
            sim.inject_fault("ST3", "comm_loss")
            rr = await client.read_input_registers(0, count=2, device_id=devs["ST3-C1"].unit_id)
            assert isinstance(rr, ExceptionResponse) and rr.exception_code == 0x0B
            rr = await client.read_input_registers(0, count=2, device_id=200)  # no such unit behind the gateway
            assert isinstance(rr, ExceptionResponse) and rr.exception_code == 0x0A
            sim.inject_fault("ST3", "comm_loss", on=False)
            assert not (await client.read_input_registers(0, count=2, device_id=devs["ST3-C1"].unit_id)).isError()
        finally:
            client.close()
            await sim.stop()

    run(scenario())


def test_remote_control_writes_take_effect(ports):
    fleet = small_fleet(*ports)
    devs = _devices(fleet)

    async def scenario():
        sim = FleetSimulator(fleet, seed=5, tick_s=None, start_time_s=WEEKDAY_10H)
        await sim.start()
        client = await connect(ports[0])
        try:
            c1 = devs["ST1-C1"]  # VSD lead unit, loaded in the day shift
            assert (await read_device(client, c1))["run_state"] == 2
            rr = await client.write_coil(0, False, device_id=c1.unit_id)
            assert not rr.isError() and rr.bits[0] is False
            sim.advance(1.0)
            v = await read_device(client, c1)
            assert v["run_command"] == 0 and v["run_state"] == 0 and v["power_kw"] == 0 and v["flow_m3_min"] == 0
            sim.advance(30.0)
            assert (await read_device(client, c1))["run_state"] == 0, "a stopped unit stays stopped"
            assert not (await client.write_coil(0, True, device_id=c1.unit_id)).isError()

            async def running_again():
                return (await read_device(client, c1))["run_state"] in (1, 2)

            await advance_until(sim, running_again, max_sim_s=300)

            # set points: a valid write is applied, an invalid one answers ILLEGAL DATA VALUE
            c2 = devs["ST1-C2"]
            assert not (await client.write_registers(100, [600, 700], device_id=c2.unit_id)).isError()
            v = await read_device(client, c2)
            assert (v["load_pressure_mpa"], v["unload_pressure_mpa"]) == (pytest.approx(0.6), pytest.approx(0.7))
            rr = await client.write_register(100, 750, device_id=c2.unit_id)  # load above unload
            assert isinstance(rr, ExceptionResponse) and rr.exception_code == 3
            rr = await client.write_register(100, 650, device_id=c1.unit_id)  # VSD target pressure
            assert not rr.isError() and sim.values(c1.device_id)["target_pressure_mpa"] == pytest.approx(0.65)
            # read-only registers answer ILLEGAL DATA ADDRESS; unmapped addresses too
            rr = await client.write_register(0, 1, device_id=devs["ST1-FM"].unit_id)
            assert isinstance(rr, ExceptionResponse) and rr.exception_code == 2
            rr = await client.read_input_registers(40, count=1, device_id=c1.unit_id)
            assert isinstance(rr, ExceptionResponse) and rr.exception_code == 2
            rr = await client.read_coils(0, count=1, device_id=devs["ST1-D1"].unit_id)
            assert isinstance(rr, ExceptionResponse) and rr.exception_code == 2
        finally:
            client.close()
            await sim.stop()

    run(scenario())


def test_set_value_overrides_until_cleared_and_validates(ports):
    fleet = small_fleet(*ports)
    devs = _devices(fleet)

    async def scenario():
        sim = FleetSimulator(fleet, seed=5, tick_s=None, start_time_s=WEEKDAY_10H)
        await sim.start()
        client = await connect(ports[0])
        try:
            c1 = devs["ST1-C1"]
            sim.set_value("ST1-C1", "discharge_temp_c", 118.0)
            sim.set_value("ST2-IO", "fire", True)
            sim.advance(5)
            assert (await read_device(client, c1))["discharge_temp_c"] == pytest.approx(118.0)
            assert (await read_device(client, devs["ST2-IO"]))["fire"] == 1
            assert sim.values("ST1-C1")["discharge_temp_c"] == 118.0
            sim.clear_value("ST1-C1", "discharge_temp_c")
            sim.clear_value("ST2-IO")
            assert (await read_device(client, c1))["discharge_temp_c"] < 100
            assert (await read_device(client, devs["ST2-IO"]))["fire"] == 0
            with pytest.raises(KeyError):
                sim.set_value("ST1-C1", "no_such_register", 1)
            with pytest.raises(KeyError):
                sim.set_value("NOPE-C1", "discharge_temp_c", 1)
            with pytest.raises(ValueError):
                sim.set_value("ST1-C1", "discharge_pressure_mpa", -1.0)  # uint16 cannot hold it
            with pytest.raises(ValueError):
                sim.inject_fault("ST1", "meteor")
            with pytest.raises(KeyError):
                sim.inject_fault("ST4", "fire")  # under construction: not simulated
        finally:
            client.close()
            await sim.stop()

    run(scenario())


def test_redis_control_commands(ports, redis_url, redis_client):
    fleet = small_fleet(*ports)
    devs = _devices(fleet)

    async def scenario():
        sim = FleetSimulator(fleet, seed=5, tick_s=None, start_time_s=WEEKDAY_10H)
        await sim.start()
        await sim.listen_control(redis_url)
        client = await connect(ports[0])
        try:
            assert redis_client.pubsub_numsub(SIM_CONTROL_CHANNEL)[0][1] == 1
            pub = lambda obj: redis_client.publish(SIM_CONTROL_CHANNEL, obj if isinstance(obj, str)  # noqa: E731
                                                   else json.dumps(obj))
            c2 = devs["ST1-C2"]
            pub({"v": 1, "cmd": "set", "device_id": "ST1-C2", "name": "discharge_temp_c", "value": 99.5})

            async def pinned():
                return (await read_device(client, c2))["discharge_temp_c"] == pytest.approx(99.5)

            await wait_for(pinned)
            for bad in ("not json", "[1, 2]", {"v": 2, "cmd": "fault", "station_id": "ST1", "fault": "fire"},
                        {"v": 1, "cmd": "explode"}, {"v": 1, "cmd": "fault", "station_id": "ST1", "fault": "meteor"},
                        {"v": 1, "cmd": "fault", "station_id": "NOPE", "fault": "fire"},
                        {"v": 1, "cmd": "set", "device_id": "ST1-C2", "name": "nope", "value": 1},
                        {"v": 1, "cmd": "set", "device_id": "ST1-C2", "name": "discharge_temp_c", "value": "hot"}):
                pub(bad)
            pub({"v": 1, "cmd": "fault", "station_id": "ST1", "fault": "fire", "on": True})

            async def fire_on():
                return (await read_device(client, devs["ST1-IO"]))["fire"] == 1

            await wait_for(fire_on)
            assert (await read_device(client, c2))["discharge_temp_c"] == pytest.approx(99.5)
            pub({"v": 1, "cmd": "clear", "device_id": "ST1-C2", "name": "discharge_temp_c"})
            pub({"v": 1, "cmd": "fault", "station_id": "ST1", "fault": "fire", "on": False})

            async def released():
                v = await read_device(client, c2)
                return v["discharge_temp_c"] != pytest.approx(99.5) and \
                    (await read_device(client, devs["ST1-IO"]))["fire"] == 0

            await wait_for(released)
        finally:
            client.close()
            await sim.stop()

        async def unsubscribed():
            return redis_client.pubsub_numsub(SIM_CONTROL_CHANNEL)[0][1] == 0

        await wait_for(unsubscribed)

    run(scenario())


def test_redis_control_survives_a_redis_restart(ports):
    fleet = small_fleet(*ports)
    server = EmbeddedRedis().start()
    port = server.port

    async def scenario():
        nonlocal server
        sim = FleetSimulator(fleet, seed=5, tick_s=None, start_time_s=WEEKDAY_10H)
        await sim.start()
        await sim.listen_control(server.url)
        try:
            server.stop()
            server = EmbeddedRedis(port=port).start()
            r = redis.Redis.from_url(server.url)

            async def resubscribed():
                return r.pubsub_numsub(SIM_CONTROL_CHANNEL)[0][1] == 1

            await wait_for(resubscribed, timeout_s=15, interval_s=0.1)
            r.publish(SIM_CONTROL_CHANNEL, json.dumps({"v": 1, "cmd": "fault", "station_id": "ST3", "fault": "flood"}))

            async def flooded():
                return sim.values("ST3-IO")["flood"] == 1

            await wait_for(flooded)
            r.close()
        finally:
            await sim.stop()

    try:
        run(scenario())
    finally:
        server.stop()


def test_ticker_advances_physics_in_real_time(ports):
    fleet = small_fleet(*ports)
    devs = _devices(fleet)

    async def scenario():
        sim = FleetSimulator(fleet, seed=5, tick_s=0.05, time_scale=20.0, start_time_s=WEEKDAY_10H)
        t0 = sim.now_s
        await sim.start()
        client = await connect(ports[0])
        try:
            first = await read_device(client, devs["ST1-PM"])

            async def grown():
                v = await read_device(client, devs["ST1-PM"])
                return v["energy_kwh"] > first["energy_kwh"] + 1.0

            await wait_for(grown, timeout_s=10)
            assert sim.ticks > 0 and sim.now_s == pytest.approx(t0 + sim.ticks * 1.0, abs=1e-3)
        finally:
            client.close()
            await sim.stop()

    run(scenario())


def test_construction_errors(ports):
    fleet = small_fleet(*ports)
    clash = list(fleet) + [_station("ST9", ports[0], 5, [(FIXED, 10.0, 7.0)])]  # unit 5 is ST1's
    with pytest.raises(ValueError, match="share"):
        FleetSimulator(clash, tick_s=None)
    bad = [_station("ST1", ports[0], 1, [("no-such-model", 10.0, 7.0)])]
    with pytest.raises(ValueError, match="no profile"):
        FleetSimulator(bad, tick_s=None)
    with pytest.raises(ValueError):
        FleetSimulator(fleet, tick_s=None, comm_loss_mode="sometimes")


def test_port_in_use_is_reported(ports):
    fleet = small_fleet(*ports)

    async def scenario():
        blocker = await asyncio.start_server(lambda r, w: None, HOST, ports[1])
        sim = FleetSimulator(fleet, tick_s=None)
        try:
            with pytest.raises(OSError, match=str(ports[1])):
                await sim.start()
        finally:
            blocker.close()
            await blocker.wait_closed()
            await sim.stop()
        # the first server was stopped again: its port is free
        again = await asyncio.start_server(lambda r, w: None, HOST, ports[0])
        again.close()
        await again.wait_closed()

    run(scenario())


# ----------------------------------------------------------------------------------------------------- pure physics
def test_physics_is_deterministic_by_seed_and_time():
    fleet = synthetic_fleet(12, seed=2)

    def run_one(seed: int) -> dict:
        ph = FleetPhysics(fleet, seed=seed, now_s=WEEKDAY_10H)
        for dt in (1.0, 1.0, 5.0, 0.5, 30.0, 120.0):
            ph.step(dt)
        ph.set_fault("SY00003", "overheat")
        ph.step(60.0)
        return {d.device_id: ph.device_values(d.device_id) for s in fleet for d in s.devices}

    a, b, c = run_one(1), run_one(1), run_one(2)
    assert a == b
    assert a != c
    # the same seed in a simulator gives the same served values for the same simulated time
    s1 = FleetSimulator(fleet, seed=4, tick_s=None, start_time_s=WEEKDAY_10H, warmup_s=60)
    s2 = FleetSimulator(list(reversed(fleet)), seed=4, tick_s=None, start_time_s=WEEKDAY_10H, warmup_s=60)
    for _ in range(20):
        s1.advance(1.0)
        s2.advance(1.0)
    assert all(s1.values(d) == s2.values(d) for d in s1.device_ids), "fleet order does not matter"


def test_physics_over_a_simulated_hour():
    fleet = synthetic_fleet(24, seed=9)
    ph = FleetPhysics(fleet, seed=9, now_s=WEEKDAY_10H - 600)
    ph.step(600.0, WEEKDAY_10H)
    t0 = ph.fleet_totals()
    pmin, pmax = np.inf, -np.inf
    sp_loaded, unloaded_frac, temps = [], [], []
    for _ in range(3600):
        ph.step(1.0)
        pmin, pmax = min(pmin, ph.p_header.min()), max(pmax, ph.p_header.max())
    for cid in ph.compressor_ids:
        v = ph.device_values(cid)
        k = ph.compressor_ids.index(cid)
        if v["run_state"] == 2:
            temps.append(v["discharge_temp_c"])
            if not ph.c_vsd[k]:
                sp_loaded.append((v["power_kw"] / v["flow_m3_min"], ph.c_sp[k]))
        elif v["run_state"] == 1 and not ph.c_vsd[k]:
            unloaded_frac.append(v["power_kw"] / (ph.c_sp[k] * ph.c_qr[k]))
    t1 = ph.fleet_totals()
    ratio = (t1["total_m3"] - t0["total_m3"]) / (t1["energy_kwh"] - t0["energy_kwh"])
    print(f"\nfleet air-to-power ratio over the hour: {ratio:.2f} m³/kWh; header pressure {pmin:.3f}–{pmax:.3f} MPa")
    assert 6.0 <= ratio <= 10.0
    assert 0.55 <= pmin and pmax <= 0.75
    # rated 6–8 kW/(m³/min) at 0.7 MPa; ± 6 % per 0.1 MPa across the 0.58–0.72 MPa band, ± 0.4 % noise
    assert sp_loaded and all(5.6 <= sp <= 8.2 and abs(sp / rated - 1) <= 0.08 for sp, rated in sp_loaded)
    assert all(0.25 <= f <= 0.35 for f in unloaded_frac)
    assert temps and all(72.0 <= t <= 97.0 for t in temps)
    # the counters are consistent with the meters over the hour
    assert t1["total_m3"] > t0["total_m3"] and t1["energy_kwh"] > t0["energy_kwh"]


def test_physics_shift_pattern_day_night_weekend():
    fleet = synthetic_fleet(200, seed=4)
    ph = FleetPhysics(fleet, seed=4, now_s=WEEKDAY_10H)
    day = ph.demand_fraction(WEEKDAY_10H).mean()
    night = ph.demand_fraction(WEEKDAY_10H + 17 * 3600).mean()       # 03:00 Thursday
    sunday = ph.demand_fraction(WEEKDAY_10H + 4 * 86400).mean()      # Sunday 10:00
    assert night < 0.8 * day and sunday < 0.8 * day
    assert 0.35 <= day <= 0.85
    assert np.array_equal(ph.demand_fraction(WEEKDAY_10H + 123.4), ph.demand_fraction(WEEKDAY_10H + 123.4))


def test_physics_rejects_bad_input():
    fleet = synthetic_fleet(2)
    ph = FleetPhysics(fleet, seed=1, now_s=WEEKDAY_10H)
    with pytest.raises(ValueError):
        ph.step(-1.0)
    with pytest.raises(ValueError):
        ph.command("SY00000-C2", "load_pressure_mpa", 1.5)
    with pytest.raises(KeyError):
        ph.command("SY00000-D1", "run_command", 0)
    with pytest.raises(KeyError):
        ph.device_values("nope")
    assert set(FAULTS) >= {"overheat", "comm_loss", "pressure_drop"}


def test_physics_step_timing():
    """Not an assertion: how long one 1 Hz physics step takes for 10,000 stations (printed; run with -s)."""
    fleet = synthetic_fleet(10_000, seed=1)
    t = time.perf_counter()
    ph = FleetPhysics(fleet, seed=1, now_s=WEEKDAY_10H)
    init_s = time.perf_counter() - t
    ph.step(5.0)
    n = 20
    t = time.perf_counter()
    for _ in range(n):
        ph.step(1.0)
    per_step = (time.perf_counter() - t) / n
    n_dev = sum(len(s.devices) for s in fleet)
    print(f"\nphysics: {ph.n_stations} stations, {ph.n_compressors} compressors, {n_dev} devices: "
          f"init {init_s:.2f} s, one 1-s step {per_step * 1000:.1f} ms ({per_step * 100:.1f} % of a core at 1 Hz)")
