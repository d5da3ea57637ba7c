"""SQLAlchemy 2 models. Schema changes go through Alembic (``datasources/sql/migrations``), never ``create_all``.

Coordinates: WGS-84 (EPSG:4326) degrees. Flows m³/min, powers kW. Timestamps: timezone-aware UTC.
"""
from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy import false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Station(Base):
    """A station (站房). ``lifecycle``: built / under_construction / idle / maintenance (seed 001 table 7)."""

    __tablename__ = "stations"

    station_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128), default="")
    kind: Mapped[str] = mapped_column(String(32))
    lifecycle: Mapped[str] = mapped_column(String(32), index=True)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    province_adcode: Mapped[str] = mapped_column(String(6), index=True)
    city_adcode: Mapped[str] = mapped_column(String(6), index=True)
    capacity_m3_min: Mapped[float] = mapped_column(Float, default=0.0)
    partner: Mapped[str] = mapped_column(String(128), default="")
    #: the partner's (合作方) contact person and phone for this station (migration 0006); "" = unknown
    partner_contact: Mapped[str] = mapped_column(String(64), default="", server_default="")
    partner_phone: Mapped[str] = mapped_column(String(32), default="", server_default="")
    #: idle stations (空闲站房): contracted monthly lease income of the station room, CNY/month (0 = not let),
    #: the market (asking) rent of the room, CNY/month, and the first idle day — read by
    #: :func:`datasources.sql.site_queries.idle_revenue`; ``NULL`` = not recorded
    lease_cny_month: Mapped[float | None] = mapped_column(Float, nullable=True)
    market_lease_cny_month: Mapped[float | None] = mapped_column(Float, nullable=True)
    idle_since: Mapped[date | None] = mapped_column(Date, nullable=True)
    #: stations under construction (在建): construction milestones (建设节点), JSON text
    #: ``[{"key": "survey", "planned": "2026-05-01", "done": "2026-05-03" | null}, …]`` in build order, dates local
    #: (Asia/Shanghai) ISO; keys: :data:`datasources.sql.fleet_spec.MILESTONES`; "" = none recorded
    build_milestones: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: demo fleet (served by the simulator) or a real, registered site (never simulated)
    simulated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    devices: Mapped[list["Device"]] = relationship(back_populates="station", cascade="all, delete-orphan",
                                                   order_by="Device.device_id")


class Device(Base):
    """A Modbus device of a station; ``model`` names its profile (``datasources/modbus/profiles``).

    Transport columns: see :class:`datasources.sql.fleet_spec.DeviceSpec` (``NULL`` overrides = poller default).
    """

    __tablename__ = "devices"
    __table_args__ = (Index("ix_devices_endpoint", "host", "port", "unit_id", unique=True),)

    device_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.station_id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(128))
    port: Mapped[int] = mapped_column(Integer)
    unit_id: Mapped[int] = mapped_column(Integer)
    rated_flow_m3_min: Mapped[float] = mapped_column(Float, default=0.0)
    rated_power_kw: Mapped[float] = mapped_column(Float, default=0.0)
    specific_power_kw_per_m3_min: Mapped[float] = mapped_column(Float, default=0.0)
    transport: Mapped[str] = mapped_column(String(16), default="tcp", server_default="tcp")
    baudrate: Mapped[int] = mapped_column(Integer, default=9600, server_default="9600")
    parity: Mapped[str] = mapped_column(String(1), default="N", server_default="N")
    stopbits: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    bytesize: Mapped[int] = mapped_column(Integer, default=8, server_default="8")
    timeout_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    retries: Mapped[int | None] = mapped_column(Integer, nullable=True)
    offline_after: Mapped[int | None] = mapped_column(Integer, nullable=True)
    poll_interval_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_gap: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_registers_per_read: Mapped[int | None] = mapped_column(Integer, nullable=True)

    station: Mapped[Station] = relationship(back_populates="devices")


class AuditEntry(Base):
    """Append-only audit log: who did what, when, to which target, with which result (seed 002: kept 6 months)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32), default="")
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(128), default="")
    result: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")
