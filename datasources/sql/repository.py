"""Read and write the fleet (stations and devices) in SQL. Writes are single transactions: all or nothing."""
from __future__ import annotations

import json
from collections import Counter
from datetime import date
from typing import Iterable

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session, selectinload

from datasources.sql.fleet_spec import DeviceSpec, StationSpec
from datasources.sql.models import Device, Station


class FleetConflict(ValueError):
    """Seeding would overwrite or steal from a real (registered) site; nothing was written.

    Attributes:
        conflicts: one human-readable line per conflict (station id reused, endpoint taken).
    """

    def __init__(self, conflicts: list[str]):
        self.conflicts = list(conflicts)
        more = f" (+{len(conflicts) - 10} more)" if len(conflicts) > 10 else ""
        super().__init__("the simulated fleet conflicts with registered sites: " + "; ".join(conflicts[:10]) + more)


def _norm_host(host: str) -> str:
    h = (host or "").strip().lower()
    return "127.0.0.1" if h in ("localhost", "::1", "0.0.0.0") else h


def _sim_conflicts(session: Session, stations: list[StationSpec]) -> list[str]:
    """Simulated ``stations`` against the real ones in SQL: a reused station id, or a real device whose
    ``(host, port)`` a simulated device would take (the simulator binds that port and would answer for it)."""
    sim = [s for s in stations if s.simulated]
    if not sim:
        return []
    out: list[str] = []
    real_ids = set(session.scalars(select(Station.station_id).where(Station.simulated.is_(False))))
    for s in sim:
        if s.station_id in real_ids:
            out.append(f"station id {s.station_id} belongs to a registered site")
    real_eps: dict[tuple[str, int], str] = {}
    for dev_id, host, port, transport in session.execute(
            select(Device.device_id, Device.host, Device.port, Device.transport)
            .join(Station, Station.station_id == Device.station_id).where(Station.simulated.is_(False))):
        if transport != "rtu":
            real_eps.setdefault((_norm_host(host), port), dev_id)
    seen: set[tuple[str, int]] = set()
    for s in sim:
        for d in s.devices:
            ep = (_norm_host(d.host), d.port)
            if ep in real_eps and ep not in seen:
                seen.add(ep)
                out.append(f"{d.host}:{d.port} is used by registered device {real_eps[ep]} "
                           f"(move the simulator with CC_SIM_HOST / CC_SIM_BASE_PORT)")
    return out


def save_fleet(engine: Engine, stations: Iterable[StationSpec], replace: bool = False) -> int:
    """Insert or update stations and their devices in one transaction.

    Args:
        replace: delete every **simulated** station not in ``stations`` first (re-seeding the demo fleet). Real
            (registered, ``simulated=False``) stations are never deleted here.
    Returns:
        number of stations written.
    Raises:
        FleetConflict: a simulated station would reuse a registered station's id, or a simulated device the
            ``(host, port)`` of a registered device; nothing is written.
        sqlalchemy.exc.IntegrityError: e.g. two devices on the same host/port/unit id; nothing is written.
    """
    stations = list(stations)
    with Session(engine) as session, session.begin():
        conflicts = _sim_conflicts(session, stations)
        if conflicts:
            raise FleetConflict(conflicts)
        if replace:
            keep = {s.station_id for s in stations}
            existing = set(session.scalars(select(Station.station_id).where(Station.simulated.is_(True))))
            gone = existing - keep
            if gone:
                session.execute(delete(Device).where(Device.station_id.in_(gone)))
                session.execute(delete(Station).where(Station.station_id.in_(gone)))
        for spec in stations:
            write_station(session, spec)
    return len(stations)


def write_station(session: Session, spec: StationSpec) -> None:
    """Insert or update one station and replace its devices inside the caller's transaction (flushed, so a
    constraint violation raises here)."""
    row = session.get(Station, spec.station_id)
    if row is None:
        row = Station(station_id=spec.station_id)
        session.add(row)
    for key in ("name", "name_en", "kind", "lifecycle", "lon", "lat", "province_adcode", "city_adcode",
                "capacity_m3_min", "partner", "simulated", *RECORD_COLUMNS):
        setattr(row, key, getattr(spec, key))
    row.idle_since = date.fromisoformat(spec.idle_since) if spec.idle_since else None
    row.build_milestones = (json.dumps([{"key": k, "planned": p or None, "done": d or None}
                                        for k, p, d in spec.build_milestones]) if spec.build_milestones else "")
    row.devices = [Device(**{k: getattr(d, k) for k in DEVICE_COLUMNS}) for d in spec.devices]
    session.flush()


#: site-record columns of :class:`~datasources.sql.models.Station` copied 1:1 from :class:`StationSpec` (migration 0006;
#: ``idle_since`` and ``build_milestones`` are converted)
RECORD_COLUMNS = ("partner_contact", "partner_phone", "lease_cny_month", "market_lease_cny_month")


def _milestones(text: str | None) -> tuple[tuple[str, str, str], ...]:
    try:
        items = json.loads(text) if text else []
    except ValueError:
        return ()
    return tuple((str(m.get("key", "")), m.get("planned") or "", m.get("done") or "") for m in items
                 if isinstance(m, dict))


#: the :class:`~datasources.sql.models.Device` columns that map 1:1 onto :class:`DeviceSpec` fields
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
        devices=tuple(device_spec(d) for d in row.devices),
        **{k: getattr(row, k) for k in RECORD_COLUMNS},
        idle_since=row.idle_since.isoformat() if row.idle_since else "",
        build_milestones=_milestones(row.build_milestones))


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
