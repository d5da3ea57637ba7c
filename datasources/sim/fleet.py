"""The simulated demo fleet: stations placed inside real cities, with their Modbus devices. Deterministic by seed.

Placement: each station is a uniform random point inside its city's boundary (``geo.regions``, WGS-84) and its
city adcode is the one :meth:`geo.regions.RegionIndex.locate` returns for that point, so point-in-polygon holds
by construction and is checked again in the tests.

Mix (issue 2, seed 001 table 7): kinds 单机模块 / 智慧空压站 / 集中空压站, lifecycles built / under construction /
idle / maintenance; only built stations have devices. A built station has 2–6 compressors (fixed-speed load/unload
and variable-speed), a dryer, a flow meter, a power meter and a station I/O module. Compressor ratings: 10–40 m³/min
free air delivery, specific power 6–8 kW/(m³/min) — the typical range of oil-injected screw compressors at
0.7–0.8 MPa (GB 19153-2019 grades 1–3 lie around 5.5–8 kW/(m³/min) for these sizes).

Site record (partner contact, idle-room lease figures, construction milestones; :func:`site_record`) is drawn from a
random stream of its own, so adding it left the placement, mix and devices of a seed unchanged.
"""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from datasources.sql.fleet_spec import MILESTONES, DeviceSpec, StationSpec

#: provincial weights of the demo fleet (industrial provinces carry more stations); adcode → weight
PROVINCE_WEIGHTS = {
    "320000": 10, "330000": 9, "440000": 10, "370000": 8, "410000": 5, "130000": 5, "420000": 5, "340000": 5,
    "510000": 5, "350000": 5, "430000": 4, "310000": 4, "110000": 3, "120000": 3, "500000": 3, "210000": 4,
    "610000": 3, "360000": 3, "450000": 3, "140000": 3, "220000": 2, "230000": 2, "150000": 2, "530000": 2,
    "520000": 2, "620000": 2, "640000": 1, "650000": 2, "460000": 1, "630000": 1, "540000": 1,
}
KIND_WEIGHTS = {"standalone_module": 0.3, "smart_station": 0.5, "central_station": 0.2}
LIFECYCLE_WEIGHTS = {"built": 0.6, "under_construction": 0.15, "idle": 0.12, "maintenance": 0.13}
_SITE_SUFFIX = [("高新区", "Hi-Tech Zone"), ("经开区", "Economic Zone"), ("工业园", "Industrial Park"),
                ("物流园", "Logistics Park"), ("港区", "Port Area"), ("新区", "New Area"), ("产业园", "Industry Park")]
_KIND_NAME = {"standalone_module": ("单机模块", "Module"), "smart_station": ("智慧空压站", "Smart Station"),
              "central_station": ("集中空压站", "Central Station")}
PARTNERS = ("华东压缩机服务", "粤海机电", "齐鲁动力设备", "蜀都空压运维", "京津冀工业服务", "中原节能科技",
            "闽南气动工程", "长江空压设备")
#: demo contact person and phone of each partner (fictitious; 138-0000-xxxx is the usual placeholder range)
PARTNER_CONTACTS = {
    "华东压缩机服务": ("周建国", "138-0000-0101"), "粤海机电": ("梁志文", "138-0000-0202"),
    "齐鲁动力设备": ("孔德明", "138-0000-0303"), "蜀都空压运维": ("罗晓川", "138-0000-0404"),
    "京津冀工业服务": ("高志强", "138-0000-0505"), "中原节能科技": ("郑宏伟", "138-0000-0606"),
    "闽南气动工程": ("林海峰", "138-0000-0707"), "长江空压设备": ("江涛", "138-0000-0808"),
}
#: the demo fleet's "today" for idle-since dates and milestones (fixed so the fleet is deterministic)
FLEET_REF_DATE = date(2026, 12, 1)
#: planned duration of each construction milestone (:data:`datasources.sql.fleet_spec.MILESTONES`), days — a small
#: skid-mounted station: survey 3 weeks, design 1 month, civil works 2 months, installation 6 weeks, commissioning
#: 3 weeks, acceptance 10 days (demo figures)
MILESTONE_DAYS = (21, 30, 60, 42, 21, 10)
UNITS_PER_PORT = 48  # unit ids 1..48 per simulator port: ~6 stations behind one gateway address


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def site_record(rng: np.random.Generator, lifecycle: str, capacity_m3_min: float, partner: str) -> dict:
    """Demo site-record fields of one station (:class:`StationSpec` keyword arguments), drawn from ``rng``.

    Partner contact: :data:`PARTNER_CONTACTS`. Idle stations: the room's area is taken as 40 m² + 3 m² per m³/min of
    capacity and its market rent as 25–45 CNY/m²/month (industrial-park rents, demo assumption), rounded to 100 CNY;
    60 % of idle rooms are let at 85–100 % of it, the rest not at all (``lease_cny_month`` 0); idle for 20–720 days
    before :data:`FLEET_REF_DATE`. Under construction: started 30–220 days before it, milestones planned back to back
    (:data:`MILESTONE_DAYS`); a milestone is done (±7 days around plan) when that lies before the reference date,
    and never after an unfinished one.
    """
    contact, phone = PARTNER_CONTACTS.get(partner, ("", ""))
    out: dict = {"partner_contact": contact, "partner_phone": phone}
    if lifecycle == "idle":
        market = round((40 + 3 * capacity_m3_min) * float(rng.uniform(25, 45)), -2)
        lease = round(market * float(rng.uniform(0.85, 1.0)), -2) if rng.random() < 0.6 else 0.0
        since = FLEET_REF_DATE - timedelta(days=int(rng.integers(20, 721)))
        out.update(market_lease_cny_month=market, lease_cny_month=lease, idle_since=since.isoformat())
    elif lifecycle == "under_construction":
        day = FLEET_REF_DATE - timedelta(days=int(rng.integers(30, 221)))
        items, open_seen = [], False
        for key, days in zip(MILESTONES, MILESTONE_DAYS):
            day += timedelta(days=days)
            done = day + timedelta(days=int(rng.integers(-7, 8)))
            finished = not open_seen and done <= FLEET_REF_DATE
            open_seen = open_seen or not finished
            items.append((key, day.isoformat(), done.isoformat() if finished else ""))
        out["build_milestones"] = tuple(items)
    return out


def generate_fleet(n_stations: int = 240, seed: int = 42, host: str = "127.0.0.1", base_port: int = 15020,
                   region_index=None, units_per_port: int = UNITS_PER_PORT) -> list[StationSpec]:
    """Generate ``n_stations`` stations with devices addressed on ``host:base_port…``.

    Devices get consecutive unit ids, ``units_per_port`` (1..247) per port: the default 48 puts about six stations
    behind one gateway address (the poller keeps one request in flight per connection, so more addresses mean more
    parallel reads); 240 puts 10,000 stations on about 200 ports for the benchmarks.

    Args:
        region_index: a :class:`geo.regions.RegionIndex`; default the cached singleton.
    Returns:
        stations ordered by id (``ST00001`` …), lon/lat WGS-84.
    Raises:
        ValueError: ``n_stations`` < 1.
    """
    if n_stations < 1:
        raise ValueError(f"n_stations must be ≥ 1, got {n_stations}")
    if not 1 <= units_per_port <= 247:
        raise ValueError(f"units_per_port must be 1..247 (Modbus unit ids), got {units_per_port}")
    if region_index is None:
        from geo.regions import get_region_index  # noqa: PLC0415 — heavy, only when generating

        region_index = get_region_index()
    rng = np.random.default_rng(seed)
    rec_rng = np.random.default_rng([seed, 6])  # site-record fields: a stream of their own, placement unchanged
    provinces = {p.adcode: p for p in region_index.provinces()}
    prov_weights = {a: w for a, w in PROVINCE_WEIGHTS.items() if a in provinces}
    cities_of = {a: region_index.cities(a) for a in prov_weights}
    width = max(5, len(str(n_stations)))
    unit_cursor = 0
    stations: list[StationSpec] = []
    for i in range(n_stations):
        station_id = f"ST{i + 1:0{width}d}"
        prov = _pick(rng, prov_weights) if i >= len(prov_weights) else list(prov_weights)[i]  # cover every province
        cities = cities_of[prov]
        # big cities first: weight the first cities of a province higher
        w = np.array([1.0 / (1 + k) ** 0.7 for k in range(len(cities))])
        city = cities[int(rng.choice(len(cities), p=w / w.sum()))]
        lon, lat = (float(v) for v in region_index.random_points_in(city.adcode, 1, rng)[0])
        located = region_index.locate(lon, lat)
        prov_code, city_code = located if located else (prov, city.adcode)
        kind = _pick(rng, KIND_WEIGHTS)
        lifecycle = _pick(rng, LIFECYCLE_WEIGHTS)
        suffix_zh, suffix_en = _SITE_SUFFIX[int(rng.integers(len(_SITE_SUFFIX)))]
        kind_zh, kind_en = _KIND_NAME[kind]
        n_comp = {"standalone_module": int(rng.integers(2, 3)), "smart_station": int(rng.integers(3, 5)),
                  "central_station": int(rng.integers(4, 7))}[kind]
        ratings = [float(rng.choice([10.0, 13.5, 16.5, 20.0, 26.0, 32.0, 40.0])) for _ in range(n_comp)]
        capacity = round(sum(ratings), 1)
        devices: list[DeviceSpec] = []
        if lifecycle == "built":
            def addr() -> tuple[int, int]:
                nonlocal unit_cursor
                port, unit = base_port + unit_cursor // units_per_port, unit_cursor % units_per_port + 1
                unit_cursor += 1
                return port, unit

            for c, rated in enumerate(ratings, start=1):
                vsd = c == 1 and kind != "standalone_module" or rng.random() < 0.2
                sp = round(float(rng.uniform(6.0, 8.0)), 2)
                port, unit = addr()
                devices.append(DeviceSpec(
                    device_id=f"{station_id}-C{c}", station_id=station_id, kind="compressor",
                    model="cc-variable-speed-compressor" if vsd else "cc-fixed-speed-compressor",
                    host=host, port=port, unit_id=unit, rated_flow_m3_min=rated,
                    rated_power_kw=round(rated * sp, 1), specific_power_kw_per_m3_min=sp))
            for suffix, kind_d, model in (("D1", "dryer", "cc-refrigerated-dryer"),
                                          ("FM", "flow_meter", "cc-station-flow-meter"),
                                          ("PM", "power_meter", "cc-station-power-meter"),
                                          ("IO", "station_io", "cc-station-io")):
                port, unit = addr()
                devices.append(DeviceSpec(device_id=f"{station_id}-{suffix}", station_id=station_id, kind=kind_d,
                                          model=model, host=host, port=port, unit_id=unit))
        partner = PARTNERS[int(rng.integers(len(PARTNERS)))]
        stations.append(StationSpec(
            station_id=station_id, name=f"{city.name_zh}{suffix_zh}{kind_zh}{i + 1:03d}",
            name_en=f"{city.name_en} {suffix_en} {kind_en} {i + 1:03d}", kind=kind, lifecycle=lifecycle,
            lon=round(lon, 6), lat=round(lat, 6), province_adcode=prov_code, city_adcode=city_code,
            capacity_m3_min=capacity, partner=partner, devices=tuple(devices),
            simulated=True, **site_record(rec_rng, lifecycle, capacity, partner)))
    return stations
