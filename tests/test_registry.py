"""The station and device registry (:mod:`datasources.ingest.registry`): validation, all-or-nothing imports (SQLite and
PostgreSQL), seeding that keeps real sites, the ``devices`` CLI (subprocess), the REST API with role refusal and
audit, and the admin page."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from dashboard.auth.core import seed_demo_users
from datasources.ingest import registry
from datasources.sql.db import make_engine, migrate
from datasources.sim.fleet import generate_fleet
from datasources.sql.models import AuditEntry
from datasources.sql.repository import FleetConflict, load_fleet, load_station, save_fleet
from datasources.settings import Settings
from i18n.catalog_admin import EN, ZH

ROOT = Path(__file__).resolve().parent.parent
PASSWORDS = {"leader": "Leader#2026", "duty": "Duty#2026", "engineer": "Field#2026", "admin": "Admin#2026"}
#: a point in Suzhou Industrial Park, WGS-84
SUZHOU = (120.7325, 31.3162)

STATION = {"station_id": "SZ0001", "name": "苏州一号站", "kind": "smart_station", "lifecycle": "built",
           "lon": SUZHOU[0], "lat": SUZHOU[1]}
COMPRESSOR = {"device_id": "SZ0001-C1", "kind": "compressor", "model": "cc-fixed-speed-compressor",
              "host": "192.168.10.21", "port": 502, "unit_id": 1, "rated_flow_m3_min": 20, "rated_power_kw": 132}


@pytest.fixture
def engine(database_url):
    migrate(database_url)
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


def _audit(engine, action: str) -> list[AuditEntry]:
    with Session(engine) as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def _csv(rows: list[dict]) -> bytes:
    cols = registry.IMPORT_COLUMNS
    lines = [",".join(cols)] + [",".join(str(r.get(c, "")) for c in cols) for r in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


ROW = {"station_id": "SZ0001", "station_name": "苏州一号站", "station_kind": "smart_station", "lifecycle": "built",
       "lon": SUZHOU[0], "lat": SUZHOU[1], "device_id": "SZ0001-C1", "device_kind": "compressor",
       "model": "cc-fixed-speed-compressor", "host": "192.168.10.21", "port": 502, "unit_id": 1,
       "rated_flow_m3_min": 20}


# ---------------------------------------------------------------------------------------------- validation
def test_station_validation_derives_adcodes_and_converts_crs():
    fields = registry.validate_station(STATION)
    assert (fields["province_adcode"], fields["city_adcode"]) == ("320000", "320500")
    assert fields["simulated"] is False
    from geo.crs import transform

    gcj = transform(*SUZHOU, "WGS84", "GCJ02")
    back = registry.validate_station({**STATION, "lon": gcj[0], "lat": gcj[1], "crs": "GCJ02"})
    assert abs(back["lon"] - SUZHOU[0]) < 1e-6 and abs(back["lat"] - SUZHOU[1]) < 1e-6


@pytest.mark.parametrize("change, field_name", [
    ({"station_id": "bad id!"}, "station_id"),
    ({"kind": "castle"}, "kind"),
    ({"lifecycle": "demolished"}, "lifecycle"),
    ({"lon": 200}, "lon"),
    ({"lon": 0.0, "lat": 0.0}, "lon"),                       # Gulf of Guinea: outside China
    ({"city_adcode": "110100"}, "city_adcode"),              # Beijing, but the point is in Suzhou
    ({"province_adcode": "32000"}, "province_adcode"),       # not 6 digits
    ({"crs": "ED50"}, "crs"),
])
def test_station_validation_errors_name_the_field(change, field_name):
    with pytest.raises(registry.RegistryError) as err:
        registry.validate_station({**STATION, **change})
    assert field_name in {i.field for i in err.value.issues}, err.value.issues


@pytest.mark.parametrize("change, field_name", [
    ({"model": "no-such-model"}, "model"),
    ({"model": "cc-refrigerated-dryer"}, "model"),           # a dryer profile on a compressor
    ({"kind": "toaster"}, "kind"),
    ({"port": 0}, "port"),
    ({"port": 70000}, "port"),
    ({"unit_id": 248}, "unit_id"),
    ({"transport": "rtu_over_tcp", "unit_id": 0}, "unit_id"),  # 0 only for TCP
    ({"transport": "carrier_pigeon"}, "transport"),
    ({"transport": "rtu", "host": "10.0.0.1", "port": 0}, "host"),
    ({"baudrate": 9601}, "baudrate"),
    ({"parity": "X"}, "parity"),
    ({"stopbits": 3}, "stopbits"),
    ({"timeout_s": 0}, "timeout_s"),
    ({"retries": -1}, "retries"),
    ({"offline_after": 0}, "offline_after"),
    ({"max_registers_per_read": 126}, "max_registers_per_read"),
    ({"device_id": "OTHER-C1"}, "device_id"),
    ({"rated_flow_m3_min": 0}, "rated_flow_m3_min"),
    ({"host": "bad host"}, "host"),
])
def test_device_validation_errors_name_the_field(change, field_name):
    with pytest.raises(registry.RegistryError) as err:
        registry.validate_device({**COMPRESSOR, **change}, "SZ0001")
    assert field_name in {i.field for i in err.value.issues}, err.value.issues


def test_device_validation_accepts_serial_and_overrides():
    d = registry.validate_device({**COMPRESSOR, "transport": "rtu", "host": "/dev/ttyUSB0", "port": "",
                                  "baudrate": "19200", "parity": "e", "timeout_s": "0.8", "retries": 2,
                                  "max_registers_per_read": 32, "unit_id": 7}, "SZ0001")
    assert (d.transport, d.host, d.port, d.baudrate, d.parity, d.timeout_s, d.retries) == \
        ("rtu", "/dev/ttyUSB0", 0, 19200, "E", 0.8, 2)
    assert d.specific_power_kw_per_m3_min == pytest.approx(6.6)
    tcp0 = registry.validate_device({**COMPRESSOR, "unit_id": 0}, "SZ0001")
    assert tcp0.unit_id == 0


def test_cc_simulator_setting(monkeypatch):
    from datasources.settings import load_settings

    monkeypatch.setenv("CC_SIMULATOR", "0")
    monkeypatch.setenv("CC_PROFILES_DIR", "/tmp/profiles")
    s = load_settings()
    assert s.simulator is False and s.profiles_dir == Path("/tmp/profiles")
    monkeypatch.setenv("CC_SIMULATOR", "maybe")
    with pytest.raises(ValueError, match="CC_SIMULATOR"):
        load_settings()
    monkeypatch.delenv("CC_SIMULATOR")
    assert load_settings().simulator is True


def test_admin_catalog_has_both_languages():
    assert set(ZH) == set(EN)


# ---------------------------------------------------------------------------------------------- changes in SQL
def test_add_update_remove_are_audited_and_notified(engine, redis_client):
    sub = redis_client.pubsub()
    sub.subscribe(registry.REGISTRY_CHANNEL)
    sub.get_message(timeout=1)
    st = registry.add_station(engine, STATION, devices=[COMPRESSOR], actor="alice", role="admin",
                              redis_client=redis_client)
    assert st.simulated is False and st.capacity_m3_min == 20 and len(st.devices) == 1
    msg = sub.get_message(timeout=2)
    body = json.loads(msg["data"])
    assert body["v"] == 1 and body["action"] == "registry.station.add" and body["station_ids"] == ["SZ0001"]
    assert isinstance(body["ts_ms"], int)
    registry.add_device(engine, "SZ0001", {**COMPRESSOR, "device_id": "SZ0001-C2", "unit_id": 2}, actor="alice",
                        role="admin", redis_client=redis_client)
    registry.update_device(engine, "SZ0001-C2", {"timeout_s": 1.5}, actor="alice", role="admin")
    assert load_station(engine, "SZ0001").devices[1].timeout_s == 1.5
    with engine.begin() as conn:  # the site record (partner contact, migration 0006) is not a registry field
        conn.execute(text("UPDATE stations SET partner_phone = '138-0000-0001' WHERE station_id = 'SZ0001'"))
    registry.update_station(engine, "SZ0001", {"name_en": "Suzhou One"}, actor="alice", role="admin")
    updated = load_station(engine, "SZ0001")
    assert updated.name_en == "Suzhou One" and updated.partner_phone == "138-0000-0001"  # kept, not wiped
    registry.remove_device(engine, "SZ0001-C2", actor="alice", role="admin")
    assert [d.device_id for d in load_station(engine, "SZ0001").devices] == ["SZ0001-C1"]
    registry.remove_station(engine, "SZ0001", actor="alice", role="admin")
    assert load_station(engine, "SZ0001") is None
    for action in ("registry.station.add", "registry.device.add", "registry.device.update",
                   "registry.station.update", "registry.device.remove", "registry.station.remove"):
        entries = _audit(engine, action)
        assert entries and entries[-1].actor == "alice" and entries[-1].result == "ok", action
    sub.close()


def test_conflicts_are_refused_and_write_nothing(engine):
    registry.add_station(engine, STATION, devices=[COMPRESSOR], actor="alice")
    with pytest.raises(registry.RegistryError) as err:  # same station id
        registry.add_station(engine, STATION, actor="alice")
    assert err.value.status == 409
    with pytest.raises(registry.RegistryError) as err:  # same host/port/unit
        registry.add_station(engine, {**STATION, "station_id": "SZ0002"},
                             devices=[{**COMPRESSOR, "device_id": "SZ0002-C1"}], actor="alice")
    assert err.value.status == 409 and "unit_id" in {i.field for i in err.value.issues}
    assert load_station(engine, "SZ0002") is None
    with pytest.raises(registry.RegistryError) as err:
        registry.remove_device(engine, "NOPE-1", actor="alice")
    assert err.value.status == 404
    with pytest.raises(registry.RegistryError):  # devices on a station that is not built
        registry.add_station(engine, {**STATION, "station_id": "SZ0003", "lifecycle": "idle"},
                             devices=[{**COMPRESSOR, "device_id": "SZ0003-C1", "unit_id": 9}], actor="alice")
    assert [e.result for e in _audit(engine, "registry.station.add")] == ["ok", "rejected", "rejected", "rejected"]


def test_simulated_stations_are_protected_and_their_ports_not_taken(engine):
    fleet = generate_fleet(6, seed=3, base_port=15020)
    save_fleet(engine, fleet, replace=True)
    sim = next(s for s in fleet if s.devices)
    with pytest.raises(registry.RegistryError) as err:
        registry.remove_station(engine, sim.station_id, actor="alice")
    assert err.value.status == 409
    dev = sim.devices[0]
    with pytest.raises(registry.RegistryError) as err:  # same endpoint as the simulator, another unit id
        registry.add_station(engine, STATION, devices=[{**COMPRESSOR, "host": dev.host, "port": dev.port,
                                                        "unit_id": 200}], actor="alice")
    assert "port" in {i.field for i in err.value.issues}


def test_seed_keeps_real_stations_and_reports_endpoint_conflicts(engine):
    registry.add_station(engine, STATION, devices=[COMPRESSOR], actor="alice")
    fleet = generate_fleet(5, seed=1, base_port=15020)
    save_fleet(engine, fleet, replace=True)
    save_fleet(engine, fleet[:2], replace=True)  # re-seed smaller: simulated ones go, the real one stays
    ids = {s.station_id for s in load_fleet(engine)}
    assert ids == {"SZ0001", fleet[0].station_id, fleet[1].station_id}
    # a real device on the port the simulator would take
    registry.add_station(engine, {**STATION, "station_id": "SZ0009"},
                         devices=[{**COMPRESSOR, "device_id": "SZ0009-C1", "host": "127.0.0.1", "port": 16020}],
                         actor="alice")
    clash = generate_fleet(3, seed=1, base_port=16020)
    with pytest.raises(FleetConflict) as err:
        save_fleet(engine, clash, replace=True)
    assert "SZ0009-C1" in str(err.value)
    assert {s.station_id for s in load_fleet(engine)} == ids | {"SZ0009"}  # nothing written


# ---------------------------------------------------------------------------------------------- import
def test_import_all_or_nothing_with_row_errors(engine):
    rows = [ROW, {**ROW, "device_id": "SZ0001-C2", "unit_id": 2},
            {**ROW, "device_id": "SZ0001-C3", "unit_id": 2},                       # row 4: address taken in file
            {**ROW, "station_id": "SZ0002", "device_id": "SZ0002-C1", "unit_id": 3, "model": "nope"},  # row 5
            {**ROW, "station_id": "SZ0003", "lon": 0, "lat": 0, "device_id": "", "device_kind": "", "model": "",
             "host": "", "port": "", "unit_id": "", "rated_flow_m3_min": ""}]     # row 6: outside China
    res = registry.import_devices(engine, _csv(rows), "sites.csv", actor="alice", role="admin")
    assert not res.ok and not res.written
    got = {(e.row, e.field) for e in res.errors}
    assert (5, "model") in got and (6, "lon") in got, res.errors
    assert load_fleet(engine) == []  # nothing written
    # row 4's duplicate shows once the other rows are valid
    res = registry.import_devices(engine, _csv(rows[:3]), "sites.csv", actor="alice", role="admin")
    assert [(e.row, e.field) for e in res.errors] == [(4, "unit_id")], res.errors
    assert load_fleet(engine) == []
    res = registry.import_devices(engine, _csv(rows[:2]), "sites.csv", actor="alice", role="admin")
    assert res.ok and res.written and res.devices == ["SZ0001-C1", "SZ0001-C2"]
    st = load_station(engine, "SZ0001")
    assert st.simulated is False and st.city_adcode == "320500" and len(st.devices) == 2
    assert [e.result for e in _audit(engine, "registry.import")] == ["rejected", "rejected", "ok"]


def test_import_dry_run_xlsx_and_unknown_columns(engine):
    res = registry.import_devices(engine, registry.write_template("xlsx"), "template.xlsx", actor="alice",
                                  dry_run=True)
    assert res.ok and not res.written and res.stations == ["SZ0001", "SZ0002"]
    assert load_fleet(engine) == []
    bad = b"station_id,station_nmae\nX,Y\n"
    res = registry.import_devices(engine, bad, "bad.csv", actor="alice")
    assert {(e.row, e.field) for e in res.errors} >= {(1, "station_nmae"), (1, "station_name")}
    res = registry.import_devices(engine, b"whatever", "notes.pdf", actor="alice")
    assert res.errors and res.errors[0].field == "file"


def test_import_inconsistent_station_columns(engine):
    rows = [ROW, {**ROW, "device_id": "SZ0001-C2", "unit_id": 2, "station_name": "别的名字"}]
    res = registry.import_devices(engine, _csv(rows), "s.csv", actor="alice")
    assert [(e.row, e.field) for e in res.errors] == [(3, "station_name")]


# ---------------------------------------------------------------------------------------------- CLI
def _cli(tmp_path, db_url, *args, redis_url=None):
    env = {**os.environ, "DATABASE_URL": db_url, "CC_DATA_DIR": str(ROOT / "data"), "PYTHONPATH": str(ROOT)}
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    return subprocess.run([sys.executable, "-m", "dashboard", "--log-level", "WARNING", "devices", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=90)


def test_cli_template_import_add_list_remove(tmp_path, redis_url):
    db_url = f"sqlite:///{tmp_path / 'cli.db'}"
    tpl = tmp_path / "t.csv"
    r = _cli(tmp_path, db_url, "template", "-o", str(tpl))
    assert r.returncode == 0, r.stderr
    r = _cli(tmp_path, db_url, "import", str(tpl), "--dry-run")
    assert r.returncode == 0 and "would import 2 station(s), 2 device(s)" in r.stdout, r.stderr
    bad = tmp_path / "bad.csv"
    bad.write_bytes(_csv([{**ROW, "unit_id": 999}]))
    r = _cli(tmp_path, db_url, "import", str(bad))
    assert r.returncode == 1 and "row 2, unit_id" in r.stderr and "nothing written" in r.stderr
    r = _cli(tmp_path, db_url, "import", str(tpl), redis_url=redis_url)
    assert r.returncode == 0, r.stderr
    r = _cli(tmp_path, db_url, "add", "--station", "BJ0001", "--name", "北京站", "--kind", "smart_station",
             "--lifecycle", "built", "--lon", "116.40", "--lat", "39.91", "--crs", "GCJ02",
             "--device-id", "BJ0001-C1", "--device-kind", "compressor", "--model", "cc-fixed-speed-compressor",
             "--host", "10.1.1.1", "--port", "502", "--unit-id", "1", "--rated-flow", "20")
    assert r.returncode == 0 and "110000/110100" in r.stdout, r.stderr
    r = _cli(tmp_path, db_url, "add", "--station", "BJ0001", "--device-id", "BJ0001-C2", "--device-kind",
             "compressor", "--model", "cc-fixed-speed-compressor", "--host", "10.1.1.1", "--port", "502",
             "--unit-id", "1", "--rated-flow", "20")
    assert r.returncode == 1 and "already used" in r.stderr or "also used" in r.stderr
    r = _cli(tmp_path, db_url, "list")
    assert r.returncode == 0 and "BJ0001-C1" in r.stdout and "SZ0001-D1" in r.stdout and "simulated" in r.stdout
    r = _cli(tmp_path, db_url, "remove", "--device", "SZ0001-D1")
    assert r.returncode == 0, r.stderr
    r = _cli(tmp_path, db_url, "remove", "--station", "BJ0001")
    assert r.returncode == 0 and "1 device(s)" in r.stdout
    eng = make_engine(db_url)
    assert [s.station_id for s in load_fleet(eng)] == ["SZ0001", "SZ0002"]
    actors = {e.actor for e in _audit(eng, "registry.station.remove")}
    assert all(a.startswith("cli") for a in actors)
    eng.dispose()


# ---------------------------------------------------------------------------------------------- REST and page
@pytest.fixture
def web(tmp_path, redis_url):
    from dashboard.web.app import create_app

    url = f"sqlite:///{tmp_path / 'web.db'}"
    migrate(url)
    eng = make_engine(url)
    seed_demo_users(eng)
    settings = Settings(data_dir=ROOT / "data", redis_url=redis_url, database_url=url)
    app, _sio = create_app(settings, engine=eng, redis_url=redis_url, start_bridge=False)
    yield app.server, eng
    eng.dispose()


def _login(server, user: str):
    http = server.test_client()
    resp = http.post("/auth/login", json={"username": user, "password": PASSWORDS[user]})
    assert resp.status_code == 200, resp.get_json()
    return http


def test_rest_roles_errors_and_audit(web):
    server, eng = web
    admin, duty, leader = _login(server, "admin"), _login(server, "duty"), _login(server, "leader")
    assert server.test_client().get("/api/registry/stations").status_code == 401
    assert leader.get("/api/registry/stations").status_code == 403
    assert duty.post("/api/stations", json=STATION).status_code == 403
    assert [e.result for e in _audit(eng, "config.update")] == ["refused"]
    r = admin.post("/api/stations", json={**STATION, "devices": [COMPRESSOR]})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["station"]["city_adcode"] == "320500"
    r = admin.post("/api/stations", json=STATION)
    assert r.status_code == 409
    r = admin.post("/api/stations/SZ0001/devices", json={**COMPRESSOR, "device_id": "SZ0001-C2", "port": 0})
    assert r.status_code == 400 and r.get_json()["errors"][0]["field"] == "port"
    r = admin.post("/api/stations/NOPE/devices", json=COMPRESSOR)
    assert r.status_code == 404
    r = admin.post("/api/stations/SZ0001/devices", json={**COMPRESSOR, "device_id": "SZ0001-C2", "unit_id": 2})
    assert r.status_code == 201
    body = duty.get("/api/stations/SZ0001/devices").get_json()
    assert [d["device_id"] for d in body["devices"]] == ["SZ0001-C1", "SZ0001-C2"]
    assert duty.get("/api/registry/stations").get_json()["stations"][0]["station_id"] == "SZ0001"
    assert duty.delete("/api/devices/SZ0001-C2").status_code == 403
    assert admin.delete("/api/devices/SZ0001-C2").status_code == 200
    assert admin.delete("/api/devices/SZ0001-C2").status_code == 404
    # import: dry run, errors, success
    data = _csv([{**ROW, "station_id": "SZ0005", "device_id": "SZ0005-C1", "unit_id": 5}])
    r = admin.post("/api/registry/import", data={"file": (io.BytesIO(data), "s.csv"), "dry_run": "1"},
                   content_type="multipart/form-data")
    assert r.status_code == 200 and r.get_json()["written"] is False
    bad = _csv([{**ROW, "station_id": "SZ0005", "device_id": "SZ0005-C1", "unit_id": 1}])  # SZ0001-C1's address
    r = admin.post("/api/registry/import", data={"file": (io.BytesIO(bad), "s.csv")},
                   content_type="multipart/form-data")
    assert r.status_code == 400 and r.get_json()["errors"][0]["row"] == 2
    r = admin.post("/api/registry/import", data={"file": (io.BytesIO(data), "s.csv")},
                   content_type="multipart/form-data")
    assert r.status_code == 200 and r.get_json()["written"] is True
    assert admin.delete("/api/stations/SZ0005").status_code == 200
    assert {e.actor for e in _audit(eng, "registry.station.add")} == {"admin"}
    assert [e.result for e in _audit(eng, "registry.import")] == ["rejected", "ok"]
    # the map's station layer keeps its own GET /api/stations
    assert duty.get("/api/stations").status_code == 200


def test_admin_page_lists_live_state_and_forms(web, redis_client):
    server, eng = web
    admin, duty, engineer = _login(server, "admin"), _login(server, "duty"), _login(server, "engineer")
    registry.add_station(eng, STATION, devices=[COMPRESSOR], actor="alice")
    redis_client.hset("cc:latest:SZ0001-C1", mapping={"_online": "1", "_error": "", "_station_id": "SZ0001",
                                                     "_ts_ms": str(int(__import__("time").time() * 1000)),
                                                     "discharge_pressure_mpa": "0.712"})
    html = admin.get("/admin/devices").get_data(as_text=True)
    assert "站点与设备登记" in html and "SZ0001-C1" in html and "discharge_pressure_mpa=0.712" in html
    assert 'id="adm-add-station"' in html and "live-online" in html
    assert "Stations &amp; devices" in admin.get("/admin/devices?lang=en").get_data(as_text=True)
    ro = duty.get("/admin/devices").get_data(as_text=True)
    assert 'id="adm-readonly"' in ro and 'id="adm-add-station"' not in ro
    assert engineer.get("/admin/devices").status_code == 403
    live = duty.get("/admin/devices/live.json").get_json()
    assert live["devices"]["SZ0001-C1"]["state"] == "online"
    r = duty.post("/admin/devices/remove", data={"device_id": "SZ0001-C1"})
    assert r.status_code == 403
    r = admin.post("/admin/devices/import", data={"file": (io.BytesIO(_csv([{**ROW, "station_id": "SZ0007",
                                                                     "device_id": "SZ0007-C1"}])), "x.csv")},
                   content_type="multipart/form-data")
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    assert 'id="adm-errors"' in page and "is already used by device SZ0001-C1" in page
    r = admin.post("/admin/devices/remove", data={"device_id": "SZ0001-C1"})
    assert r.status_code == 200 and 'id="adm-ok"' in r.get_data(as_text=True)
    assert load_station(eng, "SZ0001").devices == ()


def test_run_seeding_respects_cc_simulator_and_real_sites(tmp_path, monkeypatch):
    from dashboard.cli import commands_seed as cli
    from dashboard.auth.core import get_user

    monkeypatch.setattr(cli, "RUN_ENTERPRISES", 300)  # keep the demo city layers small here
    url = f"sqlite:///{tmp_path / 'run.db'}"
    migrate(url)
    eng = make_engine(url)
    registry.add_station(eng, STATION, devices=[COMPRESSOR], actor="alice")
    base = dict(data_dir=ROOT / "data", redis_url=None, database_url=url, stations=4, sim_base_port=free_port_())
    cli._ensure_seeded(Settings(**base, simulator=False))
    assert [s.station_id for s in load_fleet(eng)] == ["SZ0001"]  # no demo fleet
    assert get_user(eng, "admin") is not None
    cli._ensure_seeded(Settings(**base, simulator=True))
    fleet = load_fleet(eng)
    assert len(fleet) == 5 and sum(s.simulated for s in fleet) == 4
    assert load_station(eng, "SZ0001").simulated is False
    eng.dispose()


def free_port_() -> int:
    from datasources.bus.redis_server import free_port

    return free_port()


def test_poller_watcher_reloads_on_notification_and_periodically(engine, redis_url, redis_client):
    import asyncio

    from dashboard.cli.commands_stack import watch_registry
    from datasources.modbus.poller import Poller
    from datasources.modbus.profiles import default_profiles

    async def scenario():
        poller = Poller([], default_profiles(), redis_url)
        task = asyncio.create_task(watch_registry(poller, engine, redis_url, recheck_s=0.5))

        async def until(pred, what):
            for _ in range(200):
                if pred():
                    return
                await asyncio.sleep(0.05)
            raise AssertionError(f"timed out waiting for {what}")

        # wait until the watcher listens, then a notified change
        await until(lambda: redis_client.pubsub_numsub(registry.REGISTRY_CHANNEL)[0][1] >= 1, "subscription")
        await asyncio.to_thread(registry.add_station, engine, STATION, devices=[COMPRESSOR], actor="alice",
                                redis_client=redis_client)
        await until(lambda: [s.station_id for s in poller.stations] == ["SZ0001"], "notified reload")
        # a change nobody announced (no Redis client): the periodic re-check catches it
        await asyncio.to_thread(registry.add_station, engine, {**STATION, "station_id": "SZ0002"}, actor="alice")
        await until(lambda: len(poller.stations) == 2, "periodic reload")
        assert poller.devices_total == 1
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await poller.aclose()

    asyncio.run(scenario())
