"""GeoPackage and zipped-Shapefile imports (:func:`datasources.ingest.importers.import_file` through
:func:`geo.files.read_features`): the file's declared CRS (Web Mercator, CGCS2000) is honoured, the import's ``crs``
names the datum of the degrees (GCJ-02), rows are validated and written all or nothing like any other format; real
files written by geopandas, real SQLite / PostgreSQL."""
from __future__ import annotations

import io
import zipfile

import geopandas as gpd
import pytest
from shapely.geometry import Point
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from datasources.ingest.importers import import_file
from datasources.sql.city_models import Camera, Shop
from datasources.sql.db import make_engine, migrate
from geo.crs import haversine_m, transform

PEOPLES_SQUARE = (121.4737, 31.2304)  # Shanghai 310100, WGS-84


@pytest.fixture
def engine(database_url):
    migrate(database_url)
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


def _shops_frame(n: int, crs: str, datum: str = "WGS84") -> gpd.GeoDataFrame:
    pts = [transform(PEOPLES_SQUARE[0] + i * 1e-4, PEOPLES_SQUARE[1], "WGS84", datum) for i in range(n)]
    frame = gpd.GeoDataFrame({"shop_id": [f"G{i}" for i in range(n)], "name": [f"商铺{i}" for i in range(n)],
                              "address": ["上海市黄浦区"] * n, "category": ["retail"] * n, "rating": ["B"] * n},
                             geometry=[Point(x, y) for x, y in pts], crs="EPSG:4326")
    return frame.to_crs(crs)


def _gpkg(frame, tmp_path) -> bytes:
    path = tmp_path / "layer.gpkg"
    frame.to_file(path, driver="GPKG", engine="pyogrio")
    return path.read_bytes()


def _count(engine, model) -> int:
    with Session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(model)))


def test_a_geopackage_in_web_mercator_with_gcj02_degrees_lands_at_the_wgs84_position(engine, tmp_path):
    body = _gpkg(_shops_frame(3, "EPSG:3857", datum="GCJ02"), tmp_path)
    rep = import_file(engine, "shops", body, filename="shops.gpkg", crs="GCJ02", actor="a", role="admin",
                      region_adcode="310100")
    assert rep.ok and rep.written == 3 and rep.fmt == "gpkg", rep.errors
    with Session(engine) as s:
        g0 = s.get(Shop, "G0")
    assert haversine_m(g0.lon, g0.lat, *PEOPLES_SQUARE) < 1.0 and g0.city_adcode == "310100"


def test_a_zipped_shapefile_in_cgcs2000_and_its_row_errors(engine, tmp_path):
    frame = gpd.GeoDataFrame({"camera_id": ["C1", "C2"], "name": ["路口一", "路口二"], "status": ["online", "bogus"]},
                             geometry=[Point(*PEOPLES_SQUARE), Point(PEOPLES_SQUARE[0] + 1e-3, PEOPLES_SQUARE[1])],
                             crs="EPSG:4490")
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    frame.to_file(shp_dir / "cams.shp", engine="pyogrio", encoding="utf-8")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in shp_dir.iterdir():
            zf.write(f, f.name)
    rep = import_file(engine, "cameras", buf.getvalue(), filename="cams.zip", actor="a", role="admin")
    assert not rep.ok and [(e.row, e.field) for e in rep.errors] == [(2, "status")], rep.errors
    assert _count(engine, Camera) == 0
    rep = import_file(engine, "cameras", _fix(buf.getvalue(), shp_dir, frame), filename="cams.zip", actor="a",
                      role="admin")
    assert rep.ok and rep.written == 2, rep.errors


def _fix(_old: bytes, shp_dir, frame) -> bytes:
    frame = frame.assign(status=["online", "offline"])
    frame.to_file(shp_dir / "cams.shp", engine="pyogrio", encoding="utf-8")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in shp_dir.iterdir():
            zf.write(f, f.name)
    return buf.getvalue()


def test_a_file_without_a_crs_is_refused_as_a_whole(engine, tmp_path):
    frame = _shops_frame(1, "EPSG:4326").set_crs(None, allow_override=True)
    rep = import_file(engine, "shops", _gpkg(frame, tmp_path), filename="nocrs.gpkg", actor="a", role="admin")
    assert not rep.ok and rep.errors[0].row == 0 and "CRS" in rep.errors[0].message
    assert _count(engine, Shop) == 0
