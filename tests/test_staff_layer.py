"""The staff-on-duty layer (:mod:`layers.staff`, seed 001 table 7 在线服务) — added through the layer registry only.

On real SQLite and PostgreSQL databases with the demo roster and service people: counts per province and city equal
the database's; a duty flag changed in the roster shows at the layer's next refresh (and an unchanged roster sends
nothing); the registry gives it a layer-control row, a map component, a refresh timer, a legend and an HTTP route
(through the real app, logged in).
"""
from __future__ import annotations

import json

import pytest
from dash import no_update
from sqlalchemy import insert

from datasources.sql.city_models import ServicePerson
from datasources.sql.db import make_engine, migrate
from datasources.sql.workorders import DEMO_ROSTER, seed_demo_roster, set_on_duty
from layers import registry
from layers.base import LayerContext, Scope, pattern_id

PEOPLE = [  # (id, role, province, city, online)
    ("SP1", "staff", "320000", "320500", True), ("SP2", "staff", "320000", "320500", False),
    ("SP3", "expert", "320000", "320100", True), ("SP4", "staff", "310000", "310100", True),
    ("SP5", "expert", "440000", "440300", False),
]


@pytest.fixture
def engine(database_url):
    migrate(database_url)
    eng = make_engine(database_url)
    seed_demo_roster(eng)
    with eng.begin() as conn:
        conn.execute(insert(ServicePerson.__table__), [
            {"person_id": pid, "name": pid, "name_en": pid, "role": role, "specialty": "", "province_adcode": prov,
             "city_adcode": city, "partner": "", "phone": "", "online": online}
            for pid, role, prov, city, online in PEOPLE])
    yield eng
    eng.dispose()


def _by_code(fc) -> dict:
    return {f["properties"]["adcode"]: f["properties"] for f in fc["features"]}


def test_people_on_duty_by_province_and_city(engine):
    layer = registry.get("staff")
    ctx = LayerContext(engine=engine, redis=None)
    nation = _by_code(layer.data(Scope.parse("nation"), ctx, "zh"))
    on_duty_roster = [r for r in DEMO_ROSTER if r[8]]
    assert sum(p["roster_on_duty"] for p in nation.values()) == len(on_duty_roster)
    assert sum(p["staff_online"] for p in nation.values()) == 2  # SP1, SP4
    assert sum(p["experts_online"] for p in nation.values()) == 1  # SP3
    js = nation["320000"]  # Jiangsu: Zhang Wei (Suzhou) on duty, Liu Yang (Nanjing) off; SP1; expert SP3
    assert (js["roster_on_duty"], js["staff_online"], js["experts_online"], js["on_duty"]) == (1, 1, 1, 3)
    assert js["engineers"] == ["张伟"] and js["_color"] == "#ffc94d" and "江苏" in js["name"]
    assert "440000" in nation and nation["440000"]["experts_online"] == 0  # Guangdong: roster only, SP5 offline
    for f in layer.data(Scope.parse("nation"), ctx, "zh")["features"]:
        lon, lat = f["geometry"]["coordinates"]
        assert 73 < lon < 136 and 17 < lat < 54
    jiangsu = _by_code(layer.data(Scope.parse("province:320000"), ctx, "en"))
    assert set(jiangsu) == {"320500", "320100"}
    assert (jiangsu["320500"]["roster_on_duty"], jiangsu["320500"]["staff_online"]) == (1, 1)
    assert (jiangsu["320100"]["roster_on_duty"], jiangsu["320100"]["experts_online"]) == (0, 1)
    assert "Experts online" in jiangsu["320100"]["tooltip"] and "Zhang Wei" in jiangsu["320500"]["tooltip"]
    city = _by_code(layer.data(Scope.parse("city:320500"), ctx))
    assert list(city) == ["320500"] and city["320500"]["on_duty"] == 2
    assert layer.data(Scope.parse("station:ST0001"), ctx)["features"] == []


def test_a_duty_change_shows_at_the_next_refresh_and_no_change_sends_nothing(engine):
    from callbacks.city_layers import load_layer  # noqa: PLC0415 — the registry callback's body

    class Web:  # the web process's context, as the callback sees it: scope parsing and the layer context
        layer_ctx = LayerContext(engine=engine, redis=None)
        parse_scope = staticmethod(Scope.parse)

    args = ("province:320000", ["stations", "staff"], "zh", "sid-1")
    fc, url, hideout, timer_off = load_layer(Web, "staff", *args, None, False)
    assert url is None and timer_off is False and hideout["key"] == [True, "province:320000", "zh"]
    assert _by_code(fc)["320500"]["roster_on_duty"] == 1 and "320100" in _by_code(fc)
    # the timer ticks, nothing changed: nothing is sent
    assert all(isinstance(v, type(no_update)) for v in load_layer(Web, "staff", *args, hideout, True)[:3])
    # Liu Yang (Nanjing) comes on duty: the next tick sends it
    set_on_duty(engine, "E04", True)
    fc2, _url, hideout2, _off = load_layer(Web, "staff", *args, hideout, True)
    assert _by_code(fc2)["320100"]["roster_on_duty"] == 1 and hideout2["digest"] != hideout["digest"]
    # switched off: empty and the timer stops
    fc3, _url, _h, timer_off = load_layer(Web, "staff", "province:320000", ["stations"], "zh", "sid-1", hideout2, False)
    assert fc3["features"] == [] and timer_off is True


def test_the_registry_gives_it_a_control_row_component_timer_and_legend():
    from dashboard.pages import city  # noqa: PLC0415

    layer = registry.get("staff")
    assert layer in registry.controlled() and layer in registry.drawn() and "staff" in registry.api_keys()
    assert not layer.city_only and "staff" not in city.default_on()
    panes = json.dumps([c.to_plotly_json() for c in city.map_layers(None, Scope.parse("nation"), "zh")], default=str)
    assert json.dumps(pattern_id("staff")) in panes.replace("'", '"') or '"key": "staff"' in panes
    ticks = [s for s in city.stores(Scope.parse("nation")) if getattr(s, "id", None) == pattern_id("staff",
                                                                                                  "cc-layer-tick")]
    assert len(ticks) == 1 and ticks[0].interval == 15000 and ticks[0].disabled is True
    legend = layer.legend("en")
    assert [i.label for i in legend] == ["People on duty (circle area)", "Experts online among them"]
    assert all(i.label != i.key for i in layer.legend("zh"))


def test_served_at_api_layers_staff(engine, database_url, redis_url, tmp_path):
    from dashboard.auth.core import seed_demo_users  # noqa: PLC0415
    from dashboard.web.app import create_app  # noqa: PLC0415
    from datasources.settings import Settings  # noqa: PLC0415

    seed_demo_users(engine)
    app, _ = create_app(Settings(data_dir=tmp_path, redis_url=redis_url, database_url=database_url),
                        engine=engine, redis_url=redis_url, start_bridge=False)
    http = app.server.test_client()
    assert http.post("/auth/login", json={"username": "duty", "password": "Duty#2026"}).status_code == 200
    fc = http.get("/api/layers/staff?scope=province:320000&lang=en").get_json()
    assert {f["properties"]["adcode"] for f in fc["features"]} == {"320500", "320100"}
    assert http.get("/api/layers/staff?scope=province:32").status_code == 400
