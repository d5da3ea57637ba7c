"""The station and device registry: commission real sites without code.

Validated add / update / remove / list of stations and their Modbus devices, and an all-or-nothing import of a
CSV or XLSX file. Registered stations are real (``simulated=False``): the simulator never serves them and
``seed`` never deletes them (:func:`datasources.sql.repository.save_fleet`).

Import file format (one sheet / one CSV table, **one row per device**, the station columns repeated on every row of
the station; a row with an empty ``device_id`` registers a station without devices, e.g. one under construction).
The header is the first non-empty row; column names are case-insensitive; unknown columns are an error (typos must
not be silently ignored). ``python -m dashboard devices template`` writes an example (:func:`template_rows`).

=============================  ====================================================================================
column                         meaning
=============================  ====================================================================================
station_id                     1–32 of ``A-Z a-z 0-9 _ . -``, starting with a letter or digit (required)
station_name, station_name_en  display names (Chinese required, English optional)
station_kind                   standalone_module | smart_station | central_station (or 单机模块 / 智慧空压站 / 集中空压站)
lifecycle                      built | under_construction | idle | maintenance (or 已建 / 在建 / 空闲 / 维护); only a
                               ``built`` station may have devices
lon, lat                       degrees in the row's ``crs`` (default the import's ``crs`` option, WGS84)
crs                            WGS84 | GCJ02 | BD09 (:mod:`geo.crs`); stored coordinates are always WGS-84
province_adcode, city_adcode   optional 6-digit adcodes; derived from the point (:meth:`geo.regions.RegionIndex
                               .locate`) when empty, and must match the point when given
capacity_m3_min, partner       installed free air delivery (default: sum of the compressors' rated flow), operator
device_id                      ``<station_id>-<suffix>`` (``ST0101-C1``), ≤ 48 characters
device_kind                    compressor | dryer | flow_meter | power_meter | station_io | pipe_sensor
model                          a profile model (``model:`` of a file in the profiles folder, ``CC_PROFILES_DIR``);
                               the profile's kind must be the device kind
transport                      tcp (default) | rtu_over_tcp | rtu
host, port                     IP / host name and TCP port 1..65535; for ``rtu`` the serial port path and 0 / empty
unit_id                        Modbus unit id 1..247; 0 only for ``tcp`` devices that ignore it
baudrate, parity, stopbits,    serial line (rtu / rtu_over_tcp): baud rate of the standard series 1200…115200,
bytesize                       N|E|O, 1|2, 7|8 (defaults 9600 N 1 8)
rated_flow_m3_min,             compressor ratings (rated flow required > 0 for compressors; specific power defaults
rated_power_kw,                to rated power / rated flow)
specific_power_kw_per_m3_min
timeout_s, retries,            per-device poller overrides, empty = the poller's default: timeout 0 < s ≤ 60,
offline_after, poll_interval_s, retries 0..10, offline_after 1..100, poll interval 0.1..3600 s, max_gap 0..125,
max_gap, max_registers_per_read  max_registers_per_read 1..125 (Modbus FC 3/4 carry at most 125 registers)
=============================  ====================================================================================

Rules checked for every change: the fields above; ``(host, port, unit_id)`` not used by any other device (in the
file or in the database); a real device's ``(host, port)`` not served by the simulator (a simulated station's
device on the same endpoint: the simulator would answer in the real device's place); a simulated demo station
cannot be changed through the registry (``seed`` owns it).

Imports run in ONE transaction: every row is validated first; any error → nothing is written and the errors list
row number (the spreadsheet / CSV line as the user sees it; 0 = the file), column and reason. An imported station
that exists (real) is updated and its device list replaced by the file's rows.

After every committed change a notification is published on Redis channel :data:`REGISTRY_CHANNEL` when a client is
given: JSON ``{"v": 1, "ts_ms": <epoch ms UTC>, "action": "<action>", "station_ids": [...]}``; the poller
(``python -m dashboard poll``) reloads the fleet on it. Every change — and every rejected one — is written to the
audit log (:class:`datasources.sql.models.AuditEntry`) with the actor, in the same transaction as the change.
"""
from __future__ import annotations

import dataclasses
import io
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from sqlalchemy import Engine, delete, select, true
from sqlalchemy.orm import Session

from datasources.sql.audit import audit_row, insert_audit
from datasources.sql.fleet_spec import DeviceSpec, StationSpec
# row validation (the pydantic row models StationRow / DeviceRow) is datasources.ingest.registry_rows
from datasources.ingest.registry_rows import Issue, RegistryError, validate_device, validate_station  # noqa: F401
from datasources.ingest.registry_rows import Issues as _Issues
from datasources.ingest.registry_rows import blank as _blank
from datasources.ingest.registry_rows import cell_text as _text
from datasources.sql.models import Device, Station
from datasources.sql.repository import load_fleet, load_station, write_station

#: Redis pub/sub channel of registry changes (schema version :data:`SCHEMA_VERSION`)
REGISTRY_CHANNEL = "cc:registry"
SCHEMA_VERSION = 1
#: largest import file accepted, bytes
MAX_IMPORT_BYTES = 10 * 1024 * 1024

#: columns of the import file in template order
STATION_COLUMNS = ("station_id", "station_name", "station_name_en", "station_kind", "lifecycle", "lon", "lat", "crs",
                   "province_adcode", "city_adcode", "capacity_m3_min", "partner")
DEVICE_FILE_COLUMNS = ("device_id", "device_kind", "model", "transport", "host", "port", "unit_id", "baudrate",
                       "parity", "stopbits", "bytesize", "rated_flow_m3_min", "rated_power_kw",
                       "specific_power_kw_per_m3_min", "timeout_s", "retries", "offline_after", "poll_interval_s",
                       "max_gap", "max_registers_per_read")
IMPORT_COLUMNS = STATION_COLUMNS + DEVICE_FILE_COLUMNS
#: station fields as accepted by :func:`add_station` (the file's ``station_*`` columns without the prefix)
_STATION_ALIASES = {"station_name": "name", "station_name_en": "name_en", "station_kind": "kind"}
_DEVICE_ALIASES = {"device_kind": "kind"}


# ------------------------------------------------------------------------------------------------ errors / report


@dataclass
class ImportResult:
    """Outcome of :func:`import_devices`.

    Attributes:
        filename, dry_run: what was imported and whether it was only checked.
        rows_read: data rows found. stations / devices: ids accepted (in file order).
        errors: the problems (≤ :data:`MAX_ISSUES`); ``written`` is True only when the change was committed.
    """

    filename: str
    dry_run: bool = False
    rows_read: int = 0
    stations: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)
    written: bool = False

    @property
    def ok(self) -> bool:
        """True when every row validated."""
        return not self.errors

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"ok": self.ok, "filename": self.filename, "dry_run": self.dry_run, "rows_read": self.rows_read,
                "stations": self.stations, "devices": self.devices, "written": self.written,
                "errors": [e._asdict() for e in self.errors]}


# ------------------------------------------------------------------------------------------------ helpers


def current_profiles() -> dict:
    """Device profiles keyed by model: the folder ``CC_PROFILES_DIR`` when set, loaded leniently (invalid files are
    skipped and logged), else the packaged ones (:func:`datasources.modbus.profiles.default_profiles`)."""
    from datasources.modbus import profiles as prof  # noqa: PLC0415
    from datasources.settings import get_settings  # noqa: PLC0415

    lenient = getattr(prof, "load_profiles_lenient", None)
    folder_of = getattr(prof, "profiles_dir", None)
    if get_settings().profiles_dir is not None and lenient and folder_of:
        profiles, _errors = lenient(folder_of())
        return profiles
    return prof.default_profiles()


def _region_index(region_index):
    if region_index is not None:
        return region_index
    from geo.regions import get_region_index  # noqa: PLC0415 — heavy, cached on disk

    return get_region_index()


def _norm_host(host: str) -> str:
    h = host.strip().lower()
    return "127.0.0.1" if h in ("localhost", "::1", "0.0.0.0") else h


def _with_capacity(station: StationSpec) -> StationSpec:
    if station.capacity_m3_min:
        return station
    total = round(sum(d.rated_flow_m3_min for d in station.devices if d.kind == "compressor"), 1)
    return dataclasses.replace(station, capacity_m3_min=total)


def _check_fleet(session: Session, stations: list[StationSpec], issues: _Issues,
                 rows: Mapping[str, int] | None = None) -> None:
    """Conflicts of ``stations`` (the new state of these stations) with each other and with the rest of the
    database: lifecycle vs devices, device ids, ``(host, port, unit_id)``, simulator endpoints."""
    rows = rows or {}
    mine = {s.station_id for s in stations}
    others = session.execute(select(Device.device_id, Device.station_id, Device.host, Device.port, Device.unit_id,
                                    Station.simulated).join(Station, Station.station_id == Device.station_id)
                             .where(Device.station_id.not_in(mine) if mine else true())).all()
    taken_id = {r.device_id: r.station_id for r in others}
    taken_addr = {(_norm_host(r.host), r.port, r.unit_id): r.device_id for r in others}
    sim_ep = {}
    for r in others:
        if r.simulated:
            sim_ep.setdefault((_norm_host(r.host), r.port), r.station_id)
    seen_id: dict[str, str] = {}
    seen_addr: dict[tuple, str] = {}
    for st in stations:
        if st.devices and st.lifecycle != "built":
            issues.add(rows.get(st.devices[0].device_id, 0), "lifecycle",
                       f"station {st.station_id} is {st.lifecycle}: only a built station may have devices")
        for d in st.devices:
            row = rows.get(d.device_id, 0)
            if d.device_id in taken_id:
                issues.add(row, "device_id", f"{d.device_id} already belongs to station {taken_id[d.device_id]}")
            elif d.device_id in seen_id:
                issues.add(row, "device_id", f"{d.device_id} appears twice")
            seen_id.setdefault(d.device_id, st.station_id)
            addr = (_norm_host(d.host), d.port, d.unit_id)
            where = f"{d.host}:{d.port} unit {d.unit_id}" if d.transport != "rtu" else f"{d.host} unit {d.unit_id}"
            if addr in taken_addr:
                issues.add(row, "unit_id", f"{where} is already used by device {taken_addr[addr]}")
            elif addr in seen_addr:
                issues.add(row, "unit_id", f"{where} is also used by device {seen_addr[addr]}")
            seen_addr.setdefault(addr, d.device_id)
            if (addr[0], addr[1]) in sim_ep and d.transport != "rtu":
                issues.add(row, "port", f"{d.host}:{d.port} is served by the simulator (demo station "
                                        f"{sim_ep[(addr[0], addr[1])]}): choose the real device's address")


def _audit(session: Session, actor: str, role: str, action: str, target: str, result: str, detail: Any) -> None:
    insert_audit(session, audit_row(actor, role, action, target, result, detail))


def _audit_rejected(engine: Engine, actor: str, role: str, action: str, target: str, issues: list[Issue]) -> None:
    with Session(engine) as s, s.begin():
        _audit(s, actor, role, action, target, "rejected", {"errors": [list(i) for i in issues[:20]],
                                                            "n_errors": len(issues)})


def notify(redis_client, action: str, station_ids: Iterable[str]) -> None:
    """Publish ``{"v": 1, "ts_ms", "action", "station_ids"}`` on :data:`REGISTRY_CHANNEL` (no-op without a client;
    a Redis error is logged, the change is already committed and the poller's periodic re-check catches up)."""
    if redis_client is None:
        return
    msg = {"v": SCHEMA_VERSION, "ts_ms": int(time.time() * 1000), "action": action, "station_ids": sorted(station_ids)}
    try:
        redis_client.publish(REGISTRY_CHANNEL, json.dumps(msg))
    except Exception as exc:  # noqa: BLE001 — redis errors of any client flavour
        import logging  # noqa: PLC0415

        logging.getLogger(__name__).warning("registry notification not published: %s", exc)


def _write_station(session: Session, spec: StationSpec) -> None:
    write_station(session, spec)


def _commit(engine: Engine, stations: list[StationSpec], *, action: str, target: str, actor: str, role: str,
            detail: dict, redis_client=None, remove: Iterable[str] = (), rows: Mapping[str, int] | None = None,
            dry_run: bool = False) -> None:
    issues = _Issues()
    with Session(engine) as s, s.begin():
        existing = {r.station_id: r.simulated for r in
                    s.execute(select(Station.station_id, Station.simulated)
                              .where(Station.station_id.in_([st.station_id for st in stations] + list(remove))))}
        for st in stations:
            if existing.get(st.station_id):
                issues.add(rows.get(st.station_id, 0) if rows else 0, "station_id",
                           f"{st.station_id} is a simulated demo station (managed by `seed`), not a registered one")
        for sid in remove:
            if existing.get(sid):
                issues.add(0, "station_id", f"{sid} is a simulated demo station (managed by `seed`)")
        _check_fleet(s, stations, issues, rows)
        if not issues and not dry_run:
            for sid in remove:
                s.execute(delete(Device).where(Device.station_id == sid))
                s.execute(delete(Station).where(Station.station_id == sid))
            for st in stations:
                _write_station(s, st)
            _audit(s, actor, role, action, target, "ok", detail)
    if issues:
        if not dry_run:
            _audit_rejected(engine, actor, role, action, target, list(issues))
        raise RegistryError(list(issues), 409)
    if not dry_run:
        notify(redis_client, action, [st.station_id for st in stations] + list(remove))


def _not_found(what: str, ident: str) -> RegistryError:
    return RegistryError([Issue(0, f"{what}_id", f"no {what} {ident!r}")], 404)


# ------------------------------------------------------------------------------------------------ the one station path
# used by the map-layer import of stations too (:mod:`datasources.ingest.stations`): one validation
# (:func:`validate_station`), one all-or-nothing write and one audit entry for every station import


def commit_stations(engine: Engine, stations: list[StationSpec], *, action: str, target: str, actor: str, role: str,
                    detail: dict, rows: Mapping[str, int] | None = None, redis_client=None) -> None:
    """Write ``stations`` (validated, :func:`validate_station`) in one transaction with the ``ok`` audit entry, after
    the registry's conflict checks (a simulated demo station is not overwritten; device ids and addresses).

    Raises:
        RegistryError: a conflict (status 409; nothing written, the rejection audited).
    """
    _commit(engine, stations, action=action, target=target, actor=actor, role=role, detail=detail, rows=rows,
            redis_client=redis_client)


def audit_rejected(engine: Engine, actor: str, role: str, action: str, target: str, issues: list) -> None:
    """The audit entry of a rejected change (``result="rejected"``, the first 20 problems and their count)."""
    _audit_rejected(engine, actor, role, action, target, [Issue(*i) for i in issues])


def existing_station_ids(engine: Engine, station_ids: list[str]) -> set[str]:
    """Which of ``station_ids`` are in the database already."""
    found: set[str] = set()
    with Session(engine) as s:
        for i in range(0, len(station_ids), 500):
            found.update(s.scalars(select(Station.station_id).where(Station.station_id.in_(station_ids[i:i + 500]))))
    return found


# ------------------------------------------------------------------------------------------------ public API


def list_stations(engine: Engine, *, simulated: bool | None = None) -> list[StationSpec]:
    """Stations with their devices, ordered by id; ``simulated`` True / False filters demo / registered ones."""
    fleet = load_fleet(engine)
    return fleet if simulated is None else [s for s in fleet if s.simulated == simulated]


def add_station(engine: Engine, data: Mapping[str, Any], *, actor: str, role: str = "", devices: Iterable[Mapping] = (),
                crs: str = "WGS84", profiles=None, region_index=None, redis_client=None) -> StationSpec:
    """Register a new real station (optionally with devices) in one transaction. Audited ``registry.station.add``.

    Args:
        data: station fields (see :func:`validate_station`). devices: device field dicts (:func:`validate_device`).
        actor, role: who acts (the audit log). crs: datum of ``lon``/``lat``.
    Returns:
        the stored :class:`StationSpec` (WGS-84).
    Raises:
        RegistryError: 400 invalid fields, 409 the station exists or an address is taken (nothing written; audited
        ``rejected``).
    """
    action = "registry.station.add"
    issues = _Issues()
    fields = validate_station({_STATION_ALIASES.get(k, k): v for k, v in data.items()}, crs=crs,
                              region_index=region_index, issues=issues)
    profiles = current_profiles() if profiles is None else profiles
    sid = fields["station_id"] if fields else _text(data.get("station_id") or "")
    devs = [validate_device(d, sid, profiles, issues=issues) for d in devices]
    if issues:
        _audit_rejected(engine, actor, role, action, f"station:{sid}", list(issues))
        raise RegistryError(list(issues), 400)
    if load_station(engine, sid) is not None:
        err = RegistryError([Issue(0, "station_id", f"station {sid} exists")], 409)
        _audit_rejected(engine, actor, role, action, f"station:{sid}", err.issues)
        raise err
    spec = _with_capacity(StationSpec(**fields, devices=tuple(devs)))
    _commit(engine, [spec], action=action, target=f"station:{sid}", actor=actor, role=role,
            detail={"station": dataclasses.asdict(spec)}, redis_client=redis_client)
    return spec


def update_station(engine: Engine, station_id: str, changes: Mapping[str, Any], *, actor: str, role: str = "",
                   crs: str = "WGS84", region_index=None, redis_client=None) -> StationSpec:
    """Change fields of a registered station (devices kept). Audited ``registry.station.update``.

    Raises:
        RegistryError: 404 unknown, 400 invalid, 409 simulated station / devices on a station that is no longer built.
    """
    old = load_station(engine, station_id)
    if old is None:
        raise _not_found("station", station_id)
    base = {k: getattr(old, k) for k in ("station_id", "name", "name_en", "kind", "lifecycle", "lon", "lat",
                                          "province_adcode", "city_adcode", "capacity_m3_min", "partner")}
    changes = {_STATION_ALIASES.get(k, k): v for k, v in changes.items() if k != "station_id"}
    if ("lon" in changes or "lat" in changes) and not {"province_adcode", "city_adcode"} & set(changes):
        base.pop("province_adcode"), base.pop("city_adcode")
    fields = validate_station({**base, **changes}, crs=crs if ("lon" in changes or "lat" in changes) else "WGS84",
                              region_index=region_index)
    spec = dataclasses.replace(old, **fields)  # fields the registry does not edit (site record, simulated) stay
    _commit(engine, [spec], action="registry.station.update", target=f"station:{station_id}", actor=actor, role=role,
            detail={"changes": dict(changes)}, redis_client=redis_client)
    return spec


def add_device(engine: Engine, station_id: str, data: Mapping[str, Any], *, actor: str, role: str = "",
               profiles=None, redis_client=None) -> DeviceSpec:
    """Add one device to a registered, built station. Audited ``registry.device.add``.

    Raises:
        RegistryError: 404 unknown station, 400 invalid, 409 id / address taken, simulated or not built station.
    """
    st = load_station(engine, station_id)
    if st is None:
        raise _not_found("station", station_id)
    try:
        dev = validate_device(data, station_id, profiles)
    except RegistryError as err:
        _audit_rejected(engine, actor, role, "registry.device.add", f"station:{station_id}", err.issues)
        raise
    if any(d.device_id == dev.device_id for d in st.devices):
        raise RegistryError([Issue(0, "device_id", f"{dev.device_id} exists")], 409)
    spec = dataclasses.replace(st, devices=st.devices + (dev,))
    _commit(engine, [spec], action="registry.device.add", target=f"device:{dev.device_id}", actor=actor, role=role,
            detail={"device": dataclasses.asdict(dev)}, redis_client=redis_client)
    return dev


def update_device(engine: Engine, device_id: str, changes: Mapping[str, Any], *, actor: str, role: str = "",
                  profiles=None, redis_client=None) -> DeviceSpec:
    """Change fields of a device of a registered station. Audited ``registry.device.update``.

    Raises:
        RegistryError: 404 unknown device, 400 invalid, 409 address taken / simulated station.
    """
    st = _station_of_device(engine, device_id)
    old = next(d for d in st.devices if d.device_id == device_id)
    changes = {_DEVICE_ALIASES.get(k, k): v for k, v in changes.items() if k not in ("device_id", "station_id")}
    dev = validate_device({**dataclasses.asdict(old), **changes}, st.station_id, profiles)
    spec = dataclasses.replace(st, devices=tuple(dev if d.device_id == device_id else d for d in st.devices))
    _commit(engine, [spec], action="registry.device.update", target=f"device:{device_id}", actor=actor, role=role,
            detail={"changes": dict(changes)}, redis_client=redis_client)
    return dev


def _station_of_device(engine: Engine, device_id: str) -> StationSpec:
    with Session(engine) as s:
        sid = s.scalar(select(Device.station_id).where(Device.device_id == device_id))
    st = load_station(engine, sid) if sid else None
    if st is None:
        raise _not_found("device", device_id)
    return st


def remove_device(engine: Engine, device_id: str, *, actor: str, role: str = "", redis_client=None) -> StationSpec:
    """Remove one device of a registered station. Audited ``registry.device.remove``.

    Returns:
        the station as it is now. Raises: RegistryError 404 unknown device, 409 simulated station.
    """
    st = _station_of_device(engine, device_id)
    spec = dataclasses.replace(st, devices=tuple(d for d in st.devices if d.device_id != device_id))
    _commit(engine, [spec], action="registry.device.remove", target=f"device:{device_id}", actor=actor, role=role,
            detail={"station_id": st.station_id}, redis_client=redis_client)
    return spec


def remove_station(engine: Engine, station_id: str, *, actor: str, role: str = "", redis_client=None) -> StationSpec:
    """Remove a registered station with its devices. Audited ``registry.station.remove``.

    Returns:
        the removed station. Raises: RegistryError 404 unknown, 409 simulated (demo) station.
    """
    st = load_station(engine, station_id)
    if st is None:
        raise _not_found("station", station_id)
    _commit(engine, [], remove=[station_id], action="registry.station.remove", target=f"station:{station_id}",
            actor=actor, role=role, detail={"devices": [d.device_id for d in st.devices]}, redis_client=redis_client)
    return st


# ------------------------------------------------------------------------------------------------ import


def _read_rows(data: bytes, filename: str) -> tuple[list[str], list[tuple[int, dict]]]:
    from datasources.ingest.importers import read_table  # noqa: PLC0415

    name = filename.lower()
    if not (name.endswith(".csv") or name.endswith(".txt") or name.endswith(".xlsx") or name.endswith(".xlsm")):
        raise ValueError(f"cannot tell the format of {filename!r}: use .csv or .xlsx")
    _fmt, header, rows = read_table(data, filename, layer="devices")
    cols = [re.sub(r"[\s\-]+", "_", _text(h).lower()) if h is not None else "" for h in header]
    return cols, [(n, {cols[i]: v for i, v in cells.items() if i < len(cols) and cols[i]}) for n, cells, _g in rows]


def import_devices(engine: Engine, data: bytes, filename: str, *, actor: str, role: str = "", dry_run: bool = False,
                   crs: str = "WGS84", profiles=None, region_index=None, redis_client=None) -> ImportResult:
    """Import stations and devices from a CSV / XLSX file (format: module docstring), all or nothing.

    Args:
        data: file bytes (≤ :data:`MAX_IMPORT_BYTES`). filename: its name (``.csv`` / ``.xlsx``).
        dry_run: validate everything (also against the database) but write nothing (not audited).
        crs: datum of ``lon``/``lat`` for rows without a ``crs`` value.
    Returns:
        :class:`ImportResult`; ``errors`` list row, column and reason, and then nothing was written.
        Audited ``registry.import`` (``ok`` / ``rejected``) unless ``dry_run``.
    """
    res = ImportResult(filename=filename, dry_run=dry_run)
    action, target = "registry.import", f"import:{filename}"[:128]
    issues = _Issues()
    rows: list = []
    if len(data) > MAX_IMPORT_BYTES:
        issues.add(0, "file", f"larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB")
    else:
        try:
            cols, rows = _read_rows(data, filename)
            unknown = [c for c in cols if c and c not in IMPORT_COLUMNS]
            for c in unknown:
                issues.add(1, c, f"unknown column (expected: {', '.join(IMPORT_COLUMNS)})")
            for c in ("station_id", "station_name", "station_kind", "lifecycle", "lon", "lat"):
                if c not in cols:
                    issues.add(1, c, "required column is missing")
        except ValueError as exc:
            issues.add(0, "file", str(exc))
    res.rows_read = len(rows)
    if not rows and not issues:
        issues.add(0, "file", "no data rows")
    profiles = current_profiles() if profiles is None else profiles
    stations: dict[str, dict] = {}
    first_row: dict[str, int] = {}
    station_raw: dict[str, dict] = {}
    devices: dict[str, list[DeviceSpec]] = {}
    row_of: dict[str, int] = {}
    if not issues:
        idx = _region_index(region_index)
        for n, raw in rows:
            sraw = {_STATION_ALIASES.get(c, c): raw.get(c) for c in STATION_COLUMNS}
            sid = _text(sraw.get("station_id")) if not _blank(sraw.get("station_id")) else ""
            if sid and sid in stations:
                prev = station_raw[sid]
                for c in STATION_COLUMNS:
                    k = _STATION_ALIASES.get(c, c)
                    if not _blank(sraw.get(k)) and _text(sraw.get(k)) != _text(prev.get(k) or ""):
                        issues.add(n, c, f"differs from row {first_row[sid]} of station {sid} "
                                         f"({_text(sraw.get(k))!r} ≠ {_text(prev.get(k) or '')!r})")
            elif sid not in stations:
                fields = validate_station(sraw, row=n, crs=crs, region_index=idx, issues=issues)
                if fields is not None:
                    stations[sid] = fields
                    first_row[sid] = n
                    station_raw[sid] = sraw
                    row_of[sid] = n
            if _blank(raw.get("device_id")):
                if any(not _blank(raw.get(c)) for c in DEVICE_FILE_COLUMNS):
                    issues.add(n, "device_id", "is required when device columns are filled")
                continue
            dev = validate_device({c: raw.get(c) for c in DEVICE_FILE_COLUMNS}, sid, profiles, row=n, issues=issues)
            if dev is not None and sid in stations:
                devices.setdefault(sid, []).append(dev)
                row_of[dev.device_id] = n
    specs = [_with_capacity(StationSpec(**f, devices=tuple(devices.get(sid, ())))) for sid, f in stations.items()]
    if not issues:
        try:
            _commit(engine, specs, action=action, target=target, actor=actor, role=role, rows=row_of, dry_run=dry_run,
                    detail={"rows": res.rows_read, "stations": [s.station_id for s in specs],
                            "devices": sum(len(s.devices) for s in specs)}, redis_client=redis_client)
            res.written = not dry_run
        except RegistryError as err:
            res.errors = sorted(err.issues, key=lambda i: (i.row, i.field))
            return res  # _commit audited the rejection
        except Exception as exc:  # noqa: BLE001 — the database refused: rolled back, reported, audited
            issues.add(0, "", f"the database refused the import, nothing was written: "
                              f"{str(getattr(exc, 'orig', None) or exc).strip()[:300]}")
    res.errors = sorted(issues, key=lambda i: (i.row, i.field))
    if res.errors:
        if not dry_run:
            _audit_rejected(engine, actor, role, action, target, res.errors)
        return res
    res.stations = [s.station_id for s in specs]
    res.devices = [d.device_id for s in specs for d in s.devices]
    return res


def template_rows() -> list[list[Any]]:
    """Header and two example rows of the import file (a Suzhou station with a compressor behind a Modbus TCP
    gateway and a dryer on an RTU-over-TCP converter, plus a station under construction)."""
    ex = {
        "station_id": "SZ0001", "station_name": "苏州工业园区一号空压站", "station_name_en": "Suzhou SIP Station 1",
        "station_kind": "smart_station", "lifecycle": "built", "lon": 120.7325, "lat": 31.3162, "crs": "WGS84",
        "province_adcode": "320000", "city_adcode": "320500", "capacity_m3_min": "", "partner": "华东压缩机服务",
    }
    c1 = {"device_id": "SZ0001-C1", "device_kind": "compressor", "model": "cc-fixed-speed-compressor",
          "transport": "tcp", "host": "192.168.10.21", "port": 502, "unit_id": 1, "rated_flow_m3_min": 20,
          "rated_power_kw": 132, "timeout_s": 1.0, "retries": 1, "max_registers_per_read": 64}
    d1 = {"device_id": "SZ0001-D1", "device_kind": "dryer", "model": "cc-refrigerated-dryer",
          "transport": "rtu_over_tcp", "host": "192.168.10.30", "port": 4001, "unit_id": 3, "baudrate": 9600,
          "parity": "E", "stopbits": 1, "bytesize": 8}
    uc = {"station_id": "SZ0002", "station_name": "苏州相城空压站（在建）", "station_name_en": "Suzhou Xiangcheng",
          "station_kind": "central_station", "lifecycle": "under_construction", "lon": 120.6421, "lat": 31.4690,
          "crs": "WGS84", "capacity_m3_min": 120}
    out: list[list[Any]] = [list(IMPORT_COLUMNS)]
    for row in ({**ex, **c1}, {**ex, **d1}, uc):
        out.append([row.get(c, "") for c in IMPORT_COLUMNS])
    return out


def write_template(fmt: str = "csv") -> bytes:
    """The template (:func:`template_rows`) as CSV (UTF-8 with BOM, so Excel shows the Chinese) or XLSX bytes.

    Raises:
        ValueError: ``fmt`` not ``csv`` / ``xlsx``.
    """
    rows = template_rows()
    if fmt == "csv":
        import csv  # noqa: PLC0415

        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        return ("\ufeff" + buf.getvalue()).encode("utf-8")
    if fmt == "xlsx":
        import openpyxl  # noqa: PLC0415

        wb = openpyxl.Workbook()
        ws = wb.active
        ws.title = "devices"
        for r in rows:
            ws.append(r)
        out = io.BytesIO()
        wb.save(out)
        return out.getvalue()
    raise ValueError(f"template format must be csv or xlsx, not {fmt!r}")


__all__ = ["IMPORT_COLUMNS", "REGISTRY_CHANNEL", "ImportResult", "Issue", "RegistryError", "add_device", "add_station",
           "current_profiles", "import_devices", "list_stations", "notify", "remove_device", "remove_station",
           "template_rows", "update_device", "update_station", "validate_device", "validate_station",
           "write_template"]
