"""The recorder: a consumer group on the ``cc:readings`` stream that keeps SQL energy rollups up to date.

Data flow (DESIGN.md): poller ``XADD cc:readings`` (field ``data`` = a :class:`datasources.bus.messages.StationReading`
JSON, schema v1) → ``XREADGROUP GROUP recorder <consumer>`` → minute / hour / day rollups per device and per station
(tables in :mod:`datasources.sql.energy_models`) → ``XACK`` after the database commit.

The rollup arithmetic (what each reading contributes, counters, gaps, station rows) is
:mod:`datasources.workers.rollup`; the stream mechanics (group, own pending entries first, XACK, XAUTOCLAIM) are
:class:`datasources.bus.consumer.ConsumerGroup`'s.

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
  :func:`datasources.bus.shard.shard_of` ``(station_id, n) == i`` (the poller's formula) in its own group ``recorder-<i>of<n>``; each shard
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
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable

import redis
from sqlalchemy import Engine, select, text

from datasources.bus.consumer import ConsumerGroup, default_consumer
from datasources.bus.messages import READINGS_STREAM, SchemaError, parse_reading_entry
from datasources.bus.shard import check_shard, shard_of
from datasources.settings import get_settings
from datasources.sql.energy_models import DEVICE_TABLES, STATION_TABLES, RecorderStationState
from datasources.sql.rollup_writes import write_rollups
from datasources.workers.rollup import RollupBatch, StationState
from ops.energy import DEFAULT_MAX_GAP_S

try:  # optional: orjson parses the readings 3–5× faster than the standard library (and rejects NaN/Infinity too)
    from orjson import loads as _json_loads
except ImportError:  # pragma: no cover - depends on the environment
    def _json_loads(raw):
        return json.loads(raw, parse_constant=_reject_constant)

log = logging.getLogger(__name__)

GROUP = "recorder"
_ADVISORY_LOCK_KEY = 0x63637265  # "ccre": serialises recorder commits on PostgreSQL


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
    """Decode and validate the ``data`` field of a ``cc:readings`` entry: the bus schema's hot-path check,
    :func:`datasources.bus.messages.parse_reading_entry` (envelope strictly, summary an object, each device for the keys
    read here). A value of the wrong type still fails later, in :meth:`Recorder.ingest`, which then acknowledges
    that entry as invalid and re-reads the station's other entries (nothing half-applied).

    Returns:
        the message as a dict.
    Raises:
        SchemaError: not JSON, wrong version/type, or a missing/mistyped field (the message names it).
    """
    return parse_reading_entry(raw)


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
        shard: ``(i, n)``: record only stations with :func:`datasources.bus.shard.shard_of` ``(station_id, n) == i``;
            with ``n > 1`` the default group becomes ``recorder-<i>of<n>`` so each shard reads the whole stream in
            its own group and acknowledges other shards' entries unprocessed.
        retry_max_s: cap of the retry back-off after a Redis or database error (1 s doubling), s: the longest a
            recovered database waits for the recorder to catch up.
    """

    stream: str = READINGS_STREAM
    group: str = GROUP
    consumer: str = field(default_factory=default_consumer)
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
        i, n = check_shard(self.shard)
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


class Recorder(RollupBatch):
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
        self._cache: dict[str, StationState] = {}
        ph = "?" if self._dialect == "sqlite" else "%s"
        self._state_sql = (
            "INSERT INTO recorder_station_state (station_id, last_ts_ms, last_entry_id, devices, updated_at) "
            f"VALUES ({ph}, {ph}, {ph}, {ph}, {ph}) ON CONFLICT (station_id) DO UPDATE SET "
            "last_ts_ms = excluded.last_ts_ms, last_entry_id = excluded.last_entry_id, "
            "devices = excluded.devices, updated_at = excluded.updated_at")
        self._energy_rate = self.cfg.max_energy_rate_kw / 3600.0      # kWh/s
        self._air_rate = self.cfg.max_air_rate_m3_min / 60.0          # m³/s
        # this consumer's pending list (delivered, never acked) is read first
        self.cg = ConsumerGroup(client, self.cfg.stream, self.cfg.group, self.cfg.consumer,
                                   start_id=self.cfg.create_group_at, count=self.cfg.read_count,
                                   claim_idle_ms=self.cfg.claim_idle_ms)
        self._last_purge = 0.0
        self._last_claim = time.monotonic()
        self._claim_cursor = "0-0"
        self._reset_batch()

    # ------------------------------------------------------------------------------------------------ input

    def abandon_batch(self) -> None:
        """Forget the open (uncommitted) batch after an error: drop the cached state of its stations and read this
        consumer's pending list again from the start, so every entry delivered but not committed — including those
        of a read whose ingest failed half-way (e.g. the database went away while loading station state) — is
        re-read and recorded later. Nothing is acknowledged here."""
        for sid in list(self._ids_by_station) + list(self._base):
            self._cache.pop(sid, None)
        self._reset_batch()
        self.cg.rewind()

    def ensure_group(self) -> None:
        """``XGROUP CREATE <stream> <group> <create_group_at> MKSTREAM`` unless the group exists."""
        self.cg.ensure()

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
                    found[sid] = StationState(int(last_ts), last_entry or "", json.loads(devices or "{}"))
        for sid in missing:
            self._cache[sid] = found.get(sid) or StationState(None, "", {})

    def _read(self, block_ms: int | None) -> list:
        """One ``XREADGROUP``: this consumer's pending list first (page by page), then new entries (``>``)."""
        return self.cg.read(block_ms)

    def _claim(self, start_id: str = "0-0") -> tuple[list, str]:
        """One ``XAUTOCLAIM`` page of entries other consumers left pending longer than ``claim_idle_ms`` (entries
        trimmed while pending are acknowledged).

        Returns:
            ``(entries, next_start_id)``; ``next_start_id`` is ``"0-0"`` after the last page.
        """
        return self.cg.claim(start_id)

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
                if shard_of(sid, shard_n) != shard_i:
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
        self.cg.rewind()



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
            self.cg.rewind()
        ack = list(self._free_ids)
        for sid in good:
            ack.extend(self._ids_by_station[sid])
        self._reset_batch()
        self.cg.ack(ack)
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
        self.cg.rewind()
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
        datasources.settings.SettingsError: a variable does not parse (the message names it), or the shard is not
            ``0 <= i < n``.
    """
    s = get_settings()
    kwargs = dict(
        shard=s.recorder_shard,
        consumer=s.recorder_consumer or default_consumer(),
        flush_interval_s=s.recorder_flush_s,
        max_batch=s.recorder_max_batch,
        max_gap_s=s.recorder_max_gap_s,
        minute_retention_days=s.minute_retention_days,
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
