"""Remote control of compressors — start / stop / load / unload (seed 001 table 1 远程控制) — and set-point writes
(writable holding registers, e.g. load / unload / target pressure), over the poller's connection.

The decision whether a write may be sent at all is :mod:`ops.control_policy` (duty officer only, confirmed, nobody in
the station room, target online; commands also: a compressor not in fault) — made by the web layer
(:mod:`dashboard.web.operations`) from the bus's current state (:func:`bus_state`). This module does the I/O:

1. Registers are found by **role**, not by name (:func:`register_by_role`: :meth:`DeviceProfile.by_role`, falling
   back to the register named like the role): ``run_command`` (start/stop coil), ``load_enable`` (load/forced-unload
   coil), ``run_state`` (read back), ``occupancy`` (station I/O). A profile lacking a role a command needs is refused with
   ``phase = "profile"`` ("profile X has no register with role run_command: this device cannot be started
   remotely"); :func:`supported_commands` / :func:`setpoints` tell the site panel what to show. What a profile can
   do (roles, commands, set-point ranges) is :mod:`datasources.modbus.control_profile`.
2. :func:`execute` (commands) and :func:`execute_setpoint` (set-points), on the wire, in this order:

   a. re-read the station I/O's occupancy input just before writing: someone may have walked in since the last
      poll (seed 001 table 7 "站房有人禁止远程操作"). On, unreadable or no station I/O → nothing is written.
   b. read the state before (``run_state`` / the set-point), write, read back in the same request;
   c. commands: read ``run_state`` until it reaches :data:`EXPECTED_RUN_STATES` or the readback deadline passes.

3. The wire path is one small interface, :class:`_Link` (``read`` / ``write``), with two implementations:
   :class:`PollerLink` — the product — sends each step as a request to the poller
   (:func:`datasources.bus.messages.request_write`), which performs it over ITS connection: single-connection gateways and
   PLCs accept one TCP client (the poller), and only the poller knows the device's transport (TCP, RTU over TCP,
   RTU) and per-device timeout/retries. :class:`DirectLink` — own pymodbus TCP connection from the web process — is
   used only with ``CC_CONTROL_DIRECT=1`` on a bench without a poller.

Deadlines: each request is bounded by ``timeout_s`` (:data:`POLLER_TIMEOUT_S`), the whole call by
:func:`deadline_s` (3 requests + the ``run_state`` wait; 14 s for a command, 9 s for a set-point by default). A
device that times out or a poller that does not answer ends the call with ``ok = False`` and a reason ("no answer in
time … did not respond"); the web layer audits it ``failed``.

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
from redis.exceptions import RedisError
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from datasources.bus.messages import latest_key, now_ms, parse_latest
from datasources.sql.fleet_spec import DeviceSpec
from datasources.sql.models import Device
from datasources.sql.repository import device_spec
from datasources.modbus.codec import DecodeError, decode, encode
from datasources.modbus.control_profile import (SetpointError, check_setpoint, refusal_for_missing,
                                                register_by_role)
from datasources.modbus.profiles import DeviceProfile, default_profiles
from datasources.settings import get_settings

log = logging.getLogger(__name__)

#: command → run_state values that show the command took effect (profiles: 0 stop, 1 unload, 2 load, 3 fault)
EXPECTED_RUN_STATES: dict[str, frozenset[int]] = {
    "start": frozenset({1, 2}), "stop": frozenset({0}), "load": frozenset({2}), "unload": frozenset({0, 1}),
}
#: seconds to wait for ``run_state`` to follow a command (engineering default: a controller scans within ~1 s and the
#: simulator ticks every 1 s; 5 s covers two missed scans)
READBACK_S = 5.0
#: Modbus request timeout of the bench path (:class:`DirectLink`), seconds
TIMEOUT_S = 1.0
#: bound of one request through the poller (:class:`PollerLink`), seconds: the poller's own per-request timeout
#: (1 s default) × (1 + retries) plus the wait behind its read of the same endpoint; ``request_write`` waits in
#: whole seconds
POLLER_TIMEOUT_S = 3.0
#: env switch of the bench path (own pymodbus connection, no poller)
DIRECT_ENV = "CC_CONTROL_DIRECT"
#: ``cc:latest`` of the station I/O older than this → occupancy unknown (refused), seconds
STALE_AFTER_S = 30.0

__all__ = ["BusState", "ControlError", "ControlResult", "DirectLink", "EXPECTED_RUN_STATES", "PollerLink",
           "READBACK_S", "SetpointResult", "bus_state", "deadline_s", "execute", "execute_setpoint", "load_target",
           "make_link"]


def deadline_s(timeout_s: float = POLLER_TIMEOUT_S, readback_s: float = READBACK_S) -> float:
    """Longest a command (:func:`execute`) or set-point write (``readback_s = 0``) may take, seconds: occupancy
    read + state read + write-and-read-back (three requests of ``timeout_s``) + the ``run_state`` wait."""
    return 3 * timeout_s + readback_s


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
    return device_spec(row)  # with the transport fields and per-device timeouts


def load_target(engine: Engine, device_id: str, *, kinds: tuple[str, ...] | None = ("compressor",)
                ) -> tuple[DeviceSpec, DeviceSpec | None]:
    """The device ``device_id`` and its station's station I/O device (``None`` if the station has none).

    Args:
        kinds: device kinds accepted (default: compressors, for commands); ``None`` accepts any (set-points).
    Raises:
        ControlError: unknown device or not one of ``kinds``.
    """
    with Session(engine) as s:
        row = s.get(Device, device_id)
        if row is None:
            raise ControlError(f"device {device_id!r} does not exist")
        if kinds is not None and row.kind not in kinds:
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


def _profile_of(profiles: dict[str, DeviceProfile], dev: DeviceSpec) -> DeviceProfile:
    prof = profiles.get(dev.model)
    if prof is None:
        raise ControlError(f"device {dev.device_id}: no profile for model {dev.model!r}")
    return prof


# ------------------------------------------------------------------------------------------------ wire paths
#: errors of a wire step that end a command with ``ok = False`` (never an exception to the web request)
_WIRE_ERRORS = (ConnectionError, ModbusException, DecodeError, OSError, TimeoutError, ValueError, RedisError)


class _Link:
    """The wire path of a command: read registers, write registers (values in engineering units, names of the
    device's profile). Implementations: :class:`PollerLink` (the product) and :class:`DirectLink` (bench only).

    Raises (both methods): TimeoutError (no answer within ``timeout_s``), ValueError (write refused / bad value),
    ConnectionError / OSError / ModbusException / RedisError (transport down).
    """

    def read(self, dev: DeviceSpec, profile: DeviceProfile, names: list[str],
             timeout_s: float | None = None) -> dict[str, Any]:
        raise NotImplementedError

    def write(self, dev: DeviceSpec, profile: DeviceProfile, writes: list[tuple[str, float]], read: list[str],
              timeout_s: float | None = None) -> dict[str, Any]:
        """Write ``writes`` in order, then read ``read``; returns ``{name: value}`` of ``read``."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the connections (no-op for the poller path)."""


class PollerLink(_Link):
    """Through the poller's own connection (:func:`datasources.bus.messages.request_write` on Redis).

    Why: many serial-to-Ethernet gateways and PLCs accept ONE TCP client — the poller's; a second connection from
    the web process is refused or steals the gateway. The poller also knows the device's transport (TCP, RTU over
    TCP, RTU), its per-device timeout and retries, and serialises the write with its reads. ``timeout_s`` bounds
    each request (``request_write`` waits in whole seconds, at least 1).
    """

    def __init__(self, redis_client, timeout_s: float = POLLER_TIMEOUT_S):
        if redis_client is None:
            raise ValueError("PollerLink needs a Redis client (or set CC_CONTROL_DIRECT=1 on a bench)")
        self.redis, self.timeout_s = redis_client, timeout_s

    def _call(self, dev, writes, read, timeout_s):
        from datasources.bus import messages as bus  # noqa: PLC0415 — late: tolerate a bus without request_write at import
        reply = bus.request_write(self.redis, dev.device_id, writes=[{"name": n, "value": v} for n, v in writes],
                                  read=list(read), timeout_s=timeout_s or self.timeout_s)
        values = reply.get("values") or {}
        missing = [n for n in read if n not in values]
        if missing:
            raise ValueError(f"{dev.device_id}: poller read back no value for {missing}")
        return values

    def read(self, dev, profile, names, timeout_s=None):
        return self._call(dev, [], names, timeout_s)

    def write(self, dev, profile, writes, read, timeout_s=None):
        return self._call(dev, writes, read, timeout_s)


class DirectLink(_Link):
    """Own short-lived pymodbus TCP connection per (host, port) from the web process — ONLY for a bench without a
    poller (env ``CC_CONTROL_DIRECT=1``): it fails on single-connection gateways and knows only Modbus TCP."""

    def __init__(self, timeout_s: float = TIMEOUT_S):
        self.timeout_s = timeout_s
        self._clients: dict[tuple[str, int], ModbusTcpClient] = {}

    def client(self, dev: DeviceSpec) -> ModbusTcpClient:
        key = (dev.host, dev.port)
        c = self._clients.get(key)
        if c is None:
            c = ModbusTcpClient(dev.host, port=dev.port, timeout=dev.timeout_s or self.timeout_s, retries=1)
            if not c.connect():
                raise ConnectionError(f"cannot connect to {dev.host}:{dev.port}")
            self._clients[key] = c
        return c

    def _read1(self, dev, profile, name):
        spec = profile.register(name)
        c = self.client(dev)
        method = {"coil": c.read_coils, "discrete_input": c.read_discrete_inputs,
                  "holding": c.read_holding_registers, "input": c.read_input_registers}[spec.register_type]
        resp = method(spec.address, count=spec.count, device_id=dev.unit_id)
        if resp.isError():
            raise ModbusException(f"{dev.device_id}.{name}: {resp}")
        raw = resp.bits[:1] if spec.is_bit else resp.registers[:spec.count]
        return decode(spec, raw)

    def read(self, dev, profile, names, timeout_s=None):
        return {n: self._read1(dev, profile, n) for n in names}

    def write(self, dev, profile, writes, read, timeout_s=None):
        for name, value in writes:
            spec = profile.register(name)
            if not spec.writable:
                raise ValueError(f"{dev.model}: {name} is not writable")
            words = encode(spec, value)
            c = self.client(dev)
            if spec.register_type == "coil":
                resp = c.write_coil(spec.address, bool(words[0]), device_id=dev.unit_id)
            else:
                resp = c.write_registers(spec.address, list(words), device_id=dev.unit_id)
            if resp.isError():
                raise ModbusException(f"write {dev.device_id}.{name}={value}: {resp}")
        return self.read(dev, profile, read)

    def close(self) -> None:
        for c in self._clients.values():
            try:
                c.close()
            except Exception:  # noqa: BLE001 — closing anyway
                pass
        self._clients.clear()


def make_link(redis_client=None) -> _Link:
    """:class:`DirectLink` when env ``CC_CONTROL_DIRECT=1`` (bench without a poller), else :class:`PollerLink`."""
    if get_settings().control_direct:
        return DirectLink()
    return PollerLink(redis_client)


class _Clock:
    """Remaining time of one command against its overall deadline."""

    def __init__(self, deadline_s: float):
        self.t0 = time.monotonic()
        self.end = self.t0 + deadline_s

    def left(self, cap: float) -> float:
        return max(0.0, min(cap, self.end - time.monotonic()))

    def ms(self) -> int:
        return int((time.monotonic() - self.t0) * 1000)


def _wire_reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer in time ({exc}): the device or the poller did not respond"
    return f"{exc.__class__.__name__}: {exc}"


def _check_occupancy(link: _Link, io: DeviceSpec | None, profiles, res, clock: _Clock,
                     timeout_s: float) -> str | None:
    """Step a. of every write: the occupancy input fresh from the wire; returns the refusal or ``None``."""
    if io is None:
        return "station has no station I/O: occupancy unknown, remote operation refused"
    try:
        prof = _profile_of(profiles, io)
        spec = register_by_role(prof, "occupancy")
        if spec is None:
            return f"profile {prof.model} has no register with role occupancy: remote operation refused"
        occ = bool(int(link.read(io, prof, [spec.name], clock.left(timeout_s))[spec.name]))
    except (ControlError, *_WIRE_ERRORS) as exc:
        return f"occupancy input unreadable ({_wire_reason(exc)}): remote operation refused"
    res.occupancy = occ
    if occ:
        return "someone is in the station room (站房有人禁止远程操作)"
    return None


def execute(target: DeviceSpec, io: DeviceSpec | None, command: str, writes: tuple[tuple[str, int], ...] | list,
            *, profiles: dict[str, DeviceProfile] | None = None, readback_s: float = READBACK_S,
            timeout_s: float = POLLER_TIMEOUT_S, poll_s: float = 0.1, link: _Link | None = None,
            redis_client=None) -> ControlResult:
    """Write a command's coils to ``target`` after re-reading the station's occupancy on the wire; read back.

    Args:
        target: the compressor (from SQL). io: the station I/O device, or ``None`` (→ refused).
        command: ``start`` | ``stop`` | ``load`` | ``unload`` (for :data:`EXPECTED_RUN_STATES`).
        writes: ``((role, value), …)`` from :class:`ops.control_policy.ControlDecision` ``writes``; each role is
            resolved to the profile's register (:func:`register_by_role`).
        readback_s: how long to wait for ``run_state`` to reach the expected states, seconds.
        timeout_s: bound of each wire request, seconds. The whole call ends within
            :func:`deadline_s` ``(timeout_s, readback_s)`` (plus one request's rounding to whole seconds).
        poll_s: interval between ``run_state`` reads while waiting, seconds (device polling, not a test sleep).
        link: the wire path; default :func:`make_link` ``(redis_client)`` (the poller's connection).
    Returns:
        a :class:`ControlResult` (never raises for device / poller errors: they end in ``ok = False`` with reasons;
        a profile without the needed role is refused with ``phase = "profile"``).
    Raises:
        ValueError: unknown command or no writes.
    """
    if command not in EXPECTED_RUN_STATES:
        raise ValueError(f"unknown command {command!r}")
    if not writes:
        raise ValueError("no coil writes given")
    profiles = profiles or default_profiles()
    clock = _Clock(deadline_s(timeout_s, readback_s))
    res = ControlResult(ok=False, command=command, device_id=target.device_id, phase="occupancy", ts_ms=now_ms())

    def done(phase: str, reason: str | None = None) -> ControlResult:
        res.phase = phase
        if reason:
            res.reasons.append(reason)
        res.elapsed_ms = clock.ms()
        return res

    try:
        prof = _profile_of(profiles, target)
    except ControlError as exc:
        return done("profile", str(exc))
    refusal = refusal_for_missing(prof, command)
    if refusal:
        return done("profile", refusal)
    coil_writes: list[tuple[str, int]] = []
    for role, value in writes:
        spec = register_by_role(prof, role)
        if spec is None or spec.register_type != "coil" or not spec.writable:
            return done("profile", f"profile {prof.model} has no writable coil with role {role}")
        coil_writes.append((spec.name, int(value)))
    state_spec = register_by_role(prof, "run_state")
    state_names = [state_spec.name] if state_spec is not None else []
    own_link = link is None
    try:
        link = link or make_link(redis_client)
    except ValueError as exc:
        return done("connect", str(exc))
    try:
        # a. occupancy, fresh from the device, just before writing
        refusal = _check_occupancy(link, io, profiles, res, clock, timeout_s)
        if refusal:
            return done("occupancy", refusal)
        # b. run_state before, write the coils, read them back (one request on the poller path)
        try:
            if state_names:
                got = link.read(target, prof, state_names, clock.left(timeout_s))
                res.run_state_before = int(got[state_names[0]])
        except _WIRE_ERRORS as exc:
            return done("connect", f"device unreachable: {_wire_reason(exc)}")
        try:
            back = link.write(target, prof, coil_writes, [n for n, _ in coil_writes], clock.left(timeout_s))
            res.written = [[n, v] for n, v in coil_writes]
            res.coils = {n: int(back[n]) for n, _ in coil_writes}
        except _WIRE_ERRORS as exc:
            return done("write", f"write failed: {_wire_reason(exc)}")
        if any(res.coils.get(n) != v for n, v in coil_writes):
            return done("write", f"coils read back {res.coils}, not {dict(coil_writes)}")
        res.ok = True
        if not state_names:
            return done("done", f"profile {prof.model} has no register with role run_state: state not confirmed")
        # c. run_state follows within the deadline
        expected = EXPECTED_RUN_STATES[command]
        wait_end = time.monotonic() + readback_s
        while True:
            try:
                got = link.read(target, prof, state_names, clock.left(timeout_s) or 0.001)
                res.run_state_after = int(got[state_names[0]])
            except _WIRE_ERRORS as exc:
                res.reasons.append(f"run_state unreadable after the write: {_wire_reason(exc)}")
                return done("readback")
            if res.run_state_after in expected:
                res.reached = True
                break
            if time.monotonic() >= min(wait_end, clock.end):
                break
            time.sleep(poll_s)
        return done("done")
    finally:
        if own_link:
            link.close()
        log.info("control %s %s: ok=%s phase=%s run_state %s→%s reasons=%s", command, target.device_id, res.ok,
                 res.phase, res.run_state_before, res.run_state_after, res.reasons)


@dataclass
class SetpointResult:
    """Outcome of :func:`execute_setpoint`.

    Attributes:
        ok: written and read back equal to ``value`` within the register's resolution (``|scale| / 2``).
        phase: ``check`` (refused: bad name / value), ``occupancy`` (refused), ``connect``, ``write``, ``done``.
        name / unit: the register and its engineering unit; value: the requested value.
        before / after: the register read before the write and read back after it (engineering units).
        occupancy: the occupancy input read just before writing. elapsed_ms: duration.
    """

    ok: bool
    device_id: str
    name: str
    value: float | None
    phase: str
    unit: str = ""
    reasons: list[str] = field(default_factory=list)
    occupancy: bool | None = None
    before: float | None = None
    after: float | None = None
    elapsed_ms: int = 0
    ts_ms: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def execute_setpoint(target: DeviceSpec, io: DeviceSpec | None, name: str, value: Any, *,
                     profiles: dict[str, DeviceProfile] | None = None, timeout_s: float = POLLER_TIMEOUT_S,
                     link: _Link | None = None, redis_client=None) -> SetpointResult:
    """Write the set-point ``name`` (a writable holding register) of ``target`` to ``value`` (engineering units):
    range check (:func:`check_setpoint`), occupancy re-read on the wire, read ``before``, write, read back.

    Ends within :func:`deadline_s` ``(timeout_s, 0)``. Never raises for device / poller / value errors: they end in
    ``ok = False`` with reasons (``phase`` says where).
    """
    profiles = profiles or default_profiles()
    clock = _Clock(deadline_s(timeout_s, 0.0))
    res = SetpointResult(ok=False, device_id=target.device_id, name=str(name), value=None, phase="check",
                         ts_ms=now_ms())

    def done(phase: str, reason: str | None = None) -> SetpointResult:
        res.phase = phase
        if reason:
            res.reasons.append(reason)
        res.elapsed_ms = clock.ms()
        return res

    try:
        prof = _profile_of(profiles, target)
        res.value = check_setpoint(prof, name, value)
    except (ControlError, SetpointError) as exc:
        return done("check", str(exc))
    spec = prof.register(name)
    res.unit = spec.unit
    own_link = link is None
    try:
        link = link or make_link(redis_client)
    except ValueError as exc:
        return done("connect", str(exc))
    try:
        refusal = _check_occupancy(link, io, profiles, res, clock, timeout_s)
        if refusal:
            return done("occupancy", refusal)
        try:
            res.before = float(link.read(target, prof, [name], clock.left(timeout_s))[name])
        except _WIRE_ERRORS as exc:
            return done("connect", f"device unreachable: {_wire_reason(exc)}")
        try:
            res.after = float(link.write(target, prof, [(name, res.value)], [name], clock.left(timeout_s))[name])
        except _WIRE_ERRORS as exc:
            return done("write", f"write failed: {_wire_reason(exc)}")
        if abs(res.after - res.value) > abs(spec.scale) / 2 + 1e-9:
            return done("write", f"{name} read back {res.after:g}, not {res.value:g}")
        res.ok = True
        return done("done")
    finally:
        if own_link:
            link.close()
        log.info("setpoint %s.%s=%s: ok=%s phase=%s %s→%s reasons=%s", target.device_id, name, value, res.ok,
                 res.phase, res.before, res.after, res.reasons)
