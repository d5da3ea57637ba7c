"""The staff-on-duty layer (:mod:`layers.staff`, seed 001 table 7 在线服务) — added through the layer registry only.

On real SQLite and PostgreSQL databases with the demo roster and service people: counts per province and city equal
the database's; a duty flag changed in the roster publishes ``cc:roster`` after its transaction commits (real Redis),
the ops bridge relays it to the engineer's rooms as the Socket.IO ``roster`` event (real app, real Flask-SocketIO
clients), and the layer's live refresh sends the change (an unchanged roster sends nothing); the registry gives it a
layer-control row, a map component, a live-refresh token (no polling timer), a legend and an HTTP route (through the
real app, logged in).
"""
from __future__ import annotations

import json
import threading

import pytest
import redis
from dash import no_update
from sqlalchemy import insert

from datasources.sql.city_models import ServicePerson
from datasources.sql.db import make_engine, migrate
from datasources.bus.messages import ROSTER_CHANNEL
from datasources.sql.workorders import DEMO_ROSTER, list_engineers, seed_demo_roster, set_on_duty
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


def test_a_roster_event_sends_a_duty_change_and_no_change_sends_nothing(engine):
    from callbacks.city_layers import load_layer  # noqa: PLC0415 — the registry callback's body

    class Web:  # the web process's context, as the callback sees it: scope parsing and the layer context
        layer_ctx = LayerContext(engine=engine, redis=None)
        parse_scope = staticmethod(Scope.parse)

    args = ("province:320000", ["stations", "staff"], "zh", "sid-1")
    fc, url, hideout = load_layer(Web, "staff", *args, None, False)
    assert url is None and hideout["key"] == [True, "province:320000", "zh", "sid-1"]
    assert _by_code(fc)["320500"]["roster_on_duty"] == 1 and "320100" in _by_code(fc)
    # an input that is not the live token (e.g. the language store re-sent): nothing is reloaded or sent
    assert all(isinstance(v, type(no_update)) for v in load_layer(Web, "staff", *args, hideout, False))
    # a roster event, nothing changed for this scope: nothing is sent
    assert all(isinstance(v, type(no_update)) for v in load_layer(Web, "staff", *args, hideout, True))
    # Liu Yang (Nanjing) comes on duty: the roster event sends it
    set_on_duty(engine, "E04", True)
    fc2, _url, hideout2 = load_layer(Web, "staff", *args, hideout, True)
    assert _by_code(fc2)["320100"]["roster_on_duty"] == 1 and hideout2["digest"] != hideout["digest"]
    # a new Socket.IO connection (events may have been missed) reloads
    fc_new, _url, hideout3 = load_layer(Web, "staff", "province:320000", ["stations", "staff"], "zh", "sid-2",
                                        hideout2, False)
    assert fc_new == fc2 and hideout3["key"][-1] == "sid-2"
    # switched off: empty, and a roster event then sends nothing
    fc3, _url, h_off = load_layer(Web, "staff", "province:320000", ["stations"], "zh", "sid-2", hideout3, False)
    assert fc3["features"] == []
    assert all(isinstance(v, type(no_update)) for v in
               load_layer(Web, "staff", "province:320000", ["stations"], "zh", "sid-2", h_off, True))


def _roster_listener(url: str, engine, n: int):
    """Subscribe to ``cc:roster`` (before returning); a thread collects ``n`` messages, each with the engineer's
    duty flag read from the database the moment the message arrived (published after the commit: the new flag)."""
    client = redis.Redis.from_url(url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(ROSTER_CHANNEL)
    got: list[tuple[dict, bool]] = []

    def run():
        while len(got) < n:
            m = pubsub.get_message(timeout=0.2)
            if m is None:
                continue
            msg = json.loads(m["data"])
            row = next(e for e in list_engineers(engine) if e["engineer_id"] == msg["engineer_id"])
            got.append((msg, row["on_duty"]))
        pubsub.close()
        client.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, got


def test_a_duty_change_publishes_cc_roster_after_the_commit(engine, redis_url, redis_client):
    thread, got = _roster_listener(redis_url, engine, 2)
    set_on_duty(engine, "E04", True, redis_client=redis_client)  # Liu Yang, Nanjing: off duty in the demo roster
    set_on_duty(engine, "E04", True, redis_client=redis_client)  # no change: no message
    set_on_duty(engine, "E01", False, redis_client=redis_client)  # Zhang Wei, Suzhou
    thread.join(10)
    assert not thread.is_alive(), got
    (first, flag1), (second, flag2) = got
    assert {k: v for k, v in first.items() if k != "ts_ms"} == {
        "v": 1, "type": "roster", "event": "duty", "engineer_id": "E04", "on_duty": True, "city_adcode": "320100",
        "province_adcode": "320000"}
    assert isinstance(first["ts_ms"], int) and first["ts_ms"] > 1_700_000_000_000 and flag1 is True
    assert (second["engineer_id"], second["on_duty"], flag2) == ("E01", False, False)


def test_the_roster_page_publishes_and_the_ops_bridge_relays_to_the_rooms(engine, database_url, redis_url,
                                                                         tmp_path):
    from dashboard.auth.core import seed_demo_users  # noqa: PLC0415
    from dashboard.web.app import create_app  # noqa: PLC0415
    from datasources.settings import Settings  # noqa: PLC0415
    from tests.ops_support import wait_for  # noqa: PLC0415

    seed_demo_users(engine)
    app, socketio = create_app(Settings(data_dir=tmp_path, redis_url=redis_url, database_url=database_url),
                               engine=engine, redis_url=redis_url)
    ctx = app.server.extensions["cc"]
    try:
        wait_for(lambda: ctx.ops_bridge.connected, 10, "ops bridge connected")
        http = app.server.test_client()
        assert http.post("/auth/login", json={"username": "duty", "password": "Duty#2026"}).status_code == 200
        pages = {}
        for scope in ("nation", "province:320000", "city:320100", "province:440000"):
            sock = socketio.test_client(app.server, flask_test_client=http)
            assert ctx.enter_scope(socketio.server.manager.sid_from_eio_sid(sock.eio_sid, "/"), scope) is not None
            pages[scope] = sock
        thread, got = _roster_listener(redis_url, engine, 1)
        resp = http.post("/admin/roster/duty", data={"engineer_id": "E04", "on_duty": "1"})
        assert resp.status_code == 200
        thread.join(10)
        assert [(m["engineer_id"], m["on_duty"], flag) for m, flag in got] == [("E04", True, True)]
        events: dict[str, list] = {scope: [] for scope in pages}

        def relayed() -> bool:
            for scope, sock in pages.items():
                events[scope] += [m["args"][0] for m in sock.get_received() if m["name"] == "roster"]
            return all(events[s] for s in ("nation", "province:320000", "city:320100"))

        wait_for(relayed, 10, "roster events in the engineer's rooms")
        evt = events["city:320100"][0]
        assert evt["engineer_id"] == "E04" and evt["on_duty"] is True
        assert evt["scopes"] == ["nation", "province:320000", "city:320100"]
        assert events["province:440000"] == []  # Guangdong is not the engineer's province
        for sock in pages.values():
            sock.disconnect()
    finally:
        ctx.bridge.stop()
        ctx.ops_bridge.stop()


def test_the_registry_gives_it_a_control_row_component_live_token_and_legend():
    from dashboard.pages import city  # noqa: PLC0415

    layer = registry.get("staff")
    assert layer in registry.controlled() and layer in registry.drawn() and "staff" in registry.api_keys()
    assert not layer.city_only and "staff" not in city.default_on()
    panes = json.dumps([c.to_plotly_json() for c in city.map_layers(None, Scope.parse("nation"), "zh")], default=str)
    assert json.dumps(pattern_id("staff")) in panes.replace("'", '"') or '"key": "staff"' in panes
    stores = city.stores(Scope.parse("nation"))
    assert [s for s in stores if getattr(s, "id", None) == pattern_id("staff", "cc-layer-live")]
    assert not [s for s in stores if isinstance(getattr(s, "id", None), dict) and s.id.get("type") == "cc-layer-tick"]
    assert not hasattr(layer, "refresh_s") and layer.live_events == ("roster", "ops_resync")
    assert "roster" in city.socket_events(["station_states"]) and "roster" in registry.live_events()
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
