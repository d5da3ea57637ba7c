"""geo.heat on libraries (pyproj for Web Mercator, Pillow for PNG) draws what the closed-form maths draws.

The reference here is written from the formulas, independently of geo.heat: spherical Mercator
``y = degrees(ln tan(π/4 + φ/2))`` and a Gaussian smoothing written as explicit 1-D operator matrices whose mass
falling off an edge is folded back mirror-wise. Tolerances:

* Mercator: |pyproj − formula| ≤ 1e-9 Mercator degrees (≈ 0.1 mm), so every point falls in the same cell.
* Density: equal to the reference within 1e-9 relative (float rounding only).
* Picture: the decoded PNG equals the colour-mapped reference density with at most 1 level (of 255) per channel,
  and at least 99.9 % of the pixels identical.
"""
from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from geo import heat
from geo.heat import HeatIndex, colorize, heat_surface, lat_to_merc, merc_to_lat

CHINA = (73.0, 17.5, 135.2, 53.8)


def _merc_formula(lat):
    phi = np.radians(np.clip(np.asarray(lat, dtype=np.float64), -heat.MAX_LAT, heat.MAX_LAT))
    return np.degrees(np.log(np.tan(np.pi / 4 + phi / 2)))


def _fold_matrix(n: int, sigma: float) -> np.ndarray:
    """(n, n) operator: column q spreads cell q's mass with a 3σ-truncated normalised Gaussian; mass beyond an edge
    is mirrored back (…, -1 → 0, n → n-1, …), repeatedly when the kernel is wider than the grid."""
    r = max(1, int(math.ceil(3.0 * sigma)))
    t = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    k /= k.sum()
    m = np.zeros((n, n))
    for q in range(n):
        for off, w in zip(range(-r, r + 1), k):
            p = (q + off) % (2 * n)
            m[p if p < n else 2 * n - 1 - p, q] += w
    return m


def _reference_density(pts, w, grid, sigma_cells):
    x = pts[:, 0]
    y = _merc_formula(pts[:, 1])
    fx = (x - grid.west) / grid.cell
    fy = (grid.north_y - y) / grid.cell
    inside = (fx >= 0) & (fx < grid.nx) & (fy >= 0) & (fy < grid.ny)
    hist = np.zeros((grid.ny, grid.nx))
    np.add.at(hist, (np.floor(fy[inside]).astype(int), np.floor(fx[inside]).astype(int)),
              1.0 if w is None else w[inside])
    if sigma_cells <= 0:
        return hist
    return _fold_matrix(grid.ny, sigma_cells) @ hist @ _fold_matrix(grid.nx, sigma_cells).T


def test_pyproj_mercator_equals_the_spherical_formula():
    lats = np.linspace(-89.9, 89.9, 20_001)
    assert np.abs(lat_to_merc(lats) - _merc_formula(lats)).max() <= 1e-9
    ys = _merc_formula(np.linspace(-85, 85, 2_001))
    assert np.abs(merc_to_lat(ys) - np.linspace(-85, 85, 2_001)).max() <= 1e-9
    assert isinstance(lat_to_merc(30.0), float) and isinstance(merc_to_lat(30.0), float)
    assert lat_to_merc(90.0) == pytest.approx(lat_to_merc(heat.MAX_LAT)) == pytest.approx(180.0, abs=1e-9)


@pytest.mark.parametrize("bbox,zoom,sigma_px,weighted", [
    (CHINA, 4, 12.0, False), (CHINA, 5, 30.0, True), ((120.85, 30.67, 122.2, 31.88), 9, 12.0, True),
    ((121.40, 31.20, 121.45, 31.24), 13, 60.0, False),  # kernel wider than the grid
])
def test_surface_matches_the_closed_form_reference(bbox, zoom, sigma_px, weighted):
    rng = np.random.default_rng(zoom)
    n = 30_000
    pts = np.column_stack([rng.uniform(bbox[0], bbox[2], n), rng.uniform(bbox[1], bbox[3], n)])
    pts[: n // 3] = np.column_stack([rng.normal((bbox[0] + bbox[2]) / 2, (bbox[2] - bbox[0]) / 20, n // 3),
                                     rng.normal((bbox[1] + bbox[3]) / 2, (bbox[3] - bbox[1]) / 20, n // 3)])
    w = rng.lognormal(3, 1.5, n) if weighted else None
    s = heat_surface(pts, w, bbox, zoom, sigma_px=sigma_px)
    sigma_cells = HeatIndex._sigma_cells(s.grid, zoom, sigma_px)
    ref = _reference_density(pts, w, s.grid, sigma_cells)
    assert np.allclose(s.density, ref, rtol=1e-9, atol=1e-9 * max(1.0, float(ref.max())))
    img = np.asarray(Image.open(io.BytesIO(s.png)).convert("RGBA")).astype(int)
    want = colorize(ref, vmax=s.vmax).astype(int)
    diff = np.abs(img - want)
    assert img.shape == want.shape
    assert diff.max() <= 1
    assert (diff.max(axis=2) == 0).mean() >= 0.999
