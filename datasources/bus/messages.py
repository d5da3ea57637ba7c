"""The Redis bus: channel and key names, message schema (version 1), and the one-pipeline write of a poll cycle.

Keys and channels (DESIGN.md "Data flow"):

===============================  ==========  ==========================================================
name                             type        content
===============================  ==========  ==========================================================
``cc:readings:<station_id>``     pub/sub     one :class:`StationReading` JSON per station per poll cycle
``cc:latest:<device_id>``        hash        current values of one device (value names as in its profile)
                                             plus ``_ts_ms``, ``_online`` (``"1"``/``"0"``), ``_station_id``,
                                             ``_error``
``cc:summary``                   hash        station_id → :class:`StationSummary` JSON (first paint, health)
``cc:readings``                  stream      field ``data`` = the same JSON as published; ``MAXLEN ~`` bounded
``cc:alarms``                    pub/sub     alarm events (alarm engine)
``cc:workorders``                pub/sub     work-order events (dispatch)
``cc:sim:control``               pub/sub     commands to the simulated fleet (fault injection, register writes)
``cc:control:write``             pub/sub     write requests to the pollers (remote control, see below)
``cc:control:reply:<request>``   list        the owning poller's reply to one write request (``EXPIRE`` 60 s)
===============================  ==========  ==========================================================

Message schema, version 1 (``v: 1``). Timestamps are epoch milliseconds UTC. Units are in the value names
(``_mpa`` gauge pressure in MPa, ``_m3_min`` flow in m³/min at reference inlet conditions, ``_kw``, ``_kwh``,
``_m3``, ``_c`` degrees Celsius, ``_h`` hours, ``_pct`` percent)::

    {
      "v": 1, "type": "station_reading", "station_id": "ST0001", "ts_ms": 1763700000000, "seq": 17,
      "devices": [
        {"device_id": "ST0001-C1", "kind": "compressor", "model": "cc-fixed-speed-compressor",
         "online": true, "ts_ms": 1763700000000, "error": null,
         "values": {"discharge_pressure_mpa": 0.68, "flow_m3_min": 10.2, "power_kw": 61.3, "run_state": 2, ...}}
      ],
      "summary": {"state": "running", "devices_online": 8, "devices_total": 8, "compressors_loaded": 2,
                  "compressors_total": 3, "flow_m3_min": 20.4, "power_kw": 130.5,
                  "discharge_pressure_mpa": 0.67, "alarm_inputs": []}
    }

A device that did not answer has ``online: false``, its last ``values`` omitted (``{}``) and ``error`` set.
A float that decoded to NaN/±inf is left out of ``values`` (JSON has no NaN), named in ``error`` and *deleted* from
``cc:latest:<device>`` (``HDEL``) so no stale number stays there.

Write requests (remote control over the poller's own Modbus connection — single-connection gateways accept one TCP
client only). ``PUBLISH cc:control:write`` with::

    {"v": 1, "request_id": "5f0c…", "device_id": "ST0001-C1",
     "writes": [{"name": "run_command", "value": 1}],          # profile register names, engineering values
     "read": ["run_state"],                                      # registers read back after writing (may be [])
     "reply_to": "cc:control:reply:5f0c…"}

Only the poller whose shard owns the device acts: it checks each register exists and is ``writable`` and that the
value fits its type (:func:`datasources.modbus.codec.encode`), writes coils (function 5) / holding registers
(function 16) through the device's endpoint under the same per-request lock as its reads, reads back ``read``, then
``RPUSH reply_to <reply>`` and ``EXPIRE reply_to 60``::

    {"v": 1, "request_id": "5f0c…", "ok": true, "error": null, "values": {"run_state": 2}}

``ok: false`` carries the reason in ``error`` (refused value, unknown register, no response…). A request for a device
no poller owns gets no reply: :func:`request_write` raises ``TimeoutError``.
"""
from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Iterable

from ops.station_state import StationSummary  # noqa: F401 — the digest is domain logic (ops); re-exported here
from ops.vocab import STATION_STATES  # noqa: F401 — station live states, in order of display precedence

SCHEMA_VERSION = 1

READINGS_CHANNEL_PREFIX = "cc:readings:"
READINGS_PATTERN = "cc:readings:*"
READINGS_STREAM = "cc:readings"
LATEST_PREFIX = "cc:latest:"
SUMMARY_HASH = "cc:summary"
ALARMS_CHANNEL = "cc:alarms"
WORKORDERS_CHANNEL = "cc:workorders"
SIM_CONTROL_CHANNEL = "cc:sim:control"
CONTROL_WRITE_CHANNEL = "cc:control:write"
CONTROL_REPLY_PREFIX = "cc:control:reply:"


class SchemaError(ValueError):
    """A bus message does not follow the documented schema; the message says which field."""


def now_ms() -> int:
    """Current time, epoch milliseconds UTC."""
    return int(time.time() * 1000)


def readings_channel(station_id: str) -> str:
    return f"{READINGS_CHANNEL_PREFIX}{station_id}"


def latest_key(device_id: str) -> str:
    return f"{LATEST_PREFIX}{device_id}"


@dataclass
class DeviceReading:
    """One device's values in one poll cycle. ``values`` maps profile value names to floats/ints (units in names)."""

    device_id: str
    kind: str
    model: str
    online: bool
    ts_ms: int
    values: dict[str, float | int] = field(default_factory=dict)
    error: str | None = None
    #: value names that decoded to NaN/±inf this cycle: deleted from ``cc:latest`` (not part of the JSON message)
    nonfinite: tuple[str, ...] = field(default=(), compare=False, repr=False)


@dataclass
class StationReading:
    """One message per station per poll cycle (schema version 1)."""

    station_id: str
    ts_ms: int
    devices: list[DeviceReading]
    summary: StationSummary
    seq: int = 0
    v: int = SCHEMA_VERSION
    type: str = "station_reading"

    def to_json(self) -> str:
        obj = asdict(self)
        for dev in obj["devices"]:
            dev.pop("nonfinite", None)
        return json.dumps(obj, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> "StationReading":
        """Parse and validate a message.

        Raises:
            SchemaError: not JSON, wrong version, or a missing/mistyped field.
        """
        try:
            obj = json.loads(raw)
        except (TypeError, ValueError) as exc:
            raise SchemaError(f"station_reading is not JSON: {exc}") from exc
        return cls.from_dict(obj)

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> "StationReading":
        if not isinstance(obj, dict):
            raise SchemaError("station_reading must be a JSON object")
        if obj.get("v") != SCHEMA_VERSION:
            raise SchemaError(f"station_reading version {obj.get('v')!r} is not {SCHEMA_VERSION}")
        if obj.get("type") != "station_reading":
            raise SchemaError(f"type {obj.get('type')!r} is not 'station_reading'")
        for key, typ in (("station_id", str), ("ts_ms", int), ("devices", list), ("summary", dict)):
            if not isinstance(obj.get(key), typ):
                raise SchemaError(f"station_reading.{key} missing or not {typ.__name__}")
        try:
            devices = [DeviceReading(**{k: v for k, v in d.items() if k != "nonfinite"}) for d in obj["devices"]]
            summary = StationSummary(**obj["summary"])
        except TypeError as exc:
            raise SchemaError(f"station_reading device/summary fields: {exc}") from exc
        return cls(station_id=obj["station_id"], ts_ms=obj["ts_ms"], devices=devices, summary=summary,
                   seq=int(obj.get("seq", 0)))


def _nonfinite_names(dev: DeviceReading) -> list[str]:
    """Value names to delete from ``cc:latest``: ``dev.nonfinite`` plus any NaN/inf still in ``values``."""
    names = list(dev.nonfinite)
    names += [k for k, v in dev.values.items() if isinstance(v, float) and not math.isfinite(v) and k not in names]
    return names


def _latest_mapping(station_id: str, dev: DeviceReading) -> dict[str, str]:
    """``cc:latest`` fields of one device; NaN/inf values are left out (:func:`_nonfinite_names` deletes them)."""
    mapping = {k: repr(v) if isinstance(v, float) else str(v) for k, v in dev.values.items()
               if not (isinstance(v, float) and not math.isfinite(v))}
    mapping.update({"_ts_ms": str(dev.ts_ms), "_online": "1" if dev.online else "0",
                    "_station_id": station_id, "_error": dev.error or ""})
    return mapping


def write_cycle(client, readings: Iterable[StationReading], stream_maxlen: int = 200_000) -> int:
    """Write poll-cycle results with one pipeline round trip (no MULTI).

    For each station: ``PUBLISH cc:readings:<id>``, ``HSET cc:latest:<device>`` for every device (an offline device
    only updates ``_online``/``_error``/``_ts_ms`` so its last values stay readable), ``HSET cc:summary``,
    ``XADD cc:readings MAXLEN ~ stream_maxlen``.

    Args:
        client: a ``redis.Redis`` (sync) client.
    Returns:
        number of stations written.
    Raises:
        redis.exceptions.ConnectionError: Redis unreachable; nothing is partially retried here, the caller decides.
    """
    pipe = client.pipeline(transaction=False)
    n = 0
    for reading in readings:
        payload = reading.to_json()
        for dev in reading.devices:
            pipe.hset(latest_key(dev.device_id), mapping=_latest_mapping(reading.station_id, dev))
            gone = _nonfinite_names(dev)
            if gone:
                pipe.hdel(latest_key(dev.device_id), *gone)
        pipe.hset(SUMMARY_HASH, reading.station_id, json.dumps(asdict(reading.summary), separators=(",", ":")))
        pipe.xadd(READINGS_STREAM, {"data": payload}, maxlen=stream_maxlen, approximate=True)
        pipe.publish(readings_channel(reading.station_id), payload)
        n += 1
    if n:
        pipe.execute()
    return n


def parse_latest(mapping: dict) -> dict[str, Any]:
    """Decode a ``cc:latest:<device>`` hash (bytes or str keys) into ``{"values": {...}, "online", "ts_ms", ...}``."""
    out: dict[str, Any] = {"values": {}}
    for k, v in mapping.items():
        k = k.decode() if isinstance(k, bytes) else k
        v = v.decode() if isinstance(v, bytes) else v
        if k == "_ts_ms":
            out["ts_ms"] = int(v)
        elif k == "_online":
            out["online"] = v == "1"
        elif k == "_station_id":
            out["station_id"] = v
        elif k == "_error":
            out["error"] = v or None
        else:
            try:
                num = float(v)
                out["values"][k] = int(num) if num.is_integer() and "." not in v and "e" not in v else num
            except ValueError:
                out["values"][k] = v
    return out


# field names in declaration order (what ``asdict`` emits), for the fast serialisers below
_STATION_FIELDS = tuple(f.name for f in fields(StationReading))
_DEVICE_FIELDS = tuple(f.name for f in fields(DeviceReading) if f.name != "nonfinite")
_SUMMARY_FIELDS = tuple(f.name for f in fields(StationSummary))


def summary_json(summary: StationSummary) -> str:
    """``json.dumps(asdict(summary))`` (compact, no NaN) without ``asdict``'s deep copies."""
    return json.dumps({k: getattr(summary, k) for k in _SUMMARY_FIELDS}, separators=(",", ":"), allow_nan=False)


def reading_json(reading: StationReading) -> str:
    """Exactly :meth:`StationReading.to_json` (same keys, order, separators), several times faster.

    ``dataclasses.asdict`` deep-copies every value; a poll cycle of 1000 stations spent most of its Redis write time
    there. Field lists come from the dataclasses, so a field added to them is serialised here too.

    Raises:
        ValueError: a NaN/inf value (JSON has none).
    """
    obj = {k: getattr(reading, k) for k in _STATION_FIELDS}
    obj["devices"] = [{k: getattr(d, k) for k in _DEVICE_FIELDS} for d in reading.devices]
    obj["summary"] = {k: getattr(reading.summary, k) for k in _SUMMARY_FIELDS}
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


async def write_cycle_async(client, readings: Iterable[StationReading], stream_maxlen: int = 200_000) -> int:
    """Async twin of :func:`write_cycle` for a ``redis.asyncio.Redis`` client: the same keys, one pipeline round trip.

    Args:
        client: a ``redis.asyncio.Redis`` client.
        readings: the stations of one poll cycle (or of several stations' cycles batched together).
        stream_maxlen: approximate bound of the ``cc:readings`` stream (``XADD ... MAXLEN ~``).
    Returns:
        number of stations written.
    Raises:
        redis.exceptions.ConnectionError / TimeoutError: Redis unreachable; nothing is retried here.
        ValueError: a NaN/inf value in a reading (nothing is sent).
    """
    pipe = client.pipeline(transaction=False)
    n = 0
    for reading in readings:
        payload = reading_json(reading)
        for dev in reading.devices:
            pipe.hset(latest_key(dev.device_id), mapping=_latest_mapping(reading.station_id, dev))
            gone = _nonfinite_names(dev)
            if gone:
                pipe.hdel(latest_key(dev.device_id), *gone)
        pipe.hset(SUMMARY_HASH, reading.station_id, summary_json(reading.summary))
        pipe.xadd(READINGS_STREAM, {"data": payload}, maxlen=stream_maxlen, approximate=True)
        pipe.publish(readings_channel(reading.station_id), payload)
        n += 1
    if n:
        await pipe.execute()
    return n


# ------------------------------------------------------------------------------------------------ write requests
def parse_write_request(raw: str | bytes | dict) -> dict[str, Any]:
    """Validate a ``cc:control:write`` request (schema in the module docstring) and return it as a dict.

    Raises:
        ValueError: not JSON, wrong version, or a missing/mistyped field (the message names it).
    """
    try:
        obj = json.loads(raw) if not isinstance(raw, dict) else raw
    except (TypeError, ValueError) as exc:
        raise ValueError(f"write request is not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise ValueError("write request must be a JSON object")
    if obj.get("v") != SCHEMA_VERSION:
        raise ValueError(f"write request version {obj.get('v')!r} is not {SCHEMA_VERSION}")
    for key in ("request_id", "device_id", "reply_to"):
        if not isinstance(obj.get(key), str) or not obj[key]:
            raise ValueError(f"write request.{key} missing or not a non-empty string")
    writes = obj.get("writes")
    if not isinstance(writes, list):
        raise ValueError("write request.writes missing or not a list")
    for i, w in enumerate(writes):
        if not isinstance(w, dict) or not isinstance(w.get("name"), str):
            raise ValueError(f"write request.writes[{i}].name missing or not a string")
        v = w.get("value")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"write request.writes[{i}].value {v!r} is not a finite number")
    read = obj.get("read", [])
    if not isinstance(read, list) or not all(isinstance(n, str) for n in read):
        raise ValueError("write request.read must be a list of register names")
    obj["read"] = read
    return obj


def request_write(redis_client, device_id: str, writes: Iterable[tuple[str, float] | dict],
                  read: Iterable[str] = (), timeout_s: float = 5.0) -> dict[str, Any]:
    """Ask the poller owning ``device_id`` to write registers over its own connection and wait for its reply.

    Args:
        redis_client: a sync ``redis.Redis``.
        writes: ``(name, value)`` pairs or ``{"name", "value"}`` dicts; values in engineering units (as on the bus).
        read: register names read back after the writes.
        timeout_s: how long to wait for the reply, seconds (rounded up to whole seconds for BLPOP, at least 1).
    Returns:
        the reply: ``{"v": 1, "request_id", "ok": True, "error": None, "values": {name: value}}``.
    Raises:
        TimeoutError: no poller answered within ``timeout_s`` (nobody owns the device, or the poller is down).
        ValueError: the poller refused or failed the write (``error`` of the reply), or a malformed argument.
        redis.exceptions.ConnectionError: Redis unreachable.
    """
    items = [w if isinstance(w, dict) else {"name": w[0], "value": w[1]} for w in writes]
    request_id = uuid.uuid4().hex
    reply_to = f"{CONTROL_REPLY_PREFIX}{request_id}"
    req = parse_write_request({"v": SCHEMA_VERSION, "request_id": request_id, "device_id": device_id,
                               "writes": items, "read": list(read), "reply_to": reply_to})
    redis_client.publish(CONTROL_WRITE_CHANNEL, json.dumps(req, separators=(",", ":"), allow_nan=False))
    got = redis_client.blpop([reply_to], timeout=max(1, math.ceil(timeout_s)))
    if got is None:
        raise TimeoutError(f"no poller answered for device {device_id} within {timeout_s:g} s")
    redis_client.delete(reply_to)
    reply = json.loads(got[1])
    if not reply.get("ok"):
        raise ValueError(f"write to {device_id} refused: {reply.get('error')}")
    return reply
