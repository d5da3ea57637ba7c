"""Row schemas of the station and device registry: one pydantic model per row kind, and the validation every
path to the registry shares (HTTP API, admin page, CLI, the registry's CSV / XLSX import and the map-layer station
import, :mod:`datasources.ingest.stations`).

* :class:`StationRow` — a station's fields (API names; a file's ``station_name``, ``station_name_en``,
  ``station_kind`` columns map to ``name``, ``name_en``, ``kind``);
* :class:`DeviceRow` — a device's fields (a file's ``device_kind`` column maps to ``kind``).

The models shape one row: types with the lax coercion a spreadsheet needs (``"5.0"`` is the integer 5,
``"1,250.5"`` a number, an empty cell / NaN the field's default, Chinese labels of kinds and lifecycles), ranges and
choices, each error worded as before (``300 is outside 0..247``). Rules that need more than one field or the
outside world — the device id's station prefix, the profile's model and kind, the transport's host / port / unit
id, the point inside China and its adcodes — are checked by :func:`validate_station` / :func:`validate_device`
once the row's fields are valid. Column formats: :mod:`datasources.ingest.registry`.

Every problem becomes an :class:`Issue` ``(row, field, message)``; pydantic's errors are translated by
:func:`ops.schema.error_parts` (the field is the column the user sees).
"""
from __future__ import annotations

import math
import re
from typing import Annotated, Any, Iterable, Mapping, NamedTuple, Optional

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from datasources.sql.fleet_spec import DEVICE_KINDS, LIFECYCLES, STATION_KINDS, TRANSPORTS, DeviceSpec
from ops.schema import error_parts

#: most error lines kept in a report
MAX_ISSUES = 500

STATION_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$")
_DEVICE_SUFFIX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.\-:]{0,126}[A-Za-z0-9])?$")  # host name, IPv4, IPv6
_SERIAL_RE = re.compile(r"^(/dev/[A-Za-z0-9_./\-]+|COM[0-9]{1,3})$")
_ADCODE_RE = re.compile(r"^[0-9]{6}$")
#: the standard asynchronous serial series (EIA-232 / Modbus over serial line V1.02 §2.5.1: 9600 and 19200 required)
BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
PARITIES = ("N", "E", "O")
#: Modbus FC 3 / 4: at most 125 registers per read (Modbus Application Protocol V1.1b3 §6.3)
MAX_READ_REGISTERS = 125

KIND_LABELS = {"单机模块": "standalone_module", "智慧空压站": "smart_station", "集中空压站": "central_station"}
LIFECYCLE_LABELS = {"已建": "built", "在建": "under_construction", "空闲": "idle", "维护": "maintenance"}


# ------------------------------------------------------------------------------------------------ issues
class Issue(NamedTuple):
    """One problem: ``row`` (file row as the user sees it; 0 = not from a file / the whole file), ``field`` (column or
    field name, may be ``""``), ``message`` (English, names the offending value)."""

    row: int
    field: str
    message: str


class RegistryError(ValueError):
    """A change was refused; nothing was written.

    Attributes:
        issues: the problems (:class:`Issue`).
        status: HTTP-like status: 400 invalid input, 404 unknown station / device, 409 conflict (id exists, address in
            use, simulated station).
    """

    def __init__(self, issues: list[Issue], status: int = 400):
        self.issues = list(issues)
        self.status = status
        super().__init__("; ".join(f"{'row ' + str(i.row) + ' ' if i.row else ''}{i.field + ': ' if i.field else ''}"
                                   f"{i.message}" for i in self.issues[:10]))

    def to_dict(self) -> dict:
        """``{"error": str, "errors": [{"row", "field", "message"}]}`` for JSON answers."""
        return {"error": str(self), "errors": [i._asdict() for i in self.issues]}


class Issues(list):
    """A list of :class:`Issue` that keeps at most :data:`MAX_ISSUES`."""

    def add(self, row: int, fld: str, message: str) -> None:
        if len(self) < MAX_ISSUES:
            self.append(Issue(int(row or 0), fld, message))

    def add_validation(self, exc: ValidationError, row: int, labels: Mapping[str, str] | None = None) -> None:
        """One :class:`Issue` per pydantic error; ``labels`` renames fields to the columns the user sees."""
        for part in error_parts(exc):
            self.add(row, (labels or {}).get(part.path, part.path), part.reason)


# ------------------------------------------------------------------------------------------------ cell coercion
def blank(v: Any) -> bool:
    """An empty cell: ``None``, whitespace, NaN."""
    return v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and math.isnan(v))


def cell_text(v: Any) -> str:
    """A cell as stripped text (a whole float ``5.0`` as ``"5"``)."""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip()


def _int_in(lo: int, hi: int, default: Any = None):
    def check(v: Any) -> Any:
        if blank(v):
            return default
        try:
            f = float(cell_text(v)) if not isinstance(v, (int, float)) else float(v)
            if not f.is_integer():
                raise ValueError
            n = int(f)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"{v!r} is not an integer") from None
        if not lo <= n <= hi:
            raise ValueError(f"{n} is outside {lo}..{hi}")
        return n
    return BeforeValidator(check)


def _float_in(lo: float, hi: float, default: Any = None, lo_open: bool = False):
    def check(v: Any) -> Any:
        if blank(v):
            return default
        try:
            f = float(v) if isinstance(v, (int, float)) else float(cell_text(v).replace(",", ""))
        except (TypeError, ValueError):
            raise ValueError(f"{v!r} is not a number") from None
        if not math.isfinite(f) or f < lo or f > hi or (lo_open and f <= lo):
            raise ValueError(f"{f:g} is outside {'(' if lo_open else '['}{lo:g}, {hi:g}]")
        return f
    return BeforeValidator(check)


def _choice(choices: Iterable[str], labels: Mapping[str, str] | None = None, default: str | None = None):
    choices = tuple(choices)

    def check(v: Any) -> Any:
        if blank(v):
            if default is None:
                raise ValueError("is required")
            return default
        s = cell_text(v)
        s = (labels or {}).get(s, s)
        if s.lower() in choices:
            return s.lower()
        if s.upper() in choices:
            return s.upper()
        raise ValueError(f"{v!r} is not one of {', '.join(choices)}")
    return BeforeValidator(check)


def _text(required: bool = False, max_len: int | None = None):
    def check(v: Any) -> str:
        s = "" if blank(v) else cell_text(v)
        if required and not s:
            raise ValueError("is required")
        if max_len is not None and len(s) > max_len:
            raise ValueError(f"longer than {max_len} characters")
        return s
    return BeforeValidator(check)


def _adcode(v: Any) -> str:
    s = "" if blank(v) else cell_text(v)
    if s and not _ADCODE_RE.match(s):
        raise ValueError(f"{s!r} is not a 6-digit adcode")
    return s


def _station_id(v: Any) -> str:
    s = "" if blank(v) else cell_text(v)
    if not s:
        raise ValueError("is required")
    if not STATION_ID_RE.match(s):
        raise ValueError(f"{s!r}: 1–32 letters, digits, '_', '.' or '-', starting with a letter or digit")
    return s


def _crs(v: Any) -> Optional[str]:
    if blank(v):
        return None
    from geo.crs import normalize_crs  # noqa: PLC0415

    return normalize_crs(cell_text(v))  # ValueError names the accepted datums


def _baudrate(v: Any) -> Any:
    if isinstance(v, int) and v not in BAUDRATES:
        raise ValueError(f"{v} is not one of {', '.join(map(str, BAUDRATES))}")
    return v


# ------------------------------------------------------------------------------------------------ row models
class _Row(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class StationRow(_Row):
    """One station's fields (API names). Coordinates in ``crs`` (``None``: the import's default datum); adcodes
    optional (derived from the point). Checked further by :func:`validate_station`."""

    station_id: Annotated[str, BeforeValidator(_station_id)]
    name: Annotated[str, _text(required=True, max_len=128)]
    name_en: Annotated[str, _text(max_len=128)] = ""
    kind: Annotated[str, _choice(STATION_KINDS, KIND_LABELS)]
    lifecycle: Annotated[str, _choice(LIFECYCLES, LIFECYCLE_LABELS)]
    lon: Annotated[Optional[float], _float_in(-180, 180)] = None  # required: checked by validate_station
    lat: Annotated[Optional[float], _float_in(-90, 90)] = None
    crs: Annotated[Optional[str], BeforeValidator(_crs)] = None
    capacity_m3_min: Annotated[float, _float_in(0, 100_000, default=0.0)] = 0.0
    partner: Annotated[str, _text(max_len=128)] = ""
    province_adcode: Annotated[str, BeforeValidator(_adcode)] = ""
    city_adcode: Annotated[str, BeforeValidator(_adcode)] = ""


class DeviceRow(_Row):
    """One device's fields (:class:`~datasources.sql.fleet_spec.DeviceSpec` names). Ranges: port 0..65535 (per
    transport in :func:`validate_device`), unit id 0..247, serial line 1200…115200 baud N|E|O 1|2 7|8, ratings ≥ 0,
    poller overrides (``None``: the poller's default) timeout (0, 60] s, retries 0..10, offline_after 1..100, poll
    interval [0.1, 3600] s, max_gap 0..125, max_registers_per_read 1..125."""

    device_id: Annotated[str, _text(required=True)]
    kind: Annotated[str, _choice(DEVICE_KINDS)]
    model: Annotated[str, _text(required=True)]
    transport: Annotated[str, _choice(TRANSPORTS, default="tcp")] = "tcp"
    host: Annotated[str, _text()] = ""
    port: Annotated[Optional[int], _int_in(0, 65535)] = None
    unit_id: Annotated[int, _int_in(0, 247, default=1)] = 1
    baudrate: Annotated[int, BeforeValidator(_baudrate), _int_in(1, 10_000_000, default=9600)] = 9600
    parity: Annotated[str, _choice(PARITIES, default="N")] = "N"
    stopbits: Annotated[int, _int_in(1, 2, default=1)] = 1
    bytesize: Annotated[int, _int_in(7, 8, default=8)] = 8
    rated_flow_m3_min: Annotated[float, _float_in(0, 10_000, default=0.0)] = 0.0
    rated_power_kw: Annotated[float, _float_in(0, 100_000, default=0.0)] = 0.0
    specific_power_kw_per_m3_min: Annotated[float, _float_in(0, 100, default=0.0)] = 0.0
    timeout_s: Annotated[Optional[float], _float_in(0, 60, lo_open=True)] = None
    retries: Annotated[Optional[int], _int_in(0, 10)] = None
    offline_after: Annotated[Optional[int], _int_in(1, 100)] = None
    poll_interval_s: Annotated[Optional[float], _float_in(0.1, 3600)] = None
    max_gap: Annotated[Optional[int], _int_in(0, MAX_READ_REGISTERS)] = None
    max_registers_per_read: Annotated[Optional[int], _int_in(1, MAX_READ_REGISTERS)] = None


_STATION_LABELS = {"name": "station_name", "name_en": "station_name_en", "kind": "station_kind"}
_DEVICE_LABELS = {"kind": "device_kind"}
_DEVICE_ALIASES = {"device_kind": "kind"}


def _finish(issues: list | None, iss: Issues, value: Any) -> Any:
    if issues is not None:
        issues.extend(iss)
    if iss:
        if issues is None:
            raise RegistryError(list(iss))
        return None
    return value


def validate_station(raw: Mapping[str, Any], *, row: int = 0, crs: str = "WGS84", region_index=None,
                     issues: list | None = None) -> dict | None:
    """Validate station fields (:class:`StationRow`, then the point: converted to WGS-84, inside China, adcodes
    derived or matching it).

    Args:
        raw: ``station_id, name, name_en, kind, lifecycle, lon, lat`` (in ``crs`` or ``raw["crs"]``),
            ``province_adcode, city_adcode`` (optional: derived from the point), ``capacity_m3_min, partner``.
        row: row number for the issues (a file row: fields named by their columns, ``station_name`` …).
        region_index: a :class:`geo.regions.RegionIndex` (default the cached one).
        issues: a list to append :class:`Issue` to (default: raise).
    Returns:
        the cleaned fields of a :class:`~datasources.sql.fleet_spec.StationSpec` (WGS-84 lon/lat rounded to 7
        decimals, ``simulated=False``, no devices), or ``None`` when a field is invalid (issues appended).
    Raises:
        RegistryError: invalid and no ``issues`` list given.
    """
    iss = Issues()
    data = dict(raw)
    for key in ("lon", "lat"):  # the point is required (blank cells too)
        if blank(data.get(key)):
            iss.add(row, key, "is required")
            data.pop(key, None)
    try:
        m = StationRow.model_validate(data)
    except ValidationError as exc:
        iss.add_validation(exc, row, _STATION_LABELS if row else None)
        return _finish(issues, iss, None)
    if iss:
        return _finish(issues, iss, None)
    from geo.crs import normalize_crs, transform  # noqa: PLC0415

    try:
        src = m.crs or normalize_crs(crs)
    except ValueError as exc:
        iss.add(row, "crs", str(exc))
        return _finish(issues, iss, None)
    lon, lat = transform(m.lon, m.lat, src, "WGS84") if src != "WGS84" else (m.lon, m.lat)
    lon, lat = round(lon, 7), round(lat, 7)
    if region_index is None:
        from geo.regions import get_region_index  # noqa: PLC0415 — heavy, cached on disk

        region_index = get_region_index()
    located = region_index.locate(lon, lat)
    prov = city = None
    if located is None:
        iss.add(row, "lon", f"({lon:.6f}, {lat:.6f}) WGS-84 lies outside China's land boundaries — "
                            "check lon/lat order and the crs column")
    else:
        prov, city = located
        if m.province_adcode and m.province_adcode != prov:
            iss.add(row, "province_adcode", f"the point lies in province {prov}, not {m.province_adcode}")
        if m.city_adcode and m.city_adcode != city:
            iss.add(row, "city_adcode", f"the point lies in city {city}, not {m.city_adcode}")
    return _finish(issues, iss, dict(
        station_id=m.station_id, name=m.name, name_en=m.name_en, kind=m.kind, lifecycle=m.lifecycle, lon=lon,
        lat=lat, province_adcode=prov, city_adcode=city, capacity_m3_min=m.capacity_m3_min or 0.0,
        partner=m.partner, simulated=False))


def validate_device(raw: Mapping[str, Any], station_id: str, profiles: Mapping[str, Any] | None = None, *,
                    row: int = 0, issues: list | None = None) -> DeviceSpec | None:
    """Validate one device of ``station_id`` (:class:`DeviceRow`, then the rules across fields).

    Args:
        raw: the :class:`DeviceSpec` field names (``kind`` may be given as ``device_kind``); strings or numbers.
        profiles: models → :class:`~datasources.modbus.profiles.DeviceProfile` (default
            :func:`datasources.ingest.registry.current_profiles`).
    Returns:
        the :class:`DeviceSpec` (a compressor's specific power defaults to rated power / rated flow), or ``None``
        when invalid (issues appended).
    Raises:
        RegistryError: invalid and no ``issues`` list given.
    """
    iss = Issues()
    if profiles is None:
        from datasources.ingest.registry import current_profiles  # noqa: PLC0415 — the registry reads the folder

        profiles = current_profiles()
    data = {_DEVICE_ALIASES.get(k, k): v for k, v in raw.items()}
    try:
        m = DeviceRow.model_validate(data)
    except ValidationError as exc:
        iss.add_validation(exc, row, _DEVICE_LABELS if row else None)
        return _finish(issues, iss, None)
    prefix = f"{station_id}-"
    did = m.device_id
    if not did.startswith(prefix) or not _DEVICE_SUFFIX_RE.match(did[len(prefix):] or "-") or len(did) > 48:
        iss.add(row, "device_id", f"{did!r} must be '{prefix}<suffix>' (letters, digits, '_', '.', '-'; ≤ 48)")
    if m.model not in profiles:
        iss.add(row, "model", f"no profile declares model {m.model!r} (known: {', '.join(sorted(profiles)) or 'none'})")
    elif getattr(profiles[m.model], "kind", m.kind) != m.kind:
        iss.add(row, "model", f"profile {m.model!r} is a {profiles[m.model].kind}, not a {m.kind}")
    port = m.port
    if m.transport == "rtu":
        if not m.host:
            iss.add(row, "host", "is required: the serial port (e.g. /dev/ttyUSB0)")
        elif not _SERIAL_RE.match(m.host):
            iss.add(row, "host", f"{m.host!r} is not a serial port path (/dev/… or COMn)")
        if port not in (None, 0):
            iss.add(row, "port", f"{port} is outside 0..0")
        port = 0
    else:
        if not m.host:
            iss.add(row, "host", "is required")
        elif not _HOST_RE.match(m.host):
            iss.add(row, "host", f"{m.host!r} is not a host name or IP address")
        if port is None:
            iss.add(row, "port", "is required (1..65535; Modbus TCP uses 502)")
        elif port < 1:
            iss.add(row, "port", f"{port} is outside 1..65535")
    if m.transport != "tcp" and m.unit_id < 1:
        iss.add(row, "unit_id", f"{m.unit_id} is outside 1..247")
    sp = m.specific_power_kw_per_m3_min
    if m.kind == "compressor":
        if m.rated_flow_m3_min <= 0:
            iss.add(row, "rated_flow_m3_min", "a compressor needs its rated flow (> 0 m³/min)")
        elif not sp and m.rated_power_kw:
            sp = round(m.rated_power_kw / m.rated_flow_m3_min, 3)
    return _finish(issues, iss, DeviceSpec(
        device_id=did, station_id=station_id, kind=m.kind, model=m.model, host=m.host, port=int(port or 0),
        unit_id=m.unit_id, rated_flow_m3_min=m.rated_flow_m3_min, rated_power_kw=m.rated_power_kw,
        specific_power_kw_per_m3_min=sp or 0.0, transport=m.transport, baudrate=m.baudrate, parity=m.parity,
        stopbits=m.stopbits, bytesize=m.bytesize, timeout_s=m.timeout_s, retries=m.retries,
        offline_after=m.offline_after, poll_interval_s=m.poll_interval_s, max_gap=m.max_gap,
        max_registers_per_read=m.max_registers_per_read))
