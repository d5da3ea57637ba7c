"""What a device profile allows remotely: the registers playing each control role, the commands a compressor can
take, and the set-points (writable holding registers) with their validation against the profile's limits.

Used by :mod:`datasources.modbus.control` (before anything goes on the wire) and by the site panel
(:mod:`callbacks.control`: which buttons and set-point rows to show). No I/O. Limits (``min`` / ``max``, unit,
scale, data type) are those the profile declares (:mod:`datasources.modbus.profiles`); values are engineering units.
"""
from __future__ import annotations

import math
from typing import Any

from datasources.modbus.codec import DecodeError, encode
from datasources.modbus.profiles import DeviceProfile, RegisterSpec

#: command → profile roles it needs (coils written; ``run_state`` read back is optional)
COMMAND_ROLES: dict[str, tuple[str, ...]] = {"start": ("run_command",), "stop": ("run_command",),
                                             "load": ("load_enable",), "unload": ("load_enable",)}
_VERB = {"start": "started", "stop": "stopped", "load": "loaded", "unload": "unloaded"}

__all__ = ["COMMAND_ROLES", "SetpointError", "check_setpoint", "missing_roles", "refusal_for_missing",
           "register_by_role", "setpoints", "supported_commands"]


class SetpointError(ValueError):
    """A set-point write refused before the wire: unknown / not writable register, bad or out-of-range value."""


def register_by_role(profile: DeviceProfile, role: str) -> RegisterSpec | None:
    """The register of ``profile`` that plays ``role`` (``run_command``, ``load_enable``, ``run_state``,
    ``occupancy``): :meth:`DeviceProfile.by_role` when the profile has it, else the register *named* ``role``
    (profiles written before roles existed). ``None`` when the profile has neither."""
    by_role = getattr(profile, "by_role", None)
    spec = by_role(role) if callable(by_role) else None
    return spec if spec is not None else profile.by_name.get(role)


def missing_roles(profile: DeviceProfile, command: str) -> list[str]:
    """Roles :data:`COMMAND_ROLES` ``command`` needs that ``profile`` lacks (empty: the device can do it)."""
    return [r for r in COMMAND_ROLES.get(command, ()) if register_by_role(profile, r) is None]


def refusal_for_missing(profile: DeviceProfile, command: str) -> str | None:
    """The operator-facing refusal when ``profile`` cannot do ``command`` (``None`` if it can)."""
    miss = missing_roles(profile, command)
    if not miss:
        return None
    return (f"profile {profile.model} has no register with role {miss[0]}: "
            f"this device cannot be {_VERB.get(command, command)} remotely")


def supported_commands(profile: DeviceProfile | None) -> list[str]:
    """The commands of :data:`COMMAND_ROLES` that ``profile`` can do (the site panel shows only these)."""
    if profile is None:
        return []
    return [c for c in COMMAND_ROLES if not missing_roles(profile, c)]


def setpoints(profile: DeviceProfile | None) -> list[dict[str, Any]]:
    """The writable holding registers of ``profile``: ``[{"name", "unit", "description", "min", "max",
    "decimals"}]`` (``min`` / ``max`` ``None`` when the profile declares none)."""
    if profile is None:
        return []
    return [{"name": r.name, "unit": r.unit, "description": r.description, "min": getattr(r, "min", None),
             "max": getattr(r, "max", None), "decimals": r.decimals}
            for r in profile.registers if r.register_type == "holding" and r.writable and r.bit is None]


def check_setpoint(profile: DeviceProfile, name: str, value: Any) -> float:
    """Validate a set-point write before anything goes on the wire.

    Args:
        profile: the device's profile. name: the register name. value: engineering units (the register's ``unit``).
    Returns:
        ``value`` as a float.
    Raises:
        SetpointError: no such register, not a writable holding register, not a finite number, outside the
            profile's ``min`` / ``max`` (when declared), or not representable in the register's data type.
    """
    spec = profile.by_name.get(name)
    if spec is None:
        raise SetpointError(f"profile {profile.model} has no register {name!r}")
    if spec.register_type != "holding" or not spec.writable or spec.bit is not None or spec.data_type == "string":
        raise SetpointError(f"{profile.model}: {name} is not a writable holding register (not a set-point)")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(str(value).strip())
        except (TypeError, ValueError):
            raise SetpointError(f"{name}: {value!r} is not a number") from None
    value = float(value)
    if not math.isfinite(value):
        raise SetpointError(f"{name}: {value!r} is not a finite number")
    lo, hi = getattr(spec, "min", None), getattr(spec, "max", None)
    unit = f" {spec.unit}" if spec.unit else ""
    if lo is not None and value < lo:
        raise SetpointError(f"{name}: {value:g}{unit} is below the minimum {lo:g}{unit}")
    if hi is not None and value > hi:
        raise SetpointError(f"{name}: {value:g}{unit} is above the maximum {hi:g}{unit}")
    try:
        encode(spec, value)
    except DecodeError as exc:
        raise SetpointError(f"{name}: {value:g}{unit} out of range of the register ({exc})") from None
    return value
