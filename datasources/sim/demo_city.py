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
:func:`seed_city_layers` takes ~50 s and the SQLite file grows by ~380 MB. Tests use :data:`TEST_ENTERPRISES`.
"""
from __future__ import annotations

import json
import logging
import math
import time
import zlib
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any, Iterable, Sequence

import numpy as np
import shapely
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from datasources.sql.city_models import (SHOP_CATEGORIES, Building, Camera, Enterprise, Park, Partner, Pipeline,
                                     ServicePerson, Shop, ShopInspection, integrity_score, rating_for_score,
                                     shop_qr_payload)
from datasources.sim.fleet import PARTNERS, PROVINCE_WEIGHTS
from datasources.ingest.importers import bulk_insert, insert_rows
from geo.crs import haversine_m

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_ENTERPRISES", "TEST_ENTERPRISES", "N_SHOPS", "SHOP_CITY", "DEMO_CITIES", "CITY_CENTRES",
    "MAJOR_CITY_WEIGHTS", "SHOP_CATEGORIES", "seed_city_layers", "generate_enterprises", "generate_shops",
    "generate_cameras", "generate_underground_pipes", "generate_parks_buildings", "generate_people",
    "pipe_sensor_values", "publish_pipe_sensors", "generate_air_lines", "EnterpriseArrays", "ENTERPRISE_COLUMNS",
]

DEFAULT_ENTERPRISES = 1_000_000
TEST_ENTERPRISES = 20_000
N_SHOPS = 10_000
SHOP_CITY = "310100"
#: cities with street cameras, underground pipes, parks and buildings
DEMO_CITIES = ("310100", "320500", "330100", "440300")

#: main urban centre of big cities, WGS-84 (lon, lat); checked to lie inside the city
CITY_CENTRES: dict[str, tuple[float, float]] = {
    "310100": (121.4737, 31.2304), "110100": (116.4074, 39.9042), "440300": (114.0579, 22.5431),
    "440100": (113.2644, 23.1291), "500100": (106.5516, 29.5630), "510100": (104.0665, 30.5723),
    "320500": (120.5853, 31.2989), "330100": (120.1551, 30.2741), "420100": (114.3054, 30.5931),
    "120100": (117.2010, 39.0842), "610100": (108.9398, 34.3416), "410100": (113.6254, 34.7466),
    "441900": (113.7518, 23.0205), "320100": (118.7969, 32.0603), "370200": (120.3826, 36.0671),
    "430100": (112.9388, 28.2282), "440600": (113.1214, 23.0215), "330200": (121.5440, 29.8683),
    "340100": (117.2272, 31.8206), "370100": (117.1205, 36.6510), "350200": (118.0894, 24.4798),
    "350100": (119.2965, 26.0745), "320200": (120.3119, 31.4912), "210100": (123.4315, 41.8057),
    "530100": (102.8329, 24.8801), "130100": (114.5149, 38.0428), "450100": (108.3669, 22.8170),
    "360100": (115.8582, 28.6829), "330300": (120.6994, 27.9943), "320400": (119.9741, 31.8112),
}
#: illustrative relative enterprise stock of big cities (demo weights, not statistics)
MAJOR_CITY_WEIGHTS: dict[str, float] = {
    "440300": 10, "310100": 9, "110100": 8, "440100": 8, "500100": 7, "510100": 6, "320500": 6, "330100": 5.5,
    "441900": 4.5, "420100": 4.5, "120100": 4, "610100": 4, "410100": 4, "320100": 3.5, "370200": 3.5,
    "430100": 3.5, "440600": 3.5, "330200": 3.5, "340100": 3, "370100": 3, "320200": 3, "350100": 2.5,
    "330300": 2.5, "330700": 2.5, "130100": 2.5, "350200": 2, "210100": 2, "530100": 2, "450100": 2,
    "360100": 2, "320400": 2, "370600": 1.5, "220100": 1.5, "230100": 1.5, "520100": 1.5, "210200": 1.5,
    "140100": 1.2, "460100": 0.8, "620100": 0.8, "650100": 0.8, "150100": 0.6, "640100": 0.5, "630100": 0.4,
    "540100": 0.2,
}
#: Shanghai street centres for shops, street cameras and underground pipes: (name_zh, name_en, district, lon, lat)
SHANGHAI_STREETS = (
    ("九亭", "Jiuting", "松江区", 121.3250, 31.1350), ("人民广场", "People's Square", "黄浦区", 121.4737, 31.2304),
    ("徐家汇", "Xujiahui", "徐汇区", 121.4365, 31.1886), ("五角场", "Wujiaochang", "杨浦区", 121.5140, 31.2990),
    ("陆家嘴", "Lujiazui", "浦东新区", 121.4990, 31.2397), ("松江新城", "Songjiang New Town", "松江区", 121.2270, 31.0320),
    ("莘庄", "Xinzhuang", "闵行区", 121.3850, 31.1110), ("嘉定新城", "Jiading New Town", "嘉定区", 121.2650, 31.3750),
    ("七宝", "Qibao", "闵行区", 121.3500, 31.1600), ("南翔", "Nanxiang", "嘉定区", 121.3200, 31.3000),
)
_SHOP_CATEGORY_P = (0.30, 0.14, 0.10, 0.08, 0.10, 0.04, 0.07, 0.09, 0.04, 0.04)
_BRAND = ("老王", "佳美", "鑫源", "福记", "阿强", "小李", "金牌", "好运", "顺发", "老街", "晨光", "惠民",
          "百味", "同心", "新风", "正宗", "红星", "东方", "大众", "乐家", "和记", "万家", "兴旺", "永康", "美佳",
          "一品", "聚福", "春晓", "明珠", "天天")
_ROAD_WORDS = ("沪亭", "九亭", "涞寅", "易富", "虬泾", "伴亭", "连富", "颐景", "九新", "淞沪", "新凯", "华亭",
               "淮海", "南京", "西藏", "漕溪", "肇嘉浜", "国权", "政通", "世纪", "东方", "银城", "人民", "中山",
               "荣乐", "谷阳", "沪松", "春申", "七莘", "博乐", "城中", "叶城", "陈翔", "嘉松")
_ROAD_SUFFIX = ("路", "街", "北路", "南路", "东路", "西路", "大道")
_SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何",
             "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹")
_GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
          "秀英", "霞", "平", "刚", "桂英", "建华", "志强", "海燕", "晓东", "文博", "子涵", "浩然", "雨桐")
_INSPECTORS = ("城管队员 周明", "城管队员 徐磊", "市场监管 陈静", "市场监管 孙浩", "街道网格员 王芳", "街道网格员 李强",
               "环卫督导 张伟", "环卫督导 刘娜")
_NOTES = {"A": ("门前三包落实到位", "垃圾分类投放规范", "证照齐全、环境整洁"),
          "B": ("门前偶有杂物，已当场整改", "分类投放基本规范", "油烟净化设施待清洗"),
          "C": ("垃圾分类投放不规范", "门前堆物，责令整改", "占道经营，已劝导"),
          "D": ("拒不整改，已立案", "违规倾倒垃圾", "无证经营嫌疑，已移交")}
#: enterprise trade-name characters (two are combined) and industries: (zh, en)
_TRADE_A = ("华", "中", "新", "金", "东", "恒", "宏", "永", "天", "盛", "鑫", "汇", "嘉", "德", "瑞", "隆", "泰",
            "福", "安", "广", "博", "联", "科", "创", "海", "信", "达", "通", "宇", "星", "正", "明", "润", "晨",
            "弘", "锦", "丰", "顺", "佳", "远")
_TRADE_B = ("信", "源", "达", "通", "诚", "业", "利", "兴", "祥", "宇", "泰", "丰", "盛", "和", "力", "电", "光",
            "美", "辉", "捷", "邦", "润", "峰", "图", "智", "禾", "为", "川", "阳", "誉", "拓", "赢", "策", "程",
            "芯", "能", "材", "仪", "机", "动")
_INDUSTRIES = (("科技", "Technology", "technology"), ("贸易", "Trading", "trade"), ("机械", "Machinery", "machinery"),
               ("电子", "Electronics", "electronics"), ("建设工程", "Construction", "construction"),
               ("物流", "Logistics", "logistics"), ("新材料", "New Materials", "materials"),
               ("生物医药", "Biopharma", "biopharma"), ("信息技术", "Information Technology", "it"),
               ("食品", "Foods", "food"), ("纺织", "Textiles", "textile"), ("化工", "Chemicals", "chemical"),
               ("汽车零部件", "Auto Parts", "auto_parts"), ("精密制造", "Precision Manufacturing", "manufacturing"),
               ("能源", "Energy", "energy"), ("咨询", "Consulting", "consulting"), ("文化传媒", "Media", "media"),
               ("餐饮管理", "Catering Management", "catering"), ("环保", "Environmental", "environment"),
               ("金属制品", "Metal Products", "metal"))
_INDUSTRY_P = np.array([14, 12, 8, 7, 7, 6, 4, 3, 8, 4, 3, 3, 4, 4, 2, 4, 3, 2, 1, 1], dtype=float)
_FORMS = (("有限公司", "Co., Ltd."), ("股份有限公司", "Corp."), ("有限责任公司", "Co., Ltd."))
_FORM_P = (0.85, 0.05, 0.10)

_GROUP = {"people": 1, "parks": 2, "enterprises": 3, "cameras": 4, "pipelines": 5, "shops": 6}


def _rng(seed: int, group: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), _GROUP[group]])


@lru_cache(maxsize=4096)
def _py(han: str) -> str:
    """Capitalised pinyin of a Chinese word (``"华信"`` → ``"Huaxin"``); the word itself if pypinyin is missing."""
    try:
        from pypinyin import lazy_pinyin  # noqa: PLC0415
    except ImportError:  # pragma: no cover - pypinyin is a runtime dependency
        return han
    s = "".join(lazy_pinyin(han, v_to_u=True)).replace("ü", "u")
    return s[:1].upper() + s[1:]


def _city_short(name_zh: str) -> str:
    for suf in ("市", "地区", "盟", "自治州"):
        if name_zh.endswith(suf) and len(name_zh) > len(suf) + 1:
            return name_zh[: -len(suf)]
    return name_zh


def _person_name(rng: np.random.Generator) -> tuple[str, str]:
    s = _SURNAMES[int(rng.integers(len(_SURNAMES)))]
    g = _GIVEN[int(rng.integers(len(_GIVEN)))]
    return s + g, f"{_py(g)} {_py(s)}"


def _index(region_index):
    if region_index is not None:
        return region_index
    from geo.regions import get_region_index  # noqa: PLC0415 — heavy, only when generating

    return get_region_index()


# --------------------------------------------------------------------------- point sampling inside a city


class _CitySampler:
    """Clustered random points inside one city's precise boundary."""

    def __init__(self, idx, adcode: str, rng: np.random.Generator, n_centres: int):
        self.idx, self.adcode, self.rng = idx, adcode, rng
        self.geom = idx.geometry(adcode, "precise")
        shapely.prepare(self.geom)
        region = idx.region(adcode)
        main = CITY_CENTRES.get(adcode)
        if main is None or not shapely.contains_xy(self.geom, *main):
            main = (region.lon, region.lat)
        west, south, east, north = region.bbox
        size_deg = max(0.02, min(east - west, north - south))
        others = idx.random_points_in(adcode, max(0, n_centres - 1), rng)
        self.centres = np.vstack([np.array([main]), others]) if len(others) else np.array([main])
        k = len(self.centres)
        share = np.array([1.0 / (1 + i) ** 1.1 for i in range(k)])
        share[0] *= 2.5
        self.p = share / share.sum()
        # spreads in degrees: main centre wider (1.5–9 km), bounded by the city size
        base = min(0.08, size_deg / 6)
        self.sigma = np.concatenate([[base], rng.uniform(0.01, max(0.012, base / 2), k - 1)])

    def sample(self, n: int) -> np.ndarray:
        """(n, 2) points inside the city, clustered."""
        out = np.empty((n, 2))
        if n == 0:
            return out
        which = self.rng.choice(len(self.centres), size=n, p=self.p)
        pts = self.centres[which] + self.rng.normal(size=(n, 2)) * self.sigma[which, None]
        todo = np.flatnonzero(~shapely.contains_xy(self.geom, pts[:, 0], pts[:, 1]))
        for _ in range(6):
            if not todo.size:
                break
            w = which[todo]
            pts[todo] = self.centres[w] + self.rng.normal(size=(todo.size, 2)) * self.sigma[w, None] * 0.5
            todo = todo[~shapely.contains_xy(self.geom, pts[todo, 0], pts[todo, 1])]
        if todo.size:
            pts[todo] = self.idx.random_points_in(self.adcode, todo.size, self.rng)
        return pts

    def near(self, lon: float, lat: float, n: int, r_min_m: float, r_max_m: float) -> np.ndarray:
        """(≤ n, 2) points inside the city at r_min..r_max metres from (lon, lat)."""
        out = []
        for _ in range(20):
            m = 4 * n
            r = self.rng.uniform(r_min_m, r_max_m, m)
            a = self.rng.uniform(0, 2 * np.pi, m)
            x = lon + r * np.cos(a) / (111_320.0 * math.cos(math.radians(lat)))
            y = lat + r * np.sin(a) / 110_574.0
            ok = shapely.contains_xy(self.geom, x, y)
            out.extend(zip(x[ok], y[ok]))
            if len(out) >= n:
                break
        return np.array(out[:n]).reshape(-1, 2)


def _offset(lon: float, lat: float, dx_m, dy_m):
    """Points dx/dy metres east/north of (lon, lat) (local flat approximation)."""
    return (lon + np.asarray(dx_m) / (111_320.0 * math.cos(math.radians(lat))),
            lat + np.asarray(dy_m) / 110_574.0)


def _polygon_geojson(lon: float, lat: float, w_m: float, h_m: float, angle_deg: float) -> str:
    a = math.radians(angle_deg)
    corners = [(-w_m / 2, -h_m / 2), (w_m / 2, -h_m / 2), (w_m / 2, h_m / 2), (-w_m / 2, h_m / 2), (-w_m / 2, -h_m / 2)]
    ring = []
    for cx, cy in corners:
        rx, ry = cx * math.cos(a) - cy * math.sin(a), cx * math.sin(a) + cy * math.cos(a)
        x, y = _offset(lon, lat, rx, ry)
        ring.append([round(float(x), 6), round(float(y), 6)])
    return json.dumps({"type": "Polygon", "coordinates": [ring]}, separators=(",", ":"))


# --------------------------------------------------------------------------- generators (pure; return row dicts)


def generate_people(seed: int = 42, region_index=None) -> tuple[list[dict], list[dict]]:
    """Partners (one per :data:`datasources.sim.fleet.PARTNERS` name) and service staff / experts per province.

    Staff per province: 4 + 6 × (demo fleet weight); experts: 1 + weight / 2; 60 % of people online.
    Returns:
        ``(partners, people)`` as lists of column dicts of :class:`Partner` / :class:`ServicePerson`.
    """
    idx = _index(region_index)
    rng = _rng(seed, "people")
    homes = {"华东压缩机服务": "310100", "粤海机电": "440100", "齐鲁动力设备": "370100", "蜀都空压运维": "510100",
             "京津冀工业服务": "110100", "中原节能科技": "410100", "闽南气动工程": "350200", "长江空压设备": "420100"}
    partners = []
    for i, name in enumerate(PARTNERS):
        city = homes.get(name, "310100")
        reg = idx.region(city)
        lon, lat = CITY_CENTRES.get(city, (reg.lon, reg.lat))
        contact, _ = _person_name(rng)
        partners.append(dict(partner_id=f"P{i + 1:03d}", name=name, name_en=_py(name), province_adcode=city[:2] + "0000",
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
                name, name_en = _person_name(rng)
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
    short = _city_short(reg.name_zh)
    return [(f"{short}中心城区", f"{reg.name_en} Downtown", lon, lat),
            (f"{short}高新区", f"{reg.name_en} Hi-Tech Zone", *(float(v) for v in _offset(lon, lat, 9000, -6000))),
            (f"{short}经开区", f"{reg.name_en} Economic Zone", *(float(v) for v in _offset(lon, lat, -8000, 7000)))]


def generate_parks_buildings(seed: int = 42, region_index=None,
                             cities: Sequence[str] = DEMO_CITIES) -> tuple[list[dict], list[dict]]:
    """Parks (rotated rectangles ~1.2 × 0.9 km) with 6–14 buildings each, in the demo cities' centres.

    Building ``floor_area_m2`` 8,000–120,000. The first building of every park is a registration hub (its name ends
    with 企业服务中心 / Enterprise Service Center): many firms register there but operate elsewhere.
    Returns:
        ``(parks, buildings)`` lists of column dicts.
    """
    idx = _index(region_index)
    rng = _rng(seed, "parks")
    parks, buildings = [], []
    kinds = (("科技园", "Science Park"), ("产业园", "Industrial Park"), ("商务区", "Business District"))
    towers = (("大厦", "Tower"), ("广场", "Plaza"), ("中心", "Center"), ("科创楼", "Innovation Building"))
    for city in cities:
        geom = idx.geometry(city, "precise")
        shapely.prepare(geom)
        prov = idx.province_of(city).adcode
        for ci, (cname, cname_en, clon, clat) in enumerate(_demo_centres(idx, city)):
            for k in range(2 if city == SHOP_CITY else 3):
                plon, plat = (float(v) for v in _offset(clon, clat, rng.uniform(-2500, 2500), rng.uniform(-2500, 2500)))
                if not shapely.contains_xy(geom, plon, plat):
                    continue
                kind_zh, kind_en = kinds[k % len(kinds)]
                park_id = f"PK{city}{ci:02d}{k}"
                angle = float(rng.uniform(-20, 20))
                parks.append(dict(park_id=park_id, name=f"{cname}{kind_zh}", name_en=f"{cname_en} {kind_en}",
                                  geometry=_polygon_geojson(plon, plat, 1200, 900, angle), lon=plon, lat=plat,
                                  province_adcode=prov, city_adcode=city))
                nb = int(rng.integers(6, 15))
                for b in range(nb):
                    bx, by = _offset(plon, plat, rng.uniform(-450, 450), rng.uniform(-320, 320))
                    bx, by = float(bx), float(by)
                    if b == 0:
                        bname, bname_en = f"{cname}{kind_zh}企业服务中心", f"{cname_en} {kind_en} Enterprise Service Center"
                    else:
                        tz, te = towers[int(rng.integers(len(towers)))]
                        bname, bname_en = f"{cname}{kind_zh}{b}号{tz}", f"{cname_en} {kind_en} {te} {b}"
                    buildings.append(dict(building_id=f"B{park_id[2:]}{b:02d}", park_id=park_id, name=bname,
                                          name_en=bname_en,
                                          geometry=_polygon_geojson(bx, by, float(rng.uniform(30, 70)),
                                                                    float(rng.uniform(25, 50)), angle),
                                          lon=bx, lat=by, province_adcode=prov, city_adcode=city,
                                          floor_area_m2=float(round(rng.uniform(8_000, 120_000), -2))))
    return parks, buildings


def _credit_codes(adcodes: np.ndarray, serials: np.ndarray) -> np.ndarray:
    """Unified social credit codes (GB 32100-2015): ``91`` + 6-digit adcode + 9-digit serial + check character.

    Args:
        adcodes: (N,) 6-digit strings. serials: (N,) integers < 10⁹.
    Returns:
        (N,) object array of 18-character strings.
    """
    charset = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    ad = adcodes.astype(np.int64)
    se = np.asarray(serials, dtype=np.int64)
    weights = [pow(3, i, 31) for i in range(17)]
    total = 9 * weights[0] + 1 * weights[1]
    for k in range(6):  # adcode digits, most significant first: positions 2..7
        total = total + (ad // 10 ** (5 - k)) % 10 * weights[2 + k]
    for k in range(9):  # serial digits: positions 8..16
        total = total + (se // 10 ** (8 - k)) % 10 * weights[8 + k]
    check = (31 - total % 31) % 31
    return np.array([f"91{a:06d}{b:09d}{charset[c]}" for a, b, c in zip(ad.tolist(), se.tolist(), check.tolist())],
                    dtype=object)


@dataclass
class EnterpriseArrays:
    """Columnar enterprises (what :func:`generate_enterprises` returns): one numpy array per column."""

    enterprise_id: np.ndarray
    name: np.ndarray
    name_en: np.ndarray
    industry: np.ndarray
    reg: np.ndarray  # (N, 2) lon, lat
    reg_city: np.ndarray
    op: np.ndarray  # (N, 2)
    op_city: np.ndarray
    capital: np.ndarray
    tax: np.ndarray
    reg_building: np.ndarray  # object: str or None
    op_building: np.ndarray

    def __len__(self) -> int:
        return len(self.enterprise_id)

    def rows(self) -> Iterable[tuple]:
        """Tuples in :data:`ENTERPRISE_COLUMNS` order."""
        return zip(self.enterprise_id.tolist(), self.name.tolist(), self.name_en.tolist(), self.industry.tolist(),
                   self.reg[:, 0].round(6).tolist(), self.reg[:, 1].round(6).tolist(), self.reg_city.tolist(),
                   self.op[:, 0].round(6).tolist(), self.op[:, 1].round(6).tolist(), self.op_city.tolist(),
                   self.capital.tolist(), self.tax.tolist(), self.reg_building.tolist(), self.op_building.tolist())


ENTERPRISE_COLUMNS = ("enterprise_id", "name", "name_en", "industry", "reg_lon", "reg_lat", "reg_city_adcode",
                      "op_lon", "op_lat", "op_city_adcode", "registered_capital_wan", "tax_wan", "reg_building_id",
                      "op_building_id")


def _city_weights(idx) -> tuple[list[str], np.ndarray]:
    codes, weights = [], []
    for reg in idx.all_cities():
        prov = reg.adcode[:2] + "0000"
        if prov in ("710000", "810000", "820000"):
            continue  # mainland registry only
        w = MAJOR_CITY_WEIGHTS.get(reg.adcode)
        if w is None:
            w = 0.15 + 0.08 * PROVINCE_WEIGHTS.get(prov, 1)
        codes.append(reg.adcode)
        weights.append(w)
    return codes, np.array(weights, dtype=float)


def generate_enterprises(n: int = DEFAULT_ENTERPRISES, seed: int = 42, stations: Sequence[Any] = (),
                         buildings: Sequence[dict] = (), region_index=None) -> EnterpriseArrays:
    """``n`` enterprises nationwide (see the module docstring), sorted by id.

    Args:
        n: total number (customers of ``stations`` included).
        stations: station specs (``station_id, lon, lat, city_adcode, lifecycle``); each built one gets 2–4
            customer enterprises 0.4–2.5 km away.
        buildings: building dicts (:func:`generate_parks_buildings`); a third of the enterprises of their cities
            become tenants.
    Returns:
        :class:`EnterpriseArrays` (WGS-84 degrees, capital and tax in 万元).
    Raises:
        ValueError: ``n`` < 0.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    t0 = time.perf_counter()
    idx = _index(region_index)
    rng = _rng(seed, "enterprises")
    codes, weights = _city_weights(idx)
    built = [s for s in stations if getattr(s, "lifecycle", "built") == "built"]
    n_cust_each = rng.integers(2, 5, len(built)) if built else np.zeros(0, int)
    n_cust = int(min(n, n_cust_each.sum()))
    per_city = rng.multinomial(n - n_cust, weights / weights.sum())
    reg = np.empty((n, 2))
    reg_city = np.empty(n, dtype="U6")
    samplers: dict[str, _CitySampler] = {}

    def sampler(code: str) -> _CitySampler:
        if code not in samplers:
            k = int(per_city[codes.index(code)]) if code in codes else 0
            samplers[code] = _CitySampler(idx, code, rng, n_centres=int(np.clip(3 + k // 3000, 3, 30)))
        return samplers[code]

    pos = 0
    for code, k in zip(codes, per_city):
        if k:
            reg[pos:pos + k] = sampler(code).sample(int(k))
            reg_city[pos:pos + k] = code
            pos += int(k)
    # customers of built stations (targets of compressed-air lines)
    for st, k in zip(built, n_cust_each):
        if pos >= n:
            break
        k = int(min(k, n - pos))
        pts = sampler(st.city_adcode).near(st.lon, st.lat, k, 400, 2500)
        m = len(pts)
        reg[pos:pos + m] = pts
        reg_city[pos:pos + m] = st.city_adcode
        pos += m
    if pos < n:  # a station at a weird spot gave fewer customers: fill in its city
        reg[pos:] = sampler(codes[0]).sample(n - pos)
        reg_city[pos:] = codes[0]
    # operating address
    op = reg.copy()
    op_city = reg_city.copy()
    u = rng.random(n)
    same_city = np.flatnonzero((u >= 0.75) & (u < 0.95))
    for code in np.unique(reg_city[same_city]):
        sel = same_city[reg_city[same_city] == code]
        op[sel] = sampler(str(code)).sample(len(sel))
    other = np.flatnonzero(u >= 0.95)
    big = [c for c in MAJOR_CITY_WEIGHTS if c in codes][:12]
    by_prov: dict[str, list[str]] = {}
    for c in codes:
        by_prov.setdefault(c[:2], []).append(c)
    for i, coin, pick in zip(other.tolist(), rng.random(len(other)).tolist(), rng.random(len(other)).tolist()):
        home = reg_city[i]
        pool = [c for c in by_prov[home[:2]] if c != home]
        if not pool or coin >= 0.6:
            pool = [c for c in big if c != home]
        op_city[i] = pool[int(pick * len(pool))]
    for code in np.unique(op_city[other]):
        sel = other[op_city[other] == code]
        op[sel] = sampler(str(code)).sample(len(sel))
    # buildings: tenants in demo cities
    reg_b = np.full(n, None, dtype=object)
    op_b = np.full(n, None, dtype=object)
    by_city: dict[str, list[dict]] = {}
    for b in buildings:
        by_city.setdefault(b["city_adcode"], []).append(b)
    for code, blist in by_city.items():
        in_city = np.flatnonzero(reg_city == code)
        tenants = in_city[rng.random(len(in_city)) < 1 / 3]
        if not len(tenants):
            continue
        hubs = [i for i, b in enumerate(blist) if b["building_id"].endswith("00")]
        bw = np.array([6.0 if i in hubs else 1.0 for i in range(len(blist))])
        choice = rng.choice(len(blist), size=len(tenants), p=bw / bw.sum())
        blon = np.array([b["lon"] for b in blist])
        blat = np.array([b["lat"] for b in blist])
        jitter = rng.normal(scale=0.00012, size=(len(tenants), 2))
        reg[tenants, 0] = blon[choice] + jitter[:, 0]
        reg[tenants, 1] = blat[choice] + jitter[:, 1]
        reg_b[tenants] = [blist[c]["building_id"] for c in choice]
        # operating: hub tenants mostly operate in another building of the city; others stay
        is_hub = np.isin(choice, hubs)
        moved = np.where(is_hub & (rng.random(len(tenants)) < 0.85), rng.integers(0, len(blist), len(tenants)), choice)
        moved = np.where(np.isin(moved, hubs) & is_hub, (moved + 1) % len(blist), moved)
        keep_op = op_city[tenants] == code
        t2 = tenants[keep_op]
        m2 = moved[keep_op]
        op[t2, 0] = blon[m2] + rng.normal(scale=0.00012, size=len(t2))
        op[t2, 1] = blat[m2] + rng.normal(scale=0.00012, size=len(t2))
        op_b[t2] = [blist[c]["building_id"] for c in m2]
    # figures
    city_scale = np.ones(n)
    for code, w in MAJOR_CITY_WEIGHTS.items():
        city_scale[reg_city == code] = 1.0 + w / 10
    capital = np.clip(np.round(rng.lognormal(math.log(150), 1.6, n) * city_scale, 1), 1.0, 5_000_000.0)
    tax = np.round(capital * rng.lognormal(math.log(0.03), 1.1, n), 2)
    tax[rng.random(n) < 1 / 3] = 0.0
    # names
    ind = rng.choice(len(_INDUSTRIES), size=n, p=_INDUSTRY_P / _INDUSTRY_P.sum())
    ta = rng.integers(len(_TRADE_A), size=n)
    tb = rng.integers(len(_TRADE_B), size=n)
    form = rng.choice(len(_FORMS), size=n, p=_FORM_P)
    short = {c: _city_short(idx.region(c).name_zh) for c in np.unique(reg_city)}
    short_en = {c: idx.region(c).name_en.split(" ")[0] for c in short}
    trade_zh = [[a + b for b in _TRADE_B] for a in _TRADE_A]
    trade_en = [[_py(a + b) for b in _TRADE_B] for a in _TRADE_A]
    names = np.array([f"{short[c]}{trade_zh[a][b]}{_INDUSTRIES[i][0]}{_FORMS[f][0]}"
                      for c, a, b, i, f in zip(reg_city.tolist(), ta.tolist(), tb.tolist(), ind.tolist(),
                                               form.tolist())], dtype=object)
    names_en = np.array([f"{short_en[c]} {trade_en[a][b]} {_INDUSTRIES[i][1]} {_FORMS[f][1]}"
                         for c, a, b, i, f in zip(reg_city.tolist(), ta.tolist(), tb.tolist(), ind.tolist(),
                                                  form.tolist())], dtype=object)
    industry = np.array([x[2] for x in _INDUSTRIES], dtype=object)[ind]
    ids = _credit_codes(reg_city, rng.permutation(n) + 10_000_000)
    order = np.argsort(ids, kind="stable")
    out = EnterpriseArrays(enterprise_id=ids[order], name=names[order], name_en=names_en[order],
                           industry=industry[order], reg=reg[order], reg_city=reg_city[order].astype(object),
                           op=op[order], op_city=op_city[order].astype(object), capital=capital[order],
                           tax=tax[order], reg_building=reg_b[order], op_building=op_b[order])
    log.info("demo_city: generated %d enterprises in %.1f s", n, time.perf_counter() - t0)
    return out


def generate_cameras(stations: Sequence[Any], seed: int = 42, region_index=None,
                     cities: Sequence[str] = DEMO_CITIES) -> list[dict]:
    """1–3 cameras per built station (within ~30 m) plus street cameras: 16 around 九亭 and 4 per other street
    centre in Shanghai, 8 per centre in the other demo cities. 92 % online; all ``mjpeg`` served by this app.

    Returns:
        column dicts of :class:`Camera`.
    """
    idx = _index(region_index)
    rng = _rng(seed, "cameras")
    spots = (("机房", "Compressor Room"), ("进门", "Entrance"), ("储气罐区", "Receiver Area"))
    out = []
    for st in stations:
        if getattr(st, "lifecycle", "built") != "built":
            continue
        for k in range(int(rng.integers(1, 4))):
            x, y = _offset(st.lon, st.lat, rng.uniform(-30, 30), rng.uniform(-30, 30))
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
                x, y = _offset(clon, clat, rng.uniform(-1200, 1200), rng.uniform(-1200, 1200))
                if not shapely.contains_xy(geom, float(x), float(y)):
                    continue
                n += 1
                road = _ROAD_WORDS[int(rng.integers(len(_ROAD_WORDS)))]
                cam_id = f"CAM-{city}-{n:03d}"
                out.append(dict(camera_id=cam_id, station_id=None, name=f"{cname}·{road}路口{n:02d}",
                                name_en=f"{cname_en} · {_py(road)} Rd Junction {n:02d}", lon=round(float(x), 6),
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
    idx = _index(region_index)
    rng = _rng(seed, "pipelines")
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
                            x, y = _offset(clon, clat, rx, ry)
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
    idx = _index(region_index)
    rng = _rng(seed, "shops")
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
        pool = _ROAD_WORDS[(ci * 4) % len(_ROAD_WORDS):] + _ROAD_WORDS  # each centre has its own road names
        roads = [(pool[j] + _ROAD_SUFFIX[int(rng.integers(len(_ROAD_SUFFIX)))], axis, off)
                 for j, (axis, off) in enumerate((a, o) for a in (0, 1) for o in (np.arange(6) - 2.5) * 250.0)]
        numbers = {r[0]: 0 for r in roads}
        made = 0
        while made < k:
            road, axis, off = roads[int(rng.integers(len(roads)))]
            t = float(rng.uniform(-750, 750))
            side = 1 if rng.random() < 0.5 else -1
            dx, dy = (t, off + side * 15.0) if axis == 0 else (off + side * 15.0, t)
            x, y = (float(v) for v in _offset(clon, clat, dx, dy))
            if not shapely.contains_xy(geom, x, y):
                continue
            made += 1
            sid += 1
            numbers[road] += 1 + int(rng.integers(0, 3))
            no = numbers[road] * 2 - (1 if side > 0 else 0)
            cat = cats[int(rng.choice(len(cats), p=_SHOP_CATEGORY_P))]
            zh, en, suf_zh, suf_en = SHOP_CATEGORIES[cat]
            j = int(rng.integers(len(suf_zh)))
            brand = _BRAND[int(rng.integers(len(_BRAND)))]
            name = f"{brand}{suf_zh[j]}（{road}店）"
            name_en = f"{_py(brand)} {suf_en[j]} ({_py(road.rstrip('路街大道北南东西'))} Rd)"
            address = f"上海市{district}{road}{no}号"
            contact, _ = _person_name(rng)
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
                                        inspector=_INSPECTORS[int(rng.integers(len(_INSPECTORS)))],
                                        notes=_NOTES[rating][int(rng.integers(3))]))
            last_score = history[-1][1]
            shops.append(dict(shop_id=shop_id, name=name, name_en=name_en, address=address, contact=contact,
                              category=cat, lon=round(x, 6), lat=round(y, 6), province_adcode=prov, city_adcode=city,
                              rating=rating_for_score(last_score), integrity_score=integrity_score(history, today),
                              qr_payload=shop_qr_payload(shop_id, name, address, contact)))
    return shops, inspections


# --------------------------------------------------------------------------- live values of the pipe sensors


def pipe_sensor_values(sensor_ids: Sequence[str], nominal_mpa: Sequence[float], now_ms: int,
                       seed: int = 42) -> dict[str, float]:
    """Simulated ``pressure_mpa`` of underground pipe sensors at ``now_ms`` (epoch ms).

    Each sensor reads nominal × (0.97 … 1.03) with a slow drift; every 10 minutes one sensor in 25 (a different set
    each period, by hash) shows a leak: 55–75 % of nominal — below the 80 % alarm threshold.
    Returns:
        ``{sensor_id: MPa}`` rounded to 3 decimals (the flow meter's register resolution).
    """
    period = now_ms // 600_000
    out = {}
    for sid, nominal in zip(sensor_ids, nominal_mpa):
        h = _stable_hash(f"{seed}:{sid}")
        phase = (h % 1000) / 1000.0 * 2 * math.pi
        val = nominal * (1.0 + 0.03 * math.sin(now_ms / 90_000.0 + phase))
        if _stable_hash(f"{seed}:{sid}:{period}") % 25 == 0:
            val = nominal * (0.55 + 0.2 * ((h >> 10) % 100) / 100.0)
        out[sid] = round(val, 3)
    return out


def _stable_hash(s: str) -> int:
    """CRC-32 of a string: a hash that is the same in every process (``hash()`` is salted per process)."""
    return zlib.crc32(s.encode("utf-8"))


def publish_pipe_sensors(redis_client, engine: Engine, now_ms: int | None = None, seed: int = 42) -> int:
    """Write the simulated values of every underground pipe sensor to Redis ``cc:latest:<sensor>`` hashes, in the
    bus format (``pressure_mpa``, ``_ts_ms``, ``_online`` = ``"1"``, ``_station_id`` = ``""``, ``_error`` = ``""``;
    see :func:`datasources.bus.messages.parse_latest`). Call it from the simulator loop (e.g. every 5 s).

    Returns:
        number of sensors written.
    Raises:
        redis.exceptions.RedisError, sqlalchemy.exc.SQLAlchemyError.
    """
    from datasources.bus.messages import latest_key  # noqa: PLC0415

    now_ms = int(time.time() * 1000) if now_ms is None else int(now_ms)
    with Session(engine) as s:
        rows = s.execute(select(Pipeline.sensor_device_id, Pipeline.nominal_pressure_mpa)
                         .where(Pipeline.kind == "underground", Pipeline.sensor_device_id.is_not(None))).all()
    values = pipe_sensor_values([r[0] for r in rows], [r[1] for r in rows], now_ms, seed)
    pipe = redis_client.pipeline(transaction=False)
    for sid, v in values.items():
        pipe.hset(latest_key(sid), mapping={"pressure_mpa": f"{v:.3f}", "_ts_ms": str(now_ms), "_online": "1",
                                            "_station_id": "", "_error": ""})
    if values:
        pipe.execute()
    return len(values)


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
    idx = _index(region_index)
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
        customers = _nearest_customers(engine, stations, _rng(seed, "pipelines"))
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


# ---------------------------------------------------------------- pipe sensors as Modbus devices

#: profile model of the pipe sensors (``datasources/modbus/profiles/pipe_sensor.yaml``)
PIPE_SENSOR_MODEL = "cc-pipe-sensor"
#: unit ids per simulator port for the pipe sensors (as :data:`datasources.sim.fleet.UNITS_PER_PORT`)
PIPE_SENSOR_UNITS_PER_PORT = 48


def pipe_sensor_setpoints(engine: Engine) -> dict[str, tuple[float, float]]:
    """``{sensor_device_id: (nominal_pressure_mpa, low_pressure_mpa)}`` of every monitored pipe segment whose sensor
    is a ``PS-…`` pipe sensor (MPa gauge; ``low_pressure_mpa`` ``NULL`` in SQL = 0.8 × nominal, layers/pipelines.py).
    For the simulator (:meth:`datasources.sim.physics.FleetPhysics.set_pipe`) and the seed."""
    out: dict[str, tuple[float, float]] = {}
    with Session(engine) as s:
        rows = s.execute(select(Pipeline.sensor_device_id, Pipeline.nominal_pressure_mpa, Pipeline.low_pressure_mpa)
                         .where(Pipeline.sensor_device_id.like("PS-%"))).all()
    for sensor, nominal, low in rows:
        nominal = float(nominal)
        out[sensor] = (nominal, float(low) if low is not None else round(0.8 * nominal, 4))
    return out


def attach_pipe_sensors(engine: Engine, units_per_port: int = PIPE_SENSOR_UNITS_PER_PORT) -> int:
    """Make every ``PS-<city>-<n>`` pipe sensor of the ``pipelines`` table a Modbus device (kind ``pipe_sensor``,
    model :data:`PIPE_SENSOR_MODEL`, ``device_id`` = the sensor id, so ``cc:latest:<sensor>`` keeps feeding the
    pipelines layer) of a station, addressed on the simulator. Call it after :func:`seed_city_layers`; idempotent
    (sensors that already are devices are skipped).

    Station: the pipe's own ``station_id`` when that station is built and simulated, else the built, simulated
    station of the pipe's city nearest (great circle) to the segment's bounding-box centre; a sensor of a city
    without such a station stays unattached (logged). Air-line sensors ``<station>-FM`` already are their station's
    flow meter and are left alone. Address: the host of the station's devices, ports after the highest port used
    by any simulated device, ``units_per_port`` unit ids per port.

    Returns:
        number of devices created.
    Raises:
        ValueError: ``units_per_port`` not in 1..247.
    """
    from datasources.sql.models import Device, Station  # noqa: PLC0415

    if not 1 <= units_per_port <= 247:
        raise ValueError(f"units_per_port must be 1..247 (Modbus unit ids), got {units_per_port}")
    created = 0
    with Session(engine) as s:
        existing = set(s.scalars(select(Device.device_id).where(Device.device_id.like("PS-%"))))
        pipes = s.execute(select(Pipeline.sensor_device_id, Pipeline.station_id, Pipeline.city_adcode,
                                 Pipeline.min_lon, Pipeline.min_lat, Pipeline.max_lon, Pipeline.max_lat)
                          .where(Pipeline.sensor_device_id.like("PS-%"))
                          .order_by(Pipeline.sensor_device_id)).all()
        pipes = [p for p in pipes if p.sensor_device_id not in existing]
        if not pipes:
            return 0
        stations = s.execute(select(Station.station_id, Station.city_adcode, Station.lon, Station.lat)
                             .where(Station.lifecycle == "built", Station.simulated.is_(True))).all()
        by_city: dict[str, list] = {}
        for st in stations:
            by_city.setdefault(st.city_adcode, []).append(st)
        known = {st.station_id for st in stations}
        hosts = dict(s.execute(select(Device.station_id, func.min(Device.host)).group_by(Device.station_id)).all())
        top = s.scalar(select(func.max(Device.port)).join(Station, Station.station_id == Device.station_id)
                       .where(Station.simulated.is_(True)))
        base_port = int(top or 15019) + 1
        seen: set[str] = set()
        for p in pipes:
            if p.sensor_device_id in seen:
                continue
            seen.add(p.sensor_device_id)
            sid = p.station_id if p.station_id in known else None
            if sid is None:
                cands = by_city.get(p.city_adcode) or []
                if not cands:
                    log.warning("pipe sensor %s: no built simulated station in city %s; not attached",
                                p.sensor_device_id, p.city_adcode)
                    continue
                lon, lat = (p.min_lon + p.max_lon) / 2.0, (p.min_lat + p.max_lat) / 2.0
                sid = min(cands, key=lambda st: (haversine_m(lon, lat, st.lon, st.lat), st.station_id)).station_id
            port, unit = base_port + created // units_per_port, created % units_per_port + 1
            s.add(Device(device_id=p.sensor_device_id, station_id=sid, kind="pipe_sensor", model=PIPE_SENSOR_MODEL,
                         host=hosts.get(sid) or "127.0.0.1", port=port, unit_id=unit))
            created += 1
        s.commit()
    log.info("attached %d pipe sensor(s) as devices", created)
    return created
