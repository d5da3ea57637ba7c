"""Figures of the drill-down choropleth (seed 001 table 7): per sub-region of a scope, the stations by lifecycle
(built 已建 / under construction 在建 / idle 空闲 / maintenance 维护), the service staff and experts (and how many are
online), and the partner companies serving the region.

``figures(engine, scope)`` answers, for ``nation`` the provinces, for ``province:<adcode>`` its cities, for
``city:<adcode>`` the cities of the city's province (the boundaries the map draws) plus the city's own total::

    {"scope": "province:330000", "level": "city",
     "regions": {"330100": {"stations": 12, "built": 8, "under_construction": 2, "idle": 1, "maintenance": 1,
                            "staff": 23, "experts": 4, "staff_online": 15, "partners": 3}, …},
     "total": {…same keys, for the scope itself…}, "max_stations": 12}

Only sub-regions with at least one station, person or partner appear. ``partners`` counts the distinct partner
companies (``stations.partner``) of the region's stations plus those headquartered there (``partners`` table).
Everything comes from SQL ``GROUP BY`` queries (a few ms for 10,000 stations); results are memoised for
:data:`TTL_S` seconds per engine and scope.
"""
from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import distinct, func, select

from datasources.sql.city_models import Partner, ServicePerson
from datasources.sql.fleet_spec import LIFECYCLES
from datasources.sql.models import Station
from layers.base import Scope

TTL_S = 10.0
KEYS = ("stations", *LIFECYCLES, "staff", "experts", "staff_online", "partners")
_cache: dict[tuple[str, str], tuple[float, dict]] = {}
_lock = threading.Lock()


def _province_of(adcode: str) -> str:
    from geo.regions import get_region_index  # noqa: PLC0415

    return get_region_index().province_of(adcode).adcode


def _blank() -> dict[str, int]:
    return {k: 0 for k in KEYS}


def _group_and_filter(scope: Scope) -> tuple[str, str, str | None, str]:
    """(child level, group column, province filter or None, province adcode)"""
    if scope.level == "nation":
        return "province", "province_adcode", None, ""
    province = scope.code if scope.level == "province" else _province_of(scope.code)
    return "city", "city_adcode", province, province


def figures(engine, scope: Scope, ttl_s: float = TTL_S) -> dict[str, Any]:
    """Per-sub-region figures of ``scope`` (see the module docstring).

    Raises:
        ValueError: a station scope. KeyError: unknown adcode. sqlalchemy.exc.SQLAlchemyError: database errors.
    """
    if scope.level == "station":
        raise ValueError("region figures need a nation, province or city scope")
    key = (str(engine.url), scope.room)
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
        if hit is not None and now - hit[0] < ttl_s:
            return hit[1]
    level, col, province, _ = _group_and_filter(scope)
    regions: dict[str, dict[str, int]] = {}

    def row(code: str) -> dict[str, int]:
        return regions.setdefault(code, _blank())

    st_col = getattr(Station, col)
    sp_col = getattr(ServicePerson, col)
    pa_col = getattr(Partner, col)
    partner_sets: dict[str, set[str]] = {}
    with engine.connect() as conn:
        q = select(st_col, Station.lifecycle, func.count()).group_by(st_col, Station.lifecycle)
        if province:
            q = q.where(Station.province_adcode == province)
        for code, lifecycle, n in conn.execute(q):
            r = row(code)
            r["stations"] += int(n)
            if lifecycle in r:
                r[lifecycle] += int(n)
        q = (select(sp_col, ServicePerson.role, ServicePerson.online, func.count())
             .group_by(sp_col, ServicePerson.role, ServicePerson.online))
        if province:
            q = q.where(ServicePerson.province_adcode == province)
        for code, role, online, n in conn.execute(q):
            r = row(code)
            r["experts" if role == "expert" else "staff"] += int(n)
            if online:
                r["staff_online"] += int(n)
        q = select(st_col, Station.partner).where(Station.partner != "").group_by(st_col, Station.partner)
        if province:
            q = q.where(Station.province_adcode == province)
        for code, partner in conn.execute(q):
            partner_sets.setdefault(code, set()).add(partner)
        q = select(pa_col, Partner.name)
        if province:
            q = q.where(Partner.province_adcode == province)
        for code, partner in conn.execute(q):
            partner_sets.setdefault(code, set()).add(partner)
        # the scope's own partner count is not the sum of its children's (a partner serves several regions)
        total_partners_q = select(func.count(distinct(Station.partner))).where(Station.partner != "")
        if scope.level == "province":
            total_partners_q = total_partners_q.where(Station.province_adcode == scope.code)
        elif scope.level == "city":
            total_partners_q = total_partners_q.where(Station.city_adcode == scope.code)
        station_partners = int(conn.execute(total_partners_q).scalar() or 0)
    for code, names in partner_sets.items():
        row(code)["partners"] = len(names)
    if scope.level == "city":
        total = dict(regions.get(scope.code) or _blank())
    else:
        total = _blank()
        for r in regions.values():
            for k in KEYS:
                if k != "partners":
                    total[k] += r[k]
        all_names: set[str] = set()
        for names in partner_sets.values():
            all_names |= names
        total["partners"] = max(len(all_names), station_partners)
    out = {"scope": scope.room, "level": level, "regions": regions, "total": total,
           "max_stations": max((r["stations"] for r in regions.values()), default=0)}
    with _lock:
        _cache[key] = (now, out)
    return out


def clear_cache() -> None:
    """Forget memoised figures (after an import of stations, in tests)."""
    with _lock:
        _cache.clear()
