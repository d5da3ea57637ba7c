"""Validating import rows (the job "validation" of the importer), data-driven as Home Assistant's Modbus
``validators.py``: a layer's :class:`datasources.ingest.specs.LayerSpec` says the columns, and this module checks each
value (:func:`_parse`: required, type, range, length, enum), reads its geometry (:func:`_parse_row`: Point, LineString
as WKT / GeoJSON / ``lon,lat;…``, two points), maps headers to fields (:func:`_map_columns`) and converts and locates
positions a batch at a time (:func:`_positions`: declared CRS → WGS-84 with :mod:`geo.crs`, inside China and inside
the declared region with :meth:`geo.regions.RegionIndex.locate_many`). Messages are English and name the value.
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter
from typing import Any, Mapping

import numpy as np
import shapely

from datasources.ingest.readers import FEATURE_FORMATS
from datasources.ingest.report import ImportIssue, ImportReport
from datasources.ingest.specs import _GEOMETRY_FIELDS, Field, LayerSpec, _norm_header
from geo.crs import haversine_m, transform_many

COORD_DECIMALS = 7
#: most vertices of one pipeline line. A monitored pipe segment runs from one junction or sensor to the next (a few
#: km); 10,000 vertices is 1 m spacing over 10 km. A larger line is an error of its row (a million-vertex line would
#: take the web process's memory and every browser that draws the city).
MAX_LINE_VERTICES = 10_000

_ID_RE = re.compile(r"[A-Za-z0-9_.\-]+")
_THOUSANDS_RE = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")


class _Issues:
    """The problems of one batch (handed to the report sorted by row, so that the report keeps the first
    :data:`MAX_ERRORS` of the file); carries the report's ``crs`` and ``fmt`` for the checks that read them."""

    def __init__(self, report: ImportReport):
        self.items: list[ImportIssue] = []
        self.crs, self.fmt = report.crs, report.fmt

    def add(self, row: int, field_name: str, message: str) -> None:
        self.items.append(ImportIssue(int(row), field_name, message))



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



def _map_columns(spec: LayerSpec, header: list, report: ImportReport) -> tuple[list[Field], dict[str, int]] | None:
    """The fields of this file and ``{field name: column index}``; ``None`` (problems in ``report``) when a
    required column is missing or a header appears twice."""
    fields = list(spec.fields)
    geo_fields = list(_GEOMETRY_FIELDS[spec.geometry])
    is_geojson = report.fmt in FEATURE_FORMATS
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
    if report.fmt in FEATURE_FORMATS:
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


