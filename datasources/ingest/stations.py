"""The one station importer: a stations file imported as a map layer (``POST /api/import/stations``, the import
dialog) goes the station registry's way (:mod:`datasources.ingest.registry`), so that a station is checked, written
and audited the same whichever door it came in by:

* **validation**: every row by :func:`datasources.ingest.registry.validate_station` (id, names, kind and lifecycle
  with their Chinese labels, position converted from the declared CRS to WGS-84 and located inside China, adcodes
  derived from the point, capacity, partner) — plus the layer import's file rules: the columns and aliases of the
  stations spec (:data:`datasources.ingest.specs.STATIONS`), an id once per file and not already in the database, and
  every position inside the declared region;
* **transaction and audit**: :func:`datasources.ingest.registry.commit_stations` — the registry's all-or-nothing
  write (a simulated demo station cannot be overwritten; real, registered stations, ``simulated=False``) with its
  audit entry in the same transaction; a rejected file is audited by the registry's writer as well.

Reading is the importer's (:mod:`datasources.ingest.readers`, CSV / XLSX / GeoJSON). A stations import writes the
site records only (devices come from the registry's device file, :func:`datasources.ingest.registry.import_devices`).
"""
from __future__ import annotations

from typing import Any

from datasources.ingest.readers import FEATURE_FORMATS, _FileError, _Table
from datasources.ingest.report import ImportReport
from datasources.ingest.specs import LayerSpec
from datasources.ingest.validation import _map_columns, _point_from_geojson

#: registry field ← stations-spec field (the registry's names for the same columns)
_FIELDS = ("station_id", "name", "name_en", "kind", "lifecycle", "capacity_m3_min", "partner")
#: the registry's file-column names in its problems → this file's (the stations spec's) column names
_SPEC_NAME = {"station_name": "name", "station_name_en": "name_en", "station_kind": "kind"}


def _raw_cells(all_fields, col_of: dict[str, int], cells: dict) -> dict[str, Any]:
    return {f.name: cells.get(col_of[f.name]) for f in all_fields if f.name in col_of}


def import_station_table(engine, spec: LayerSpec, table: _Table, report: ImportReport, idx, region,
                         audit: dict) -> None:
    """Validate every row of ``table`` with the registry's rules and, when all passed, write them with the registry's
    transaction and audit entry. Problems go to ``report``; ``report.audited`` is set (the registry wrote the audit
    entry, ``ok`` or ``rejected``).

    Args:
        spec: the stations spec (columns and aliases). table: the opened file. idx: the region index.
        region: the declared region (:class:`geo.regions.Region`) or ``None``.
        audit: ``{"actor", "role", "target", "detail"}`` of the import (``action="import"``).
    """
    from datasources.ingest import registry  # noqa: PLC0415 — the registry reads files with this package's readers
    from datasources.sql.fleet_spec import StationSpec  # noqa: PLC0415

    report.audited = True
    actor, role, target = audit["actor"], audit["role"], audit["target"]
    mapped = _map_columns(spec, table.header, report)
    if mapped is None:
        registry.audit_rejected(engine, actor, role, "import", target, list(report.errors))
        return
    all_fields, col_of = mapped
    fields_by_row: dict[str, dict] = {}
    row_of: dict[str, int] = {}
    try:
        for row_no, cells, geom in table.rows:
            report.rows_read += 1
            raw = _raw_cells(all_fields, col_of, cells)
            if report.fmt in FEATURE_FORMATS:
                try:
                    if isinstance(geom, dict) and "error" in geom:
                        raise ValueError(geom["error"])
                    raw["lon"], raw["lat"] = _point_from_geojson(geom)
                except (ValueError, TypeError) as exc:
                    report.add(row_no, "geometry", str(exc)[:200])
                    continue
            sid = str(raw.get("station_id") or "").strip()
            if sid and sid in row_of:
                report.add(row_no, "station_id", f"duplicate id {sid!r} (first in row {row_of[sid]})")
                continue
            issues: list = []
            fields = registry.validate_station({k: raw.get(k) for k in (*_FIELDS, "lon", "lat")}, row=row_no,
                                               crs=report.crs, region_index=idx, issues=issues)
            for issue in issues:
                report.add(issue.row, _SPEC_NAME.get(issue.field, issue.field), issue.message)
            if fields is None:
                continue
            if region is not None and region.level != "country":
                got = fields["province_adcode"] if region.level == "province" else fields["city_adcode"]
                if got != region.adcode:
                    report.add(row_no, "lon", f"({fields['lon']:.6f}, {fields['lat']:.6f}) is in {got}, not in "
                                              f"{region.name_zh} ({region.adcode})")
                    continue
            row_of[sid] = row_no
            fields_by_row[sid] = fields
    except _FileError as exc:
        report.add(0, exc.field, str(exc))
    existing = registry.existing_station_ids(engine, list(fields_by_row))
    for sid in existing:
        report.add(row_of[sid], "station_id", f"id {sid!r} already exists in the database")
    report.rows_ok = len(fields_by_row) - len(existing)
    if report.n_errors:
        report.errors.sort(key=lambda e: (e.row, e.field))
        registry.audit_rejected(engine, actor, role, "import", target, list(report.errors))
        return
    specs = [StationSpec(**f, devices=()) for f in fields_by_row.values()]
    detail = {**audit.get("detail", {}), "rows_read": report.rows_read, "rows_ok": report.rows_ok,
              "written": len(specs), "stations": [s.station_id for s in specs]}
    try:
        registry.commit_stations(engine, specs, action="import", target=target, actor=actor, role=role,
                                 rows=row_of, detail=detail)
    except registry.RegistryError as err:  # conflicts found in the transaction: audited there
        for issue in err.issues:
            report.add(issue.row, issue.field, issue.message)
        return
    except Exception as exc:  # noqa: BLE001 — the database refused: rolled back, reported, audited
        report.add(0, "", "the database refused the import, nothing was written: "
                          f"{str(getattr(exc, 'orig', None) or exc).strip()[:300]}")
        registry.audit_rejected(engine, actor, role, "import", target, list(report.errors))
        return
    report.written = len(specs)
