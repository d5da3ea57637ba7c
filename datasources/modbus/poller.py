"""Asyncio Modbus poller: reads every device of a shard of the fleet each cycle and writes the bus.

Data flow (DESIGN.md): devices ──Modbus TCP / RTU──► :class:`Poller` ──one Redis pipeline per batch──► ``PUBLISH
cc:readings:<station>``, ``HSET cc:latest:<device>``, ``HSET cc:summary``, ``XADD cc:readings MAXLEN ~``
(:func:`datasources.bus.messages.write_cycle_async`).

Connections
    One pymodbus client per endpoint ``DeviceSpec.endpoint = (transport, host, port)``, shared by every device behind
    it, with a per-request lock and a reconnect backoff: :mod:`datasources.modbus.endpoint`.

Per-device settings
    ``timeout_s``, ``retries``, ``offline_after``, ``poll_interval_s``, ``max_gap`` and ``max_registers_per_read`` of
    a :class:`~datasources.sql.fleet_spec.DeviceSpec` override the Poller's arguments of the same name (``None`` = the
    Poller's). Block plans are cached per ``(model, max_gap, max_registers_per_read)``; a station is polled every
    ``min`` of its devices' ``poll_interval_s``.

Reads
    Each device is read with the fewest block reads its profile allows (:func:`datasources.modbus.codec.plan_blocks`),
    over its endpoint (:class:`datasources.modbus.endpoint.Endpoint`: timeouts, retries, the ``error`` strings).

Device online / stale / offline rule
    * A good read: ``online: true``, fresh ``values``, ``error: null``, ``ts_ms`` = time of this cycle. A float that
      decodes to NaN/±inf (sensor fault) is left out of ``values``, named in ``error`` (JSON has no NaN) and in
      ``DeviceReading.nonfinite``, so :func:`~datasources.bus.messages.write_cycle_async` deletes the stale number from
      ``cc:latest:<device>``.
    * A device that timed out (no reply at all) is not asked again before a per-device backoff
      (``backoff_base_s`` × 2^(failures−1)); the cycles it skips count as failed cycles (stale, then offline after
      ``offline_after``) without touching the gateway, which keeps serving the other units.
    * A failed cycle of a device that answered before and has failed fewer than ``offline_after`` consecutive cycles:
      still ``online: true`` (one lost reply does not flap the map) but **stale** — ``values`` are the last good
      values, ``ts_ms`` is the time they were read (older than the message's ``ts_ms``) and ``error`` is
      ``"stale: <cause>"``.
    * ``offline_after`` consecutive failed cycles (or any failure of a device that never answered since start): ``online:
      false``, ``values: {}``, ``error`` = the cause, ``ts_ms`` = this cycle. ``cc:latest:<device>`` keeps the last
      values (:func:`~datasources.bus.messages.write_cycle_async` only updates ``_online``/``_error``/``_ts_ms``).
    * An offline device is retried with exponential backoff (``backoff_base_s`` × 2^k, capped at ``backoff_max_s``,
      default 30 s) and reported offline every cycle meanwhile; the first good answer puts it back online.

Scheduling
    :meth:`Poller.poll_once` is one lock-step cycle (tests, benchmarks): every station of the shard concurrently, one
    Redis pipeline when all are done. :meth:`Poller.run` gives each station its own loop (start every ``interval_s``,
    start times spread over the first interval) and one writer task that batches the readings ready at that moment
    into ONE pipeline (batching measured ~1.6× faster than a pipeline per station, bench/bench_poller.py). A station
    eating timeouts delays only itself. Inside a station, devices behind different endpoints are read concurrently,
    devices behind one endpoint one after the other.

Redis down
    A failed write is logged (once per outage), the cycle's messages are dropped (pub/sub is fire-and-forget;
    ``cc:latest`` is rewritten next cycle; the stream misses the outage — no unbounded buffering in the poller), writes
    are retried with backoff (``min(interval_s, 0.5 s)`` doubling up to 2 s) and polling goes on. The redis.asyncio client reconnects
    by itself; on recovery a "Redis is back" line is logged and not-built stations are announced again.

Not-built stations
    Stations without devices are not polled; each gets one :class:`~datasources.bus.messages.StationReading` (no devices,
    summary state ``not_built`` when its lifecycle is not ``built``) in the first cycle and again after every Redis
    recovery, so the map can show them.

Sharding
    ``shard=(i, n)`` keeps the stations with :func:`datasources.bus.shard.shard_of` ``(station_id, n) == i`` (stable
    across processes, hosts and Python versions — unlike ``hash()``). Run n pollers ``--shard 0/n`` … ``--shard n-1/n``.

Hot reload
    :meth:`Poller.update_stations` diffs a new fleet against the shard (station id, DeviceSpec equality) and starts,
    stops or restarts station loops of a running :meth:`Poller.run`; unchanged devices keep their state.

Write service
    :meth:`Poller.run` answers ``cc:control:write`` for this shard's devices (:mod:`datasources.modbus.write_service`).

Logging goes to ``logging.getLogger("datasources.modbus.poller")`` (pymodbus's own log: :mod:`datasources.modbus.endpoint`).
A Poller belongs to the event loop it first ran in; after :meth:`Poller.aclose` it may be used in another one.
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from datasources.bus.messages import DeviceReading, StationReading, now_ms, write_cycle_async
from datasources.bus.shard import parse_shard, shard_of
from datasources.modbus.codec import MAX_REGISTERS_PER_READ, Block, DecodeError, decode_block, plan_blocks
from datasources.modbus.endpoint import REDIS_BACKOFF_MAX_S, Endpoint, ReadError, backoff, quiet_pymodbus
from datasources.modbus.profiles import DeviceProfile
from datasources.modbus.write_service import WriteService
from datasources.sql.fleet_spec import DeviceSpec, StationSpec
from ops.station_state import summarise

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------------------ stats
@dataclass
class PollerStats:
    """Counters since start. Times in seconds (monotonic clock).

    Attributes:
        cycles: ``poll_once`` cycles, plus Redis batches written by ``run``.
        station_polls: station readings produced.
        polls: device reads attempted on the wire (one per device per cycle unless the device is in backoff).
        failures: failed device cycles (any cause in the module table; a stale device skipped in timeout backoff
            counts too).
        skipped: devices not asked in a cycle (offline or timeout backoff), reported without I/O.
        requests: Modbus read requests sent (block reads, retries included).
        stations_written / write_failures: Redis pipeline results (stations in successful writes / failed writes).
        last_cycle_s, max_cycle_s, total_cycle_s: wall time of ``poll_once`` cycles (polling + Redis write); in
            ``run`` of the batch writes.
        last_write_s: wall time of the last Redis pipeline.
        redis_ok: the last write succeeded.
    """

    cycles: int = 0
    station_polls: int = 0
    polls: int = 0
    failures: int = 0
    skipped: int = 0
    requests: int = 0
    stations_written: int = 0
    write_failures: int = 0
    last_cycle_s: float = 0.0
    max_cycle_s: float = 0.0
    total_cycle_s: float = 0.0
    last_write_s: float = 0.0
    redis_ok: bool = True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------------------------------------- device
@dataclass
class _DeviceState:
    values: dict[str, float | int] = field(default_factory=dict)
    good_ts_ms: int = 0
    ever_ok: bool = False
    offline: bool = False
    failures: int = 0  # consecutive failed cycles
    next_try: float = 0.0  # monotonic; only while offline
    error: str | None = None


class _DeviceConfig:
    """Effective transport settings of one device: its DeviceSpec overrides, else the Poller's defaults."""

    __slots__ = ("timeout_s", "retries", "offline_after", "poll_interval_s", "max_gap", "max_registers_per_read")

    def __init__(self, dev: DeviceSpec, poller: "Poller") -> None:
        def pick(name: str, default: Any) -> Any:
            val = getattr(dev, name, None)
            return default if val is None else val
        self.timeout_s = float(pick("timeout_s", poller.timeout_s))
        self.retries = int(pick("retries", poller.retries))
        self.offline_after = max(1, int(pick("offline_after", poller.offline_after)))
        self.poll_interval_s = float(pick("poll_interval_s", poller.interval_s))
        self.max_gap = int(pick("max_gap", poller.max_gap))
        self.max_registers_per_read = int(pick("max_registers_per_read", poller.max_registers_per_read))


class Poller(WriteService):
    """Poll a shard of the fleet over Modbus and write one message per station per cycle to Redis.

    Args:
        stations: the fleet (all of it: the poller keeps its shard). Stations without devices are announced, not
            polled.
        profiles: device profiles keyed by model (:func:`datasources.modbus.profiles.default_profiles`). A device whose model
            has no profile is reported offline with an error every cycle (logged once), not polled.
        redis_url: the bus, e.g. ``redis://127.0.0.1:6379/0``.
        interval_s: seconds between cycle starts in :meth:`run`; also the default backoff base.
        timeout_s: per-request reply (and connect) timeout, seconds.
        retries: extra attempts of a request after a timeout or lost connection.
        offline_after: consecutive failed cycles before a device that was online is reported offline (>= 1).
        shard: ``(i, n)``: keep the stations with ``shard_of(station_id, n) == i``.
        stream_maxlen: approximate bound of the ``cc:readings`` stream.
        backoff_base_s: first reconnect / offline-retry delay (default ``interval_s``).
        backoff_max_s: cap of those delays (default 30 s).
        max_gap: passed to :func:`~datasources.modbus.codec.plan_blocks`.
        max_registers_per_read: largest block read, registers (1..125).

        ``timeout_s``, ``retries``, ``offline_after``, ``interval_s`` (as ``poll_interval_s``), ``max_gap`` and
        ``max_registers_per_read`` are defaults: a DeviceSpec field of the same name that is not ``None`` wins for
        that device (a station is polled every ``min`` of its devices' ``poll_interval_s``).

    Raises:
        ValueError: bad ``shard``, ``offline_after < 1``, non-positive ``interval_s``/``timeout_s``, ``retries < 0``.

    Attributes:
        stations: the stations of this shard (input order). ``stats``: :class:`PollerStats`.
    """

    def __init__(self, stations: list[StationSpec], profiles: dict[str, DeviceProfile], redis_url: str,
                 interval_s: float = 1.0, timeout_s: float = 0.5, retries: int = 1, offline_after: int = 3,
                 shard: tuple[int, int] = (0, 1), stream_maxlen: int = 200_000,
                 backoff_base_s: float | None = None, backoff_max_s: float = 30.0, max_gap: int = 16,
                 max_registers_per_read: int = MAX_REGISTERS_PER_READ) -> None:
        i, n = shard
        parse_shard(f"{i}/{n}")  # validates
        if offline_after < 1:
            raise ValueError(f"offline_after must be >= 1, got {offline_after}")
        if interval_s <= 0 or timeout_s <= 0:
            raise ValueError(f"interval_s and timeout_s must be > 0, got {interval_s}, {timeout_s}")
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        quiet_pymodbus()
        self.shard = (i, n)
        self.profiles = profiles
        self.redis_url = redis_url
        self.interval_s = float(interval_s)
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.offline_after = int(offline_after)
        self.stream_maxlen = int(stream_maxlen)
        self.backoff_base_s = float(backoff_base_s if backoff_base_s is not None else interval_s)
        self.backoff_max_s = float(backoff_max_s)
        self.max_gap = int(max_gap)
        self.max_registers_per_read = int(max_registers_per_read)
        self.stats = PollerStats()

        self._plans: dict[tuple[str, int, int], list[Block]] = {}
        self._state: dict[str, _DeviceState] = {}
        self._cfg: dict[str, _DeviceConfig] = {}
        self._devices: dict[str, DeviceSpec] = {}
        self._endpoints: dict[tuple[str, str, int], Endpoint] = {}
        self._seq: dict[str, int] = {}
        self._groups: dict[str, list[list[int]]] = {}
        self._redis: aioredis.Redis | None = None
        self._redis_next_try = 0.0
        self._redis_failures = 0
        self._loops: dict[str, asyncio.Task] = {}  # station loops while run() is running
        self._start_loop: Callable[[StationSpec, float], None] | None = None
        self._set_stations([s for s in stations if shard_of(s.station_id, n) == i])
        self._static_pending = bool(self._static)

    def _set_stations(self, mine: list[StationSpec]) -> None:
        self.stations = mine
        self._polled = [s for s in mine if s.devices]
        self._static = [s for s in mine if not s.devices]
        for st in self._polled:
            for dev in st.devices:
                self._add_device(dev)

    def _add_device(self, dev: DeviceSpec) -> None:
        self._state.setdefault(dev.device_id, _DeviceState())
        self._devices[dev.device_id] = dev
        cfg = self._cfg[dev.device_id] = _DeviceConfig(dev, self)
        if dev.model not in self.profiles:
            log.error("device %s: no profile for model %r; it will be reported offline", dev.device_id, dev.model)
            return
        self._plan(dev.model, cfg)

    def _plan(self, model: str, cfg: _DeviceConfig) -> list[Block]:
        key = (model, cfg.max_gap, cfg.max_registers_per_read)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = plan_blocks(self.profiles[model], max_gap=cfg.max_gap,
                                                  max_registers_per_read=cfg.max_registers_per_read)
        return plan

    def _station_interval(self, st: StationSpec) -> float:
        return min((self._cfg[d.device_id].poll_interval_s for d in st.devices), default=self.interval_s)

    # ------------------------------------------------------------------------------------------------ public API
    @property
    def devices_total(self) -> int:
        """Number of devices this poller reads."""
        return sum(len(s.devices) for s in self._polled)

    def update_stations(self, stations: list[StationSpec]) -> dict[str, list[str]]:
        """Hot reload: replace the fleet (all of it; the poller keeps its shard) without restarting.

        Diffs against the current shard by station id and :class:`DeviceSpec` equality: new stations are added,
        removed ones dropped (their devices' state forgotten, endpoints no longer used closed), changed ones
        (any field of the station or of a device) restarted with fresh state for the changed devices; unchanged
        devices keep their state (online/stale counters, last values). While :meth:`run` is running, loops are
        started / cancelled / restarted at once; new not-built stations are announced in the next write.

        Must be called from the poller's event loop thread (a plain call between awaits, e.g. from a task or a
        ``loop.call_soon_threadsafe`` callback): it touches the loop's tasks and is not thread-safe.

        Returns:
            ``{"added": [...], "removed": [...], "changed": [...]}`` station ids.
        """
        i, n = self.shard
        new = [s for s in stations if shard_of(s.station_id, n) == i]
        old_by_id = {s.station_id: s for s in self.stations}
        new_by_id = {s.station_id: s for s in new}
        added = [sid for sid in new_by_id if sid not in old_by_id]
        removed = [sid for sid in old_by_id if sid not in new_by_id]
        changed = [sid for sid in new_by_id if sid in old_by_id and new_by_id[sid] != old_by_id[sid]]
        new_devices = {d.device_id: d for s in new for d in s.devices}
        for dev_id, dev in list(self._devices.items()):
            if new_devices.get(dev_id) != dev:  # removed or changed: forget its state
                self._state.pop(dev_id, None)
                self._cfg.pop(dev_id, None)
                self._devices.pop(dev_id, None)
        for sid in removed + changed:
            self._groups.pop(sid, None)
            task = self._loops.pop(sid, None)
            if task is not None:
                task.cancel()
        if any(not new_by_id[sid].devices for sid in added + changed):
            self._static_pending = True
        self._set_stations(new)
        used = {d.endpoint for s in self._polled for d in s.devices}
        for key in [k for k in self._endpoints if k not in used]:
            self._endpoints.pop(key).close()
        if self._start_loop is not None:
            for sid in added + changed:
                st = new_by_id[sid]
                if st.devices:
                    self._start_loop(st, 0.0)
        for sid in removed:
            self._seq.pop(sid, None)
        if added or removed or changed:
            log.info("stations updated: %d added, %d removed, %d changed", len(added), len(removed), len(changed))
        return {"added": added, "removed": removed, "changed": changed}

    async def poll_once(self) -> list[StationReading]:
        """One lock-step cycle: poll every station of the shard concurrently, wait for all, write ONE pipeline.

        Returns:
            the cycle's :class:`~datasources.bus.messages.StationReading` messages (plus the not-built stations' announcements
            when due), in station order; also when the Redis write failed (see ``stats.redis_ok``).
        """
        t0 = time.monotonic()
        polled = await asyncio.gather(*(self._poll_station_safe(st) for st in self._polled))
        readings = self._take_static() + [r for r in polled if r is not None]
        await self._write(readings)
        dt = time.monotonic() - t0
        self.stats.cycles += 1
        self.stats.last_cycle_s = dt
        self.stats.total_cycle_s += dt
        self.stats.max_cycle_s = max(self.stats.max_cycle_s, dt)
        return readings

    async def run(self) -> None:
        """Poll until cancelled; never raises on device or Redis faults; closes sockets on exit.

        Each station has its own loop: poll, hand the reading to the writer, sleep until its interval (``interval_s``
        or its devices' ``poll_interval_s``) after the previous start (at once when the poll took longer). Start
        times are spread over the first interval so the load is even. The writer batches whatever readings are
        ready — waiting at most ``interval_s / 20`` after the first one — into one Redis pipeline. A slow station
        (a silent gateway eating timeouts) thus delays only itself. A write service listens on
        ``cc:control:write`` (:data:`datasources.bus.messages.CONTROL_WRITE_CHANNEL`) and performs the writes for this
        shard's devices over the poller's own connections (:meth:`handle_write`).
        """
        log.info("poller shard %d/%d: %d stations (%d polled, %d not built), %d devices, interval %.3g s",
                 self.shard[0], self.shard[1], len(self.stations), len(self._polled), len(self._static),
                 self.devices_total, self.interval_s)
        loop = asyncio.get_running_loop()
        pending: list[StationReading] = []
        ready = asyncio.Event()
        stopping = False

        async def station_loop(st: StationSpec, offset: float) -> None:
            interval = self._station_interval(st)
            next_start = loop.time() + offset
            await asyncio.sleep(offset)
            while not stopping and self._loops.get(st.station_id) is asyncio.current_task():
                reading = await self._poll_station_safe(st)
                if reading is not None and self._loops.get(st.station_id) is asyncio.current_task():
                    pending.append(reading)
                    ready.set()
                next_start = max(next_start + interval, loop.time())
                await asyncio.sleep(next_start - loop.time())

        def start_loop(st: StationSpec, offset: float) -> None:
            self._loops[st.station_id] = asyncio.create_task(station_loop(st, offset), name=f"poll {st.station_id}")

        async def writer() -> None:
            while not stopping:
                if not self._static_pending:
                    await ready.wait()
                await asyncio.sleep(self.interval_s / 20)  # let a batch gather
                ready.clear()
                batch = self._take_static() + pending[:]
                pending.clear()
                t0 = time.monotonic()
                try:
                    await self._write(batch)
                except Exception:  # noqa: BLE001  (_write handles Redis faults; this is a bug, keep polling)
                    log.exception("writing %d station reading(s) failed", len(batch))
                self.stats.cycles += 1
                dt = time.monotonic() - t0
                self.stats.last_cycle_s = dt
                self.stats.total_cycle_s += dt
                self.stats.max_cycle_s = max(self.stats.max_cycle_s, dt)

        fixed = [asyncio.create_task(writer(), name="poller writer"),
                 asyncio.create_task(self._write_service(), name="poller write service")]
        n = max(1, len(self._polled))
        self._start_loop = start_loop
        for k, st in enumerate(self._polled):
            start_loop(st, self.interval_s * k / n)
        try:
            # the loops end only by cancellation; wait on the fixed tasks (station loops come and go)
            await asyncio.wait(fixed)
        finally:
            stopping = True
            self._start_loop = None
            tasks = fixed + list(self._loops.values())
            self._loops.clear()
            # Python 3.11's asyncio.wait_for (used by pymodbus for every reply) can swallow a cancellation that races
            # with a reply; the ``stopping`` flag ends such a loop at its next turn, and we cancel again meanwhile.
            alive = [t for t in tasks if not t.done()]
            while alive:
                for t in alive:
                    t.cancel()
                await asyncio.wait(alive, timeout=0.1)
                alive = [t for t in alive if not t.done()]
            await self.aclose()

    async def aclose(self) -> None:
        """Close Modbus sockets and the Redis client. Idempotent; a later ``poll_once`` reconnects."""
        for ep in self._endpoints.values():
            ep.close()
        self._endpoints.clear()
        if self._redis is not None:
            client, self._redis = self._redis, None
            try:
                await client.aclose()
            except (RedisError, OSError):
                pass

    def device_state(self, device_id: str) -> dict[str, Any]:
        """Poller's view of one device: ``online``, ``offline``, ``failures``, ``error``, ``values`` (for tests/health)."""
        st = self._state[device_id]
        return {"online": st.ever_ok and not st.offline, "offline": st.offline, "failures": st.failures,
                "error": st.error, "values": dict(st.values)}

    # ---------------------------------------------------------------------------------------------------- cycles
    def _take_static(self) -> list[StationReading]:
        """The not-built stations' announcements when due (first write, after a Redis outage), else []."""
        if not self._static_pending:
            return []
        self._static_pending = False  # set again by _write when the write fails
        ts = now_ms()
        return [self._reading(st, [], ts) for st in self._static]

    async def _poll_station_safe(self, st: StationSpec) -> StationReading | None:
        try:
            reading = await self._poll_station(st)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001  (_poll_device never raises; summarise might on absurd values)
            log.exception("station %s: poll failed", st.station_id)
            return None
        self.stats.station_polls += 1
        return reading

    def _reading(self, st: StationSpec, devices: list[DeviceReading], ts: int) -> StationReading:
        seq = self._seq.get(st.station_id, 0) + 1
        self._seq[st.station_id] = seq
        return StationReading(station_id=st.station_id, ts_ms=ts, devices=devices,
                              summary=summarise(st.lifecycle, devices, ts), seq=seq)

    async def _poll_station(self, st: StationSpec) -> StationReading:
        """Devices behind different endpoints concurrently; behind one endpoint one after the other (the socket
        carries one transaction at a time anyway, and queueing them on its lock only costs wake-ups)."""
        ts = now_ms()
        groups = self._groups.get(st.station_id)
        if groups is None:
            by_ep: dict[tuple[str, str, int], list[int]] = {}
            for i, d in enumerate(st.devices):
                by_ep.setdefault(d.endpoint, []).append(i)
            groups = self._groups[st.station_id] = list(by_ep.values())
        out: list[DeviceReading | None] = [None] * len(st.devices)

        async def run_group(idx: list[int]) -> None:
            for i in idx:
                out[i] = await self._poll_device(st.devices[i], ts)

        if len(groups) == 1:
            await run_group(groups[0])
        else:
            await asyncio.gather(*(run_group(g) for g in groups))
        return self._reading(st, out, ts)  # type: ignore[arg-type]

    async def _poll_device(self, dev: DeviceSpec, ts: int) -> DeviceReading:
        """One device's reading for this cycle. Never raises (except cancellation)."""
        state = self._state.get(dev.device_id)
        if state is None:  # removed by update_stations while this poll was under way
            state = _DeviceState()
        profile = self.profiles.get(dev.model)
        if profile is None:
            state.offline, state.error = True, f"no profile for model {dev.model!r}"
            return DeviceReading(dev.device_id, dev.kind, dev.model, False, ts, {}, state.error)
        cfg = self._cfg.get(dev.device_id) or _DeviceConfig(dev, self)
        if time.monotonic() < state.next_try:
            self.stats.skipped += 1
            if state.offline:
                return DeviceReading(dev.device_id, dev.kind, dev.model, False, ts, {}, state.error)
            # stale and in timeout backoff: one more failed cycle without touching the gateway
            return self._failed(dev, state, ts, state.error or "no response", cfg)
        self.stats.polls += 1
        try:
            values = await self._read_device(dev, self._plan(dev.model, cfg), cfg)
        except ReadError as exc:
            return self._failed(dev, state, ts, str(exc), cfg, timed_out=exc.timed_out)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001  nothing may crash the poll loop
            log.exception("device %s: unexpected error while polling", dev.device_id)
            return self._failed(dev, state, ts, f"internal error: {exc!r}", cfg)
        if state.offline:
            # first contact after start-up is not news; a device that had answered before and came back is
            (log.info if state.ever_ok else log.debug)("device %s is %s online", dev.device_id,
                                                       "back" if state.ever_ok else "now")
        # NaN/inf (a float sensor fault) cannot go into JSON: omit them, say so, and clear them in cc:latest
        bad = [k for k, v in values.items() if isinstance(v, float) and not math.isfinite(v)]
        note = None
        if bad:
            note = "non-finite value(s) omitted: " + ", ".join(f"{k}={values.pop(k)}" for k in bad)
        state.values, state.good_ts_ms, state.ever_ok = values, ts, True
        state.offline, state.failures, state.error, state.next_try = False, 0, note, 0.0
        return DeviceReading(dev.device_id, dev.kind, dev.model, True, ts, dict(values), note,
                             nonfinite=tuple(bad))

    def _endpoint(self, dev: DeviceSpec) -> Endpoint:
        ep = self._endpoints.get(dev.endpoint)
        if ep is None:
            ep = self._endpoints[dev.endpoint] = Endpoint(dev, self._cfg[dev.device_id].timeout_s
                                                           if dev.device_id in self._cfg else self.timeout_s,
                                                           self.backoff_base_s, self.backoff_max_s, self.stats)
        return ep

    async def _read_device(self, dev: DeviceSpec, plan: list[Block], cfg: _DeviceConfig) -> dict[str, Any]:
        ep = self._endpoint(dev)
        values: dict[str, Any] = {}
        for block in plan:
            raw = await ep.read(block, dev.unit_id, cfg.timeout_s, cfg.retries)
            try:
                values.update(decode_block(block, raw if isinstance(raw, list) else list(raw)))
            except DecodeError as exc:
                raise ReadError(f"decode error from {ep.name} unit {dev.unit_id}: {exc}") from None
        return values

    def _failed(self, dev: DeviceSpec, state: _DeviceState, ts: int, error: str, cfg: _DeviceConfig,
                timed_out: bool = False, counted: bool = True) -> DeviceReading:
        if counted:
            self.stats.failures += 1
        state.failures += 1
        state.error = error
        if state.ever_ok and not state.offline and state.failures < cfg.offline_after:
            if timed_out:
                # a unit that does not answer is not asked again next cycle: the gateway serves the others
                state.next_try = time.monotonic() + backoff(self.backoff_base_s, state.failures - 1,
                                                             self.backoff_max_s) * 0.999
            return DeviceReading(dev.device_id, dev.kind, dev.model, True, state.good_ts_ms, dict(state.values),
                                 f"stale: {error}")
        if not state.offline:
            # a device that never answered since start-up (e.g. the gateway is still booting) is reported once by
            # its endpoint's connection log; only a device that was online and dropped out is a warning of its own
            (log.warning if state.ever_ok else log.debug)("device %s is offline: %s", dev.device_id, error)
        state.offline = True
        k = max(0, state.failures - cfg.offline_after)
        state.next_try = time.monotonic() + backoff(self.backoff_base_s, k, self.backoff_max_s)
        return DeviceReading(dev.device_id, dev.kind, dev.model, False, ts, {}, error)

    # ------------------------------------------------------------------------------------------------------ redis
    async def _write(self, readings: list[StationReading]) -> bool:
        """One pipeline for the cycle. Returns True when written; never raises on Redis faults."""
        if not readings:
            return True
        now = time.monotonic()
        if now < self._redis_next_try:  # Redis known down: drop this batch without waiting on a socket
            self._static_pending = bool(self._static)
            return False
        if self._redis is None:
            self._redis = aioredis.Redis.from_url(
                self.redis_url, socket_timeout=max(5.0, self.timeout_s),
                socket_connect_timeout=min(1.0, max(0.2, self.interval_s / 2)),
                retry=Retry(NoBackoff(), 1), health_check_interval=0)
        t0 = time.monotonic()
        try:
            n = await write_cycle_async(self._redis, readings, self.stream_maxlen)
        except (RedisError, OSError, ValueError, TypeError) as exc:  # ValueError/TypeError: unserialisable value
            self.stats.write_failures += 1
            if self.stats.redis_ok:
                log.error("Redis write failed (%s: %s); polling goes on, retrying with backoff",
                          type(exc).__name__, exc)
            self.stats.redis_ok = False
            self._redis_next_try = time.monotonic() + backoff(min(self.interval_s, 0.5), self._redis_failures,
                                                               REDIS_BACKOFF_MAX_S)
            self._redis_failures += 1
            self._static_pending = bool(self._static)
            return False
        self.stats.last_write_s = time.monotonic() - t0
        self.stats.stations_written += n
        if not self.stats.redis_ok:
            log.info("Redis is back after %d failed write(s)", self._redis_failures)
        self.stats.redis_ok = True
        self._redis_failures = 0
        self._redis_next_try = 0.0
        return True


async def run_poller(stations: list[StationSpec], profiles: dict[str, DeviceProfile], redis_url: str,
                     **kw: Any) -> None:
    """Build a :class:`Poller` with ``**kw`` (same names as its constructor) and :meth:`Poller.run` it until
    cancelled."""
    await Poller(stations, profiles, redis_url, **kw).run()


__all__ = ["Poller", "PollerStats", "run_poller"]
