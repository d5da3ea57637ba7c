"""Demo data of the city layers, deterministic by seed: cameras, pipelines, street shops with inspection history,
parks and buildings, 1,000,000 enterprises nationwide, service staff / experts and partners.

Entry point: :func:`seed_city_layers` (after the stations are saved — cameras and pipelines reference them). Each
group (partners+staff, parks+buildings, enterprises, cameras, pipelines, shops+inspections) is written in its own
transaction and skipped when its table already has rows, so a re-run only fills what is missing. Each group draws
from its own random stream (``numpy.random.default_rng([seed, group])``), so skipping one does not change the others.

Placement (all WGS-84, checked against the precise city boundary of :mod:`geo.regions`):

* **Enterprises** — split between cities by an illustrative "economic size" weight (:data:`MAJOR_CITY_WEIGHTS`:
  rough relative enterprise stock of the big cities; other cities by their province's weight in the demo fleet),
  then clustered: a main urban centre (:data:`CITY_CENTRES`, else the region's label point) and secondary centres,
  Gaussian spreads of 1–9 km, resampled until inside the city. Registered capital is log-normal (median ~150 万元),
  tax output correlated with it (a third pay none). 75 % operate at their registered address, 20 % elsewhere in the
  same city, 5 % in another city of the province or a big city (注经分离). In :data:`DEMO_CITIES` a third are
  tenants of demo buildings; some buildings are registration hubs (many registered, few operating firms). Every
  built station gets 2–4 customer enterprises 0.4–2.5 km away (targets of its compressed-air lines).
* **Cameras** — 1–3 per built station (within ~30 m) and street cameras in :data:`DEMO_CITIES` (16 at 九里亭 in
  Shanghai, as the 16 video front ends of seed 003 item 27).
* **Pipelines** — one compressed-air line per customer enterprise (L-shaped route, 0.7 MPa nominal, live pressure =
  the station flow meter's ``pressure_mpa``, device ``<station>-FM``) and underground segments (gas 0.4 MPa,
  water 0.35 MPa, heat 1.0 MPa) on street grids around the demo centres, 70 % with a pressure sensor
  ``PS-<city>-<n>`` (values: :func:`pipe_sensor_values`, written to Redis by :func:`publish_pipe_sensors`).
* **Shops** — 10,000 in Shanghai (``310100``; seed 003 is a Shanghai street operations centre) along synthetic
  street grids around ten centres (九亭 first), each with 3–10 inspections over the past year.

Speed (2-core VM shared with other work): 1,000,000 enterprises generated in 9–26 s, inserted in ~19 s on SQLite
(executemany, 50,000 rows per batch, seven indexes) and ~29 s on PostgreSQL (``COPY``); the whole
:func:`seed_city_layers` takes ~50 s and the SQLite file grows by ~380 MB. Tests use :data:`datasources.sim.demo_words.TEST_ENTERPRISES`. Pipe sensors: :mod:`datasources.sim.pipe_sensors`.
"""
from __future__ import annotations

import json
import logging
import math
import time
from datetime import date, timedelta
from typing import Any, Sequence

import numpy as np
import shapely
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from datasources.sql.city_models import (SHOP_CATEGORIES, Building, Camera, Enterprise, Park, Partner, Pipeline,
                                     ServicePerson, Shop, ShopInspection, integrity_score, rating_for_score,
                                     shop_qr_payload)
from datasources.sim.fleet import PARTNERS, PROVINCE_WEIGHTS
from datasources.ingest.importers import bulk_insert, insert_rows
from datasources.sim.demo_words import (BRAND, CITY_CENTRES, DEFAULT_ENTERPRISES, DEMO_CITIES, INSPECTORS,
                                        NOTES, N_SHOPS, ROAD_SUFFIX, ROAD_WORDS, SHANGHAI_STREETS,
                                        SHOP_CATEGORY_P, SHOP_CITY, city_short, group_rng, offset_m,
                                        person_name, pinyin_title, rect_polygon_geojson, region_index_or_default)
from datasources.sim.demo_enterprises import ENTERPRISE_COLUMNS, generate_enterprises
from geo.crs import haversine_m

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- generators (pure; return row dicts)


def generate_people(seed: int = 42, region_index=None) -> tuple[list[dict], list[dict]]:
    """Partners (one per :data:`datasources.sim.fleet.PARTNERS` name) and service staff / experts per province.

    Staff per province: 4 + 6 × (demo fleet weight); experts: 1 + weight / 2; 60 % of people online.
    Returns:
        ``(partners, people)`` as lists of column dicts of :class:`Partner` / :class:`ServicePerson`.
    """
    idx = region_index_or_default(region_index)
    rng = group_rng(seed, "people")
    homes = {"华东压缩机服务": "310100", "粤海机电": "440100", "齐鲁动力设备": "370100", "蜀都空压运维": "510100",
             "京津冀工业服务": "110100", "中原节能科技": "410100", "闽南气动工程": "350200", "长江空压设备": "420100"}
    partners = []
    for i, name in enumerate(PARTNERS):
        city = homes.get(name, "310100")
        reg = idx.region(city)
        lon, lat = CITY_CENTRES.get(city, (reg.lon, reg.lat))
        contact, _ = person_name(rng)
        partners.append(dict(partner_id=f"P{i + 1:03d}", name=name, name_en=pinyin_title(name), province_adcode=city[:2] + "0000",
                             city_adcode=city, lon=lon, lat=lat, contact=contact,
                             phone=f"1{int(rng.integers(30, 90))}{int(rng.integers(10**7, 10**8))}"))
    partner_prov = {p["province_adcode"]: p["name"] for p in partners}
    specialties = ("compressor", "dryer", "electrical", "pipeline", "energy_audit", "automation")
    people = []
    n = 0
    for prov in idx.provinces():
        if prov.adcode in ("710000", "810000", "820000"):
            continue
        w = PROVINCE_WEIGHTS.get(prov.adcode, 1)
        cities = idx.cities(prov.adcode)
        cw = np.array([1.0 / (1 + k) ** 0.8 for k in range(len(cities))])
        for role, count in (("staff", 4 + 6 * w), ("expert", 1 + w // 2)):
            for _ in range(int(count)):
                n += 1
                city = cities[int(rng.choice(len(cities), p=cw / cw.sum()))]
                name, name_en = person_name(rng)
                partner = partner_prov.get(prov.adcode) or PARTNERS[int(rng.integers(len(PARTNERS)))]
                people.append(dict(person_id=f"SP{n:05d}", name=name, name_en=name_en, role=role,
                                   specialty=specialties[int(rng.integers(len(specialties)))],
                                   province_adcode=prov.adcode, city_adcode=city.adcode,
                                   partner="" if role == "expert" and rng.random() < 0.5 else partner,
                                   phone=f"1{int(rng.integers(30, 90))}{int(rng.integers(10**7, 10**8))}",
                                   online=bool(rng.random() < 0.6)))
    return partners, people


def _demo_centres(idx, city: str) -> list[tuple[str, str, float, float]]:
    """(name_zh, name_en, lon, lat) street centres of a demo city."""
    if city == SHOP_CITY:
        return [(n, e, x, y) for n, e, _d, x, y in SHANGHAI_STREETS]
    reg = idx.region(city)
    lon, lat = CITY_CENTRES.get(city, (reg.lon, reg.lat))
    short = city_short(reg.name_zh)
    return [(f"{short}中心城区", f"{reg.name_en} Downtown", lon, lat),
            (f"{short}高新区", f"{reg.name_en} Hi-Tech Zone", *(float(v) for v in offset_m(lon, lat, 9000, -6000))),
            (f"{short}经开区", f"{reg.name_en} Economic Zone", *(float(v) for v in offset_m(lon, lat, -8000, 7000)))]


def generate_parks_buildings(seed: int = 42, region_index=None,
                             cities: Sequence[str] = DEMO_CITIES) -> tuple[list[dict], list[dict]]:
    """Parks (rotated rectangles ~1.2 × 0.9 km) with 6–14 buildings each, in the demo cities' centres.

    Building ``floor_area_m2`` 8,000–120,000. The first building of every park is a registration hub (its name ends
    with 企业服务中心 / Enterprise Service Center): many firms register there but operate elsewhere.
    Returns:
        ``(parks, buildings)`` lists of column dicts.
    """
    idx = region_index_or_default(region_index)
    rng = group_rng(seed, "parks")
    parks, buildings = [], []
    kinds = (("科技园", "Science Park"), ("产业园", "Industrial Park"), ("商务区", "Business District"))
    towers = (("大厦", "Tower"), ("广场", "Plaza"), ("中心", "Center"), ("科创楼", "Innovation Building"))
    for city in cities:
        geom = idx.geometry(city, "precise")
        shapely.prepare(geom)
        prov = idx.province_of(city).adcode
        for ci, (cname, cname_en, clon, clat) in enumerate(_demo_centres(idx, city)):
            for k in range(2 if city == SHOP_CITY else 3):
                plon, plat = (float(v) for v in offset_m(clon, clat, rng.uniform(-2500, 2500), rng.uniform(-2500, 2500)))
                if not shapely.contains_xy(geom, plon, plat):
                    continue
                kind_zh, kind_en = kinds[k % len(kinds)]
                park_id = f"PK{city}{ci:02d}{k}"
                angle = float(rng.uniform(-20, 20))
                parks.append(dict(park_id=park_id, name=f"{cname}{kind_zh}", name_en=f"{cname_en} {kind_en}",
                                  geometry=rect_polygon_geojson(plon, plat, 1200, 900, angle), lon=plon, lat=plat,
                                  province_adcode=prov, city_adcode=city))
                nb = int(rng.integers(6, 15))
                for b in range(nb):
                    bx, by = offset_m(plon, plat, rng.uniform(-450, 450), rng.uniform(-320, 320))
                    bx, by = float(bx), float(by)
                    if b == 0:
                        bname, bname_en = f"{cname}{kind_zh}企业服务中心", f"{cname_en} {kind_en} Enterprise Service Center"
                    else:
                        tz, te = towers[int(rng.integers(len(towers)))]
                        bname, bname_en = f"{cname}{kind_zh}{b}号{tz}", f"{cname_en} {kind_en} {te} {b}"
                    buildings.append(dict(building_id=f"B{park_id[2:]}{b:02d}", park_id=park_id, name=bname,
                                          name_en=bname_en,
                                          geometry=rect_polygon_geojson(bx, by, float(rng.uniform(30, 70)),
                                                                    float(rng.uniform(25, 50)), angle),
                                          lon=bx, lat=by, province_adcode=prov, city_adcode=city,
                                          floor_area_m2=float(round(rng.uniform(8_000, 120_000), -2))))
    return parks, buildings


def generate_cameras(stations: Sequence[Any], seed: int = 42, region_index=None,
                     cities: Sequence[str] = DEMO_CITIES) -> list[dict]:
    """1–3 cameras per built station (within ~30 m) plus street cameras: 16 around 九亭 and 4 per other street
    centre in Shanghai, 8 per centre in the other demo cities. 92 % online; all ``mjpeg`` served by this app.

    Returns:
        column dicts of :class:`Camera`.
    """
    idx = region_index_or_default(region_index)
    rng = group_rng(seed, "cameras")
    spots = (("机房", "Compressor Room"), ("进门", "Entrance"), ("储气罐区", "Receiver Area"))
    out = []
    for st in stations:
        if getattr(st, "lifecycle", "built") != "built":
            continue
        for k in range(int(rng.integers(1, 4))):
            x, y = offset_m(st.lon, st.lat, rng.uniform(-30, 30), rng.uniform(-30, 30))
            cam_id = f"CAM-{st.station_id}-{k + 1}"
            out.append(dict(camera_id=cam_id, station_id=st.station_id, name=f"{st.name}·{spots[k][0]}",
                            name_en=f"{st.name_en} · {spots[k][1]}", lon=round(float(x), 6), lat=round(float(y), 6),
                            province_adcode=st.province_adcode, city_adcode=st.city_adcode,
                            status="online" if rng.random() < 0.92 else "offline", kind="mjpeg",
                            stream_url=f"/cameras/{cam_id}/stream.mjpg"))
    for city in cities:
        geom = idx.geometry(city, "precise")
        shapely.prepare(geom)
        prov = idx.province_of(city).adcode
        n = 0
        for ci, (cname, cname_en, clon, clat) in enumerate(_demo_centres(idx, city)):
            per = (16 if ci == 0 else 4) if city == SHOP_CITY else 8
            for _ in range(per):
                x, y = offset_m(clon, clat, rng.uniform(-1200, 1200), rng.uniform(-1200, 1200))
                if not shapely.contains_xy(geom, float(x), float(y)):
                    continue
                n += 1
                road = ROAD_WORDS[int(rng.integers(len(ROAD_WORDS)))]
                cam_id = f"CAM-{city}-{n:03d}"
                out.append(dict(camera_id=cam_id, station_id=None, name=f"{cname}·{road}路口{n:02d}",
                                name_en=f"{cname_en} · {pinyin_title(road)} Rd Junction {n:02d}", lon=round(float(x), 6),
                                lat=round(float(y), 6), province_adcode=prov, city_adcode=city,
                                status="online" if rng.random() < 0.92 else "offline", kind="mjpeg",
                                stream_url=f"/cameras/{cam_id}/stream.mjpg"))
    return out


def _line_geojson(coords) -> str:
    return json.dumps({"type": "LineString", "coordinates": [[round(float(x), 6), round(float(y), 6)]
                                                             for x, y in coords]}, separators=(",", ":"))


def _pipe_row(pid, kind, medium, name, name_en, coords, prov, city, nominal, sensor, station=None, enterprise=None):
    arr = np.asarray(coords, dtype=float)
    length = float(np.sum(haversine_m(arr[:-1, 0], arr[:-1, 1], arr[1:, 0], arr[1:, 1]))) if len(arr) > 1 else 0.0
    return dict(pipeline_id=pid, kind=kind, medium=medium, name=name, name_en=name_en, geometry=_line_geojson(arr),
                min_lon=float(arr[:, 0].min()), min_lat=float(arr[:, 1].min()), max_lon=float(arr[:, 0].max()),
                max_lat=float(arr[:, 1].max()), length_m=round(length, 1), province_adcode=prov, city_adcode=city,
                nominal_pressure_mpa=nominal, low_pressure_mpa=round(nominal * 0.8, 3), sensor_device_id=sensor,
                station_id=station, enterprise_id=enterprise)


def generate_air_lines(stations: Sequence[Any], customers: dict[str, list[tuple[str, str, float, float]]]) -> list[dict]:
    """Compressed-air delivery lines: station → each customer, an L-shaped route (east–west, then north–south).

    Args:
        stations: station specs. customers: ``{station_id: [(enterprise_id, name, lon, lat), …]}``.
    Returns:
        column dicts of :class:`Pipeline` (kind ``compressed_air``, 0.7 MPa nominal, sensor ``<station>-FM``).
    """
    out = []
    for st in stations:
        for k, (eid, ename, lon, lat) in enumerate(customers.get(st.station_id, ()), start=1):
            coords = [(st.lon, st.lat), (lon, st.lat), (lon, lat)]
            out.append(_pipe_row(f"AL-{st.station_id}-{k}", "compressed_air", "compressed_air",
                                 f"{st.name}→{ename}", f"{st.name_en} → customer {k}", coords, st.province_adcode,
                                 st.city_adcode, 0.7, f"{st.station_id}-FM", station=st.station_id, enterprise=eid))
    return out


def generate_underground_pipes(seed: int = 42, region_index=None, cities: Sequence[str] = DEMO_CITIES) -> list[dict]:
    """Monitored underground pipe segments on a street grid (5 × 5 streets, 300 m apart, cut at junctions) around
    each demo centre. Medium per street: gas (0.4 MPa), water (0.35 MPa), heat (1.0 MPa); 70 % have a sensor.

    Returns:
        column dicts of :class:`Pipeline` (kind ``underground``).
    """
    idx = region_index_or_default(region_index)
    rng = group_rng(seed, "pipelines")
    media = (("gas", "燃气", "Gas", 0.4), ("water", "供水", "Water", 0.35), ("heat", "供热", "Heating", 1.0))
    out = []
    for city in cities:
        geom = idx.geometry(city, "precise")
        shapely.prepare(geom)
        prov = idx.province_of(city).adcode
        n = 0
        centres = _demo_centres(idx, city)[: 3 if city == SHOP_CITY else 2]
        for cname, cname_en, clon, clat in centres:
            angle = math.radians(float(rng.uniform(-15, 15)))
            steps = np.arange(-2, 3) * 300.0
            for axis in (0, 1):
                for s in steps:
                    medium, mzh, men, nominal = media[int(rng.integers(len(media)))]
                    for a, b in zip(steps[:-1], steps[1:]):
                        pts = []
                        for t in (a, b):
                            dx, dy = (t, s) if axis == 0 else (s, t)
                            rx = dx * math.cos(angle) - dy * math.sin(angle)
                            ry = dx * math.sin(angle) + dy * math.cos(angle)
                            x, y = offset_m(clon, clat, rx, ry)
                            pts.append((float(x), float(y)))
                        if not all(shapely.contains_xy(geom, x, y) for x, y in pts):
                            continue
                        n += 1
                        sensor = f"PS-{city}-{n:04d}" if rng.random() < 0.7 else None
                        out.append(_pipe_row(f"UG-{city}-{n:04d}", "underground", medium,
                                             f"{cname}{mzh}管段{n:03d}", f"{cname_en} {men} segment {n:03d}", pts,
                                             prov, city, nominal, sensor))
    return out


def generate_shops(n: int = N_SHOPS, seed: int = 42, region_index=None, today: date | None = None,
                   city: str = SHOP_CITY) -> tuple[list[dict], list[dict]]:
    """``n`` street shops in Shanghai along synthetic street grids, with 3–10 inspections each over the past year.

    A shop has a latent quality; inspection scores scatter around it; ``rating`` is the latest inspection's grade,
    ``integrity_score`` follows :func:`datasources.sql.city_models.integrity_score`; ``qr_payload`` is
    :func:`datasources.sql.city_models.shop_qr_payload`.

    Args:
        today: the reference day of the inspection history (default: today).
    Returns:
        ``(shops, inspections)`` column dicts of :class:`Shop` / :class:`ShopInspection`.
    """
    idx = region_index_or_default(region_index)
    rng = group_rng(seed, "shops")
    today = today or date.today()
    geom = idx.geometry(city, "precise")
    shapely.prepare(geom)
    prov = idx.province_of(city).adcode
    cats = list(SHOP_CATEGORIES)
    centres = list(SHANGHAI_STREETS) if city == SHOP_CITY else [
        (c[0], c[1], "", c[2], c[3]) for c in _demo_centres(idx, city)]
    share = np.array([3.0] + [1.0] * (len(centres) - 1))
    per_centre = rng.multinomial(n, share / share.sum())
    shops, inspections = [], []
    sid = 0
    for ci, ((cname, cname_en, district, clon, clat), k) in enumerate(zip(centres, per_centre)):
        # streets: 6 east–west and 6 north–south, 250 m apart, each 1.5 km long
        pool = ROAD_WORDS[(ci * 4) % len(ROAD_WORDS):] + ROAD_WORDS  # each centre has its own road names
        roads = [(pool[j] + ROAD_SUFFIX[int(rng.integers(len(ROAD_SUFFIX)))], axis, off)
                 for j, (axis, off) in enumerate((a, o) for a in (0, 1) for o in (np.arange(6) - 2.5) * 250.0)]
        numbers = {r[0]: 0 for r in roads}
        made = 0
        while made < k:
            road, axis, off = roads[int(rng.integers(len(roads)))]
            t = float(rng.uniform(-750, 750))
            side = 1 if rng.random() < 0.5 else -1
            dx, dy = (t, off + side * 15.0) if axis == 0 else (off + side * 15.0, t)
            x, y = (float(v) for v in offset_m(clon, clat, dx, dy))
            if not shapely.contains_xy(geom, x, y):
                continue
            made += 1
            sid += 1
            numbers[road] += 1 + int(rng.integers(0, 3))
            no = numbers[road] * 2 - (1 if side > 0 else 0)
            cat = cats[int(rng.choice(len(cats), p=SHOP_CATEGORY_P))]
            zh, en, suf_zh, suf_en = SHOP_CATEGORIES[cat]
            j = int(rng.integers(len(suf_zh)))
            brand = BRAND[int(rng.integers(len(BRAND)))]
            name = f"{brand}{suf_zh[j]}（{road}店）"
            name_en = f"{pinyin_title(brand)} {suf_en[j]} ({pinyin_title(road.rstrip('路街大道北南东西'))} Rd)"
            address = f"上海市{district}{road}{no}号"
            contact, _ = person_name(rng)
            shop_id = f"SH{sid:06d}"
            quality = float(rng.beta(5, 1.6))
            history = []
            n_insp = int(rng.integers(3, 11))
            days = np.sort(rng.choice(365, size=n_insp, replace=False))[::-1]
            for d in days:
                score = float(np.clip(round(rng.normal(quality * 100, 9), 1), 0, 100))
                rating = rating_for_score(score)
                on = today - timedelta(days=int(d))
                history.append((on, score))
                inspections.append(dict(shop_id=shop_id, inspected_on=on, rating=rating, score=score,
                                        inspector=INSPECTORS[int(rng.integers(len(INSPECTORS)))],
                                        notes=NOTES[rating][int(rng.integers(3))]))
            last_score = history[-1][1]
            shops.append(dict(shop_id=shop_id, name=name, name_en=name_en, address=address, contact=contact,
                              category=cat, lon=round(x, 6), lat=round(y, 6), province_adcode=prov, city_adcode=city,
                              rating=rating_for_score(last_score), integrity_score=integrity_score(history, today),
                              qr_payload=shop_qr_payload(shop_id, name, address, contact)))
    return shops, inspections


# --------------------------------------------------------------------------- writing


def _count(engine: Engine, model) -> int:
    with Session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _nearest_customers(engine: Engine, stations: Sequence[Any], rng: np.random.Generator,
                       max_m: float = 3000.0) -> dict[str, list[tuple[str, str, float, float]]]:
    """2–4 enterprises operating within ``max_m`` of each built station (nearest first), each used once."""
    built = [s for s in stations if getattr(s, "lifecycle", "built") == "built"]
    cities = sorted({s.city_adcode for s in built})
    out: dict[str, list] = {}
    taken: set[str] = set()
    with engine.connect() as conn:
        for city in cities:
            rows = conn.execute(select(Enterprise.enterprise_id, Enterprise.name, Enterprise.op_lon, Enterprise.op_lat)
                                .where(Enterprise.op_city_adcode == city)).all()
            if not rows:
                continue
            lon = np.array([r[2] for r in rows])
            lat = np.array([r[3] for r in rows])
            for st in (s for s in built if s.city_adcode == city):
                d = haversine_m(st.lon, st.lat, lon, lat)
                near = np.argsort(d)[:12]
                want = int(rng.integers(2, 5))
                picks = []
                for i in near:
                    if d[i] > max_m or len(picks) >= want:
                        break
                    if rows[i][0] in taken or d[i] < 50:
                        continue
                    taken.add(rows[i][0])
                    picks.append((rows[i][0], rows[i][1], float(lon[i]), float(lat[i])))
                if picks:
                    out[st.station_id] = picks
    return out


def seed_city_layers(engine: Engine, stations: Sequence[Any], seed: int = 42,
                     n_enterprises: int = DEFAULT_ENTERPRISES, n_shops: int = N_SHOPS, region_index=None,
                     today: date | None = None) -> dict[str, int]:
    """Fill the city-layer tables with demo data; groups whose table already has rows are skipped.

    Args:
        engine: a migrated database (revision ≥ 0004) whose ``stations`` already hold ``stations``.
        stations: station specs (:class:`datasources.sql.fleet_spec.StationSpec`; e.g. ``load_fleet(engine)``).
        seed: random seed (same seed + same stations → same data).
        n_enterprises: total enterprises (default 1,000,000; tests use :data:`TEST_ENTERPRISES`).
        n_shops: street shops in Shanghai.
        today: reference day of the shop inspection history (default today).
    Returns:
        rows written per table, e.g. ``{"enterprises": 1000000, "cameras": 0, …}`` (0 = skipped or none).
    Raises:
        sqlalchemy.exc.SQLAlchemyError: database errors (the group being written is rolled back).
    """
    t0 = time.perf_counter()
    idx = region_index_or_default(region_index)
    written = {k: 0 for k in ("partners", "service_people", "parks", "buildings", "enterprises", "cameras",
                              "pipelines", "shops", "shop_inspections")}
    if _count(engine, Partner) == 0 and _count(engine, ServicePerson) == 0:
        partners, people = generate_people(seed, idx)
        with engine.begin() as conn:
            written["partners"] = insert_rows(conn, Partner, partners)
            written["service_people"] = insert_rows(conn, ServicePerson, people)
    if _count(engine, Park) == 0 and _count(engine, Building) == 0:
        parks, buildings = generate_parks_buildings(seed, idx)
        with engine.begin() as conn:
            written["parks"] = insert_rows(conn, Park, parks)
            written["buildings"] = insert_rows(conn, Building, buildings)
    if _count(engine, Enterprise) == 0 and n_enterprises > 0:
        with Session(engine) as s:
            buildings = [dict(building_id=b, city_adcode=c, lon=x, lat=y) for b, c, x, y in
                         s.execute(select(Building.building_id, Building.city_adcode, Building.lon, Building.lat)
                                   .order_by(Building.building_id))]
        ent = generate_enterprises(n_enterprises, seed, stations, buildings, idx)
        t1 = time.perf_counter()
        with engine.begin() as conn:
            written["enterprises"] = bulk_insert(conn, Enterprise, ent.rows(), ENTERPRISE_COLUMNS)
        log.info("demo_city: inserted %d enterprises in %.1f s", len(ent), time.perf_counter() - t1)
        if engine.dialect.name == "postgresql":  # fresh statistics, so the name indexes are used at once
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c2:
                c2.exec_driver_sql("ANALYZE enterprises")
    if _count(engine, Camera) == 0:
        with engine.begin() as conn:
            written["cameras"] = insert_rows(conn, Camera, generate_cameras(stations, seed, idx))
    if _count(engine, Pipeline) == 0:
        customers = _nearest_customers(engine, stations, group_rng(seed, "pipelines"))
        pipes = generate_air_lines(stations, customers) + generate_underground_pipes(seed, idx)
        with engine.begin() as conn:
            written["pipelines"] = insert_rows(conn, Pipeline, pipes)
    if _count(engine, Shop) == 0 and n_shops > 0:
        shops, inspections = generate_shops(n_shops, seed, idx, today)
        with engine.begin() as conn:
            written["shops"] = insert_rows(conn, Shop, shops)
            written["shop_inspections"] = insert_rows(conn, ShopInspection, inspections)
    log.info("demo_city: seeded %s in %.1f s", {k: v for k, v in written.items() if v}, time.perf_counter() - t0)
    return written


