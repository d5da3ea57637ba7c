"""SQLAlchemy models of the energy rollups (migration ``0002``) and of the recorder's per-station watermark.

Rollup tables, one row per key and bucket, written by :mod:`datasources.workers.recorder` (live) and
:mod:`datasources.sim.history` (demo history); read by :mod:`datasources.sql.energy_store`:

=========================  ==============================  ==========================================
table                      key                             bucket
=========================  ==============================  ==========================================
``energy_device_minute``   (device_id, bucket_ts)          minute; purged after N days (recorder)
``energy_device_hour``     (device_id, bucket_ts)          hour
``energy_device_day``      (device_id, bucket_ts)          day of China Standard Time (UTC+8)
``energy_station_minute``  (station_id, bucket_ts)         minute; purged after N days
``energy_station_hour``    (station_id, bucket_ts)         hour
``energy_station_day``     (station_id, bucket_ts)         day of China Standard Time (UTC+8)
``recorder_station_state`` station_id                      the recorder's idempotency watermark
=========================  ==============================  ==========================================

Time: ``bucket_ts`` is the bucket start in **epoch seconds UTC** (an integer, portable across SQLite and
PostgreSQL). Minute and hour boundaries are the same in UTC and China Standard Time (CST = UTC+8, a whole number of
hours); a day bucket starts at 00:00 CST (= 16:00 UTC of the previous day). Day rows also carry ``week_ts`` (start
of the ISO week, Monday 00:00 CST, epoch s) and ``month`` (``yyyymm`` of the CST calendar) so that week and month
series are a portable ``GROUP BY`` without date functions.

Columns are additive (sums) except ``*_min``/``*_max`` (extremes) and ``running_hours_h`` (largest counter value
seen), so an hour row is exactly the combination of its minute rows and a day row of its hour rows:

* ``samples`` — online readings in the bucket (count); ``flow_sum`` Σ flow_m3_min (m³/min) and ``power_sum``
  Σ power_kw (kW) over those samples: averages are ``flow_sum / samples`` and ``power_sum / samples``.
* ``air_m3`` / ``energy_kwh`` — counter deltas attributed to the bucket (m³ free air, kWh). Device rows: a
  compressor's ``air_volume_m3``/``energy_kwh``, a flow meter's ``total_m3``, a power meter's ``energy_kwh``.
  Station rows: the station flow meter / power meter where it reported continuously, else the sum over the
  compressors (see :mod:`datasources.workers.recorder`); ``comp_air_m3`` / ``comp_energy_kwh`` always hold the compressor
  sum (meter cross-check).
* ``covered_s`` — seconds of the bucket covered by observed intervals; ``loaded_s``, ``unloaded_s``, ``stopped_s``,
  ``fault_s`` — compressor seconds by ``run_state`` (2, 1, 0, 3); station rows sum over compressors
  (compressor-seconds). ``unloaded_kwh`` — energy spent while unloaded (Σ power_kw × seconds / 3600).
* ``pressure_min`` / ``pressure_max`` — discharge pressure (MPa gauge; station rows: the summary's header
  pressure); ``temp_max`` — discharge temperature (°C), compressors only.
* ``gaps`` — intervals longer than the recorder's ``max_gap_s`` that ended in this bucket (not attributed);
  ``resets`` — counter resets detected.

A bucket without readings has **no row** (never zeros): a gap in the data stays visible as a gap.

Indexes: the primary keys serve per-station and per-region range scans (regions join ``stations`` and seek each
station's key range); ``bucket_ts`` indexes on minute tables serve the retention purge, on the day table the
nation-wide scans; ``(station_id, bucket_ts)`` on device tables lists a station's devices. On PostgreSQL (heap
tables, rows stored in arrival order) the station hour/day tables also have a covering index ``(station_id,
bucket_ts) INCLUDE (air_m3, energy_kwh)`` so trend queries are index-only scans (about 3× faster than the
sequential scan the planner otherwise picks for a province-year); SQLite does not need it (tables are clustered).
These two ``ix_energy_station_*_cover`` indexes exist only in migration 0002 (PostgreSQL branch), not in this
metadata, so SQLite autogenerate stays clean; on PostgreSQL, autogenerate must skip them (``include_object``).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from datasources.sql.models import Base, utcnow


#: rollup tables are clustered by their primary key on SQLite (``WITHOUT ROWID``): one B-tree instead of a table plus
#: a key index — half the writes, and a station's buckets are contiguous for range scans. PostgreSQL ignores it.
_NO_ROWID = {"sqlite_with_rowid": False}


class _Measures:
    """Columns shared by device and station rollups (see module docstring for units)."""

    bucket_ts: Mapped[int] = mapped_column(BigInteger, primary_key=True, sort_order=-5)
    samples: Mapped[int] = mapped_column(Integer, default=0)
    flow_sum: Mapped[float] = mapped_column(Float, default=0.0)
    power_sum: Mapped[float] = mapped_column(Float, default=0.0)
    air_m3: Mapped[float] = mapped_column(Float, default=0.0)
    energy_kwh: Mapped[float] = mapped_column(Float, default=0.0)
    covered_s: Mapped[float] = mapped_column(Float, default=0.0)
    loaded_s: Mapped[float] = mapped_column(Float, default=0.0)
    unloaded_s: Mapped[float] = mapped_column(Float, default=0.0)
    stopped_s: Mapped[float] = mapped_column(Float, default=0.0)
    fault_s: Mapped[float] = mapped_column(Float, default=0.0)
    unloaded_kwh: Mapped[float] = mapped_column(Float, default=0.0)
    pressure_min: Mapped[float | None] = mapped_column(Float, nullable=True)
    pressure_max: Mapped[float | None] = mapped_column(Float, nullable=True)
    gaps: Mapped[int] = mapped_column(Integer, default=0)
    resets: Mapped[int] = mapped_column(Integer, default=0)


class _DeviceMeasures(_Measures):
    device_id: Mapped[str] = mapped_column(String(48), primary_key=True, sort_order=-10)
    station_id: Mapped[str] = mapped_column(String(32), sort_order=-4)
    kind: Mapped[str] = mapped_column(String(32))
    temp_max: Mapped[float | None] = mapped_column(Float, nullable=True)
    running_hours_h: Mapped[float | None] = mapped_column(Float, nullable=True)


class _StationMeasures(_Measures):
    station_id: Mapped[str] = mapped_column(String(32), primary_key=True, sort_order=-10)
    comp_air_m3: Mapped[float] = mapped_column(Float, default=0.0)
    comp_energy_kwh: Mapped[float] = mapped_column(Float, default=0.0)


class _DayKeys:
    week_ts: Mapped[int] = mapped_column(BigInteger)
    month: Mapped[int] = mapped_column(Integer)


class EnergyDeviceMinute(_DeviceMeasures, Base):
    """Per-device minute rollup (compressors, flow meters, power meters). Kept ``minute_retention_days``."""

    __tablename__ = "energy_device_minute"
    __table_args__ = (Index("ix_energy_device_minute_station", "station_id", "bucket_ts"),
                      Index("ix_energy_device_minute_bucket", "bucket_ts"), _NO_ROWID)


class EnergyDeviceHour(_DeviceMeasures, Base):
    """Per-device hour rollup."""

    __tablename__ = "energy_device_hour"
    __table_args__ = (Index("ix_energy_device_hour_station", "station_id", "bucket_ts"), _NO_ROWID)


class EnergyDeviceDay(_DayKeys, _DeviceMeasures, Base):
    """Per-device day rollup (day of China Standard Time)."""

    __tablename__ = "energy_device_day"
    __table_args__ = (Index("ix_energy_device_day_station", "station_id", "bucket_ts"), _NO_ROWID)


class EnergyStationMinute(_StationMeasures, Base):
    """Per-station minute rollup. Kept ``minute_retention_days``."""

    __tablename__ = "energy_station_minute"
    __table_args__ = (Index("ix_energy_station_minute_bucket", "bucket_ts"), _NO_ROWID)


class EnergyStationHour(_StationMeasures, Base):
    """Per-station hour rollup (trend queries at hour granularity)."""

    __tablename__ = "energy_station_hour"
    __table_args__ = (_NO_ROWID,)


class EnergyStationDay(_DayKeys, _StationMeasures, Base):
    """Per-station day rollup (trend queries at day / week / month granularity)."""

    __tablename__ = "energy_station_day"
    __table_args__ = (Index("ix_energy_station_day_bucket", "bucket_ts"), _NO_ROWID)


class RecorderStationState(Base):
    """The recorder's idempotency watermark of one station.

    ``last_ts_ms`` (epoch ms UTC) is the ``ts_ms`` of the newest station reading whose contribution is committed;
    a reading with ``ts_ms <= last_ts_ms`` is a replay (or out of order) and is skipped. ``devices`` is JSON:
    ``{device_id: [ts_ms, station_ts_ms, energy_kwh, air_m3, run_state, power_kw]}`` — the previous counter values
    and state from which the next deltas and durations are computed. ``last_entry_id`` is the stream id of that
    reading (diagnostics).
    """

    __tablename__ = "recorder_station_state"

    station_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_ts_ms: Mapped[int] = mapped_column(BigInteger)
    last_entry_id: Mapped[str] = mapped_column(String(40), default="")
    devices: Mapped[str] = mapped_column(Text, default="{}")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


DEVICE_TABLES = {"minute": EnergyDeviceMinute, "hour": EnergyDeviceHour, "day": EnergyDeviceDay}
STATION_TABLES = {"minute": EnergyStationMinute, "hour": EnergyStationHour, "day": EnergyStationDay}
