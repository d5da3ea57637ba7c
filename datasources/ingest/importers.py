"""Import stations, cameras, pipelines, shops and enterprises from CSV, XLSX or GeoJSON files.

One call, :func:`import_file`, does everything for one file:

1. **Authorise**: ``role`` must be ``admin`` or ``duty_officer`` (:data:`ALLOWED_ROLES`), else
   :class:`PermissionError` — after an audit entry with result ``refused``. (The web layer authenticates the user and
   passes their name and role; this module trusts them.)
2. **Read** the file (format from ``fmt`` or the file name: ``.csv``, ``.xlsx``, ``.geojson`` / ``.json``, ``.gpkg``,
   ``.zip`` (a zipped Shapefile) — the last two read by :func:`geo.files.read_features`, reprojected from the CRS the
   file declares; ``crs`` then names the datum of its degrees, e.g. GCJ-02). CSV:
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

The jobs live in their own modules: :mod:`datasources.ingest.readers` (files), :mod:`datasources.ingest.specs`
(what a layer's file holds: columns, rules, references, target table), :mod:`datasources.ingest.validation` (values,
geometry, positions), :mod:`datasources.ingest.staging` (the scratch table, bulk writes, the audit entry) and
:mod:`datasources.ingest.report`; this module runs them for one file. The map layers own their specs
(``Layer.import_spec``, :mod:`layers.registry`).

Stored coordinates: WGS-84 degrees, rounded to 7 decimals (~1 cm). Derived columns (province/city adcodes,
pipeline bbox and length, a shop's QR payload, a camera's stream URL) are computed here. A stations import writes
the site records only (devices come from the fleet configuration). A pipeline in CSV / XLSX has its line in a
``geometry`` column (WKT ``LINESTRING (…)`` or a GeoJSON LineString) or a ``coords`` column
(``lon,lat;lon,lat;…``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from datasources.ingest.readers import (FEATURE_FORMATS, FORMATS, MAX_BYTES, MAX_GEOJSON_BYTES, MAX_ROWS, _detect_format, _FileError,
                                        _Table, open_source, open_table, read_table)
from datasources.ingest.report import MAX_ERRORS, ImportIssue, ImportReport
from datasources.ingest.specs import LAYERS, Field, LayerSpec
from datasources.ingest.staging import _Stage, bulk_insert, existing_ids, insert_rows
from datasources.sql.audit import audit_row, insert_audit, write_audit_row
from datasources.ingest.validation import (MAX_LINE_VERTICES, _Issues, _map_columns, _parse_row, _positions)
from geo.crs import normalize_crs

__all__ = [
    "ALLOWED_ROLES", "FORMATS", "IMPORT_BATCH_ROWS", "LAYERS", "MAX_BYTES", "MAX_ERRORS", "MAX_GEOJSON_BYTES",
    "MAX_LINE_VERTICES", "MAX_ROWS", "ImportIssue", "ImportReport", "Field", "LayerSpec",
    "import_file", "read_table", "bulk_insert", "insert_rows", "resolve_spec",
]

#: roles that may import (authorisation by the caller; this module refuses the others too)
ALLOWED_ROLES = ("admin", "duty_officer")
#: rows read, validated and staged at a time: bounds an import's memory (~5 MB of row dicts per batch) while keeping
#: the per-batch queries (duplicates, references) and the vectorised coordinate conversion efficient
IMPORT_BATCH_ROWS = 5_000


def resolve_spec(layer: "str | LayerSpec") -> LayerSpec:
    """The :class:`LayerSpec` of ``layer``: a spec as it is, a name from :data:`LAYERS`.

    Raises:
        ValueError: unknown name.
    """
    if isinstance(layer, LayerSpec):
        return layer
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}; expected one of {', '.join(LAYERS)}")
    return LAYERS[layer]


def _source_name(source: Any, fmt: str | None) -> str:
    if isinstance(source, (str, Path)):
        return Path(source).name
    name = getattr(source, "filename", None) or getattr(source, "name", None)
    return Path(name).name if isinstance(name, str) and name else f"upload.{fmt or 'csv'}"


def import_file(engine: Engine, layer: "str | LayerSpec", source: bytes | str | Path | BinaryIO, *, actor: str, role: str,
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
        layer: ``"stations"``, ``"cameras"``, ``"pipelines"``, ``"shops"``, ``"enterprises"`` (:data:`LAYERS`) or
            a layer's own :class:`LayerSpec`.
        source: the file: bytes, a path, or a binary file object (e.g. the upload Werkzeug spooled to disk; read
            from its start if seekable and at position 0, else copied to a temporary file first; not closed).
        actor: user name for the audit log. role: the user's role (must be in :data:`ALLOWED_ROLES`).
        crs: the file's coordinate system: ``WGS84`` (GPS), ``GCJ02`` (Amap/Tencent), ``BD09`` (Baidu); aliases
            as :func:`geo.crs.normalize_crs`.
        region_adcode: when given (a city, province or ``100000``), every position (for enterprises: the
            registered address; for pipelines: every vertex) must lie in it.
        filename: shown in reports and the audit target (default: the path's or file object's name).
        fmt: ``csv`` | ``xlsx`` | ``geojson`` | ``gpkg`` | ``shp`` (a zipped Shapefile) (default: from the file
            name).
    Returns:
        :class:`ImportReport` (``ok`` → written; else nothing written and ``errors`` say why).
    Raises:
        PermissionError: ``role`` not allowed (audited as ``refused``).
        ValueError: unknown ``layer`` (a programming error, not audited).
        OSError: ``source`` is a path that cannot be opened.
        sqlalchemy.exc.SQLAlchemyError: the database is unreachable (the audit cannot be written either).
    """
    spec = resolve_spec(layer)
    layer = spec.key
    filename = filename or _source_name(source, fmt)
    target = f"{layer}:{filename}"
    if role not in ALLOWED_ROLES:
        write_audit_row(engine, audit_row(actor, role, "import", target, "refused",
                                           {"reason": f"role {role!r} may not import", "allowed": ALLOWED_ROLES}))
        raise PermissionError(f"role {role!r} may not import data; allowed: {', '.join(ALLOWED_ROLES)}")
    report = ImportReport(layer=layer, filename=filename, region_adcode=region_adcode)
    try:
        report.crs = normalize_crs(crs)
    except ValueError as exc:
        report.crs = str(crs)
        report.add(0, "crs", str(exc))
    src = open_source(source)
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
                table = open_table(src.stream, src.size, report.fmt, layer, filename)
            except _FileError as exc:
                report.add(0, "format" if "format" in str(exc) else "", str(exc))
        if table is not None:
            try:
                if spec.path is not None:  # a path of its own (stations: the registry's), auditing itself
                    spec.path(engine, spec, table, report, idx, region,
                              {"actor": actor, "role": role, "target": target, "detail": _detail(report)})
                else:
                    _stream_into(engine, spec, table, report, idx, region,
                                 audit_row(actor, role, "import", target, "ok", {}))
            finally:
                table.close()
    finally:
        src.close()
    if not report.ok:
        report.written = 0
        report.errors.sort(key=lambda e: (e.row, e.field))
    if not report.ok and not report.audited:
        write_audit_row(engine, audit_row(actor, role, "import", target, "rejected", _detail(report)))
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
                insert_audit(conn, {**audit_ok, "detail": json.dumps(
                    _detail(report), ensure_ascii=False, default=str)})
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
        p = _parse_row(spec, all_fields, col_of, row_no, cells, geom, issues, report.fmt in FEATURE_FORMATS)
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
    existing = existing_ids(conn, getattr(spec.model, spec.id_field), [v[spec.id_field] for _, v, _ in unique])
    refs = {name: existing_ids(conn, column, sorted({v[f] for _, v, _ in unique for f in fields if v.get(f)}))
            for name, (column, fields) in spec.references.items()}
    kept = []
    for row_no, vals, shape in unique:
        if vals[spec.id_field] in existing:
            issues.add(row_no, spec.id_field, f"id {vals[spec.id_field]!r} already exists in the database")
            continue
        kept.append((row_no, vals, shape))
    ids = {row_no: vals[spec.id_field] for row_no, vals, _ in unique}  # before the rules may change vals
    # positions: convert and locate, the whole batch at once; then references and per-layer rules
    final = [(row_no, vals) for row_no, vals in _positions(spec, kept, issues, idx, region)
             if _rules_pass(spec, row_no, vals, refs, issues)]
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



def _rules_pass(spec: LayerSpec, row_no: int, vals: dict, refs, issues: _Issues) -> bool:
    """Run the spec's cross-field rules on one row; False when they recorded a problem."""
    if spec.rules is None:
        return True
    bad = []

    def err(name: str, message: str) -> None:
        bad.append(True)
        issues.add(row_no, name, message)

    spec.rules(vals, refs, err)
    return not bad
