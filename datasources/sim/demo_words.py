"""Shared pieces of the demo generators (:mod:`datasources.sim.demo_city`, :mod:`datasources.sim.demo_enterprises`):
sizes and demo cities, city centres and weights, Chinese name pools, per-group random streams and point sampling
inside a city's precise boundary (WGS-84, EPSG:4326; distances in metres with a local flat approximation)."""
from __future__ import annotations

import json
import math
from functools import lru_cache

import numpy as np
import shapely

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
SHOP_CATEGORY_P = (0.30, 0.14, 0.10, 0.08, 0.10, 0.04, 0.07, 0.09, 0.04, 0.04)
BRAND = ("老王", "佳美", "鑫源", "福记", "阿强", "小李", "金牌", "好运", "顺发", "老街", "晨光", "惠民",
          "百味", "同心", "新风", "正宗", "红星", "东方", "大众", "乐家", "和记", "万家", "兴旺", "永康", "美佳",
          "一品", "聚福", "春晓", "明珠", "天天")
ROAD_WORDS = ("沪亭", "九亭", "涞寅", "易富", "虬泾", "伴亭", "连富", "颐景", "九新", "淞沪", "新凯", "华亭",
               "淮海", "南京", "西藏", "漕溪", "肇嘉浜", "国权", "政通", "世纪", "东方", "银城", "人民", "中山",
               "荣乐", "谷阳", "沪松", "春申", "七莘", "博乐", "城中", "叶城", "陈翔", "嘉松")
ROAD_SUFFIX = ("路", "街", "北路", "南路", "东路", "西路", "大道")
SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何",
             "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹")
GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
          "秀英", "霞", "平", "刚", "桂英", "建华", "志强", "海燕", "晓东", "文博", "子涵", "浩然", "雨桐")
INSPECTORS = ("城管队员 周明", "城管队员 徐磊", "市场监管 陈静", "市场监管 孙浩", "街道网格员 王芳", "街道网格员 李强",
               "环卫督导 张伟", "环卫督导 刘娜")
NOTES = {"A": ("门前三包落实到位", "垃圾分类投放规范", "证照齐全、环境整洁"),
          "B": ("门前偶有杂物，已当场整改", "分类投放基本规范", "油烟净化设施待清洗"),
          "C": ("垃圾分类投放不规范", "门前堆物，责令整改", "占道经营，已劝导"),
          "D": ("拒不整改，已立案", "违规倾倒垃圾", "无证经营嫌疑，已移交")}
#: enterprise trade-name characters (two are combined) and industries: (zh, en)
TRADE_A = ("华", "中", "新", "金", "东", "恒", "宏", "永", "天", "盛", "鑫", "汇", "嘉", "德", "瑞", "隆", "泰",
            "福", "安", "广", "博", "联", "科", "创", "海", "信", "达", "通", "宇", "星", "正", "明", "润", "晨",
            "弘", "锦", "丰", "顺", "佳", "远")
TRADE_B = ("信", "源", "达", "通", "诚", "业", "利", "兴", "祥", "宇", "泰", "丰", "盛", "和", "力", "电", "光",
            "美", "辉", "捷", "邦", "润", "峰", "图", "智", "禾", "为", "川", "阳", "誉", "拓", "赢", "策", "程",
            "芯", "能", "材", "仪", "机", "动")
INDUSTRIES = (("科技", "Technology", "technology"), ("贸易", "Trading", "trade"), ("机械", "Machinery", "machinery"),
               ("电子", "Electronics", "electronics"), ("建设工程", "Construction", "construction"),
               ("物流", "Logistics", "logistics"), ("新材料", "New Materials", "materials"),
               ("生物医药", "Biopharma", "biopharma"), ("信息技术", "Information Technology", "it"),
               ("食品", "Foods", "food"), ("纺织", "Textiles", "textile"), ("化工", "Chemicals", "chemical"),
               ("汽车零部件", "Auto Parts", "auto_parts"), ("精密制造", "Precision Manufacturing", "manufacturing"),
               ("能源", "Energy", "energy"), ("咨询", "Consulting", "consulting"), ("文化传媒", "Media", "media"),
               ("餐饮管理", "Catering Management", "catering"), ("环保", "Environmental", "environment"),
               ("金属制品", "Metal Products", "metal"))
INDUSTRY_P = np.array([14, 12, 8, 7, 7, 6, 4, 3, 8, 4, 3, 3, 4, 4, 2, 4, 3, 2, 1, 1], dtype=float)
FORMS = (("有限公司", "Co., Ltd."), ("股份有限公司", "Corp."), ("有限责任公司", "Co., Ltd."))
FORM_P = (0.85, 0.05, 0.10)

GROUP = {"people": 1, "parks": 2, "enterprises": 3, "cameras": 4, "pipelines": 5, "shops": 6}


def group_rng(seed: int, group: str) -> np.random.Generator:
    """The random stream of one demo group (:data:`GROUP`): ``default_rng([seed, group number])``."""
    return np.random.default_rng([int(seed), GROUP[group]])


@lru_cache(maxsize=4096)
def pinyin_title(han: str) -> str:
    """Capitalised pinyin of a Chinese word (``"华信"`` → ``"Huaxin"``); the word itself if pypinyin is missing."""
    try:
        from pypinyin import lazy_pinyin  # noqa: PLC0415
    except ImportError:  # pragma: no cover - pypinyin is a runtime dependency
        return han
    s = "".join(lazy_pinyin(han, v_to_u=True)).replace("ü", "u")
    return s[:1].upper() + s[1:]


def city_short(name_zh: str) -> str:
    """A city name without its administrative suffix (``"苏州市"`` → ``"苏州"``)."""
    for suf in ("市", "地区", "盟", "自治州"):
        if name_zh.endswith(suf) and len(name_zh) > len(suf) + 1:
            return name_zh[: -len(suf)]
    return name_zh


def person_name(rng: np.random.Generator) -> tuple[str, str]:
    """A random Chinese name and its pinyin (given name first): ``("王伟", "Wei Wang")``."""
    s = SURNAMES[int(rng.integers(len(SURNAMES)))]
    g = GIVEN[int(rng.integers(len(GIVEN)))]
    return s + g, f"{pinyin_title(g)} {pinyin_title(s)}"


def region_index_or_default(region_index):
    """``region_index``, or the process-wide :func:`geo.regions.get_region_index` when ``None``."""
    if region_index is not None:
        return region_index
    from geo.regions import get_region_index  # noqa: PLC0415 — heavy, only when generating

    return get_region_index()


# --------------------------------------------------------------------------- point sampling inside a city


class CitySampler:
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


def offset_m(lon: float, lat: float, dx_m, dy_m):
    """Points dx/dy metres east/north of (lon, lat) (local flat approximation)."""
    return (lon + np.asarray(dx_m) / (111_320.0 * math.cos(math.radians(lat))),
            lat + np.asarray(dy_m) / 110_574.0)


def rect_polygon_geojson(lon: float, lat: float, w_m: float, h_m: float, angle_deg: float) -> str:
    """GeoJSON Polygon text of a ``w_m`` × ``h_m`` rectangle centred on (lon, lat), rotated by ``angle_deg``."""
    a = math.radians(angle_deg)
    corners = [(-w_m / 2, -h_m / 2), (w_m / 2, -h_m / 2), (w_m / 2, h_m / 2), (-w_m / 2, h_m / 2), (-w_m / 2, -h_m / 2)]
    ring = []
    for cx, cy in corners:
        rx, ry = cx * math.cos(a) - cy * math.sin(a), cx * math.sin(a) + cy * math.cos(a)
        x, y = offset_m(lon, lat, rx, ry)
        ring.append([round(float(x), 6), round(float(y), 6)])
    return json.dumps({"type": "Polygon", "coordinates": [ring]}, separators=(",", ":"))


