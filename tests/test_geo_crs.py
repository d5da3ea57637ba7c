"""geo.crs: WGS-84 / GCJ-02 / BD-09 conversions against the coordTransform library, round trips, distances."""
from __future__ import annotations

import math

import coordTransform as ct
import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon

from geo.crs import CRS_NAMES, haversine_m, normalize_crs, transform, transform_geometry, transform_many

# WGS-84 (lon, lat) of a few city centres spread over China
CITIES = {
    "beijing": (116.3913, 39.9075),
    "shanghai": (121.4737, 31.2304),
    "guangzhou": (113.2644, 23.1291),
    "urumqi": (87.6168, 43.8256),
    "lhasa": (91.1172, 29.6469),
    "harbin": (126.5349, 45.8038),
    "sanya": (109.5119, 18.2528),
    "kunming": (102.8329, 24.8801),
}
PAIRS = [(a, b) for a in CRS_NAMES for b in CRS_NAMES if a != b]


def test_crs_names():
    assert CRS_NAMES == ("WGS84", "GCJ02", "BD09")
    assert normalize_crs("wgs-84") == "WGS84"
    assert normalize_crs("EPSG:4326") == "WGS84"
    assert normalize_crs("gcj_02") == "GCJ02"
    assert normalize_crs("bd09") == "BD09"


@pytest.mark.parametrize("name", ["UTM50N", "", "EPSG:3857", None])
def test_unknown_crs_raises(name):
    with pytest.raises(ValueError, match="unknown CRS"):
        transform(116.4, 39.9, name, "WGS84")
    with pytest.raises(ValueError, match="unknown CRS"):
        transform_many(np.array([[116.4, 39.9]]), "WGS84", name)
    with pytest.raises(ValueError, match="unknown CRS"):
        transform_geometry(shapely.Point(116.4, 39.9), name, "GCJ02")


@pytest.mark.parametrize("src,dst", PAIRS)
@pytest.mark.parametrize("city", sorted(CITIES))
def test_round_trip_at_cities_within_1cm(city, src, dst):
    lon, lat = CITIES[city]
    x, y = transform(lon, lat, src, dst)
    back = transform(x, y, dst, src)
    assert haversine_m(lon, lat, *back) < 0.01
    assert isinstance(x, float) and isinstance(y, float)


def test_precise_inverse_everywhere_in_china():
    """The iterated inverse is exact to < 1 cm over the whole library rectangle (away from its edges)."""
    rng = np.random.default_rng(7)
    wgs = np.column_stack([rng.uniform(73.8, 134.9, 20_000), rng.uniform(4.0, 53.4, 20_000)])
    for other in ("GCJ02", "BD09"):
        back = transform_many(transform_many(wgs, "WGS84", other), other, "WGS84")
        assert haversine_m(wgs[:, 0], wgs[:, 1], back[:, 0], back[:, 1]).max() < 0.01
    # … whereas the library's one-step inverse is off by metres
    gcj = transform_many(wgs, "WGS84", "GCJ02")
    lib_lon, lib_lat = (np.asarray(v) for v in ct.gcj02_to_wgs84(gcj[:, 0].copy(), gcj[:, 1].copy()))
    assert haversine_m(wgs[:, 0], wgs[:, 1], lib_lon, lib_lat).max() > 1.0


def test_known_offsets_in_beijing():
    lon, lat = CITIES["beijing"]
    gcj = transform(lon, lat, "WGS84", "GCJ02")
    bd = transform(lon, lat, "WGS84", "BD09")
    shift = haversine_m(lon, lat, *gcj)
    assert 100 < shift < 700
    assert gcj[0] > lon and gcj[1] > lat  # GCJ-02 shifts Beijing east and north
    assert 500 < haversine_m(*gcj, *bd) < 1200  # BD-09 adds roughly 0.0065°, 0.006°


def test_forward_matches_library_scalar_functions():
    """transform() (library batch/C path) equals the library's pure-Python scalar formulas to 1e-9 degree."""
    for lon, lat in CITIES.values():
        for fn, src, dst in ((ct.wgs84_to_gcj02, "WGS84", "GCJ02"), (ct.gcj02_to_bd09, "GCJ02", "BD09"),
                             (ct.wgs84_to_bd09, "WGS84", "BD09")):
            expected = fn(lon, lat)
            got = transform(lon, lat, src, dst)
            assert got == pytest.approx(expected, abs=1e-9)


def test_outside_china_gcj_is_wgs():
    for lon, lat in ((139.6917, 35.6895), (37.6173, 55.7558), (-74.006, 40.7128)):  # Tokyo, Moscow, New York
        assert transform(lon, lat, "WGS84", "GCJ02") == (lon, lat)
        assert transform(lon, lat, "GCJ02", "WGS84") == (lon, lat)


def test_same_crs_is_identity_copy():
    coords = np.array([[116.4, 39.9], [121.5, 31.2]])
    out = transform_many(coords, "WGS84", "wgs84")
    np.testing.assert_array_equal(out, coords)
    out[0, 0] = 0
    assert coords[0, 0] == 116.4


def test_transform_many_shapes_and_nan():
    assert transform_many(np.empty((0, 2)), "WGS84", "GCJ02").shape == (0, 2)
    out = transform_many([[116.4, 39.9], [np.nan, np.nan]], "GCJ02", "WGS84")
    assert out.shape == (2, 2) and np.isnan(out[1]).all() and np.isfinite(out[0]).all()
    for bad in (np.zeros(2), np.zeros((3, 3)), np.zeros((2, 2, 2))):
        with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
            transform_many(bad, "WGS84", "GCJ02")


def test_transform_many_matches_scalar():
    pts = np.array(list(CITIES.values()))
    many = transform_many(pts, "BD09", "WGS84")
    for (lon, lat), row in zip(pts, many):
        assert transform(lon, lat, "BD09", "WGS84") == pytest.approx(tuple(row), abs=1e-12)


def test_transform_geometry_keeps_shared_vertices():
    a = Polygon([(116.0, 39.0), (116.5, 39.0), (116.5, 39.5), (116.0, 39.5)])
    b = Polygon([(116.5, 39.0), (117.0, 39.0), (117.0, 39.5), (116.5, 39.5)])
    ta, tb = transform_geometry(np.array([a, b]), "GCJ02", "WGS84")
    assert shapely.coverage_is_valid(np.array([ta, tb]))
    assert ta.intersection(tb).geom_type == "LineString"
    ring = shapely.get_coordinates(ta)
    back = transform_many(ring, "WGS84", "GCJ02")
    np.testing.assert_allclose(back, shapely.get_coordinates(a), atol=1e-9)
    assert transform_geometry(None, "GCJ02", "WGS84") is None
    assert transform_geometry(a, "WGS84", "WGS84") is a


def test_haversine():
    assert haversine_m(116.4, 39.9, 116.4, 39.9) == 0.0
    assert haversine_m(0, 0, 0, 1) == pytest.approx(111_195, rel=1e-4)  # one degree of latitude
    assert haversine_m(116.4074, 39.9042, 121.4737, 31.2304) == pytest.approx(1_067_000, rel=0.01)  # Beijing–Shanghai
    d = haversine_m(np.array([0.0, 0.0]), 0.0, np.array([0.0, 180.0]), 0.0)
    assert d.shape == (2,) and d[1] == pytest.approx(math.pi * 6_371_008.8)
    assert isinstance(haversine_m(0, 0, 1, 1), float)
