"""HTTP endpoints of the drill-down map and the city layers (:mod:`dashboard.web.api_city`), through the real app
(logins on, a private Redis, a temporary SQLite database seeded with the city layers):

* an import with one bad row writes nothing and reports that row (through ``POST /api/import/<layer>``, logged in),
  a good file is written and audited, an anonymous upload gets 401 and a leader 403;
* the choropleth figures equal the database's, per scope, including Hong Kong as its own city;
* each city layer answers only its own scope's features; heat surfaces, search, shop and park details;
* the display CRS (``CC_TILE_CRS=GCJ02``) shifts every layer and boundary the map receives, once.
"""
from __future__ import annotations

import io
import json
from datetime import date

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from dashboard.web.app import create_app
from dashboard.auth.core import seed_demo_users
from datasources.sql.city_models import Camera, Enterprise, Pipeline, Shop
from datasources.sql.db import make_engine, migrate
from datasources.sim.demo_city import seed_city_layers
from datasources.sql.models import AuditEntry
from datasources.sql.repository import save_fleet
from datasources.settings import Settings
from geo.crs import haversine_m, transform
from layers import enterprise_heat, region_stats
from layers.base import Scope, ScopeError
from tests.browser_support import build_fleet

FLEET = build_fleet(40, seed=5)
PEOPLES_SQUARE = (121.4737, 31.2304)


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("city-api") / "cc.db"
    url = f"sqlite:///{path}"
    migrate(url)
    engine = make_engine(url)
    save_fleet(engine, FLEET)
    seed_city_layers(engine, FLEET, seed=7, n_enterprises=5000, n_shops=800, today=date(2026, 11, 1))
    seed_demo_users(engine)
    engine.dispose()
    return path


@pytest.fixture
def app(seeded_db, redis_url, tmp_path, monkeypatch):
    """A fresh copy of the seeded database per test (imports write to it) and the app on it."""
    db = tmp_path / "cc.db"
    db.write_bytes(seeded_db.read_bytes())
    url = f"sqlite:///{db}"
    monkeypatch.delenv("CC_TILE_CRS", raising=False)
    enterprise_heat.invalidate()
    region_stats.clear_cache()
    engine = make_engine(url)
    dash_app, _ = create_app(Settings(data_dir=tmp_path, redis_url=redis_url, database_url=url), engine=engine,
                             redis_url=redis_url, start_bridge=False)
    yield dash_app
    enterprise_heat.invalidate()
    region_stats.clear_cache()
    engine.dispose()


def _http(app, user="duty", password="Duty#2026"):
    http = app.server.test_client()
    resp = http.post("/auth/login", json={"username": user, "password": password})
    assert resp.status_code == 200, resp.get_json()
    return http


def _engine(app):
    return app.server.extensions["cc"].engine


def _count(app, model) -> int:
    with Session(_engine(app)) as s:
        return int(s.scalar(select(func.count()).select_from(model)))


SHOP_HEADER = "shop_id,name,address,category,lon,lat,rating,integrity_score\n"


def _shops_csv(rows: int, bad_line: int | None = None, crs: str = "WGS84") -> bytes:
    lon, lat = transform(*PEOPLES_SQUARE, "WGS84", crs)
    out = io.StringIO()
    out.write(SHOP_HEADER)
    for i in range(rows):
        la = "31.2x" if bad_line is not None and i + 2 == bad_line else f"{lat + i * 1e-4:.7f}"
        out.write(f"IMP{i:03d},导入商铺{i},上海市黄浦区人民大道{i}号,retail,{lon + i * 1e-4:.7f},{la},B,80\n")
    return out.getvalue().encode("utf-8")


def _upload(http, layer: str, data: bytes, filename: str, **form):
    return http.post(f"/api/import/{layer}", data={"file": (io.BytesIO(data), filename), **form},
                     content_type="multipart/form-data")


# ------------------------------------------------------------------------------------------------ import


def test_import_with_one_bad_row_writes_nothing_and_reports_that_row(app):
    http = _http(app)
    before = _count(app, Shop)
    resp = _upload(http, "shops", _shops_csv(6, bad_line=5), "shops.csv", crs="WGS84", region="310100")
    assert resp.status_code == 422
    report = resp.get_json()
    assert report["result"] == "rejected" and report["written"] == 0
    assert (report["rows_read"], report["rows_ok"], report["n_errors"]) == (6, 5, 1)
    assert report["errors"][0][:2] == [5, "lat"] and "31.2x" in report["errors"][0][2]
    assert _count(app, Shop) == before  # nothing written
    with Session(_engine(app)) as s:
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "import")
                          .order_by(AuditEntry.id.desc())).first()
        assert (audit.actor, audit.role, audit.result, audit.target) == ("duty", "duty_officer", "rejected",
                                                                          "shops:shops.csv")


def test_import_of_a_good_file_in_gcj02_is_written_at_the_wgs84_position(app):
    http = _http(app)
    before = _count(app, Shop)
    resp = _upload(http, "shops", _shops_csv(4, crs="GCJ02"), "good.csv", crs="GCJ02", region="310100")
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["written"] == 4
    assert _count(app, Shop) == before + 4
    with Session(_engine(app)) as s:
        shop = s.get(Shop, "IMP000")
        assert haversine_m(shop.lon, shop.lat, *PEOPLES_SQUARE) < 1.0
    # the new shop is on the map's layer
    fc = http.get("/api/layers/shops?scope=city:310100").get_json()
    assert "IMP000" in {f["properties"]["id"] for f in fc["features"]}


def test_import_needs_a_login_and_the_right_role(app):
    anon = app.server.test_client()
    assert _upload(anon, "shops", _shops_csv(2), "x.csv").status_code == 401
    leader = _http(app, "leader", "Leader#2026")
    assert _upload(leader, "shops", _shops_csv(2), "x.csv").status_code == 403
    admin = _http(app, "admin", "Admin#2026")
    assert _upload(admin, "shops", _shops_csv(2), "x.csv").status_code == 200
    assert _upload(admin, "nonsense", b"", "x.csv").status_code == 400
    assert admin.post("/api/import/shops", data={}, content_type="multipart/form-data").status_code == 400


def test_an_upload_over_the_size_limit_is_refused_before_it_is_read(app):
    from datasources.ingest.importers import MAX_BYTES

    http = _http(app)
    before = _count(app, Shop)
    resp = _upload(http, "shops", b"x" * (MAX_BYTES + (2 << 20)), "huge.csv", crs="WGS84")
    assert resp.status_code == 413
    assert "larger than" in resp.get_json()["error"]
    assert _count(app, Shop) == before
    # every other endpoint takes far less: a big JSON body is refused there before it is read
    from dashboard.auth.headers import GENERAL_MAX_BYTES  # noqa: PLC0415

    resp = http.post("/api/workorders", data=b"{" + b" " * GENERAL_MAX_BYTES + b"}",
                     content_type="application/json")
    assert resp.status_code == 413 and "larger than 16 MB" in resp.get_json()["error"]


def test_enterprise_import_refreshes_the_heat_map(app):
    http = _http(app)
    scope = Scope.parse("city:310100")
    before = enterprise_heat.surface(app.server.extensions["cc"].layer_ctx, scope)["total"]
    csv = ("统一社会信用代码,企业名称,注册资本,税收,注册地经度,注册地纬度,经营地经度,经营地纬度\n" + "".join(
        f"91310101MA1FL{i:05d},导入企业{i}有限公司,100,10,{PEOPLES_SQUARE[0]},{PEOPLES_SQUARE[1]},"
        f"{PEOPLES_SQUARE[0]},{PEOPLES_SQUARE[1]}\n" for i in range(30))).encode("utf-8")
    resp = _upload(http, "enterprises", csv, "ent.csv")
    assert resp.status_code == 200, resp.get_json()
    after = http.get("/api/heat?scope=city:310100&metric=count").get_json()["total"]
    assert after == before + 30


# ------------------------------------------------------------------------------------------------ figures


def _sql_figures(app, group: str, province: str | None = None) -> dict:
    where = "WHERE province_adcode = :p" if province else ""
    out: dict = {}
    with _engine(app).connect() as c:
        for code, lc, n in c.execute(text(f"SELECT {group}, lifecycle, COUNT(*) FROM stations {where} "
                                          f"GROUP BY {group}, lifecycle"), {"p": province}):
            row = out.setdefault(code, {"stations": 0})
            row["stations"] += n
            row[lc] = row.get(lc, 0) + n
        for code, n in c.execute(text(f"SELECT {group}, COUNT(*) FROM service_people {where} "
                                      f"GROUP BY {group}"), {"p": province}):
            out.setdefault(code, {"stations": 0})["people"] = n
    return out


def test_choropleth_figures_equal_the_database(app):
    http = _http(app)
    for scope, group, province in (("nation", "province_adcode", None),
                                   ("province:320000", "city_adcode", "320000")):
        body = http.get(f"/api/regions/figures?scope={scope}").get_json()
        want = _sql_figures(app, group, province)
        got = body["regions"]
        for code, w in want.items():
            g = got[code]
            assert g["stations"] == w["stations"]
            for lc in ("built", "under_construction", "idle", "maintenance"):
                assert g[lc] == w.get(lc, 0)
            assert g["staff"] + g["experts"] == w.get("people", 0)
        assert body["total"]["stations"] == sum(w["stations"] for w in want.values())
    city = http.get("/api/regions/figures?scope=city:320500").get_json()
    assert city["total"]["stations"] == sum(1 for s in FLEET if s.city_adcode == "320500")
    assert http.get("/api/regions/figures?scope=city:330000").status_code == 400


def test_hong_kong_macao_taiwan_are_their_own_city(app):
    http = _http(app)
    for code in ("810000", "820000", "710000"):
        assert Scope.parse(f"city:{code}").code == code
        regions = json.loads(http.get(f"/api/regions?scope=city:{code}").data)
        assert [f["properties"]["adcode"] for f in regions["features"]] == [code]
        labels = http.get(f"/api/regions?scope=city:{code}&part=labels").get_json()
        assert [f["properties"]["adcode"] for f in labels["features"]] == [code]
        assert http.get(f"/api/regions/figures?scope=city:{code}").status_code == 200
    with pytest.raises(ScopeError):
        Scope.parse("city:330000")


# ------------------------------------------------------------------------------------------------ layers


def test_each_scope_loads_only_its_own_layer_data(app):
    http = _http(app)
    with Session(_engine(app)) as s:
        n_cam = s.scalar(select(func.count()).select_from(Camera).where(Camera.city_adcode == "310100"))
        n_pipe = s.scalar(select(func.count()).select_from(Pipeline).where(Pipeline.city_adcode == "310100"))
        n_shop = s.scalar(select(func.count()).select_from(Shop).where(Shop.city_adcode == "310100"))
    for layer, n in (("cameras", n_cam), ("pipelines", n_pipe), ("shops", n_shop)):
        fc = http.get(f"/api/layers/{layer}?scope=city:310100").get_json()
        assert len(fc["features"]) == n > 0, layer
        for room in ("nation", "province:310000", "city:320500" if layer == "shops" else "city:110100"):
            other = http.get(f"/api/layers/{layer}?scope={room}").get_json()["features"]
            assert all(f["properties"].get("city_adcode", room) != "310100" for f in other)
        assert http.get(f"/api/layers/{layer}?scope=nation").get_json()["features"] == []
    places = http.get("/api/layers/places?scope=city:310100").get_json()["features"]
    assert places and {f["properties"]["kind"] for f in places} == {"park", "building"}
    assert http.get("/api/layers/bogus?scope=nation").status_code == 404
    assert http.get("/api/layers/cameras?scope=city:12").status_code == 400


def test_heat_search_shop_and_place_endpoints(app):
    http = _http(app)
    with Session(_engine(app)) as s:
        n_ent = s.scalar(select(func.count()).select_from(Enterprise))
        shop = s.scalars(select(Shop).order_by(Shop.shop_id)).first()
        shop_id, shop_name = shop.shop_id, shop.name
    nat = http.get("/api/heat?scope=nation&metric=count&address=registered").get_json()
    assert nat["url"].startswith("data:image/png;base64,") and nat["total"] == pytest.approx(n_ent, rel=0.02)
    city = http.get("/api/heat?scope=city:310100&metric=tax&address=operating"
                    "&bbox=121.0,30.9,121.9,31.5&zoom=10").get_json()
    (s_, w_), (n_, e_) = city["bounds"]
    assert s_ <= 30.9 and w_ <= 121.0 and n_ >= 31.5 and e_ >= 121.9 and city["metric"] == "tax"
    assert http.get("/api/heat?scope=nation&metric=bogus").status_code == 400
    assert http.get("/api/heat?scope=nation&bbox=1,2,3").status_code == 400

    hits = http.get(f"/api/search?q={shop_name}").get_json()["results"]
    hit = next(h for h in hits if h["id"] == shop_id)
    assert hit["kind"] == "shop" and hit["city_adcode"] == "310100" and (hit["dlon"], hit["dlat"]) == (
        hit["lon"], hit["lat"])
    st = FLEET[5]
    hits = http.get(f"/api/search?q={st.name}&scope=city:{st.city_adcode}").get_json()["results"]
    assert hits[0]["id"] == st.station_id
    detail = http.get(f"/api/shops/{shop_id}").get_json()
    assert detail["shop"]["id"] == shop_id and detail["qr"].startswith("data:image/png")
    assert http.get("/api/shops/NOPE").status_code == 404
    park = http.get("/api/layers/places?scope=city:310100").get_json()["features"][0]["properties"]
    fig = http.get(f"/api/places/{park['kind']}/{park['id']}").get_json()
    assert fig["registered"] == park["registered"] and fig["operating"] == park["operating"]
    assert http.get("/api/places/tower/x").status_code == 400


def test_display_crs_shifts_every_layer_once(app, monkeypatch):
    http = _http(app)
    wgs = {layer: http.get(f"/api/layers/{layer}?scope=city:310100").get_json() for layer in ("cameras", "shops")}
    regions_wgs = json.loads(http.get("/api/regions?scope=city:310100").data)
    assert http.get("/api/map/config").get_json()["crs"] == "WGS84"
    monkeypatch.setenv("CC_TILE_CRS", "GCJ02")
    monkeypatch.setenv("CC_TILE_URL", "https://webrd0{s}.is.autonavi.com/appmaptile?style=8&x={x}&y={y}&z={z}")
    assert http.get("/api/map/config").get_json()["crs"] == "GCJ02"
    for layer, fc in wgs.items():
        shifted = http.get(f"/api/layers/{layer}?scope=city:310100").get_json()
        for a, b in zip(fc["features"][:50], shifted["features"][:50]):
            lon, lat = a["geometry"]["coordinates"]
            want = transform(lon, lat, "WGS84", "GCJ02")
            got = b["geometry"]["coordinates"]
            assert haversine_m(got[0], got[1], *want) < 0.05  # converted once (not twice, not never)
            assert 100 < haversine_m(got[0], got[1], lon, lat) < 1000
    regions_gcj = json.loads(http.get("/api/regions?scope=city:310100").data)
    a = regions_wgs["features"][0]["geometry"]["coordinates"][0][0][0]
    b = regions_gcj["features"][0]["geometry"]["coordinates"][0][0][0]
    assert haversine_m(*b, *transform(*a, "WGS84", "GCJ02")) < 0.05
    hit = http.get("/api/search?q=上海").get_json()["results"][0]
    assert haversine_m(hit["dlon"], hit["dlat"], *transform(hit["lon"], hit["lat"], "WGS84", "GCJ02")) < 0.05
    # the page gets the tiles
    page = http.get("/_dash-layout").get_data(as_text=True)
    assert "autonavi" in page


def test_station_index_from_one_query_equals_the_fleet(app):
    from datasources.sql.repository import load_fleet  # noqa: PLC0415
    from layers.live import build_index, load_index  # noqa: PLC0415

    engine = _engine(app)
    assert load_index(engine) == build_index(load_fleet(engine))
    assert load_index(engine, city_adcode="310100") == build_index(load_fleet(engine, city_adcode="310100"))
    assert list(load_index(engine, station_id=FLEET[3].station_id)) == [FLEET[3].station_id]
