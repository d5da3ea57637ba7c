"""Place search for the map's search box (seed 004: "GIS with place search and location"): regions, stations, shops
and enterprises by name — Chinese, or English / pinyin where stored (``name_en``) — and by exact id.

Ranking: exact match > prefix match > substring match; then kind (region, station, shop, enterprise); then shorter
names first, then by name. At most ``limit`` results.

Speed on 1,000,000 enterprises: exact and prefix matches use indexes (``ix_enterprises_name``,
``ix_enterprises_name_en_lower``; on SQLite a prefix is a binary range ``name >= q AND name < q⁺``, on PostgreSQL
``LIKE 'q%'`` on ``text_pattern_ops`` indexes), ~1 ms. A substring match scans the table (``instr`` / ``LIKE``;
on PostgreSQL under the byte-wise "C" collation) and stops at ``limit`` hits: ~10 ms for common words; a rare word
scans everything (~170 ms on SQLite, ~200 ms on PostgreSQL, 2-core VM), so the scan also has a time budget
(:data:`SCAN_BUDGET_MS`, then the hits found so far are returned); it is skipped when the indexed passes already
filled ``limit``. Whole searches measured on 1,000,000 enterprises: 8–30 ms when an indexed pass fills the list,
≤ 220 ms otherwise. Positions are WGS-84.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Sequence

from sqlalchemy import Engine, and_, func, select
from sqlalchemy.exc import DBAPIError

from datasources.sql.city_models import Enterprise, Shop, province_range
from datasources.sql.models import Station

__all__ = ["KINDS", "ZOOM_HINTS", "SearchResult", "search", "normalize_query"]

#: kinds searched, in ranking order
KINDS = ("region", "station", "shop", "enterprise")
#: suggested map zoom when jumping to a result (Leaflet zoom levels)
ZOOM_HINTS = {"province": 7, "city": 10, "station": 15, "shop": 18, "enterprise": 17}
MAX_QUERY = 64
#: time budget of a substring scan of the enterprises, ms (seed 001 §6: a single operation < 1 s)
SCAN_BUDGET_MS = 400
_MATCH_RANK = {"exact": 0, "prefix": 1, "substring": 2}


@dataclass(frozen=True)
class SearchResult:
    """One hit.

    Attributes:
        kind: ``region`` | ``station`` | ``shop`` | ``enterprise``.
        id: adcode, station id, shop id or enterprise id (credit code).
        name, name_en: display names (``name_en`` may be empty).
        lon, lat: WGS-84 degrees (a region's label point; an enterprise's operating address).
        zoom: suggested Leaflet zoom (:data:`ZOOM_HINTS`).
        match: ``exact`` | ``prefix`` | ``substring``.
        city_adcode: the city of the hit (``None`` for provinces).
    """

    kind: str
    id: str
    name: str
    name_en: str
    lon: float
    lat: float
    zoom: int
    match: str
    city_adcode: str | None = None

    def to_dict(self) -> dict:
        """JSON-ready dict of the fields."""
        return asdict(self)


def normalize_query(q: str) -> str:
    """Trim, collapse white space, cut to :data:`MAX_QUERY` characters."""
    return re.sub(r"\s+", " ", str(q or "")).strip()[:MAX_QUERY]


def _escape_like(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _next_prefix(s: str) -> str:
    """Smallest string greater than every string starting with ``s`` (binary / code-point order)."""
    return s[:-1] + chr(ord(s[-1]) + 1)


def _prefix(expr, q: str, dialect: str):
    if dialect == "sqlite":
        return and_(expr >= q, expr < _next_prefix(q))
    return expr.like(_escape_like(q) + "%", escape="\\")


def _substring(col, q: str, ascii_q: bool, dialect: str):
    if dialect == "sqlite":  # LIKE is already ASCII-case-insensitive; instr() is the fastest scan for CJK
        return col.like("%" + _escape_like(q) + "%", escape="\\") if ascii_q else func.instr(col, q) > 0
    # PostgreSQL: byte-wise "C" collation (lower() and LIKE then skip the locale's rules: ~2× faster scans)
    expr = func.lower(col.collate("C")) if ascii_q else col.collate("C")
    return expr.like("%" + _escape_like(q.lower() if ascii_q else q) + "%", escape="\\")


class _Budget:
    """Abort a scan after ``ms`` milliseconds (SQLite progress handler / PostgreSQL ``statement_timeout``); rows
    fetched before the deadline are kept."""

    def __init__(self, conn, ms: int):
        self.conn, self.ms = conn, int(ms)

    def __enter__(self):
        if self.conn.dialect.name == "sqlite":
            import time  # noqa: PLC0415

            deadline = time.monotonic() + self.ms / 1000.0
            raw = self.conn.connection.driver_connection
            raw.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 20_000)
        elif self.conn.dialect.name == "postgresql":
            self.conn.exec_driver_sql(f"SET LOCAL statement_timeout = {self.ms}")
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.conn.dialect.name == "sqlite":
            self.conn.connection.driver_connection.set_progress_handler(None, 0)
        elif self.conn.dialect.name == "postgresql":
            self.conn.rollback()  # ends the SET LOCAL (and a cancelled statement's aborted transaction)
        return False


def _rank(r: SearchResult) -> tuple:
    return (_MATCH_RANK[r.match], KINDS.index(r.kind), len(r.name), r.name, r.id)


def _table_search(conn, kind: str, q: str, ascii_q: bool, limit: int, scope: str | None, dialect: str,
                  skip_substring: bool) -> list[SearchResult]:
    if kind == "station":
        t = Station
        cols = (t.station_id, t.name, t.name_en, t.lon, t.lat, t.city_adcode)
        id_col, city_col, prov_col = t.station_id, t.city_adcode, t.province_adcode
    elif kind == "shop":
        t = Shop
        cols = (t.shop_id, t.name, t.name_en, t.lon, t.lat, t.city_adcode)
        id_col, city_col, prov_col = t.shop_id, t.city_adcode, t.province_adcode
    else:
        t = Enterprise
        cols = (t.enterprise_id, t.name, t.name_en, t.op_lon, t.op_lat, t.op_city_adcode)
        id_col, city_col, prov_col = t.enterprise_id, t.op_city_adcode, None
    where_scope = None
    if scope:
        if scope.endswith("0000"):
            lo, hi = province_range(scope)
            where_scope = prov_col == scope if prov_col is not None else and_(city_col >= lo, city_col <= hi)
        else:
            where_scope = city_col == scope
    name_expr = func.lower(t.name_en) if ascii_q else t.name
    qq = q.lower() if ascii_q else q
    # two exact passes: an OR of the name and id would defeat SQLite's expression index
    passes = [("exact", id_col == q), ("exact", name_expr == qq), ("prefix", _prefix(name_expr, qq, dialect))]
    if not skip_substring:
        passes.append(("substring", _substring(t.name_en if ascii_q else t.name, q, ascii_q, dialect)))
    out: list[SearchResult] = []
    seen: set[str] = set()
    for match, cond in passes:
        stmt = select(*cols).where(cond)
        if where_scope is not None:
            stmt = stmt.where(where_scope)
        rows = []
        if match == "substring" and kind == "enterprise":
            try:
                with _Budget(conn, SCAN_BUDGET_MS):
                    for row in conn.execute(stmt.limit(limit)):
                        rows.append(row)
            except DBAPIError:  # the scan ran out of time: keep what it found
                pass
        else:
            rows = conn.execute(stmt.limit(limit)).all()
        for rid, name, name_en, lon, lat, city in rows:
            if rid in seen:
                continue
            seen.add(rid)
            out.append(SearchResult(kind, rid, name, name_en or "", float(lon), float(lat), ZOOM_HINTS[kind], match,
                                    city))
        if len(out) >= limit and match != "exact":
            break
    return out


def _region_search(q: str, ascii_q: bool, limit: int, scope: str | None, region_index) -> list[SearchResult]:
    if region_index is None:
        from geo.regions import get_region_index  # noqa: PLC0415

        region_index = get_region_index()
    regions = region_index.provinces() + region_index.all_cities()
    seen: set[str] = set()
    out = []
    ql = q.lower()
    for r in regions:
        if r.adcode in seen:
            continue
        if scope and not (r.adcode == scope or (scope.endswith("0000") and r.adcode[:2] == scope[:2])):
            continue
        names = [r.name_en.lower()] if ascii_q else [r.name_zh, re.sub(r"(市|省|自治区|特别行政区|地区|盟)$", "", r.name_zh)]
        match = None
        if q == r.adcode or any(n == ql or n == q for n in names):
            match = "exact"
        elif any(n.startswith(ql if ascii_q else q) for n in names):
            match = "prefix"
        elif any((ql if ascii_q else q) in n for n in names):
            match = "substring"
        if match:
            seen.add(r.adcode)
            out.append(SearchResult("region", r.adcode, r.name_zh, r.name_en, r.lon, r.lat, ZOOM_HINTS[r.level], match,
                                    None if r.level == "province" else r.adcode))
    # a municipality's province and its single city share the name: keep the city (the scope with street layers)
    city_names = {r.name for r in out if r.zoom == ZOOM_HINTS["city"]}
    out = [r for r in out if not (r.zoom == ZOOM_HINTS["province"] and r.name in city_names)]
    out.sort(key=_rank)
    return out[:limit]


def search(engine: Engine, query: str, *, limit: int = 20, kinds: Sequence[str] = KINDS,
           scope_adcode: str | None = None, region_index=None) -> list[SearchResult]:
    """Search names (and exact ids) across regions, stations, shops and enterprises.

    Args:
        engine: the database (migrated ≥ 0004).
        query: text; Chinese matches ``name``, plain ASCII matches ``name_en`` case-insensitively (English names /
            pinyin as stored) and ids exactly. Normalised by :func:`normalize_query`; empty → ``[]``.
        limit: most results returned (1–200).
        kinds: subset of :data:`KINDS`.
        scope_adcode: restrict to a province (``xx0000``) or city adcode (enterprises by operating address).
    Returns:
        ranked :class:`SearchResult` list (see the module docstring).
    Raises:
        ValueError: unknown kind or limit out of range.
    """
    q = normalize_query(query)
    if not 1 <= int(limit) <= 200:
        raise ValueError(f"limit must be within 1..200, got {limit}")
    bad = set(kinds) - set(KINDS)
    if bad:
        raise ValueError(f"unknown kinds {sorted(bad)}; expected a subset of {KINDS}")
    if not q:
        return []
    ascii_q = q.isascii()
    results: list[SearchResult] = []
    if "region" in kinds:
        results += _region_search(q, ascii_q, limit, scope_adcode, region_index)
    table_kinds = [k for k in KINDS[1:] if k in kinds]
    if table_kinds:
        with engine.connect() as conn:
            dialect = conn.dialect.name
            for kind in table_kinds:
                # a substring scan of 1M enterprises only when the better matches did not fill the list
                good = sum(1 for r in results if r.match != "substring")
                results += _table_search(conn, kind, q, ascii_q, limit, scope_adcode, dialect,
                                         skip_substring=kind == "enterprise" and good >= limit)
    results.sort(key=_rank)
    return results[:limit]
