"""Shapes of a fleet: stations and their Modbus devices, as stored in SQL and as served by the simulator.

Coordinates are WGS-84 (EPSG:4326) longitude/latitude in degrees. Flows in m³/min, powers in kW.
"""
from __future__ import annotations

from dataclasses import dataclass, field

#: station kinds of seed 001 (单机模块 / 智慧空压站 / 集中空压站)
STATION_KINDS = ("standalone_module", "smart_station", "central_station")
#: lifecycle statuses of seed 001 table 7 (已建 / 在建 / 空闲 / 维护)
LIFECYCLES = ("built", "under_construction", "idle", "maintenance")
#: device kinds; each maps to one profile family in ``datasources/modbus/profiles``
DEVICE_KINDS = ("compressor", "dryer", "flow_meter", "power_meter", "station_io", "pipe_sensor")
#: how the poller reaches a device: Modbus TCP, Modbus RTU frames over a TCP socket (serial-to-Ethernet converters
#: in transparent mode), Modbus RTU on a local serial port (``host`` is then the port path, e.g. ``/dev/ttyUSB0``)
TRANSPORTS = ("tcp", "rtu_over_tcp", "rtu")
#: construction milestones (建设节点) of a station under construction, in build order: site survey 选址勘察, design
#: 方案设计, civil works 土建施工, equipment installation 设备安装, commissioning 调试试运行, acceptance 竣工验收
MILESTONES = ("survey", "design", "civil", "install", "commission", "acceptance")
#: per-device transport settings that override the poller's defaults when not ``None``
TRANSPORT_SETTINGS = ("timeout_s", "retries", "offline_after", "poll_interval_s", "max_gap", "max_registers_per_read")


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
        transport: one of :data:`TRANSPORTS`. For ``rtu`` ``host`` is the serial port path and ``port`` is 0.
        baudrate, parity (``N``/``E``/``O``), stopbits, bytesize: serial line settings (``rtu`` only).
        timeout_s, retries, offline_after, poll_interval_s, max_gap, max_registers_per_read: per-device overrides of
            the poller's defaults (reply timeout s, extra attempts, failed cycles before offline, seconds between
            polls of this device's station, largest gap of unused registers read in one block, largest block in
            registers — some gateways refuse more than 32 or 64); ``None`` = the poller's default.
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
    transport: str = "tcp"
    baudrate: int = 9600
    parity: str = "N"
    stopbits: int = 1
    bytesize: int = 8
    timeout_s: float | None = None
    retries: int | None = None
    offline_after: int | None = None
    poll_interval_s: float | None = None
    max_gap: int | None = None
    max_registers_per_read: int | None = None

    @property
    def endpoint(self) -> tuple[str, str, int]:
        """``(transport, host, port)``: devices with the same endpoint share one connection."""
        return (self.transport, self.host, self.port)


@dataclass(frozen=True)
class StationSpec:
    """One station (站房). ``devices`` is empty unless ``lifecycle == 'built'``.

    ``simulated``: the station belongs to the demo fleet and is served by the simulator. A real (registered) station
    is ``False`` and is never served by the simulator, whatever its addresses.

    Site record (migration 0006, all optional): ``partner_contact`` / ``partner_phone`` of the partner (合作方);
    idle stations: ``lease_cny_month`` (contracted monthly lease income of the room, CNY/month, 0 = not let),
    ``market_lease_cny_month`` (market / asking rent, CNY/month), ``idle_since`` (ISO date ``YYYY-MM-DD``, "" =
    unknown); under construction: ``build_milestones`` — ``((key, planned ISO date, done ISO date or ""), …)`` in
    build order, keys of :data:`MILESTONES`.
    """

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
    simulated: bool = False
    partner_contact: str = ""
    partner_phone: str = ""
    lease_cny_month: float | None = None
    market_lease_cny_month: float | None = None
    idle_since: str = ""
    build_milestones: tuple[tuple[str, str, str], ...] = ()
