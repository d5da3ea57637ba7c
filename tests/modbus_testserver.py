"""Modbus TCP servers for tests and benchmarks (no dependency on ``datasources.sim.simulator``).

* :func:`sim_device` turns a :class:`~datasources.modbus.profiles.DeviceProfile` plus engineering values (or raw words) into a
  pymodbus 3.16 :class:`~pymodbus.simulator.SimDevice` with the four register types kept apart (non-shared blocks), so a
  profile's ``coil 0`` and ``holding 0`` are different cells, as on a real controller. Addresses the profile does not
  declare answer ``ILLEGAL_ADDRESS`` (exception code 2).
* :func:`start_modbus_server` serves a list of SimDevices (one per unit id) on a loopback port with pymodbus's own
  :class:`~pymodbus.server.ModbusTcpServer` (the SimDevice API, not the deprecated ModbusServerContext).
* :class:`RawTcpServer` is a plain asyncio server whose reply to each request is chosen by a function: silence
  (timeouts), garbage, truncated frames, wrong function code… — the faults a real field bus produces.
"""
from __future__ import annotations

import asyncio
from typing import Callable

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from datasources.modbus.codec import encode
from datasources.modbus.profiles import DeviceProfile

#: a cell far from any profile address, used when a register type would otherwise be empty (pymodbus needs one)
_PLACEHOLDER_ADDRESS = 60000


def profile_words(profile: DeviceProfile, values: dict | None = None, raw: dict | None = None) -> dict[str, dict[int, list]]:
    """Raw cells of a profile: ``{register_type: {address: [word, …] or [bool]}}``.

    ``raw[name]`` (words or ``[bool]``) wins over ``values[name]`` (engineering value, encoded with the profile's
    scale/offset/word order); registers named in neither are 0 / False.
    """
    values = values or {}
    raw = raw or {}
    cells: dict[str, dict[int, list]] = {"coil": {}, "discrete_input": {}, "holding": {}, "input": {}}
    for spec in profile.registers:
        if spec.name in raw:
            words = list(raw[spec.name])
        else:
            words = list(encode(spec, values.get(spec.name, 0)))
        cells[spec.register_type][spec.address] = words
    return cells


def sim_device(profile: DeviceProfile, unit_id: int, values: dict | None = None, raw: dict | None = None) -> SimDevice:
    """A pymodbus SimDevice serving ``profile`` at ``unit_id`` (1..247) with the given values (see :func:`profile_words`)."""
    cells = profile_words(profile, values, raw)
    blocks: list[list[SimData]] = []
    for rtype in ("coil", "discrete_input", "holding", "input"):
        entries: list[SimData] = []
        for address, words in sorted(cells[rtype].items()):
            if rtype in ("coil", "discrete_input"):
                entries.append(SimData(address, values=[bool(w) for w in words], datatype=DataType.BITS))
            else:
                entries.append(SimData(address, values=[int(w) for w in words], datatype=DataType.REGISTERS))
        if not entries:
            dt = DataType.BITS if rtype in ("coil", "discrete_input") else DataType.REGISTERS
            entries.append(SimData(_PLACEHOLDER_ADDRESS, values=[False] if dt == DataType.BITS else [0], datatype=dt))
        blocks.append(entries)
    return SimDevice(id=unit_id, simdata=(blocks[0], blocks[1], blocks[2], blocks[3]))


async def start_modbus_server(devices: list[SimDevice], port: int = 0, host: str = "127.0.0.1") -> ModbusTcpServer:
    """Start a pymodbus TCP server in the running loop; ``server_port(server)`` tells the bound port.

    Stop it with ``await server.shutdown()`` (also closes client connections).
    """
    server = ModbusTcpServer(devices, address=(host, port))
    await server.serve_forever(background=True)
    return server


def server_port(server: ModbusTcpServer) -> int:
    """The TCP port a server started by :func:`start_modbus_server` listens on."""
    return server.transport.sockets[0].getsockname()[1]  # type: ignore[union-attr]


class RawTcpServer:
    """An asyncio TCP server speaking just enough Modbus TCP framing to misbehave on purpose.

    ``reply(request: bytes) -> bytes | None`` gets each 12-byte read request (MBAP + PDU) and returns the bytes to send
    back, ``None`` for silence. ``port`` is known after :meth:`start`; :meth:`stop` also closes accepted connections.
    """

    def __init__(self, reply: Callable[[bytes], bytes | None], port: int = 0, host: str = "127.0.0.1") -> None:
        self.reply = reply
        self.host = host
        self.port = port
        self.requests = 0
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> "RawTcpServer":
        self._server = await asyncio.start_server(self._handle, self.host, self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                header = await reader.readexactly(6)
                length = int.from_bytes(header[4:6], "big")
                body = await reader.readexactly(length)
                self.requests += 1
                answer = self.reply(header + body)
                if answer:
                    writer.write(answer)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for w in list(self._writers):
                w.close()
            await self._server.wait_closed()
            self._server = None


def mbap(request: bytes, pdu: bytes, unit: int | None = None) -> bytes:
    """A Modbus TCP frame answering ``request`` (same transaction id and unit unless ``unit`` is given)."""
    uid = request[6] if unit is None else unit
    return request[0:2] + b"\x00\x00" + (len(pdu) + 1).to_bytes(2, "big") + bytes([uid]) + pdu


# ------------------------------------------------------------------------------------------- raw Modbus server
def crc16(data: bytes) -> bytes:
    """Modbus RTU CRC-16 (polynomial 0xA001 reflected, init 0xFFFF), low byte first as on the wire
    (Modbus over Serial Line V1.02 §6.2.2)."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc.to_bytes(2, "little")


#: how a unit of :class:`RawModbusServer` answers
UNIT_MODES = ("normal", "exception", "dead", "wrong_unit", "wrong_tid", "malformed")


class RawUnit:
    """One unit id of a :class:`RawModbusServer`: four register maps ``{address: word}`` / ``{address: bool}`` and a
    ``mode`` (:data:`UNIT_MODES`); ``exception_code`` is sent in mode ``exception``. Unknown addresses answer
    exception 2 (ILLEGAL_ADDRESS). ``requests`` counts the requests addressed to it."""

    def __init__(self, holding: dict | None = None, input: dict | None = None, coil: dict | None = None,  # noqa: A002
                 discrete_input: dict | None = None, mode: str = "normal", exception_code: int = 4) -> None:
        self.maps: dict[int, dict[int, int]] = {1: dict(coil or {}), 2: dict(discrete_input or {}),
                                                3: dict(holding or {}), 4: dict(input or {})}
        self.mode = mode
        self.exception_code = exception_code
        self.requests = 0
        self.writes: list[tuple[int, int, list]] = []  # (function, address, values)

    def set_words(self, register_type: str, address: int, words: list) -> None:
        fc = {"coil": 1, "discrete_input": 2, "holding": 3, "input": 4}[register_type]
        for k, w in enumerate(words):
            self.maps[fc][address + k] = w


class RawModbusServer:
    """A Modbus server written on plain asyncio sockets (no pymodbus): TCP (MBAP) or RTU frames over TCP.

    ``units``: ``{unit_id: RawUnit}`` (a gateway: one host:port, many units). Functions 1–4 (reads), 5, 6, 15, 16
    (writes). Like a serial gateway it handles one request at a time per connection. Per unit :attr:`RawUnit.mode`:
    ``normal``; ``exception`` (exception response ``exception_code``); ``dead`` (never answers); ``wrong_unit``
    (answers with unit id + 100 mod 248); ``wrong_tid`` (TCP: transaction id + 1000); ``malformed`` (a frame whose
    byte count disagrees with its length). ``framing``: ``"tcp"`` or ``"rtu"``.
    """

    def __init__(self, units: dict[int, RawUnit], framing: str = "tcp", port: int = 0,
                 host: str = "127.0.0.1") -> None:
        if framing not in ("tcp", "rtu"):
            raise ValueError(f"framing {framing!r} is not tcp or rtu")
        self.units = units
        self.framing = framing
        self.host, self.port = host, port
        self.requests = 0
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> "RawModbusServer":
        self._server = await asyncio.start_server(self._handle, self.host, self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for w in list(self._writers):
                w.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> "RawModbusServer":
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # framing ---------------------------------------------------------------------------------------------------
    async def _read_rtu(self, reader: asyncio.StreamReader) -> tuple[int, bytes]:
        head = await reader.readexactly(2)
        fc = head[1]
        if fc in (15, 16):
            rest = await reader.readexactly(5)
            rest += await reader.readexactly(rest[4] + 2)
        else:
            rest = await reader.readexactly(6)
        frame = head + rest
        if crc16(frame[:-2]) != frame[-2:]:
            raise ConnectionError("bad CRC")
        return frame[0], frame[1:-2]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                if self.framing == "tcp":
                    header = await reader.readexactly(7)
                    body = await reader.readexactly(int.from_bytes(header[4:6], "big") - 1)
                    unit_id, tid = header[6], int.from_bytes(header[0:2], "big")
                else:
                    unit_id, body = await self._read_rtu(reader)
                    tid = 0
                self.requests += 1
                answer = self._answer(unit_id, tid, body)
                if answer:
                    writer.write(answer)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def _frame(self, unit_id: int, tid: int, pdu: bytes) -> bytes:
        if self.framing == "tcp":
            return tid.to_bytes(2, "big") + b"\x00\x00" + (len(pdu) + 1).to_bytes(2, "big") + bytes([unit_id]) + pdu
        adu = bytes([unit_id]) + pdu
        return adu + crc16(adu)

    # PDU -------------------------------------------------------------------------------------------------------
    def _answer(self, unit_id: int, tid: int, pdu: bytes) -> bytes | None:
        unit = self.units.get(unit_id)
        if unit is None:
            return None  # a gateway with no such unit: silence (many answer exception 11 instead)
        unit.requests += 1
        fc = pdu[0]
        if unit.mode == "dead":
            return None
        if unit.mode == "exception":
            return self._frame(unit_id, tid, bytes([fc | 0x80, unit.exception_code]))
        reply = self._pdu(unit, pdu)
        if unit.mode == "wrong_unit":
            return self._frame((unit_id + 100) % 248 or 1, tid, reply)
        if unit.mode == "wrong_tid":
            return self._frame(unit_id, (tid + 1000) % 65536, reply)
        if unit.mode == "malformed" and fc in (3, 4):
            bad = bytes([fc, 200]) + reply[2:]  # byte count claims 200 bytes
            return self._frame(unit_id, tid, bad)
        return self._frame(unit_id, tid, reply)

    def _pdu(self, unit: RawUnit, pdu: bytes) -> bytes:
        fc = pdu[0]
        if fc in (1, 2, 3, 4):
            start, count = int.from_bytes(pdu[1:3], "big"), int.from_bytes(pdu[3:5], "big")
            cells = unit.maps[fc]
            if any(a not in cells for a in range(start, start + count)):
                return bytes([fc | 0x80, 2])
            if fc in (1, 2):
                data = bytearray((count + 7) // 8)
                for k in range(count):
                    if cells[start + k]:
                        data[k // 8] |= 1 << (k % 8)
                return bytes([fc, len(data)]) + bytes(data)
            return bytes([fc, 2 * count]) + b"".join(int(cells[start + k]).to_bytes(2, "big") for k in range(count))
        if fc in (5, 6):
            address, value = int.from_bytes(pdu[1:3], "big"), int.from_bytes(pdu[3:5], "big")
            cells = unit.maps[1 if fc == 5 else 3]
            if address not in cells:
                return bytes([fc | 0x80, 2])
            cells[address] = (value == 0xFF00) if fc == 5 else value
            unit.writes.append((fc, address, [cells[address]]))
            return pdu[:5]
        if fc in (15, 16):
            address, count = int.from_bytes(pdu[1:3], "big"), int.from_bytes(pdu[3:5], "big")
            cells = unit.maps[1 if fc == 15 else 3]
            if any(a not in cells for a in range(address, address + count)):
                return bytes([fc | 0x80, 2])
            data = pdu[6:]
            if fc == 16:
                vals = [int.from_bytes(data[2 * k:2 * k + 2], "big") for k in range(count)]
            else:
                vals = [bool(data[k // 8] >> (k % 8) & 1) for k in range(count)]
            for k, v in enumerate(vals):
                cells[address + k] = v
            unit.writes.append((fc, address, vals))
            return pdu[:5]
        return bytes([fc | 0x80, 1])
