"""geo.files: GeoPackage / Shapefile layers read with their declared CRS into WGS-84 features, and the clear errors
(no CRS, unknown CRS, bad geometry). The files are written by the tests with geopandas (real GDAL drivers)."""
from __future__ import annotations

import zipfile
from datetime import date

import geopandas as gpd
import numpy as np
import pytest
from pyproj import Transformer
from shapely.geometry import LineString, Point, Polygon

from geo.crs import transform
from geo.files import GeoFileError, read_features

SHOPS = [("九亭便利店", 121.3251, 31.1352, 3), ("陆家嘴咖啡", 121.5012, 31.2397, 12)]


def _shops_frame(crs: str = "EPSG:4326") -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame({"name": [s[0] for s in SHOPS], "staff": [s[3] for s in SHOPS],
                              "opened": [date(2024, 3, 1), None]},
                             geometry=[Point(s[1], s[2]) for s in SHOPS], crs="EPSG:4326")
    return frame.to_crs(crs)


def _coords(feature) -> tuple[float, float]:
    assert feature["geometry"]["type"] == "Point"
    lon, lat = feature["geometry"]["coordinates"][:2]
    return lon, lat


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:3857", "EPSG:4490", "EPSG:4547"])  # WGS-84, Mercator, CGCS2000,
def test_geopackage_in_its_declared_crs_comes_back_in_wgs84(tmp_path, crs):            # CGCS2000 3° GK zone 39
    path = tmp_path / "shops.gpkg"
    _shops_frame(crs).to_file(path, layer="shops", driver="GPKG")
    feats = read_features(path)
    assert [f["properties"]["name"] for f in feats] == [s[0] for s in SHOPS]
    assert [f["id"] for f in feats] == [0, 1]
    for f, (_name, lon, lat, staff) in zip(feats, SHOPS):
        got = _coords(f)
        assert got == pytest.approx((lon, lat), abs=1e-7)  # ~1 cm
        assert f["properties"]["staff"] == staff and f["type"] == "Feature"
    assert feats[0]["properties"]["opened"].startswith("2024-03-01")
    assert feats[1]["properties"]["opened"] is None


def test_geopackage_layers_and_shapes(tmp_path):
    path = tmp_path / "city.gpkg"
    _shops_frame().to_file(path, layer="shops", driver="GPKG")
    pipes = gpd.GeoDataFrame({"pipe": ["P1"]}, geometry=[LineString([(121.30, 31.10), (121.35, 31.12)])],
                             crs="EPSG:4326").to_crs("EPSG:3857")
    pipes.to_file(path, layer="pipes", driver="GPKG")
    feats = read_features(path, layer="pipes")
    assert feats[0]["geometry"]["type"] == "LineString"
    assert np.allclose(feats[0]["geometry"]["coordinates"], [(121.30, 31.10), (121.35, 31.12)], atol=1e-7)
    with pytest.raises(GeoFileError, match="cannot read the file or layer"):
        read_features(path, layer="no_such_layer")


def test_zipped_shapefile_upload_as_bytes(tmp_path):
    shp = tmp_path / "shops.shp"
    _shops_frame("EPSG:3857").to_file(shp)
    archive = tmp_path / "shops.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for part in tmp_path.glob("shops.*"):
            if part.suffix != ".zip":
                z.write(part, part.name)
    feats = read_features(archive.read_bytes(), name="shops.zip")
    assert _coords(feats[1]) == pytest.approx(SHOPS[1][1:3], abs=1e-7)
    assert read_features(archive) == feats


def test_gcj02_coordinates_are_converted_once(tmp_path):
    """An Amap export declares EPSG:4326 but holds GCJ-02 degrees: the caller names the datum."""
    lon, lat = 121.4737, 31.2304
    glon, glat = transform(lon, lat, "WGS84", "GCJ02")
    path = tmp_path / "amap.gpkg"
    gpd.GeoDataFrame({"n": [1]}, geometry=[Point(glon, glat)], crs="EPSG:4326").to_file(path, driver="GPKG")
    assert _coords(read_features(path, datum="GCJ02")[0]) == pytest.approx((lon, lat), abs=1e-9)
    assert _coords(read_features(path)[0]) == pytest.approx((glon, glat), abs=1e-12)  # taken as it says
    with pytest.raises(ValueError):
        read_features(path, datum="NAD27-ish")


def test_no_crs_is_refused_unless_assumed(tmp_path):
    shp = tmp_path / "bare.shp"
    _shops_frame("EPSG:3857").to_file(shp)
    shp.with_suffix(".prj").unlink()
    with pytest.raises(GeoFileError, match=r"bare\.shp: no CRS declared"):
        read_features(shp)
    feats = read_features(shp, assume_crs="EPSG:3857")
    assert _coords(feats[0]) == pytest.approx(SHOPS[0][1:3], abs=1e-7)


def test_unknown_crs_is_refused(tmp_path):
    shp = tmp_path / "odd.shp"
    _shops_frame().to_file(shp)
    shp.with_suffix(".prj").write_text("GEOGCS[this is not a CRS")
    with pytest.raises(GeoFileError, match=r"odd\.shp: unknown CRS: odd\.prj"):
        read_features(shp)
    shp.with_suffix(".prj").unlink()
    with pytest.raises(GeoFileError, match="unknown CRS 'EPSG:999999'"):
        read_features(shp, assume_crs="EPSG:999999")


def test_bad_geometries_are_refused_with_their_feature_number(tmp_path):
    bowtie = Polygon([(121.0, 31.0), (121.1, 31.1), (121.1, 31.0), (121.0, 31.1)])  # self-intersecting ring
    ok = Polygon([(121.0, 31.0), (121.1, 31.0), (121.1, 31.1)])
    path = tmp_path / "areas.gpkg"
    gpd.GeoDataFrame({"n": [0, 1]}, geometry=[ok, bowtie], crs="EPSG:4326").to_file(path, driver="GPKG")
    with pytest.raises(GeoFileError) as err:
        read_features(path)
    assert err.value.feature == 1 and "invalid geometry" in str(err.value) and "Self-intersection" in str(err.value)
    assert str(err.value).startswith(f"{path}: feature 1: ")

    empty = tmp_path / "empty_geom.gpkg"
    gpd.GeoDataFrame({"n": [0, 1]}, geometry=[ok, None], crs="EPSG:4326").to_file(empty, driver="GPKG")
    with pytest.raises(GeoFileError, match="feature 1: no geometry"):
        read_features(empty)


def test_a_wrong_declared_crs_shows_as_out_of_range(tmp_path):
    """Metres declared as degrees: far outside longitude/latitude — said so, not silently drawn off the map."""
    to_merc = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    x, y = to_merc.transform(121.47, 31.23)
    path = tmp_path / "mislabelled.gpkg"
    gpd.GeoDataFrame({"n": [0]}, geometry=[Point(x, y)], crs="EPSG:4326").to_file(path, driver="GPKG")
    with pytest.raises(GeoFileError, match="outside WGS-84 longitude/latitude"):
        read_features(path)


def test_unreadable_and_too_large_files(tmp_path):
    junk = tmp_path / "junk.gpkg"
    junk.write_bytes(b"not a geopackage")
    with pytest.raises(GeoFileError, match=r"junk\.gpkg: cannot read"):
        read_features(junk)
    with pytest.raises(GeoFileError, match="cannot read"):
        read_features(tmp_path / "missing.gpkg")
    path = tmp_path / "shops.gpkg"
    _shops_frame().to_file(path, driver="GPKG")
    with pytest.raises(GeoFileError, match="more than 1 features"):
        read_features(path, max_features=1)
    assert len(read_features(path, max_features=2)) == 2
