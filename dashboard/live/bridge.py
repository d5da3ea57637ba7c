"""Redis pub/sub → Socket.IO rooms: the live bridge of one web process.

A background task (:class:`dashboard.live.fanout.BusFanout`) ``PSUBSCRIBE cc:readings:*``, parses each :class:`~datasources.bus.messages.StationReading` (malformed
messages are logged and dropped), keeps only the newest reading per station, and when a burst of readings ends (the
bus quiet for ``quiet_s``, 25 ms: a poll cycle arrives as one pipeline) — at the latest ``flush_interval_s`` (0.3 s)
after the burst's first reading — emits:

=====================  ==================================================  ============================================
event                  payload                                             rooms
=====================  ==================================================  ============================================
``station_states``     ``{"scope": room, "states": {id: state},            ``nation``, ``province:<adcode>``,
                       "ts_ms": int, "full": false}`` — changed stations   ``city:<adcode>`` of the changed stations
                       only
``kpis``               :func:`layers.live.kpi_payload` of the room         every region room with members whose totals
                                                                           changed
``station_values``     ``{"station_id", "state", "ts_ms", "seq",           ``station:<id>`` (only when someone is in
                       "summary": {...}, "devices": [{"device_id",          it)
                       "kind", "model", "online", "ts_ms", "error",
                       "values": {name: number}}]}``
=====================  ==================================================  ============================================

The national room gets states and KPIs, never device values. Work per flush is O(changed stations): a station's
contribution to its three region totals is swapped in O(1) (:class:`layers.live.FleetAggregate`).

Staleness: every ``sweep_interval_s`` stations whose last summary is older than ``stale_after_s`` turn ``offline``.

Redis restarts: on a connection error the thread reconnects with exponential backoff (0.2 s … 5 s), re-subscribes
and resynchronises every station from ``cc:summary`` (emitting only what changed). Emits go to this process's
clients only (``ignore_queue``): with a Socket.IO message queue every web process runs its own bridge.

Feed heartbeat: every ``CC_FEED_HEARTBEAT_S`` (5 s) each page gets a ``feed`` event (:meth:`LiveBridge.feed_status`)
from a background task of its own, so the page can show *stale* instead of *live* when its socket is up but the data is
frozen (Redis down, poller stopped, web process hung).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Mapping

from redis.exceptions import RedisError

from dashboard.live.fanout import BusFanout
from datasources.workers.alarm_engine import STATION_ALARM_HASH
from datasources.bus.messages import READINGS_PATTERN, SchemaError, StationReading, now_ms
from datasources.settings import get_settings
from ops.vocab import STATION_ONLINE_STATES
from layers.live import FleetAggregate, StationInfo, effective_state, from_the_future, read_summaries

log = logging.getLogger(__name__)


class LiveBridge(BusFanout):
    """Fan live readings out to Socket.IO rooms.

    Args:
        socketio: the app's ``flask_socketio.SocketIO``.
        redis_url: the bus.
        station_index: ``{station_id: StationInfo}`` or a zero-argument callable returning it (called at start and,
            at most every ``index_refresh_s``, when a reading names an unknown station).
        flush_interval_s: longest coalescing window, seconds: readings wait at most this long.
        quiet_s: the bus quiet this long (seconds) ends a burst (a poll cycle's pipeline) and flushes it.
        stale_after_s: a station without a summary newer than this is shown ``offline`` (0 disables).
    """

    name = "cc-live-bridge"
    log_name = "bridge"

    def __init__(self, socketio, redis_url: str,
                 station_index: Mapping[str, StationInfo] | Callable[[], Mapping[str, StationInfo]],
                 flush_interval_s: float = 0.3, stale_after_s: float = 30.0, sweep_interval_s: float = 2.0,
                 index_refresh_s: float = 10.0, quiet_s: float = 0.025) -> None:
        super().__init__(socketio, redis_url)
        self._index_source = station_index
        self.flush_interval_s = flush_interval_s
        self.quiet_s = quiet_s
        self.stale_after_s = stale_after_s
        self.sweep_interval_s = sweep_interval_s
        self.index_refresh_s = index_refresh_s
        self._agg: FleetAggregate | None = None
        self._pending: dict[str, StationReading | dict] = {}
        self._summaries: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._index_loaded_at = 0.0
        self.messages = 0
        self.dropped = 0
        self.future_dropped = 0  # readings stamped beyond layers.live.MAX_FUTURE_MS ahead of this clock
        self.heartbeat_s = get_settings().feed_heartbeat_s  # `feed` event to every page, s
        self.flushes = 0
        self.last_message_ms: int | None = None

    # ------------------------------------------------------------------ lifecycle
    def _before_start(self) -> None:
        self._load_index()
        if self.heartbeat_s > 0:  # a task of its own: it keeps beating (bus: false) while the bridge waits for Redis
            self.socketio.start_background_task(self._heartbeat_loop)

    def status(self) -> dict:
        """``{running, redis_connected, reconnects, messages, dropped, last_message_ms}``."""
        return {"running": self.running, "redis_connected": self.connected, "reconnects": self.reconnects,
                "messages": self.messages, "dropped": self.dropped, "last_message_ms": self.last_message_ms}

    def states(self) -> dict[str, str]:
        """Current live state of every station (copy)."""
        with self._lock:
            return self._agg.states() if self._agg else {}

    # ------------------------------------------------------------------ index
    def _load_index(self) -> None:
        src = self._index_source
        try:
            index = src() if callable(src) else src
        except Exception:  # noqa: BLE001 — SQL down at start: run with what we have, retry on the next unknown id
            log.exception("bridge: station index could not be loaded")
            index = {}
        self._index_loaded_at = time.monotonic()
        with self._lock:
            if self._agg is None:
                self._agg = FleetAggregate(index)
            else:
                for info in index.values():
                    self._agg.add_station(info)

    def _maybe_refresh_index(self) -> None:
        if callable(self._index_source) and time.monotonic() - self._index_loaded_at > self.index_refresh_s:
            self._load_index()

    # ------------------------------------------------------------------ subscription
    def subscribe(self, pubsub) -> None:
        """``PSUBSCRIBE cc:readings:*``."""
        pubsub.psubscribe(READINGS_PATTERN)

    def serve(self, client, pubsub, _reconnected: bool) -> None:
        """Resynchronise from ``cc:summary`` (every (re)connect), then read and coalesce until stopped."""
        self._resync(client)
        self._loop(pubsub)

    def _loop(self, pubsub) -> None:
        """Read the bus and flush when a burst ends: a poll cycle arrives as one pipelined burst, so the bridge
        flushes once the bus has been quiet for ``quiet_s`` — and at the latest ``flush_interval_s`` after the
        first pending reading, so a steady trickle is still coalesced."""
        deadline = None  # flush at the latest then (monotonic s); None: nothing pending
        next_sweep = time.monotonic() + self.sweep_interval_s
        while not self._stop.is_set():
            now = time.monotonic()
            if deadline is not None:
                wait = min(self.quiet_s, deadline - now)
            else:  # idle: wake for the stale sweep (when enabled) or to check for stop
                wait = next_sweep - now if self.stale_after_s > 0 else 1.0
            msg = pubsub.get_message(timeout=max(0.0, min(wait, 1.0)))
            got = msg is not None and msg.get("type") == "pmessage"
            if got:
                self._ingest(msg["data"])
                # drain what is already buffered without waiting
                while True:
                    msg = pubsub.get_message(timeout=0)
                    if msg is None:
                        break
                    if msg.get("type") == "pmessage":
                        self._ingest(msg["data"])
                if deadline is None:
                    deadline = time.monotonic() + self.flush_interval_s
            now = time.monotonic()
            if deadline is not None and (not got or now >= deadline):
                self.flush()
                deadline = None
            if self.stale_after_s > 0 and now >= next_sweep:
                self.sweep()
                next_sweep = now + self.sweep_interval_s

    def _ingest(self, raw: Any) -> None:
        try:
            reading = StationReading.from_json(raw)
        except SchemaError as exc:
            self.dropped += 1
            log.warning("bridge: dropped a malformed reading: %s", exc)
            return
        if from_the_future(reading.ts_ms, now_ms()):
            self.future_dropped += 1
            if self.future_dropped == 1 or self.future_dropped % 1000 == 0:
                log.warning("bridge: dropped a reading of %s stamped %d ms in the future (%d so far): the sender's "
                            "clock is wrong", reading.station_id, reading.ts_ms - now_ms(), self.future_dropped)
            return
        self.messages += 1
        self.last_message_ms = reading.ts_ms
        prev = self._pending.get(reading.station_id)
        if isinstance(prev, StationReading) and prev.ts_ms > reading.ts_ms:
            return  # out of order: keep the newer
        self._pending[reading.station_id] = reading

    def _resync(self, client) -> None:
        """Reload every station's summary from ``cc:summary`` and emit what changed (after a (re)connect)."""
        self._client = client
        self._maybe_refresh_index()
        summaries = read_summaries(client)
        for sid, summ in summaries.items():
            self._pending.setdefault(sid, summ)
        newest = max((int(s.get("ts_ms") or 0) for s in summaries.values()), default=0)
        if newest and newest > (self.last_message_ms or 0):
            self.last_message_ms = newest  # a restarted web process knows how old the data is before any message
        self.flush()

    # ------------------------------------------------------------------ feed heartbeat
    def feed_status(self) -> dict:
        """What the page's connection indicator needs to tell *live* from *frozen* (Socket.IO event ``feed``)::

            {"v": 1, "type": "feed", "ts_ms": <now, this process>, "bus": <Redis subscription up>,
             "newest_reading_ms": <timestamp of the newest reading seen, or null>, "stale_after_s": 30.0,
             "lost_after_s": 15.0}

        A socket can be connected while nothing flows (Redis down, poller stopped): the page shows *stale* when
        ``bus`` is false, when the newest reading is older than ``stale_after_s`` or when no heartbeat came for
        ``lost_after_s`` = three missed heartbeats (3 × ``CC_FEED_HEARTBEAT_S``, :mod:`datasources.settings`).
        """
        return {"v": 1, "type": "feed", "ts_ms": now_ms(), "bus": bool(self.connected),
                "newest_reading_ms": self.last_message_ms, "stale_after_s": self.stale_after_s or 30.0,
                "lost_after_s": 3 * self.heartbeat_s}

    def _heartbeat_loop(self) -> None:
        threading.current_thread().name = "cc-feed-heartbeat"
        while not self._stop.wait(self.heartbeat_s):
            try:
                self.emit("feed", self.feed_status())
            except Exception:  # noqa: BLE001 — a heartbeat must never kill its thread
                log.exception("bridge: feed heartbeat failed")

    # ------------------------------------------------------------------ emitting
    def _emit(self, event: str, payload: dict, room: str) -> None:
        self.emit(event, payload, to=room)

    def _alarm_severities(self) -> dict[str, int]:
        """``{station_id: worst active alarm severity}`` from ``cc:station_alarm_severity`` (written by the alarm
        engine after each committed batch): any open alarm, not only a fire input, makes its station ``alarm``.
        On a Redis error the last known map is kept (the next flush retries)."""
        client = getattr(self, "_client", None)
        if client is None:
            return getattr(self, "_severities", {})
        try:
            raw = client.hgetall(STATION_ALARM_HASH) or {}
        except (RedisError, OSError):
            return getattr(self, "_severities", {})
        sev = {}
        for k, v in raw.items():
            try:
                sev[k.decode() if isinstance(k, bytes) else str(k)] = int(v)
            except ValueError:
                continue
        self._severities = sev
        return sev

    def flush(self) -> int:
        """Apply the pending readings and emit deltas; returns the number of stations processed."""
        pending, self._pending = self._pending, {}
        if not pending:
            return 0
        now = now_ms()
        severities = self._alarm_severities()
        state_deltas: dict[str, dict[str, str]] = {}
        kpi_rooms: set[str] = set()
        station_msgs: list[tuple[str, dict]] = []
        unknown = False
        with self._lock:
            agg = self._agg
            for sid, item in pending.items():
                info = agg.index.get(sid)
                if info is None:
                    unknown = True
                    continue
                if isinstance(item, StationReading):
                    summary = {**_asdict_summary(item), "ts_ms": item.summary.ts_ms or item.ts_ms}
                else:
                    summary = item
                self._summaries[sid] = summary
                state = effective_state(info, summary, now, self.stale_after_s, severities.get(sid))
                state_changed, totals_changed = agg.update(sid, state, summary)
                if state_changed:
                    for room in info.rooms:
                        state_deltas.setdefault(room, {})[sid] = state
                if totals_changed or state_changed:
                    kpi_rooms.update(info.rooms)
                if isinstance(item, StationReading) and self.has_members(f"station:{sid}"):
                    station_msgs.append((f"station:{sid}", _station_payload(item, state)))
            kpis = {room: agg.kpis(room) for room in kpi_rooms if self.has_members(room)}
        for room, states in state_deltas.items():
            if self.has_members(room):
                self._emit("station_states", {"scope": room, "states": states, "ts_ms": now, "full": False}, room)
        for room, payload in kpis.items():
            self._emit("kpis", payload, room)
        for room, payload in station_msgs:
            self._emit("station_values", payload, room)
        self.flushes += 1
        if unknown:
            self._maybe_refresh_index()
        return len(pending)

    def sweep(self) -> int:
        """Turn stations whose newest summary is older than ``stale_after_s`` offline; returns how many changed."""
        now = now_ms()
        limit = now - int(self.stale_after_s * 1000)
        stale = []
        with self._lock:
            agg = self._agg
            for sid, state in agg.states().items():
                if state in STATION_ONLINE_STATES and agg.last_ts(sid) < limit:
                    stale.append(sid)
        for sid in stale:
            self._pending.setdefault(sid, self._summaries.get(sid) or {})
        return self.flush() if stale else 0


def _asdict_summary(reading: StationReading) -> dict:
    s = reading.summary
    return {"state": s.state, "devices_online": s.devices_online, "devices_total": s.devices_total,
            "compressors_loaded": s.compressors_loaded, "compressors_total": s.compressors_total,
            "flow_m3_min": s.flow_m3_min, "power_kw": s.power_kw, "discharge_pressure_mpa": s.discharge_pressure_mpa,
            "alarm_inputs": list(s.alarm_inputs), "ts_ms": s.ts_ms}


def _station_payload(reading: StationReading, state: str) -> dict:
    return {"station_id": reading.station_id, "state": state, "ts_ms": reading.ts_ms, "seq": reading.seq,
            "summary": _asdict_summary(reading),
            "devices": [{"device_id": d.device_id, "kind": d.kind, "model": d.model, "online": d.online,
                         "ts_ms": d.ts_ms, "error": d.error, "values": d.values} for d in reading.devices]}

