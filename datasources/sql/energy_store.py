"""Energy rollup tables, read side: the trend / ranking / baseline queries of the air-to-power ratio (气电比, seed 001
table 7 "气电趋势图: 气电比、跟以前对比") and the compressor KPIs; the bulk writes are :mod:`datasources.sql.rollup_writes`.

Tables are described in :mod:`datasources.sql.energy_models`. Every aggregation here is Σair / Σenergy computed in the
database (``SUM … GROUP BY`` over the hour or day rollups, restricted to the scope's stations with
``station_id IN (SELECT station_id FROM stations WHERE …)`` so both databases seek each station's key range), never
a mean of ratios (:mod:`ops.energy`). Performance (``bench/bench_trends.py``, 1,000 stations, two years of hourly
rows): a province-year at hourly granularity with both comparisons ≈ 1 s, a nation-year daily ≈ 0.3 s, on SQLite
and PostgreSQL — seed 001 §6 allows 3 s for a complex query.

Time zone: buckets are **China Standard Time** (CST, UTC+8): a day is 00:00–24:00 CST, a week starts Monday
00:00 CST (ISO), a month is a CST calendar month. Hour series read ``energy_station_hour`` (hour boundaries are the
same in UTC and CST); day, week and month series read ``energy_station_day`` and group by its stored keys
(``bucket_ts``, ``week_ts``, ``month``), so no database date function is needed and SQLite and PostgreSQL give the
same answer. All arguments and results are timezone-aware datetimes (results in CST); naive datetimes are rejected.

Scopes (DESIGN.md rooms): ``"nation"``, ``"province:<adcode>"``, ``"city:<adcode>"``, ``"station:<station_id>"``;
a bare 6-digit adcode is read as a province (``xx0000``) or a city (``xxxx00``), any other bare string as a station id.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Sequence

from sqlalchemy import Engine, case, func, select

from datasources.sql.energy_models import DEVICE_TABLES, STATION_TABLES
from datasources.sql.models import Device, Station
from geo.scope import Scope
from ops.energy import (CST, ILLUSTRATIVE_GB19153_TABLE, Degradation, GradeLimits, GradeResult, air_to_power_ratio,
                        bucket_start, grade_compressor, load_ratio, next_bucket, ratio_degradation, shift_years,
                        specific_power_from_ratio)

# ------------------------------------------------------------------------------------------------------- scopes
# one Scope for the whole project (:class:`geo.scope.Scope`); the queries below also accept its shorthand forms (a bare
# adcode, a bare station id: ``Scope.parse(..., shorthand=True)``)

def _scoped(stmt, table, scope: Scope):
    """Restrict a select over a rollup ``table`` to ``scope``: ``station_id = :id`` for a station, else
    ``station_id IN (SELECT station_id FROM stations [WHERE province_adcode | city_adcode = :code])`` — every level
    counts the same stations (those in the fleet), and both databases seek each station's primary-key range
    (``(station_id, bucket_ts)``) instead of scanning the table."""
    if scope.level == "station":
        return stmt.where(table.c.station_id == scope.code)
    st = Station.__table__
    sub = select(st.c.station_id)
    if scope.level == "province":
        sub = sub.where(st.c.province_adcode == scope.code)
    elif scope.level == "city":
        sub = sub.where(st.c.city_adcode == scope.code)
    return stmt.where(table.c.station_id.in_(sub))


def _station_info(conn, station_ids) -> dict[str, tuple[str, str, str]]:
    """``{station_id: (name, province_adcode, city_adcode)}``."""
    st = Station.__table__
    ids = list(station_ids)
    out = {}
    for i in range(0, len(ids), 500):
        for sid, name, prov, city in conn.execute(select(st.c.station_id, st.c.name, st.c.province_adcode,
                                                         st.c.city_adcode).where(st.c.station_id.in_(ids[i:i + 500]))):
            out[sid] = (name, prov, city)
    return out


def _check_dt(name: str, value: datetime) -> int:
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (e.g. tzinfo=ops.energy.CST); got naive {value}")
    return int(value.timestamp())


def _cst(ts_s: int) -> datetime:
    return datetime.fromtimestamp(ts_s, CST)


# ------------------------------------------------------------------------------------------------------- series

TREND_GRANULARITIES = ("hour", "day", "week", "month")


def _align(start_s: int, end_s: int, granularity: str) -> tuple[int, int]:
    a = bucket_start(start_s, granularity)
    b = bucket_start(end_s, granularity)
    if b < end_s:
        b = next_bucket(b, granularity)
    return a, b


def _buckets(a: int, b: int, granularity: str) -> list[int]:
    out = []
    t = a
    while t < b:
        out.append(t)
        t = next_bucket(t, granularity)
    return out


def _month_start(yyyymm: int) -> int:
    return int(datetime(yyyymm // 100, yyyymm % 100, 1, tzinfo=CST).timestamp())


def _series_query(conn, scope: Scope, granularity: str, ranges: list[tuple[int, int]]) -> dict[int, tuple]:
    """``{bucket_start_s: (air_m3, energy_kwh, reports)}`` for the union of ``ranges`` (aligned to the granularity)."""
    if granularity == "hour":
        t = STATION_TABLES["hour"].__table__
        key = t.c.bucket_ts
    else:
        t = STATION_TABLES["day"].__table__
        key = {"day": t.c.bucket_ts, "week": t.c.week_ts, "month": t.c.month}[granularity]
    out: dict[int, tuple] = {}
    for a, b in ranges:
        stmt = select(key.label("k"), func.sum(t.c.air_m3), func.sum(t.c.energy_kwh), func.count()).select_from(t)
        stmt = _scoped(stmt, t, scope).where(t.c.bucket_ts >= a, t.c.bucket_ts < b).group_by(key)
        for k, air, energy, n in conn.execute(stmt):
            k = _month_start(int(k)) if granularity == "month" else int(k)
            out[k] = (float(air or 0.0), float(energy or 0.0), int(n))
    return out


def _merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for a, b in sorted(r for r in ranges if r[1] > r[0]):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def ratio_series(engine: Engine, scope: "str | Scope", start: datetime, end: datetime,
                 granularity: str = "day") -> list[dict]:
    """The air-to-power ratio per bucket over ``[start, end)``, aggregated in SQL as Σair/Σenergy.

    Args:
        scope: see :class:`Scope`.
        start, end: timezone-aware datetimes; widened to whole buckets (start floored, end ceiled) of CST.
        granularity: ``hour`` (reads hour rollups) | ``day`` | ``week`` (ISO, Monday) | ``month`` (day rollups).
    Returns:
        one dict per bucket in time order, **including buckets without data** (``air_m3``/``energy_kwh``/``ratio``
        ``None``): ``{"start": datetime CST, "air_m3": m³, "energy_kwh": kWh, "ratio": m³/kWh,
        "specific_power": kW/(m³/min), "reports": rollup rows aggregated — station-hours for
        ``hour``, station-days otherwise}``.
    Raises:
        ValueError: naive datetimes, ``end <= start``, unknown granularity or scope.
    """
    return [{"start": p.start, "air_m3": p.air_m3, "energy_kwh": p.energy_kwh, "ratio": p.ratio,
             "specific_power": p.specific_power, "reports": p.reports}
            for p in ratio_trend(engine, scope, start, end, granularity, compare=False).points]


@dataclass
class TrendPoint:
    """One bucket of a :class:`Trend`, with its comparison buckets.

    Attributes:
        start: bucket start, CST. ``air_m3`` (m³), ``energy_kwh`` (kWh), ``ratio`` (m³/kWh, Σair/Σenergy),
        ``specific_power`` (kW/(m³/min) = 60/ratio), ``reports`` (rollup rows aggregated: station-hours for
        ``hour``, station-days otherwise; 0 = no data, values None).
        prev_*: the same-index bucket of the previous period (环比); yoy_*: the bucket a year before (同比).
    """

    start: datetime
    air_m3: float | None
    energy_kwh: float | None
    ratio: float | None
    specific_power: float | None
    reports: int
    prev_start: datetime | None = None
    prev_air_m3: float | None = None
    prev_energy_kwh: float | None = None
    prev_ratio: float | None = None
    yoy_start: datetime | None = None
    yoy_air_m3: float | None = None
    yoy_energy_kwh: float | None = None
    yoy_ratio: float | None = None

    @property
    def vs_prev_pct(self) -> float | None:
        """Ratio change against the previous period, % (positive = better)."""
        return _pct(self.ratio, self.prev_ratio)

    @property
    def vs_yoy_pct(self) -> float | None:
        """Ratio change against a year before, % (positive = better)."""
        return _pct(self.ratio, self.yoy_ratio)


def _pct(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return (a - b) / b * 100.0


@dataclass
class Trend:
    """Result of :func:`ratio_trend`.

    Attributes:
        scope, granularity: as asked. ``start``/``end``: the aligned range, CST datetimes, end exclusive.
        prev_start/prev_end, yoy_start/yoy_end: the comparison ranges (``None`` without comparison).
        points: one :class:`TrendPoint` per bucket.
        air_m3, energy_kwh, ratio: totals of the range (Σ/Σ); ``prev_*`` / ``yoy_*`` the same for the comparisons.
        query_s: database time of the queries, s.
    """

    scope: Scope
    granularity: str
    start: datetime
    end: datetime
    points: list[TrendPoint]
    prev_start: datetime | None = None
    prev_end: datetime | None = None
    yoy_start: datetime | None = None
    yoy_end: datetime | None = None
    air_m3: float = 0.0
    energy_kwh: float = 0.0
    prev_air_m3: float = 0.0
    prev_energy_kwh: float = 0.0
    yoy_air_m3: float = 0.0
    yoy_energy_kwh: float = 0.0
    query_s: float = 0.0

    @property
    def ratio(self) -> float | None:
        """Σair/Σenergy over the range, m³/kWh."""
        return air_to_power_ratio(self.air_m3, self.energy_kwh)

    @property
    def prev_ratio(self) -> float | None:
        """Σair/Σenergy over the previous period, m³/kWh."""
        return air_to_power_ratio(self.prev_air_m3, self.prev_energy_kwh)

    @property
    def yoy_ratio(self) -> float | None:
        """Σair/Σenergy over the year-ago period, m³/kWh."""
        return air_to_power_ratio(self.yoy_air_m3, self.yoy_energy_kwh)

    def to_frame(self):
        """The points as a ``pandas.DataFrame`` indexed by bucket start (CST), one column per field plus
        ``vs_prev_pct`` and ``vs_yoy_pct``."""
        import pandas as pd  # noqa: PLC0415

        recs = [asdict(p) | {"vs_prev_pct": p.vs_prev_pct, "vs_yoy_pct": p.vs_yoy_pct} for p in self.points]
        frame = pd.DataFrame.from_records(recs, columns=list(TrendPoint.__dataclass_fields__)
                                          + ["vs_prev_pct", "vs_yoy_pct"])
        return frame.set_index("start")


def comparison_starts(buckets: list[int], granularity: str) -> tuple[list[int], list[int]]:
    """Bucket starts of the previous period and of a year before, aligned index by index with ``buckets``.

    * previous period (环比): the same number of buckets immediately before (months: calendar months);
    * a year before (同比): ``hour``/``day`` the same CST calendar date and time a year earlier (29 Feb → 28 Feb);
      ``week`` 52 weeks earlier (same ISO weekday alignment); ``month`` the same month a year earlier.

    Args/returns: epoch seconds UTC.
    """
    n = len(buckets)
    if not n:
        return [], []
    prev = [next_bucket(b, granularity, -n) for b in buckets] if granularity == "month" else \
        [b - (next_bucket(buckets[-1], granularity) - buckets[0]) for b in buckets]
    if granularity == "week":
        yoy = [b - 364 * 86400 for b in buckets]
    elif granularity == "month":
        yoy = [next_bucket(b, "month", -12) for b in buckets]
    else:
        yoy = [shift_years(b, -1) for b in buckets]
    return prev, yoy


def ratio_trend(engine: Engine, scope: "str | Scope", start: datetime, end: datetime, granularity: str = "day",
                compare: bool = True) -> Trend:
    """气电趋势: the air-to-power ratio series of a scope beside the previous period and the same period a year
    before (seed 001 table 7, "气电比、跟以前对比"), aligned bucket by bucket (:func:`comparison_starts`).

    All aggregation is ``SUM(air_m3)``, ``SUM(energy_kwh)`` ``GROUP BY`` bucket in the database over the hour
    rollups (``hour``) or the day rollups (``day``/``week``/``month`` by the stored CST keys), joined to
    ``stations`` for province / city / nation scopes; ratios are Σair/Σenergy per bucket. Overlapping ranges (e.g.
    a one-year range's previous period and year-ago period) are read once.

    Args:
        engine: SQLite or PostgreSQL engine migrated to ≥ 0002.
        scope: :class:`Scope` or its string form.
        start, end: timezone-aware; widened to whole CST buckets; end exclusive.
        granularity: ``hour`` | ``day`` | ``week`` | ``month``.
        compare: also fetch the previous period and the year-ago period.
    Returns:
        a :class:`Trend` (points in time order; buckets without rows have ``reports == 0`` and ``None`` values).
    Raises:
        ValueError: naive datetimes, ``end <= start``, unknown granularity or scope.
    """
    sc = Scope.parse(scope, shorthand=True)
    if granularity not in TREND_GRANULARITIES:
        raise ValueError(f"granularity must be one of {TREND_GRANULARITIES}, not {granularity!r}")
    s, e = _check_dt("start", start), _check_dt("end", end)
    if e <= s:
        raise ValueError(f"end {end} must be after start {start}")
    a, b = _align(s, e, granularity)
    buckets = _buckets(a, b, granularity)
    prev, yoy = comparison_starts(buckets, granularity) if compare else ([], [])
    ranges = [(a, b)]
    if compare:
        ranges.append((prev[0], a))
        ranges.append((yoy[0], next_bucket(yoy[-1], granularity)))
    t0 = time.perf_counter()
    with engine.connect() as conn:
        data = _series_query(conn, sc, granularity, _merge_ranges(ranges))
    query_s = time.perf_counter() - t0

    trend = Trend(sc, granularity, _cst(a), _cst(b), [], query_s=query_s)
    if compare:
        trend.prev_start, trend.prev_end = _cst(prev[0]), _cst(a)
        trend.yoy_start, trend.yoy_end = _cst(yoy[0]), _cst(next_bucket(yoy[-1], granularity))
    empty = (None, None, 0)
    seen_prev: set[int] = set()
    seen_yoy: set[int] = set()
    for i, k in enumerate(buckets):
        air, energy, n = data.get(k, empty)
        ratio = air_to_power_ratio(air, energy)
        p = TrendPoint(_cst(k), air, energy, ratio, specific_power_from_ratio(ratio), n)
        if n:
            trend.air_m3 += air
            trend.energy_kwh += energy
        if compare:
            pa, pe, pn = data.get(prev[i], empty)
            p.prev_start, p.prev_air_m3, p.prev_energy_kwh = _cst(prev[i]), pa, pe
            p.prev_ratio = air_to_power_ratio(pa, pe)
            ya, ye, yn = data.get(yoy[i], empty)
            p.yoy_start, p.yoy_air_m3, p.yoy_energy_kwh = _cst(yoy[i]), ya, ye
            p.yoy_ratio = air_to_power_ratio(ya, ye)
            if pn and prev[i] not in seen_prev:
                seen_prev.add(prev[i])
                trend.prev_air_m3 += pa
                trend.prev_energy_kwh += pe
            if yn and yoy[i] not in seen_yoy:       # 29 Feb maps onto 28 Feb: count that bucket once
                seen_yoy.add(yoy[i])
                trend.yoy_air_m3 += ya
                trend.yoy_energy_kwh += ye
        trend.points.append(p)
    return trend


# ------------------------------------------------------------------------------------------ ranking, breakdown

@dataclass
class StationRatio:
    """A station's totals over a range. ``ratio`` m³/kWh (Σair/Σenergy), ``specific_power`` kW/(m³/min),
    ``rank`` 1 = best ratio; ``air_m3`` m³, ``energy_kwh`` kWh."""

    station_id: str
    name: str
    province_adcode: str
    city_adcode: str
    air_m3: float
    energy_kwh: float
    ratio: float | None
    specific_power: float | None
    rank: int = 0


def _range_table(s: int, e: int):
    """Day rollups when the range is whole CST days, else hour rollups (then the range is widened to hours)."""
    if bucket_start(s, "day") == s and bucket_start(e, "day") == e:
        return STATION_TABLES["day"].__table__, s, e
    return STATION_TABLES["hour"].__table__, bucket_start(s, "hour"), _align(s, e, "hour")[1]


def station_totals(engine: Engine, scope: "str | Scope", start: datetime, end: datetime) -> list[StationRatio]:
    """Per-station air, energy and ratio over ``[start, end)`` for the stations of ``scope`` (one ``GROUP BY
    station_id`` in SQL; day rollups for whole CST days, else hour rollups widened to whole hours). Stations
    without rows, or no longer in ``stations``, are absent.

    Raises:
        ValueError: naive datetimes, ``end <= start``, bad scope.
    """
    sc = Scope.parse(scope, shorthand=True)
    s, e = _check_dt("start", start), _check_dt("end", end)
    if e <= s:
        raise ValueError(f"end {end} must be after start {start}")
    t, a, b = _range_table(s, e)
    stmt = (select(t.c.station_id, func.sum(t.c.air_m3), func.sum(t.c.energy_kwh)).select_from(t)
            .where(t.c.bucket_ts >= a, t.c.bucket_ts < b).group_by(t.c.station_id))
    stmt = _scoped(stmt, t, sc)
    out = []
    with engine.connect() as conn:
        sums = conn.execute(stmt).all()
        info = _station_info(conn, [r[0] for r in sums])
    for sid, air, energy in sums:
        if sid not in info:
            continue
        name, prov, city = info[sid]
        air, energy = float(air or 0.0), float(energy or 0.0)
        ratio = air_to_power_ratio(air, energy)
        out.append(StationRatio(sid, name, prov, city, air, energy, ratio, specific_power_from_ratio(ratio)))
    return out


def rank_stations(engine: Engine, scope: "str | Scope", start: datetime, end: datetime, *,
                  min_energy_kwh: float = 1.0, limit: int | None = None) -> list[StationRatio]:
    """Stations of ``scope`` ranked best to worst air-to-power ratio over ``[start, end)``.

    Stations with less than ``min_energy_kwh`` kWh in the range (ratio undefined or meaningless) are left out.
    Ties are broken by station id.

    Returns:
        :class:`StationRatio` list with ``rank`` 1…n, best first; at most ``limit`` entries.
    Raises:
        ValueError: as :func:`station_totals`.
    """
    ranked = [r for r in station_totals(engine, scope, start, end)
              if r.energy_kwh >= min_energy_kwh and r.ratio is not None]
    ranked.sort(key=lambda r: (-r.ratio, r.station_id))
    for i, r in enumerate(ranked, start=1):
        r.rank = i
    return ranked[:limit] if limit is not None else ranked


def ratio_breakdown(engine: Engine, scope: "str | Scope", start: datetime, end: datetime) -> dict[str, dict]:
    """Totals of the children of ``scope`` over ``[start, end)``: nation → provinces, province → cities,
    city → stations, station → itself. ``{child_code: {"air_m3", "energy_kwh", "ratio", "stations"}}`` (Σ/Σ)."""
    sc = Scope.parse(scope, shorthand=True)
    key = {"nation": "province_adcode", "province": "city_adcode"}.get(sc.level, "station_id")
    out: dict[str, dict] = {}
    for r in station_totals(engine, sc, start, end):
        k = getattr(r, key)
        agg = out.setdefault(k, {"air_m3": 0.0, "energy_kwh": 0.0, "stations": 0})
        agg["air_m3"] += r.air_m3
        agg["energy_kwh"] += r.energy_kwh
        agg["stations"] += 1
    for agg in out.values():
        agg["ratio"] = air_to_power_ratio(agg["air_m3"], agg["energy_kwh"])
    return out


# ---------------------------------------------------------------------------------------------------- baseline

@dataclass
class StationDegradation:
    """A station's recent ratio against its own trailing baseline (see :func:`degradation_flags`).

    Attributes: ``current``/``baseline`` ratios m³/kWh; ``drop_pct`` % below baseline (positive = worse);
    ``flagged``; the energy totals (kWh) behind both ratios.
    """

    station_id: str
    name: str
    province_adcode: str
    city_adcode: str
    current: float | None
    baseline: float | None
    drop_pct: float | None
    flagged: bool
    current_energy_kwh: float = 0.0
    baseline_energy_kwh: float = 0.0


def degradation_flags(engine: Engine, scope: "str | Scope" = "nation", *, end: datetime | None = None,
                      window_days: int = 7, baseline_days: int = 28, threshold_pct: float = 10.0,
                      min_energy_kwh: float = 1.0, flagged_only: bool = True) -> list[StationDegradation]:
    """Stations whose ratio over the last ``window_days`` fell more than ``threshold_pct`` % below their own
    baseline, the ratio over the ``baseline_days`` before the window (default: last 7 days against the trailing 4
    weeks). One SQL pass over the day rollups (``SUM(CASE …)`` per period ``GROUP BY station_id``).

    Args:
        end: exclusive end of the window, timezone-aware, floored to 00:00 CST; default today 00:00 CST (whole
            days only).
        min_energy_kwh: both periods need at least this much energy, else the station is not assessed.
        flagged_only: return only flagged stations (else every assessed station).
    Returns:
        :class:`StationDegradation` list, largest drop first.
    Raises:
        ValueError: naive ``end``, non-positive windows, negative threshold, bad scope.
    Source: the comparison itself is :func:`ops.energy.ratio_degradation`; the 10 % default is a policy choice.
    """
    if window_days <= 0 or baseline_days <= 0:
        raise ValueError("window_days and baseline_days must be > 0")
    sc = Scope.parse(scope, shorthand=True)
    e = bucket_start(_check_dt("end", end) if end is not None else datetime.now(CST).timestamp(), "day")
    mid = e - window_days * 86400
    a = mid - baseline_days * 86400
    t = STATION_TABLES["day"].__table__
    recent = t.c.bucket_ts >= mid
    stmt = (select(t.c.station_id,
                   func.sum(_case(recent, t.c.air_m3)), func.sum(_case(recent, t.c.energy_kwh)),
                   func.sum(_case(~recent, t.c.air_m3)), func.sum(_case(~recent, t.c.energy_kwh)))
            .select_from(t).where(t.c.bucket_ts >= a, t.c.bucket_ts < e).group_by(t.c.station_id))
    stmt = _scoped(stmt, t, sc)
    out = []
    with engine.connect() as conn:
        sums = conn.execute(stmt).all()
        info = _station_info(conn, [r[0] for r in sums])
    for sid, ra, re_, ba, be in sums:
        if sid not in info:
            continue
        ra, re_, ba, be = (float(x or 0.0) for x in (ra, re_, ba, be))
        if re_ < min_energy_kwh or be < min_energy_kwh:
            continue
        d: Degradation = ratio_degradation(air_to_power_ratio(ra, re_), air_to_power_ratio(ba, be), threshold_pct)
        if flagged_only and not d.flagged:
            continue
        out.append(StationDegradation(sid, *info[sid], d.current, d.baseline, d.drop_pct, d.flagged, re_, be))
    out.sort(key=lambda x: (-(x.drop_pct if x.drop_pct is not None else -math.inf), x.station_id))
    return out


def _case(cond, col):
    return case((cond, col), else_=0.0)


# ---------------------------------------------------------------------------------------------- compressors

@dataclass
class CompressorKpis:
    """One compressor's KPIs over a range (site detail panel).

    Attributes:
        air_m3, energy_kwh: counter totals (m³, kWh); ``ratio`` m³/kWh; ``specific_power`` kW/(m³/min) = 60/ratio.
        loaded_h, unloaded_h, stopped_h, fault_h: hours by run state; ``load_ratio`` loaded / (loaded + unloaded).
        unloaded_kwh: energy spent running unloaded, kWh. ``running_hours_h``: the device counter's latest value.
        avg_power_kw, avg_flow_m3_min: sample means. ``grade``: :class:`ops.energy.GradeResult` from the measured
        specific power and the nameplate (``None`` without rated flow).
    """

    device_id: str
    air_m3: float
    energy_kwh: float
    ratio: float | None
    specific_power: float | None
    loaded_h: float
    unloaded_h: float
    stopped_h: float
    fault_h: float
    load_ratio: float | None
    unloaded_kwh: float
    running_hours_h: float | None
    avg_power_kw: float | None
    avg_flow_m3_min: float | None
    grade: GradeResult | None = None


def compressor_kpis(engine: Engine, station_id: str, start: datetime, end: datetime, *,
                    rated_pressure_mpa: float = 0.8,
                    grade_table: Sequence[GradeLimits] = ILLUSTRATIVE_GB19153_TABLE,
                    grade_note: str | None = None) -> list[CompressorKpis]:
    """Per-compressor KPIs of a station over ``[start, end)`` from the device rollups (day rows for whole CST days,
    else hour rows), graded against GB 19153 limits (:func:`ops.energy.grade_compressor`).

    Args:
        rated_pressure_mpa: rated discharge pressure used to pick the grade row (the fleet's nameplate data does not
            carry it; 0.8 MPa is the common rating of plant-air screw compressors).
        grade_table: grade limits; default the **illustrative** table of :mod:`ops.energy` — pass the real one.
        grade_note: provenance of ``grade_table`` stored in each result.
    Returns:
        one :class:`CompressorKpis` per compressor with rows in the range, ordered by device id.
    Raises:
        ValueError: naive datetimes or ``end <= start``.
    """
    s, e = _check_dt("start", start), _check_dt("end", end)
    if e <= s:
        raise ValueError(f"end {end} must be after start {start}")
    whole_days = bucket_start(s, "day") == s and bucket_start(e, "day") == e
    t = DEVICE_TABLES["day" if whole_days else "hour"].__table__
    a, b = (s, e) if whole_days else (bucket_start(s, "hour"), _align(s, e, "hour")[1])
    stmt = (select(t.c.device_id, func.sum(t.c.air_m3), func.sum(t.c.energy_kwh), func.sum(t.c.loaded_s),
                   func.sum(t.c.unloaded_s), func.sum(t.c.stopped_s), func.sum(t.c.fault_s),
                   func.sum(t.c.unloaded_kwh), func.max(t.c.running_hours_h), func.sum(t.c.samples),
                   func.sum(t.c.power_sum), func.sum(t.c.flow_sum))
            .where(t.c.station_id == station_id, t.c.kind == "compressor", t.c.bucket_ts >= a, t.c.bucket_ts < b)
            .group_by(t.c.device_id).order_by(t.c.device_id))
    dv = Device.__table__
    with engine.connect() as conn:
        sums = conn.execute(stmt).all()
        rated = {d: (f, sp) for d, f, sp in conn.execute(
            select(dv.c.device_id, dv.c.rated_flow_m3_min, dv.c.specific_power_kw_per_m3_min)
            .where(dv.c.station_id == station_id))}
    out = []
    for did, air, energy, ld, ul, stp, flt, ukwh, rh, n, psum, fsum in sums:
        air, energy = float(air or 0.0), float(energy or 0.0)
        ratio = air_to_power_ratio(air, energy)
        sp = specific_power_from_ratio(ratio)
        ld, ul = float(ld or 0.0), float(ul or 0.0)
        flow, rated_sp = rated.get(did, (0.0, 0.0))
        grade = (grade_compressor(sp, flow, rated_pressure_mpa, rated_sp or None, grade_table, grade_note)
                 if flow else None)
        out.append(CompressorKpis(did, air, energy, ratio, sp, ld / 3600, ul / 3600, float(stp or 0) / 3600,
                                  float(flt or 0) / 3600, load_ratio(ld, ld + ul), float(ukwh or 0.0),
                                  float(rh) if rh is not None else None,
                                  float(psum) / n if n else None, float(fsum) / n if n else None, grade))
    return out
