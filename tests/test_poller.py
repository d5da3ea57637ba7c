"""Poller against real pymodbus servers on loopback and the session's private Redis (no mocks).

Every test drives ``Poller.poll_once`` (one full cycle) and waits for conditions with deadlines, never fixed sleeps.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
import time

import pytest
import redis
import redis.asyncio

from datasources.bus import messages as bus
from datasources.sql.fleet_spec import DeviceSpec, StationSpec
from datasources.bus.shard import parse_shard, shard_of
from datasources.modbus.poller import Poller
from datasources.modbus.profiles import default_profiles, profile_from_dict
from datasources.bus.redis_server import free_port
from tests.modbus_testserver import RawTcpServer, mbap, server_port, sim_device, start_modbus_server



@pytest.fixture(autouse=True)
def _quiet_pymodbus():
    """pymodbus logs every timeout and malformed frame we provoke on purpose (with frame dumps)."""
    logger = logging.getLogger("pymodbus")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


# ------------------------------------------------------------------------------------------------ test profile
#: every data type × word order on all four register types; two holding blocks (0..13 and 300)
ALL_TYPES = profile_from_dict({
    "model": "test-all-types", "kind": "power_meter", "registers": [
        {"name": "h_i16", "register_type": "holding", "address": 0, "data_type": "int16"},
        {"name": "h_u16", "register_type": "holding", "address": 1, "data_type": "uint16"},
        {"name": "h_i32_big", "register_type": "holding", "address": 2, "data_type": "int32"},
        {"name": "h_i32_little", "register_type": "holding", "address": 4, "data_type": "int32", "word_order": "little"},
        {"name": "h_u32_big", "register_type": "holding", "address": 6, "data_type": "uint32"},
        {"name": "h_u32_little", "register_type": "holding", "address": 8, "data_type": "uint32",
         "word_order": "little"},
        {"name": "h_f32_big", "register_type": "holding", "address": 10, "data_type": "float32"},
        {"name": "h_f32_little", "register_type": "holding", "address": 12, "data_type": "float32",
         "word_order": "little"},
        {"name": "h_far", "register_type": "holding", "address": 300, "data_type": "uint16", "scale": 0.01},
        {"name": "i_i16", "register_type": "input", "address": 0, "data_type": "int16", "scale": 0.1, "offset": -5},
        {"name": "i_i32_big", "register_type": "input", "address": 1, "data_type": "int32", "scale": 0.01},
        {"name": "i_u32_little", "register_type": "input", "address": 3, "data_type": "uint32", "word_order": "little",
         "scale": 0.1},
        {"name": "i_f32_little", "register_type": "input", "address": 5, "data_type": "float32",
         "word_order": "little"},
        {"name": "i_u16", "register_type": "input", "address": 7, "data_type": "uint16", "scale": 0.001},
        {"name": "c0", "register_type": "coil", "address": 0},
        {"name": "c1", "register_type": "coil", "address": 1},
        {"name": "c3", "register_type": "coil", "address": 3},
        {"name": "d0", "register_type": "discrete_input", "address": 0},
        {"name": "d9", "register_type": "discrete_input", "address": 9},
    ]}, source="test-all-types")


def _f32_words(x: float) -> list[int]:
    hi, lo = struct.unpack(">HH", struct.pack(">f", x))
    return [hi, lo]


#: raw cells written by hand (not by the codec under test) and the values they must decode to
RAW = {
    "h_i16": [0xFFFE], "h_u16": [0xFFFE],
    "h_i32_big": [0xFFFF, 0xFFFE],
    "h_i32_little": [0x0001, 0x0002],          # low word first: 0x0002_0001, big order would give 0x0001_0002
    "h_u32_big": [0x1234, 0x5678],
    "h_u32_little": [0x5678, 0x1234],          # the same number as h_u32_big, words swapped on the wire
    "h_f32_big": _f32_words(1.5),
    "h_f32_little": _f32_words(1.5)[::-1],
    "h_far": [12345],
    "i_i16": [0xFF9C],                          # -100 → -100 × 0.1 − 5
    "i_i32_big": [0xFFFF, 0xFC18],              # -1000 → -10.0
    "i_u32_little": [0x86A0, 0x0001],           # 100000 → 10000.0
    "i_f32_little": _f32_words(-2.25)[::-1],
    "i_u16": [500],
    "c0": [True], "c1": [False], "c3": [True],
    "d0": [False], "d9": [True],
}
EXPECTED = {
    "h_i16": -2, "h_u16": 65534, "h_i32_big": -2, "h_i32_little": 0x00020001, "h_u32_big": 0x12345678,
    "h_u32_little": 0x12345678, "h_f32_big": 1.5, "h_f32_little": 1.5, "h_far": 123.45,
    "i_i16": -15.0, "i_i32_big": -10.0, "i_u32_little": 10000.0, "i_f32_little": -2.25, "i_u16": 0.5,
    "c0": 1, "c1": 0, "c3": 1, "d0": 0, "d9": 1,
}


def run(coro):
    return asyncio.run(coro)


def station(sid: str, devices: list[tuple[str, str, int, int]], lifecycle: str = "built") -> StationSpec:
    """A station with devices given as (suffix, model, port, unit)."""
    profiles = {**default_profiles(), ALL_TYPES.model: ALL_TYPES}
    devs = tuple(DeviceSpec(device_id=f"{sid}-{suffix}", station_id=sid, kind=profiles[model].kind, model=model,
                            host="127.0.0.1", port=port, unit_id=unit)
                 for suffix, model, port, unit in devices)
    return StationSpec(station_id=sid, name=sid, name_en=sid, kind="smart_station", lifecycle=lifecycle,
                       lon=116.4, lat=39.9, province_adcode="110000", city_adcode="110100", capacity_m3_min=20.0,
                       partner="test", devices=devs if lifecycle == "built" else ())


def profiles_all() -> dict:
    return {**default_profiles(), ALL_TYPES.model: ALL_TYPES}


async def poll_until(poller: Poller, pred, timeout_s: float = 10.0) -> list[bus.StationReading]:
    """poll_once until ``pred(readings)`` holds; the readings of the cycle that satisfied it."""
    deadline = time.monotonic() + timeout_s
    while True:
        readings = await poller.poll_once()
        if pred(readings):
            return readings
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s; last readings: {readings}")
        await asyncio.sleep(poller.interval_s)


def dev_of(readings: list[bus.StationReading], device_id: str) -> bus.DeviceReading:
    for r in readings:
        for d in r.devices:
            if d.device_id == device_id:
                return d
    raise KeyError(device_id)


# ------------------------------------------------------------------------------------------------------- decode
def test_every_type_and_word_order_decoded_from_a_real_server(redis_url, redis_client):
    async def main():
        server = await start_modbus_server([sim_device(ALL_TYPES, 7, raw=RAW)])
        port = server_port(server)
        poller = Poller([station("S1", [("M1", ALL_TYPES.model, port, 7)])], profiles_all(), redis_url,
                        interval_s=0.05, timeout_s=0.5)
        try:
            readings = await poller.poll_once()
        finally:
            await poller.aclose()
            await server.shutdown()
        return readings, poller

    readings, poller = run(main())
    dev = dev_of(readings, "S1-M1")
    assert dev.online and dev.error is None
    assert set(dev.values) == set(EXPECTED)
    for name, want in EXPECTED.items():
        assert dev.values[name] == pytest.approx(want, abs=1e-9), name
    # little word order really swaps the words: same wire words, different numbers
    assert dev.values["h_i32_little"] != 0x00010002
    assert dev.values["h_u32_big"] == dev.values["h_u32_little"]
    # the profile needs 5 block reads: coils, discrete inputs, holding 0..13, holding 300, input 0..7
    assert poller.stats.requests == 5 and poller.stats.polls == 1 and poller.stats.failures == 0
    # and the cycle went to Redis
    latest = bus.parse_latest(redis_client.hgetall(bus.latest_key("S1-M1")))
    assert latest["online"] is True and latest["values"]["h_u32_big"] == 0x12345678
    assert latest["values"]["i_f32_little"] == pytest.approx(-2.25)
    summary = json.loads(redis_client.hget(bus.SUMMARY_HASH, "S1"))
    assert summary["devices_online"] == 1
    assert redis_client.xlen(bus.READINGS_STREAM) == 1


def test_packaged_profiles_through_codec_and_server(redis_url):
    """A full station of packaged devices behind one gateway port: values encoded by the codec come back."""
    profs = default_profiles()
    comp = profs["cc-fixed-speed-compressor"]
    values = {"discharge_pressure_mpa": 0.68, "discharge_temp_c": -3.5, "flow_m3_min": 10.25, "power_kw": 61.5,
              "energy_kwh": 123456.7, "run_state": 2, "running_hours_h": 4321.5, "run_command": 1,
              "remote_mode": 1, "load_pressure_mpa": 0.65}

    async def main():
        server = await start_modbus_server([
            sim_device(comp, 1, values=values),
            sim_device(profs["cc-station-flow-meter"], 2, values={"flow_m3_min": 20.5, "pressure_mpa": 0.66}),
            sim_device(profs["cc-station-io"], 3, values={"flood": 1, "room_temp_c": 21.5}),
        ])
        port = server_port(server)
        st = station("S2", [("C1", comp.model, port, 1), ("F1", "cc-station-flow-meter", port, 2),
                            ("IO", "cc-station-io", port, 3)])
        poller = Poller([st], profs, redis_url, timeout_s=0.5)
        try:
            return await poller.poll_once()
        finally:
            await poller.aclose()
            await server.shutdown()

    (reading,) = run(main())
    c1 = dev_of([reading], "S2-C1")
    for name, want in values.items():
        assert c1.values[name] == pytest.approx(want, rel=1e-6), name
    assert reading.summary.state == "alarm" and reading.summary.alarm_inputs == ["flood"]
    assert reading.summary.flow_m3_min == pytest.approx(20.5)
    assert reading.summary.compressors_loaded == 1 and reading.seq == 1


def test_nan_float_is_omitted_not_fatal(redis_url, redis_client):
    async def main():
        meter = default_profiles()["cc-station-flow-meter"]
        server = await start_modbus_server([sim_device(meter, 1, values={"pressure_mpa": 0.65},
                                                       raw={"flow_m3_min": [0x0000, 0x7FC0]})])  # NaN, little
        poller = Poller([station("S12", [("F1", meter.model, server_port(server), 1)])], default_profiles(),
                        redis_url, timeout_s=0.5)
        try:
            return await poller.poll_once(), poller
        finally:
            await poller.aclose()
            await server.shutdown()

    (reading,), poller = run(main())
    dev = reading.devices[0]
    assert dev.online and "flow_m3_min" not in dev.values and dev.values["pressure_mpa"] == pytest.approx(0.65)
    assert "non-finite" in dev.error and "flow_m3_min" in dev.error
    assert poller.stats.redis_ok and redis_client.hexists(bus.SUMMARY_HASH, "S12")


# ------------------------------------------------------------------------------------------- offline / online
@pytest.mark.parametrize("fault", ["mute", "refused"])
def test_device_goes_offline_after_n_cycles_and_comes_back(redis_url, redis_client, fault):
    offline_after = 3

    async def main():
        comp = default_profiles()["cc-fixed-speed-compressor"]
        good = [sim_device(comp, 1, values={"run_state": 2, "discharge_pressure_mpa": 0.7})]
        server = await start_modbus_server(good)
        port = server_port(server)
        other_server = await start_modbus_server([sim_device(comp, 1, values={"run_state": 1})])
        st = station("S3", [("C1", comp.model, port, 1)])
        other = station("S4", [("C1", comp.model, server_port(other_server), 1)])
        poller = Poller([st, other], default_profiles(), redis_url, interval_s=0.02, timeout_s=0.15, retries=1,
                        offline_after=offline_after, backoff_max_s=0.5)
        mute = None
        try:
            first = await poller.poll_once()
            assert dev_of(first, "S3-C1").online and dev_of(first, "S3-C1").values["run_state"] == 2
            await server.shutdown()
            if fault == "mute":  # something accepts connections on the port and never answers
                mute = await RawTcpServer(lambda req: None, port=port).start()
            seen = []
            for _ in range(offline_after):
                cycle = await poller.poll_once()
                seen.append(dev_of(cycle, "S3-C1"))
                # the device on the other port keeps reading meanwhile
                assert dev_of(cycle, "S4-C1").online and dev_of(cycle, "S4-C1").error is None
            # cycles 1..N-1: still online but stale (last values, old timestamp, error says why); cycle N: offline
            for d in seen[:-1]:
                assert d.online and d.error.startswith("stale: ")
                assert d.values["run_state"] == 2 and d.ts_ms == dev_of(first, "S3-C1").ts_ms
            assert not seen[-1].online and seen[-1].values == {}
            want = "no response" if fault == "mute" else "connect to"
            assert want in seen[-1].error or "not connected" in seen[-1].error, seen[-1].error
            assert cycle[0].summary.state == "offline"
            latest = bus.parse_latest(redis_client.hgetall(bus.latest_key("S3-C1")))
            assert latest["online"] is False and latest["values"]["run_state"] == 2  # last values kept
            assert latest["error"]
            # still reported offline every cycle while in backoff
            again = await poller.poll_once()
            assert not dev_of(again, "S3-C1").online
            # back: the real server answers on the same port again
            if mute is not None:
                await mute.stop()
            server2 = await start_modbus_server(
                [sim_device(comp, 1, values={"run_state": 3, "discharge_pressure_mpa": 0.7})], port=port)
            try:
                back = await poll_until(poller, lambda rs: dev_of(rs, "S3-C1").online, timeout_s=10)
            finally:
                await server2.shutdown()
            d = dev_of(back, "S3-C1")
            assert d.error is None and d.values["run_state"] == 3 and back[0].summary.state == "alarm"
            assert poller.stats.failures >= offline_after
        finally:
            if mute is not None:
                await mute.stop()
            await poller.aclose()
            await other_server.shutdown()

    run(main())


def test_never_answering_device_is_offline_at_once_and_timeouts_do_not_hold_others(redis_url):
    """A silent endpoint costs its own devices the timeout, not the stations on other endpoints."""
    async def main():
        comp = default_profiles()["cc-fixed-speed-compressor"]
        mute = await RawTcpServer(lambda req: None).start()
        good = await start_modbus_server([sim_device(comp, 1, values={"run_state": 2})])
        poller = Poller([station("S5", [("C1", comp.model, mute.port, 1), ("C2", comp.model, mute.port, 2)]),
                         station("S6", [("C1", comp.model, server_port(good), 1)])],
                        default_profiles(), redis_url, interval_s=0.05, timeout_s=0.2, retries=0)
        try:
            # run(): the silent station is still busy when the tick ends, the good one is written every tick
            task = asyncio.create_task(poller.run())
            r = redis.asyncio.Redis.from_url(redis_url)
            deadline = time.monotonic() + 10
            while True:
                raw = await r.hget(bus.SUMMARY_HASH, "S5")
                if raw is not None:
                    break
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
            assert json.loads(raw)["state"] == "offline"
            s6_writes = await r.xlen(bus.READINGS_STREAM)
            assert s6_writes >= 2  # S6 was written in earlier ticks, before S5's timeouts were over
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await r.aclose()
        finally:
            await poller.aclose()
            await mute.stop()
            await good.shutdown()

    run(main())


class _SwallowingPoller(Poller):
    """Every station poll swallows one cancellation — what Python 3.11's asyncio.wait_for (used by pymodbus for each
    reply) does when the reply and the cancel arrive in the same loop turn (seen with 200 stations in the benchmark:
    run() never returned)."""

    async def _poll_station(self, st):
        try:
            await asyncio.sleep(0.05)  # nearly all of a station loop's time is spent here
        except asyncio.CancelledError:
            pass
        return await super()._poll_station(st)


def test_run_stops_even_if_a_poll_swallows_the_cancellation(redis_url):
    async def main():
        comp = default_profiles()["cc-fixed-speed-compressor"]
        server = await start_modbus_server([sim_device(comp, 1)])
        stations = [station(f"R{i}", [("C1", comp.model, server_port(server), 1)]) for i in range(5)]
        poller = _SwallowingPoller(stations, default_profiles(), redis_url, interval_s=0.001, timeout_s=1.0)
        try:
            task = asyncio.create_task(poller.run())
            await wait_until(lambda: poller.stats.station_polls >= 10, what="traffic")
            task.cancel()
            done, _ = await asyncio.wait([task], timeout=5)
            assert done, "run() did not stop within 5 s of cancel()"
            assert task.cancelled()
        finally:
            await poller.aclose()
            await server.shutdown()

    run(main())


# ----------------------------------------------------------------------------------------------- malformed
def _garbage(req: bytes) -> bytes:
    return b"\xde\xad\xbe\xef" * 4


def _truncated(req: bytes) -> bytes:  # claims 4 data bytes, carries 1
    return mbap(req, bytes([req[7], 4, 0x00]))


def _short_count(req: bytes) -> bytes:  # well framed, but one register whatever was asked
    return mbap(req, bytes([req[7], 2, 0x00, 0x01]))


def _wrong_function(req: bytes) -> bytes:
    return mbap(req, bytes([(req[7] % 4) + 1, 2, 0x00, 0x01]))


@pytest.mark.parametrize("reply,expect", [(_garbage, "malformed reply"), (_truncated, "malformed reply"),
                                          (_short_count, "decode error"), (_wrong_function, "unexpected reply")])
def test_malformed_reply_is_a_device_error_and_others_still_read(redis_url, reply, expect):
    async def main():
        profs = default_profiles()
        raw_server = await RawTcpServer(reply).start()
        good = await start_modbus_server([sim_device(profs["cc-refrigerated-dryer"], 4, values={"dew_point_c": 3.5})])
        poller = Poller([station("S7", [("D1", "cc-refrigerated-dryer", raw_server.port, 4),
                                        ("D2", "cc-refrigerated-dryer", server_port(good), 4)])],
                        profs, redis_url, timeout_s=0.2, retries=0, offline_after=2)
        try:
            cycles = [await poller.poll_once() for _ in range(3)]
        finally:
            await poller.aclose()
            await raw_server.stop()
            await good.shutdown()
        return cycles, poller

    cycles, poller = run(main())
    for readings in cycles:
        bad, ok = dev_of(readings, "S7-D1"), dev_of(readings, "S7-D2")
        assert not bad.online and expect in bad.error, bad.error
        assert ok.online and ok.values["dew_point_c"] == pytest.approx(3.5)
    # it never answered: offline from the first failure, then retried with backoff (reported offline meanwhile)
    assert poller.stats.failures >= 1 and poller.stats.failures + poller.stats.skipped == 3
    assert poller.stats.cycles == 3


def test_exception_response_for_unmapped_address(redis_url):
    """The server knows a shorter map than the profile → exception code 2 (ILLEGAL_ADDRESS) → device error."""
    async def main():
        profs = default_profiles()
        vsd = profs["cc-variable-speed-compressor"]  # input registers 0..16
        fixed = profs["cc-fixed-speed-compressor"]  # same map but input 0..15: reading 0..16 hits an unmapped cell
        server = await start_modbus_server([sim_device(fixed, 1), sim_device(vsd, 2, values={"speed_pct": 87.5})])
        port = server_port(server)
        poller = Poller([station("S8", [("C1", vsd.model, port, 1), ("C2", vsd.model, port, 2)])], profs,
                        redis_url, timeout_s=0.3, retries=1)
        try:
            return await poller.poll_once(), poller
        finally:
            await poller.aclose()
            await server.shutdown()

    (reading,), poller = run(main())
    bad, ok = dev_of([reading], "S8-C1"), dev_of([reading], "S8-C2")
    assert not bad.online and bad.error.startswith("exception response 2 (ILLEGAL_ADDRESS)"), bad.error
    assert ok.online and ok.values["speed_pct"] == pytest.approx(87.5)
    assert poller.stats.requests <= 4 + 1 + 4  # exception responses are not retried


# ------------------------------------------------------------------------------------------------------ redis
async def wait_until(pred, timeout_s: float = 10.0, what: str = "condition") -> None:
    """Await until ``pred()`` is true (checked every 20 ms) or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout_s} s")
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("mode", ["poll_once", "run"])
def test_redis_outage_keeps_polling_and_reconnects(tmp_path, mode):
    from datasources.bus.redis_server import EmbeddedRedis

    port = free_port()
    server = EmbeddedRedis(port=port, workdir=tmp_path).start()
    clients: list[redis.Redis] = []

    def rds() -> redis.Redis:
        clients.append(redis.Redis.from_url(server.url, socket_connect_timeout=0.5))
        return clients[-1]

    async def main():
        comp = default_profiles()["cc-fixed-speed-compressor"]
        mb = await start_modbus_server([sim_device(comp, 1, values={"run_state": 2})])
        st = station("S9", [("C1", comp.model, server_port(mb), 1)])
        nb = station("S10", [], lifecycle="under_construction")
        poller = Poller([st, nb], default_profiles(), server.url, interval_s=0.05, timeout_s=0.3)
        task = asyncio.create_task(poller.run()) if mode == "run" else None

        async def cycle():  # one cycle in poll_once mode; in run mode just let the loop turn
            if task is None:
                return await poller.poll_once()
            await asyncio.sleep(poller.interval_s)

        try:
            r = rds()
            await cycle()
            await wait_until(lambda: r.hexists(bus.SUMMARY_HASH, "S10") and r.hexists(bus.SUMMARY_HASH, "S9"),
                           what="first write")
            server.stop()
            await cycle()
            await wait_until(lambda: not poller.stats.redis_ok, what="write failure noticed")
            polls = poller.stats.station_polls
            for _ in range(3):
                await cycle()
            await wait_until(lambda: poller.stats.station_polls >= polls + 3, what="polling goes on")
            assert poller.device_state("S9-C1")["online"]  # the Modbus side is unaffected
            assert poller.stats.write_failures >= 1
            server.port = port
            server.start()
            assert server.port == port
            r = rds()

            async def back():
                while not (poller.stats.redis_ok and r.hexists(bus.SUMMARY_HASH, "S9")):
                    await cycle()
                    await asyncio.sleep(0.02)
            await asyncio.wait_for(back(), 10)
            # the not-built station is announced again after the outage (the fresh Redis knew nothing)
            await wait_until(lambda: r.hexists(bus.SUMMARY_HASH, "S10"), what="re-announcement")
            assert json.loads(r.hget(bus.SUMMARY_HASH, "S10"))["state"] == "not_built"
            assert bus.parse_latest(r.hgetall(bus.latest_key("S9-C1")))["values"]["run_state"] == 2
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await poller.aclose()
            await mb.shutdown()

    try:
        run(main())
    finally:
        for c in clients:
            c.close()
        server.stop()


def test_not_built_station_announced_once(redis_url, redis_client):
    async def main():
        poller = Poller([station("S11", [], lifecycle="idle")], default_profiles(), redis_url)
        try:
            return [await poller.poll_once() for _ in range(3)]
        finally:
            await poller.aclose()

    cycles = run(main())
    assert [len(c) for c in cycles] == [1, 0, 0]
    assert cycles[0][0].summary.state == "not_built" and cycles[0][0].devices == []
    assert json.loads(redis_client.hget(bus.SUMMARY_HASH, "S11"))["state"] == "not_built"


# --------------------------------------------------------------------------------------------------- sharding
def test_shard_split_covers_every_station_exactly_once():
    ids = [f"ST{i:04d}" for i in range(1000)]
    stations = [station(sid, [], lifecycle="idle") for sid in ids]
    for n in (1, 2, 3, 4, 7, 16):
        parts = [Poller(stations, {}, "redis://127.0.0.1:1/0", shard=(i, n)).stations for i in range(n)]
        got = [s.station_id for part in parts for s in part]
        assert sorted(got) == sorted(ids) and len(got) == len(set(got))
        assert all(parts), f"an empty shard with n={n}"
        assert all(shard_of(s.station_id, n) == i for i, part in enumerate(parts) for s in part)
    assert shard_of("ST0001", 4) == shard_of("ST0001", 4)  # stable (crc32, not hash())


@pytest.mark.parametrize("text,want", [("0/1", (0, 1)), ("1/4", (1, 4)), (" 3/4 ", (3, 4))])
def test_parse_shard(text, want):
    assert parse_shard(text) == want


@pytest.mark.parametrize("text", ["4/4", "-1/4", "1/0", "a/b", "1", "1/2/3", ""])
def test_parse_shard_rejects(text):
    with pytest.raises(ValueError, match="shard"):
        parse_shard(text)


def test_constructor_validates():
    with pytest.raises(ValueError, match="shard"):
        Poller([], {}, "redis://x", shard=(2, 2))
    with pytest.raises(ValueError, match="offline_after"):
        Poller([], {}, "redis://x", offline_after=0)
