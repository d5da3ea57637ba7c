"""One Modbus endpoint ``(transport, host, port)`` of the poller (:mod:`datasources.modbus.poller`): a lazily
connected pymodbus client shared by every device (unit id) behind it, and the errors a request can end with.

Logging: the poller's logger ``datasources.modbus.poller``. pymodbus logs every timeout and skipped frame itself with
hex dumps (logger ``pymodbus.logging``); :func:`quiet_pymodbus` sets that logger to CRITICAL, because the causes are in
each device's ``error``, unless ``CC_MODBUS_DEBUG=1``.

Connections
    One pymodbus client per endpoint ``DeviceSpec.endpoint = (transport, host, port)``, shared by every device (unit
    id, pymodbus 3.16 kwarg ``device_id=``) behind it. Transports: ``tcp`` (:class:`AsyncModbusTcpClient`),
    ``rtu_over_tcp`` (the same with ``framer=FramerType.RTU``: serial-to-Ethernet converters in transparent mode),
    ``rtu`` (:class:`AsyncModbusSerialClient` on the port path ``host`` with the device's baudrate/parity/stopbits/
    bytesize). pymodbus serialises transactions on one client, and a gateway serves one transaction at a time
    anyway; the poller's per-endpoint lock is taken for ONE request (send → reply or timeout), never across a
    device read or its retries: the stations behind a gateway interleave their requests, and a unit that timed out
    queues behind them again before its next attempt. Since pymodbus's timeout is per client, the lock holder sets
    it to its device's ``timeout_s`` for its request. Connections are opened lazily; after a failed connect the
    endpoint is not retried before an exponential backoff (``backoff_base_s`` doubling, capped at ``backoff_max_s``)
    and devices behind it fail fast meanwhile. pymodbus's own background reconnect is disabled
    (``reconnect_delay=0``): the poller decides when to reconnect.

Reads
    Each device is read with the fewest block reads its profile allows (:func:`datasources.modbus.codec.plan_blocks`),
    decoded with :func:`~datasources.modbus.codec.decode_block`. Each request has ``timeout_s`` and is retried
    ``retries`` times after a timeout or a lost connection (not after an exception response, which is deterministic).
    A device read stops at its first failed block. Failures carry a clear ``error`` string:

    ==========================================  ================================================================
    cause                                        ``error`` starts with
    ==========================================  ================================================================
    nothing listening / host unreachable        ``connect to <host>:<port> failed``
    endpoint in reconnect backoff               ``not connected to <host>:<port>``
    no reply within ``timeout_s``               ``no response``
    a reply of another unit id (dropped)         ``reply from unit <n>, expected unit <m>``
    a reply of another transaction id (TCP)      ``reply with transaction id <n>, expected transaction id <m>``
    bytes that are not a Modbus TCP frame       ``malformed reply``
    connection closed during the request        ``connection lost``
    Modbus exception response                   ``exception response <code> (<NAME>)``
    reply of another function code              ``unexpected reply``
    reply shorter than the block / bad words    ``decode error``
    ==========================================  ================================================================

    After a malformed reply the connection is closed, so the next request starts on a clean byte stream. pymodbus
    silently skips frames of another unit or transaction id and then times out; the poller looks at the bytes it
    received (``trace_packet``) and names the culprit instead of a bare ``no response``.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from datasources.modbus.codec import Block
from datasources.sql.fleet_spec import DeviceSpec

log = logging.getLogger("datasources.modbus.poller")  # the poller's log: one logger for the whole poll path

#: Modbus function code of the read request for each register type
_FUNCTION_CODES = {"coil": 1, "discrete_input": 2, "holding": 3, "input": 4}
_READ_METHODS = {"coil": "read_coils", "discrete_input": "read_discrete_inputs",
                 "holding": "read_holding_registers", "input": "read_input_registers"}
#: cap of the retry backoff of the poller's Redis writes and of its write service, s
REDIS_BACKOFF_MAX_S = 2.0
#: set to 1 to keep pymodbus's own log (frame dumps of every timeout) at its default level
MODBUS_DEBUG_ENV = "CC_MODBUS_DEBUG"


def quiet_pymodbus() -> None:
    """pymodbus logs every timeout and skipped frame with hex dumps at ERROR/WARNING (logger ``pymodbus.logging``);
    the poller reports those causes itself in each device's ``error``. Raise that logger to CRITICAL unless
    ``CC_MODBUS_DEBUG=1``."""
    from datasources.settings import get_settings  # noqa: PLC0415

    if not get_settings().modbus_debug:
        logging.getLogger("pymodbus.logging").setLevel(logging.CRITICAL)


def backoff(base_s: float, k: int, cap_s: float) -> float:
    """``base_s * 2**k`` capped at ``cap_s`` (k >= 0)."""
    return min(cap_s, base_s * (2 ** min(k, 30)))


class ReadError(Exception):
    """A device read failed; ``str()`` is the ``error`` reported on the bus; ``timed_out``: no reply at all."""

    def __init__(self, message: str, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


# --------------------------------------------------------------------------------------------------------- endpoint
class Endpoint:
    """One Modbus endpoint ``(transport, host, port)``: a lazily connected pymodbus client shared by its devices.

    ``lock`` is held for ONE transaction (request + reply or timeout), never across a device read or its retries, so
    the requests of the stations behind a gateway interleave and a unit that timed out queues behind them again.
    ``stats`` is the poller's :class:`datasources.modbus.poller.PollerStats` (``requests`` is counted here).
    """

    def __init__(self, dev: DeviceSpec, timeout_s: float, backoff_base_s: float, backoff_max_s: float,
                 stats: Any) -> None:
        self.key = dev.endpoint
        self.transport, self.host, self.port = dev.endpoint
        self.name = dev.host if dev.transport == "rtu" else f"{dev.host}:{dev.port}"
        self.timeout_s = timeout_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.stats = stats
        self.lock = asyncio.Lock()
        self.connect_failures = 0
        self.next_connect_at = 0.0
        self.last_connect_error = ""
        self._inflight = False
        self._rx = b""
        self._tx = b""
        common = dict(timeout=timeout_s, retries=0, reconnect_delay=0, name=self.name,
                      trace_packet=self._trace_packet, trace_connect=self._trace_connect)
        if dev.transport == "tcp":
            self.client = AsyncModbusTcpClient(dev.host, port=dev.port, **common)
        elif dev.transport == "rtu_over_tcp":
            self.client = AsyncModbusTcpClient(dev.host, port=dev.port, framer=FramerType.RTU, **common)
        elif dev.transport == "rtu":
            self.client = AsyncModbusSerialClient(dev.host, framer=FramerType.RTU, baudrate=dev.baudrate,
                                                  parity=dev.parity, stopbits=dev.stopbits, bytesize=dev.bytesize,
                                                  **common)
        else:
            raise ValueError(f"device {dev.device_id}: transport {dev.transport!r} is not one of "
                             "tcp, rtu_over_tcp, rtu")

    # pymodbus hooks ------------------------------------------------------------------------------------------------
    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if sending:
            self._tx = bytes(data)
        else:
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
        """Connect if needed, honouring the reconnect backoff. Raises ReadError on failure or during backoff."""
        if self.client.connected:
            return
        now = time.monotonic()
        if now < self.next_connect_at:
            raise ReadError(f"not connected to {self.name} ({self.last_connect_error}); "
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
        self.next_connect_at = time.monotonic() + backoff(self.backoff_base_s, self.connect_failures,
                                                           self.backoff_max_s)
        self.connect_failures += 1
        if self.connect_failures == 1:
            log.warning("%s; retrying with backoff", err)
        raise ReadError(err)

    def drop(self) -> None:
        """Close the socket (next request reconnects at once, no backoff)."""
        self.client.close()

    def close(self) -> None:
        self.client.close()

    # frames seen on the wire ---------------------------------------------------------------------------------------
    def _misaddressed(self, unit_id: int) -> str:
        """Why bytes were received but no reply matched: ``"reply from unit 7, expected unit 3"`` (pymodbus drops a
        frame of another unit id or transaction id silently and then times out), or "" when that is not the case."""
        rx, tx = self._rx, self._tx
        if self.transport == "tcp":
            if len(rx) < 8 or rx[2:4] != b"\x00\x00":
                return ""
            if rx[6] != unit_id:
                return f"reply from unit {rx[6]}, expected unit {unit_id}"
            if len(tx) >= 2 and rx[0:2] != tx[0:2]:
                return (f"reply with transaction id {int.from_bytes(rx[0:2], 'big')}, expected transaction id "
                        f"{int.from_bytes(tx[0:2], 'big')}")
            return ""
        if len(rx) >= 4 and rx[0] != unit_id:  # RTU: address byte first
            return f"reply from unit {rx[0]}, expected unit {unit_id}"
        return ""

    # requests ------------------------------------------------------------------------------------------------------
    async def transact(self, call: Callable[[], Awaitable[Any]], what: str, unit_id: int, timeout_s: float,
                       retries: int) -> Any:
        """Run one Modbus request (``call()``) with ``retries`` extra attempts after a timeout or lost connection.

        Each attempt takes :attr:`lock` for its own transaction only. Returns the pymodbus reply (not an error reply:
        an exception response raises).

        Raises:
            ReadError: connect failure/backoff, timeout (``no response``, or ``reply from unit X, expected unit Y`` /
                ``reply with transaction id …`` when mis-addressed frames arrived), lost connection, malformed or
                exception reply. ``ReadError.timed_out`` tells a pure timeout.
        """
        error = ""
        timed_out = False
        for _attempt in range(retries + 1):
            async with self.lock:
                await self._ensure_connected()
                self._rx = b""
                self._inflight = True
                self.stats.requests += 1
                self.client.ctx.comm_params.timeout_connect = timeout_s
                try:
                    reply = await call()
                except ConnectionException as exc:
                    timed_out = False
                    error = f"connection lost to {self.name} reading {what} ({exc})"
                    if self._rx:  # pymodbus drops the connection when a frame does not decode
                        error = (f"malformed reply from {self.name} to {what}: {len(self._rx)} bytes that do not "
                                 f"decode: {hex_dump(self._rx)} (connection reset)")
                        self.drop()
                    continue
                except ModbusIOException as exc:
                    text = str(exc)
                    wrong = self._misaddressed(unit_id) if self._rx else ""
                    if "device id=" in text and "received" in text:  # pymodbus noticed it itself
                        wrong = wrong or "reply from another unit"
                    timed_out = False
                    if wrong:
                        error = f"{wrong} from {self.name} to {what} (no valid reply within {timeout_s:g} s)"
                    elif self._rx:
                        error = (f"malformed reply from {self.name} to {what}: {len(self._rx)} bytes "
                                 f"that are not a valid Modbus {'TCP' if self.transport == 'tcp' else 'RTU'} "
                                 f"reply: {hex_dump(self._rx)}")
                        self.drop()
                    else:
                        timed_out = True
                        error = f"no response from {self.name} to {what} within {timeout_s:g} s"
                        if "CLOSING CONNECTION" in text:
                            error += " (pymodbus closed the connection)"
                    continue
                except ModbusException as exc:
                    timed_out = False
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
                raise ReadError(f"exception response {code} ({name}) from {self.name} to {what}")
            return reply
        raise ReadError(error, timed_out=timed_out)

    async def read(self, block: Block, unit_id: int, timeout_s: float | None = None,
                   retries: int = 1) -> list[int] | list[bool]:
        """Raw words (registers) or bits of one block from ``unit_id`` (see :meth:`transact` for errors)."""
        method = getattr(self.client, _READ_METHODS[block.register_type])
        expected_fc = _FUNCTION_CODES[block.register_type]
        what = f"{block.register_type} {block.start}+{block.count} of unit {unit_id}"
        reply = await self.transact(lambda: method(block.start, count=block.count, device_id=unit_id), what,
                                    unit_id, timeout_s or self.timeout_s, retries)
        if reply.function_code != expected_fc:
            self.drop()
            raise ReadError(f"unexpected reply from {self.name} to {what}: function code "
                             f"{reply.function_code}, expected {expected_fc}")
        if block.register_type in ("coil", "discrete_input"):
            data = reply.bits  # whole bytes: up to 7 padding bits
            if not block.count <= len(data) < block.count + 8:
                raise ReadError(f"decode error from {self.name}: {what}: reply has {len(data)} bits")
            return data
        if len(reply.registers) != block.count:
            raise ReadError(f"decode error from {self.name}: {what}: reply has {len(reply.registers)} "
                             f"registers, expected {block.count}")
        return reply.registers


def hex_dump(data: bytes, limit: int = 24) -> str:
    text = data[:limit].hex(" ")
    return text + (" …" if len(data) > limit else "")
