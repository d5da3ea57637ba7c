"""Remote-control policy (pure): may a start / stop / load / unload command be sent to a compressor now?

Sources:
* seed 001 table 7 (视频监控): "气站远程操控的时候，监控自动打开，站房有人禁止远程操作" — video opens on remote
  operation, and remote operation is forbidden while someone is in the station room (station I/O ``occupancy``).
* issue 4: only the duty officer may control, and only with an explicit confirmation.

Fail-safe choices (engineering defaults): occupancy unknown (station I/O offline or missing) refuses the command;
an offline or faulted target refuses start/load; the command must target a compressor.

The Modbus write itself is done elsewhere; :attr:`ControlDecision.writes` names the coils of the compressor
profiles (``run_command`` 1 start / 0 stop, ``load_enable`` 1 load / 0 forced unload).
"""
from __future__ import annotations

from dataclasses import dataclass

COMMANDS = ("start", "stop", "load", "unload")
#: command → coil writes (profile value name, value) of datasources/modbus/profiles/compressor_*.yaml
COIL_WRITES = {"start": (("run_command", 1),), "stop": (("run_command", 0),),
               "load": (("load_enable", 1),), "unload": (("load_enable", 0),)}
CONTROL_ROLES = ("duty_officer",)
RUN_FAULT = 3


@dataclass(frozen=True)
class ControlDecision:
    """``allowed``; ``reasons`` (why refused, empty when allowed); ``writes`` the coil writes to perform;
    ``open_video`` True: the station's cameras must be shown while the command runs (seed 001 table 7)."""

    allowed: bool
    command: str
    reasons: tuple[str, ...]
    writes: tuple[tuple[str, int], ...] = ()
    open_video: bool = True


def decide_command(*, role: str | None, command: str, confirmed: bool, occupancy: bool | None,
                   device_kind: str = "compressor", device_online: bool = True,
                   run_state: int | None = None) -> ControlDecision:
    """Decide whether a remote command may be sent.

    Args:
        role: the acting user's role; only :data:`CONTROL_ROLES` may control.
        command: one of :data:`COMMANDS`.
        confirmed: the operator confirmed the command in a second step.
        occupancy: station I/O ``occupancy`` input (True = someone in the room); ``None`` = unknown → refused.
        device_kind: target device kind; only ``compressor`` is controllable.
        device_online: the target answered its last poll.
        run_state: last ``run_state`` (0 stop, 1 unload, 2 load, 3 fault) or ``None``.
    Returns:
        a :class:`ControlDecision`; every failed check is listed in ``reasons``.
    """
    reasons: list[str] = []
    if command not in COMMANDS:
        reasons.append(f"unknown command {command!r} (one of {', '.join(COMMANDS)})")
    reasons += _operator_guards(role, confirmed, occupancy)
    if device_kind != "compressor":
        reasons.append(f"device kind {device_kind} is not remotely controllable")
    if not device_online:
        reasons.append("device offline")
    if run_state == RUN_FAULT and command in ("start", "load"):
        reasons.append("device in fault: reset on site before start/load")
    ok = not reasons
    return ControlDecision(allowed=ok, command=command, reasons=tuple(reasons),
                           writes=COIL_WRITES.get(command, ()) if ok else ())


def _operator_guards(role: str | None, confirmed: bool, occupancy: bool | None) -> list[str]:
    """The refusals shared by commands and set-points: role, confirmation, room occupancy (seed 001 table 7)."""
    reasons: list[str] = []
    if role not in CONTROL_ROLES:
        reasons.append(f"role {role or 'anonymous'} may not control devices (duty officer only)")
    if not confirmed:
        reasons.append("command not confirmed")
    if occupancy is None:
        reasons.append("station occupancy unknown (station I/O offline): remote operation refused")
    elif occupancy:
        reasons.append("someone is in the station room (站房有人禁止远程操作)")
    return reasons


def decide_setpoint(*, role: str | None, confirmed: bool, occupancy: bool | None, device_online: bool = True,
                    run_state: int | None = None) -> ControlDecision:
    """Decide whether a set-point (writable holding register) may be written: the same guards as the commands —
    :data:`CONTROL_ROLES` only, confirmed, nobody in the station room (unknown → refused, seed 001 table 7), the
    target online. Any device kind with a writable holding register qualifies; a faulted device may be re-parameterised.

    Returns:
        a :class:`ControlDecision` with ``command = "setpoint"`` and no ``writes`` (the value is the caller's).
    """
    reasons: list[str] = []
    reasons += _operator_guards(role, confirmed, occupancy)
    if not device_online:
        reasons.append("device offline")
    return ControlDecision(allowed=not reasons, command="setpoint", reasons=tuple(reasons))
