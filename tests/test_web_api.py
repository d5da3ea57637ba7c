"""HTTP API, Socket.IO rooms and the live bridge, against a private Redis and a temporary SQLite database.

Everything but ``/api/health`` needs a login: the clients sign in as the demo duty officer (:func:`_http`)."""
from __future__ import annotations

import json
import os
import time

import pytest
import redis

from dashboard.web.app import create_app
from dashboard.auth.core import seed_demo_users
from datasources.bus.messages import ALARMS_CHANNEL, readings_channel, write_cycle
from datasources.sql.db import make_engine, migrate
from datasources.bus.redis_server import EmbeddedRedis
from datasources.sql.repository import save_fleet
from datasources.settings import Settings
from tests.browser_support import build_fleet, reading_for

FLEET = build_fleet(10, seed=3)
BUILT = [s for s in FLEET if s.lifecycle == "built"]


def wait_until(predicate, timeout_s: float = 5.0, interval_s: float = 0.02):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s} s")


@pytest.fixture
def database_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'cc.db'}"
    migrate(url)
    engine = make_engine(url)
    save_fleet(engine, FLEET)
    seed_demo_users(engine)
    engine.dispose()
    return url


def _http(app, user: str = "duty", password: str = "Duty#2026"):
    """A Flask test client signed in (session cookie kept by the client)."""
    http = app.server.test_client()
    resp = http.post("/auth/login", json={"username": user, "password": password})
    assert resp.status_code == 200, resp.get_json()
    return http


def _socket(app, socketio, http=None):
    """A Socket.IO test client carrying a signed-in session (anonymous handshakes are refused)."""
    return socketio.test_client(app.server, flask_test_client=http or _http(app))


def _make(database_url, redis_url, tmp_path, monkeypatch, start_bridge=True):
    monkeypatch.setenv("CC_FLUSH_MS", "100")
    settings = Settings(data_dir=tmp_path, redis_url=redis_url, database_url=database_url)
    app, socketio = create_app(settings, engine=make_engine(database_url), redis_url=redis_url,
                               start_bridge=start_bridge)
    return app, socketio


@pytest.fixture
def web(database_url, redis_url, tmp_path, monkeypatch):
    app, socketio = _make(database_url, redis_url, tmp_path, monkeypatch)
    ctx = app.server.extensions["cc"]
    wait_until(lambda: ctx.bridge.connected, 10)
    yield app, socketio
    ctx.bridge.stop()


def _received(client, name):
    return [m["args"][0] for m in client.get_received() if m["name"] == name]


# ------------------------------------------------------------------------------------------------ HTTP
def test_health_counts_and_reading_age(web, redis_client):
    app, _ = web
    http = app.server.test_client()  # health is public: no login
    body = http.get("/api/health").get_json()
    assert body["status"] == "ok" and body["redis"]["ok"] and body["database"]["ok"]
    assert body["stations"] == len(FLEET)
    assert body["newest_reading_age_s"] is None and body["devices_online"] == 0

    spec = BUILT[0]
    write_cycle(redis_client, [reading_for(spec)])
    resp = http.get("/api/health")
    body = resp.get_json()
    assert resp.status_code == 200
    assert body["devices_online"] == len(spec.devices) == body["devices_total"]
    assert 0 <= body["newest_reading_age_s"] < 5
    assert body["redis"]["latency_ms"] >= 0


def test_health_503_when_redis_down(database_url, tmp_path, monkeypatch):
    server = EmbeddedRedis().start()
    url = server.url
    server.stop()
    app, _ = _make(database_url, url, tmp_path, monkeypatch)
    try:
        resp = app.server.test_client().get("/api/health")
        body = resp.get_json()
        assert resp.status_code == 503
        assert body["status"] == "degraded"
        assert body["redis"]["ok"] is False and body["database"]["ok"] is True
        assert body["stations"] == len(FLEET)
        # the page's first paint still works (no live states), snapshots answer 503
        http = _http(app)
        assert http.get("/").status_code == 200
        assert http.get("/api/kpis").status_code == 503
    finally:
        app.server.extensions["cc"].bridge.stop()


def test_stations_geojson_and_detail(web, redis_client):
    app, _ = web
    http = _http(app)
    fc = http.get("/api/stations").get_json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == len(FLEET)
    props = fc["features"][0]["properties"]
    assert set(props) >= {"id", "name", "kind", "lifecycle", "state", "capacity_m3_min", "partner",
                          "province_adcode", "city_adcode"}
    lon, lat = fc["features"][0]["geometry"]["coordinates"]
    assert 73 < lon < 136 and 3 < lat < 54  # WGS-84 lon/lat order
    states = {f["properties"]["id"]: f["properties"]["state"] for f in fc["features"]}
    assert all(states[s.station_id] == ("offline" if s.lifecycle == "built" else "not_built") for s in FLEET)

    province = FLEET[2].province_adcode
    fc_p = http.get(f"/api/stations?scope=province:{province}").get_json()
    assert len(fc_p["features"]) == sum(1 for s in FLEET if s.province_adcode == province)
    assert http.get("/api/stations?scope=province:12").status_code == 400
    assert http.get("/api/stations?scope=bogus").status_code == 400

    spec = BUILT[0]
    write_cycle(redis_client, [reading_for(spec, state="alarm")])
    detail = http.get(f"/api/stations/{spec.station_id}").get_json()
    assert detail["state"] == "alarm" and detail["station"]["name"] == spec.name
    assert [d["device_id"] for d in detail["devices"]][0].endswith("-C1")
    io = next(d for d in detail["devices"] if d["kind"] == "station_io")
    assert io["online"] is True and io["values"]["fire"] == 1
    assert http.get("/api/stations/NOPE").status_code == 404

    fc = http.get("/api/stations").get_json()
    assert {f["properties"]["id"]: f["properties"]["state"] for f in fc["features"]}[spec.station_id] == "alarm"


def test_kpis_endpoint(web, redis_client):
    app, _ = web
    readings = [reading_for(s) for s in BUILT]
    write_cycle(redis_client, readings)
    k = _http(app).get("/api/kpis?scope=nation").get_json()
    flow = sum(r.summary.flow_m3_min for r in readings)
    power = sum(r.summary.power_kw for r in readings)
    assert k["scope"] == "nation" and k["stations_total"] == len(FLEET)
    assert k["stations_online"] == len(BUILT) and k["stations_alarm"] == 0
    assert k["compressors_loaded"] == len(BUILT)  # C1 loaded at each station
    assert k["compressors_total"] == sum(1 for s in BUILT for d in s.devices if d.kind == "compressor")
    assert k["flow_m3_min"] == pytest.approx(flow, abs=0.01)
    assert k["power_kw"] == pytest.approx(power, abs=0.1)
    assert k["air_to_power_m3_per_kwh"] == pytest.approx(flow * 60 / power, rel=1e-3)
    assert k["states"]["not_built"] == len(FLEET) - len(BUILT)


def test_i18n_catalog_script(web):
    app, _ = web
    resp = app.server.test_client().get("/i18n/catalog.js")  # public: the login page's words
    text = resp.get_data(as_text=True)
    assert resp.status_code == 200 and text.startswith("window.ccI18n = ")
    assert "智慧空压站运营指挥中心" in text and "Compressed-Air Operations Command Center" in text


def test_page_renders(web):
    app, _ = web
    http = _http(app)
    assert http.get("/").status_code == 200
    layout = json.dumps(http.get("/_dash-layout").get_json(), ensure_ascii=False)
    assert "智慧空压站运营指挥中心" in layout and '"stations"' in layout


# ------------------------------------------------------------------------------------------------ Socket.IO
def test_join_validation(web):
    app, socketio = web
    client = _socket(app, socketio)
    assert client.is_connected()
    for bad in ("bogus", "province:12", "province:330100", "city:330000", "station:NOPE", "nation:1", 42, None,
                "station:../../etc"):
        ack = client.emit("join", bad, callback=True)
        assert ack["ok"] is False and ack["error"], bad
    sid = client.eio_sid and socketio.server.manager.sid_from_eio_sid(client.eio_sid, "/")
    assert [r for r in socketio.server.rooms(sid, "/") if r != sid] == []

    assert client.emit("join", "nation", callback=True) == {"ok": True, "scope": "nation"}
    assert client.emit("join", f"station:{BUILT[0].station_id}", callback=True)["ok"]
    assert client.emit("join", f"province:{FLEET[3].province_adcode}", callback=True)["ok"]
    rooms = sorted(r for r in socketio.server.rooms(sid, "/") if r != sid)
    # one region room (the province replaced the nation) and one station room
    assert rooms == sorted([f"province:{FLEET[3].province_adcode}", f"station:{BUILT[0].station_id}"])
    assert client.emit("join", f"station:{BUILT[1].station_id}", callback=True)["ok"]
    assert f"station:{BUILT[0].station_id}" not in socketio.server.rooms(sid, "/")
    assert client.emit("leave", f"station:{BUILT[1].station_id}", callback=True)["ok"]
    assert f"station:{BUILT[1].station_id}" not in socketio.server.rooms(sid, "/")
    # a region join answers with the full snapshot
    client.get_received()
    client.emit("join", "nation", callback=True)
    names = [m["name"] for m in client.get_received()]
    assert "station_states" in names and "kpis" in names
    client.disconnect()


def test_bridge_fans_out_to_rooms(web, redis_client):
    app, socketio = web
    spec = BUILT[0]
    http = _http(app)
    station_client = _socket(app, socketio, http)
    nation_client = _socket(app, socketio, http)
    province_client = _socket(app, socketio, http)
    assert station_client.emit("join", f"station:{spec.station_id}", callback=True)["ok"]
    assert nation_client.emit("join", "nation", callback=True)["ok"]
    assert province_client.emit("join", f"province:{spec.province_adcode}", callback=True)["ok"]
    for c in (station_client, nation_client, province_client):
        c.get_received()

    c1 = f"{spec.station_id}-C1"
    write_cycle(redis_client, [reading_for(spec, values={c1: {"discharge_pressure_mpa": 0.777}})])

    values = wait_until(lambda: _received(station_client, "station_values"))
    dev = next(d for d in values[-1]["devices"] if d["device_id"] == c1)
    assert dev["values"]["discharge_pressure_mpa"] == 0.777 and values[-1]["state"] == "running"

    seen: dict[str, list] = {"station_states": [], "kpis": [], "station_values": []}

    def nation_got_both():
        for m in nation_client.get_received():
            seen.setdefault(m["name"], []).append(m["args"][0])
        return seen["station_states"] and seen["kpis"]

    wait_until(nation_got_both)
    assert seen["station_states"][-1] == {"scope": "nation", "states": {spec.station_id: "running"},
                                          "ts_ms": seen["station_states"][-1]["ts_ms"], "full": False}
    assert seen["kpis"][-1]["scope"] == "nation" and seen["kpis"][-1]["stations_online"] == 1
    prov = wait_until(lambda: _received(province_client, "kpis"))
    assert prov[-1]["scope"] == f"province:{spec.province_adcode}"

    # only values change: station room gets them, nation gets KPIs but neither states nor registers
    write_cycle(redis_client, [reading_for(spec, values={c1: {"discharge_pressure_mpa": 0.701}})])
    wait_until(lambda: any(d["values"].get("discharge_pressure_mpa") == 0.701
                           for v in _received(station_client, "station_values") for d in v["devices"]))
    time.sleep(0.4)
    names = [m["name"] for m in nation_client.get_received()]
    assert "station_values" not in names and "station_states" not in names and not seen["station_values"]
    for c in (station_client, nation_client, province_client):
        c.disconnect()


def test_bridge_drops_malformed_messages(web, redis_client):
    app, socketio = web
    bridge = app.server.extensions["cc"].bridge
    spec = BUILT[0]
    client = _socket(app, socketio)
    client.emit("join", f"station:{spec.station_id}", callback=True)
    client.get_received()
    before = bridge.dropped
    redis_client.publish(readings_channel(spec.station_id), b"not json")
    redis_client.publish(readings_channel(spec.station_id), b'{"v": 99, "type": "station_reading"}')
    wait_until(lambda: bridge.dropped >= before + 2)
    write_cycle(redis_client, [reading_for(spec)])
    assert wait_until(lambda: _received(client, "station_values"))
    client.disconnect()


def test_bridge_survives_redis_restart(database_url, tmp_path, monkeypatch):
    server = EmbeddedRedis().start()
    port = server.port
    app, socketio = _make(database_url, server.url, tmp_path, monkeypatch)
    bridge, ops = app.server.extensions["cc"].bridge, app.server.extensions["cc"].ops_bridge
    spec = BUILT[0]
    try:
        wait_until(lambda: bridge.connected and ops.connected, 10)
        client = _socket(app, socketio)
        assert client.emit("join", f"station:{spec.station_id}", callback=True)["ok"]
        client.get_received()
        write_cycle(redis.Redis.from_url(server.url), [reading_for(spec)])
        assert wait_until(lambda: _received(client, "station_values"))

        server.stop()
        wait_until(lambda: not bridge.connected, 10)
        server = EmbeddedRedis(port=port).start()
        wait_until(lambda: bridge.connected and ops.connected, 15)
        assert bridge.reconnects >= 1 and ops.reconnects >= 1
        # the ops bridge tells every page to reload its alarm / order snapshots (events may have been missed) ...
        assert wait_until(lambda: _received(client, "ops_resync"), 10)
        bus = redis.Redis.from_url(server.url)
        # ... and alarms flow again
        bus.publish(ALARMS_CHANNEL, json.dumps({"v": 1, "type": "alarm", "event": "raised", "ts_ms": 1,
                                                "alarm": {"id": 7, "station_id": spec.station_id}}))
        got = wait_until(lambda: _received(client, "alarm"), 10)
        assert got[0]["alarm"]["id"] == 7 and f"station:{spec.station_id}" in got[0]["scopes"]
        write_cycle(bus, [reading_for(spec, values={f"{spec.station_id}-C1": {"discharge_temp_c": 91.5}})])
        got = wait_until(lambda: _received(client, "station_values"))
        c1 = next(d for d in got[-1]["devices"] if d["device_id"].endswith("-C1"))
        assert c1["values"]["discharge_temp_c"] == 91.5
        client.disconnect()
    finally:
        bridge.stop()
        ops.stop()
        server.stop()


# ------------------------------------------------------------------------------------------------ logins
def test_anonymous_clients_are_refused_but_health_is_public(web):
    app, socketio = web
    anon = app.server.test_client()
    assert anon.get("/api/health").status_code == 200
    assert anon.get("/api/stations").status_code == 401
    assert anon.get("/_dash-layout").status_code == 401
    page = anon.get("/", headers={"Accept": "text/html"})
    assert page.status_code == 302 and page.headers["Location"].startswith("/auth/login?next=/")
    login_page = anon.get("/auth/login?lang=en")
    assert login_page.status_code == 200 and "Sign in" in login_page.get_data(as_text=True)
    assert not socketio.test_client(app.server).is_connected()  # no session: the handshake is refused
    http = _http(app)
    assert http.get("/api/stations").status_code == 200
    client = _socket(app, socketio, http)
    assert client.is_connected()
    client.disconnect()


def test_a_poll_cycle_reaches_the_page_as_one_coalesced_delta(web, redis_client):
    """A poll cycle arrives on the bus as one pipelined burst: the bridge sends it to the nation room as one
    ``station_states`` delta holding every station of the burst (flushed when the burst ends), and the next cycle
    as the next delta."""
    app, socketio = web
    client = _socket(app, socketio)
    assert client.emit("join", "nation", callback=True)["ok"]
    client.get_received()
    write_cycle(redis_client, [reading_for(s, state="running") for s in BUILT])
    got = wait_until(lambda: _received(client, "station_states"), 10)
    assert len(got) == 1 and set(got[0]["states"]) == {s.station_id for s in BUILT}
    assert set(got[0]["states"].values()) == {"running"}

    write_cycle(redis_client, [reading_for(s, state="alarm") for s in BUILT[:3]])
    got = wait_until(lambda: _received(client, "station_states"), 10)
    assert len(got) == 1 and got[0]["states"] == {s.station_id: "alarm" for s in BUILT[:3]}
    client.disconnect()


def test_pages_cannot_be_framed_by_other_sites_and_carry_a_csp(web):
    """Clickjacking: another site must not frame the command centre (an officer's click would acknowledge/dispatch)."""
    app, _socketio = web
    for path in ("/", "/auth/login", "/api/health"):
        r = app.server.test_client().get(path)
        assert r.headers["X-Frame-Options"] == "SAMEORIGIN", path
        assert "frame-ancestors 'self'" in r.headers["Content-Security-Policy"], path
        assert r.headers["X-Content-Type-Options"] == "nosniff", path


def test_sign_in_is_rate_limited_per_client_address(database_url, redis_url, tmp_path, monkeypatch):
    """A password guesser at one address is stopped by HTTP 429 before the password is checked; another address
    (the duty officer's desk) still signs in."""
    from dashboard.auth.ratelimit import DEFAULT_LOGIN_RATE

    monkeypatch.setenv("CC_LOGIN_RATE_LIMIT", DEFAULT_LOGIN_RATE)
    app, _socketio = _make(database_url, redis_url, tmp_path, monkeypatch, start_bridge=False)
    n = int(DEFAULT_LOGIN_RATE.split()[0])
    octet = int.from_bytes(os.urandom(2), "big")  # the counters live in the shared test Redis: a fresh address
    addr, desk_addr = f"10.{octet >> 8}.{octet & 255}.7", f"10.{octet >> 8}.{octet & 255}.8"
    guesser = app.server.test_client()
    codes = [guesser.post("/auth/login", json={"username": f"u{i}", "password": "x"},
                          environ_base={"REMOTE_ADDR": addr}).status_code for i in range(n + 2)]
    assert codes[:n] == [401] * n and codes[n:] == [429, 429]
    assert "too many requests" in guesser.post("/auth/login", json={"username": "duty", "password": "Duty#2026"},
                                               environ_base={"REMOTE_ADDR": addr}).get_json()["error"]
    desk = app.server.test_client()
    r = desk.post("/auth/login", json={"username": "duty", "password": "Duty#2026"},
                  environ_base={"REMOTE_ADDR": desk_addr})
    assert r.status_code == 200


@pytest.mark.parametrize("proxies", ["0", "1"])
def test_the_login_limit_sees_the_client_behind_a_trusted_proxy_and_ignores_spoofed_headers(
        proxies, database_url, redis_url, tmp_path, monkeypatch):
    """Behind one trusted proxy (``CC_TRUSTED_PROXIES=1``) two clients are two addresses; without it a guesser cannot
    dodge the limit by sending a new ``X-Forwarded-For`` with every try."""
    from dashboard.auth.ratelimit import DEFAULT_LOGIN_RATE

    monkeypatch.setenv("CC_LOGIN_RATE_LIMIT", DEFAULT_LOGIN_RATE)
    monkeypatch.setenv("CC_TRUSTED_PROXIES", proxies)
    app, _socketio = _make(database_url, redis_url, tmp_path, monkeypatch, start_bridge=False)
    n = int(DEFAULT_LOGIN_RATE.split()[0])
    octet = int.from_bytes(os.urandom(2), "big")
    proxy = f"10.{octet >> 8}.{octet & 255}.1"
    guesser = app.server.test_client()
    codes = [guesser.post("/auth/login", json={"username": f"u{i}", "password": "x"},
                          environ_base={"REMOTE_ADDR": proxy},
                          headers={"X-Forwarded-For": f"192.0.2.{i if proxies == '0' else 9}"}).status_code
             for i in range(n + 1)]
    assert codes == [401] * n + [429]
    desk = app.server.test_client()
    r = desk.post("/auth/login", json={"username": "duty", "password": "Duty#2026"},
                  environ_base={"REMOTE_ADDR": proxy}, headers={"X-Forwarded-For": "198.51.100.20"})
    assert r.status_code == (200 if proxies == "1" else 429)


def test_health_503_when_the_bus_accepts_no_writes(database_url, tmp_path, monkeypatch):
    """A Redis that answers PING but refuses writes (here: turned into a replica) loses every reading: degraded."""
    server = EmbeddedRedis().start()
    app, _ = _make(database_url, server.url, tmp_path, monkeypatch, start_bridge=False)
    try:
        client = app.server.test_client()
        assert client.get("/api/health").status_code == 200
        redis.Redis.from_url(server.url).execute_command("REPLICAOF", "127.0.0.1", "1")
        resp = client.get("/api/health")
        body = resp.get_json()
        assert resp.status_code == 503 and body["status"] == "degraded"
        assert body["redis"]["ok"] is True and body["redis"]["writable"] is False
        assert "read only replica" in body["redis"]["error"]
        redis.Redis.from_url(server.url).execute_command("REPLICAOF", "NO", "ONE")
        assert client.get("/api/health").status_code == 200
    finally:
        server.stop()


def test_health_503_when_the_database_is_locked(database_url, tmp_path, monkeypatch, redis_url):
    """Another process holding the SQLite write lock: health says so at once instead of hanging on the busy timeout."""
    import sqlite3

    app, _ = _make(database_url, redis_url, tmp_path, monkeypatch, start_bridge=False)
    client = app.server.test_client()
    assert client.get("/api/health").get_json()["database"]["writable"] is True
    holder = sqlite3.connect(database_url.split("///", 1)[1], isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        resp = client.get("/api/health")
        body = resp.get_json()
        assert resp.status_code == 503 and body["status"] == "degraded", body
        assert body["database"] == {"ok": True, "writable": False, "error": "database is locked"}
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert client.get("/api/health").status_code == 200


def test_room_join_with_a_socket_id_that_is_gone_answers_the_snapshot_not_500(web):
    """A page that reconnects fires its join callback with the socket id of a connection this process no longer has
    (or not yet): the snapshot still comes back, and the join is left to the next socket id."""
    from tests.test_ops_api import dash_post

    app, _socketio = web
    http = _http(app)
    resp = dash_post(http, [("scope-snapshot", "data"), ("joined-region", "data")],
                     [("socket", "socketId", "gone-socket-id"), ("scope", "data", "nation")],
                     [("joined-region", "data", {"sid": "gone-socket-id", "room": "nation"})])
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    body = resp.get_json()["response"]
    assert "kpis" in body["scope-snapshot"]["data"]
    assert "joined-region" not in body  # nothing joined: no_update
    resp = dash_post(http, [("site-panel", "className"), ("site-name", "children"), ("site-sub", "children"),
                            ("site-kind", "children"), ("site-lifecycle", "children"), ("site-partner", "children"),
                            ("site-capacity", "children"), ("site-devices", "children"),
                            ("station-snapshot", "data"), ("station-joined", "data")],
                     [("station-open", "data", BUILT[0].station_id), ("socket", "socketId", "gone-socket-id"),
                      ("lang", "data", "zh")], [("station-joined", "data", None)])
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert resp.get_json()["response"]["station-snapshot"]["data"]["station"]["id"] == BUILT[0].station_id


def test_health_503_when_the_alarm_engine_stopped_beating(web, redis_client):
    """An alarm engine killed (SIGKILL, OOM) leaves its heartbeat behind, ageing: alarms are no longer judged."""
    from datasources.bus.consumer import HEARTBEATS_HASH
    from datasources.bus.messages import now_ms

    app, _socketio = web
    client = app.server.test_client()
    redis_client.hset(HEARTBEATS_HASH, "alarms:test-dead", now_ms())
    try:
        body = client.get("/api/health").get_json()
        assert body["components"]["alarms:test-dead"]["ok"] is True
        redis_client.hset(HEARTBEATS_HASH, "alarms:test-dead", now_ms() - 120_000)
        resp = client.get("/api/health")
        body = resp.get_json()
        assert resp.status_code == 503 and body["status"] == "degraded"
        assert body["components"]["alarms:test-dead"]["ok"] is False and "alarms:test-dead" in body["error"]
    finally:
        redis_client.hdel(HEARTBEATS_HASH, "alarms:test-dead")


def test_any_open_alarm_turns_its_station_alarm_live_and_back_when_it_clears(web, redis_client):
    """Not only fire/flood/intrusion inputs: a severity II alarm judged by the engine (it writes the station's worst
    open severity to cc:station_alarm_severity) colours the station on the open map, and the colour goes back."""
    from datasources.workers.alarm_engine import STATION_ALARM_HASH

    app, socketio = web
    spec = BUILT[1]
    nation = _socket(app, socketio, _http(app))
    assert nation.emit("join", "nation", callback=True)["ok"]
    nation.get_received()
    states: list[str] = []

    def state_is(want):
        for m in nation.get_received():
            if m["name"] == "station_states" and spec.station_id in m["args"][0]["states"]:
                states.append(m["args"][0]["states"][spec.station_id])
        return states and states[-1] == want

    write_cycle(redis_client, [reading_for(spec)])
    wait_until(lambda: state_is("running"))
    redis_client.hset(STATION_ALARM_HASH, spec.station_id, 2)
    try:
        write_cycle(redis_client, [reading_for(spec)])
        wait_until(lambda: state_is("alarm"))
    finally:
        redis_client.hdel(STATION_ALARM_HASH, spec.station_id)
    write_cycle(redis_client, [reading_for(spec)])
    wait_until(lambda: state_is("running"))
    nation.disconnect()


def test_a_reading_stamped_in_the_future_neither_pins_the_data_time_nor_keeps_its_station_live(web, redis_client):
    """A poller host whose clock runs a day ahead must not make its station look fresh for ever, nor freeze the
    scope's data time a day ahead (issue 10): the reading is dropped, the station shows offline."""
    from datasources.bus.messages import now_ms  # noqa: PLC0415

    app, socketio = web
    bridge = app.server.extensions["cc"].bridge
    skewed, honest = BUILT[0], BUILT[1]
    client = _socket(app, socketio)
    assert client.emit("join", "nation", callback=True)["ok"]
    client.get_received()
    t0 = now_ms()
    write_cycle(redis_client, [reading_for(skewed, ts_ms=t0 + 86_400_000)])
    wait_until(lambda: bridge.future_dropped >= 1)
    write_cycle(redis_client, [reading_for(honest)])
    kpis = wait_until(lambda: [k for k in _received(client, "kpis") if k["stations_online"] >= 1])
    assert kpis[-1]["stations_online"] == 1 and kpis[-1]["ts_ms"] <= now_ms()
    # first paint / resync read cc:summary, where the poller wrote the skewed summary too
    http = _http(app)
    k = http.get("/api/kpis?scope=nation").get_json()
    assert k["stations_online"] == 1 and k["ts_ms"] <= now_ms()
    states = {f["properties"]["id"]: f["properties"]["state"]
              for f in http.get("/api/stations").get_json()["features"]}
    assert states[skewed.station_id] == "offline" and states[honest.station_id] == "running"
    client.disconnect()
