"""Reading import files: CSV, XLSX and GeoJSON, streamed (the job "readers" of the importer).

:func:`open_source` gives a seekable binary stream over bytes, a path or a file object without reading it into
memory; :func:`open_table` opens it as a header plus an iterator of rows ``(row number, {column index: raw value},
GeoJSON geometry | None)``; :func:`read_table` reads a small file whole (the station registry's).

CSV: UTF-8 (with or without BOM) or GB 18030 (what Chinese Excel writes), header in the first line, delimiter ``,``
``;`` or tab chosen from the header. XLSX: the first worksheet (or one named like the layer), openpyxl's read-only mode,
header in its first non-empty row. GeoJSON: a FeatureCollection (or one Feature), parsed whole within
:data:`MAX_GEOJSON_BYTES`. A file that cannot be read raises :class:`_FileError` (an error of row 0).
"""
from __future__ import annotations

import codecs
import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Iterator, NamedTuple

from datasources.ingest.specs import _norm_header

FORMATS = ("csv", "xlsx", "geojson", "gpkg", "shp")
#: formats whose rows are features (properties + a geometry) rather than table rows with coordinate columns
FEATURE_FORMATS = ("geojson", "gpkg", "shp")
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
_CHUNK = 1 << 20
#: longest CSV field, bytes: room for a line of MAX_LINE_VERTICES vertices (~25 bytes each), so that a longer line is
#: reported as an error of its row rather than as a broken file (Python's csv default is 128 KiB)
MAX_CSV_FIELD_BYTES = 1 << 20
csv.field_size_limit(max(csv.field_size_limit(), MAX_CSV_FIELD_BYTES))


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
               ".json": "geojson", ".gpkg": "gpkg", ".zip": "shp", ".shp": "shp"}
    if ext not in mapping:
        raise _FileError(f"cannot tell the format of {filename!r}: use .csv, .xlsx, .geojson, .gpkg or a zipped "
                         f"Shapefile (.zip)", "format")
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
    return _features_table(features)


def _open_vector(stream: BinaryIO, size: int, name: str) -> _Table:
    """A GeoPackage or a zipped Shapefile: read whole by :func:`geo.files.read_features` (geopandas / pyogrio) and
    reprojected from the file's declared CRS to geographic degrees (WGS-84 axes; a GCJ-02 / BD-09 datum declared for
    the import is converted later, with every other format's positions). Same size limit as GeoJSON."""
    from geo.files import GeoFileError, read_features  # noqa: PLC0415 — geopandas: paid only by these imports

    if size > MAX_GEOJSON_BYTES:
        raise _FileError(f"a GeoPackage / Shapefile may be at most {MAX_GEOJSON_BYTES // (1024 * 1024)} MB (this one "
                         f"is {size / (1024 * 1024):.0f} MB): use CSV or XLSX for large layers")
    try:
        features = read_features(stream.read(), max_features=MAX_ROWS, name=name or "<upload>")
    except GeoFileError as exc:
        raise _FileError(str(exc)) from None
    return _features_table(features)


def _features_table(features: list) -> _Table:
    """The table of a list of GeoJSON features: columns = the properties' keys in order of appearance."""
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


def open_table(stream: BinaryIO, size: int, fmt: str, layer: str, name: str = "") -> _Table:
    """Open ``stream`` (``size`` bytes) as a table of format ``fmt`` (:data:`FORMATS`); ``layer`` names the XLSX
    worksheet preferred, ``name`` the file in messages.

    Raises:
        _FileError: unreadable file (an error of row 0).
    """
    if fmt == "csv":
        return _open_csv(stream)
    if fmt == "xlsx":
        return _open_xlsx(stream, layer)
    if fmt in ("gpkg", "shp"):
        return _open_vector(stream, size, name)
    return _open_geojson(stream, size)


class _Source(NamedTuple):
    stream: BinaryIO
    size: int
    close: Any  # () -> None


def open_source(source: bytes | bytearray | memoryview | str | Path | BinaryIO) -> _Source:
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
    src = open_source(data)
    try:
        f = _detect_format(filename, fmt)
        table = open_table(src.stream, src.size, f, layer)
        try:
            rows = list(table.rows)
        finally:
            table.close()
    except _FileError as exc:
        raise ValueError(str(exc)) from None
    finally:
        src.close()
    return f, list(table.header), rows

