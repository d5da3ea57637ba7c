"""The alarm engine: a consumer group on the ``cc:readings`` stream that evaluates every station reading against
the rules (:mod:`ops.alarm_rules`), persists alarms in SQL (:mod:`datasources.sql.alarm_store`) and publishes them on
``cc:alarms``.

Delivery and restart semantics:

* ``XREADGROUP GROUP alarms <consumer> ... STREAMS cc:readings >``; a batch is evaluated, its raises/clears are
  committed in one transaction, **then** the entries are ``XACK``-ed, then the events are published. A crash
  before the commit leaves the entries pending: the restarted engine reads its own pending entries first
  (``XREADGROUP ... 0``) and evaluates them again.
* On start the evaluator is rebuilt from SQL: every open, active alarm becomes an active condition with its last
  change time, so readings already applied are skipped and nothing is raised twice; SQL's unique ``open_key``
  backs this up. Pending on/off delays and rate windows restart (they are seconds long).
* Entries pending for longer than ``claim_idle_ms`` at a consumer that died are taken over (``XAUTOCLAIM``).
* Scale-out: readings of one station must reach one evaluator (delays and rates are stateful), so engines split
  stations, not messages: ``shard=(i, n)`` evaluates the stations of :func:`datasources.bus.shard.in_shard`
  (the poller's formula) in its own group ``alarms.<i>of<n>``; with ``n == 1`` the group is ``alarms``.
* The stream mechanics (group creation, own pending entries first, XACK, XAUTOCLAIM, heartbeat) are
  :class:`datasources.bus.consumer.ConsumerGroup`'s.
* If the group is created by this engine it starts at ``start_id`` (default ``$``: new readings only).

``run_alarm_engine(settings)`` is the process entry point (CLI ``python -m dashboard alarms``); it also runs the
work-order SLA check (:func:`datasources.sql.workorders.escalate_overdue`) every ``sla_interval_s``.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import Engine

from datasources.bus.consumer import ConsumerGroup, default_consumer, is_nogroup
from datasources.settings import get_settings
from datasources.bus.messages import READINGS_STREAM, SchemaError, StationReading
from datasources.bus.shard import check_shard, in_shard
from datasources.sql.alarm_stats import active_severities
from datasources.sql.alarm_store import active_sources, apply_transitions, publish
from ops.alarm_rules import Evaluator, RuleSet, Transition, load_rules

log = logging.getLogger(__name__)

DEFAULT_GROUP = "alarms"

#: hash ``{station_id: worst severity 1..4 of its active alarms}`` (absent = none), rewritten by the engine for
#: the stations of every committed batch; a cache of :func:`datasources.sql.alarm_stats.active_severities`
#: for the live bridge
STATION_ALARM_HASH = "cc:station_alarm_severity"


def write_station_severities(db: Engine, redis_client, station_ids) -> dict[str, int]:
    """Refresh :data:`STATION_ALARM_HASH` for ``station_ids`` from SQL (HSET the worst severity, HDEL the stations
    without an active alarm) in one pipeline; returns the severities written."""
    ids = sorted({s for s in station_ids if s})
    if not ids:
        return {}
    sev = active_severities(db, ids)
    pipe = redis_client.pipeline(transaction=False)
    gone = [s for s in ids if s not in sev]
    if sev:
        pipe.hset(STATION_ALARM_HASH, mapping={k: str(v) for k, v in sev.items()})
    if gone:
        pipe.hdel(STATION_ALARM_HASH, *gone)
    pipe.execute()
    return sev


def group_name(shard: tuple[int, int]) -> str:
    """Consumer-group name of a shard: ``alarms`` for (0, 1), else ``alarms.<i>of<n>``."""
    i, n = shard
    return DEFAULT_GROUP if n == 1 else f"{DEFAULT_GROUP}.{i}of{n}"


class AlarmEngine:
    """Stream consumer + rule evaluator + SQL writer + publisher. Single-threaded: call :meth:`poll_once` in a
    loop (or :meth:`run`).

    Args:
        db: SQLAlchemy engine (schema migrated to ≥ 0003).
        redis_client: ``redis.Redis`` (sync). Byte or str responses both work.
        rules: a :class:`ops.alarm_rules.RuleSet` (default: ``datasources/alarm_rules.yaml``).
        consumer: consumer name, stable across restarts of the same instance (default ``<host>-alarms-<i>``).
        shard: (i, n), see module docstring. batch: max entries per read. start_id: id the group starts at when
            this engine creates it. claim_idle_ms: take over entries pending this long at another consumer.
    Raises:
        ValueError: bad shard.
    """

    def __init__(self, db: Engine, redis_client: redis.Redis, rules: RuleSet | None = None, *,
                 consumer: str | None = None, shard: tuple[int, int] = (0, 1), batch: int = 500,
                 start_id: str = "$", claim_idle_ms: int = 60_000, stream: str = READINGS_STREAM):
        i, n = check_shard(shard)
        self.db, self.redis = db, redis_client
        self.rules = rules if rules is not None else load_rules()
        self.shard, self.group, self.stream = (i, n), group_name((i, n)), stream
        self.consumer = consumer or default_consumer("alarms", i)
        self.batch, self.start_id, self.claim_idle_ms = batch, start_id, claim_idle_ms
        self.cg = ConsumerGroup(redis_client, stream, self.group, self.consumer, start_id=start_id, count=batch,
                                claim_idle_ms=claim_idle_ms, heartbeat=f"alarms:{self.group}")
        self.evaluator = Evaluator(self.rules)
        self._unapplied: list[Transition] = []
        self._unacked: list[Any] = []
        self._last_claim = 0.0
        self._last_id: str | None = None  # newest stream entry id read: where a lost group is recreated
        self.stats = {"messages": 0, "readings": 0, "bad_messages": 0, "raised": 0, "cleared": 0, "db_errors": 0}
        self._started = False

    # ------------------------------------------------------------ setup

    def ensure_group(self) -> None:
        """Create the consumer group (``XGROUP CREATE ... MKSTREAM``) unless it exists."""
        if self.cg.ensure():
            log.info("created consumer group %s on %s at %s", self.group, self.stream, self.start_id)

    def restore(self) -> int:
        """Rebuild the evaluator's active conditions from SQL (open, active alarms). Returns how many."""
        n = 0
        rules = self.rules.by_id
        for rule_id, source, last_ts in active_sources(self.db):
            if rule_id not in rules:
                log.warning("open alarm of unknown/disabled rule %s on %s left as is", rule_id, source)
                continue
            self.evaluator.restore_active(rule_id, source, last_ts)
            n += 1
        log.info("restored %d active alarm condition(s) from SQL", n)
        return n

    def start(self) -> None:
        """:meth:`ensure_group` + :meth:`restore` (idempotent; :meth:`poll_once` calls it on first use)."""
        if not self._started:
            self.ensure_group()
            self.restore()
            self._started = True

    # ------------------------------------------------------------ processing

    def _recreate_group(self, exc: Exception) -> None:
        """The stream or the group is gone (``NOGROUP``: Redis restarted without persistence, or the group was
        destroyed). Recreate it at the last entry this engine read, so it resumes where it stopped: entries added
        since (by a poller writing into the new stream, whose ids are later timestamps) are delivered, none twice.
        Pending ids of the old group cannot be acknowledged any more and are forgotten (their transitions are in
        SQL already or are re-derived from the next readings)."""
        start = self._last_id or "0"
        log.warning("consumer group %s lost (%s); recreating it on %s from id %s", self.group, exc, self.stream, start)
        self.cg.recreate(start)
        self._unacked = []
        self.stats["groups_recreated"] = self.stats.get("groups_recreated", 0) + 1

    def _read(self, block_ms: int | None) -> list:
        try:
            return self._read_group(block_ms)
        except redis.exceptions.ResponseError as exc:
            if not is_nogroup(exc):
                raise
            self._recreate_group(exc)
            return []

    def _read_group(self, block_ms: int | None) -> list:
        if self.cg.in_pending_pass:  # own pending entries first (left by a crash of this consumer)
            entries = self.cg.read_pending()
            if entries:
                return entries
        now = time.monotonic()
        if now - self._last_claim > max(1.0, self.claim_idle_ms / 4000.0):
            self._last_claim = now
            try:
                claimed, _next = self.cg.claim("0-0", ack_deleted=False)
                entries = [e for e in claimed if e and e[1]]
                if entries:
                    log.warning("claimed %d stale entries of dead consumers", len(entries))
                    return entries
            except redis.exceptions.ResponseError as exc:  # pragma: no cover — Redis < 6.2
                log.debug("XAUTOCLAIM unavailable: %s", exc)
        return self.cg.read_new(block_ms)

    def process(self, entries: list) -> list[Transition]:
        """Evaluate stream entries (``[(id, {b"data": json})]``); returns the transitions (not yet persisted).
        Malformed messages are logged and counted, and acknowledged with the batch."""
        out: list[Transition] = []
        for entry_id, fields in entries:
            self._unacked.append(entry_id)
            self._last_id = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            self.stats["messages"] += 1
            raw = fields.get(b"data", fields.get("data")) if fields else None
            try:
                reading = StationReading.from_json(raw)
            except SchemaError as exc:
                self.stats["bad_messages"] += 1
                log.warning("skipping stream entry %s: %s", entry_id, exc)
                continue
            if not in_shard(reading.station_id, self.shard):
                continue
            self.stats["readings"] += 1
            out.extend(self.evaluator.evaluate(reading))
        return out

    def poll_once(self, block_ms: int | None = 1000) -> int:
        """Read one batch (waiting up to ``block_ms``), evaluate, commit, XACK, publish. After a failed commit
        the pending transitions are retried first, before anything new is read.

        Returns:
            number of stream entries read (0 when nothing arrived).
        Raises:
            redis.exceptions.ConnectionError: Redis down (nothing lost: entries stay pending).
            sqlalchemy.exc.SQLAlchemyError: database down; the transitions are kept and retried on the next call,
                the entries stay pending until they are committed.
        """
        self.start()
        if self._unapplied or self._unacked:
            self._commit()
        entries = self._read(block_ms)
        self._unapplied.extend(self.process(entries))
        self._commit()
        return len(entries)

    def _commit(self) -> None:
        if not self._unapplied and not self._unacked:
            return
        try:
            messages = apply_transitions(self.db, self._unapplied)
        except Exception:
            self.stats["db_errors"] += 1
            raise
        self._unapplied = []
        if self._unacked:
            try:
                self.cg.ack(self._unacked)
            except redis.exceptions.ResponseError as exc:
                if not is_nogroup(exc):
                    raise
                self._recreate_group(exc)
            self._unacked = []
        if messages:
            try:  # a cache: an outage here must not hold back the publication of committed alarms
                write_station_severities(self.db, self.redis,
                                         [(m.get("alarm") or {}).get("station_id") for m in messages])
            except Exception as exc:  # noqa: BLE001
                log.warning("station alarm severities not refreshed: %s", exc)
        for m in messages:
            self.stats["raised" if m["event"] == "raised" else "cleared"] += 1
        publish(self.redis, messages)

    def run(self, stop: threading.Event, block_ms: int = 1000, on_idle=None, idle_every_s: float = 30.0) -> None:
        """Loop :meth:`poll_once` until ``stop`` is set; back off (1 s … 30 s) on Redis/database errors.
        ``on_idle()`` is called every ``idle_every_s`` (the SLA check). After every healthy turn the engine's
        heartbeat ``HSET cc:heartbeats alarms:<group> <epoch ms>`` is written (``/api/health`` reports a stale one);
        a clean stop removes it."""
        try:
            self._loop(stop, block_ms, on_idle, idle_every_s)
        finally:  # a clean stop is not a dead engine: only a crash leaves a stale heartbeat behind
            self.cg.clear_beat()

    def _loop(self, stop, block_ms, on_idle, idle_every_s) -> None:
        backoff = 1.0
        next_idle = time.monotonic()
        while not stop.is_set():
            try:
                self.poll_once(block_ms)
                self.cg.beat()
                backoff = 1.0
            except Exception as exc:  # noqa: BLE001 — keep the engine alive; state is retried
                log.error("alarm engine: %s: %s (retry in %.0f s)", exc.__class__.__name__, exc, backoff)
                stop.wait(backoff)
                backoff = min(30.0, backoff * 2)
            if on_idle is not None and time.monotonic() >= next_idle:
                next_idle = time.monotonic() + idle_every_s
                try:
                    on_idle()
                except Exception as exc:  # noqa: BLE001
                    log.error("periodic check failed: %s", exc)


def _redis_url(settings) -> str | None:
    if settings.redis_url:
        return settings.redis_url
    path = Path(settings.data_dir) / "redis.url"
    return path.read_text().strip() if path.exists() else None


def run_alarm_engine(settings, *, stop: threading.Event | None = None, shard: tuple[int, int] = (0, 1),
                     rules_path: str | None = None, consumer: str | None = None,
                     sla_interval_s: float = 30.0) -> int:
    """Process entry point: migrate, build the engine from ``settings`` (``datasources.settings.Settings``), run
    until SIGINT/SIGTERM (or ``stop``). Rules: ``rules_path`` or ``$CC_ALARM_RULES`` or the packaged file.
    Every ``sla_interval_s`` overdue work orders are escalated (:func:`datasources.sql.workorders.escalate_overdue`),
    notified through ``$CC_NOTIFY_WEBHOOK_URL`` when set.

    Returns:
        process exit code (0 normal stop, 2 no Redis).
    Raises:
        ops.alarm_rules.RuleFileError: invalid rules file (the message names file and field).
    """
    from datasources.sql.db import make_engine, migrate  # noqa: PLC0415
    from datasources.workers.notify import notifier_from_env  # noqa: PLC0415
    from datasources.sql.workorders import escalate_overdue  # noqa: PLC0415

    rules = load_rules(rules_path or get_settings().alarm_rules)
    url = _redis_url(settings)
    if not url:
        log.error("no Redis: set REDIS_URL or start the stack with `python -m dashboard run`")
        return 2
    migrate(settings.database_url)
    db = make_engine(settings.database_url)
    client = redis.Redis.from_url(url, socket_timeout=10, health_check_interval=30)
    engine = AlarmEngine(db, client, rules, consumer=consumer, shard=shard)
    notifier = notifier_from_env(db)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_a: stop.set())
    log.info("alarm engine %s (group %s, %d rules from %s)", engine.consumer, engine.group, len(rules),
             rules.origin)

    def sla_check() -> None:
        if shard[0] == 0:  # one engine per deployment escalates
            escalate_overdue(db, redis_client=client, notifier=notifier)

    try:
        engine.run(stop, on_idle=sla_check, idle_every_s=sla_interval_s)
    finally:
        if notifier is not None:
            notifier.close()
        client.close()
        db.dispose()
    return 0
