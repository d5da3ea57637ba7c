"""Remote control by profile roles and set-point writes over the poller's connection (datasources/modbus/control.py).

Real parts only: profiles loaded from YAML files, real Redis, real SQLite, the real web app (Flask test client),
the simulated fleet's pymodbus servers and a real :class:`datasources.modbus.poller.Poller` (tests/ops_support.LiveFleet).
Waits are on conditions.
"""
from __future__ import annotations

import json
import time

import pytest
import redis as redis_lib

from datasources.modbus.control import (DirectLink, PollerLink, deadline_s, execute, execute_setpoint, load_target,
                                        make_link)
from datasources.modbus.control_profile import (SetpointError, check_setpoint, missing_roles, register_by_role,
                                                setpoints, supported_commands)
from datasources.modbus.profiles import default_profiles, load_profiles
from ops.control_policy import COIL_WRITES, decide_setpoint
from tests.ops_support import LiveFleet
from tests.test_ops_api import (INTERVAL_S, _running_compressor, audit, built, database_url, db, fleet,  # noqa: F401
                                login, web)

NO_ROLES = """model: bench-compressor-no-roles
kind: compressor
description: a compressor without remote start (profile without roles)
registers:
  - {name: state_word, register_type: input, address: 10, data_type: uint16}
  - {name: load_enable, register_type: coil, address: 1, writable: true}
  - {name: pressure_sp_mpa, register_type: holding, address: 100, data_type: uint16, scale: 0.001, unit: MPa, writable: true}
  - {name: pressure_mpa, register_type: input, address: 0, data_type: uint16, scale: 0.001, unit: MPa}
"""


@pytest.fixture
def bare_profile(tmp_path):
    (tmp_path / "bench.yaml").write_text(NO_ROLES, encoding="utf-8")
    return load_profiles(tmp_path)["bench-compressor-no-roles"]


# ---------------------------------------------------------------------------------------------- roles, refusals
def test_roles_are_found_by_role_with_the_old_name_as_fallback(bare_profile):
    fixed = default_profiles()["cc-fixed-speed-compressor"]
    assert (register_by_role(fixed, "run_command").name == "run_command"
            and register_by_role(fixed, "run_state").address == 10)
    assert register_by_role(bare_profile, "load_enable").name == "load_enable"  # no role: by its old name
    assert register_by_role(bare_profile, "run_command") is None
    assert missing_roles(bare_profile, "start") == ["run_command"] and missing_roles(bare_profile, "load") == []
    assert supported_commands(bare_profile) == ["load", "unload"]
    assert supported_commands(fixed) == ["start", "stop", "load", "unload"]
    assert supported_commands(default_profiles()["cc-station-io"]) == []


def test_a_profile_without_the_role_is_refused_clearly_without_touching_the_wire(bare_profile):
    from datasources.sql.fleet_spec import DeviceSpec
    dev = DeviceSpec(device_id="X-C1", station_id="X", kind="compressor", model=bare_profile.model,
                     host="127.0.0.1", port=1, unit_id=1)
    res = execute(dev, None, "start", COIL_WRITES["start"], profiles={bare_profile.model: bare_profile})
    assert not res.ok and res.phase == "profile" and res.written == []
    assert res.reasons == [f"profile {bare_profile.model} has no register with role run_command: "
                           "this device cannot be started remotely"]


def test_setpoint_checks_refuse_bad_names_types_and_ranges(bare_profile):
    var = default_profiles()["cc-variable-speed-compressor"]
    assert [s["name"] for s in setpoints(var)] == ["target_pressure_mpa"]
    assert setpoints(var)[0]["unit"] == "MPa" and setpoints(var)[0]["min"] is None
    assert check_setpoint(var, "target_pressure_mpa", 0.72) == pytest.approx(0.72)
    assert check_setpoint(var, "target_pressure_mpa", "0.70") == pytest.approx(0.70)
    for name, value, words in (("nope", 1, "has no register"), ("flow_m3_min", 1, "not a writable holding"),
                               ("run_command", 1, "not a writable holding"),
                               ("target_pressure_mpa", "abc", "not a number"),
                               ("target_pressure_mpa", float("nan"), "not a finite"),
                               ("target_pressure_mpa", True, "not a number"),
                               ("target_pressure_mpa", 70.0, "out of range"),
                               ("target_pressure_mpa", -0.1, "out of range")):
        with pytest.raises(SetpointError, match=words):
            check_setpoint(var, name, value)
    assert [s["name"] for s in setpoints(bare_profile)] == ["pressure_sp_mpa"]


def test_setpoint_policy_is_the_command_guards():
    assert decide_setpoint(role="duty_officer", confirmed=True, occupancy=False).allowed
    d = decide_setpoint(role="leader", confirmed=False, occupancy=None, device_online=False)
    assert not d.allowed and len(d.reasons) == 4
    assert "站房有人" in decide_setpoint(role="duty_officer", confirmed=True, occupancy=True).reasons[0]


def test_the_wire_path_is_the_poller_unless_the_bench_switch_is_set(monkeypatch, redis_url):
    r = redis_lib.Redis.from_url(redis_url)
    monkeypatch.delenv("CC_CONTROL_DIRECT", raising=False)
    assert isinstance(make_link(r), PollerLink)
    monkeypatch.setenv("CC_CONTROL_DIRECT", "1")
    assert isinstance(make_link(None), DirectLink)


def test_no_poller_answering_is_a_clear_failure_within_the_deadline(db, fleet, redis_url, monkeypatch):
    monkeypatch.delenv("CC_CONTROL_DIRECT", raising=False)
    r = redis_lib.Redis.from_url(redis_url)
    station = built(fleet)[0]
    comp = next(d for d in station.devices if d.kind == "compressor")
    target, io = load_target(db, comp.device_id)
    t0 = time.monotonic()
    res = execute_setpoint(target, io, "load_pressure_mpa" if "fixed" in target.model else "target_pressure_mpa",
                           0.7, redis_client=r, timeout_s=1.0)
    assert time.monotonic() - t0 <= deadline_s(1.0, 0.0) + 1.0
    assert not res.ok and res.phase == "occupancy" and "did not respond" in res.reasons[0]


# ---------------------------------------------------------------------------------------------- API
def test_setpoint_api_refuses_other_roles_and_audits(web, db, fleet):
    app, _ = web
    comp = next(d for d in built(fleet)[0].devices if d.kind == "compressor")
    for user in ("leader", "engineer"):
        resp = login(app, user).post(f"/api/devices/{comp.device_id}/setpoint",
                                     json={"name": "target_pressure_mpa", "value": 0.7, "confirmed": True})
        assert resp.status_code == 403, resp.get_json()
    refused = [e for e in audit(db, action="control.command") if e["target"] == f"device:{comp.device_id}"]
    assert [e["actor"] for e in refused] == ["leader", "engineer"] and all(e["result"] == "refused" for e in refused)
    duty = login(app, "duty")
    assert duty.post("/api/devices/NOPE/setpoint", json={"name": "x", "value": 1}).status_code == 404
    resp = duty.post(f"/api/devices/{comp.device_id}/setpoint", json={"name": "target_pressure_mpa", "value": 0.7})
    body = resp.get_json()
    assert resp.status_code == 409 and body["refused"] and "command not confirmed" in body["reasons"]
    rows = audit(db, action="control.setpoint")
    assert rows and rows[-1]["result"] == "refused" and rows[-1]["actor"] == "duty"


# ---------------------------------------------------------------------------------------------- integration
def test_setpoint_written_through_the_poller_and_read_back(web, db, fleet, redis_url, database_url, monkeypatch):
    monkeypatch.delenv("CC_CONTROL_DIRECT", raising=False)
    app, _ = web
    duty = login(app, "duty")
    station = built(fleet)[0]
    with LiveFleet(fleet, redis_url, database_url, interval_s=INTERVAL_S, alarm_engine=False) as live:
        comp_id = _running_compressor(live, station)
        comp = next(d for d in station.devices if d.device_id == comp_id)
        io = next(d for d in station.devices if d.kind == "station_io")
        live.wait_latest(io.device_id, lambda v: v.get("occupancy") == 0)
        name = setpoints(default_profiles()[comp.model])[0]["name"]
        new = 0.650
        resp = duty.post(f"/api/devices/{comp_id}/setpoint", json={"name": name, "value": new, "confirmed": True})
        body = resp.get_json()
        assert resp.status_code == 200 and body["ok"], body
        r = body["result"]
        assert r["occupancy"] is False and r["after"] == pytest.approx(new) and r["unit"] == "MPa"
        assert r["before"] is not None
        assert live.values(comp_id)[name] == pytest.approx(new, abs=0.001)  # the device holds it
        # out of the register's range: refused before the wire, nothing changed
        resp = duty.post(f"/api/devices/{comp_id}/setpoint", json={"name": name, "value": 99, "confirmed": True})
        assert resp.status_code == 409 and "out of range" in resp.get_json()["reasons"][0]
        assert live.values(comp_id)[name] == pytest.approx(new, abs=0.001)
        # a command through the poller too
        resp = duty.post("/api/control", json={"device_id": comp_id, "command": "stop", "confirmed": True})
        assert resp.status_code == 200 and resp.get_json()["result"]["coils"] == {"run_command": 0}
    rows = [e for e in audit(db, action="control.setpoint") if e["actor"] == "duty"]
    done = [json.loads(e["detail"]) for e in rows if e["result"] == "ok" and "step" in e["detail"]]
    assert done and done[0]["before"] is not None and done[0]["after"] == pytest.approx(new)
