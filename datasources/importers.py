"""Import stations, cameras, pipelines, shops and enterprises from CSV, XLSX or GeoJSON files.

One call, :func:`import_file`, does everything for one file:

1. **Authorise**: ``role`` must be ``admin`` or ``duty_officer`` (:data:`ALLOWED_ROLES`), else
   :class:`PermissionError` — after an audit entry with result ``refused``. (The web layer authenticates the user and
   passes their name and role; this module trusts them.)
2. **Read** the file (format from ``fmt`` or the file name: ``.csv``, ``.xlsx``, ``.geojson`` / ``.json``). CSV:
   UTF-8 (with or without BOM) or GB 18030 (what Chinese Excel writes), header in the first line. XLSX: the first
   worksheet (or one named like the layer), header in its first non-empty row. GeoJSON: a FeatureCollection (or
   one Feature); properties are the fields, the geometry is the position (Point; LineString for pipelines).
   Column names are matched case-insensitively, with English and Chinese aliases (``lon`` / ``lng`` /
   ``longitude`` / ``经度`` …; see :data:`LAYERS`).
3. **Validate every row** (data-driven, as Home Assistant's Modbus ``validators.py``): required fields, types,
   ranges, lengths, enum values (English keys or Chinese labels), coordinates converted from the declared source CRS
   (``WGS84``, ``GCJ02``, ``BD09`` — :mod:`geo.crs`) to WGS-84, inside China (:meth:`geo.regions.RegionIndex.locate`)
   and inside the declared region when one is given (a city, province or the country), duplicates within the file
   and against the database, references (a camera's station, a pipe's station / enterprise, an enterprise's
   buildings) that must exist.
4. **All or nothing**: any error → nothing is written; otherwise every row is inserted in one transaction together
   with the audit entry. A failure during the insert (a constraint, a trigger, a lost connection) rolls the whole
   transaction back and is reported as an error of row 0.
5. **Audit**: one :class:`datasources.models.AuditEntry` per call: ``action="import"``,
   ``target="<layer>:<file name>"``, ``result`` ``ok`` | ``rejected`` | ``refused``, ``detail`` a JSON summary.

Row numbers in the report are what the user sees: the line number in a CSV file (header = line 1), the row number
in the worksheet, the feature number (1-based) in a GeoJSON file; 0 = the file as a whole.

Stored coordinates: WGS-84 degrees, rounded to 7 decimals (~1 cm). Derived columns (province/city adcodes,
pipeline bbox and length, a shop's QR payload, a camera's stream URL) are computed here. A stations import writes
the site records only (devices come from the fleet configuration). A pipeline in CSV / XLSX has its line in a
``geometry`` column (WKT ``LINESTRING (…)`` or a GeoJSON LineString) or a ``coords`` column
(``lon,lat;lon,lat;…``).
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import numpy as np
import shapely
from sqlalchemy import Engine, insert, select

from datasources.city_models import (CAMERA_KINDS, CAMERA_STATUSES, PIPE_MEDIA, PIPELINE_KINDS, SHOP_CATEGORIES,
                                     SHOP_RATINGS, Building, Camera, Enterprise, Pipeline, Shop, shop_qr_payload)
from datasources.fleet_spec import LIFECYCLES, STATION_KINDS
from datasources.models import AuditEntry, Station
from geo.crs import haversine_m, normalize_crs, transform_many

__all__ = [
    "ALLOWED_ROLES", "FORMATS", "LAYERS", "MAX_BYTES", "ImportIssue", "ImportReport", "Field", "LayerSpec",
    "import_file", "read_table", "bulk_insert", "insert_rows",
]

#: roles that may import (authorisation by the caller; this module refuses the others too)
ALLOWED_ROLES = ("admin", "duty_officer")
FORMATS = ("csv", "xlsx", "geojson")
#: largest file accepted, bytes (an XLSX is a zip: also bounds what openpyxl inflates per sheet)
MAX_BYTES = 50 * 1024 * 1024
MAX_ROWS = 1_000_000
#: errors kept in a report (the count is always complete)
MAX_ERRORS = 500
COORD_DECIMALS = 7
#: most vertices of one pipeline line. A monitored pipe segment runs from one junction or sensor to the next (a few
#: km); 10,000 vertices is 1 m spacing over 10 km. A larger line is an error of its row (a million-vertex line would
#: take the web process's memory and every browser that draws the city).
MAX_LINE_VERTICES = 10_000
#: longest CSV field, bytes: room for a line of MAX_LINE_VERTICES vertices (~25 bytes each), so that a longer line is
#: reported as an error of its row rather than as a broken file (Python's csv default is 128 KiB)
MAX_CSV_FIELD_BYTES = 1 << 20
csv.field_size_limit(max(csv.field_size_limit(), MAX_CSV_FIELD_BYTES))
BATCH_ROWS = 50_000

_ID_RE = re.compile(r"[A-Za-z0-9_.\-]+")
_THOUSANDS_RE = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")


class ImportIssue(NamedTuple):
    """One problem: ``row`` as the user sees it (0 = the whole file), ``field`` (column name, may be ``""``),
    ``message`` (English, names the offending value)."""

    row: int
    field: str
    message: str


@dataclass
class ImportReport:
    """The outcome of :func:`import_file`.

    Attributes:
        layer, filename, fmt, crs, region_adcode: what was imported, from where, declared how.
        rows_read: data rows found (blank rows not counted).
        rows_ok: rows that passed validation.
        errors: the problems (at most :data:`MAX_ERRORS`; ``n_errors`` counts all), sorted by row.
        written: rows inserted (0 unless the whole file was accepted).
    """

    layer: str
    filename: str
    fmt: str = ""
    crs: str = ""
    region_adcode: str | None = None
    rows_read: int = 0
    rows_ok: int = 0
    errors: list[ImportIssue] = field(default_factory=list)
    n_errors: int = 0
    written: int = 0

    @property
    def ok(self) -> bool:
        """True when the file was accepted and written."""
        return self.n_errors == 0 and not self.errors

    @property
    def result(self) -> str:
        """``"ok"`` or ``"rejected"`` (the audit result)."""
        return "ok" if self.ok else "rejected"

    def add(self, row: int, field_name: str, message: str) -> None:
        """Record one problem."""
        self.n_errors += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(ImportIssue(int(row), field_name, message))

    def summary(self) -> str:
        """One line for logs and the UI, e.g. ``"shops: 120 rows read, 119 ok, 1 error — nothing written"``."""
        s = f"{self.layer}: {self.rows_read} rows read, {self.rows_ok} ok"
        if self.ok:
            return s + f", {self.written} written"
        return s + f", {self.n_errors} error{'s' if self.n_errors != 1 else ''} — nothing written"

    def to_dict(self) -> dict:
        """JSON-ready form: scalars plus ``errors`` as ``[[row, field, message], …]``."""
        return {"layer": self.layer, "filename": self.filename, "format": self.fmt, "crs": self.crs,
                "region_adcode": self.region_adcode, "rows_read": self.rows_read, "rows_ok": self.rows_ok,
                "n_errors": self.n_errors, "written": self.written, "result": self.result,
                "errors": [list(e) for e in self.errors]}


# --------------------------------------------------------------------------- field specifications


@dataclass(frozen=True)
class Field:
    """A column of an import file.

    Attributes:
        name: the stored column name (also the canonical header).
        kind: ``"id"`` (letters, digits, ``_ . -``, at most ``max_len``), ``"text"``, ``"float"``, ``"enum"``.
        required: missing/empty is an error (else ``default``).
        aliases: other accepted headers (case-insensitive; Chinese allowed).
        max_len: text length limit (characters).
        min, max: inclusive numeric range.
        choices: for enums, accepted spelling (case-insensitive) → stored value.
        default: value when optional and empty.
    """

    name: str
    kind: str = "text"
    required: bool = False
    aliases: tuple[str, ...] = ()
    max_len: int = 128
    min: float | None = None
    max: float | None = None
    choices: Mapping[str, str] | None = None
    default: Any = None


@dataclass(frozen=True)
class LayerSpec:
    """How one layer is imported: its model, id column, fields and geometry (``point`` | ``line`` | ``two_points``
    — an enterprise's registered and operating addresses)."""

    key: str
    model: Any
    id_field: str
    fields: tuple[Field, ...]
    geometry: str = "point"


def _enum(values: Iterable[str], labels: Mapping[str, str] | None = None) -> dict[str, str]:
    out = {v.lower(): v for v in values}
    for label, value in (labels or {}).items():
        out[label.lower()] = value
    return out


_LON = ("lon", "lng", "long", "longitude", "x", "经度")
_LAT = ("lat", "latitude", "y", "纬度")

_STATION_FIELDS = (
    Field("station_id", "id", True, ("id", "站点编号", "编号"), max_len=32),
    Field("name", "text", True, ("名称", "站点名称")),
    Field("name_en", "text", False, ("english_name", "英文名称"), default=""),
    Field("kind", "enum", True, ("类型", "站点类型"),
          choices=_enum(STATION_KINDS, {"单机模块": "standalone_module", "智慧空压站": "smart_station",
                                        "集中空压站": "central_station"})),
    Field("lifecycle", "enum", True, ("status", "状态", "建设状态"),
          choices=_enum(LIFECYCLES, {"已建": "built", "在建": "under_construction", "空闲": "idle", "维护": "maintenance"})),
    Field("capacity_m3_min", "float", False, ("capacity", "产气量", "装机容量"), min=0, max=100_000, default=0.0),
    Field("partner", "text", False, ("合作伙伴", "运维单位"), default=""),
)
_CAMERA_FIELDS = (
    Field("camera_id", "id", True, ("id", "摄像机编号", "编号"), max_len=32),
    Field("name", "text", True, ("名称", "摄像机名称", "点位名称")),
    Field("name_en", "text", False, ("english_name", "英文名称"), default=""),
    Field("station_id", "id", False, ("station", "所属站点"), max_len=32),
    Field("status", "enum", False, ("状态",), choices=_enum(CAMERA_STATUSES, {"在线": "online", "离线": "offline"}),
          default="online"),
    Field("kind", "enum", False, ("stream_kind", "流类型"), choices=_enum(CAMERA_KINDS), default="mjpeg"),
    Field("stream_url", "text", False, ("url", "视频地址", "流地址"), max_len=512, default=""),
)
_PIPELINE_FIELDS = (
    Field("pipeline_id", "id", True, ("id", "segment_id", "管段编号", "编号"), max_len=32),
    Field("kind", "enum", True, ("类型", "管线类型"),
          choices=_enum(PIPELINE_KINDS, {"压缩空气": "compressed_air", "供气管线": "compressed_air",
                                         "地下管线": "underground"})),
    Field("medium", "enum", False, ("介质",),
          choices=_enum(PIPE_MEDIA, {"压缩空气": "compressed_air", "燃气": "gas", "供水": "water", "水": "water",
                                     "供热": "heat", "排水": "drainage"})),
    Field("name", "text", True, ("名称", "管段名称")),
    Field("name_en", "text", False, ("english_name", "英文名称"), default=""),
    Field("nominal_pressure_mpa", "float", True, ("nominal_pressure", "pressure_mpa", "额定压力", "设计压力"),
          min=0.001, max=10.0),
    Field("low_pressure_mpa", "float", False, ("low_pressure", "低压阈值", "报警压力"), min=0.0, max=10.0),
    Field("sensor_device_id", "text", False, ("sensor", "sensor_id", "传感器编号"), max_len=48),
    Field("station_id", "id", False, ("station", "所属站点"), max_len=32),
    Field("enterprise_id", "text", False, ("enterprise", "用气企业"), max_len=24),
)
_SHOP_FIELDS = (
    Field("shop_id", "id", True, ("id", "商户编号", "编号"), max_len=32),
    Field("name", "text", True, ("名称", "商户名称", "店名")),
    Field("name_en", "text", False, ("english_name", "英文名称"), max_len=160, default=""),
    Field("address", "text", True, ("地址", "商户地址"), max_len=256),
    Field("contact", "text", False, ("负责人", "联系人"), max_len=64, default=""),
    Field("category", "enum", True, ("类别", "分类", "行业"),
          choices=_enum(SHOP_CATEGORIES, {zh: key for key, (zh, _en, _a, _b) in SHOP_CATEGORIES.items()})),
    Field("rating", "enum", False, ("评级", "等级"), choices=_enum(SHOP_RATINGS)),
    Field("integrity_score", "float", False, ("诚信评分", "诚信分"), min=0, max=100),
    Field("qr_payload", "text", False, ("二维码", "二维码内容"), max_len=2000),
)
_ENTERPRISE_FIELDS = (
    Field("enterprise_id", "id", True, ("id", "credit_code", "uscc", "统一社会信用代码", "企业编号"), max_len=24),
    Field("name", "text", True, ("名称", "企业名称")),
    Field("name_en", "text", False, ("english_name", "英文名称"), max_len=160, default=""),
    Field("industry", "text", False, ("行业",), max_len=32, default=""),
    Field("registered_capital_wan", "float", True, ("registered_capital", "capital", "注册资本", "注册资本（万元）"),
          min=0, max=1e9),
    Field("tax_wan", "float", False, ("tax", "tax_output", "税收", "纳税额", "税收（万元）"), min=0, max=1e9, default=0.0),
    Field("reg_building_id", "id", False, ("registered_building", "注册楼宇"), max_len=32),
    Field("op_building_id", "id", False, ("operating_building", "经营楼宇"), max_len=32),
)


LAYERS: dict[str, LayerSpec] = {
    "stations": LayerSpec("stations", Station, "station_id", _STATION_FIELDS),
    "cameras": LayerSpec("cameras", Camera, "camera_id", _CAMERA_FIELDS),
    "pipelines": LayerSpec("pipelines", Pipeline, "pipeline_id", _PIPELINE_FIELDS, geometry="line"),
    "shops": LayerSpec("shops", Shop, "shop_id", _SHOP_FIELDS),
    "enterprises": LayerSpec("enterprises", Enterprise, "enterprise_id", _ENTERPRISE_FIELDS, geometry="two_points"),
}

_GEOMETRY_FIELDS = {
    "point": (Field("lon", "float", True, _LON), Field("lat", "float", True, _LAT)),
    "line": (Field("geometry", "text", False, ("wkt", "geojson", "geom", "几何", "坐标串"), max_len=1_000_000),
             Field("coords", "text", False, ("coordinates", "path", "坐标"), max_len=1_000_000)),
    "two_points": (Field("reg_lon", "float", True, ("lon", "lng", "longitude", "注册地经度", "经度")),
                   Field("reg_lat", "float", True, ("lat", "latitude", "注册地纬度", "纬度")),
                   Field("op_lon", "float", False, ("operating_lon", "经营地经度")),
                   Field("op_lat", "float", False, ("operating_lat", "经营地纬度"))),
}


def _norm_header(h: Any) -> str:
    return re.sub(r"[\s\-]+", "_", str(h if h is not None else "").strip().lower()).strip("_")


# --------------------------------------------------------------------------- reading files


class _FileError(Exception):
    """The file as a whole cannot be read (becomes an error of row 0)."""

    def __init__(self, message: str, field_name: str = ""):
        super().__init__(message)
        self.field = field_name


def _detect_format(filename: str, fmt: str | None) -> str:
    if fmt:
        f = fmt.lower().lstrip(".")
        f = {"json": "geojson", "xls": "xlsx"}.get(f, f)
        if f not in FORMATS:
            raise _FileError(f"unsupported format {fmt!r}; expected one of {', '.join(FORMATS)}", "format")
        return f
    ext = Path(filename).suffix.lower()
    mapping = {".csv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".geojson": "geojson",
               ".json": "geojson"}
    if ext not in mapping:
        raise _FileError(f"cannot tell the format of {filename!r}: use .csv, .xlsx or .geojson", "format")
    return mapping[ext]


def _decode_text(data: bytes) -> str:
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise _FileError("the file is neither UTF-8 nor GB 18030 text")


def _read_csv(data: bytes):
    text = _decode_text(data)
    first = text.lstrip("\r\n").split("\n", 1)[0]
    # the header line decides the delimiter (",", ";" or tab): data cells may contain the others (coordinate lists)
    delimiter = max((",", ";", "\t"), key=lambda d: (first.count(d), d == ","))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = None
    prev_line = 0
    rows = []
    try:
        for rec in reader:
            start = prev_line + 1
            prev_line = reader.line_num
            if not rec or all(not str(c).strip() for c in rec):
                continue
            if header is None:
                header = rec
                continue
            rows.append((start, rec))
            if len(rows) > MAX_ROWS:
                raise _FileError(f"more than {MAX_ROWS} rows")
    except csv.Error as exc:
        raise _FileError(f"CSV syntax error near line {reader.line_num}: {exc}") from None
    if header is None:
        raise _FileError("the file is empty (no header line)")
    return header, [(n, {i: v for i, v in enumerate(rec)}, None) for n, rec in rows]


def _read_xlsx(data: bytes, layer: str):
    try:
        import openpyxl  # noqa: PLC0415
    except ImportError:  # pragma: no cover - pinned dependency
        raise _FileError("XLSX support needs openpyxl") from None
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 — zipfile / XML / openpyxl errors alike
        raise _FileError(f"not a readable XLSX workbook: {exc.__class__.__name__}: {exc}") from None
    try:
        ws = next((w for w in wb.worksheets if _norm_header(w.title) == layer), wb.worksheets[0])
        header = None
        rows = []
        for cells in ws.iter_rows():
            values = [c.value for c in cells]
            row_no = next((getattr(c, "row", None) for c in cells if getattr(c, "row", None)), None)
            if not values or all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                continue
            if header is None:
                header = values
                continue
            rows.append((int(row_no or 0), {i: v for i, v in enumerate(values)}, None))
            if len(rows) > MAX_ROWS:
                raise _FileError(f"more than {MAX_ROWS} rows")
    finally:
        wb.close()
    if header is None:
        raise _FileError("the first worksheet is empty (no header row)")
    return header, rows


def _read_geojson(data: bytes):
    try:
        doc = json.loads(_decode_text(data))
    except json.JSONDecodeError as exc:
        raise _FileError(f"invalid JSON: {exc}") from None
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        features = [doc]
    elif isinstance(doc, dict) and doc.get("type") == "FeatureCollection" and isinstance(doc.get("features"), list):
        features = doc["features"]
    else:
        raise _FileError("a GeoJSON FeatureCollection (or Feature) is expected")
    if len(features) > MAX_ROWS:
        raise _FileError(f"more than {MAX_ROWS} features")
    keys: list[str] = []
    seen = set()
    for f in features:
        props = f.get("properties") if isinstance(f, dict) else None
        for k in (props or {}):
            if k not in seen:
                seen.add(k)
                keys.append(k)
    rows = []
    for i, f in enumerate(features, start=1):
        if not isinstance(f, dict) or f.get("type") != "Feature":
            rows.append((i, {}, {"error": "not a GeoJSON Feature"}))
            continue
        props = f.get("properties") or {}
        rows.append((i, {j: props.get(k) for j, k in enumerate(keys)}, f.get("geometry") or {"error": "no geometry"}))
    return keys, rows


def read_table(data: bytes, filename: str, fmt: str | None = None, layer: str = "") -> tuple[str, list, list]:
    """Read a CSV / XLSX / GeoJSON file into a header and rows (no validation).

    Args:
        data: the file's bytes. filename: its name (format from the extension unless ``fmt``).
    Returns:
        ``(fmt, header, rows)``; ``rows``: ``[(row number as the user sees it, {column index: raw value},
        GeoJSON geometry dict or None), …]``.
    Raises:
        ValueError: unreadable file (message says why).
    """
    try:
        f = _detect_format(filename, fmt)
        if f == "csv":
            header, rows = _read_csv(data)
        elif f == "xlsx":
            header, rows = _read_xlsx(data, layer)
        else:
            header, rows = _read_geojson(data)
    except _FileError as exc:
        raise ValueError(str(exc)) from None
    return f, list(header), rows


# --------------------------------------------------------------------------- value parsing


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and math.isnan(v))


def _parse(fld: Field, raw: Any) -> Any:
    """Parse one value; raises ValueError with a user-facing message."""
    if fld.kind == "float":
        if isinstance(raw, bool):
            raise ValueError(f"expected a number, got {raw!r}")
        if isinstance(raw, (int, float)):
            val = float(raw)
        else:
            s = str(raw).strip().replace("，", ",")
            if _THOUSANDS_RE.match(s):
                s = s.replace(",", "")
            try:
                val = float(s)
            except ValueError:
                raise ValueError(f"expected a number, got {str(raw)[:40]!r}") from None
        if not math.isfinite(val):
            raise ValueError(f"expected a finite number, got {raw!r}")
        if fld.min is not None and val < fld.min:
            raise ValueError(f"{val:g} is below the minimum {fld.min:g}")
        if fld.max is not None and val > fld.max:
            raise ValueError(f"{val:g} is above the maximum {fld.max:g}")
        return val
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)  # XLSX ids typed as numbers
    s = str(raw).strip()
    if fld.kind == "id":
        if len(s) > fld.max_len or not _ID_RE.fullmatch(s):
            raise ValueError(f"malformed id {s[:40]!r}: letters, digits, '_', '.', '-' only, "
                             f"at most {fld.max_len} characters")
        return s
    if fld.kind == "enum":
        choices = fld.choices or {}
        val = choices.get(s.lower())
        if val is None:
            allowed = sorted(set(choices.values()))
            raise ValueError(f"{s[:40]!r} is not one of {', '.join(allowed)}")
        return val
    if len(s) > fld.max_len:
        raise ValueError(f"longer than {fld.max_len} characters ({len(s)})")
    return s


# --------------------------------------------------------------------------- geometry parsing


def _too_many_vertices(n: int) -> ValueError:
    return ValueError(f"the line has {n} vertices; at most {MAX_LINE_VERTICES} are accepted (split the segment)")


def _parse_line_text(s: str) -> list[tuple[float, float]]:
    s = s.strip()
    # every vertex but the first is preceded by a separator: refuse before parsing a huge text
    approx = max(s.count(","), s.count(";") + s.count("|")) + 1 if not s.startswith("{") else 0
    if s.upper().startswith("LINESTRING") and approx > MAX_LINE_VERTICES:
        raise _too_many_vertices(approx)
    if s.startswith("{"):
        geom = json.loads(s)
        return _line_from_geojson(geom)
    if s.upper().startswith("LINESTRING"):
        g = shapely.from_wkt(s)
        return [(float(x), float(y)) for x, y in shapely.get_coordinates(g)]
    pts = []
    for part in re.split(r"[;|]", s):
        part = part.strip()
        if not part:
            continue
        xy = re.split(r"[,\s]+", part)
        if len(xy) != 2:
            raise ValueError(f"cannot read the coordinate pair {part[:40]!r}")
        pts.append((float(xy[0]), float(xy[1])))
        if len(pts) > MAX_LINE_VERTICES:
            raise _too_many_vertices(len(re.split(r"[;|]", s)))
    return pts


def _line_from_geojson(geom: Mapping) -> list[tuple[float, float]]:
    if not isinstance(geom, Mapping) or geom.get("type") != "LineString":
        raise ValueError(f"a LineString geometry is expected, got {geom.get('type') if isinstance(geom, Mapping) else geom!r}")
    coords = geom.get("coordinates")
    if not isinstance(coords, list):
        raise ValueError("LineString without coordinates")
    if len(coords) > MAX_LINE_VERTICES:
        raise _too_many_vertices(len(coords))
    out = []
    for c in coords:
        if not isinstance(c, (list, tuple)) or len(c) < 2:
            raise ValueError(f"malformed position {c!r}")
        out.append((float(c[0]), float(c[1])))
    return out


def _point_from_geojson(geom: Mapping) -> tuple[float, float]:
    if not isinstance(geom, Mapping) or geom.get("type") != "Point":
        got = geom.get("type") if isinstance(geom, Mapping) else geom
        raise ValueError(f"a Point geometry is expected, got {got!r}")
    c = geom.get("coordinates")
    if not isinstance(c, (list, tuple)) or len(c) < 2:
        raise ValueError(f"malformed Point coordinates {c!r}")
    return float(c[0]), float(c[1])


def _check_lonlat(lon: float, lat: float) -> None:
    if not (math.isfinite(lon) and math.isfinite(lat)) or not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValueError(f"({lon}, {lat}) is not a longitude/latitude pair in degrees")


# --------------------------------------------------------------------------- bulk writing


def bulk_insert(conn, table, rows: Iterable[Sequence], columns: Sequence[str], batch: int = BATCH_ROWS) -> int:
    """Insert many rows fast inside the caller's transaction.

    PostgreSQL with psycopg 3: ``COPY table (columns) FROM STDIN``; other databases: the DB-API ``executemany`` with
    ``batch`` rows per call (SQLite: ~50,000 rows/s with the enterprises' seven indexes).

    Args:
        conn: a SQLAlchemy ``Connection`` in a transaction.
        table: a ``Table`` or a mapped class.
        rows: sequences in ``columns`` order (str, float, int, bool, date, datetime, None).
        columns: column names.
    Returns:
        the number of rows written.
    Raises:
        sqlalchemy.exc.DBAPIError or the driver's errors (constraint violations …); the caller's transaction
        must then be rolled back (``engine.begin()`` does it).
    """
    table = getattr(table, "__table__", table)
    cols = list(columns)
    quoted = ", ".join(cols)
    n = 0
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        raw = conn.connection.driver_connection
        with raw.cursor() as cur:
            with cur.copy(f"COPY {table.name} ({quoted}) FROM STDIN") as cp:
                for row in rows:
                    cp.write_row(row)
                    n += 1
        return n
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table.name} ({quoted}) VALUES ({', '.join(mark for _ in cols)})"
    chunk: list = []
    for row in rows:
        chunk.append(tuple(row))
        if len(chunk) >= batch:
            conn.exec_driver_sql(sql, chunk)
            n += len(chunk)
            chunk = []
    if chunk:
        conn.exec_driver_sql(sql, chunk)
        n += len(chunk)
    return n


def insert_rows(conn, model, dicts: Sequence[Mapping[str, Any]]) -> int:
    """:func:`bulk_insert` of column dicts into a mapped class's table, filling the columns' Python-side defaults
    (``created_at``, empty strings …) that a bulk path would otherwise skip.

    Returns:
        rows written.
    """
    if not dicts:
        return 0
    table = model.__table__
    defaults = {}
    for c in table.columns:
        if c.default is not None and not c.primary_key:
            arg = c.default.arg
            defaults[c.name] = arg
    cols = [c.name for c in table.columns if c.name in dicts[0] or c.name in defaults]

    def rows():
        for d in dicts:
            out = []
            for c in cols:
                if c in d:
                    out.append(d[c])
                else:
                    arg = defaults[c]
                    out.append(arg(None) if callable(arg) else arg)
            yield out

    return bulk_insert(conn, table, rows(), cols)


# --------------------------------------------------------------------------- the import


def _audit_values(actor: str, role: str, target: str, result: str, detail: dict) -> dict:
    return dict(ts=datetime.now(timezone.utc), actor=(actor or "anonymous")[:64], role=(role or "")[:32],
                action="import", target=target[:128], result=result,
                detail=json.dumps(detail, ensure_ascii=False, default=str))


def _write_audit(engine: Engine, values: dict) -> None:
    with engine.begin() as conn:
        conn.execute(insert(AuditEntry.__table__).values(**values))


def _existing_ids(conn, column, ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    ids = list(ids)
    for i in range(0, len(ids), 500):
        found.update(conn.execute(select(column).where(column.in_(ids[i:i + 500]))).scalars())
    return found


def import_file(engine: Engine, layer: str, source: bytes | str | Path, *, actor: str, role: str,
                crs: str = "WGS84", region_adcode: str | None = None, filename: str | None = None,
                fmt: str | None = None, region_index=None) -> ImportReport:
    """Validate a file and, if every row is valid, insert all of it (see the module docstring).

    Args:
        engine: the database (migrated to ≥ 0004).
        layer: ``"stations"``, ``"cameras"``, ``"pipelines"``, ``"shops"`` or ``"enterprises"``.
        source: the file's bytes (an upload) or a path.
        actor: user name for the audit log. role: the user's role (must be in :data:`ALLOWED_ROLES`).
        crs: the file's coordinate system: ``WGS84`` (GPS), ``GCJ02`` (Amap/Tencent), ``BD09`` (Baidu); aliases
            as :func:`geo.crs.normalize_crs`.
        region_adcode: when given (a city, province or ``100000``), every position (for enterprises: the
            registered address; for pipelines: every vertex) must lie in it.
        filename: shown in reports and the audit target (default: the path's name).
        fmt: ``csv`` | ``xlsx`` | ``geojson`` (default: from the file name).
    Returns:
        :class:`ImportReport` (``ok`` → written; else nothing written and ``errors`` say why).
    Raises:
        PermissionError: ``role`` not allowed (audited as ``refused``).
        ValueError: unknown ``layer`` (a programming error, not audited).
        sqlalchemy.exc.SQLAlchemyError: the database is unreachable (the audit cannot be written either).
    """
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}; expected one of {', '.join(LAYERS)}")
    spec = LAYERS[layer]
    if isinstance(source, (str, Path)):
        path = Path(source)
        filename = filename or path.name
        data = path.read_bytes() if path.stat().st_size <= MAX_BYTES else None
    else:
        data = bytes(source)
        filename = filename or f"upload.{fmt or 'csv'}"
    target = f"{layer}:{filename}"
    if role not in ALLOWED_ROLES:
        _write_audit(engine, _audit_values(actor, role, target, "refused",
                                           {"reason": f"role {role!r} may not import", "allowed": ALLOWED_ROLES}))
        raise PermissionError(f"role {role!r} may not import data; allowed: {', '.join(ALLOWED_ROLES)}")
    report = ImportReport(layer=layer, filename=filename, region_adcode=region_adcode)
    try:
        report.crs = normalize_crs(crs)
    except ValueError as exc:
        report.crs = str(crs)
        report.add(0, "crs", str(exc))
    if data is None or len(data) > MAX_BYTES:
        report.add(0, "", f"file larger than {MAX_BYTES // (1024 * 1024)} MB")
    idx = region_index
    region = None
    if not report.errors:
        if idx is None:
            from geo.regions import get_region_index  # noqa: PLC0415

            idx = get_region_index()
        if region_adcode is not None:
            try:
                region = idx.region(str(region_adcode))
            except KeyError as exc:
                report.add(0, "region", str(exc.args[0]))
    rows: list = []
    if not report.errors:
        try:
            report.fmt, header, rows = read_table(data, filename, fmt, layer)
        except ValueError as exc:
            report.add(0, "format" if "format" in str(exc) else "", str(exc))
    values: list[dict] = []
    if not report.errors:
        report.rows_read = len(rows)
        values = _validate(engine, spec, header, rows, report, idx, region)
        report.rows_ok = len(values)
    if report.n_errors:
        report.errors.sort(key=lambda e: (e.row, e.field))
        _write_audit(engine, _audit_values(actor, role, target, "rejected", _detail(report)))
        return report
    try:
        with engine.begin() as conn:
            report.written = insert_rows(conn, spec.model, values)
            conn.execute(insert(AuditEntry.__table__).values(**_audit_values(actor, role, target, "ok",
                                                                              _detail(report))))
    except Exception as exc:  # noqa: BLE001 — any failure while writing: rolled back, reported, audited
        report.written = 0
        orig = getattr(exc, "orig", None) or exc
        report.add(0, "", f"the database refused the import, nothing was written: {str(orig).strip()[:300]}")
        _write_audit(engine, _audit_values(actor, role, target, "rejected", _detail(report)))
    return report


def _detail(report: ImportReport) -> dict:
    d = {"format": report.fmt, "crs": report.crs, "region": report.region_adcode, "rows_read": report.rows_read,
         "rows_ok": report.rows_ok, "written": report.written}
    if report.n_errors:
        d["n_errors"] = report.n_errors
        d["errors"] = [list(e) for e in report.errors[:20]]
    return d


def _validate(engine: Engine, spec: LayerSpec, header: list, rows: list, report: ImportReport, idx,
              region) -> list[dict]:
    fields = list(spec.fields)
    geo_fields = list(_GEOMETRY_FIELDS[spec.geometry])
    is_geojson = report.fmt == "geojson"
    all_fields = fields + ([] if is_geojson and spec.geometry != "two_points" else geo_fields)
    if is_geojson and spec.geometry == "two_points":  # geometry = registered address; op_lon/op_lat as properties
        all_fields = fields + [f for f in geo_fields if f.name.startswith("op_")]
    # header → field
    col_of: dict[str, int] = {}
    norm = [_norm_header(h) for h in header]
    for fld in all_fields:
        names = [fld.name] + [_norm_header(a) for a in fld.aliases]
        for name in names:
            if name in norm and norm.index(name) not in col_of.values():
                col_of[fld.name] = norm.index(name)
                break
    dup_headers = [h for h, n in Counter(h for h in norm if h).items() if n > 1]
    for h in dup_headers:
        report.add(1 if not is_geojson else 0, h, f"column {h!r} appears more than once")
    for fld in all_fields:
        if fld.required and fld.name not in col_of:
            report.add(0, fld.name, f"required column {fld.name!r} is missing "
                                    f"(accepted headers: {', '.join((fld.name,) + fld.aliases)})")
    if spec.geometry == "line" and not is_geojson and "geometry" not in col_of and "coords" not in col_of:
        report.add(0, "geometry", "a 'geometry' (WKT / GeoJSON LineString) or 'coords' (lon,lat;lon,lat…) column "
                                  "is required")
    if report.n_errors:
        return []

    parsed: list[tuple[int, dict, Any]] = []  # (row, values, geometry in source CRS)
    for row_no, cells, geom in rows:
        vals: dict[str, Any] = {}
        bad = False
        for fld in all_fields:
            raw = cells.get(col_of[fld.name]) if fld.name in col_of else None
            if _blank(raw):
                if fld.required:
                    report.add(row_no, fld.name, "missing value")
                    bad = True
                else:
                    vals[fld.name] = fld.default
                continue
            try:
                vals[fld.name] = _parse(fld, raw)
            except ValueError as exc:
                report.add(row_no, fld.name, str(exc))
                bad = True
        # geometry in the file's CRS
        shape: Any = None
        try:
            if spec.geometry == "point":
                if is_geojson:
                    if isinstance(geom, Mapping) and "error" in geom:
                        raise ValueError(geom["error"])
                    shape = _point_from_geojson(geom)
                elif vals.get("lon") is not None and vals.get("lat") is not None:
                    shape = (vals.pop("lon"), vals.pop("lat"))
                if shape is not None:
                    _check_lonlat(*shape)
            elif spec.geometry == "two_points":
                if is_geojson:
                    if isinstance(geom, Mapping) and "error" in geom:
                        raise ValueError(geom["error"])
                    reg = _point_from_geojson(geom)
                else:
                    reg = (vals.pop("reg_lon", None), vals.pop("reg_lat", None))
                op_lon, op_lat = vals.pop("op_lon", None), vals.pop("op_lat", None)
                op = (op_lon, op_lat) if op_lon is not None and op_lat is not None else None
                if (op_lon is None) != (op_lat is None):
                    report.add(row_no, "op_lat" if op_lat is None else "op_lon",
                               "give both operating coordinates or neither")
                    bad = True
                if reg[0] is not None and reg[1] is not None:
                    _check_lonlat(*reg)
                    if op is not None:
                        try:
                            _check_lonlat(*op)
                        except ValueError as exc:
                            report.add(row_no, "op_lon", str(exc))
                            bad = True
                    shape = (reg, op)
            else:
                if is_geojson:
                    if isinstance(geom, Mapping) and "error" in geom:
                        raise ValueError(geom["error"])
                    line = _line_from_geojson(geom)
                else:
                    text = vals.pop("geometry", None) or vals.pop("coords", None)
                    vals.pop("coords", None)
                    if not text:
                        report.add(row_no, "geometry", "missing value")
                        bad = True
                        line = None
                    else:
                        line = _parse_line_text(text)
                if line is not None:
                    if len(line) < 2:
                        raise ValueError("a line needs at least 2 positions")
                    for x, y in line:
                        _check_lonlat(x, y)
                    shape = line
        except (ValueError, TypeError, json.JSONDecodeError, shapely.errors.GEOSException) as exc:
            fld_name = ("geometry" if spec.geometry == "line" or is_geojson else
                        "reg_lon" if spec.geometry == "two_points" else "lon")
            report.add(row_no, fld_name, str(exc)[:200])
            bad = True
        if not bad and shape is not None:
            parsed.append((row_no, vals, shape))

    # duplicates within the file (first occurrence wins; later ones are errors)
    first_row: dict[str, int] = {}
    unique: list[tuple[int, dict, Any]] = []
    for row_no, vals, shape in parsed:
        key = vals[spec.id_field]
        if key in first_row:
            report.add(row_no, spec.id_field, f"duplicate id {key!r} (first in row {first_row[key]})")
            continue
        first_row[key] = row_no
        unique.append((row_no, vals, shape))
    # duplicates in the database
    id_col = getattr(spec.model, spec.id_field)
    with engine.connect() as conn:
        existing = _existing_ids(conn, id_col, [v[spec.id_field] for _, v, _ in unique])
        refs = _reference_sets(conn, spec, unique)
    kept = []
    for row_no, vals, shape in unique:
        if vals[spec.id_field] in existing:
            report.add(row_no, spec.id_field, f"id {vals[spec.id_field]!r} already exists in the database")
            continue
        kept.append((row_no, vals, shape))
    # positions: convert and locate, all rows at once
    out = _positions(spec, kept, report, idx, region)
    # references and per-layer rules
    final = []
    for row_no, vals in out:
        if _layer_rules(spec, row_no, vals, refs, report):
            final.append(vals)
    return final


def _reference_sets(conn, spec: LayerSpec, rows) -> dict[str, set[str]]:
    refs: dict[str, set[str]] = {}

    def wanted(name):
        return sorted({v[name] for _, v, _ in rows if v.get(name)})

    if spec.key in ("cameras", "pipelines"):
        refs["station_id"] = _existing_ids(conn, Station.station_id, wanted("station_id"))
    if spec.key == "pipelines":
        refs["enterprise_id"] = _existing_ids(conn, Enterprise.enterprise_id, wanted("enterprise_id"))
    if spec.key == "enterprises":
        ids = sorted(set(wanted("reg_building_id")) | set(wanted("op_building_id")))
        refs["building_id"] = _existing_ids(conn, Building.building_id, ids)
    return refs


def _positions(spec: LayerSpec, rows, report: ImportReport, idx, region) -> list[tuple[int, dict]]:
    """Convert every position from the declared CRS to WGS-84, locate it, check China and the region."""
    if not rows:
        return []
    crs = report.crs
    # flatten all positions: (row index, role) for each
    coords: list[tuple[float, float]] = []
    owner: list[tuple[int, str]] = []
    for i, (_row_no, _vals, shape) in enumerate(rows):
        if spec.geometry == "point":
            coords.append(shape)
            owner.append((i, "pt"))
        elif spec.geometry == "two_points":
            reg, op = shape
            coords.append(reg)
            owner.append((i, "reg"))
            if op is not None:
                coords.append(op)
                owner.append((i, "op"))
        else:
            for p in shape:
                coords.append(p)
                owner.append((i, "line"))
    wgs = transform_many(np.array(coords, dtype=np.float64), crs, "WGS84")
    located = idx.locate_many(wgs)
    per_row: dict[int, dict[str, list]] = {}
    for (i, role), xy, loc in zip(owner, wgs, located):
        per_row.setdefault(i, {}).setdefault(role, []).append((float(xy[0]), float(xy[1]), loc))

    def where(loc) -> str:
        prov, city = loc
        try:
            r = idx.region(city)
            return f"{r.name_zh} ({city})"
        except KeyError:  # pragma: no cover
            return city

    def in_region(loc) -> bool:
        if region is None or region.level == "country":
            return True
        prov, city = loc
        return (prov if region.level == "province" else city) == region.adcode

    fld_pt = {"pt": "lon", "reg": "reg_lon", "op": "op_lon", "line": "geometry"}
    if report.fmt == "geojson":
        fld_pt = {"pt": "geometry", "reg": "geometry", "op": "op_lon", "line": "geometry"}
    out = []
    for i, (row_no, vals, _shape) in enumerate(rows):
        ok = True
        parts = per_row[i]
        for role, pts in parts.items():
            for k, (x, y, loc) in enumerate(pts):
                label = f"vertex {k + 1} " if role == "line" else ""
                if loc is None:
                    report.add(row_no, fld_pt[role], f"{label}({x:.6f}, {y:.6f}) WGS-84 is outside China")
                    ok = False
                elif role != "op" and not in_region(loc):
                    report.add(row_no, fld_pt[role], f"{label}({x:.6f}, {y:.6f}) is in {where(loc)}, not in "
                                                     f"{region.name_zh} ({region.adcode})")
                    ok = False
        if not ok:
            continue
        if spec.geometry == "point":
            x, y, (prov, city) = parts["pt"][0]
            vals.update(lon=round(x, COORD_DECIMALS), lat=round(y, COORD_DECIMALS), province_adcode=prov,
                        city_adcode=city)
        elif spec.geometry == "two_points":
            x, y, (_prov, city) = parts["reg"][0]
            ox, oy, (_op_prov, op_city) = parts["op"][0] if "op" in parts else (x, y, (_prov, city))
            vals.update(reg_lon=round(x, COORD_DECIMALS), reg_lat=round(y, COORD_DECIMALS), reg_city_adcode=city,
                        op_lon=round(ox, COORD_DECIMALS), op_lat=round(oy, COORD_DECIMALS), op_city_adcode=op_city)
        else:
            pts = parts["line"]
            arr = np.array([(p[0], p[1]) for p in pts])
            prov, city = pts[0][2]
            vals.update(
                geometry=json.dumps({"type": "LineString",
                                     "coordinates": [[round(float(a), COORD_DECIMALS), round(float(b), COORD_DECIMALS)]
                                                     for a, b in arr]}, separators=(",", ":")),
                min_lon=float(arr[:, 0].min()), min_lat=float(arr[:, 1].min()), max_lon=float(arr[:, 0].max()),
                max_lat=float(arr[:, 1].max()),
                length_m=round(float(np.sum(haversine_m(arr[:-1, 0], arr[:-1, 1], arr[1:, 0], arr[1:, 1]))), 1),
                province_adcode=prov, city_adcode=city)
        out.append((row_no, vals))
    return out


def _layer_rules(spec: LayerSpec, row_no: int, vals: dict, refs: dict[str, set[str]], report: ImportReport) -> bool:
    """Cross-field rules and references; fills derived defaults. False when the row has an error."""
    ok = True

    def err(name, msg):
        nonlocal ok
        report.add(row_no, name, msg)
        ok = False

    if spec.key in ("cameras", "pipelines") and vals.get("station_id") and vals["station_id"] not in refs["station_id"]:
        err("station_id", f"unknown station {vals['station_id']!r}")
    if spec.key == "cameras":
        url = vals.get("stream_url") or ""
        if vals["kind"] == "hls" and not url:
            err("stream_url", "an hls camera needs a stream_url (.m3u8)")
        elif url and not (url.startswith("/") or re.match(r"^(https?|rtsp)://", url)):
            err("stream_url", f"{url[:60]!r} is neither an http(s)/rtsp URL nor a path of this site")
        if not url and vals["kind"] == "mjpeg":
            vals["stream_url"] = f"/cameras/{vals['camera_id']}/stream.mjpg"
    elif spec.key == "pipelines":
        if not vals.get("medium"):
            if vals["kind"] == "compressed_air":
                vals["medium"] = "compressed_air"
            else:
                err("medium", "an underground pipe needs its medium (gas, water, heat, drainage, compressed_air)")
        low = vals.get("low_pressure_mpa")
        if low is not None and low >= vals["nominal_pressure_mpa"]:
            err("low_pressure_mpa", f"alarm threshold {low:g} MPa must be below the nominal "
                                    f"{vals['nominal_pressure_mpa']:g} MPa")
        if low is None:
            vals["low_pressure_mpa"] = round(vals["nominal_pressure_mpa"] * 0.8, 4)
        if vals.get("enterprise_id") and vals["enterprise_id"] not in refs["enterprise_id"]:
            err("enterprise_id", f"unknown enterprise {vals['enterprise_id']!r}")
        vals["sensor_device_id"] = vals.get("sensor_device_id") or None
        vals["station_id"] = vals.get("station_id") or None
        vals["enterprise_id"] = vals.get("enterprise_id") or None
    elif spec.key == "shops":
        if not vals.get("qr_payload"):
            vals["qr_payload"] = shop_qr_payload(vals["shop_id"], vals["name"], vals["address"], vals.get("contact") or "")
    elif spec.key == "enterprises":
        for name in ("reg_building_id", "op_building_id"):
            if vals.get(name) and vals[name] not in refs["building_id"]:
                err(name, f"unknown building {vals[name]!r}")
            vals[name] = vals.get(name) or None
    elif spec.key == "stations":
        vals["created_at"] = datetime.now(timezone.utc)
    if spec.key == "cameras":
        vals["station_id"] = vals.get("station_id") or None
    return ok
