"""SQLAlchemy models of alarms, work orders, users and the duty roster (migration 0003).

Timestamps here are epoch milliseconds UTC (``*_ms``, BIGINT), the same clock as the bus messages; coordinates are
WGS-84 degrees. ``station_id`` / ``device_id`` are plain columns without foreign keys: alarms follow the readings,
and re-seeding the fleet must not be blocked by history.

Concurrency: :class:`Alarm` and :class:`WorkOrder` carry a ``version`` column (SQLAlchemy optimistic locking);
a concurrent update raises ``sqlalchemy.orm.exc.StaleDataError`` and the caller retries. One open alarm per
(rule, source) and one open order per alarm are enforced by unique ``open_key`` columns (NULL once closed).
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from datasources.sql.models import Base


class Alarm(Base):
    """One alarm record: an occurrence of a rule's condition on a source (device or station).

    ``state``: active / acknowledged / cleared_unacknowledged / cleared / closed (:mod:`ops.alarms`).
    ``severity``: 1 (I) … 4 (IV). ``value``/``threshold``: rule unit (``unit``). ``occurrences``: how often the
    condition returned while the record was open. ``detail``: JSON text (e.g. ``{"fault_code": 12}``).
    """

    __tablename__ = "alarms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    open_key: Mapped[str | None] = mapped_column(String(160), unique=True, nullable=True)
    station_id: Mapped[str] = mapped_column(String(32), index=True)
    device_id: Mapped[str | None] = mapped_column(String(48), nullable=True)
    device_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    source: Mapped[str] = mapped_column(String(64))
    rule_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[int] = mapped_column(Integer, index=True)
    state: Mapped[str] = mapped_column(String(32), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    acknowledged: Mapped[bool] = mapped_column(Boolean, default=False)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    unit: Mapped[str] = mapped_column(String(16), default="")
    message: Mapped[str] = mapped_column(String(256), default="")
    skill: Mapped[str | None] = mapped_column(String(32), nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="{}")
    raised_ts_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    last_change_ts_ms: Mapped[int] = mapped_column(BigInteger)
    cleared_ts_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    acknowledged_ts_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    closed_ts_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    shelved_until_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    shelved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}


class AlarmEvent(Base):
    """Timeline of an alarm (append-only): raised / cleared / acknowledged / closed / shelved / unshelved."""

    __tablename__ = "alarm_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id", ondelete="CASCADE"), index=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    event: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64), default="engine")
    state_after: Mapped[str] = mapped_column(String(32))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")


class Engineer(Base):
    """A field engineer of the duty roster (服务人员). ``skills``: comma-separated subset of
    compressor, dryer, electrical, pipeline, security. ``home_lon/home_lat``: base position, WGS-84."""

    __tablename__ = "engineers"

    engineer_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    skills: Mapped[str] = mapped_column(String(128), default="")
    home_lon: Mapped[float] = mapped_column(Float)
    home_lat: Mapped[float] = mapped_column(Float)
    city: Mapped[str] = mapped_column(String(64), default="")
    city_adcode: Mapped[str] = mapped_column(String(6), default="", index=True)
    partner: Mapped[str] = mapped_column(String(128), default="")
    on_duty: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class User(Base):
    """A login of the command centre. ``role``: leader / duty_officer / field_engineer / admin.

    ``password_hash``: werkzeug ``scrypt`` hash. ``failed_logins`` / ``locked_until_ms``: lockout.
    ``session_token``: random; part of the session id, rotated on password change, deactivation and lockout so
    existing sessions end. ``engineer_id``: the roster entry of a field engineer.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64), default="")
    role: Mapped[str] = mapped_column(String(32), index=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_login_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    password_changed_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    session_token: Mapped[str] = mapped_column(String(64))
    engineer_id: Mapped[str | None] = mapped_column(ForeignKey("engineers.engineer_id", ondelete="SET NULL"),
                                                    nullable=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class WorkOrder(Base):
    """A work order (工单). ``state``: created / assigned / accepted / on_site / resolved / closed / cancelled.

    ``assignee_id``: engineer; ``dispatch_mode``: ``assigned`` (派单) or ``grabbed`` (抢单). Check-in position
    ``on_site_lon/lat`` (WGS-84) and its distance to the station, metres. ``rating`` 1–5 (评价) with
    ``return_visit`` text (回访). ``escalated``: comma list of SLA clocks already escalated. ``proposal``: JSON of
    the dispatch proposal shown when the order was created.
    """

    __tablename__ = "work_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    open_key: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    alarm_id: Mapped[int | None] = mapped_column(ForeignKey("alarms.id", ondelete="SET NULL"), nullable=True,
                                                 index=True)
    station_id: Mapped[str] = mapped_column(String(32), index=True)
    device_id: Mapped[str | None] = mapped_column(String(48), nullable=True)
    title: Mapped[str] = mapped_column(String(256))
    severity: Mapped[int] = mapped_column(Integer)
    skill: Mapped[str | None] = mapped_column(String(32), nullable=True)
    state: Mapped[str] = mapped_column(String(32), index=True)
    assignee_id: Mapped[str | None] = mapped_column(ForeignKey("engineers.engineer_id", ondelete="SET NULL"),
                                                    nullable=True, index=True)
    dispatch_mode: Mapped[str] = mapped_column(String(16), default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_ts_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    assigned_ts_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    accepted_ts_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    on_site_ts_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    on_site_lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    on_site_lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    on_site_distance_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    resolved_ts_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    result: Mapped[str] = mapped_column(Text, default="")
    closed_ts_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    return_visit: Mapped[str] = mapped_column(Text, default="")
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)
    escalated: Mapped[str] = mapped_column(String(64), default="")
    proposal: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}


class WorkOrderEvent(Base):
    """Timeline of a work order (append-only): created, assigned, grabbed, accepted, on_site, resolved, closed,
    cancelled, escalated, notified, notify_failed — with actor and time."""

    __tablename__ = "work_order_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="CASCADE"), index=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    event: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    state_after: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")


class Notification(Base):
    """One outbound notification (webhook) and its delivery: ``status`` pending / delivered / failed,
    ``attempts``, last ``http_status`` and ``error``."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_status_ts", "status", "ts_ms"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    channel: Mapped[str] = mapped_column(String(32), default="webhook")
    target: Mapped[str] = mapped_column(String(512))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id", ondelete="SET NULL"), nullable=True,
                                                 index=True)
    event: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[str] = mapped_column(Text, default="")
    delivered_ts_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
