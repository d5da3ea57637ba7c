"""Heat surfaces (density maps) of weighted points, drawn on a Leaflet map as one PNG ``ImageOverlay``.

Pipeline: WGS-84 points (N, 2) and weights (N,) → weighted 2-D histogram on a grid that is square in **Web Mercator**
(Leaflet stretches an ``ImageOverlay`` linearly between its corner coordinates in the map's projection, EPSG:3857, so
the image rows must be equally spaced in Mercator y, not in latitude; projected with pyproj, EPSG:4326 → EPSG:3857) →
separable Gaussian smoothing that conserves the total weight (mass that the kernel would push over the grid's edge is
folded back in, mirror-wise) → colour map with transparency → PNG (Pillow) → ``data:`` URI plus
``[[south, west], [north, east]]`` bounds, which ``dash_leaflet.ImageOverlay(url=..., bounds=...)`` draws as is (no JS
plugin).

Grid geometry: for a Leaflet zoom ``z`` the world is ``256·2^z`` px wide, so one screen pixel is
``360 / (256·2^z)`` degrees of longitude and the same amount of "Mercator degrees"
(``y = degrees(ln tan(π/4 + φ/2))`` = EPSG:3857 northing / R · 180/π, R = 6,378,137 m). A cell is ``cell_px``
screen pixels (default 4). Cell edges are snapped to multiples of the cell size, so two requests for overlapping
viewports at one zoom share their cells (no shimmer when panning; cacheable by snapped bounds).

Units: the grid holds the weight per cell (e.g. enterprises, 万元 of capital) after smoothing; ``sum(grid)`` equals
the total weight of the points inside the grid's bounds. Everything is WGS-84 longitude/latitude degrees in and out.

Smoothing stays in numpy (``numpy.pad`` mode ``symmetric`` + a separable 3σ kernel) rather than Pillow's
``ImageFilter.GaussianBlur``: Pillow blurs 8-bit images only (modes L/RGB/RGBA; a float "F" image is refused), clamps
at the edges and approximates the Gaussian with box passes, so it could neither keep the weights (万元, up to 10⁶ per
cell) nor conserve their sum, which the legend and the API report.

This module imports nothing of the project (``geo`` is the bottom layer); libraries: numpy, pyproj, Pillow.
"""
from __future__ import annotations

import base64
import io
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Mapping

import numpy as np
from PIL import Image
from pyproj import CRS, Transformer

__all__ = [
    "MAX_LAT", "COLOR_STOPS", "Grid", "HeatSurface", "HeatIndex",
    "lat_to_merc", "merc_to_lat", "view_grid", "fit_zoom", "density_grid", "gaussian_blur", "colorize",
    "encode_png", "heat_surface", "colorbar_css",
]

#: Web Mercator latitude limit, degrees
MAX_LAT = 85.05112877980659
#: Leaflet tile size, px
TILE_PX = 256
#: colour ramp: (position 0..1 of the scaled intensity, (r, g, b, a)); below the first stop: transparent
COLOR_STOPS: tuple[tuple[float, tuple[int, int, int, int]], ...] = (
    (0.02, (40, 80, 220, 0)),
    (0.15, (40, 110, 255, 110)),
    (0.35, (0, 220, 255, 160)),
    (0.55, (60, 240, 90, 190)),
    (0.75, (255, 230, 0, 215)),
    (0.90, (255, 130, 0, 230)),
    (1.00, (255, 30, 30, 240)),
)


# --------------------------------------------------------------------------- projection helpers


@lru_cache(maxsize=1)
def _mercator() -> tuple[Transformer, Transformer, float]:
    """pyproj transformers WGS-84 (EPSG:4326) ⇄ Web Mercator (EPSG:3857), lon/lat order, and metres per Mercator
    degree (π·R/180, R the EPSG:3857 sphere radius). pyproj ≥ 3.1 transformers are thread-safe."""
    fwd = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    inv = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    return fwd, inv, math.pi * CRS.from_epsg(3857).ellipsoid.semi_major_metre / 180.0


def lat_to_merc(lat):
    """Web Mercator y of a latitude, in "Mercator degrees" (same scale as longitude degrees on the map).

    EPSG:3857 northing (pyproj, from EPSG:4326) divided by the metres of one degree of longitude at the equator.

    Args:
        lat: degrees (scalar or array); clipped to ±:data:`MAX_LAT`.
    Returns:
        float or float64 array of the input's shape.
    """
    fwd, _inv, m_per_deg = _mercator()
    phi = np.clip(np.asarray(lat, dtype=np.float64), -MAX_LAT, MAX_LAT)
    _x, y = fwd.transform(np.zeros_like(phi), phi)
    y = np.asarray(y, dtype=np.float64) / m_per_deg
    return float(y) if y.ndim == 0 else y


def merc_to_lat(y):
    """Inverse of :func:`lat_to_merc`: latitude degrees of a Mercator-degree y (scalar or array; pyproj)."""
    _fwd, inv, m_per_deg = _mercator()
    ym = np.asarray(y, dtype=np.float64) * m_per_deg
    _x, lat = inv.transform(np.zeros_like(ym), ym)
    lat = np.asarray(lat, dtype=np.float64)
    return float(lat) if lat.ndim == 0 else lat


def _deg_per_px(zoom: float) -> float:
    return 360.0 / (TILE_PX * 2.0 ** float(zoom))


def fit_zoom(bbox, width_px: int = 1600, height_px: int = 900, max_zoom: int = 18) -> int:
    """Largest integer Leaflet zoom at which ``bbox`` fits in a ``width_px`` × ``height_px`` viewport.

    Args:
        bbox: ``(west, south, east, north)`` WGS-84 degrees.
    Returns:
        zoom in ``0..max_zoom``.
    Raises:
        ValueError: malformed bbox (see :func:`view_grid`).
    """
    west, south, east, north = _check_bbox(bbox)
    dx = east - west
    dy = lat_to_merc(north) - lat_to_merc(south)
    z = min(math.log2(width_px * 360.0 / (TILE_PX * max(dx, 1e-9))),
            math.log2(height_px * 360.0 / (TILE_PX * max(dy, 1e-9))))
    return int(max(0, min(max_zoom, math.floor(z))))


def _check_bbox(bbox) -> tuple[float, float, float, float]:
    try:
        west, south, east, north = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise ValueError(f"bbox must be (west, south, east, north) degrees, got {bbox!r}") from None
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise ValueError(f"bbox has non-finite values: {bbox!r}")
    if not (-180.0 <= west < east <= 180.0) or not (-90.0 <= south < north <= 90.0):
        raise ValueError(f"bbox must satisfy -180 <= west < east <= 180 and -90 <= south < north <= 90: {bbox!r}")
    return west, south, east, north


# --------------------------------------------------------------------------- grid


@dataclass(frozen=True)
class Grid:
    """A raster square in Web Mercator: ``nx`` × ``ny`` cells of ``cell`` Mercator degrees, row 0 at the north.

    Attributes:
        west: longitude of the western edge, degrees.
        north_y: Mercator-degree y of the northern edge (see :func:`lat_to_merc`).
        cell: cell size in Mercator degrees (= longitude degrees).
        nx, ny: columns, rows.
        zoom: the Leaflet zoom it was made for (informational).
    """

    west: float
    north_y: float
    cell: float
    nx: int
    ny: int
    zoom: float = 0.0

    @property
    def east(self) -> float:
        """Longitude of the eastern edge, degrees."""
        return self.west + self.nx * self.cell

    @property
    def south_y(self) -> float:
        """Mercator-degree y of the southern edge."""
        return self.north_y - self.ny * self.cell

    @property
    def north(self) -> float:
        """Latitude of the northern edge, degrees."""
        return merc_to_lat(self.north_y)

    @property
    def south(self) -> float:
        """Latitude of the southern edge, degrees."""
        return merc_to_lat(self.south_y)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` WGS-84 degrees."""
        return self.west, self.south, self.east, self.north

    @property
    def bounds(self) -> list[list[float]]:
        """Leaflet bounds ``[[south, west], [north, east]]``, degrees."""
        return [[self.south, self.west], [self.north, self.east]]

    def cell_size_m(self) -> float:
        """Approximate ground size of a cell at the grid's centre latitude, metres."""
        lat = merc_to_lat((self.north_y + self.south_y) / 2)
        return self.cell * 111_319.49 * math.cos(math.radians(lat))

    def cell_of(self, lon, lat) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Column, row and inside-mask of WGS-84 points (arrays of shape (N,))."""
        x = np.asarray(lon, dtype=np.float64)
        y = lat_to_merc(lat)
        return self._cell_of_xy(x, np.asarray(y))

    def _cell_of_xy(self, x: np.ndarray, y: np.ndarray):
        fx = (x - self.west) / self.cell
        fy = (self.north_y - y) / self.cell
        inside = (fx >= 0) & (fx < self.nx) & (fy >= 0) & (fy < self.ny)
        return np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64), inside


def view_grid(bbox, zoom: float, cell_px: float = 4.0, max_cells: int = 1024, snap: bool = True) -> Grid:
    """The grid for a map viewport.

    Args:
        bbox: ``(west, south, east, north)`` WGS-84 degrees (the viewport, perhaps padded).
        zoom: Leaflet zoom (fractional allowed).
        cell_px: cell size in screen pixels at ``zoom``.
        max_cells: cap of ``nx`` and ``ny``; a larger view gets proportionally larger cells.
        snap: align cell edges to multiples of the cell size (the grid then covers ``bbox`` and a little more).
    Returns:
        a :class:`Grid` covering ``bbox``.
    Raises:
        ValueError: malformed bbox, ``cell_px`` ≤ 0 or ``max_cells`` < 1.
    """
    west, south, east, north = _check_bbox(bbox)
    if not cell_px > 0 or max_cells < 1:
        raise ValueError(f"cell_px must be > 0 and max_cells >= 1 (got {cell_px}, {max_cells})")
    y0, y1 = lat_to_merc(south), lat_to_merc(north)
    cell = cell_px * _deg_per_px(zoom)
    span = max(east - west, y1 - y0)
    if span / cell > max_cells:  # coarsen by powers of two so snapped cells stay nested across zooms
        cell *= 2.0 ** math.ceil(math.log2(span / cell / max_cells))
    if snap:
        gx0 = math.floor(west / cell) * cell
        gy1 = math.ceil(y1 / cell) * cell
        nx = max(1, math.ceil((east - gx0) / cell - 1e-9))
        ny = max(1, math.ceil((gy1 - y0) / cell - 1e-9))
    else:
        gx0, gy1 = west, y1
        nx = max(1, math.ceil((east - west) / cell - 1e-9))
        ny = max(1, math.ceil((y1 - y0) / cell - 1e-9))
    return Grid(west=gx0, north_y=gy1, cell=cell, nx=int(nx), ny=int(ny), zoom=float(zoom))


# --------------------------------------------------------------------------- density


def _as_points(lonlat) -> np.ndarray:
    arr = np.asarray(lonlat, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2) [lon, lat], got {arr.shape}")
    return arr


def _as_weights(weights, n: int) -> np.ndarray | None:
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"weights must have shape ({n},), got {w.shape}")
    return w


def _histogram(grid: Grid, x: np.ndarray, y: np.ndarray, w: np.ndarray | None,
               with_count: bool = False):
    """Weighted 2-D histogram (ny, nx) of Mercator points; with ``with_count`` also the number of points inside."""
    ix, iy, inside = grid._cell_of_xy(x, y)
    if w is not None:
        inside &= np.isfinite(w)
    flat = iy[inside] * grid.nx + ix[inside]
    counts = np.bincount(flat, weights=None if w is None else w[inside], minlength=grid.nx * grid.ny)
    hist = counts.astype(np.float64).reshape(grid.ny, grid.nx)
    return (hist, int(flat.size)) if with_count else hist


def _gaussian_kernel(sigma: float) -> np.ndarray:
    r = max(1, int(math.ceil(3.0 * sigma)))
    t = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def _blur_axis(a: np.ndarray, k: np.ndarray, axis: int) -> np.ndarray:
    """Correlate ``a`` with the symmetric kernel ``k`` along ``axis``, edges mirrored (``numpy.pad`` 'symmetric',
    repeated when the kernel is wider than the axis). For a symmetric kernel this gather equals scattering each cell's
    mass and folding what falls off an edge back in mirror-wise, so the sum is conserved."""
    n = a.shape[axis]
    r = len(k) // 2
    widths = [(0, 0)] * a.ndim
    widths[axis] = (r, r)
    padded = np.moveaxis(np.pad(a, widths, mode="symmetric"), axis, 0)
    out = np.zeros((n,) + padded.shape[1:], dtype=np.float64)
    for j, wj in enumerate(k):
        out += wj * padded[j:j + n]
    return np.moveaxis(out, 0, axis)


def gaussian_blur(a: np.ndarray, sigma_cells: float) -> np.ndarray:
    """Separable Gaussian smoothing of a 2-D array that conserves its sum.

    The kernel is truncated at 3σ and normalised; what it would spread beyond an edge is reflected back inside
    (mirror about the edge), so ``gaussian_blur(a, s).sum() == a.sum()`` up to rounding.

    Args:
        a: 2-D array (ny, nx).
        sigma_cells: standard deviation in cells; ≤ 0 returns a float copy.
    Returns:
        new float64 array of the same shape.
    Raises:
        ValueError: ``a`` is not 2-D.
    """
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {a.shape}")
    if not sigma_cells > 0:
        return a.copy()
    k = _gaussian_kernel(float(sigma_cells))
    return _blur_axis(_blur_axis(a, k, 0), k, 1)


def density_grid(lonlat, weights, grid: Grid, sigma_cells: float = 3.0) -> np.ndarray:
    """Weighted histogram of points on ``grid``, smoothed (see :func:`gaussian_blur`).

    Args:
        lonlat: (N, 2) WGS-84 ``[lon, lat]`` degrees.
        weights: (N,) weights (units of the caller: 1 per enterprise, 万元 …) or ``None`` for 1 each. Non-finite
            weights are ignored.
        grid: the raster, from :func:`view_grid`.
        sigma_cells: Gaussian σ in cells (0: no smoothing).
    Returns:
        float64 array (grid.ny, grid.nx), row 0 = north; its sum equals the weight of the points inside the grid.
    Raises:
        ValueError: wrong shapes.
    """
    pts = _as_points(lonlat)
    w = _as_weights(weights, len(pts))
    hist = _histogram(grid, pts[:, 0], lat_to_merc(pts[:, 1]), w)
    return gaussian_blur(hist, sigma_cells)


# --------------------------------------------------------------------------- colour and PNG


def colorize(density: np.ndarray, vmax: float | None = None, scale: str = "sqrt") -> np.ndarray:
    """RGBA image of a density grid with the ramp :data:`COLOR_STOPS` (transparent where ~0).

    Args:
        density: 2-D array (ny, nx), ≥ 0.
        vmax: the value drawn at full intensity; ``None``: the 99.5th percentile of the positive cells (robust to
            a single huge value, e.g. one firm with 10⁶ 万元 capital).
        scale: ``"linear"``, ``"sqrt"`` (default; heavy-tailed data) or ``"log"`` (``log1p(v / vmax · 99) / log 100``).
    Returns:
        uint8 array (ny, nx, 4).
    Raises:
        ValueError: unknown scale or not 2-D.
    """
    d = np.asarray(density, dtype=np.float64)
    if d.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {d.shape}")
    if vmax is None:
        pos = d[d > 0]
        vmax = float(np.percentile(pos, 99.5)) if pos.size else 1.0
    vmax = vmax if vmax and vmax > 0 else 1.0
    v = np.clip(d / vmax, 0.0, 1.0)
    if scale == "sqrt":
        v = np.sqrt(v)
    elif scale == "log":
        v = np.log1p(v * 99.0) / math.log(100.0)
    elif scale != "linear":
        raise ValueError(f"scale must be 'linear', 'sqrt' or 'log', not {scale!r}")
    pos = np.array([p for p, _ in COLOR_STOPS])
    cols = np.array([c for _, c in COLOR_STOPS], dtype=np.float64)
    rgba = np.empty(d.shape + (4,), dtype=np.uint8)
    for ch in range(4):
        rgba[..., ch] = np.round(np.interp(v, pos, cols[:, ch]))
    rgba[v < pos[0], 3] = 0
    return rgba


def encode_png(rgba: np.ndarray, level: int = 3) -> bytes:
    """Encode an RGBA (or RGB / grey) uint8 image as PNG bytes (8 bits per channel; Pillow's encoder, lossless).

    Args:
        rgba: uint8 array (h, w, 4), (h, w, 3) or (h, w).
        level: zlib level 0–9 (Pillow ``compress_level``). Default 3: with Pillow's adaptive row filters a heat
            surface comes out within ~10 % of level 6's size in a third of its time (bench/RESULTS.md).
    Raises:
        ValueError: wrong dtype or shape.
    """
    img = np.asarray(rgba)
    if img.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {img.dtype}")
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4) or img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"image must be (h, w[, 1|3|4]), got {img.shape}")
    buf = io.BytesIO()  # Pillow infers L / RGB / RGBA from the uint8 array's shape
    Image.fromarray(np.ascontiguousarray(img[..., 0] if img.shape[2] == 1 else img)).save(
        buf, "PNG", compress_level=int(level))
    return buf.getvalue()


def colorbar_css(direction: str = "to right") -> str:
    """A CSS ``linear-gradient(...)`` of :data:`COLOR_STOPS` (for the legend), alpha as in the overlay."""
    parts = [f"rgba({r},{g},{b},{max(a, 40) / 255:.2f}) {p * 100:.0f}%" for p, (r, g, b, a) in COLOR_STOPS]
    return f"linear-gradient({direction}, {', '.join(parts)})"


# --------------------------------------------------------------------------- the surface


@dataclass
class HeatSurface:
    """A rendered heat surface.

    Attributes:
        grid: the raster geometry.
        density: float64 (ny, nx) weight per cell after smoothing (not serialised by :meth:`to_dict`).
        png: the PNG bytes.
        total: ``density.sum()`` — weight of the points inside ``grid.bounds``.
        vmax: the density drawn at full intensity.
        points: number of points inside the bounds.
        weight: name of the weight (``"count"`` …).
    """

    grid: Grid
    density: np.ndarray = field(repr=False)
    png: bytes = field(repr=False)
    total: float
    vmax: float
    points: int
    weight: str = "count"

    @property
    def url(self) -> str:
        """``data:image/png;base64,…`` for ``ImageOverlay(url=...)``."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    @property
    def bounds(self) -> list[list[float]]:
        """Leaflet ``[[south, west], [north, east]]`` WGS-84 degrees."""
        return self.grid.bounds

    def to_dict(self) -> dict:
        """JSON-ready ``{url, bounds, nx, ny, cell_m, total, vmax, points, weight, zoom}`` (cell_m: metres)."""
        g = self.grid
        return {"url": self.url, "bounds": g.bounds, "nx": g.nx, "ny": g.ny, "cell_m": round(g.cell_size_m(), 1),
                "total": self.total, "vmax": self.vmax, "points": self.points, "weight": self.weight,
                "zoom": g.zoom}


def heat_surface(lonlat, weights, bbox, zoom: float, *, cell_px: float = 4.0, sigma_px: float = 12.0,
                 max_cells: int = 1024, vmax: float | None = None, scale: str = "sqrt",
                 weight_name: str = "count") -> HeatSurface:
    """One-shot heat surface of points for a viewport (see the module docstring).

    Args:
        lonlat: (N, 2) WGS-84 degrees. weights: (N,) or ``None`` (1 each).
        bbox: ``(west, south, east, north)`` degrees. zoom: Leaflet zoom.
        cell_px: cell size, screen px. sigma_px: smoothing σ, screen px.
        vmax, scale: see :func:`colorize`.
    Returns:
        :class:`HeatSurface`.
    Raises:
        ValueError: bad shapes, bbox, scale.
    """
    grid = view_grid(bbox, zoom, cell_px=cell_px, max_cells=max_cells)
    pts = _as_points(lonlat)
    w = _as_weights(weights, len(pts))
    return _render(grid, pts[:, 0], lat_to_merc(pts[:, 1]), w, HeatIndex._sigma_cells(grid, zoom, sigma_px), vmax,
                   scale, weight_name)


def _render(grid: Grid, x, y, w, sigma_cells: float, vmax, scale: str, weight_name: str) -> HeatSurface:
    hist, points = _histogram(grid, x, y, w, with_count=True)
    density = gaussian_blur(hist, sigma_cells)
    if vmax is None:
        pos = density[density > 0]
        vmax = float(np.percentile(pos, 99.5)) if pos.size else 1.0
    png = encode_png(colorize(density, vmax=vmax, scale=scale))
    return HeatSurface(grid=grid, density=density, png=png, total=float(hist.sum()), vmax=float(vmax),
                       points=points, weight=weight_name)


class HeatIndex:
    """Points prepared for fast repeated heat surfaces (e.g. 1,000,000 enterprises of the national view).

    Points are projected to Web Mercator once and sorted by longitude, so a viewport selects its longitude slice by
    binary search before binning; rendered surfaces are memoised (LRU) by snapped grid, weight and options.

    Args:
        lonlat: (N, 2) WGS-84 ``[lon, lat]`` degrees; rows with non-finite coordinates are dropped.
        weights: ``{name: (N,) array or None}``; ``None`` means 1 per point. A ``"count"`` entry (``None``) is always
            present.
        cache_size: surfaces kept.
    Raises:
        ValueError: wrong shapes.

    Thread-safe (a lock around the cache; rendering itself runs outside it).
    """

    def __init__(self, lonlat, weights: Mapping[str, np.ndarray | None] | None = None, cache_size: int = 64):
        pts = _as_points(lonlat)
        weights = dict(weights or {})
        weights.setdefault("count", None)
        arrays = {k: _as_weights(v, len(pts)) for k, v in weights.items()}
        ok = np.isfinite(pts).all(axis=1)
        order = np.argsort(pts[ok, 0], kind="stable")
        self._x = np.ascontiguousarray(pts[ok, 0][order])
        self._y = np.ascontiguousarray(lat_to_merc(pts[ok, 1][order]))
        self._w = {k: (None if v is None else np.ascontiguousarray(v[ok][order])) for k, v in arrays.items()}
        self._cache: OrderedDict = OrderedDict()
        self._cache_size = int(cache_size)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._x)

    @property
    def weight_names(self) -> tuple[str, ...]:
        """Names of the weights this index carries."""
        return tuple(self._w)

    def total(self, weight: str = "count") -> float:
        """Sum of a weight over all points (count: number of points)."""
        w = self._weight(weight)
        return float(len(self._x) if w is None else np.nansum(w))

    def bbox(self) -> tuple[float, float, float, float] | None:
        """``(west, south, east, north)`` of the points, degrees; ``None`` when empty."""
        if not len(self._x):
            return None
        return (float(self._x[0]), float(merc_to_lat(self._y.min())), float(self._x[-1]),
                float(merc_to_lat(self._y.max())))

    def _weight(self, name: str):
        try:
            return self._w[name]
        except KeyError:
            raise KeyError(f"unknown weight {name!r}; this index has {sorted(self._w)}") from None

    def density(self, bbox, zoom: float, weight: str = "count", *, cell_px: float = 4.0, sigma_px: float = 12.0,
                max_cells: int = 1024) -> tuple[Grid, np.ndarray]:
        """The grid and smoothed weight-per-cell array (ny, nx) for a viewport (no colouring, no cache).

        Raises:
            KeyError: unknown weight. ValueError: bad bbox.
        """
        grid = view_grid(bbox, zoom, cell_px=cell_px, max_cells=max_cells)
        x, y, w = self._slice(grid, weight)
        return grid, gaussian_blur(_histogram(grid, x, y, w), self._sigma_cells(grid, zoom, sigma_px))

    @staticmethod
    def _sigma_cells(grid: Grid, zoom: float, sigma_px: float) -> float:
        return sigma_px * _deg_per_px(zoom) / grid.cell

    def _slice(self, grid: Grid, weight: str):
        w = self._weight(weight)
        lo, hi = np.searchsorted(self._x, [grid.west, grid.east], side="left")
        x, y = self._x[lo:hi], self._y[lo:hi]
        return x, y, (None if w is None else w[lo:hi])

    def surface(self, bbox, zoom: float, weight: str = "count", *, cell_px: float = 4.0, sigma_px: float = 12.0,
                max_cells: int = 1024, vmax: float | None = None, scale: str = "sqrt") -> HeatSurface:
        """A rendered surface for a viewport (memoised by snapped grid and options).

        Args:
            bbox: ``(west, south, east, north)`` WGS-84 degrees. zoom: Leaflet zoom.
            weight: one of :attr:`weight_names`.
            cell_px, sigma_px, max_cells: see :func:`heat_surface`. vmax, scale: see :func:`colorize`.
        Returns:
            :class:`HeatSurface`.
        Raises:
            KeyError: unknown weight. ValueError: bad bbox or scale.
        """
        grid = view_grid(bbox, zoom, cell_px=cell_px, max_cells=max_cells)
        self._weight(weight)
        key = (grid, weight, float(sigma_px), vmax, scale)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        x, y, w = self._slice(grid, weight)
        surf = _render(grid, x, y, w, self._sigma_cells(grid, zoom, sigma_px), vmax, scale, weight)
        with self._lock:
            self._cache[key] = surf
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return surf
