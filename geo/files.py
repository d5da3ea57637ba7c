"""Vector files of a map layer — GeoPackage (``.gpkg``), Shapefile (``.shp``, or zipped ``.zip``), GeoJSON — read
with their declared CRS into WGS-84 (EPSG:4326) GeoJSON-like features, for the layer importer.

Reading is ``geopandas.read_file`` (pyogrio / GDAL); reprojection from the file's declared CRS (a GeoPackage's
``gpkg_spatial_ref_sys``, a Shapefile's ``.prj``) to EPSG:4326 is ``GeoDataFrame.to_crs`` (pyproj), e.g. CGCS2000
(EPSG:4490), a Gauss–Krüger zone (EPSG:4547 …) or Web Mercator (EPSG:3857). Chinese web-map datums are not EPSG
CRSs: a file whose coordinates are GCJ-02 (Amap, Tencent) or BD-09 (Baidu) declares EPSG:4326 at best, so the caller
names the datum (``datum="GCJ02"`` / ``"BD09"``) and :mod:`geo.crs` converts it to WGS-84 once, here, after the
reprojection.

Errors are :class:`GeoFileError` (a ``ValueError``) with a message ``"<file>: <reason>"`` (and the feature number,
0-based, for a bad geometry): unreadable file or layer, no declared CRS (and no ``assume_crs``), a CRS pyproj does not
know, a CRS that cannot be converted to WGS-84, missing / invalid / non-finite / out-of-range geometries, too many
features.

This module imports nothing of the project but :mod:`geo.crs`.
"""
from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from .crs import normalize_crs, transform_geometry

__all__ = ["GeoFileError", "SUFFIXES", "read_features"]

#: file name endings read by :func:`read_features`
SUFFIXES = (".gpkg", ".shp", ".zip", ".geojson", ".json")
WGS84_EPSG = 4326


class GeoFileError(ValueError):
    """A vector file that cannot be read as WGS-84 features; ``str(error)`` is ``"<file>: <reason>"``.

    Attributes:
        source: the file name as given (or ``"<bytes>"``).
        reason: the reason alone.
        feature: 0-based number of the offending feature, or ``None``.
    """

    def __init__(self, source: str, reason: str, feature: int | None = None):
        self.source, self.reason, self.feature = source, reason, feature
        where = f"{source}: feature {feature}" if feature is not None else source
        super().__init__(f"{where}: {reason}")


def _read_frame(source, name: str, layer: str | int | None, max_features: int | None):
    import geopandas as gpd  # noqa: PLC0415 — ~0.5 s to import; only an import of a file pays it
    from pyogrio.errors import DataLayerError, DataSourceError  # noqa: PLC0415

    data = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    kwargs: dict[str, Any] = {"engine": "pyogrio"}
    if layer is not None:
        kwargs["layer"] = layer
    if max_features is not None:
        kwargs["max_features"] = int(max_features) + 1  # one more: tells "too many" from "exactly the limit"
    try:
        return gpd.read_file(data, **kwargs)
    except (DataSourceError, DataLayerError) as exc:
        raise GeoFileError(name, f"cannot read the file or layer ({exc})") from None
    except (OSError, ValueError) as exc:
        raise GeoFileError(name, f"cannot read the file ({exc})") from None


def _check_prj(prj: Path, name: str) -> None:
    """Raise "unknown CRS" when a Shapefile's ``.prj`` is not a CRS pyproj can read (GDAL then refuses the file with
    a parser message such as "missing [", or reads no CRS at all)."""
    from pyproj import CRS  # noqa: PLC0415
    from pyproj.exceptions import CRSError  # noqa: PLC0415

    try:
        CRS.from_wkt(prj.read_text(encoding="utf-8", errors="replace"))
    except CRSError as exc:
        raise GeoFileError(name, f"unknown CRS: {prj.name} cannot be interpreted ({exc})") from None


def _resolve_crs(frame, name: str, assume_crs, prj: Path | None):
    from pyproj import CRS  # noqa: PLC0415
    from pyproj.exceptions import CRSError  # noqa: PLC0415

    declared = frame.crs
    if declared is None and prj is not None and prj.is_file() and prj.read_bytes().strip():
        _check_prj(prj, name)
        raise GeoFileError(name, f"unknown CRS: {prj.name} cannot be interpreted (GDAL read no CRS from it)")
    if declared is None:
        if assume_crs is None:
            raise GeoFileError(name, "no CRS declared (a Shapefile needs its .prj); pass the CRS the coordinates are "
                                     "in, e.g. assume_crs='EPSG:4326'")
        try:
            declared = CRS.from_user_input(assume_crs)
        except CRSError as exc:
            raise GeoFileError(name, f"unknown CRS {assume_crs!r} ({exc})") from None
    elif declared.to_epsg() is None and not (declared.is_geographic or declared.is_projected):
        raise GeoFileError(name, f"unknown CRS in the file: {declared.name!r} is neither geographic nor projected")
    return declared


def _check_geometries(geoms: np.ndarray, name: str) -> None:
    missing = np.flatnonzero(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if missing.size:
        raise GeoFileError(name, "no geometry", int(missing[0]))
    invalid = np.flatnonzero(~shapely.is_valid(geoms))
    if invalid.size:
        i = int(invalid[0])
        raise GeoFileError(name, f"invalid geometry ({shapely.is_valid_reason(geoms[i])})", i)


def _check_wgs84(geoms: np.ndarray, name: str) -> None:
    bounds = shapely.bounds(geoms)
    bad = np.flatnonzero(~np.isfinite(bounds).all(axis=1)
                         | (bounds[:, 0] < -180) | (bounds[:, 2] > 180) | (bounds[:, 1] < -90) | (bounds[:, 3] > 90))
    if bad.size:
        i = int(bad[0])
        raise GeoFileError(name, f"coordinates outside WGS-84 longitude/latitude after reprojection "
                                 f"(bounds {tuple(round(float(v), 6) for v in bounds[i])}); is the declared CRS right?",
                           i)


def _json_value(v):
    import pandas as pd  # noqa: PLC0415 — loaded with geopandas already

    if v is None or (np.isscalar(v) and not isinstance(v, (str, bytes)) and pd.isna(v)):
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.hex()
    return v


def read_features(source: str | Path | bytes, *, layer: str | int | None = None, assume_crs=None,
                  datum: str | None = None, max_features: int | None = None,
                  name: str | None = None) -> list[dict[str, Any]]:
    """Features of a GeoPackage / Shapefile / GeoJSON layer, in WGS-84.

    Args:
        source: a path (``.gpkg``, ``.shp`` with its ``.dbf``/``.prj`` beside it, a ``.zip`` holding a Shapefile,
            ``.geojson``) or the file's bytes (an upload; a zipped Shapefile or a GeoPackage).
        layer: layer name or 0-based index (GeoPackages may hold several; default the first).
        assume_crs: the CRS to use when the file declares none (anything pyproj accepts: ``"EPSG:4490"``, WKT);
            ignored when the file declares one.
        datum: ``None`` / ``"WGS84"`` (coordinates are what the CRS says), ``"GCJ02"`` or ``"BD09"`` (the
            coordinates, once in geographic degrees, are in that Chinese web-map datum; converted with
            :func:`geo.crs.transform_geometry`). Aliases as in :func:`geo.crs.normalize_crs`.
        max_features: refuse files with more features than this.
        name: the file name used in error messages (default: the path, or ``"<bytes>"``).
    Returns:
        ``[{"type": "Feature", "id": i, "properties": {column: JSON-safe value}, "geometry": GeoJSON dict}]`` —
        one per feature in file order; coordinates WGS-84 ``[lon, lat]`` degrees (Z dropped); NaN → ``None``,
        dates → ISO 8601 strings.
    Raises:
        GeoFileError: unreadable file or layer; no declared CRS and no ``assume_crs``; unknown CRS; a geometry
            missing, empty, invalid (self-intersecting ring …) or outside longitude/latitude range after
            reprojection; more than ``max_features`` features.
        ValueError: unknown ``datum``.
    """
    label = name or ("<bytes>" if isinstance(source, (bytes, bytearray)) else str(source))
    datum = normalize_crs(datum) if datum else "WGS84"
    prj = None
    if isinstance(source, (str, Path)) and str(source).lower().endswith(".shp"):
        prj = Path(source).with_suffix(".prj")
    try:
        frame = _read_frame(source, label, layer, max_features)
    except GeoFileError:
        if prj is not None and prj.is_file():  # GDAL refuses a malformed .prj: say that it is the CRS
            _check_prj(prj, label)
        raise
    if max_features is not None and len(frame) > max_features:
        raise GeoFileError(label, f"more than {max_features} features")
    if "geometry" not in frame or not len(frame):
        return []
    crs = _resolve_crs(frame, label, assume_crs, prj)
    geoms = frame.geometry.to_numpy()
    _check_geometries(geoms, label)
    from pyproj.exceptions import CRSError  # noqa: PLC0415

    try:
        wgs = frame.set_crs(crs, allow_override=True).to_crs(epsg=WGS84_EPSG).geometry.to_numpy()
    except (CRSError, ValueError) as exc:
        raise GeoFileError(label, f"cannot convert CRS {crs.name!r} to WGS-84 ({exc})") from None
    wgs = shapely.force_2d(wgs)
    _check_wgs84(wgs, label)
    if datum != "WGS84":
        wgs = transform_geometry(wgs, datum, "WGS84")
    columns = [c for c in frame.columns if c != frame.geometry.name]
    records = frame[columns].to_dict("records") if columns else [{} for _ in range(len(frame))]
    return [{"type": "Feature", "id": i, "properties": {k: _json_value(v) for k, v in rec.items()},
             "geometry": json.loads(g)}
            for i, (rec, g) in enumerate(zip(records, shapely.to_geojson(wgs)))]
