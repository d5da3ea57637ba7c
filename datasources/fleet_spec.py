"""Shapes of a fleet: stations and their Modbus devices, as stored in SQL and as served by the simulator.

Coordinates are WGS-84 (EPSG:4326) longitude/latitude in degrees. Flows in m³/min, powers in kW.
"""
from __future__ import annotations

from dataclasses import dataclass, field

#: station kinds of seed 001 (单机模块 / 智慧空压站 / 集中空压站)
STATION_KINDS = ("standalone_module", "smart_station", "central_station")
#: lifecycle statuses of seed 001 table 7 (已建 / 在建 / 空闲 / 维护)
LIFECYCLES = ("built", "under_construction", "idle", "maintenance")
#: device kinds; each maps to one profile family in ``datasources/profiles``
DEVICE_KINDS = ("compressor", "dryer", "flow_meter", "power_meter", "station_io")


@dataclass(frozen=True)
class DeviceSpec:
    """One Modbus device.

    Attributes:
        device_id: ``<station_id>-<suffix>``, e.g. ``ST0001-C1``.
        station_id: owning station.
        kind: one of :data:`DEVICE_KINDS`.
        model: profile model name (``model:`` field of a profile file), e.g. ``cc-fixed-speed-compressor``.
        host, port, unit_id: where the poller reads it (Modbus TCP, unit id 1..247).
        rated_flow_m3_min: compressor free air delivery at rated pressure; 0 for other kinds.
        rated_power_kw: compressor shaft/input power at full load; 0 for other kinds.
        specific_power_kw_per_m3_min: rated specific power (GB 19153 grading), compressors only.
    """

    device_id: str
    station_id: str
    kind: str
    model: str
    host: str
    port: int
    unit_id: int
    rated_flow_m3_min: float = 0.0
    rated_power_kw: float = 0.0
    specific_power_kw_per_m3_min: float = 0.0


@dataclass(frozen=True)
class StationSpec:
    """One station (站房). ``devices`` is empty unless ``lifecycle == 'built'``."""

    station_id: str
    name: str
    name_en: str
    kind: str
    lifecycle: str
    lon: float
    lat: float
    province_adcode: str
    city_adcode: str
    capacity_m3_min: float
    partner: str
    devices: tuple[DeviceSpec, ...] = field(default_factory=tuple)
