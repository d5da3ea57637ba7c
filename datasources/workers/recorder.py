"""The recorder: a consumer group on the ``cc:readings`` stream that keeps SQL energy rollups up to date.

Data flow (DESIGN.md): poller ``XADD cc:readings`` (field ``data`` = a :class:`datasources.bus.messages.StationReading`
JSON, schema v1) → ``XREADGROUP GROUP recorder <consumer>`` → minute / hour / day rollups per device and per station
(tables in :mod:`datasources.sql.energy_models`) → ``XACK`` after the database commit.

What is computed per reading
----------------------------
Each relevant device (``compressor``, ``flow_meter``, ``power_meter``; other kinds are ignored) that is ``online``
contributes

* a **sample** to the minute bucket of its ``ts_ms``: ``samples``, ``flow_sum`` (Σ flow_m3_min), ``power_sum``
  (Σ power_kw), pressure min/max (``discharge_pressure_mpa``, flow meter ``pressure_mpa``), compressor
  ``temp_max`` (``discharge_temp_c``) and ``running_hours_h`` (largest value seen);
* an **interval** ``[previous ts, ts)`` of that device, when the previous online reading is at most ``max_gap_s``
  (default 300 s) old: the interval is split at minute boundaries and each piece gets its share (by time) of the
  counter deltas (``energy_kwh``; ``air_volume_m3`` / flow meter ``total_m3`` → ``air_m3``) and its seconds,
  counted by the ``run_state`` observed at the *start* of the interval (sample-and-hold: 0 stop, 1 unload, 2 load,
  3 fault → ``stopped_s``, ``unloaded_s``, ``loaded_s``, ``fault_s``); ``unloaded_kwh`` = power at the start ×
  unloaded seconds / 3600.

Counters go through :func:`ops.energy.counter_delta`: a uint32 rollover (×0.1 kWh modulus 429,496,729.6, m³
modulus 2³²) is unwrapped; a counter that goes down otherwise is a **reset** (device replaced / counter cleared) and
the new value is the delta (it counted from 0 within the interval), unless that value exceeds the plausibility rate
(``max_energy_rate_kw`` / ``max_air_rate_m3_min`` × interval), then nothing is attributed and the counter is
re-baselined; an increase above the plausibility rate is also dropped (``resets`` counts both).

**Gaps stay gaps.** An interval longer than ``max_gap_s`` (a device offline, the poller or the recorder's input
missing) is not attributed at all: no seconds, no counter delta — the counter is simply re-baselined — and the
bucket where the interval ends gets ``gaps += 1``. A minute without readings has no row (never zeros). Energy and
air over a gap are therefore missing from *both* totals, so the air-to-power ratio stays unbiased.

Station rows: ``samples``/``flow_sum``/``power_sum``/pressures come from the station summary (meter values where
the meters answered, else compressor sums — :func:`ops.station_state.summarise`) when a device was online;
``loaded_s`` … ``unloaded_kwh`` and ``comp_air_m3``/``comp_energy_kwh`` sum the compressors; ``air_m3`` /
``energy_kwh`` are the station **flow meter / power meter** delta for a reading where that meter is *continuous*
(online in this and in the previous reading of the station, interval ≤ ``max_gap_s``), otherwise the **sum over the
compressors** for that reading. A meter returning after an outage is re-baselined instead of back-filling the outage
(whose air/energy were already counted from the compressors), so nothing is counted twice.

Idempotency and at-least-once
-----------------------------
* Each station has a watermark row in ``recorder_station_state``: ``last_ts_ms`` of the newest reading whose
  contribution is committed, plus the previous counter values/states of its devices (JSON). The rollup upserts
  (additive ``ON CONFLICT DO UPDATE``) and the watermark update are **one transaction per batch**; ``XACK`` follows
  the commit.
* A reading with ``ts_ms <= last_ts_ms`` is a replay (or arrives out of order) and is skipped. So re-delivering
  entries (a crash between commit and ``XACK``, ``XGROUP SETID recorder 0``, ``XAUTOCLAIM`` of a dead consumer's
  entries) changes nothing, and a crash before the commit loses nothing: the entries are still pending for this
  consumer and are re-read (``XREADGROUP … 0``) on restart.
* Scale-out is by **station shard**: ``RecorderConfig.shard = (i, n)`` records the stations with
  ``zlib.crc32(station_id) % n == i`` (the poller's formula) in its own group ``recorder-<i>of<n>``; each shard
  reads the whole stream and acknowledges other shards' entries unprocessed. Keep **one active consumer per
  group**. A second consumer in the same group cannot double count: each commit is taken under a write lock
  (SQLite ``BEGIN IMMEDIATE``; PostgreSQL ``pg_advisory_xact_lock``) after checking that every station's stored
  ``last_ts_ms`` is still the one the batch started from; stations another consumer advanced meanwhile are left out
  of the commit and their entries stay pending, are re-read and then skip as older than the watermark. But a
  station whose readings were split between two consumers loses the interval before the other consumer's first
  reading, so extra consumers are standbys: entries of a consumer that died are taken over with ``XAUTOCLAIM`` after
  ``claim_idle_ms``.
* Catch-up: a stopped recorder resumes from the group's last delivered id, so it reads every entry still in the
  stream (bounded by ``XADD MAXLEN ~``, default 200,000 entries ≈ 20 s of a 10,000-station fleet at 1 Hz, or 14 min of
  240 stations; older entries trimmed while the recorder was down are lost and appear as gaps).
* Malformed entries (:class:`datasources.bus.messages.SchemaError`) are logged, counted and acknowledged (never retried
  forever). Entries deleted by trimming while pending are acknowledged.

Retention: minute rows older than ``minute_retention_days`` (default 7) are deleted by :func:`purge_minutes`, which
the loop runs every ``purge_interval_s``; hour and day rows are kept.

Time: all ``ts_ms`` are epoch milliseconds UTC; ``bucket_ts`` epoch seconds UTC; day buckets are CST days (UTC+8).
"""
from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import signal
import socket
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

import redis
from sqlalchemy import Engine, select, text

from datasources.bus.messages import READINGS_STREAM, SCHEMA_VERSION, SchemaError
from datasources.sql.energy_models import DEVICE_TABLES, STATION_TABLES, RecorderStationState
from datasources.sql.energy_store import DEVICE_MEASURES, STATION_MEASURES, write_rollups
from ops.energy import (CST_OFFSET_S, DEFAULT_MAX_GAP_S, ENERGY_KWH_MODULUS, VOLUME_M3_MODULUS, counter_delta,
                        month_key)

try:  # optional: orjson parses the readings 3–5× faster than the standard library (and rejects NaN/Infinity too)
    from orjson import loads as _json_loads
except ImportError:  # pragma: no cover - depends on the environment
    def _json_loads(raw):
        return json.loads(raw, parse_constant=_reject_constant)

log = logging.getLogger(__name__)

GROUP = "recorder"
RELEVANT_KINDS = frozenset(("compressor", "flow_meter", "power_meter"))
_ADVISORY_LOCK_KEY = 0x63637265  # "ccre": serialises recorder commits on PostgreSQL

# accumulator layout (lists, for speed), same order as energy_store.STATION_MEASURES / DEVICE_MEASURES
SAMPLES, FLOW, POWER, AIR, ENERGY, COVERED, LOADED, UNLOADED, STOPPED, FAULT, UNLOADED_KWH, PMIN, PMAX, GAPS, \
    RESETS = range(15)
COMP_AIR, COMP_ENERGY = 15, 16      # station accumulators
TEMP_MAX, RH_MAX = 15, 16           # device accumulators
assert STATION_MEASURES[COMP_AIR] == "comp_air_m3" and DEVICE_MEASURES[RH_MAX] == "running_hours_h"
_ADDITIVE_STATION = (SAMPLES, FLOW, POWER, AIR, ENERGY, COVERED, LOADED, UNLOADED, STOPPED, FAULT, UNLOADED_KWH,
                     GAPS, RESETS, COMP_AIR, COMP_ENERGY)
_ADDITIVE_DEVICE = _ADDITIVE_STATION[:-2]
_STATE_INDEX = {0: STOPPED, 1: UNLOADED, 2: LOADED, 3: FAULT}  # run_state → accumulator index


def _new_acc() -> list:
    return [0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, None, None, 0, 0, 0.0, 0.0]


def _new_dev_acc() -> list:
    return [0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, None, None, 0, 0, None, None]


def _min(a, b):
    return b if a is None else (a if b is None or a <= b else b)


def _max(a, b):
    return b if a is None else (a if b is None or a >= b else b)


def merge_acc(into: list, other: list, station: bool) -> None:
    """Combine accumulator ``other`` into ``into`` in place (sums add, extremes min/max). Minute → hour → day."""
    for i in (_ADDITIVE_STATION if station else _ADDITIVE_DEVICE):
        into[i] += other[i]
    into[PMIN] = _min(into[PMIN], other[PMIN])
    into[PMAX] = _max(into[PMAX], other[PMAX])
    if not station:
        into[TEMP_MAX] = _max(into[TEMP_MAX], other[TEMP_MAX])
        into[RH_MAX] = _max(into[RH_MAX], other[RH_MAX])


def split_minutes(t0_ms: int, t1_ms: int) -> list[tuple[int, float]]:
    """Split the interval ``[t0_ms, t1_ms)`` (epoch ms UTC) at minute boundaries.

    Returns:
        ``[(minute_start_s, seconds), ...]`` in time order (epoch s UTC, seconds > 0); empty when ``t1_ms <= t0_ms``.
    """
    if t1_ms <= t0_ms:
        return []
    m0 = t0_ms - t0_ms % 60000
    if t1_ms <= m0 + 60000:
        return [(m0 // 1000, (t1_ms - t0_ms) / 1000.0)]
    out = []
    a = t0_ms
    while a < t1_ms:
        m = a - a % 60000
        b = min(m + 60000, t1_ms)
        out.append((m // 1000, (b - a) / 1000.0))
        a = b
    return out


def _day_start(ts_s: int) -> int:
    return (ts_s + CST_OFFSET_S) // 86400 * 86400 - CST_OFFSET_S


def _week_start(day_ts: int) -> int:
    local_day = (day_ts + CST_OFFSET_S) // 86400
    return (local_day - (local_day + 3) % 7) * 86400 - CST_OFFSET_S


@contextlib.contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector: it would rescan the batch's many small containers every few thousand
    allocations (≈ 40 % of the parse time). The recorder's structures hold no reference cycles; collection resumes
    (and catches up) as soon as the block ends."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a finite number")


def parse_entry(raw: bytes | str) -> dict:
    """Decode and validate the ``data`` field of a ``cc:readings`` entry (schema v1, :mod:`datasources.bus.messages`).

    The checks of :meth:`datasources.bus.messages.StationReading.from_dict`, on the plain dict (no dataclasses: this is the
    recorder's hot path), plus ``online`` boolean and ``NaN``/``Infinity`` rejected (the bus writes
    ``allow_nan=False``). A value of the wrong type still fails later, in :meth:`Recorder.ingest`, which then
    acknowledges that entry as invalid and re-reads the station's other entries (nothing half-applied).

    Returns:
        the message as a dict.
    Raises:
        SchemaError: not JSON, wrong version/type, or a missing/mistyped field (the message names it).
    """
    try:
        obj = _json_loads(raw)
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"station_reading is not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise SchemaError("station_reading must be a JSON object")
    if obj.get("v") != SCHEMA_VERSION:
        raise SchemaError(f"station_reading version {obj.get('v')!r} is not {SCHEMA_VERSION}")
    if obj.get("type") != "station_reading":
        raise SchemaError(f"type {obj.get('type')!r} is not 'station_reading'")
    for key, typ in (("station_id", str), ("ts_ms", int), ("devices", list), ("summary", dict)):
        val = obj.get(key)
        if not isinstance(val, typ) or isinstance(val, bool):
            raise SchemaError(f"station_reading.{key} missing or not {typ.__name__}")
    for d in obj["devices"]:
        if not isinstance(d, dict):
            raise SchemaError("station_reading.devices[] must be objects")
        if d.get("kind") in RELEVANT_KINDS and not (
                type(d.get("device_id")) is str and type(d.get("ts_ms")) is int
                and type(d.get("values", {})) is dict and type(d.get("online")) is bool):
            raise SchemaError(f"device {d.get('device_id')!r}: device_id/ts_ms/online/values missing or mistyped")
    return obj


@dataclass
class RecorderConfig:
    """Tunables of one recorder process.

    Attributes:
        stream, group, consumer: stream key (``cc:readings``), consumer group (``recorder``) and this consumer's
            name (default the host name: stable across restarts, so a restarted recorder re-reads its own pending
            entries at once; give standby recorders of the same group on one host distinct names).
        read_count: entries per ``XREADGROUP``.
        block_ms: how long one ``XREADGROUP`` blocks when the stream is drained, ms.
        flush_interval_s: longest time entries wait in memory before a commit, s. Each commit writes one row per
            touched (device|station, minute|hour|day) bucket, so longer batches cost fewer rows per entry.
        max_batch: most entries per commit (one transaction).
        max_gap_s: longest interval attributed to buckets, s (:data:`ops.energy.DEFAULT_MAX_GAP_S`).
        max_energy_rate_kw: plausibility limit of any energy counter's rate, kW (default 20,000).
        max_air_rate_m3_min: plausibility limit of any air counter's rate, m³/min (default 5,000).
        minute_retention_days: minute rows older than this are purged, days.
        purge_interval_s: how often the loop purges, s.
        claim_idle_ms: pending entries of other consumers idle longer than this are claimed (``XAUTOCLAIM``), ms.
        create_group_at: id the group starts at when the recorder creates it (``"0"``: all entries in the stream).
        shard: ``(i, n)``: record only stations with ``zlib.crc32(station_id) % n == i`` (the poller's formula);
            with ``n > 1`` the default group becomes ``recorder-<i>of<n>`` so each shard reads the whole stream in
            its own group and acknowledges other shards' entries unprocessed.
        retry_max_s: cap of the retry back-off after a Redis or database error (1 s doubling), s: the longest a
            recovered database waits for the recorder to catch up.
    """

    stream: str = READINGS_STREAM
    group: str = GROUP
    consumer: str = field(default_factory=socket.gethostname)
    read_count: int = 5000
    block_ms: int = 1000
    flush_interval_s: float = 5.0
    max_batch: int = 100_000
    max_gap_s: float = DEFAULT_MAX_GAP_S
    max_energy_rate_kw: float = 20_000.0
    max_air_rate_m3_min: float = 5_000.0
    minute_retention_days: float = 7.0
    purge_interval_s: float = 3600.0
    claim_idle_ms: int = 60_000
    create_group_at: str = "0"
    shard: tuple[int, int] = (0, 1)
    retry_max_s: float = 10.0

    def __post_init__(self) -> None:
        i, n = self.shard
        if not (n >= 1 and 0 <= i < n):
            raise ValueError(f"shard must be (i, n) with 0 <= i < n, got {self.shard!r}")
        if n > 1 and self.group == GROUP:
            self.group = f"{GROUP}-{i}of{n}"


def station_id_of(raw: bytes | str) -> str | None:
    """The ``station_id`` of a reading's JSON without a full parse (it is the first key ``StationReading.to_json``
    writes); ``None`` when not found at the start (the caller then parses)."""
    if isinstance(raw, str):
        raw = raw.encode()
    i = raw.find(b'"station_id":"', 0, 200)
    if i < 0:
        return None
    j = raw.find(b'"', i + 14)
    return raw[i + 14:j].decode() if j > 0 else None


@dataclass
class _StationState:
    last_ts: int | None
    last_entry: str
    devices: dict[str, list]  # device_id → [ts_ms, station_ts_ms, energy_kwh, air_m3, run_state, power_kw]


@dataclass
class RecorderStats:
    """Counters since start: entries ``read``, ``processed`` (committed), ``skipped`` (replays / out of order),
    ``invalid`` (schema errors), ``foreign`` (other shards' stations), ``acked``; ``commits``; ``conflicts``
    (stations another recorder advanced); ``rows`` upserted; ``last_commit_s`` duration of the last commit, s;
    ``retries`` of the loop after a Redis or database error."""

    read: int = 0
    processed: int = 0
    skipped: int = 0
    invalid: int = 0
    foreign: int = 0
    acked: int = 0
    commits: int = 0
    conflicts: int = 0
    rows: int = 0
    last_commit_s: float = 0.0
    retries: int = 0


class Recorder:
    """One consumer of the ``recorder`` group. Not thread-safe; run one per process (several processes may share
    the group, see the module docstring).

    Use :meth:`run` (blocking loop) or, in tests and tools, :meth:`run_until_idle`.

    Args:
        engine: SQLAlchemy engine of a database migrated to ≥ ``0002`` (:func:`datasources.sql.db.migrate`); SQLite or
            PostgreSQL.
        client: ``redis.Redis`` (sync; ``decode_responses`` either way).
        config: :class:`RecorderConfig`.
    Raises:
        ValueError: the database is neither SQLite nor PostgreSQL.
    """

    def __init__(self, engine: Engine, client: redis.Redis, config: RecorderConfig | None = None):
        if engine.dialect.name not in ("sqlite", "postgresql"):
            raise ValueError(f"the recorder supports SQLite and PostgreSQL, not {engine.dialect.name}")
        self.engine = engine
        self.redis = client
        self.cfg = config or RecorderConfig()
        self.stats = RecorderStats()
        self._dialect = engine.dialect.name
        self._cache: dict[str, _StationState] = {}
        ph = "?" if self._dialect == "sqlite" else "%s"
        self._state_sql = (
            "INSERT INTO recorder_station_state (station_id, last_ts_ms, last_entry_id, devices, updated_at) "
            f"VALUES ({ph}, {ph}, {ph}, {ph}, {ph}) ON CONFLICT (station_id) DO UPDATE SET "
            "last_ts_ms = excluded.last_ts_ms, last_entry_id = excluded.last_entry_id, "
            "devices = excluded.devices, updated_at = excluded.updated_at")
        self._energy_rate = self.cfg.max_energy_rate_kw / 3600.0      # kWh/s
        self._air_rate = self.cfg.max_air_rate_m3_min / 60.0          # m³/s
        self._pel_cursor: Any = "0"   # read this consumer's pending list (delivered, never acked) first
        self._last_purge = 0.0
        self._last_claim = time.monotonic()
        self._claim_cursor = "0-0"
        self._reset_batch()

    # ------------------------------------------------------------------------------------------------ input
    def _reset_batch(self) -> None:
        self._acc_st: dict[str, dict[int, list]] = {}
        self._acc_dev: dict[str, dict[int, list]] = {}
        self._dev_meta: dict[str, tuple[str, str]] = {}
        self._base: dict[str, int | None] = {}          # station → last_ts the batch started from
        self._ids_by_station: dict[str, list] = {}
        self._free_ids: list = []                         # invalid / deleted entries: ack unconditionally
        self._bad_ids: set = set()                        # entries that failed processing (ack, never re-process)
        self._proc_count: dict[str, int] = {}             # readings folded per station (stats, at commit)
        self._batch_n = 0
        self._batch_t0: float | None = None

    def abandon_batch(self) -> None:
        """Forget the open (uncommitted) batch after an error: drop the cached state of its stations and read this
        consumer's pending list again from the start, so every entry delivered but not committed — including those
        of a read whose ingest failed half-way (e.g. the database went away while loading station state) — is
        re-read and recorded later. Nothing is acknowledged here."""
        for sid in list(self._ids_by_station) + list(self._base):
            self._cache.pop(sid, None)
        self._reset_batch()
        self._pel_cursor = "0"

    def ensure_group(self) -> None:
        """``XGROUP CREATE <stream> <group> <create_group_at> MKSTREAM`` unless the group exists."""
        try:
            self.redis.xgroup_create(self.cfg.stream, self.cfg.group, id=self.cfg.create_group_at, mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _load_states(self, station_ids: Iterable[str]) -> None:
        missing = [s for s in station_ids if s not in self._cache]
        if not missing:
            return
        st = RecorderStationState.__table__
        found = {}
        with self.engine.connect() as conn:
            for i in range(0, len(missing), 500):
                chunk = missing[i:i + 500]
                for sid, last_ts, last_entry, devices in conn.execute(
                        select(st.c.station_id, st.c.last_ts_ms, st.c.last_entry_id, st.c.devices)
                        .where(st.c.station_id.in_(chunk))):
                    found[sid] = _StationState(int(last_ts), last_entry or "", json.loads(devices or "{}"))
        for sid in missing:
            self._cache[sid] = found.get(sid) or _StationState(None, "", {})

    def _read(self, block_ms: int | None) -> list:
        """One ``XREADGROUP``: this consumer's pending list first (from ``_pel_cursor``, page by page), then new
        entries (``>``)."""
        if self._pel_cursor is not None:
            resp = self.redis.xreadgroup(self.cfg.group, self.cfg.consumer, {self.cfg.stream: self._pel_cursor},
                                         count=self.cfg.read_count)
            entries = resp[0][1] if resp else []
            if entries:
                self._pel_cursor = entries[-1][0]
                return entries
            self._pel_cursor = None
        resp = self.redis.xreadgroup(self.cfg.group, self.cfg.consumer, {self.cfg.stream: ">"},
                                     count=self.cfg.read_count, block=block_ms)
        return resp[0][1] if resp else []

    def _claim(self, start_id: str = "0-0") -> tuple[list, str]:
        """One ``XAUTOCLAIM`` page of entries other consumers left pending longer than ``claim_idle_ms``.

        Returns:
            ``(entries, next_start_id)``; ``next_start_id`` is ``"0-0"`` after the last page.
        """
        res = self.redis.xautoclaim(self.cfg.stream, self.cfg.group, self.cfg.consumer,
                                    min_idle_time=self.cfg.claim_idle_ms, start_id=start_id, count=self.cfg.read_count)
        nxt = res[0].decode() if isinstance(res[0], bytes) else str(res[0])
        entries = res[1] if len(res) > 1 else []
        deleted = res[2] if len(res) > 2 else []
        if deleted:  # entries trimmed while pending: acknowledge so they leave the pending list
            self.redis.xack(self.cfg.stream, self.cfg.group, *deleted)
        return entries, nxt

    def ingest(self, entries: list) -> int:
        """Parse and accumulate stream entries ``[(entry_id, {b"data": json}), ...]`` into the open batch.

        Replays (``ts_ms`` at or before the station's watermark) are skipped; invalid entries are logged and
        acknowledged with the batch.

        Returns:
            number of entries taken into the batch.
        """
        with _gc_paused():
            self._ingest(entries)
        n = len(entries)
        if n and self._batch_t0 is None:
            self._batch_t0 = time.monotonic()
        self._batch_n += n
        return n

    def _ingest(self, entries: list) -> None:
        parsed = []
        shard_i, shard_n = self.cfg.shard
        for entry_id, fields in entries:
            self.stats.read += 1
            if entry_id in self._bad_ids:
                continue                         # re-read from the pending list; already marked for ack
            raw = (fields.get(b"data") or fields.get("data")) if fields else None
            if raw is None:
                self._free_ids.append(entry_id)  # deleted while pending, or not ours
                continue
            if shard_n > 1:
                sid = station_id_of(raw)
                if sid is None:
                    try:
                        sid = parse_entry(raw)["station_id"]
                    except SchemaError:
                        sid = ""
                if zlib.crc32(sid.encode("utf-8")) % shard_n != shard_i:
                    self.stats.foreign += 1
                    self._free_ids.append(entry_id)
                    continue
            try:
                parsed.append((entry_id, parse_entry(raw)))
            except SchemaError as exc:
                self.stats.invalid += 1
                log.warning("recorder: invalid entry %s acknowledged without recording: %s", entry_id, exc)
                self._free_ids.append(entry_id)
        if parsed:
            self._load_states({r["station_id"] for _, r in parsed})
            for entry_id, reading in parsed:
                try:
                    self._process(entry_id, reading)
                except Exception:  # noqa: BLE001 — never let one message stop the recorder
                    log.exception("recorder: entry %s could not be processed; acknowledged without recording",
                                  entry_id)
                    self.stats.invalid += 1
                    self._discard_station(reading["station_id"])
                    self._free_ids.append(entry_id)
                    self._bad_ids.add(entry_id)

    def _discard_station(self, sid: str) -> None:
        """Drop a station's contributions to the open batch and its cached state; its entries stay pending and
        are re-read (with the committed state) from this consumer's pending list."""
        self._acc_st.pop(sid, None)
        for did in [d for d, (s, _) in self._dev_meta.items() if s == sid]:
            self._acc_dev.pop(did, None)
            self._dev_meta.pop(did, None)
        self._ids_by_station.pop(sid, None)
        self._proc_count.pop(sid, None)
        self._base.pop(sid, None)
        self._cache.pop(sid, None)
        self._pel_cursor = "0"

    # ------------------------------------------------------------------------------------------ processing
    def _counter(self, prev: float, curr: float, modulus: float, dt: float, rate: float) -> tuple[float | None, bool]:
        """Counter delta (:func:`ops.energy.counter_delta`) with the common case inlined. Returns (delta, reset?)."""
        d = curr - prev
        if 0 <= d <= rate * dt:
            return round(d, 6), False
        cd = counter_delta(prev, curr, modulus, dt_s=dt, max_gap_s=None, max_rate_per_s=rate)
        return cd.delta, cd.kind in ("reset", "implausible")

    def _process(self, entry_id, r: dict) -> None:
        """Fold one reading (a validated dict) into the open batch; see the module docstring for the rules."""
        sid = r["station_id"]
        ids = self._ids_by_station.get(sid)
        if ids is None:
            ids = self._ids_by_station[sid] = []
        ids.append(entry_id)
        S = self._cache[sid]
        if sid not in self._base:
            self._base[sid] = S.last_ts
        ts = r["ts_ms"]
        if S.last_ts is not None and ts <= S.last_ts:
            self.stats.skipped += 1
            return
        self._proc_count[sid] = self._proc_count.get(sid, 0) + 1
        prev_station_ts = S.last_ts
        max_gap_ms = self.cfg.max_gap_s * 1000.0
        summ = r["summary"]
        st_buckets = self._acc_st.get(sid)
        if st_buckets is None:
            st_buckets = self._acc_st[sid] = {}

        def st_acc(m: int) -> list:
            acc = st_buckets.get(m)
            if acc is None:
                acc = st_buckets[m] = _new_acc()
            return acc

        if summ.get("devices_online", 0) > 0 and summ.get("state") not in ("offline", "not_built"):
            sacc = st_acc((ts - ts % 60000) // 1000)
            sacc[SAMPLES] += 1
            sacc[FLOW] += summ.get("flow_m3_min") or 0.0
            sacc[POWER] += summ.get("power_kw") or 0.0
            p = summ.get("discharge_pressure_mpa")
            if p is not None:
                if sacc[PMIN] is None or p < sacc[PMIN]:
                    sacc[PMIN] = p
                if sacc[PMAX] is None or p > sacc[PMAX]:
                    sacc[PMAX] = p
            if prev_station_ts is not None:
                if ts - prev_station_ts <= max_gap_ms:
                    for m, sec in split_minutes(prev_station_ts, ts):
                        st_acc(m)[COVERED] += sec
                else:
                    sacc[GAPS] += 1

        comp_air: list[tuple[int, float]] = []     # (minute, m³) pieces of the compressors in this reading
        comp_energy: list[tuple[int, float]] = []
        meter_air = meter_energy = None             # pieces of a continuous meter, else None
        has_fm = has_pm = False
        devices = S.devices
        acc_dev = self._acc_dev
        e_rate, a_rate = self._energy_rate, self._air_rate
        for d in r["devices"]:
            kind = d.get("kind")
            if kind not in RELEVANT_KINDS:
                continue
            is_comp = kind == "compressor"
            if kind == "flow_meter":
                has_fm = True
            elif kind == "power_meter":
                has_pm = True
            if not d.get("online"):
                continue
            v = d.get("values") or {}
            did = d["device_id"]
            dts = d["ts_ms"]
            prev = devices.get(did)
            if prev is not None and dts <= prev[0]:
                continue  # the device's own timestamp did not advance: no new information
            dev_buckets = acc_dev.get(did)
            if dev_buckets is None:
                dev_buckets = acc_dev[did] = {}
                self._dev_meta[did] = (sid, kind)
            dminute = (dts - dts % 60000) // 1000
            dacc = dev_buckets.get(dminute)
            if dacc is None:
                dacc = dev_buckets[dminute] = _new_dev_acc()
            dacc[SAMPLES] += 1
            power = v.get("power_kw")
            flow = v.get("flow_m3_min")
            if flow is not None:
                dacc[FLOW] += flow
            if power is not None:
                dacc[POWER] += power
            if is_comp:
                p = v.get("discharge_pressure_mpa")
                energy, air, rs = v.get("energy_kwh"), v.get("air_volume_m3"), v.get("run_state")
                t = v.get("discharge_temp_c")
                if t is not None and (dacc[TEMP_MAX] is None or t > dacc[TEMP_MAX]):
                    dacc[TEMP_MAX] = t
                rh = v.get("running_hours_h")
                if rh is not None and (dacc[RH_MAX] is None or rh > dacc[RH_MAX]):
                    dacc[RH_MAX] = rh
            elif kind == "flow_meter":
                p = v.get("pressure_mpa")
                energy, air, rs = None, v.get("total_m3"), None
            else:
                p = None
                energy, air, rs = v.get("energy_kwh"), None, None
            if p is not None:
                if dacc[PMIN] is None or p < dacc[PMIN]:
                    dacc[PMIN] = p
                if dacc[PMAX] is None or p > dacc[PMAX]:
                    dacc[PMAX] = p

            if prev is not None:
                dt_ms = dts - prev[0]
                if dt_ms > max_gap_ms:
                    dacc[GAPS] += 1          # a gap: nothing attributed, counters re-baselined below
                else:
                    dt = dt_ms / 1000.0
                    e_d = a_d = None
                    if energy is not None and prev[2] is not None:
                        e_d, reset = self._counter(prev[2], energy, ENERGY_KWH_MODULUS, dt, e_rate)
                        if reset:
                            dacc[RESETS] += 1
                            st_acc(dminute)[RESETS] += 1
                    if air is not None and prev[3] is not None:
                        a_d, reset = self._counter(prev[3], air, VOLUME_M3_MODULUS, dt, a_rate)
                        if reset:
                            dacc[RESETS] += 1
                            st_acc(dminute)[RESETS] += 1
                    state_idx = _STATE_INDEX.get(prev[4]) if is_comp else None
                    unload_kw = prev[5] if (state_idx == UNLOADED and prev[5] is not None) else None
                    pieces = split_minutes(prev[0], dts)
                    for m, sec in pieces:
                        frac = sec / dt
                        if m == dminute:
                            pacc = dacc
                        else:
                            pacc = dev_buckets.get(m)
                            if pacc is None:
                                pacc = dev_buckets[m] = _new_dev_acc()
                        pacc[COVERED] += sec
                        if e_d is not None:
                            pacc[ENERGY] += e_d * frac
                        if a_d is not None:
                            pacc[AIR] += a_d * frac
                        if is_comp:
                            if state_idx is not None:
                                sp = st_acc(m)
                                pacc[state_idx] += sec
                                sp[state_idx] += sec
                                if unload_kw is not None:
                                    pacc[UNLOADED_KWH] += unload_kw * sec / 3600.0
                                    sp[UNLOADED_KWH] += unload_kw * sec / 3600.0
                            if e_d is not None:
                                comp_energy.append((m, e_d * frac))
                            if a_d is not None:
                                comp_air.append((m, a_d * frac))
                    if not is_comp and prev[1] == prev_station_ts:   # a meter online in the previous reading too
                        if a_d is not None and kind == "flow_meter":
                            meter_air = [(m, a_d * sec / dt) for m, sec in pieces]
                        elif e_d is not None and kind == "power_meter":
                            meter_energy = [(m, e_d * sec / dt) for m, sec in pieces]
            devices[did] = [dts, ts, energy, air, rs, power]

        for m, x in comp_air:
            st_acc(m)[COMP_AIR] += x
        for m, x in comp_energy:
            st_acc(m)[COMP_ENERGY] += x
        for m, x in (meter_air if (has_fm and meter_air is not None) else comp_air):
            st_acc(m)[AIR] += x
        for m, x in (meter_energy if (has_pm and meter_energy is not None) else comp_energy):
            st_acc(m)[ENERGY] += x
        S.last_ts = ts
        S.last_entry = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    # ----------------------------------------------------------------------------------------------- flush
    def _rows(self, stations: set[str]) -> dict[tuple[str, str], list[tuple]]:
        """Row tuples (``energy_store.rollup_columns`` order) per (level, granularity) for the accepted stations:
        the minute accumulators and their merges into hour and CST-day buckets."""
        out: dict[tuple[str, str], list[tuple]] = {(lv, g): [] for lv in ("station", "device")
                                                   for g in ("minute", "hour", "day")}
        week_month: dict[int, tuple[int, int]] = {}

        def day_keys(d: int) -> tuple[int, int]:
            wm = week_month.get(d)
            if wm is None:
                wm = week_month[d] = (_week_start(d), month_key(d))
            return wm

        def emit(level: str, key: tuple, buckets: dict[int, list], station: bool) -> None:
            hours: dict[int, list] = {}
            days: dict[int, list] = {}
            rows_m = out[(level, "minute")]
            for m, acc in buckets.items():
                rows_m.append(key[:1] + (m,) + key[1:] + tuple(acc))
                h = m - m % 3600
                if h in hours:
                    merge_acc(hours[h], acc, station)
                else:
                    hours[h] = list(acc)
            for h, acc in hours.items():
                out[(level, "hour")].append(key[:1] + (h,) + key[1:] + tuple(acc))
                d = _day_start(h)
                if d in days:
                    merge_acc(days[d], acc, station)
                else:
                    days[d] = list(acc)
            for d, acc in days.items():
                out[(level, "day")].append(key[:1] + (d,) + key[1:] + day_keys(d) + tuple(acc))

        for sid in sorted(stations):
            buckets = self._acc_st.get(sid)
            if buckets:
                emit("station", (sid,), buckets, True)
        for did in sorted(self._acc_dev):
            sid, kind = self._dev_meta[did]
            if sid in stations:
                emit("device", (did, sid, kind), self._acc_dev[did], False)
        return out

    def _begin_locked(self, conn) -> None:
        if self._dialect == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_KEY})

    def flush(self) -> int:
        """Commit the open batch in one transaction, then ``XACK`` its entries.

        Inside the transaction (taken with a write lock: SQLite ``BEGIN IMMEDIATE``, PostgreSQL advisory lock):
        check every station's stored watermark still equals the one the batch started from (else: another recorder
        advanced it — leave the station out, its entries stay pending and are re-read), upsert the rollup rows,
        upsert the watermarks. Then ``XACK``.

        Returns:
            number of entries acknowledged.
        Raises:
            sqlalchemy.exc.SQLAlchemyError / redis.RedisError: the commit or the ack failed. After a failed commit
            the batch is discarded, its stations' cached state dropped and its entries stay pending (re-read on the
            next read); after a failed ack the entries stay pending too (their replay is a no-op).
        """
        if not self._batch_n:
            self._reset_batch()
            return 0
        stations = set(self._ids_by_station)
        conflicts: set[str] = set()
        t0 = time.monotonic()
        n_rows = 0
        try:
            with self.engine.connect() as conn:
                self._begin_locked(conn)
                st = RecorderStationState.__table__
                stored: dict[str, int] = {}
                ids = sorted(stations)
                for i in range(0, len(ids), 500):
                    for sid, last_ts in conn.execute(select(st.c.station_id, st.c.last_ts_ms)
                                                     .where(st.c.station_id.in_(ids[i:i + 500]))):
                        stored[sid] = int(last_ts)
                for sid in stations:
                    if stored.get(sid) != self._base.get(sid):
                        conflicts.add(sid)
                good = stations - conflicts
                for (level, gran), rows in self._rows(good).items():
                    n_rows += write_rollups(conn, level, gran, rows)
                now = datetime.now(timezone.utc)
                if self._dialect == "sqlite":  # SQLAlchemy's SQLite DateTime storage format
                    now = now.strftime("%Y-%m-%d %H:%M:%S.%f")
                state_rows = []
                for sid in sorted(good):
                    S = self._cache[sid]
                    if S.last_ts != self._base.get(sid):
                        state_rows.append((sid, S.last_ts, S.last_entry,
                                           json.dumps(S.devices, separators=(",", ":")), now))
                if state_rows:
                    conn.exec_driver_sql(self._state_sql, state_rows)
                conn.commit()
        except Exception:
            self.abandon_batch()
            raise
        self.stats.commits += 1
        self.stats.rows += n_rows
        self.stats.processed += sum(self._proc_count.get(sid, 0) for sid in good)
        self.stats.last_commit_s = time.monotonic() - t0
        if conflicts:
            self.stats.conflicts += len(conflicts)
            log.info("recorder: %d stations were advanced by another recorder; their entries are re-read",
                     len(conflicts))
            for sid in conflicts:
                self._cache.pop(sid, None)
            self._pel_cursor = "0"
        ack = list(self._free_ids)
        for sid in good:
            ack.extend(self._ids_by_station[sid])
        self._reset_batch()
        for i in range(0, len(ack), 10_000):
            self.redis.xack(self.cfg.stream, self.cfg.group, *ack[i:i + 10_000])
        self.stats.acked += len(ack)
        return len(ack)

    # ------------------------------------------------------------------------------------------------ loops
    def step(self, block_ms: int | None = None) -> int:
        """Read once (own pending list first, then new entries; every ``claim_idle_ms`` claim idle entries of dead
        consumers), ingest, and commit when the batch is full, old enough, or the stream is drained.

        Returns:
            number of entries read.
        """
        entries = self._read(block_ms)
        with _gc_paused():
            now = time.monotonic()
            if not entries and now - self._last_claim >= self.cfg.claim_idle_ms / 1000.0:
                entries, self._claim_cursor = self._claim(self._claim_cursor)
                if self._claim_cursor == "0-0":
                    self._last_claim = now
            n = self.ingest(entries) if entries else 0
            if self._batch_n >= self.cfg.max_batch or (
                    self._batch_t0 is not None and now - self._batch_t0 >= self.cfg.flush_interval_s) or (
                    not entries and self._batch_n):
                self.flush()
        return n

    def run_until_idle(self) -> RecorderStats:
        """Process everything available now (own pending entries, new ones, then entries of other consumers idle
        longer than ``claim_idle_ms``), commit and return; never blocks.

        For tests and one-shot catch-up. Commits every ``max_batch`` entries.

        Returns:
            the cumulative :class:`RecorderStats`.
        """
        self.ensure_group()
        self._pel_cursor = "0"
        claim_cursor: str | None = "0-0"
        with _gc_paused():
            while True:
                entries = self._read(None)
                while not entries and claim_cursor is not None:
                    entries, nxt = self._claim(claim_cursor)
                    claim_cursor = None if nxt == "0-0" else nxt
                if not entries:
                    break
                self.ingest(entries)
                if self._batch_n >= self.cfg.max_batch:
                    self.flush()
            self.flush()
        return self.stats

    def run(self, stop: threading.Event | None = None) -> RecorderStats:
        """Blocking loop until ``stop`` is set: read, record, commit, acknowledge; purge old minute rows every
        ``purge_interval_s``.

        Redis or database errors are logged and retried with back-off (1 s doubling up to ``retry_max_s``); the
        open batch is abandoned (:meth:`abandon_batch`) and its entries, still pending, are re-read, so nothing is
        lost (within the stream's MAXLEN) whether the database is locked, read-only or stopped meanwhile.

        Returns:
            the cumulative :class:`RecorderStats` after a final commit.
        """
        stop = stop or threading.Event()
        backoff = 1.0
        failing = False
        while not stop.is_set():
            try:
                self.ensure_group()
                while not stop.is_set():
                    if time.monotonic() - self._last_purge >= self.cfg.purge_interval_s:
                        self._last_purge = time.monotonic()
                        n = purge_minutes(self.engine, self.cfg.minute_retention_days)
                        if n:
                            log.info("recorder: purged %d minute rows older than %g days", n,
                                     self.cfg.minute_retention_days)
                    self.step(self.cfg.block_ms)
                    if failing:
                        log.info("recorder: recovered after %d retries; %d entries recorded so far",
                                 self.stats.retries, self.stats.processed)
                        failing = False
                    backoff = 1.0
            except (redis.RedisError, OSError) as exc:
                log.warning("recorder: redis error %s; retrying in %.0f s", exc, backoff)
            except Exception as exc:  # noqa: BLE001 — database errors: retry, entries remain pending
                log.warning("recorder: database error %s; retrying in %.0f s", str(exc).splitlines()[0][:300],
                            backoff)
            # whatever failed, entries delivered but not committed are read again (never skipped as replays)
            self.abandon_batch()
            self.stats.retries += 1
            failing = True
            if stop.wait(backoff):
                break
            backoff = min(backoff * 2, self.cfg.retry_max_s)
        try:
            self.flush()
        except Exception:  # noqa: BLE001
            log.exception("recorder: final commit failed; its entries stay pending")
        return self.stats


def purge_minutes(engine: Engine, older_than_days: float, now_s: float | None = None) -> int:
    """Delete minute rollup rows (device and station) whose bucket starts more than ``older_than_days`` days before
    ``now_s`` (epoch s UTC; default now). Hour and day rows are kept.

    Returns:
        number of rows deleted.
    """
    cutoff = int((time.time() if now_s is None else now_s) - older_than_days * 86400)
    n = 0
    with engine.begin() as conn:
        for table in (DEVICE_TABLES["minute"].__table__, STATION_TABLES["minute"].__table__):
            n += conn.execute(table.delete().where(table.c.bucket_ts < cutoff)).rowcount or 0
    return n


def config_from_env(**overrides) -> RecorderConfig:
    """A :class:`RecorderConfig` from environment variables (defaults in parentheses), then ``overrides``:

    ``CC_RECORDER_CONSUMER`` (the host name), ``CC_RECORDER_SHARD`` (``i/n``, default ``0/1``),
    ``CC_RECORDER_FLUSH_S`` (5), ``CC_RECORDER_MAX_BATCH`` (100000), ``CC_RECORDER_MAX_GAP_S`` (300),
    ``CC_MINUTE_RETENTION_DAYS`` (7).

    Raises:
        ValueError: a variable does not parse (the message names it), or the shard is not ``0 <= i < n``.
    """
    def num(name, default, cast=float):
        raw = os.environ.get(name)
        if raw in (None, ""):
            return default
        try:
            return cast(raw)
        except ValueError as exc:
            raise ValueError(f"environment variable {name}={raw!r} is not a number") from exc

    shard_raw = os.environ.get("CC_RECORDER_SHARD") or "0/1"
    try:
        i, n = (int(x) for x in shard_raw.split("/"))
    except ValueError as exc:
        raise ValueError(f"environment variable CC_RECORDER_SHARD={shard_raw!r} is not i/n") from exc
    kwargs = dict(
        shard=(i, n),
        consumer=os.environ.get("CC_RECORDER_CONSUMER") or socket.gethostname(),
        flush_interval_s=num("CC_RECORDER_FLUSH_S", 5.0),
        max_batch=num("CC_RECORDER_MAX_BATCH", 100_000, int),
        max_gap_s=num("CC_RECORDER_MAX_GAP_S", DEFAULT_MAX_GAP_S),
        minute_retention_days=num("CC_MINUTE_RETENTION_DAYS", 7.0),
    )
    kwargs.update(overrides)
    return RecorderConfig(**kwargs)


def run_recorder(settings, stop: threading.Event | None = None, config: RecorderConfig | None = None) -> RecorderStats:
    """CLI hook (``python -m dashboard record``): migrate the database, then record until SIGINT/SIGTERM or ``stop``.

    Args:
        settings: a :class:`datasources.settings.Settings` (uses ``redis_url``, ``database_url``); ``redis_url``
            must be set (a CLI that starts an embedded Redis passes its URL).
        stop: optional event ending the loop (supervisors, tests); otherwise SIGINT/SIGTERM end it when called from
            the main thread.
        config: recorder tunables; default :func:`config_from_env`.
    Returns:
        the :class:`RecorderStats` at exit.
    Raises:
        ValueError: ``settings.redis_url`` is not set.
    """
    from datasources.sql.db import make_engine, migrate  # noqa: PLC0415

    if not settings.redis_url:
        raise ValueError("the recorder needs REDIS_URL (settings.redis_url): the Redis of the bus")
    migrate(settings.database_url)
    engine = make_engine(settings.database_url)
    client = redis.Redis.from_url(settings.redis_url)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    rec = Recorder(engine, client, config or config_from_env())
    log.info("recorder %s reading %s as group %s", rec.cfg.consumer, rec.cfg.stream, rec.cfg.group)
    try:
        return rec.run(stop)
    finally:
        client.close()
        engine.dispose()
