"""Read and write the fleet (stations and devices) in SQL. Writes are single transactions: all or nothing."""
from __future__ import annotations

from collections import Counter
from typing import Iterable

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session, selectinload

from datasources.fleet_spec import DeviceSpec, StationSpec
from datasources.models import Device, Station


def save_fleet(engine: Engine, stations: Iterable[StationSpec], replace: bool = False) -> int:
    """Insert or update stations and their devices in one transaction.

    Args:
        replace: delete every station not in ``stations`` first (used when re-seeding the simulated fleet).
    Returns:
        number of stations written.
    Raises:
        sqlalchemy.exc.IntegrityError: e.g. two devices on the same host/port/unit id; nothing is written.
    """
    stations = list(stations)
    with Session(engine) as session, session.begin():
        if replace:
            keep = {s.station_id for s in stations}
            existing = set(session.scalars(select(Station.station_id)))
            gone = existing - keep
            if gone:
                session.execute(delete(Device).where(Device.station_id.in_(gone)))
                session.execute(delete(Station).where(Station.station_id.in_(gone)))
        for spec in stations:
            row = session.get(Station, spec.station_id)
            if row is None:
                row = Station(station_id=spec.station_id)
                session.add(row)
            for key in ("name", "name_en", "kind", "lifecycle", "lon", "lat", "province_adcode", "city_adcode",
                        "capacity_m3_min", "partner", "simulated"):
                setattr(row, key, getattr(spec, key))
            row.devices = [Device(**{k: getattr(d, k) for k in DEVICE_COLUMNS}) for d in spec.devices]
            session.flush()
    return len(stations)


#: the :class:`~datasources.models.Device` columns that map 1:1 onto :class:`DeviceSpec` fields
DEVICE_COLUMNS = ("device_id", "kind", "model", "host", "port", "unit_id", "rated_flow_m3_min", "rated_power_kw",
                  "specific_power_kw_per_m3_min", "transport", "baudrate", "parity", "stopbits", "bytesize",
                  "timeout_s", "retries", "offline_after", "poll_interval_s", "max_gap", "max_registers_per_read")


def device_spec(d: Device) -> DeviceSpec:
    """The :class:`DeviceSpec` of one SQL row."""
    return DeviceSpec(station_id=d.station_id, **{k: getattr(d, k) for k in DEVICE_COLUMNS})


def _to_spec(row: Station) -> StationSpec:
    return StationSpec(
        station_id=row.station_id, name=row.name, name_en=row.name_en, kind=row.kind, lifecycle=row.lifecycle,
        lon=row.lon, lat=row.lat, province_adcode=row.province_adcode, city_adcode=row.city_adcode,
        capacity_m3_min=row.capacity_m3_min, partner=row.partner, simulated=bool(row.simulated),
        devices=tuple(device_spec(d) for d in row.devices))


def load_fleet(engine: Engine, province_adcode: str | None = None, city_adcode: str | None = None) -> list[StationSpec]:
    """Stations (with devices) ordered by id, optionally restricted to a province or city adcode."""
    stmt = select(Station).options(selectinload(Station.devices)).order_by(Station.station_id)
    if province_adcode:
        stmt = stmt.where(Station.province_adcode == province_adcode)
    if city_adcode:
        stmt = stmt.where(Station.city_adcode == city_adcode)
    with Session(engine) as session:
        return [_to_spec(r) for r in session.scalars(stmt)]


def load_station(engine: Engine, station_id: str) -> StationSpec | None:
    """One station with its devices, or ``None``."""
    with Session(engine) as session:
        row = session.get(Station, station_id, options=[selectinload(Station.devices)])
        return _to_spec(row) if row else None


def count_stations(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(Station)) or 0)


def lifecycle_counts(engine: Engine, group_by: str = "province_adcode") -> dict[str, Counter]:
    """``{adcode: Counter(lifecycle → n)}`` grouped by ``province_adcode`` or ``city_adcode``."""
    if group_by not in ("province_adcode", "city_adcode"):
        raise ValueError(f"group_by must be province_adcode or city_adcode, not {group_by!r}")
    col = getattr(Station, group_by)
    out: dict[str, Counter] = {}
    with Session(engine) as session:
        for adcode, lifecycle, n in session.execute(select(col, Station.lifecycle, func.count()).group_by(col, Station.lifecycle)):
            out.setdefault(adcode, Counter())[lifecycle] = n
    return out
