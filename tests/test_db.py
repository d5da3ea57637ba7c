"""Migrations and the fleet repository on SQLite and PostgreSQL."""
from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from datasources.sql.db import make_engine, migrate, ping
from datasources.sql.fleet_spec import DeviceSpec, StationSpec
from datasources.sql.repository import count_stations, lifecycle_counts, load_fleet, load_station, save_fleet


def _station(sid: str, lifecycle: str = "built", port: int = 15020, unit0: int = 1, city: str = "320500") -> StationSpec:
    devices = ()
    if lifecycle == "built":
        devices = (DeviceSpec(f"{sid}-C1", sid, "compressor", "cc-fixed-speed-compressor", "127.0.0.1", port, unit0,
                              20.0, 130.0, 6.5),
                   DeviceSpec(f"{sid}-IO", sid, "station_io", "cc-station-io", "127.0.0.1", port, unit0 + 1))
    return StationSpec(sid, f"苏州{sid}", f"Suzhou {sid}", "smart_station", lifecycle, 120.6, 31.3, "320000", city,
                       20.0, "华东压缩机服务", devices)


def test_migrate_is_idempotent_and_builds_schema(database_url):
    migrate(database_url)
    migrate(database_url)
    engine = make_engine(database_url)
    assert ping(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"stations", "devices", "audit_log", "alembic_version"} <= tables
    engine.dispose()


def test_fleet_round_trip_and_counts(database_url):
    migrate(database_url)
    engine = make_engine(database_url)
    fleet = [_station("ST001"), _station("ST002", "idle"), _station("ST003", unit0=3, city="320200")]
    save_fleet(engine, fleet)
    save_fleet(engine, fleet)  # re-saving changes nothing
    assert load_fleet(engine) == fleet
    assert load_station(engine, "ST003") == fleet[2]
    assert load_station(engine, "nope") is None
    assert count_stations(engine) == 3
    assert [s.station_id for s in load_fleet(engine, city_adcode="320200")] == ["ST003"]
    assert lifecycle_counts(engine)["320000"] == {"built": 2, "idle": 1}
    engine.dispose()


def test_reseeding_replaces_demo_stations_and_keeps_registered_sites(database_url):
    migrate(database_url)
    engine = make_engine(database_url)
    demo = [dataclasses.replace(_station(f"ST00{i}", port=15020, unit0=2 * i), simulated=True) for i in (1, 2, 3)]
    real = _station("RS001", port=502, unit0=1)  # a registered site on its own gateway (simulated=False)
    save_fleet(engine, demo)
    save_fleet(engine, [real])
    save_fleet(engine, demo[:1], replace=True)  # re-seeding: demo stations only are replaced
    assert [(s.station_id, s.simulated) for s in load_fleet(engine)] == [("RS001", False), ("ST001", True)]
    engine.dispose()


def test_conflicting_device_address_writes_nothing(database_url):
    migrate(database_url)
    engine = make_engine(database_url)
    save_fleet(engine, [_station("ST001")])
    clash = _station("ST009")  # same host/port/unit ids as ST001's devices
    with pytest.raises(IntegrityError):
        save_fleet(engine, [_station("ST005", unit0=10), clash])
    assert [s.station_id for s in load_fleet(engine)] == ["ST001"]  # ST005 was rolled back too
    engine.dispose()
