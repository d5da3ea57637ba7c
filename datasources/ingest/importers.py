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

**Streaming** (issue 10): the file is never held in memory. CSV is decoded row by row from the (spooled) upload,
XLSX read with openpyxl's read-only mode; rows are validated :data:`IMPORT_BATCH_ROWS` at a time and the valid ones
staged in a private temporary table (:class:`_Stage`); when the whole file passed, one ``INSERT … SELECT`` in the
final transaction writes them. Memory is bounded by the batch, not the file (a 1,000,000-row CSV: see
``bench/bench_import_memory.py``). Limits: :data:`MAX_BYTES` per file, :data:`MAX_ROWS` rows,
:data:`MAX_LINE_VERTICES` per pipeline, :data:`MAX_GEOJSON_BYTES` for GeoJSON (parsed whole), the first
:data:`MAX_ERRORS` problems kept (all counted).
5. **Audit**: one :class:`datasources.sql.models.AuditEntry` per call: ``action="import"``,
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

import codecs
import csv
import io
import json
import math
import os
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator, Mapping, NamedTuple, Sequence

import numpy as np
import shapely
from sqlalchemy import Column, Engine, Integer, MetaData, Table, insert, select
from sqlalchemy.exc import SQLAlchemyError

from datasources.sql.city_models import (CAMERA_KINDS, CAMERA_STATUSES, PIPE_MEDIA, PIPELINE_KINDS, SHOP_CATEGORIES,
                                     SHOP_RATINGS, Building, Camera, Enterprise, Pipeline, Shop, shop_qr_payload)
from datasources.sql.fleet_spec import LIFECYCLES, STATION_KINDS
from datasources.sql.models import AuditEntry, Station
from geo.crs import haversine_m, normalize_crs, transform_many

__all__ = [
    "ALLOWED_ROLES", "FORMATS", "IMPORT_BATCH_ROWS", "LAYERS", "MAX_BYTES", "MAX_ERRORS", "MAX_GEOJSON_BYTES",
    "MAX_ROWS", "ImportIssue", "ImportReport", "Field", "LayerSpec",
    "import_file", "read_table", "bulk_insert", "insert_rows",
]

#: roles that may import (authorisation by the caller; this module refuses the others too)
ALLOWED_ROLES = ("admin", "duty_officer")
FORMATS = ("csv", "xlsx", "geojson")
#: largest file accepted, bytes. Imports stream (memory grows with :data:`IMPORT_BATCH_ROWS`, not with the file), so
#: the limit is set by the largest layer: 1,000,000 enterprises (:data:`MAX_ROWS`) with Chinese names and English
#: translations are ~155 MB of CSV. Also the request-size limit of the web app (:mod:`dashboard.auth.headers`); an
#: upload above Werkzeug's 500 kB threshold is spooled to a temporary file, not kept in memory.
MAX_BYTES = 256 * 1024 * 1024
#: most data rows (features) of one file: the enterprise heat layer's scale
MAX_ROWS = 1_000_000
#: largest GeoJSON file, bytes: a GeoJSON document is parsed whole (no incremental JSON parser in the standard
#: library; ~10× its size in Python objects at the peak), so it keeps the former overall limit. Its layers (pipelines,
#: cameras) are small; large point layers come as CSV / XLSX.
MAX_GEOJSON_BYTES = 50 * 1024 * 1024
#: errors kept in a report: the first ones in row order (the count, ``n_errors``, is always complete)
MAX_ERRORS = 500
#: rows read, validated and staged at a time: bounds an import's memory (~5 MB of row dicts per batch) while keeping
#: the per-batch queries (duplicates, references) and the vectorised coordinate conversion efficient
IMPORT_BATCH_ROWS = 5_000
_CHUNK = 1 << 20
COORD_DECIMALS = 7
#: most vertices of one pipeline line. A monitored pipe segment runs from one junction or sensor to the next (a few
#: km); 10,000 vertices is 1 m spacing over 10 km. A larger line is an error of its row (a million-vertex line would
#: take the web process's memory and every browser that draws the city).
MAX_LINE_VERTICES = 10_000
#: longest CSV field, bytes: room for a line of MAX_LINE_VERTICES vertices (~25 bytes each), so that a longer line is
#: reported as an error of its row rather than as a broken file (Python's csv default is 128 KiB)
MAX_CSV_FIELD_BYTES = 1 << 20
csv.field_size_limit(max(csv.field_size_limit(), MAX_CSV_FIELD_BYTES))
#: rows per ``executemany`` call of :func:`bulk_insert` (the demo seeding's bulk path)
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
        errors: the first problems in row order (at most :data:`MAX_ERRORS`; ``n_errors`` counts all).
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
        """Record one problem (counted always; kept while fewer than :data:`MAX_ERRORS` are — a problem of the
        whole file, row 0, is always kept, in place of the last row's)."""
        self.n_errors += 1
        issue = ImportIssue(int(row), field_name, message)
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(issue)
        elif issue.row == 0:
            self.errors.sort(key=lambda e: (e.row, e.field))
            self.errors[-1] = issue

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


def _decodes_as(stream: BinaryIO, encoding: str) -> bool:
    """Whether the whole stream decodes as ``encoding`` (read in chunks: memory ~ :data:`_CHUNK`)."""
    stream.seek(0)
    dec = codecs.getincrementaldecoder(encoding)()
    try:
        while chunk := stream.read(_CHUNK):
            dec.decode(chunk)
        dec.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    finally:
        stream.seek(0)
    return True


def _text_encoding(stream: BinaryIO) -> str:
    for enc in ("utf-8-sig", "gb18030"):
        if _decodes_as(stream, enc):
            return enc
    raise _FileError("the file is neither UTF-8 nor GB 18030 text")


def _decode_text(data: bytes) -> str:
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise _FileError("the file is neither UTF-8 nor GB 18030 text")


class _Table(NamedTuple):
    """An opened file: its header, an iterator of ``(row number, {column index: raw value}, geometry | None)``
    that reads the file as it goes (raises :class:`_FileError` when the file breaks further on), and ``close()``
    (releases the reader; leaves the caller's stream open)."""

    header: list
    rows: Iterator[tuple[int, dict, Any]]
    close: Any


def _open_csv(stream: BinaryIO) -> _Table:
    encoding = _text_encoding(stream)
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")

    done = []

    def close():
        if not done:
            done.append(True)
            text.detach()  # leave the caller's stream open (a collected wrapper would close it)

    try:
        return _csv_table(text, close)
    except BaseException:
        close()
        raise


def _csv_table(text: io.TextIOWrapper, close) -> _Table:
    # the header line decides the delimiter (",", ";" or tab): data cells may contain the others (coordinate lists)
    first = ""
    for line in text:
        if line.strip("\r\n"):
            first = line
            break
    delimiter = max((",", ";", "\t"), key=lambda d: (first.count(d), d == ","))
    text.seek(0)
    reader = csv.reader(text, delimiter=delimiter)
    state = {"prev": 0}

    def records():
        try:
            for rec in reader:
                start = state["prev"] + 1
                state["prev"] = reader.line_num
                if not rec or all(not str(c).strip() for c in rec):
                    continue
                yield start, rec
        except csv.Error as exc:
            raise _FileError(f"CSV syntax error near line {reader.line_num}: {exc}") from None

    recs = records()
    head = next(recs, None)
    if head is None:
        raise _FileError("the file is empty (no header line)")

    return _Table(head[1], _limited_rows(recs), close)


def _limited_rows(recs):
    """``(row number, {column index: value}, None)`` for each ``(row number, values)`` record of a CSV or XLSX
    reader, refusing the file past :data:`MAX_ROWS` rows (:class:`_FileError`)."""
    for n, (row_no, values) in enumerate(recs, 1):
        if n > MAX_ROWS:
            raise _FileError(f"more than {MAX_ROWS} rows")
        yield row_no, dict(enumerate(values)), None


def _open_xlsx(stream: BinaryIO, layer: str) -> _Table:
    try:
        import openpyxl  # noqa: PLC0415
    except ImportError:  # pragma: no cover - pinned dependency
        raise _FileError("XLSX support needs openpyxl") from None
    try:
        # read-only: the sheet's XML is parsed as rows are asked for (memory does not grow with the sheet)
        wb = openpyxl.load_workbook(stream, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 — zipfile / XML / openpyxl errors alike
        raise _FileError(f"not a readable XLSX workbook: {exc.__class__.__name__}: {exc}") from None

    def records():
        try:
            ws = next((w for w in wb.worksheets if _norm_header(w.title) == layer), wb.worksheets[0])
            for cells in ws.iter_rows():
                values = [c.value for c in cells]
                row_no = next((getattr(c, "row", None) for c in cells if getattr(c, "row", None)), None)
                if not values or all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                    continue
                yield int(row_no or 0), values
        except _FileError:
            raise
        except Exception as exc:  # noqa: BLE001 — a broken sheet further on
            raise _FileError(f"not a readable XLSX workbook: {exc.__class__.__name__}: {exc}") from None

    recs = records()
    try:
        head = next(recs, None)
    except BaseException:
        wb.close()
        raise
    if head is None:
        wb.close()
        raise _FileError("the first worksheet is empty (no header row)")

    return _Table(head[1], _limited_rows(recs), wb.close)


def _open_geojson(stream: BinaryIO, size: int) -> _Table:
    # GeoJSON is parsed as one document (the standard library has no incremental JSON parser): its own, smaller
    # size limit bounds the memory; validation and writing still go batch by batch.
    if size > MAX_GEOJSON_BYTES:
        raise _FileError(f"a GeoJSON file may be at most {MAX_GEOJSON_BYTES // (1024 * 1024)} MB (this one is "
                         f"{size / (1024 * 1024):.0f} MB): use CSV or XLSX for large layers")
    try:
        doc = json.loads(_decode_text(stream.read()))
    except json.JSONDecodeError as exc:
        raise _FileError(f"invalid JSON: {exc}") from None
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        features = [doc]
    elif isinstance(doc, dict) and doc.get("type") == "FeatureCollection" and isinstance(doc.get("features"), list):
        features = doc["features"]
    else:
        raise _FileError("a GeoJSON FeatureCollection (or Feature) is expected")
    del doc
    if len(features) > MAX_ROWS:
        raise _FileError(f"more than {MAX_ROWS} features")
    keys: list[str] = []
    seen = set()
    for f in features:
        props = f.get("properties") if isinstance(f, dict) else None
        for k in (props if isinstance(props, dict) else {}):
            if k not in seen:
                seen.add(k)
                keys.append(k)

    def rows():
        for i in range(len(features)):
            f, features[i] = features[i], None  # free each feature once it is handed on
            if not isinstance(f, dict) or f.get("type") != "Feature":
                yield i + 1, {}, {"error": "not a GeoJSON Feature"}
                continue
            props = f.get("properties") or {}
            if not isinstance(props, dict):
                props = {}
            yield i + 1, {j: props.get(k) for j, k in enumerate(keys)}, f.get("geometry") or {"error": "no geometry"}

    return _Table(keys, rows(), lambda: None)


def _open_table(stream: BinaryIO, size: int, fmt: str, layer: str) -> _Table:
    if fmt == "csv":
        return _open_csv(stream)
    if fmt == "xlsx":
        return _open_xlsx(stream, layer)
    return _open_geojson(stream, size)


class _Source(NamedTuple):
    stream: BinaryIO
    size: int
    close: Any  # () -> None


def _open_source(source: bytes | bytearray | memoryview | str | Path | BinaryIO) -> _Source:
    """A seekable binary stream over ``source`` and its size, without reading a file into memory.

    Bytes are wrapped (no copy); a path is opened; a seekable file object at its start (an upload Werkzeug spooled to
    disk) is used as it is; any other one is copied to a temporary file (spooled in memory up
    to 8 MiB) — at most ``MAX_BYTES + 1`` bytes of it, enough to tell that it is too large.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _Source(io.BytesIO(source), len(source), lambda: None)
    if isinstance(source, (str, Path)):
        fh = open(source, "rb")  # noqa: SIM115 — closed by the caller through close()
        return _Source(fh, os.fstat(fh.fileno()).st_size, fh.close)
    try:
        seekable = source.seekable() and source.tell() == 0
    except (AttributeError, ValueError, OSError):
        seekable = False
    if seekable:
        size = source.seek(0, io.SEEK_END)
        source.seek(0)
        return _Source(source, size, lambda: None)
    spool = tempfile.SpooledTemporaryFile(max_size=8 << 20)
    n = 0
    while n <= MAX_BYTES and (chunk := source.read(min(_CHUNK, MAX_BYTES + 1 - n))):
        spool.write(chunk)
        n += len(chunk)
    spool.seek(0)
    return _Source(spool, n, spool.close)


def read_table(data: bytes | BinaryIO, filename: str, fmt: str | None = None,
               layer: str = "") -> tuple[str, list, list]:
    """Read a whole CSV / XLSX / GeoJSON file into a header and rows (no validation; memory grows with the file —
    for small files such as the station registry's; :func:`import_file` streams instead).

    Args:
        data: the file's bytes or a binary file object. filename: its name (format from the extension unless
            ``fmt``). layer: an XLSX worksheet of that name is preferred over the first one.
    Returns:
        ``(fmt, header, rows)``; ``rows``: ``[(row number as the user sees it, {column index: raw value},
        GeoJSON geometry dict or None), …]``.
    Raises:
        ValueError: unreadable file (message says why).
    """
    src = _open_source(data)
    try:
        f = _detect_format(filename, fmt)
        table = _open_table(src.stream, src.size, f, layer)
        try:
            rows = list(table.rows)
        finally:
            table.close()
    except _FileError as exc:
        raise ValueError(str(exc)) from None
    finally:
        src.close()
    return f, list(table.header), rows


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


class _Issues:
    """The problems of one batch (handed to the report sorted by row, so that the report keeps the first
    :data:`MAX_ERRORS` of the file); carries the report's ``crs`` and ``fmt`` for the checks that read them."""

    def __init__(self, report: ImportReport):
        self.items: list[ImportIssue] = []
        self.crs, self.fmt = report.crs, report.fmt

    def add(self, row: int, field_name: str, message: str) -> None:
        self.items.append(ImportIssue(int(row), field_name, message))


class _Stage:
    """A private scratch table (``TEMPORARY``: this connection only) holding the validated rows of an import until
    the whole file has passed; then one ``INSERT … SELECT`` moves them into the layer's table in the final
    transaction.

    Why not insert into the layer's table batch by batch in one long transaction: on SQLite that transaction would
    hold the database's only write lock while the rest of the file is read and validated (minutes for a million
    rows; the recorder and the alarm engine would wait on it), and a WAL read snapshot taken at its start could not
    be upgraded to a write once another process has written. The scratch table lives in SQLite's separate temp
    database (PostgreSQL: the session's temp schema) — writing it locks nothing others use; each batch commits, so
    no snapshot is held. It also answers "which row had this id first" for the duplicate check without keeping
    the file's ids in memory.

    Rows that were read but failed a later check are staged with their id and row number only (the duplicate
    check counts them, as before); nothing is copied when any row failed.
    """

    NAME = "cc_import_stage"
    ROW = "import_row"

    def __init__(self, conn, spec: LayerSpec):
        self.target = spec.model.__table__
        self.id_name = spec.id_field
        self._qualified = ("temp." if conn.dialect.name == "sqlite" else "pg_temp.") + self.NAME
        cols = [Column(self.ROW, Integer, nullable=False)]
        cols += [Column(c.name, c.type, primary_key=c.name == spec.id_field) for c in self.target.columns]
        self.table = Table(self.NAME, MetaData(), *cols, prefixes=["TEMPORARY"])
        self._defaults = {c.name: c.default.arg for c in self.target.columns
                          if c.default is not None and not c.primary_key}
        self.columns: list[str] | None = None  # the target columns written (from the first valid row)
        self.n_full = self.n_ids = 0
        self._analyzed = 1000  # rows in the table at the last ANALYZE (PostgreSQL), first one at 2,000
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self._qualified}")
        self.table.create(conn)
        conn.commit()

    def first_rows(self, conn, ids: Sequence[str]) -> dict[str, int]:
        """``{id: row number}`` of the ids already staged (earlier batches)."""
        col, row = self.table.c[self.id_name], self.table.c[self.ROW]
        found: dict[str, int] = {}
        ids = list(ids)
        for i in range(0, len(ids), 500):
            found.update((k, n) for k, n in conn.execute(select(col, row).where(col.in_(ids[i:i + 500]))))
        return found

    def add(self, conn, full: Sequence[tuple[int, dict]], ids_only: Sequence[tuple[int, str]]) -> None:
        """Stage valid rows (``(row, column dict)``, Python-side column defaults filled as :func:`insert_rows`
        does) and the ids of the other rows read (``(row, id)``)."""
        if full:
            if self.columns is None:
                self.columns = [c.name for c in self.target.columns if c.name in full[0][1] or c.name in self._defaults]

            def values(row_no, d):
                out = [row_no]
                for c in self.columns:
                    if c in d:
                        out.append(d[c])
                    else:
                        arg = self._defaults[c]
                        out.append(arg(None) if callable(arg) else arg)
                return out

            self.n_full += bulk_insert(conn, self.table, (values(n, d) for n, d in full), [self.ROW, *self.columns])
        if ids_only:
            self.n_ids += bulk_insert(conn, self.table, ids_only, [self.ROW, self.id_name])
        n = self.n_full + self.n_ids
        if conn.dialect.name == "postgresql" and n >= 2 * self._analyzed:
            # autovacuum never analyses temp tables; without statistics (and with psycopg's prepared statements
            # keeping a plan made while the table was small) the id look-ups of first_rows() turn into sequential
            # scans (~1 s per query at 200,000 rows). ANALYZE when the table has doubled: a handful per import.
            conn.exec_driver_sql(f"ANALYZE {self._qualified}")
            self._analyzed = n

    def copy(self, conn) -> int:
        """``INSERT INTO <layer> SELECT … FROM`` the stage, in file order, in the caller's transaction; returns the
        rows written."""
        if not self.columns:
            return 0
        sel = select(*[self.table.c[c] for c in self.columns]).order_by(self.table.c[self.ROW])
        n = conn.execute(self.target.insert().from_select(self.columns, sel)).rowcount
        return n if n is not None and n >= 0 else self.n_full

    def drop(self, conn) -> None:
        """Remove the scratch table (errors ignored: a lost connection takes it along)."""
        try:
            conn.rollback()
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self._qualified}")
            conn.commit()
        except Exception:  # noqa: BLE001 — best effort; a temp table dies with its connection
            conn.invalidate()


def _source_name(source: Any, fmt: str | None) -> str:
    if isinstance(source, (str, Path)):
        return Path(source).name
    name = getattr(source, "filename", None) or getattr(source, "name", None)
    return Path(name).name if isinstance(name, str) and name else f"upload.{fmt or 'csv'}"


def import_file(engine: Engine, layer: str, source: bytes | str | Path | BinaryIO, *, actor: str, role: str,
                crs: str = "WGS84", region_adcode: str | None = None, filename: str | None = None,
                fmt: str | None = None, region_index=None) -> ImportReport:
    """Validate a file and, if every row is valid, insert all of it (see the module docstring).

    The file is streamed: read, validated and staged :data:`IMPORT_BATCH_ROWS` rows at a time (CSV row by row;
    XLSX with openpyxl's read-only mode; GeoJSON parsed whole, within :data:`MAX_GEOJSON_BYTES`), so memory grows
    with the batch, not with the file (≤ :data:`MAX_BYTES`, ≤ :data:`MAX_ROWS` rows). Every row is checked even
    after errors (the report keeps the first :data:`MAX_ERRORS` problems in row order and counts all of them); the
    layer's table is written only when the whole file passed, in one transaction with the audit entry.

    Args:
        engine: the database (migrated to ≥ 0004).
        layer: ``"stations"``, ``"cameras"``, ``"pipelines"``, ``"shops"`` or ``"enterprises"``.
        source: the file: bytes, a path, or a binary file object (e.g. the upload Werkzeug spooled to disk; read
            from its start if seekable and at position 0, else copied to a temporary file first; not closed).
        actor: user name for the audit log. role: the user's role (must be in :data:`ALLOWED_ROLES`).
        crs: the file's coordinate system: ``WGS84`` (GPS), ``GCJ02`` (Amap/Tencent), ``BD09`` (Baidu); aliases
            as :func:`geo.crs.normalize_crs`.
        region_adcode: when given (a city, province or ``100000``), every position (for enterprises: the
            registered address; for pipelines: every vertex) must lie in it.
        filename: shown in reports and the audit target (default: the path's or file object's name).
        fmt: ``csv`` | ``xlsx`` | ``geojson`` (default: from the file name).
    Returns:
        :class:`ImportReport` (``ok`` → written; else nothing written and ``errors`` say why).
    Raises:
        PermissionError: ``role`` not allowed (audited as ``refused``).
        ValueError: unknown ``layer`` (a programming error, not audited).
        OSError: ``source`` is a path that cannot be opened.
        sqlalchemy.exc.SQLAlchemyError: the database is unreachable (the audit cannot be written either).
    """
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}; expected one of {', '.join(LAYERS)}")
    spec = LAYERS[layer]
    filename = filename or _source_name(source, fmt)
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
    src = _open_source(source)
    try:
        if src.size > MAX_BYTES:
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
        table = None
        if not report.errors:
            try:
                report.fmt = _detect_format(filename, fmt)
                table = _open_table(src.stream, src.size, report.fmt, layer)
            except _FileError as exc:
                report.add(0, "format" if "format" in str(exc) else "", str(exc))
        if table is not None:
            try:
                _stream_into(engine, spec, table, report, idx, region, _audit_values(actor, role, target, "ok", {}))
            finally:
                table.close()
    finally:
        src.close()
    if not report.ok:
        report.written = 0
        report.errors.sort(key=lambda e: (e.row, e.field))
        _write_audit(engine, _audit_values(actor, role, target, "rejected", _detail(report)))
    return report


def _stream_into(engine: Engine, spec: LayerSpec, table: _Table, report: ImportReport, idx, region,
                 audit_ok: dict) -> None:
    """Validate and stage ``table`` batch by batch; when no row failed, copy it into the layer's table with the
    ``ok`` audit entry in one transaction. Problems go to ``report``; the caller audits a rejection."""
    mapped = _map_columns(spec, table.header, report)
    if mapped is None:
        return
    all_fields, col_of = mapped
    with engine.connect() as conn:
        db_errors = (SQLAlchemyError, getattr(conn.dialect, "loaded_dbapi", conn.dialect.dbapi).Error)
        stage = _Stage(conn, spec)
        try:
            try:
                batch: list = []
                for item in table.rows:
                    report.rows_read += 1
                    batch.append(item)
                    if len(batch) >= IMPORT_BATCH_ROWS:
                        _import_batch(conn, stage, spec, all_fields, col_of, batch, report, idx, region)
                        batch = []
                if batch:
                    _import_batch(conn, stage, spec, all_fields, col_of, batch, report, idx, region)
            except _FileError as exc:
                report.add(0, exc.field, str(exc))
            except db_errors as exc:
                report.add(0, "", "the database refused the import, nothing was written: "
                                  f"{str(getattr(exc, 'orig', None) or exc).strip()[:300]}")
            if report.n_errors:
                return
            try:
                report.written = stage.copy(conn)
                conn.execute(insert(AuditEntry.__table__).values(**{**audit_ok, "detail": json.dumps(
                    _detail(report), ensure_ascii=False, default=str)}))
                conn.commit()
            except Exception as exc:  # noqa: BLE001 — any failure while writing: rolled back, reported, audited
                conn.rollback()
                report.written = 0
                orig = getattr(exc, "orig", None) or exc
                report.add(0, "", f"the database refused the import, nothing was written: {str(orig).strip()[:300]}")
        finally:
            stage.drop(conn)


def _import_batch(conn, stage: _Stage, spec: LayerSpec, all_fields: list[Field], col_of: dict[str, int],
                  batch: list, report: ImportReport, idx, region) -> None:
    """Validate one batch of rows (values, duplicates against the earlier rows and the database, positions,
    references, layer rules), stage it and commit the scratch table."""
    issues = _Issues(report)
    parsed = []
    for row_no, cells, geom in batch:
        p = _parse_row(spec, all_fields, col_of, row_no, cells, geom, issues, report.fmt == "geojson")
        if p is not None:
            parsed.append((row_no, *p))
    # duplicates within the file (first occurrence wins, also across batches; later ones are errors)
    earlier = stage.first_rows(conn, [v[spec.id_field] for _, v, _ in parsed])
    first_row: dict[str, int] = {}
    unique = []
    for row_no, vals, shape in parsed:
        key = vals[spec.id_field]
        first = earlier.get(key, first_row.get(key))
        if first is not None:
            issues.add(row_no, spec.id_field, f"duplicate id {key!r} (first in row {first})")
            continue
        first_row[key] = row_no
        unique.append((row_no, vals, shape))
    # duplicates in the database
    existing = _existing_ids(conn, getattr(spec.model, spec.id_field), [v[spec.id_field] for _, v, _ in unique])
    refs = _reference_sets(conn, spec, unique)
    kept = []
    for row_no, vals, shape in unique:
        if vals[spec.id_field] in existing:
            issues.add(row_no, spec.id_field, f"id {vals[spec.id_field]!r} already exists in the database")
            continue
        kept.append((row_no, vals, shape))
    ids = {row_no: vals[spec.id_field] for row_no, vals, _ in unique}  # before the rules may change vals
    # positions: convert and locate, the whole batch at once; then references and per-layer rules
    final = [(row_no, vals) for row_no, vals in _positions(spec, kept, issues, idx, region)
             if _layer_rules(spec, row_no, vals, refs, issues)]
    report.rows_ok += len(final)
    # once any row failed nothing will be written: stage ids only (for the duplicate check)
    full = final if not (report.n_errors or issues.items) else []
    staged = {row_no for row_no, _ in full}
    stage.add(conn, full, [(row_no, key) for row_no, key in ids.items() if row_no not in staged])
    conn.commit()
    for issue in sorted(issues.items):
        report.add(*issue)


def _detail(report: ImportReport) -> dict:
    d = {"format": report.fmt, "crs": report.crs, "region": report.region_adcode, "rows_read": report.rows_read,
         "rows_ok": report.rows_ok, "written": report.written}
    if report.n_errors:
        d["n_errors"] = report.n_errors
        d["errors"] = [list(e) for e in report.errors[:20]]
    return d


def _map_columns(spec: LayerSpec, header: list, report: ImportReport) -> tuple[list[Field], dict[str, int]] | None:
    """The fields of this file and ``{field name: column index}``; ``None`` (problems in ``report``) when a
    required column is missing or a header appears twice."""
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
        return None
    return all_fields, col_of


def _parse_row(spec: LayerSpec, all_fields: list[Field], col_of: dict[str, int], row_no: int, cells: dict, geom,
               report, is_geojson: bool) -> tuple[dict, Any] | None:
    """One row's values and geometry (in the file's CRS), or ``None`` after recording its problems."""
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
    if bad or shape is None:
        return None
    return vals, shape


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
