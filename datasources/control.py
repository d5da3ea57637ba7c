"""Remote control of compressors over Modbus TCP: start / stop / load / unload (seed 001 table 1 远程控制).

The decision whether a command may be sent at all is :func:`ops.control_policy.decide_command` (duty officer only,
confirmed, nobody in the station room, a compressor that is online and not in fault) — made by the web layer
(``dashboard.auth.control_decision``) from the bus's current state (:func:`bus_state`). This module does the I/O:

1. :func:`bus_state` — what the command centre currently believes: the target's ``cc:latest`` (online, ``run_state``)
   and the station I/O's ``occupancy`` input (``None`` = unknown: no station I/O, offline, or older than
   ``stale_after_s``).
2. :func:`execute` — on the wire, in this order:

   a. re-read the station I/O's ``occupancy`` discrete input **over Modbus** just before writing: someone may have
      walked in since the last poll (seed 001 table 7 "站房有人禁止远程操作"). On, unreadable or no station I/O →
      nothing is written (``phase = "occupancy"``).
   b. read ``run_state`` (before), write the command's coils (``run_command`` 1 start / 0 stop, ``load_enable``
      1 load / 0 forced unload; addresses from the device's profile), read the coils back;
   c. read ``run_state`` until it reaches the command's expected states (:data:`EXPECTED_RUN_STATES`) or the
      readback deadline passes (default :data:`READBACK_S`; the controller acts on its next scan).

Device host / port / unit id come from SQL (``devices``), register addresses from the profiles
(``datasources/profiles``). The pymodbus synchronous client is used (one short-lived connection per endpoint per
command), so this runs in a web request thread.

``run_state`` codes (profiles): 0 stop, 1 unload, 2 load, 3 fault. A ``start`` puts the machine in automatic mode: a
fixed-speed unit whose network pressure is above its load pressure stays in standby (0) until pressure falls, so
``start`` is confirmed by the ``run_command`` coil and ``reached`` tells whether it is already running.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from datasources.bus import latest_key, now_ms, parse_latest
from datasources.fleet_spec import DeviceSpec
from datasources.models import Device
from datasources.modbus_codec import DecodeError, decode
from datasources.profiles import DeviceProfile, default_profiles

log = logging.getLogger(__name__)

#: command → run_state values that show the command took effect (profiles: 0 stop, 1 unload, 2 load, 3 fault)
EXPECTED_RUN_STATES: dict[str, frozenset[int]] = {
    "start": frozenset({1, 2}), "stop": frozenset({0}), "load": frozenset({2}), "unload": frozenset({0, 1}),
}
#: seconds to wait for ``run_state`` to follow a command (engineering default: a controller scans within ~1 s and the
#: simulator ticks every 1 s; 5 s covers two missed scans)
READBACK_S = 5.0
#: Modbus request timeout, seconds
TIMEOUT_S = 1.0
#: ``cc:latest`` of the station I/O older than this → occupancy unknown (refused), seconds
STALE_AFTER_S = 30.0

__all__ = ["BusState", "ControlError", "ControlResult", "EXPECTED_RUN_STATES", "READBACK_S", "bus_state",
           "execute", "load_target"]


class ControlError(LookupError):
    """Unknown device, not a compressor, or a station without the needed device; nothing was written."""


@dataclass(frozen=True)
class BusState:
    """What the bus says now: target ``online`` and ``run_state``; station ``occupancy`` (``None`` = unknown) and
    the station I/O's ``io_device_id`` (``None`` when the station has none)."""

    online: bool
    run_state: int | None
    occupancy: bool | None
    io_device_id: str | None


@dataclass
class ControlResult:
    """Outcome of :func:`execute`.

    Attributes:
        ok: the coils were written and read back with the written values.
        phase: where it ended: ``occupancy`` (refused before writing), ``connect``, ``write``, ``readback``, ``done``.
        reasons: why it was refused / failed (empty when ok).
        occupancy: the occupancy input read over Modbus just before writing (``None`` if not read).
        written: ``[[name, value]]`` coils written. coils: coil values read back after the write.
        run_state_before / run_state_after: ``run_state`` read before the write and at the end.
        reached: ``run_state_after`` is one of the command's expected states.
        elapsed_ms: from the occupancy read to the end.
    """

    ok: bool
    command: str
    device_id: str
    phase: str
    reasons: list[str] = field(default_factory=list)
    occupancy: bool | None = None
    written: list[list[Any]] = field(default_factory=list)
    coils: dict[str, int] = field(default_factory=dict)
    run_state_before: int | None = None
    run_state_after: int | None = None
    reached: bool = False
    elapsed_ms: int = 0
    ts_ms: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _spec(row: Device) -> DeviceSpec:
    return DeviceSpec(device_id=row.device_id, station_id=row.station_id, kind=row.kind, model=row.model,
                      host=row.host, port=row.port, unit_id=row.unit_id)


def load_target(engine: Engine, device_id: str) -> tuple[DeviceSpec, DeviceSpec | None]:
    """The compressor ``device_id`` and its station's station I/O device (``None`` if the station has none).

    Raises:
        ControlError: unknown device or not a compressor.
    """
    with Session(engine) as s:
        row = s.get(Device, device_id)
        if row is None:
            raise ControlError(f"device {device_id!r} does not exist")
        if row.kind != "compressor":
            raise ControlError(f"device {device_id} is a {row.kind}, not a compressor")
        io = s.scalars(select(Device).where(Device.station_id == row.station_id, Device.kind == "station_io")
                       .order_by(Device.device_id)).first()
        return _spec(row), (_spec(io) if io is not None else None)


def bus_state(redis_client, device_id: str, io_device_id: str | None, *,
              stale_after_s: float = STALE_AFTER_S, now: int | None = None) -> BusState:
    """Current state from ``cc:latest``: the target's online flag and ``run_state``, the station's occupancy.

    Occupancy is ``None`` (unknown → the policy refuses) when there is no station I/O, its hash is missing, it is
    offline, it has no ``occupancy`` value, or its reading is older than ``stale_after_s``.

    Raises:
        redis.exceptions.RedisError: Redis down.
    """
    now = now_ms() if now is None else now
    pipe = redis_client.pipeline(transaction=False)
    pipe.hgetall(latest_key(device_id))
    if io_device_id:
        pipe.hgetall(latest_key(io_device_id))
    raw = pipe.execute()
    target = parse_latest(raw[0]) if raw[0] else {"values": {}}
    run_state = target["values"].get("run_state")
    occupancy: bool | None = None
    if io_device_id and len(raw) > 1 and raw[1]:
        io = parse_latest(raw[1])
        fresh = io.get("ts_ms") is not None and now - int(io["ts_ms"]) <= stale_after_s * 1000
        if io.get("online") and fresh and "occupancy" in io["values"]:
            occupancy = bool(int(io["values"]["occupancy"]))
    return BusState(online=bool(target.get("online", False)),
                    run_state=int(run_state) if run_state is not None else None,
                    occupancy=occupancy, io_device_id=io_device_id)


class _Link:
    """One synchronous Modbus TCP connection per (host, port), opened on first use."""

    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s
        self._clients: dict[tuple[str, int], ModbusTcpClient] = {}

    def client(self, dev: DeviceSpec) -> ModbusTcpClient:
        key = (dev.host, dev.port)
        c = self._clients.get(key)
        if c is None:
            c = ModbusTcpClient(dev.host, port=dev.port, timeout=self.timeout_s, retries=1)
            if not c.connect():
                raise ConnectionError(f"cannot connect to {dev.host}:{dev.port}")
            self._clients[key] = c
        return c

    def read(self, dev: DeviceSpec, profile: DeviceProfile, name: str) -> int | float:
        spec = profile.register(name)
        c = self.client(dev)
        method = {"coil": c.read_coils, "discrete_input": c.read_discrete_inputs,
                  "holding": c.read_holding_registers, "input": c.read_input_registers}[spec.register_type]
        resp = method(spec.address, count=spec.count, device_id=dev.unit_id)
        if resp.isError():
            raise ModbusException(f"{dev.device_id}.{name}: {resp}")
        raw = resp.bits[:1] if spec.is_bit else resp.registers[:spec.count]
        return decode(spec, raw)

    def write_coil(self, dev: DeviceSpec, profile: DeviceProfile, name: str, value: int) -> None:
        spec = profile.register(name)
        if spec.register_type != "coil" or not spec.writable:
            raise ControlError(f"{dev.model}: {name} is not a writable coil")
        resp = self.client(dev).write_coil(spec.address, bool(value), device_id=dev.unit_id)
        if resp.isError():
            raise ModbusException(f"write {dev.device_id}.{name}={value}: {resp}")

    def close(self) -> None:
        for c in self._clients.values():
            try:
                c.close()
            except Exception:  # noqa: BLE001 — closing anyway
                pass
        self._clients.clear()


def execute(target: DeviceSpec, io: DeviceSpec | None, command: str, writes: tuple[tuple[str, int], ...] | list,
            *, profiles: dict[str, DeviceProfile] | None = None, readback_s: float = READBACK_S,
            timeout_s: float = TIMEOUT_S, poll_s: float = 0.1) -> ControlResult:
    """Write a command's coils to ``target`` after re-reading the station's occupancy over Modbus; read back.

    Args:
        target: the compressor (host/port/unit from SQL). io: the station I/O device, or ``None`` (→ refused).
        command: ``start`` | ``stop`` | ``load`` | ``unload`` (for :data:`EXPECTED_RUN_STATES`).
        writes: ``((coil name, value), …)`` from :class:`ops.control_policy.ControlDecision` ``writes``.
        readback_s: how long to wait for ``run_state`` to reach the expected states, seconds.
        poll_s: interval between ``run_state`` reads while waiting, seconds (device polling, not a test sleep).
    Returns:
        a :class:`ControlResult` (never raises for device errors: they end in ``ok = False`` with reasons).
    Raises:
        ValueError: unknown command or no writes.
    """
    if command not in EXPECTED_RUN_STATES:
        raise ValueError(f"unknown command {command!r}")
    if not writes:
        raise ValueError("no coil writes given")
    profiles = profiles or default_profiles()
    t0 = time.monotonic()
    res = ControlResult(ok=False, command=command, device_id=target.device_id, phase="occupancy", ts_ms=now_ms())

    def done(phase: str, reason: str | None = None) -> ControlResult:
        res.phase = phase
        if reason:
            res.reasons.append(reason)
        res.elapsed_ms = int((time.monotonic() - t0) * 1000)
        return res

    link = _Link(timeout_s)
    try:
        # a. occupancy, fresh from the device, just before writing
        if io is None:
            return done("occupancy", "station has no station I/O: occupancy unknown, remote operation refused")
        try:
            occ = bool(int(link.read(io, profiles[io.model], "occupancy")))
        except (ConnectionError, ModbusException, DecodeError, KeyError, OSError) as exc:
            return done("occupancy", f"occupancy input unreadable ({exc}): remote operation refused")
        res.occupancy = occ
        if occ:
            return done("occupancy", "someone is in the station room (站房有人禁止远程操作)")
        # b. write and read back the coils
        prof = profiles[target.model]
        try:
            res.run_state_before = int(link.read(target, prof, "run_state"))
        except (ConnectionError, ModbusException, DecodeError, OSError) as exc:
            return done("connect", f"device unreachable: {exc}")
        try:
            for name, value in writes:
                link.write_coil(target, prof, name, int(value))
                res.written.append([name, int(value)])
            for name, _value in writes:
                res.coils[name] = int(link.read(target, prof, name))
        except (ConnectionError, ModbusException, DecodeError, OSError) as exc:
            return done("write", f"write failed: {exc}")
        if any(res.coils.get(n) != int(v) for n, v in writes):
            return done("write", f"coils read back {res.coils}, not {dict(writes)}")
        res.ok = True
        # c. run_state follows within the deadline
        expected = EXPECTED_RUN_STATES[command]
        deadline = time.monotonic() + readback_s
        while True:
            try:
                res.run_state_after = int(link.read(target, prof, "run_state"))
            except (ConnectionError, ModbusException, DecodeError, OSError) as exc:
                res.reasons.append(f"run_state unreadable after the write: {exc}")
                return done("readback")
            if res.run_state_after in expected:
                res.reached = True
                break
            if time.monotonic() >= deadline:
                break
            time.sleep(poll_s)
        return done("done")
    finally:
        link.close()
        log.info("control %s %s: ok=%s phase=%s run_state %s→%s reasons=%s", command, target.device_id, res.ok,
                 res.phase, res.run_state_before, res.run_state_after, res.reasons)
