"""City layers (cameras, pipelines, shops, enterprise heat) on demo data in real SQLite / PostgreSQL databases:
scope filtering, live pipe pressure from a real Redis, legends, shop QR codes, search ranking, park/building
figures, idempotent seeding."""
from __future__ import annotations

import base64
import json
import io
from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from datasources.bus.messages import latest_key, now_ms
from datasources.sql.city_models import Building, Camera, Enterprise, Park, Pipeline, Shop
from datasources.sql.db import make_engine, migrate
from datasources.sim.demo_city import seed_city_layers
from datasources.sim.fleet import generate_fleet
from datasources.sql.repository import save_fleet
from datasources.sql.search import search
from geo.regions import get_region_index
from layers import cameras, enterprise_heat, pipelines, shops
from layers.base import LayerContext, Scope

N_ENTERPRISES = 3000
N_SHOPS = 600


@pytest.fixture
def seeded(database_url):
    migrate(database_url)
    engine = make_engine(database_url)
    stations = generate_fleet(40, seed=3)
    save_fleet(engine, stations)
    written = seed_city_layers(engine, stations, seed=7, n_enterprises=N_ENTERPRISES, n_shops=N_SHOPS,
                               today=date(2026, 11, 1))
    assert written["enterprises"] == N_ENTERPRISES and written["shops"] == N_SHOPS
    enterprise_heat.invalidate()
    yield engine, stations
    enterprise_heat.invalidate()
    engine.dispose()


def _count(engine, stmt) -> int:
    with Session(engine) as s:
        return int(s.scalar(stmt))


def _first_xy(feature) -> tuple[float, float]:
    g = feature["geometry"]
    return tuple(g["coordinates"][0] if g["type"] == "LineString" else g["coordinates"])


def test_city_scope_returns_only_that_citys_features(seeded):
    engine, _ = seeded
    ctx = LayerContext(engine=engine, redis=None)
    idx = get_region_index()
    for city in ("310100", "320500"):
        scope = Scope.parse(f"city:{city}")
        expected = {
            cameras: _count(engine, select(func.count()).select_from(Camera).where(Camera.city_adcode == city)),
            pipelines: _count(engine, select(func.count()).select_from(Pipeline).where(Pipeline.city_adcode == city)),
            shops: _count(engine, select(func.count()).select_from(Shop).where(Shop.city_adcode == city)),
        }
        assert expected[cameras] > 0 and expected[pipelines] > 0
        assert (expected[shops] > 0) == (city == "310100")
        for layer, n in expected.items():
            fc = layer.data(scope, ctx)
            assert fc["type"] == "FeatureCollection" and len(fc["features"]) == n
            located = idx.locate_many([_first_xy(f) for f in fc["features"]]) if n else []
            assert all(loc is not None and loc[1] == city for loc in located), layer.key
            for f in fc["features"]:
                assert f["properties"].get("city_adcode", city) == city
    for room in ("nation", "province:310000"):
        for layer in (cameras, pipelines, shops):
            assert layer.data(Scope.parse(room), ctx)["features"] == []


def test_station_scope_and_camera_streams(seeded):
    engine, stations = seeded
    ctx = LayerContext(engine=engine, redis=None)
    built = [s for s in stations if s.lifecycle == "built"]
    st = built[0]
    fc = cameras.data(Scope.parse(f"station:{st.station_id}"), ctx)
    assert 1 <= len(fc["features"]) <= 3
    for f in fc["features"]:
        p = f["properties"]
        assert p["station_id"] == st.station_id and p["stream_url"] == f"/cameras/{p['id']}/stream.mjpg"
    with_lines = next(s for s in built if _count(engine, select(func.count()).select_from(Pipeline)
                                               .where(Pipeline.station_id == s.station_id)))
    lines = pipelines.data(Scope.parse(f"station:{with_lines.station_id}"), ctx)["features"]
    assert lines and all(f["properties"]["station_id"] == with_lines.station_id for f in lines)
    assert all(f["properties"]["sensor_device_id"] == f"{with_lines.station_id}-FM" for f in lines)
    assert all(f["properties"]["kind"] == "compressed_air" for f in lines)


def test_pipes_are_coloured_by_live_pressure(seeded, redis_client):
    engine, _ = seeded
    with Session(engine) as s:
        pipes = list(s.scalars(select(Pipeline).where(Pipeline.city_adcode == "310100",
                                                      Pipeline.kind == "underground",
                                                      Pipeline.sensor_device_id.is_not(None))
                               .order_by(Pipeline.pipeline_id).limit(4)))
        unmonitored = s.scalar(select(Pipeline.pipeline_id).where(Pipeline.city_adcode == "310100",
                                                                 Pipeline.sensor_device_id.is_(None)))
    low, ok, stale, silent = pipes
    now = now_ms()

    def put(p, value, ts, online="1"):
        redis_client.hset(latest_key(p.sensor_device_id), mapping={
            "pressure_mpa": f"{value:.3f}", "_ts_ms": str(ts), "_online": online, "_station_id": "", "_error": ""})

    put(low, low.nominal_pressure_mpa * 0.5, now)
    put(ok, ok.nominal_pressure_mpa, now)
    put(stale, stale.nominal_pressure_mpa, now - 600_000)
    ctx = LayerContext(engine=engine, redis=redis_client, stale_after_s=30)
    fc = pipelines.data(Scope.parse("city:310100"), ctx)
    by_id = {f["id"]: f["properties"] for f in fc["features"]}
    assert by_id[low.pipeline_id]["status"] == "low"
    assert by_id[low.pipeline_id]["pressure_mpa"] == pytest.approx(low.nominal_pressure_mpa * 0.5, abs=1e-3)
    assert by_id[ok.pipeline_id]["status"] == "ok" and by_id[ok.pipeline_id]["ratio"] == pytest.approx(1.0, abs=1e-3)
    assert by_id[stale.pipeline_id]["status"] == "no_data"
    assert by_id[silent.pipeline_id]["status"] == "no_data"
    assert by_id[unmonitored]["status"] == "no_sensor"
    assert fc["features"][-1]["properties"]["status"] == "low"  # alarms drawn last, on top
    assert [a["id"] for a in pipelines.alarms(fc)] == [low.pipeline_id]
    group = pipelines.component(ctx, Scope.parse("city:310100"), "zh", geojson=fc)
    low_layer = next(c for c in group.children if c.id == "pipelines-low")
    assert [f["id"] for f in low_layer.data["features"]] == [low.pipeline_id]
    assert low_layer.style["color"] == pipelines.STYLES["low"]["color"]
    # Redis down → "no data", not an exception
    from redis import Redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    dead = LayerContext(engine=engine, redis=Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)))
    assert {f["properties"]["status"] for f in pipelines.data(Scope.parse("city:310100"), dead)["features"]} <= \
        {"no_data", "no_sensor"}


def test_enterprise_heat_uses_only_the_scopes_enterprises(seeded):
    engine, _ = seeded
    ctx = LayerContext(engine=engine, redis=None)
    for room, cond_reg, cond_op in (
            ("city:310100", Enterprise.reg_city_adcode == "310100", Enterprise.op_city_adcode == "310100"),
            ("province:320000", Enterprise.reg_city_adcode.between("320000", "329999"),
             Enterprise.op_city_adcode.between("320000", "329999"))):
        scope = Scope.parse(room)
        for address, cond in (("registered", cond_reg), ("operating", cond_op)):
            n = _count(engine, select(func.count()).select_from(Enterprise).where(cond))
            with Session(engine) as ses:
                cap = float(ses.scalar(select(func.coalesce(func.sum(Enterprise.registered_capital_wan), 0))
                                       .where(cond)))
            assert n > 0
            s = enterprise_heat.surface(ctx, scope, "count", address)
            assert s["total"] == n and s["points"] == n and s["scope"] == room
            assert s["url"].startswith("data:image/png;base64,")
            c = enterprise_heat.surface(ctx, scope, "capital", address)
            assert c["total"] == pytest.approx(cap, rel=1e-6)
    nation = enterprise_heat.surface(ctx, Scope.parse("nation"), "tax", "operating")
    assert nation["points"] <= N_ENTERPRISES and nation["unit"] == "万元/year"
    with pytest.raises(ValueError):
        enterprise_heat.surface(ctx, Scope.parse("nation"), "profit")


def test_park_and_building_figures(seeded):
    engine, _ = seeded
    ctx = LayerContext(engine=engine, redis=None)
    fc = enterprise_heat.data(Scope.parse("city:310100"), ctx)
    parks = [f for f in fc["features"] if f["properties"]["kind"] == "park"]
    buildings = [f for f in fc["features"] if f["properties"]["kind"] == "building"]
    assert parks and buildings
    assert {f["properties"]["city_adcode"] for f in fc["features"]} == {"310100"}
    park = max(parks, key=lambda f: f["properties"]["registered"]["count"])
    pid = park["id"]
    with Session(engine) as s:
        bids = list(s.scalars(select(Building.building_id).where(Building.park_id == pid)))
        reg_n = s.scalar(select(func.count()).select_from(Enterprise).where(Enterprise.reg_building_id.in_(bids)))
        op_n = s.scalar(select(func.count()).select_from(Enterprise).where(Enterprise.op_building_id.in_(bids)))
        reg_tax = s.scalar(select(func.coalesce(func.sum(Enterprise.tax_wan), 0)).where(
            Enterprise.reg_building_id.in_(bids)))
        assert s.get(Park, pid) is not None
    fig = enterprise_heat.figures(ctx, "park", pid)
    assert fig["registered"]["count"] == reg_n > 0 and fig["operating"]["count"] == op_n
    assert fig["registered"]["tax_wan"] == pytest.approx(float(reg_tax), abs=0.2)
    assert park["properties"]["registered"] == fig["registered"]
    hub = next(f for f in buildings if f["id"].endswith("00") and f["properties"]["park_id"] == pid)
    # the registration hub: more firms registered than operating there (注经分离)
    assert hub["properties"]["registered"]["count"] > hub["properties"]["operating"]["count"]
    assert enterprise_heat.figures(ctx, "building", hub["id"])["registered"] == hub["properties"]["registered"]
    assert enterprise_heat.figures(ctx, "building", "NOPE") is None


def test_legends_exist_in_chinese_and_english():
    for layer in (cameras, pipelines, shops, enterprise_heat):
        zh, en = layer.legend("zh"), layer.legend("en")
        assert zh and len(zh) == len(en), layer.key
        assert [i.symbol for i in zh] == [i.symbol for i in en]
        for a, b in zip(zh, en):
            assert a.label and b.label and a.label != b.label
            assert not any("\u4e00" <= ch <= "\u9fff" for ch in b.label), b.label  # English has no Han characters
            assert any("\u4e00" <= ch <= "\u9fff" for ch in a.label), a.label
        assert layer.key and layer.popup_fields


def test_shop_popup_qr_code_decodes_to_the_payload(seeded):
    engine, _ = seeded
    ctx = LayerContext(engine=engine, redis=None)
    sid = shops.data(Scope.parse("city:310100"), ctx)["features"][0]["id"]
    detail = shops.shop_detail(ctx, sid)
    payload = detail["shop"]["qr_payload"]
    assert f"编号:{sid}" in payload and detail["shop"]["name"] in payload
    assert detail["history"] and detail["history"][0]["date"] >= detail["history"][-1]["date"]
    assert detail["shop"]["rating"] == detail["history"][0]["rating"]
    png = base64.b64decode(detail["qr"].split(",", 1)[1])
    from PIL import Image

    img = Image.open(io.BytesIO(png))
    try:
        import zxingcpp
    except ImportError:  # no decoder: the image must at least be the QR code of the payload
        import numpy as np
        import qrcode

        qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=1, border=0)
        qr.add_data(payload.encode("utf-8"))
        qr.make(fit=True)
        modules = np.array(qr.get_matrix(), dtype=bool)
        arr = np.asarray(img.convert("L"))[8::4, 8::4] < 128  # border 2 × box 4 = 8 px; sample module centres
        assert (arr[: modules.shape[0], : modules.shape[1]] == modules).all()
    else:
        decoded = zxingcpp.read_barcodes(img.convert("L"))
        assert decoded and decoded[0].text == payload
    popup = shops.popup_component(ctx, sid, "en")
    assert sid in repr(popup) and detail["qr"] in repr(popup)
    assert "not found" in repr(shops.popup_component(ctx, "NOPE", "en"))


def test_search_ranks_exact_then_prefix_then_substring(seeded):
    engine, _ = seeded
    common = dict(address="上海市松江区测试路1号", category="catering", lon=121.325, lat=31.135,
                  province_adcode="310000", city_adcode="310100")
    with Session(engine) as s, s.begin():
        s.add_all([Shop(shop_id="SRCH1", name="星河面馆", name_en="Xinghe Noodles", **common),
                   Shop(shop_id="SRCH2", name="星河面馆二店", name_en="Xinghe Noodles No 2", **common),
                   Shop(shop_id="SRCH3", name="老星河面馆", name_en="Old Xinghe Noodles", **common),
                   Enterprise(enterprise_id="91310100SRCH00004X", name="星河面馆管理有限公司",
                              name_en="Shanghai Xinghe Catering Co., Ltd.", reg_lon=121.33, reg_lat=31.14,
                              reg_city_adcode="310100", op_lon=121.33, op_lat=31.14, op_city_adcode="310100",
                              registered_capital_wan=100, tax_wan=5)])
    got = [(r.kind, r.id, r.match) for r in search(engine, "星河面馆")]
    assert got == [("shop", "SRCH1", "exact"), ("shop", "SRCH2", "prefix"),
                   ("enterprise", "91310100SRCH00004X", "prefix"), ("shop", "SRCH3", "substring")]
    first = search(engine, "星河面馆")[0]
    assert (first.lon, first.lat, first.zoom) == (121.325, 31.135, 18)
    en = search(engine, "xinghe noodles")
    assert [r.id for r in en[:3]] == ["SRCH1", "SRCH2", "SRCH3"]
    assert [r.match for r in en[:3]] == ["exact", "prefix", "substring"]
    assert search(engine, "SRCH3")[0].id == "SRCH3" and search(engine, "SRCH3")[0].match == "exact"
    assert [r.kind for r in search(engine, "上海")][:1] == ["region"]
    assert search(engine, "星河面馆", scope_adcode="320500") == []
    assert search(engine, "   ") == []
    assert len(search(engine, "有限公司", limit=5)) == 5
    with pytest.raises(ValueError):
        search(engine, "x", kinds=("planet",))


def test_seeding_again_skips_what_exists(seeded):
    engine, stations = seeded
    again = seed_city_layers(engine, stations, seed=7, n_enterprises=N_ENTERPRISES, n_shops=N_SHOPS)
    assert set(again.values()) == {0}
    assert _count(engine, select(func.count()).select_from(Enterprise)) == N_ENTERPRISES


def test_simulated_pipe_sensors_feed_the_layer(seeded, redis_client):
    from datasources.sim.pipe_sensors import pipe_sensor_values, publish_pipe_sensors

    engine, _ = seeded
    now = now_ms()
    n = publish_pipe_sensors(redis_client, engine, now_ms=now)
    assert n == _count(engine, select(func.count()).select_from(Pipeline).where(
        Pipeline.kind == "underground", Pipeline.sensor_device_id.is_not(None)))
    ctx = LayerContext(engine=engine, redis=redis_client, stale_after_s=30)
    props = [f["properties"] for f in pipelines.data(Scope.parse("city:310100"), ctx, now_ms=now)["features"]
             if f["properties"]["kind"] == "underground" and f["properties"]["sensor_device_id"]]
    assert props and all(p["status"] in ("ok", "low") for p in props)
    expected = pipe_sensor_values([p["sensor_device_id"] for p in props], [p["nominal_pressure_mpa"] for p in props],
                                  now)
    assert all(p["pressure_mpa"] == pytest.approx(expected[p["sensor_device_id"]], abs=1e-9) for p in props)
    # over a day of 10-minute periods some sensors show a leak (below 80 % of nominal)
    ids = [f"PS-T-{i}" for i in range(50)]
    assert any(v < 0.8 for t in range(0, 86_400_000, 600_000)
               for v in pipe_sensor_values(ids, [1.0] * 50, t).values())


def test_pipe_alarm_status_follows_the_engine_and_the_station_is_coloured(seeded, redis_client):
    """Sensors that are Modbus devices are judged by the alarm engine (SQL alarms), not by the layer's comparison;
    an active alarm of any rule colours its station."""
    from datasources.sql.alarm_store import apply_transitions
    from datasources.bus.messages import DeviceReading, StationReading, StationSummary
    from datasources.sim.pipe_sensors import attach_pipe_sensors
    from datasources.sql.models import Device
    from layers import stations as stations_layer
    from ops.alarm_rules import Evaluator, load_rules

    engine, _ = seeded
    assert attach_pipe_sensors(engine) > 0
    with Session(engine) as s:
        dev = s.scalars(select(Device).join(Pipeline, Pipeline.sensor_device_id == Device.device_id)
                        .where(Device.kind == "pipe_sensor", Pipeline.city_adcode == "310100")
                        .order_by(Device.device_id)).first()
        pipe = s.scalars(select(Pipeline).where(Pipeline.sensor_device_id == dev.device_id)).first()
        sensor, station_id, pid, nominal = dev.device_id, dev.station_id, pipe.pipeline_id, pipe.nominal_pressure_mpa
        low_mpa = pipe.low_pressure_mpa or 0.8 * nominal
    now = now_ms()
    redis_client.hset(latest_key(sensor), mapping={"pressure_mpa": f"{nominal * 0.5:.3f}", "_ts_ms": str(now),
                                                   "_online": "1", "_station_id": station_id, "_error": ""})
    redis_client.hset("cc:summary", station_id, json.dumps({"state": "idle", "ts_ms": now}))
    ctx = LayerContext(engine=engine, redis=redis_client, stale_after_s=30)
    scope = Scope.parse("city:310100")

    def status() -> str:
        return {f["id"]: f["properties"] for f in pipelines.data(scope, ctx)["features"]}[pid]["status"]

    def station_state() -> str:
        return {f["properties"]["id"]: f["properties"]["state"]
                for f in stations_layer.data(scope, ctx)["features"]}[station_id]

    assert status() == "ok", "below the threshold but no alarm (yet): the engine judges, not the layer"
    assert station_state() == "idle"
    ev = Evaluator(load_rules())

    def cycle(t_s: float, p_mpa: float):
        ts = now + int(t_s * 1000)
        d = DeviceReading(device_id=sensor, kind="pipe_sensor", model="cc-pipe-sensor", online=True, ts_ms=ts,
                          values={"pressure_mpa": p_mpa, "low_pressure_threshold_mpa": low_mpa})
        apply_transitions(engine, ev.evaluate(StationReading(
            station_id=station_id, ts_ms=ts, devices=[d], summary=StationSummary(state="idle", ts_ms=ts))))

    for t in range(0, 7):
        cycle(t, nominal * 0.5)
    assert status() == "low" and station_state() == "alarm"
    for t in range(7, 14):
        cycle(t, nominal)
    assert status() == "ok" and station_state() == "idle"
