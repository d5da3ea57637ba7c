"""The real Poller against a Modbus server written on raw asyncio sockets (tests/modbus_testserver.RawModbusServer):
every data type and byte/word order, every fault a unit behind a gateway can show, TCP and RTU-over-TCP framing, one
dead unit among 20 live stations on one gateway, hot reload and the write service. Real Redis; no mocks; waits are
on conditions with deadlines.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import time

import pytest
import redis.asyncio

from datasources.bus import messages as bus
from datasources.sql.fleet_spec import DeviceSpec, StationSpec
from datasources.modbus.poller import Poller
from datasources.modbus.profiles import default_profiles, profile_from_dict
from tests.modbus_testserver import RawModbusServer, RawUnit, crc16, sim_device, server_port, start_modbus_server

ORDERS = {"abcd": ("big", "big"), "cdab": ("big", "little"), "badc": ("little", "big"), "dcba": ("little", "little")}
WIDE = {"int32": (">i", -123456789), "uint32": (">I", 0xDEADBEEF), "float32": (">f", -2.25),
        "int64": (">q", -1234567890123456), "uint64": (">Q", 0xFEDCBA9876543210), "float64": (">d", 6.02214076e23)}


def wire_words(fmt: str, value, byte_order: str, word_order: str) -> list[int]:
    """Registers as a device of the given orders puts them on the wire — written by hand, not by the codec."""
    data = struct.pack(fmt, value)
    words = [data[k:k + 2] for k in range(0, len(data), 2)]
    if word_order == "little":
        words.reverse()
    if byte_order == "little":
        words = [w[::-1] for w in words]
    return [int.from_bytes(w, "big") for w in words]


def build_all_types():
    regs, words, expected = [], {}, {}
    addr = 0
    for dtype, (fmt, value) in WIDE.items():
        for tag, (bo, wo) in ORDERS.items():
            name = f"{dtype}_{tag}"
            regs.append({"name": name, "register_type": "holding", "address": addr, "data_type": dtype,
                         "byte_order": bo, "word_order": wo})
            w = wire_words(fmt, value, bo, wo)
            for k, x in enumerate(w):
                words[addr + k] = x
            expected[name] = value
            addr += len(w)
    for dtype, fmt, value in (("int16", ">h", -1234), ("uint16", ">H", 0xBEEF)):
        for bo in ("big", "little"):
            name = f"{dtype}_{bo}"
            regs.append({"name": name, "register_type": "holding", "address": addr, "data_type": dtype,
                         "byte_order": bo})
            words[addr] = wire_words(fmt, value, bo, "big")[0]
            expected[name] = value
            addr += 1
    # string of 5 registers: "CC-01" + NUL padding + a trailing space
    text = b"CC-01 \x00\x00\x00\x00"
    regs.append({"name": "serial", "register_type": "input", "address": 20, "data_type": "string", "length": 5})
    regs.append({"name": "serial_le", "register_type": "input", "address": 25, "data_type": "string", "length": 2,
                 "byte_order": "little"})
    inputs = {a: 0 for a in range(20, 32)}  # the gap 27..29 is read too (one block)
    inputs.update({20 + k: int.from_bytes(text[2 * k:2 * k + 2], "big") for k in range(5)})
    inputs.update({25: int.from_bytes(b"BA", "big"), 26: int.from_bytes(b"\x00C", "big")})
    expected.update({"serial": "CC-01", "serial_le": "ABC"})
    # status word: bits 0, 3, 15 of input 30 = 0x8001
    for bit in (0, 3, 15):
        regs.append({"name": f"status_b{bit}", "register_type": "input", "address": 30, "data_type": "uint16",
                     "bit": bit})
    inputs[30] = 0x8001
    expected.update({"status_b0": 1, "status_b3": 0, "status_b15": 1})
    regs.append({"name": "scaled_c", "register_type": "input", "address": 31, "data_type": "int16", "scale": 0.1,
                 "offset": -40})
    inputs[31] = 0xFF9C  # -100 → -50.0
    expected["scaled_c"] = -50.0
    regs.append({"name": "coil_on", "register_type": "coil", "address": 0})
    regs.append({"name": "di_off", "register_type": "discrete_input", "address": 3})
    expected.update({"coil_on": 1, "di_off": 0})
    profile = profile_from_dict({"model": "raw-all-types", "kind": "power_meter", "registers": regs},
                                source="raw-all-types")
    return profile, words, inputs, expected


ALL_TYPES, HOLDING, INPUTS, EXPECTED = build_all_types()
PROFILES = {**default_profiles(), ALL_TYPES.model: ALL_TYPES}
COMP = default_profiles()["cc-fixed-speed-compressor"]


def all_types_unit() -> RawUnit:
    return RawUnit(holding=HOLDING, input=INPUTS, coil={0: True}, discrete_input={3: False})


def comp_unit(run_state: int = 2, mode: str = "normal") -> RawUnit:
    """A unit serving the packaged fixed-speed compressor map (hand-made words; run_state at input 10)."""
    inputs = {a: 0 for s in COMP.registers if s.register_type == "input" for a in range(s.address, s.address + s.count)}
    holding = {a: 0 for s in COMP.registers if s.register_type == "holding"
               for a in range(s.address, s.address + s.count)}
    coils = {s.address: False for s in COMP.registers if s.register_type == "coil"}
    dis = {s.address: False for s in COMP.registers if s.register_type == "discrete_input"}
    inputs[COMP.register("run_state").address] = run_state
    return RawUnit(holding=holding, input=inputs, coil=coils, discrete_input=dis, mode=mode)


def station(sid: str, devices: list[tuple[str, str, int, int]], transport: str = "tcp", **dev_kw) -> StationSpec:
    devs = tuple(DeviceSpec(device_id=f"{sid}-{suffix}", station_id=sid, kind=PROFILES[model].kind, model=model,
                            host="127.0.0.1", port=port, unit_id=unit, transport=transport, **dev_kw)
                 for suffix, model, port, unit in devices)
    return StationSpec(station_id=sid, name=sid, name_en=sid, kind="smart_station", lifecycle="built", lon=116.4,
                       lat=39.9, province_adcode="110000", city_adcode="110100", capacity_m3_min=20.0,
                       partner="test", devices=devs)


def dev_of(readings, device_id):
    for r in readings:
        for d in r.devices:
            if d.device_id == device_id:
                return d
    raise KeyError(device_id)


async def wait_until(pred, timeout_s: float = 10.0, what: str = "condition"):
    """Await until ``pred()`` (sync or async) is true, checked every 20 ms; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = pred()
        if asyncio.iscoroutine(got):
            got = await got
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout_s} s")
        await asyncio.sleep(0.02)


# ----------------------------------------------------------------------------------------------------- decode
def test_crc16_reference_value():
    # Modbus over Serial Line V1.02 §6.2.2 example frame 01 03 00 00 00 0A → CRC C5 CD
    assert crc16(bytes.fromhex("01030000000a")) == bytes.fromhex("c5cd")


@pytest.mark.parametrize("transport,framing", [("tcp", "tcp"), ("rtu_over_tcp", "rtu")])
def test_every_type_and_order_decodes(redis_url, transport, framing):
    async def main():
        async with RawModbusServer({5: all_types_unit()}, framing=framing) as server:
            poller = Poller([station("R1", [("M1", ALL_TYPES.model, server.port, 5)], transport=transport)],
                            PROFILES, redis_url, timeout_s=0.5)
            try:
                return await poller.poll_once()
            finally:
                await poller.aclose()

    dev = dev_of(run(main()), "R1-M1")
    assert dev.online and dev.error is None, dev.error
    assert set(dev.values) == set(EXPECTED)
    for name, want in EXPECTED.items():
        got = dev.values[name]
        if isinstance(want, float):
            assert got == pytest.approx(want, rel=1e-7), name
        else:
            assert got == want and type(got) is type(want), (name, got, want)


def run(coro):
    return asyncio.run(coro)


# ----------------------------------------------------------------------------------------------------- faults
FAULTS = {  # unit mode → what the device's error must say
    "exception": "exception response 4 (DEVICE_FAILURE)",
    "dead": "no response",
    "wrong_unit": "reply from unit 103, expected unit 3",
    "wrong_tid": "reply with transaction id",
    "malformed": "malformed reply",
}


@pytest.mark.parametrize("mode", list(FAULTS))
def test_fault_of_one_unit_is_named_and_others_read(redis_url, mode):
    async def main():
        units = {1: comp_unit(2), 3: comp_unit(2, mode=mode), 4: comp_unit(1)}
        async with RawModbusServer(units) as server:
            st = station("R2", [("C1", COMP.model, server.port, 1), ("C3", COMP.model, server.port, 3),
                                ("C4", COMP.model, server.port, 4)])
            poller = Poller([st], PROFILES, redis_url, timeout_s=0.2, retries=0)
            try:
                return [await poller.poll_once() for _ in range(2)]
            finally:
                await poller.aclose()

    for readings in run(main()):
        bad = dev_of(readings, "R2-C3")
        assert not bad.online and FAULTS[mode] in bad.error, bad.error
        assert dev_of(readings, "R2-C1").values["run_state"] == 2 and dev_of(readings, "R2-C1").error is None
        assert dev_of(readings, "R2-C4").values["run_state"] == 1


def test_wrong_unit_over_rtu_framing(redis_url):
    async def main():
        async with RawModbusServer({3: comp_unit(2, mode="wrong_unit"), 4: comp_unit(1)}, framing="rtu") as server:
            st = station("R3", [("C3", COMP.model, server.port, 3), ("C4", COMP.model, server.port, 4)],
                         transport="rtu_over_tcp")
            poller = Poller([st], PROFILES, redis_url, timeout_s=0.2, retries=0)
            try:
                return await poller.poll_once()
            finally:
                await poller.aclose()

    readings = run(main())
    assert "reply from unit 103, expected unit 3" in dev_of(readings, "R3-C3").error
    assert dev_of(readings, "R3-C4").values["run_state"] == 1


def test_per_device_transport_settings(redis_url):
    """A device's timeout_s / retries / max_registers_per_read override the poller's defaults."""
    async def main():
        units = {1: all_types_unit(), 2: comp_unit(2, mode="dead")}
        async with RawModbusServer(units) as server:
            fast = station("R4", [("M1", ALL_TYPES.model, server.port, 1)], max_registers_per_read=8)
            dead = station("R5", [("C2", COMP.model, server.port, 2)], timeout_s=0.05, retries=2)
            poller = Poller([fast, dead], PROFILES, redis_url, timeout_s=2.0, retries=0)
            try:
                t0 = time.monotonic()
                readings = await poller.poll_once()
                return readings, time.monotonic() - t0, units, poller
            finally:
                await poller.aclose()

    readings, elapsed, units, poller = run(main())
    assert dev_of(readings, "R4-M1").values["float64_dcba"] == pytest.approx(6.02214076e23)
    # holding 0..51 in blocks of ≤ 8 registers: ≥ 7 reads of holding alone (one 125-register read otherwise)
    assert units[1].requests >= 7 + 3
    assert units[2].requests == 3  # 1 + retries 2, each 0.05 s, not the poller's 2 s
    assert "within 0.05 s" in dev_of(readings, "R5-C2").error and elapsed < 1.5


# ------------------------------------------------------------------------------------------- dead unit on a gateway
def test_dead_unit_does_not_delay_the_other_stations_of_its_gateway(redis_url):
    """20 live stations (3 units each) and one unit that dies, all on ONE host:port. Every live station keeps its
    poll period within interval_s + 2 × timeout_s + 0.25 s: the gateway lock is per request, so a station's poll
    meets at most a couple of the dead unit's attempts (each re-queued behind the live requests), never the whole
    ``timeout_s × (retries + 1)`` the old per-device lock cost every station (bench/bench_gateway.py)."""
    interval_s, timeout_s, retries = 0.4, 0.2, 3
    n_stations = 20

    async def main():
        units = {u: comp_unit(2) for u in range(1, 3 * n_stations + 2)}
        async with RawModbusServer(units) as server:
            stations = [station(f"G{k:02d}", [(f"C{j}", COMP.model, server.port, 3 * k + j + 1) for j in range(3)])
                        for k in range(n_stations)]
            dead_unit = 3 * n_stations + 1
            stations.append(station("GDEAD", [("C1", COMP.model, server.port, dead_unit)]))
            poller = Poller(stations, PROFILES, redis_url, interval_s=interval_s, timeout_s=timeout_s,
                            retries=retries, offline_after=3, backoff_max_s=1.0)
            r = redis.asyncio.Redis.from_url(redis_url)
            task = asyncio.create_task(poller.run())
            try:
                await wait_until(lambda: poller.device_state("GDEAD-C1")["online"], what="dead unit first online")
                units[dead_unit].mode = "dead"
                mark = (await r.xinfo_stream(bus.READINGS_STREAM))["last-generated-id"]
                t_dead = time.monotonic()
                await wait_until(lambda: poller.device_state("GDEAD-C1")["offline"], timeout_s=20,
                                 what="dead unit offline")
                # then a window of live traffic: every live station has 8 more readings
                counts: dict[str, list[int]] = {}

                async def enough():
                    entries = await r.xrange(bus.READINGS_STREAM, min=f"({mark.decode()}", max="+")
                    counts.clear()
                    for _id, fields in entries:
                        msg = json.loads(fields[b"data"])
                        counts.setdefault(msg["station_id"], []).append(msg["ts_ms"])
                    return all(len(counts.get(f"G{k:02d}", [])) >= 8 for k in range(n_stations))
                await wait_until(enough, timeout_s=30, what="8 readings per live station")
                return counts, time.monotonic() - t_dead, poller.device_state("GDEAD-C1")
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                await r.aclose()

    counts, window_s, dead = run(main())
    assert "no response" in dead["error"], dead["error"]
    bound_ms = (interval_s + 2 * timeout_s + 0.25) * 1000  # old behaviour: gaps of ~interval + 4 × timeout and more
    for sid, ts in counts.items():
        if sid == "GDEAD":
            continue
        gaps = [b - a for a, b in zip(ts, ts[1:])]
        assert max(gaps) <= bound_ms, (sid, gaps)


# ----------------------------------------------------------------------------------------------------- hot reload
def test_update_stations_adds_and_removes_while_running(redis_url):
    async def main():
        units = {1: comp_unit(2), 2: comp_unit(1), 3: comp_unit(0)}
        async with RawModbusServer(units) as server:
            a = station("H1", [("C1", COMP.model, server.port, 1)])
            b = station("H2", [("C1", COMP.model, server.port, 2)])
            poller = Poller([a], PROFILES, redis_url, interval_s=0.05, timeout_s=0.3)
            r = redis.asyncio.Redis.from_url(redis_url)
            task = asyncio.create_task(poller.run())
            try:
                await wait_until(lambda: r.hexists(bus.SUMMARY_HASH, "H1"), what="H1 written")
                assert not await r.exists(bus.latest_key("H2-C1"))
                diff = poller.update_stations([a, b])
                assert diff == {"added": ["H2"], "removed": [], "changed": []}
                await wait_until(lambda: r.exists(bus.latest_key("H2-C1")), what="H2 readings appear")
                h1_state = poller.device_state("H1-C1")
                # change H1's device (another unit) and remove H2
                a2 = station("H1", [("C1", COMP.model, server.port, 3)])
                diff = poller.update_stations([a2])
                assert diff == {"added": [], "removed": ["H2"], "changed": ["H1"]}
                before = units[2].requests
                await wait_until(lambda: units[3].requests >= 3, what="H1 polled at its new unit")

                async def h1_stopped_reading_run_state_2():
                    raw = await r.hget(bus.latest_key("H1-C1"), "run_state")
                    return raw == b"0"
                await wait_until(h1_stopped_reading_run_state_2, what="H1 reads the new unit")
                n_after = units[2].requests
                h1_polls = units[3].requests
                await wait_until(lambda: units[3].requests >= h1_polls + 10, what="more H1 cycles")
                assert units[2].requests <= n_after + 4 and n_after >= before  # H2's loop has stopped
                assert h1_state["online"]
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                await r.aclose()

    run(main())


# -------------------------------------------------------------------------------------------------- write service
@pytest.mark.parametrize("server_kind", ["raw", "pymodbus"])
def test_write_service_over_the_pollers_connection(redis_url, redis_client, server_kind):
    async def main():
        raw_server = pm_server = None
        if server_kind == "raw":
            unit = comp_unit(2)
            raw_server = await RawModbusServer({1: unit}).start()
            port = raw_server.port
        else:
            pm_server = await start_modbus_server([sim_device(COMP, 1, values={"run_state": 2,
                                                                               "load_pressure_mpa": 0.6})])
            port = server_port(pm_server)
        st = station("W1", [("C1", COMP.model, port, 1)])
        poller = Poller([st], PROFILES, redis_url, interval_s=0.1, timeout_s=0.5)
        task = asyncio.create_task(poller.run())
        loop = asyncio.get_running_loop()
        try:
            await wait_until(lambda: redis_client.pubsub_numsub(bus.CONTROL_WRITE_CHANNEL)[0][1] >= 1,
                             what="write service subscribed")
            reply = await loop.run_in_executor(None, lambda: bus.request_write(
                redis_client, "W1-C1", [("run_command", 1), ("load_pressure_mpa", 0.62)],
                read=["run_command", "load_pressure_mpa"], timeout_s=5))
            assert reply["ok"] and reply["error"] is None
            assert reply["values"]["run_command"] == 1
            assert reply["values"]["load_pressure_mpa"] == pytest.approx(0.62)
            with pytest.raises(ValueError, match="not writable"):
                await loop.run_in_executor(None, lambda: bus.request_write(redis_client, "W1-C1",
                                                                           [("run_state", 1)], timeout_s=5))
            with pytest.raises(ValueError, match="does not fit"):
                await loop.run_in_executor(None, lambda: bus.request_write(redis_client, "W1-C1",
                                                                           [("load_pressure_mpa", 1000.0)],
                                                                           timeout_s=5))
            with pytest.raises(ValueError, match="no register"):
                await loop.run_in_executor(None, lambda: bus.request_write(redis_client, "W1-C1",
                                                                           [("nope", 1)], timeout_s=5))
            with pytest.raises(TimeoutError, match="no poller answered for device XX-C1 within 1 s"):
                await loop.run_in_executor(None, lambda: bus.request_write(redis_client, "XX-C1",
                                                                           [("run_command", 1)], timeout_s=1))
            if raw_server is not None:
                assert (5, COMP.register("run_command").address, [True]) in unit.writes
                assert len(raw_server._writers) == 1  # the poller's own connection, no second client
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if raw_server is not None:
                await raw_server.stop()
            if pm_server is not None:
                await pm_server.shutdown()

    run(main())


# ----------------------------------------------------------------------------------------------- NaN clears latest
def test_nan_clears_the_stale_number_in_latest(redis_url, redis_client):
    meter = default_profiles()["cc-station-flow-meter"]
    spec = meter.register("flow_m3_min")

    async def main():
        inputs = {a: 0 for s in meter.registers if s.register_type == "input"
                  for a in range(s.address, s.address + s.count)}
        holding = {a: 0 for s in meter.registers if s.register_type == "holding"
                   for a in range(s.address, s.address + s.count)}
        unit = RawUnit(input=inputs, holding=holding)
        unit.set_words(spec.register_type, spec.address,
                       wire_words(">f", 12.5, spec.byte_order, spec.word_order))
        async with RawModbusServer({1: unit}) as server:
            poller = Poller([station("N1", [("F1", meter.model, server.port, 1)])], PROFILES, redis_url,
                            timeout_s=0.3)
            try:
                await poller.poll_once()
                first = redis_client.hget(bus.latest_key("N1-F1"), "flow_m3_min")
                unit.set_words(spec.register_type, spec.address,
                               wire_words(">f", float("nan"), spec.byte_order, spec.word_order))
                (reading,) = await poller.poll_once()
                return first, reading
            finally:
                await poller.aclose()

    first, reading = run(main())
    assert float(first) == pytest.approx(12.5)
    assert "flow_m3_min" in reading.devices[0].error
    latest = redis_client.hgetall(bus.latest_key("N1-F1"))
    assert b"flow_m3_min" not in latest and latest[b"_online"] == b"1"


def test_pymodbus_frame_dumps_off_unless_debug(monkeypatch):
    import logging
    logger = logging.getLogger("pymodbus.logging")
    level = logger.level
    try:
        logger.setLevel(logging.NOTSET)
        monkeypatch.setenv("CC_MODBUS_DEBUG", "1")
        Poller([], {}, "redis://127.0.0.1:1/0")
        assert logger.level == logging.NOTSET
        monkeypatch.delenv("CC_MODBUS_DEBUG")
        Poller([], {}, "redis://127.0.0.1:1/0")
        assert logger.level == logging.CRITICAL
    finally:
        logger.setLevel(level)
