"""Asyncio Modbus TCP poller: reads every device of a shard of the fleet each cycle and writes the bus.

Data flow (DESIGN.md): devices ──Modbus TCP──► :class:`Poller` ──one Redis pipeline per cycle──► ``PUBLISH
cc:readings:<station>``, ``HSET cc:latest:<device>``, ``HSET cc:summary``, ``XADD cc:readings MAXLEN ~``
(:func:`datasources.bus.write_cycle_async`).

Connections
    One :class:`pymodbus.client.AsyncModbusTcpClient` per ``(host, port)`` endpoint, shared by every device (unit id,
    pymodbus 3.16 kwarg ``device_id=``) behind it. pymodbus serialises transactions on one client: its
    ``TransactionManager.execute`` holds an ``asyncio.Lock`` from send to reply and matches the reply to *the* pending
    request, so there is never more than one request in flight per socket. The poller takes its own per-endpoint lock
    *before* calling pymodbus, so a request's timeout counts wire time only, not time queued behind other devices.
    Connections are opened lazily; after a failed connect the endpoint is not retried before an exponential backoff
    (``backoff_base_s`` doubling, capped at ``backoff_max_s``) and devices behind it fail fast meanwhile. pymodbus's own
    background reconnect is disabled (``reconnect_delay=0``): the poller decides when to reconnect.

Reads
    Each device is read with the fewest block reads its profile allows (:func:`datasources.modbus_codec.plan_blocks`),
    decoded with :func:`~datasources.modbus_codec.decode_block`. Each request has ``timeout_s`` and is retried
    ``retries`` times after a timeout or a lost connection (not after an exception response, which is deterministic).
    A device read stops at its first failed block. Failures carry a clear ``error`` string:

    ==========================================  ================================================================
    cause                                        ``error`` starts with
    ==========================================  ================================================================
    nothing listening / host unreachable        ``connect to <host>:<port> failed``
    endpoint in reconnect backoff               ``not connected to <host>:<port>``
    no reply within ``timeout_s``               ``no response``
    bytes that are not a Modbus TCP frame       ``malformed reply``
    connection closed during the request        ``connection lost``
    Modbus exception response                   ``exception response <code> (<NAME>)``
    reply of another function code              ``unexpected reply``
    reply shorter than the block / bad words    ``decode error``
    ==========================================  ================================================================

    After a malformed reply the connection is closed, so the next request starts on a clean byte stream.

Device online / stale / offline rule
    * A good read: ``online: true``, fresh ``values``, ``error: null``, ``ts_ms`` = time of this cycle. A float32 that
      decodes to NaN/±inf (sensor fault) is left out of ``values`` and named in ``error`` (JSON has no NaN).
    * A failed cycle of a device that answered before and has failed fewer than ``offline_after`` consecutive cycles:
      still ``online: true`` (one lost reply does not flap the map) but **stale** — ``values`` are the last good
      values, ``ts_ms`` is the time they were read (older than the message's ``ts_ms``) and ``error`` is
      ``"stale: <cause>"``.
    * ``offline_after`` consecutive failed cycles (or any failure of a device that never answered since start): ``online:
      false``, ``values: {}``, ``error`` = the cause, ``ts_ms`` = this cycle. ``cc:latest:<device>`` keeps the last
      values (:func:`~datasources.bus.write_cycle_async` only updates ``_online``/``_error``/``_ts_ms``).
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
    Stations without devices are not polled; each gets one :class:`~datasources.bus.StationReading` (no devices,
    summary state ``not_built`` when its lifecycle is not ``built``) in the first cycle and again after every Redis
    recovery, so the map can show them.

Sharding
    ``shard=(i, n)`` keeps the stations with :func:`shard_of` ``(station_id, n) == i`` (``zlib.crc32``: stable across
    processes, hosts and Python versions — unlike ``hash()``). Run n pollers ``--shard 0/n`` … ``--shard n-1/n``.

Logging goes to ``logging.getLogger("datasources.poller")``. pymodbus logs every timeout itself (logger
``pymodbus.logging``, with frame dumps on errors); a deployment may raise that logger's level. A Poller belongs to
the event loop it first ran in; after :meth:`Poller.aclose` it may be used in another one.
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any

import redis.asyncio as aioredis
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from datasources.bus import DeviceReading, StationReading, now_ms, write_cycle_async
from datasources.fleet_spec import DeviceSpec, StationSpec
from datasources.modbus_codec import Block, DecodeError, decode_block, plan_blocks
from datasources.profiles import DeviceProfile
from ops.station_state import summarise

log = logging.getLogger(__name__)

#: Modbus function code of the read request for each register type
_FUNCTION_CODES = {"coil": 1, "discrete_input": 2, "holding": 3, "input": 4}
_READ_METHODS = {"coil": "read_coils", "discrete_input": "read_discrete_inputs",
                 "holding": "read_holding_registers", "input": "read_input_registers"}
_REDIS_BACKOFF_MAX_S = 2.0


# --------------------------------------------------------------------------------------------------------- sharding
def shard_of(station_id: str, n: int) -> int:
    """Shard index ``0..n-1`` of a station: ``zlib.crc32(station_id as UTF-8) % n`` (stable everywhere).

    Raises:
        ValueError: ``n < 1``.
    """
    if n < 1:
        raise ValueError(f"shard count must be >= 1, got {n}")
    return zlib.crc32(station_id.encode("utf-8")) % n


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``"i/n"`` (e.g. ``"1/4"``) into ``(i, n)`` with ``0 <= i < n``.

    Raises:
        ValueError: not of the form ``i/n`` with integers, ``n < 1`` or ``i`` outside ``0..n-1``; the message quotes
            the input.
    """
    parts = str(text).strip().split("/")
    if len(parts) != 2:
        raise ValueError(f"shard {text!r} must look like 'i/n', e.g. '0/4'")
    try:
        i, n = int(parts[0]), int(parts[1])
    except ValueError:
        raise ValueError(f"shard {text!r}: i and n must be integers, e.g. '0/4'") from None
    if n < 1:
        raise ValueError(f"shard {text!r}: n must be >= 1")
    if not 0 <= i < n:
        raise ValueError(f"shard {text!r}: i must be in 0..{n - 1}")
    return i, n


# ------------------------------------------------------------------------------------------------------------ stats
@dataclass
class PollerStats:
    """Counters since start. Times in seconds (monotonic clock).

    Attributes:
        cycles: ``poll_once`` cycles, plus Redis batches written by ``run``.
        station_polls: station readings produced.
        polls: device reads attempted on the wire (one per device per cycle unless the device is in backoff).
        failures: device reads that failed (any cause in the module table).
        skipped: offline devices not retried in a cycle (backoff), reported offline without I/O.
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


def _backoff(base_s: float, k: int, cap_s: float) -> float:
    """``base_s * 2**k`` capped at ``cap_s`` (k >= 0)."""
    return min(cap_s, base_s * (2 ** min(k, 30)))


class _ReadError(Exception):
    """A device read failed; ``str()`` is the ``error`` reported on the bus."""


# --------------------------------------------------------------------------------------------------------- endpoint
class _Endpoint:
    """One Modbus TCP endpoint ``(host, port)``: a lazily connected pymodbus client shared by its devices."""

    def __init__(self, host: str, port: int, timeout_s: float, retries: int, backoff_base_s: float,
                 backoff_max_s: float, stats: PollerStats) -> None:
        self.host, self.port = host, port
        self.name = f"{host}:{port}"
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.stats = stats
        self.lock = asyncio.Lock()
        self.connect_failures = 0
        self.next_connect_at = 0.0
        self.last_connect_error = ""
        self._inflight = False
        self._rx = b""
        self.client = AsyncModbusTcpClient(
            host, port=port, timeout=timeout_s, retries=0, reconnect_delay=0, name=self.name,
            trace_packet=self._trace_packet, trace_connect=self._trace_connect)

    # pymodbus hooks ------------------------------------------------------------------------------------------------
    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            self._rx = bytes(data)  # pymodbus passes its whole receive buffer
        return data

    def _trace_connect(self, connected: bool) -> None:
        """On a lost connection, fail the pending request now instead of waiting for its timeout."""
        if connected or not self._inflight:
            return
        fut = getattr(getattr(self.client, "ctx", None), "response_future", None)
        if fut is not None and not fut.done():
            fut.set_exception(ConnectionException("connection lost"))

    # connection ----------------------------------------------------------------------------------------------------
    async def _ensure_connected(self) -> None:
        """Connect if needed, honouring the reconnect backoff. Raises _ReadError on failure or during backoff."""
        if self.client.connected:
            return
        now = time.monotonic()
        if now < self.next_connect_at:
            raise _ReadError(f"not connected to {self.name} ({self.last_connect_error}); "
                             f"next attempt in {self.next_connect_at - now:.1f} s")
        err = ""
        try:
            ok = await self.client.connect()
        except (OSError, ModbusException, asyncio.TimeoutError) as exc:  # connect() normally returns False
            ok, err = False, f"connect to {self.name} failed: {exc}"
        if ok and self.client.connected:
            if self.connect_failures:
                log.info("connected to %s again after %d failed attempt(s)", self.name, self.connect_failures)
            self.connect_failures = 0
            self.next_connect_at = 0.0
            return
        if not err:
            elapsed = time.monotonic() - now
            why = (f"timed out after {self.timeout_s:g} s" if elapsed >= self.timeout_s * 0.9
                   else "refused or unreachable")
            err = f"connect to {self.name} failed ({why})"
        self.last_connect_error = err
        self.next_connect_at = time.monotonic() + _backoff(self.backoff_base_s, self.connect_failures,
                                                           self.backoff_max_s)
        self.connect_failures += 1
        if self.connect_failures == 1:
            log.warning("%s; retrying with backoff", err)
        raise _ReadError(err)

    def drop(self) -> None:
        """Close the socket (next request reconnects at once, no backoff)."""
        self.client.close()

    def close(self) -> None:
        self.client.close()

    # reads ---------------------------------------------------------------------------------------------------------
    async def read(self, block: Block, unit_id: int) -> list[int] | list[bool]:
        """Raw words (registers) or bits of one block from ``unit_id``.

        Raises:
            _ReadError: connect failure/backoff, timeout, lost connection, malformed or exception reply.
        """
        method = getattr(self.client, _READ_METHODS[block.register_type])
        expected_fc = _FUNCTION_CODES[block.register_type]
        what = f"{block.register_type} {block.start}+{block.count} of unit {unit_id}"
        error = ""
        async with self.lock:
            for _attempt in range(self.retries + 1):
                await self._ensure_connected()
                self._rx = b""
                self._inflight = True
                self.stats.requests += 1
                try:
                    reply = await method(block.start, count=block.count, device_id=unit_id)
                except ConnectionException as exc:
                    error = f"connection lost to {self.name} reading {what} ({exc})"
                    if self._rx:  # pymodbus drops the connection when a frame does not decode
                        error = (f"malformed reply from {self.name} to {what}: {len(self._rx)} bytes that do not "
                                 f"decode: {_hex(self._rx)} (connection reset)")
                        self.drop()
                    continue
                except ModbusIOException as exc:
                    if self._rx:
                        error = (f"malformed reply from {self.name} to {what}: {len(self._rx)} bytes "
                                 f"that are not a valid Modbus TCP reply: {_hex(self._rx)}")
                        self.drop()
                    else:
                        error = f"no response from {self.name} to {what} within {self.timeout_s:g} s"
                        if "CLOSING CONNECTION" in str(exc):
                            error += " (pymodbus closed the connection)"
                    continue
                except ModbusException as exc:
                    error = f"malformed reply from {self.name} to {what}: {exc}"
                    self.drop()
                    continue
                finally:
                    self._inflight = False
                if reply.isError():
                    code = getattr(reply, "exception_code", None)
                    try:
                        name = ExcCodes(code).name
                    except ValueError:
                        name = "UNKNOWN"
                    raise _ReadError(f"exception response {code} ({name}) from {self.name} to {what}")
                if reply.function_code != expected_fc:
                    self.drop()
                    raise _ReadError(f"unexpected reply from {self.name} to {what}: function code "
                                     f"{reply.function_code}, expected {expected_fc}")
                if block.register_type in ("coil", "discrete_input"):
                    data = reply.bits  # whole bytes: up to 7 padding bits
                    if not block.count <= len(data) < block.count + 8:
                        raise _ReadError(f"decode error from {self.name}: {what}: reply has {len(data)} bits")
                    return data
                if len(reply.registers) != block.count:
                    raise _ReadError(f"decode error from {self.name}: {what}: reply has {len(reply.registers)} "
                                     f"registers, expected {block.count}")
                return reply.registers
        raise _ReadError(error)


def _hex(data: bytes, limit: int = 24) -> str:
    text = data[:limit].hex(" ")
    return text + (" …" if len(data) > limit else "")


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


class Poller:
    """Poll a shard of the fleet over Modbus TCP and write one message per station per cycle to Redis.

    Args:
        stations: the fleet (all of it: the poller keeps its shard). Stations without devices are announced, not
            polled.
        profiles: device profiles keyed by model (:func:`datasources.profiles.default_profiles`). A device whose model
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
        max_gap: passed to :func:`~datasources.modbus_codec.plan_blocks`.

    Raises:
        ValueError: bad ``shard``, ``offline_after < 1``, non-positive ``interval_s``/``timeout_s``, ``retries < 0``.

    Attributes:
        stations: the stations of this shard (input order). ``stats``: :class:`PollerStats`.
    """

    def __init__(self, stations: list[StationSpec], profiles: dict[str, DeviceProfile], redis_url: str,
                 interval_s: float = 1.0, timeout_s: float = 0.5, retries: int = 1, offline_after: int = 3,
                 shard: tuple[int, int] = (0, 1), stream_maxlen: int = 200_000,
                 backoff_base_s: float | None = None, backoff_max_s: float = 30.0, max_gap: int = 16) -> None:
        i, n = shard
        parse_shard(f"{i}/{n}")  # validates
        if offline_after < 1:
            raise ValueError(f"offline_after must be >= 1, got {offline_after}")
        if interval_s <= 0 or timeout_s <= 0:
            raise ValueError(f"interval_s and timeout_s must be > 0, got {interval_s}, {timeout_s}")
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        self.shard = (i, n)
        self.stations = [s for s in stations if shard_of(s.station_id, n) == i]
        self.profiles = profiles
        self.redis_url = redis_url
        self.interval_s = float(interval_s)
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.offline_after = int(offline_after)
        self.stream_maxlen = int(stream_maxlen)
        self.backoff_base_s = float(backoff_base_s if backoff_base_s is not None else interval_s)
        self.backoff_max_s = float(backoff_max_s)
        self.stats = PollerStats()

        self._polled = [s for s in self.stations if s.devices]
        self._static = [s for s in self.stations if not s.devices]
        self._static_pending = bool(self._static)
        self._plans: dict[str, list[Block]] = {}
        for model, prof in profiles.items():
            self._plans[model] = plan_blocks(prof, max_gap=max_gap)
        self._state: dict[str, _DeviceState] = {}
        self._endpoints: dict[tuple[str, int], _Endpoint] = {}
        self._seq: dict[str, int] = {}
        self._groups: dict[str, list[list[int]]] = {}
        self._redis: aioredis.Redis | None = None
        self._redis_next_try = 0.0
        self._redis_failures = 0
        for st in self._polled:
            for dev in st.devices:
                self._state[dev.device_id] = _DeviceState()
                if dev.model not in self._plans:
                    log.error("device %s: no profile for model %r; it will be reported offline", dev.device_id,
                              dev.model)

    # ------------------------------------------------------------------------------------------------ public API
    @property
    def devices_total(self) -> int:
        """Number of devices this poller reads."""
        return sum(len(s.devices) for s in self._polled)

    async def poll_once(self) -> list[StationReading]:
        """One lock-step cycle: poll every station of the shard concurrently, wait for all, write ONE pipeline.

        Returns:
            the cycle's :class:`~datasources.bus.StationReading` messages (plus the not-built stations' announcements
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

        Each station has its own loop: poll, hand the reading to the writer, sleep until ``interval_s`` after the
        previous start (at once when the poll took longer). Start times are spread over the first interval so the
        load is even. The writer batches whatever readings are ready — waiting at most ``interval_s / 20`` after the
        first one — into one Redis pipeline. A slow station (a silent gateway eating timeouts) thus delays only
        itself; with more stations than one process can poll per interval every station is simply polled as often
        as the CPU allows.
        """
        log.info("poller shard %d/%d: %d stations (%d polled, %d not built), %d devices, interval %.3g s",
                 self.shard[0], self.shard[1], len(self.stations), len(self._polled), len(self._static),
                 self.devices_total, self.interval_s)
        loop = asyncio.get_running_loop()
        pending: list[StationReading] = []
        ready = asyncio.Event()
        stopping = False
        n = max(1, len(self._polled))

        async def station_loop(st: StationSpec, offset: float) -> None:
            next_start = loop.time() + offset
            await asyncio.sleep(offset)
            while not stopping:
                reading = await self._poll_station_safe(st)
                if reading is not None:
                    pending.append(reading)
                    ready.set()
                next_start = max(next_start + self.interval_s, loop.time())
                await asyncio.sleep(next_start - loop.time())

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

        tasks = [asyncio.create_task(writer(), name="poller writer")]
        tasks += [asyncio.create_task(station_loop(st, self.interval_s * k / n), name=f"poll {st.station_id}")
                  for k, st in enumerate(self._polled)]
        try:
            # asyncio.wait, not gather: cancelling run() must not depend on every child acknowledging it
            await asyncio.wait(tasks)  # the loops end only by cancellation
        finally:
            stopping = True
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
            by_ep: dict[tuple[str, int], list[int]] = {}
            for i, d in enumerate(st.devices):
                by_ep.setdefault((d.host, d.port), []).append(i)
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
        state = self._state[dev.device_id]
        profile = self.profiles.get(dev.model)
        if profile is None:
            state.offline, state.error = True, f"no profile for model {dev.model!r}"
            return DeviceReading(dev.device_id, dev.kind, dev.model, False, ts, {}, state.error)
        if state.offline and time.monotonic() < state.next_try:
            self.stats.skipped += 1
            return DeviceReading(dev.device_id, dev.kind, dev.model, False, ts, {}, state.error)
        self.stats.polls += 1
        try:
            values = await self._read_device(dev, self._plans[dev.model])
        except _ReadError as exc:
            return self._failed(dev, state, ts, str(exc))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001  nothing may crash the poll loop
            log.exception("device %s: unexpected error while polling", dev.device_id)
            return self._failed(dev, state, ts, f"internal error: {exc!r}")
        if state.offline:
            # first contact after start-up is not news; a device that had answered before and came back is
            (log.info if state.ever_ok else log.debug)("device %s is %s online", dev.device_id,
                                                       "back" if state.ever_ok else "now")
        # NaN/inf (a float32 sensor fault) cannot go into JSON: omit them and say so
        bad = [k for k, v in values.items() if isinstance(v, float) and not math.isfinite(v)]
        note = None
        if bad:
            note = "non-finite value(s) omitted: " + ", ".join(f"{k}={values.pop(k)}" for k in bad)
        state.values, state.good_ts_ms, state.ever_ok = values, ts, True
        state.offline, state.failures, state.error, state.next_try = False, 0, note, 0.0
        return DeviceReading(dev.device_id, dev.kind, dev.model, True, ts, dict(values), note)

    async def _read_device(self, dev: DeviceSpec, plan: list[Block]) -> dict[str, float | int]:
        ep = self._endpoints.get((dev.host, dev.port))
        if ep is None:
            ep = self._endpoints[(dev.host, dev.port)] = _Endpoint(
                dev.host, dev.port, self.timeout_s, self.retries, self.backoff_base_s, self.backoff_max_s,
                self.stats)
        values: dict[str, float | int] = {}
        for block in plan:
            raw = await ep.read(block, dev.unit_id)
            try:
                values.update(decode_block(block, list(raw)))
            except DecodeError as exc:
                raise _ReadError(f"decode error from {ep.name} unit {dev.unit_id}: {exc}") from None
        return values

    def _failed(self, dev: DeviceSpec, state: _DeviceState, ts: int, error: str) -> DeviceReading:
        self.stats.failures += 1
        state.failures += 1
        state.error = error
        if state.ever_ok and not state.offline and state.failures < self.offline_after:
            return DeviceReading(dev.device_id, dev.kind, dev.model, True, state.good_ts_ms, dict(state.values),
                                 f"stale: {error}")
        if not state.offline:
            # a device that never answered since start-up (e.g. the gateway is still booting) is reported once by
            # its endpoint's connection log; only a device that was online and dropped out is a warning of its own
            (log.warning if state.ever_ok else log.debug)("device %s is offline: %s", dev.device_id, error)
        state.offline = True
        k = max(0, state.failures - self.offline_after)
        state.next_try = time.monotonic() + _backoff(self.backoff_base_s, k, self.backoff_max_s)
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
            self._redis_next_try = time.monotonic() + _backoff(min(self.interval_s, 0.5), self._redis_failures,
                                                               _REDIS_BACKOFF_MAX_S)
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


__all__ = ["Poller", "PollerStats", "parse_shard", "run_poller", "shard_of"]
