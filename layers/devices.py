"""How device values are shown: label (catalog), unit and decimals (from the profile), coded-value labels.

The same table goes to the browser (``window.ccI18n.formats``) so live values pushed over Socket.IO are formatted by
the clientside callbacks exactly like a first paint.
"""
from __future__ import annotations

from functools import lru_cache

from datasources.modbus.profiles import default_profiles

#: decimals by unit (profile ``unit``); values without a unit: integers unless listed in ``_DECIMALS_BY_NAME``
_DECIMALS_BY_UNIT = {"MPa": 3, "°C": 1, "m³/min": 2, "kW": 1, "kWh": 0, "m³": 0, "h": 1, "%": 1, "V": 1, "A": 1,
                     "kvar": 1}
_DECIMALS_BY_NAME = {"power_factor": 3}
#: coded values → catalog enum family (``enum.<family>.<code>``); ``alarm`` marks codes shown as an alarm
_ENUMS: dict[tuple[str | None, str], tuple[str, tuple[int, ...]]] = {
    ("compressor", "run_state"): ("run_state", (3,)),
    ("dryer", "run_state"): ("dryer_state", (3,)),
    (None, "fire"): ("alarm_input", (1,)),
    (None, "flood"): ("alarm_input", (1,)),
    (None, "intrusion"): ("alarm_input", (1,)),
    (None, "door_open"): ("door", ()),
    (None, "occupancy"): ("occupancy", ()),
    (None, "run_command"): ("run_command", ()),
    (None, "load_enable"): ("load_enable", ()),
    (None, "remote_mode"): ("remote_mode", ()),
}
#: device kinds in the order the site panel lists them
DEVICE_ORDER = ("compressor", "dryer", "flow_meter", "power_meter", "station_io")


def _value_format(kind: str, name: str, unit: str) -> dict:
    fmt: dict = {"unit": unit, "dp": _DECIMALS_BY_NAME.get(name, _DECIMALS_BY_UNIT.get(unit, 0))}
    enum = _ENUMS.get((kind, name)) or _ENUMS.get((None, name))
    if enum:
        fmt["enum"], alarm = enum
        if alarm:
            fmt["alarm"] = list(alarm)
    if name == "fault_code":
        fmt["enum0"] = "fault_code"  # 0 → "none", other codes shown as numbers and flagged
        fmt["alarm_nonzero"] = True
    return fmt


@lru_cache(maxsize=1)
def value_formats() -> dict[str, dict]:
    """``{model: {"kind": kind, "order": [names…], "values": {name: {"unit", "dp", "enum"?, "alarm"?}}}}`` from the
    packaged device profiles (file order)."""
    out: dict[str, dict] = {}
    for model, prof in default_profiles().items():
        out[model] = {"kind": prof.kind, "order": [r.name for r in prof.registers],
                      "values": {r.name: _value_format(prof.kind, r.name, r.unit) for r in prof.registers}}
    return out


def device_label_suffix(device_id: str, station_id: str) -> str:
    """``ST0001-C1`` of ``ST0001`` → ``C1`` (the device's tag on site)."""
    prefix = f"{station_id}-"
    return device_id[len(prefix):] if device_id.startswith(prefix) else device_id


def value_names(model: str, present: list[str] | None = None) -> list[str]:
    """Value names of a device in profile order; names present in a reading but not in the profile go last."""
    fmt = value_formats().get(model)
    order = list(fmt["order"]) if fmt else []
    if present:
        order += sorted(n for n in present if n not in order)
    return order
