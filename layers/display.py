"""The display CRS of the map, and the one place where stored WGS-84 coordinates are shifted for display.

Everything is stored in WGS-84 (EPSG:4326). A Chinese base map is drawn in GCJ-02 (Amap, Tencent): markers, lines
and boundaries must then be shifted to GCJ-02 too, or they sit ~100–700 m off the streets of the tiles. The base map
and its CRS are configuration:

=================  ==========================================================================  =================
variable           meaning                                                                     default
=================  ==========================================================================  =================
``CC_TILE_URL``    Leaflet tile URL template, e.g.                                             unset: offline —
                   ``https://webrd0{s}.is.autonavi.com/appmaptile?style=8&x={x}&y={y}&z={z}``  boundaries only,
                   (``{s}`` subdomains from ``CC_TILE_SUBDOMAINS``, default ``1234``)         no tiles
``CC_TILE_CRS``    the tiles' datum: ``WGS84`` or ``GCJ02``                                    ``WGS84``
``CC_TILE_ATTRIB`` attribution text shown for the tiles                                        ``""``
=================  ==========================================================================  =================

Rule: the server converts **once, at the edge** — every GeoJSON, bound or point handed to the browser's map passes
through :func:`to_display` / :func:`point_to_display` / :func:`bounds_to_display`; a viewport coming back from the
browser passes through :func:`bbox_from_display`. The JSON APIs for other programs stay WGS-84. With the default
(WGS-84 display) every function here returns its input unchanged at no cost.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from datasources.settings import get_settings
from geo.crs import normalize_crs, transform_many

DISPLAY_CRS_CHOICES = ("WGS84", "GCJ02")


@dataclass(frozen=True)
class BaseMap:
    """The configured base map: ``url`` (``None`` = offline, no tiles), its ``crs``, subdomains, attribution."""

    url: str | None
    crs: str
    subdomains: str = "1234"
    attribution: str = ""


def base_map() -> BaseMap:
    """The base map from the environment (see the module docstring).

    Raises:
        ValueError: ``CC_TILE_CRS`` is not WGS84 / GCJ02 (BD-09 tiles are not supported: Baidu uses its own
            projection, not Web Mercator).
    """
    s = get_settings()
    crs = normalize_crs(s.tile_crs)
    if crs not in DISPLAY_CRS_CHOICES:
        raise ValueError(f"CC_TILE_CRS={crs}: the display CRS must be one of {DISPLAY_CRS_CHOICES}")
    return BaseMap(url=s.tile_url or None, crs=crs, subdomains=s.tile_subdomains, attribution=s.tile_attrib)


def display_crs() -> str:
    """``"WGS84"`` or ``"GCJ02"`` — what the browser's map draws in."""
    return base_map().crs


def shifted() -> bool:
    """True when display coordinates differ from the stored WGS-84 ones."""
    return display_crs() != "WGS84"


# --------------------------------------------------------------------------- GeoJSON


def _collect(coords: Any, out: list) -> None:
    if coords and isinstance(coords[0], (int, float)):
        out.append(coords[:2])
    else:
        for c in coords:
            _collect(c, out)


def _replace(coords: Any, it) -> Any:
    if coords and isinstance(coords[0], (int, float)):
        x, y = next(it)
        return [round(float(x), 7), round(float(y), 7), *coords[2:]]
    return [_replace(c, it) for c in coords]


def _geometries(fc: dict):
    for f in fc.get("features", ()):
        g = f.get("geometry")
        if not g:
            continue
        if g.get("type") == "GeometryCollection":
            yield from g.get("geometries", ())
        else:
            yield g


def to_display(fc: dict, crs: str | None = None) -> dict:
    """A GeoJSON FeatureCollection in WGS-84 → the same in the display CRS (a new dict; the input is untouched
    when a shift is needed, returned as is when not). All vertices of all features are converted in one vectorised
    call (:func:`geo.crs.transform_many`)."""
    crs = crs or display_crs()
    if crs == "WGS84" or not fc.get("features"):
        return fc
    geoms = list(_geometries(fc))
    flat: list = []
    for g in geoms:
        _collect(g["coordinates"], flat)
    if not flat:
        return fc
    moved = transform_many(np.asarray(flat, dtype=np.float64), "WGS84", crs)
    it = iter(moved)
    out_features = []
    new_geoms = {}
    for g in geoms:
        new_geoms[id(g)] = {**g, "coordinates": _replace(g["coordinates"], it)}
    for f in fc["features"]:
        g = f.get("geometry")
        if not g:
            out_features.append(f)
        elif g.get("type") == "GeometryCollection":
            out_features.append({**f, "geometry": {**g, "geometries": [new_geoms[id(x)] for x in g["geometries"]]}})
        else:
            out_features.append({**f, "geometry": new_geoms[id(g)]})
    return {**fc, "features": out_features}


def point_to_display(lon: float, lat: float, crs: str | None = None) -> tuple[float, float]:
    """One WGS-84 point in the display CRS, ``(lon, lat)``."""
    crs = crs or display_crs()
    if crs == "WGS84":
        return float(lon), float(lat)
    x, y = transform_many([[lon, lat]], "WGS84", crs)[0]
    return float(x), float(y)


def bounds_to_display(bounds: list[list[float]], crs: str | None = None) -> list[list[float]]:
    """Leaflet bounds ``[[south, west], [north, east]]`` (WGS-84) in the display CRS (corners shifted)."""
    crs = crs or display_crs()
    if crs == "WGS84":
        return bounds
    (s, w), (n, e) = bounds
    (w2, s2), (e2, n2) = transform_many([[w, s], [e, n]], "WGS84", crs)
    return [[float(s2), float(w2)], [float(n2), float(e2)]]


def bbox_from_display(bbox: tuple[float, float, float, float], crs: str | None = None
                      ) -> tuple[float, float, float, float]:
    """A viewport ``(west, south, east, north)`` read from the browser's map → WGS-84."""
    crs = crs or display_crs()
    if crs == "WGS84":
        return tuple(float(v) for v in bbox)
    w, s, e, n = bbox
    (w2, s2), (e2, n2) = transform_many([[w, s], [e, n]], crs, "WGS84")
    return float(w2), float(s2), float(e2), float(n2)
