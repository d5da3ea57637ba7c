"""Heat surfaces (geo.heat): weight conservation, peaks where points cluster, registered vs operating addresses,
Web-Mercator alignment of the image rows, the PNG encoder."""
from __future__ import annotations

import io
import math

import numpy as np
import pytest

from geo import heat
from geo.heat import HeatIndex, density_grid, gaussian_blur, heat_surface, lat_to_merc, merc_to_lat, view_grid

CHINA = (73.0, 17.5, 135.2, 53.8)
SHANGHAI = (120.85, 30.67, 122.2, 31.88)


def _inside(pts, grid):
    return ((pts[:, 0] >= grid.west) & (pts[:, 0] < grid.east) & (pts[:, 1] >= grid.south)
            & (pts[:, 1] < grid.north))


@pytest.mark.parametrize("zoom,sigma_px", [(4, 12.0), (6, 30.0), (9, 12.0), (11, 0.0)])
def test_surface_conserves_total_weight_within_the_bbox(zoom, sigma_px):
    rng = np.random.default_rng(1)
    pts = np.column_stack([rng.uniform(70, 140, 50_000), rng.uniform(15, 56, 50_000)])
    pts[:20_000] = np.column_stack([rng.normal(121.4, 0.3, 20_000), rng.normal(31.2, 0.2, 20_000)])
    w = rng.lognormal(4, 2, len(pts))
    bbox = CHINA if zoom < 8 else SHANGHAI
    s = heat_surface(pts, w, bbox, zoom, sigma_px=sigma_px)
    inside = _inside(pts, s.grid)
    assert s.points == int(inside.sum()) > 0
    assert s.total == pytest.approx(w[inside].sum(), rel=1e-9)
    assert s.density.sum() == pytest.approx(w[inside].sum(), rel=1e-9)  # smoothing loses nothing at the edges
    assert (s.density >= -1e-9).all()
    # the grid covers the requested bbox (snapped outwards)
    west, south, east, north = s.grid.bbox
    assert west <= bbox[0] and south <= bbox[1] + 1e-9 and east >= bbox[2] and north >= bbox[3] - 1e-9


def test_blur_conserves_mass_even_when_the_kernel_is_wider_than_the_grid():
    a = np.zeros((3, 5))
    a[0, 0] = 7.0
    a[2, 4] = 3.0
    for sigma in (0.5, 2.0, 9.0):
        b = gaussian_blur(a, sigma)
        assert b.sum() == pytest.approx(10.0, rel=1e-12)
        assert b.shape == a.shape
    assert np.allclose(gaussian_blur(a, 0), a)


def test_peak_is_where_points_cluster():
    rng = np.random.default_rng(7)
    background = np.column_stack([rng.uniform(100, 125, 30_000), rng.uniform(22, 42, 30_000)])
    cluster = np.column_stack([rng.normal(113.26, 0.05, 5_000), rng.normal(23.13, 0.05, 5_000)])  # Guangzhou
    pts = np.vstack([background, cluster])
    grid = view_grid((100, 20, 125, 42), 6)
    d = density_grid(pts, None, grid, sigma_cells=2)
    row, col = np.unravel_index(np.argmax(d), d.shape)
    lon = grid.west + (col + 0.5) * grid.cell
    lat = merc_to_lat(grid.north_y - (row + 0.5) * grid.cell)
    assert abs(lon - 113.26) < 2 * grid.cell and abs(lat - 23.13) < 2 * grid.cell


def test_registered_and_operating_addresses_give_different_surfaces():
    """注经分离: firms registered in one district, operating in another — the two maps peak in different places."""
    rng = np.random.default_rng(3)
    n = 4_000
    registered = np.column_stack([rng.normal(121.33, 0.01, n), rng.normal(31.13, 0.01, n)])  # 九亭 hub
    operating = np.column_stack([rng.normal(121.50, 0.02, n), rng.normal(31.24, 0.02, n)])   # 陆家嘴
    capital = rng.lognormal(5, 1, n)
    reg = HeatIndex(registered, {"capital": capital})
    op = HeatIndex(operating, {"capital": capital})
    bbox, zoom = SHANGHAI, 10
    s_reg = reg.surface(bbox, zoom, "count")
    s_op = op.surface(bbox, zoom, "count")
    assert s_reg.grid == s_op.grid
    assert s_reg.total == s_op.total == n
    peak_reg = np.unravel_index(np.argmax(s_reg.density), s_reg.density.shape)
    peak_op = np.unravel_index(np.argmax(s_op.density), s_op.density.shape)
    assert peak_reg != peak_op
    assert float(np.abs(s_reg.density - s_op.density).sum()) > n  # most of the mass moved
    # capital weighting conserves capital, not count
    assert reg.surface(bbox, zoom, "capital").total == pytest.approx(capital.sum(), rel=1e-9)
    assert s_reg.png != s_op.png


def test_weights_change_the_peak():
    pts = np.array([[116.40, 39.90]] * 50 + [[121.47, 31.23]])  # 50 small firms in Beijing, one giant in Shanghai
    w = np.array([1.0] * 50 + [1e6])
    idx = HeatIndex(pts, {"capital": w})
    by_count = idx.surface(CHINA, 5, "count")
    by_capital = idx.surface(CHINA, 5, "capital")
    ix, iy, _ = by_count.grid.cell_of([116.40, 121.47], [39.90, 31.23])
    assert by_count.density[iy[0], ix[0]] > by_count.density[iy[1], ix[1]]
    assert by_capital.density[iy[1], ix[1]] > by_capital.density[iy[0], ix[0]]


def test_rows_are_equally_spaced_in_web_mercator():
    """Leaflet stretches an ImageOverlay linearly in EPSG:3857: the cell of a point must be its Mercator row."""
    grid = view_grid(CHINA, 5)
    lats = np.array([18.0, 30.0, 45.0, 53.0])
    _, rows, inside = grid.cell_of(np.full(4, 110.0), lats)
    assert inside.all()
    y = np.array([lat_to_merc(v) for v in lats])
    expected = np.floor((grid.north_y - y) / grid.cell).astype(int)
    assert (rows == expected).all()
    # equal-latitude steps are NOT equal-row steps at this scale (a lat/lon grid would be misdrawn)
    assert (rows[0] - rows[1]) != (rows[2] - rows[3])
    assert merc_to_lat(lat_to_merc(33.3)) == pytest.approx(33.3, abs=1e-12)
    south, west = grid.bounds[0]
    north, east = grid.bounds[1]
    assert (west, east) == (grid.west, grid.east) and south < 17.5 < 53.8 < north


def test_snapped_grids_share_cells_when_panning():
    a = view_grid((120.0, 30.0, 122.0, 32.0), 9)
    b = view_grid((120.3, 30.2, 122.3, 32.2), 9)
    assert a.cell == b.cell
    assert (b.west - a.west) / a.cell == pytest.approx(round((b.west - a.west) / a.cell), abs=1e-9)
    assert (b.north_y - a.north_y) / a.cell == pytest.approx(round((b.north_y - a.north_y) / a.cell), abs=1e-9)
    big = view_grid(CHINA, 12, max_cells=512)  # too many cells: coarsened by powers of two
    assert big.nx <= 512 and big.ny <= 512


def test_png_is_valid_and_transparent_where_empty():
    from PIL import Image

    rng = np.random.default_rng(5)
    pts = np.column_stack([rng.normal(121.4, 0.05, 2000), rng.normal(31.2, 0.05, 2000)])
    s = heat_surface(pts, None, SHANGHAI, 9)
    img = Image.open(io.BytesIO(s.png))
    img.load()
    assert img.mode == "RGBA" and img.size == (s.grid.nx, s.grid.ny)
    arr = np.asarray(img)
    assert arr[..., 3].max() > 200                     # the cluster is drawn
    assert arr[0, 0, 3] == 0 and arr[-1, -1, 3] == 0     # far corners are transparent
    assert s.url.startswith("data:image/png;base64,")
    d = s.to_dict()
    assert d["bounds"] == s.grid.bounds and d["nx"] == s.grid.nx and "density" not in d
    # the encoder round-trips arbitrary images exactly
    rgb = rng.integers(0, 256, size=(7, 11, 3), dtype=np.uint8)
    back = np.asarray(Image.open(io.BytesIO(heat.encode_png(rgb))))
    assert (back == rgb).all()


def test_heat_index_matches_one_shot_and_caches():
    rng = np.random.default_rng(11)
    pts = np.column_stack([rng.uniform(73, 135, 20_000), rng.uniform(18, 53, 20_000)])
    w = rng.uniform(0, 10, 20_000)
    idx = HeatIndex(pts, {"tax": w})
    a = idx.surface(CHINA, 5, "tax")
    b = heat_surface(pts, w, CHINA, 5, weight_name="tax")
    assert np.allclose(a.density, b.density) and a.total == pytest.approx(b.total)
    assert idx.surface(CHINA, 5, "tax") is a  # memoised
    assert idx.total("count") == 20_000 and idx.total("tax") == pytest.approx(w.sum())
    with pytest.raises(KeyError):
        idx.surface(CHINA, 5, "profit")


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        view_grid((122, 30, 121, 31), 8)  # west > east
    with pytest.raises(ValueError):
        view_grid((121, 30, 122, math.nan), 8)
    with pytest.raises(ValueError):
        heat_surface(np.zeros((3, 3)), None, CHINA, 4)
    with pytest.raises(ValueError):
        heat_surface(np.zeros((3, 2)), np.ones(4), CHINA, 4)
    with pytest.raises(ValueError):
        heat.colorize(np.zeros((2, 2)), scale="cubic")
    assert heat_surface(np.empty((0, 2)), None, CHINA, 4).total == 0.0
