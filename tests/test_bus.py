"""Bus schema v1 and the one-pipeline cycle write (sync and async) against the session's private Redis."""
from __future__ import annotations

import asyncio
import json
import time

import pytest
import redis
import redis.asyncio

from datasources.bus import messages as bus
from datasources.bus.messages import DeviceReading, SchemaError, StationReading, StationSummary


def reading(station_id: str = "ST0001", seq: int = 1, online: bool = True, ts: int = 1_763_700_000_000,
            values: dict | None = None) -> StationReading:
    values = {"discharge_pressure_mpa": 0.68, "flow_m3_min": 10.2, "power_kw": 61.3, "run_state": 2,
              "discharge_temp_c": -3.5} if values is None else values
    devices = [
        DeviceReading(device_id=f"{station_id}-C1", kind="compressor", model="cc-fixed-speed-compressor",
                      online=online, ts_ms=ts, values=values if online else {},
                      error=None if online else "no response from 127.0.0.1:1502 within 0.5 s"),
        DeviceReading(device_id=f"{station_id}-IO", kind="station_io", model="cc-station-io", online=True, ts_ms=ts,
                      values={"fire": 0, "flood": 1, "room_temp_c": 21.5}),
    ]
    summary = StationSummary(state="alarm", devices_online=1 + online, devices_total=2, compressors_loaded=int(online),
                             compressors_total=1, flow_m3_min=10.2, power_kw=61.3, discharge_pressure_mpa=0.68,
                             alarm_inputs=["flood"], ts_ms=ts)
    return StationReading(station_id=station_id, ts_ms=ts, devices=devices, summary=summary, seq=seq)


# ------------------------------------------------------------------------------------------------------ schema
def test_json_round_trip():
    r = reading()
    raw = r.to_json()
    obj = json.loads(raw)
    assert obj["v"] == bus.SCHEMA_VERSION == 1 and obj["type"] == "station_reading" and obj["seq"] == 1
    assert obj["devices"][0]["values"]["run_state"] == 2
    back = StationReading.from_json(raw)
    assert back == r
    assert StationReading.from_json(raw.encode()) == r  # bytes, as redis-py hands them over


def test_fast_serialisers_match_to_json():
    for r in (reading(), reading(online=False), reading(values={})):
        assert bus.reading_json(r) == r.to_json()
        assert json.loads(bus.summary_json(r.summary)) == json.loads(r.to_json())["summary"]
    with pytest.raises(ValueError):
        bus.reading_json(reading(values={"flow_m3_min": float("inf")}))


def test_to_json_rejects_nan():
    r = reading(values={"flow_m3_min": float("nan")})
    with pytest.raises(ValueError):
        r.to_json()


def _mutated(fn) -> str:
    obj = json.loads(reading().to_json())
    fn(obj)
    return json.dumps(obj)


@pytest.mark.parametrize("raw,words", [
    (_mutated(lambda o: o.update(v=2)), ["version"]),
    (_mutated(lambda o: o.pop("v")), ["version"]),
    (_mutated(lambda o: o.update(type="alarm")), ["type"]),
    (_mutated(lambda o: o.pop("station_id")), ["station_id"]),
    (_mutated(lambda o: o.pop("ts_ms")), ["ts_ms"]),
    (_mutated(lambda o: o.update(ts_ms="yesterday")), ["ts_ms"]),
    (_mutated(lambda o: o.pop("devices")), ["devices"]),
    (_mutated(lambda o: o.pop("summary")), ["summary"]),
    (_mutated(lambda o: o["devices"][0].pop("online")), ["device"]),
    (_mutated(lambda o: o["summary"].update(colour="red")), ["summary"]),
    ("{not json", ["not JSON"]),
    ("[1, 2]", ["object"]),
])
def test_from_json_rejects(raw, words):
    with pytest.raises(SchemaError) as err:
        StationReading.from_json(raw)
    for word in words:
        assert word in str(err.value)


def test_parse_latest_types():
    got = bus.parse_latest({b"p": b"0.68", b"n": b"2", b"big": b"1e+20", b"s": b"abc", b"_online": b"0",
                            b"_ts_ms": b"17", b"_station_id": b"ST1", b"_error": b""})
    assert got["values"] == {"p": 0.68, "n": 2, "big": 1e20, "s": "abc"}
    assert isinstance(got["values"]["n"], int) and isinstance(got["values"]["big"], float)
    assert got["online"] is False and got["ts_ms"] == 17 and got["station_id"] == "ST1" and got["error"] is None


# ------------------------------------------------------------------------------------------------ write_cycle
def _wait_message(pubsub, timeout_s: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        msg = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if msg is not None:
            return msg
    raise AssertionError("no message received")


def _check_written(client: redis.Redis, r: StationReading) -> None:
    latest = bus.parse_latest(client.hgetall(bus.latest_key("ST0001-C1")))
    assert latest["online"] is True and latest["ts_ms"] == r.ts_ms and latest["station_id"] == "ST0001"
    assert latest["error"] is None
    assert latest["values"] == {"discharge_pressure_mpa": 0.68, "flow_m3_min": 10.2, "power_kw": 61.3,
                                "run_state": 2, "discharge_temp_c": -3.5}
    summary = json.loads(client.hget(bus.SUMMARY_HASH, "ST0001"))
    assert summary == json.loads(r.to_json())["summary"] and summary["state"] == "alarm"
    entries = client.xrange(bus.READINGS_STREAM)
    assert len(entries) == 1
    assert StationReading.from_json(entries[0][1][b"data"]) == r


def test_write_cycle_sync(redis_client):
    r = reading()
    pubsub = redis_client.pubsub()
    pubsub.psubscribe(bus.READINGS_PATTERN)
    _wait_subscribed(pubsub)
    assert bus.write_cycle(redis_client, [r]) == 1
    msg = _wait_message(pubsub)
    assert msg["channel"] == b"cc:readings:ST0001" and StationReading.from_json(msg["data"]) == r
    _check_written(redis_client, r)
    pubsub.close()
    assert bus.write_cycle(redis_client, []) == 0


def _wait_subscribed(pubsub, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        msg = pubsub.get_message(timeout=0.1)
        if msg and msg["type"] in ("subscribe", "psubscribe"):
            return
    raise AssertionError("subscription not confirmed")


def test_write_cycle_async(redis_url, redis_client):
    r = reading()

    async def main():
        client = redis.asyncio.Redis.from_url(redis_url)
        pubsub = client.pubsub()
        await pubsub.subscribe(bus.readings_channel("ST0001"))
        deadline = time.monotonic() + 5
        while True:  # wait for the subscription to be confirmed
            msg = await pubsub.get_message(timeout=0.1)
            if msg and msg["type"] == "subscribe":
                break
            assert time.monotonic() < deadline
        assert await bus.write_cycle_async(client, [r]) == 1
        deadline = time.monotonic() + 5
        while True:
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if msg:
                break
            assert time.monotonic() < deadline
        assert await bus.write_cycle_async(client, []) == 0
        await pubsub.aclose()
        await client.aclose()
        return msg

    msg = asyncio.run(main())
    assert msg["channel"] == b"cc:readings:ST0001" and StationReading.from_json(msg["data"]) == r
    _check_written(redis_client, r)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_offline_device_keeps_last_values(redis_url, redis_client, mode):
    good, bad = reading(seq=1), reading(seq=2, online=False, ts=1_763_700_001_000)
    if mode == "sync":
        bus.write_cycle(redis_client, [good])
        bus.write_cycle(redis_client, [bad])
    else:
        async def main():
            client = redis.asyncio.Redis.from_url(redis_url)
            await bus.write_cycle_async(client, [good])
            await bus.write_cycle_async(client, [bad])
            await client.aclose()
        asyncio.run(main())
    latest = bus.parse_latest(redis_client.hgetall(bus.latest_key("ST0001-C1")))
    assert latest["online"] is False and latest["ts_ms"] == 1_763_700_001_000
    assert latest["error"].startswith("no response")
    assert latest["values"]["run_state"] == 2 and latest["values"]["flow_m3_min"] == 10.2
    assert redis_client.xlen(bus.READINGS_STREAM) == 2


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_stream_maxlen_is_approximately_bounded(redis_url, redis_client, mode):
    maxlen, batches, per_batch = 300, 30, 50  # 1500 entries written
    cycles = [[reading(station_id=f"ST{b:02d}{i:02d}", seq=b) for i in range(per_batch)] for b in range(batches)]
    if mode == "sync":
        for c in cycles:
            bus.write_cycle(redis_client, c, stream_maxlen=maxlen)
    else:
        async def main():
            client = redis.asyncio.Redis.from_url(redis_url)
            for c in cycles:
                await bus.write_cycle_async(client, c, stream_maxlen=maxlen)
            await client.aclose()
        asyncio.run(main())
    n = redis_client.xlen(bus.READINGS_STREAM)
    # MAXLEN ~ trims whole radix-tree nodes (stream-node-max-entries, 100 by default): never below maxlen,
    # at most about one node above it
    assert maxlen <= n <= maxlen + 200, n
    assert redis_client.hlen(bus.SUMMARY_HASH) == batches * per_batch
    newest = StationReading.from_json(redis_client.xrevrange(bus.READINGS_STREAM, count=1)[0][1][b"data"])
    assert newest.station_id == f"ST{batches - 1:02d}{per_batch - 1:02d}"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_nonfinite_value_clears_the_stale_number_in_latest(redis_url, redis_client, mode):
    summary = StationSummary(state="running")
    good = StationReading("ST9", 1, [DeviceReading("ST9-F1", "flow_meter", "m", True, 1,
                                                   {"flow_m3_min": 12.5, "pressure_mpa": 0.6})], summary)
    bad = StationReading("ST9", 2, [DeviceReading("ST9-F1", "flow_meter", "m", True, 2, {"pressure_mpa": 0.61},
                                                  "non-finite value(s) omitted: flow_m3_min=nan",
                                                  nonfinite=("flow_m3_min",))], summary)

    def write(r):
        if mode == "sync":
            return bus.write_cycle(redis_client, [r])
        client = redis.asyncio.Redis.from_url(redis_url)

        async def go():
            try:
                return await bus.write_cycle_async(client, [r])
            finally:
                await client.aclose()
        return asyncio.run(go())

    write(good)
    assert redis_client.hget(bus.latest_key("ST9-F1"), "flow_m3_min") == b"12.5"
    write(bad)
    latest = bus.parse_latest(redis_client.hgetall(bus.latest_key("ST9-F1")))
    assert "flow_m3_min" not in latest["values"] and latest["values"]["pressure_mpa"] == pytest.approx(0.61)
    assert "nonfinite" not in bad.to_json() and bus.reading_json(bad) == bad.to_json()


@pytest.mark.parametrize("obj,field", [
    ({"v": 2}, "version"),
    ({"v": 1, "request_id": "r", "device_id": "", "writes": [], "reply_to": "x"}, "device_id"),
    ({"v": 1, "request_id": "r", "device_id": "D", "writes": {}, "reply_to": "x"}, "writes"),
    ({"v": 1, "request_id": "r", "device_id": "D", "writes": [{"name": "a", "value": "1"}], "reply_to": "x"},
     "writes[0].value"),
    ({"v": 1, "request_id": "r", "device_id": "D", "writes": [{"name": "a", "value": float("nan")}],
      "reply_to": "x"}, "writes[0].value"),
    ({"v": 1, "request_id": "r", "device_id": "D", "writes": [], "read": "a", "reply_to": "x"}, "read"),
])
def test_parse_write_request_rejects(obj, field):
    with pytest.raises(ValueError, match=field.replace("[", r"\[").replace("]", r"\]")):
        bus.parse_write_request(obj)


def test_request_write_times_out_when_nobody_owns_the_device(redis_client):
    t0 = time.monotonic()
    with pytest.raises(TimeoutError, match="no poller answered for device ST1-C1 within 1 s"):
        bus.request_write(redis_client, "ST1-C1", [("run_command", 1)], timeout_s=1)
    assert time.monotonic() - t0 < 3
