"""Modbus TCP servers for tests and benchmarks (no dependency on ``datasources.simulator``).

* :func:`sim_device` turns a :class:`~datasources.profiles.DeviceProfile` plus engineering values (or raw words) into a
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

from datasources.modbus_codec import encode
from datasources.profiles import DeviceProfile

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
