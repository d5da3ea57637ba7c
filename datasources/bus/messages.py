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
``cc:roster``                    pub/sub     duty-roster changes (an engineer's duty flag; see below)
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

The schema is code: :class:`StationReadingSchema` (pydantic, strict, unknown keys rejected; a value is a finite number
or a string) validates every message the bridge and the alarm engine read (:meth:`StationReading.from_json`); the
recorder's hot path uses :func:`parse_reading_entry` (same envelope, devices checked for the keys it reads; cost
measured by ``bench/bench_schemas.py``). Errors read ``station_reading: <field>: <reason>``
(:func:`ops.schema.error_text`).

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

Roster changes (:func:`datasources.sql.workorders.set_on_duty`, after its transaction commits; small and rare).
``PUBLISH cc:roster`` with::

    {"v": 1, "type": "roster", "event": "duty", "ts_ms": 1763700000000, "engineer_id": "E16", "on_duty": true,
     "city_adcode": "610100", "province_adcode": "610000"}      # the engineer's region (null when unknown)

The ops fan-out (:mod:`dashboard.live.ops_bridge`) relays it as the Socket.IO ``roster`` event to ``nation`` and the
engineer's ``province:`` / ``city:`` rooms; map layers that declare it (``Layer.live_events``) reload.
"""
from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from typing import Annotated, Any, Iterable, Literal, Optional, Union

from orjson import loads as _orjson_loads
from pydantic import ConfigDict, Field, GetPydanticSchema, PlainValidator, TypeAdapter, ValidationError, with_config
from pydantic_core import core_schema
from typing_extensions import NotRequired, TypedDict

from ops.schema import STRICT, error_text
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
ROSTER_CHANNEL = "cc:roster"
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
        """Parse and validate a message against the full schema (:class:`StationReadingSchema`).

        Raises:
            SchemaError: not JSON, wrong version, or a missing/mistyped field (``station_reading: <field>: <reason>``).
        """
        return cls.from_dict(_loads(raw))

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> "StationReading":
        """Validate a decoded message (:class:`StationReadingSchema`) and build the dataclasses.

        Raises:
            SchemaError: as :meth:`from_json`.
        """
        obj = _validate(_READING_ADAPTER, obj)
        devices = [DeviceReading(d["device_id"], d["kind"], d["model"], d["online"], d["ts_ms"], d.get("values", {}),
                                 d.get("error")) for d in obj["devices"]]
        summary = StationSummary(**obj["summary"])
        return cls(station_id=obj["station_id"], ts_ms=obj["ts_ms"], devices=devices, summary=summary,
                   seq=obj.get("seq", 0))


# ------------------------------------------------------------------------------------------------ schema (pydantic)
#: a value on the bus: a number, or text for ``data_type: string`` registers (:func:`datasources.modbus.codec.decode`)
#: (one union error "not a number or a string" instead of one error per member)
BusValue = Annotated[Union[int, float, str], GetPydanticSchema(lambda _tp, _handler: core_schema.union_schema(
    [core_schema.int_schema(strict=True), core_schema.float_schema(strict=True, allow_inf_nan=False),
     core_schema.str_schema(strict=True)],
    custom_error_type="bus_value", custom_error_message="Input should be a finite number or a string"))]


@with_config(STRICT)
class StationSummarySchema(TypedDict):
    """Wire schema of :class:`StationSummary` (every field but ``state`` optional, as the dataclass defaults)."""

    state: str
    devices_online: NotRequired[int]
    devices_total: NotRequired[int]
    compressors_loaded: NotRequired[int]
    compressors_total: NotRequired[int]
    flow_m3_min: NotRequired[float]
    power_kw: NotRequired[float]
    discharge_pressure_mpa: NotRequired[Optional[float]]
    alarm_inputs: NotRequired[list[str]]
    ts_ms: NotRequired[int]


@with_config(STRICT)
class DeviceReadingSchema(TypedDict):
    """Wire schema of :class:`DeviceReading`: every value a finite number or a string (JSON has no NaN)."""

    device_id: str
    kind: str
    model: str
    online: bool
    ts_ms: int
    values: NotRequired[dict[str, BusValue]]
    error: NotRequired[Optional[str]]
    nonfinite: NotRequired[Any]  # never written (to_json drops it); tolerated and ignored as before


def _light_device(d: Any) -> dict:
    """One device of the recorder's light check: the types of the keys it reads; ``values`` only as an object (its
    numbers are checked where they are used: a wrong one makes the recorder drop the whole entry).

    Raises:
        ValueError: naming the device and the key.
    """
    if type(d) is not dict:
        raise ValueError("must be an object")
    if type(d.get("device_id")) is not str:
        raise ValueError(f"device {d.get('device_id')!r}: device_id missing or not a string")
    if type(d.get("ts_ms")) is not int:
        raise ValueError(f"device {d['device_id']!r}: ts_ms missing or not an integer")
    if type(d.get("online")) is not bool:
        raise ValueError(f"device {d['device_id']!r}: online missing or not a boolean")
    if type(d.get("values", _EMPTY)) is not dict:
        raise ValueError(f"device {d['device_id']!r}: values not an object")
    return d


_EMPTY: dict = {}


def _check_light_devices(devices: list) -> None:
    """:func:`_light_device` of every device, fast path first (``bench/bench_schemas.py``: one pydantic model per
    device costs ~30 % of the recorder's parse; this check ~5 %).

    Raises:
        SchemaError: ``station_reading: devices[<i>]: <reason>``.
    """
    try:
        for d in devices:
            if (type(d["online"]) is not bool or type(d["ts_ms"]) is not int or type(d["device_id"]) is not str
                    or ("values" in d and type(d["values"]) is not dict)):
                break
        else:
            return
    except (KeyError, TypeError):
        pass
    for i, d in enumerate(devices):  # slow path: find the culprit and name it
        try:
            _light_device(d)
        except ValueError as exc:
            raise SchemaError(f"station_reading: devices[{i}]: {exc}") from None


@with_config(STRICT)
class _Envelope(TypedDict):
    station_id: str
    ts_ms: int
    seq: NotRequired[int]
    v: Literal[1]
    type: Literal["station_reading"]


class StationReadingSchema(_Envelope):
    """Wire schema of a ``station_reading`` (version 1, module docstring): strict, unknown keys rejected."""

    summary: StationSummarySchema
    devices: list[DeviceReadingSchema]


class StationReadingEntry(_Envelope):
    """The recorder's hot-path schema: the same envelope strictly; ``summary`` an object and ``devices`` a list,
    each device then checked by :func:`_check_light_devices` (a strict summary alone costs ~5 % of the parse; its
    numbers are read by the rollup, which rejects the entry on a wrong one)."""

    summary: dict
    devices: list


_READING_ADAPTER = TypeAdapter(StationReadingSchema)
_ENTRY_ADAPTER = TypeAdapter(StationReadingEntry)
_LABELS = {"v": "version"}


def _loads(raw: str | bytes) -> dict:
    try:
        obj = _orjson_loads(raw)
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"station_reading is not JSON: {exc}") from exc
    if type(obj) is not dict:
        raise SchemaError("station_reading must be a JSON object")
    return obj


def _validate(adapter: TypeAdapter, obj: Any) -> dict:
    try:
        return adapter.validate_python(obj)
    except ValidationError as exc:
        raise SchemaError(error_text(exc, "station_reading", _LABELS)) from None


def parse_reading_entry(raw: str | bytes) -> dict:
    """Decode and validate the ``data`` field of a ``cc:readings`` stream entry, as a plain dict (no dataclasses).

    The hot path of the recorder: the envelope is checked strictly, the summary as an object (:class:`StationReadingEntry`),
    each device only for the keys the recorder reads (:func:`_check_light_devices`); ``NaN``/``Infinity`` are rejected by
    the JSON parser (orjson). ``bench/bench_schemas.py`` measures its cost.

    Returns:
        the message as a dict (the schema of :class:`StationReadingSchema`).
    Raises:
        SchemaError: not JSON, wrong version/type, or a missing/mistyped field (``station_reading: <field>: <reason>``).
    """
    obj = _validate(_ENTRY_ADAPTER, _loads(raw))
    _check_light_devices(obj["devices"])
    return obj


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
def _finite_number(v: Any) -> float | int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"{v!r} is not a finite number")
    return v


@with_config(STRICT)
class RegisterWrite(TypedDict):
    """One write of a ``cc:control:write`` request: profile register name, engineering value."""

    name: str
    value: Annotated[Any, PlainValidator(_finite_number)]


NonEmptyStr = Annotated[str, Field(min_length=1)]


@with_config(ConfigDict(**{**STRICT, "extra": "allow"}))
class WriteRequestSchema(TypedDict):
    """Wire schema of a ``cc:control:write`` request (module docstring); unknown keys are kept (forward
    compatible senders), ``read`` defaults to ``[]``."""

    v: Literal[1]
    request_id: NonEmptyStr
    device_id: NonEmptyStr
    reply_to: NonEmptyStr
    writes: list[RegisterWrite]
    read: NotRequired[list[str]]


_WRITE_ADAPTER = TypeAdapter(WriteRequestSchema)


def parse_write_request(raw: str | bytes | dict) -> dict[str, Any]:
    """Validate a ``cc:control:write`` request (:class:`WriteRequestSchema`) and return it as a dict.

    Raises:
        ValueError: not JSON, wrong version, or a missing/mistyped field (``write request: <field>: <reason>``).
    """
    try:
        obj = _orjson_loads(raw) if not isinstance(raw, dict) else raw
    except (TypeError, ValueError) as exc:
        raise ValueError(f"write request is not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise ValueError("write request must be a JSON object")
    try:
        req = _WRITE_ADAPTER.validate_python(obj)
    except ValidationError as exc:
        raise ValueError(error_text(exc, "write request", _LABELS)) from None
    req.setdefault("read", [])
    return req


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
