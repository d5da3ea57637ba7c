"""The demo fleet of `make run`: size, spread, placement inside real cities, device mix, determinism."""
from __future__ import annotations

from collections import Counter

import pytest

from datasources.sim.fleet import generate_fleet
from datasources.sql.fleet_spec import LIFECYCLES, STATION_KINDS
from geo.regions import get_region_index


@pytest.fixture(scope="module")
def fleet():
    return generate_fleet(240, seed=42)


def test_fleet_spreads_over_provinces_with_every_kind_and_lifecycle(fleet):
    assert len(fleet) == 240
    assert len({s.province_adcode for s in fleet}) >= 25
    assert set(Counter(s.kind for s in fleet)) == set(STATION_KINDS)
    assert set(Counter(s.lifecycle for s in fleet)) == set(LIFECYCLES)
    assert len({s.station_id for s in fleet}) == len(fleet)


def test_every_station_lies_inside_its_stored_city(fleet):
    idx = get_region_index()
    for s in fleet:
        assert idx.locate(s.lon, s.lat) == (s.province_adcode, s.city_adcode), s.station_id
        assert s.city_adcode in {c.adcode for c in idx.cities(s.province_adcode)}


def test_only_built_stations_have_devices_of_the_required_mix(fleet):
    endpoints = set()
    for s in fleet:
        if s.lifecycle != "built":
            assert s.devices == ()
            continue
        kinds = Counter(d.kind for d in s.devices)
        assert 2 <= kinds["compressor"] <= 6
        assert kinds["dryer"] == kinds["flow_meter"] == kinds["power_meter"] == kinds["station_io"] == 1
        for d in s.devices:
            if d.kind == "compressor":
                assert 6.0 <= d.specific_power_kw_per_m3_min <= 8.0
                assert d.rated_power_kw == pytest.approx(d.rated_flow_m3_min * d.specific_power_kw_per_m3_min, rel=0.01)
            assert 1 <= d.unit_id <= 247
            endpoints.add((d.host, d.port, d.unit_id))
    assert len(endpoints) == sum(len(s.devices) for s in fleet)  # no two devices share an address
    models = {d.model for s in fleet for d in s.devices if d.kind == "compressor"}
    assert models == {"cc-fixed-speed-compressor", "cc-variable-speed-compressor"}


def test_same_seed_same_fleet_other_seed_other_fleet(fleet):
    assert generate_fleet(240, seed=42) == fleet
    assert generate_fleet(240, seed=43) != fleet


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="n_stations"):
        generate_fleet(0)
    with pytest.raises(ValueError, match="units_per_port"):
        generate_fleet(5, units_per_port=300)
