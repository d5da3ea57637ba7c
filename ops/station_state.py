"""Station live state and its per-cycle summary.

Run-state codes are those of the packaged compressor/dryer profiles (``run_state``: 0 stop, 1 unload, 2 load,
3 fault). Station I/O alarm inputs are ``fire``, ``flood``, ``intrusion`` (seed 001 table 7: video opens on fire,
flood and intrusion alarms).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Protocol

from ops.vocab import SEVERITIES, STATION_ALARM_OVERRIDABLE

RUN_STOP, RUN_UNLOAD, RUN_LOAD, RUN_FAULT = 0, 1, 2, 3
ALARM_INPUTS = ("fire", "flood", "intrusion")


class DeviceCycle(Protocol):
    """What :func:`summarise` reads of one device's poll cycle (:class:`datasources.bus.messages.DeviceReading`)."""

    kind: str
    online: bool
    values: Mapping[str, Any]


@dataclass
class StationSummary:
    """Station-level digest of one poll cycle, computed by :func:`summarise` (the bus carries it as
    ``summary`` of a station reading and in ``cc:summary``; :mod:`datasources.bus.messages` re-exports it).

    Fields: ``state`` one of :data:`ops.vocab.STATION_STATES`; flows in m³/min; powers in kW; pressure MPa (gauge).
    """

    state: str
    devices_online: int = 0
    devices_total: int = 0
    compressors_loaded: int = 0
    compressors_total: int = 0
    flow_m3_min: float = 0.0
    power_kw: float = 0.0
    discharge_pressure_mpa: float | None = None
    alarm_inputs: list[str] = field(default_factory=list)
    ts_ms: int = 0


#: every state :func:`summarise` and :func:`fold_open_alarm` can return (all in :data:`ops.vocab.STATION_STATES`)
SUMMARY_STATES = ("not_built", "offline", "alarm", "running", "idle")


def summarise(lifecycle: str, devices: Iterable[DeviceCycle], ts_ms: int) -> StationSummary:
    """Digest one poll cycle of a station.

    State precedence: ``not_built`` (lifecycle other than ``built``) > ``offline`` (no device answered) >
    ``alarm`` (an alarm input is on or a compressor/dryer reports fault) > ``running`` (a compressor loaded) >
    ``idle``.

    Flow and power are the station meters' when they answered, else the sum over compressors (m³/min, kW).
    ``discharge_pressure_mpa`` is the flow meter's header pressure, else the highest compressor discharge pressure.
    """
    devices = list(devices)
    if lifecycle != "built":
        return StationSummary(state="not_built", devices_total=len(devices), ts_ms=ts_ms)
    online = [d for d in devices if d.online]
    comps = [d for d in devices if d.kind == "compressor"]
    comps_on = [d for d in comps if d.online]
    loaded = sum(1 for d in comps_on if d.values.get("run_state") == RUN_LOAD)
    faulted = any(d.values.get("run_state") == RUN_FAULT for d in online if d.kind in ("compressor", "dryer"))
    alarm_inputs = sorted({name for d in online if d.kind == "station_io"
                           for name in ALARM_INPUTS if d.values.get(name)})
    meters = {d.kind: d for d in online if d.kind in ("flow_meter", "power_meter")}
    flow = (meters["flow_meter"].values.get("flow_m3_min") if "flow_meter" in meters
            else sum(float(d.values.get("flow_m3_min", 0.0)) for d in comps_on))
    power = (meters["power_meter"].values.get("power_kw") if "power_meter" in meters
             else sum(float(d.values.get("power_kw", 0.0)) for d in comps_on))
    if "flow_meter" in meters and meters["flow_meter"].values.get("pressure_mpa") is not None:
        pressure = float(meters["flow_meter"].values["pressure_mpa"])
    else:
        pressures = [float(d.values["discharge_pressure_mpa"]) for d in comps_on if "discharge_pressure_mpa" in d.values]
        pressure = max(pressures) if pressures else None
    if devices and not online:
        state = "offline"
    elif alarm_inputs or faulted:
        state = "alarm"
    elif loaded:
        state = "running"
    else:
        state = "idle"
    return StationSummary(state=state, devices_online=len(online), devices_total=len(devices),
                          compressors_loaded=loaded, compressors_total=len(comps),
                          flow_m3_min=round(float(flow or 0.0), 3), power_kw=round(float(power or 0.0), 3),
                          discharge_pressure_mpa=None if pressure is None else round(pressure, 4),
                          alarm_inputs=alarm_inputs, ts_ms=ts_ms)


#: states an open alarm may turn into ``alarm`` (a station that is not built or not answering keeps that state)
ALARM_OVERRIDABLE = STATION_ALARM_OVERRIDABLE


def fold_open_alarm(state: str, worst_severity: int | None) -> str:
    """The map state of a station given its live ``state`` and the worst severity of its active alarms.

    Any active alarm (any rule, severity 1 = I … 4 = IV, seed 002 §7.2.5.1) turns ``running`` / ``idle`` into
    ``alarm``; ``not_built``, ``offline`` and ``alarm`` are kept. ``worst_severity`` ``None`` = no active alarm:
    ``state`` is returned unchanged, so the colour goes back when the alarm clears.

    Raises:
        ValueError: ``worst_severity`` not ``None`` and not in 1..4.
    """
    if worst_severity is None:
        return state
    if int(worst_severity) not in SEVERITIES:
        raise ValueError(f"worst_severity must be 1..4 or None, got {worst_severity!r}")
    return "alarm" if state in ALARM_OVERRIDABLE else state


def air_to_power_ratio_m3_per_kwh(flow_m3_min: float, power_kw: float) -> float | None:
    """Instantaneous air-to-power ratio (气电比), m³/kWh = flow (m³/min) × 60 / power (kW). ``None`` when power ≤ 0.

    Definition: m³ of air delivered per kWh of electricity (DESIGN.md domain words); equal to 60 / specific power.
    """
    if power_kw <= 0:
        return None
    return flow_m3_min * 60.0 / power_kw
