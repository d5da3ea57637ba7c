"""Energy KPIs of compressed-air stations: pure functions, no I/O.

Definitions (DESIGN.md "Domain words"; seed 001 table 7 气电趋势图):

* **air-to-power ratio** (气电比), m³/kWh: free air delivered (m³, at reference inlet conditions) per kWh of
  electricity over a period. Higher is better.
* **specific power** (比功率), kW/(m³/min): input power per unit of free-air delivery. Lower is better. Over the same
  period ``specific_power = 60 / ratio`` because 1 kWh/m³ = 60 kW/(m³/min) (power × 1 h / (flow × 60 min)).
  GB 19153-2019 《容积式空气压缩机能效限定值及能效等级》 grades displacement compressors by it.
* Aggregation over compressors, stations, cities, provinces, the nation is **Σ air / Σ energy** — the ratio of the
  totals, never the mean of the members' ratios (a small, inefficient station must not weigh as much as a large one).
* **load ratio** (加载率): loaded time / running time, running = loaded + unloaded (motor turning); stop and fault
  are not running.
* **unloaded energy** (卸载能耗): energy spent running unloaded, delivering no air = unloaded seconds × unloaded
  power.

Counters (device profiles in ``datasources/modbus/profiles``): a compressor's ``energy_kwh`` is a uint32 register × 0.1
(wraps after 429,496,729.5 kWh, modulus 2³²·0.1 = 429,496,729.6), ``air_volume_m3`` and a flow meter's
``total_m3`` are uint32 (modulus 2³² m³), a power meter's ``energy_kwh`` is uint32 × 0.1. See :func:`counter_delta`
for rollover, reset and gap handling.

Time buckets: the users' days are China Standard Time (CST, UTC+8, no daylight saving). Timestamps are epoch
seconds UTC; :func:`bucket_start` floors them to minute / hour / CST day / ISO week (Monday 00:00 CST) / CST month.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable, Mapping

# ----------------------------------------------------------------------------------------------------------- time

#: China Standard Time, UTC+8 (no daylight saving since 1991). The day/week/month buckets are CST calendar units.
CST = timezone(timedelta(hours=8), "CST")
CST_OFFSET_S = 8 * 3600
GRANULARITIES = ("minute", "hour", "day", "week", "month")
_FIXED_SECONDS = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}


def bucket_start(ts_s: int | float, granularity: str) -> int:
    """Start of the bucket containing ``ts_s``.

    Args:
        ts_s: epoch seconds UTC.
        granularity: ``minute`` | ``hour`` | ``day`` (00:00 CST) | ``week`` (ISO week, Monday 00:00 CST) |
            ``month`` (1st 00:00 CST).
    Returns:
        bucket start, epoch seconds UTC (int).
    Raises:
        ValueError: unknown granularity.
    """
    t = int(math.floor(ts_s))
    if granularity == "minute":
        return t - t % 60
    if granularity == "hour":
        return t - t % 3600
    local_day = (t + CST_OFFSET_S) // 86400  # days since 1970-01-01 in CST
    if granularity == "day":
        return local_day * 86400 - CST_OFFSET_S
    if granularity == "week":
        weekday = (local_day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        return (local_day - weekday) * 86400 - CST_OFFSET_S
    if granularity == "month":
        d = datetime.fromtimestamp(t, CST)
        return int(datetime(d.year, d.month, 1, tzinfo=CST).timestamp())
    raise ValueError(f"granularity must be one of {GRANULARITIES}, not {granularity!r}")


def next_bucket(start_s: int, granularity: str, n: int = 1) -> int:
    """Start of the bucket ``n`` buckets after the bucket starting at ``start_s`` (epoch s UTC; ``n`` may be < 0).

    Months are calendar months of CST; other granularities are fixed lengths (CST has no daylight saving).

    Raises:
        ValueError: unknown granularity.
    """
    if granularity in _FIXED_SECONDS:
        return start_s + n * _FIXED_SECONDS[granularity]
    if granularity == "month":
        d = datetime.fromtimestamp(start_s, CST)
        m = d.year * 12 + (d.month - 1) + n
        return int(datetime(m // 12, m % 12 + 1, 1, tzinfo=CST).timestamp())
    raise ValueError(f"granularity must be one of {GRANULARITIES}, not {granularity!r}")


def month_key(ts_s: int | float) -> int:
    """CST calendar month of ``ts_s`` (epoch s UTC) as ``yyyymm`` (e.g. 202611)."""
    d = datetime.fromtimestamp(int(math.floor(ts_s)), CST)
    return d.year * 100 + d.month


def shift_years(start_s: int, years: int) -> int:
    """The same CST wall-clock time ``years`` calendar years later (negative: earlier); 29 Feb → 28 Feb.

    Args/returns: epoch seconds UTC.
    """
    d = datetime.fromtimestamp(start_s, CST)
    try:
        d2 = d.replace(year=d.year + years)
    except ValueError:  # 29 February in a non-leap year
        d2 = d.replace(year=d.year + years, day=28)
    return int(d2.timestamp())


# -------------------------------------------------------------------------------------------------- ratio KPIs

def air_to_power_ratio(air_m3: float | None, energy_kwh: float | None) -> float | None:
    """气电比, m³/kWh = ``air_m3 / energy_kwh``. ``None`` when energy is missing or ≤ 0 (ratio undefined).

    Example: 1,000 m³ delivered with 125 kWh → 8.0 m³/kWh.
    Source: DESIGN.md domain words (m³ of air per kWh of electricity over a period).
    """
    if air_m3 is None or energy_kwh is None or energy_kwh <= 0:
        return None
    return air_m3 / energy_kwh


def specific_power(power_kw: float | None, flow_m3_min: float | None) -> float | None:
    """比功率, kW/(m³/min) = ``power_kw / flow_m3_min``. ``None`` when flow is missing or ≤ 0.

    Source: GB 19153-2019 (specific power = input power / volume flow at rated conditions); DESIGN.md.
    """
    if power_kw is None or flow_m3_min is None or flow_m3_min <= 0:
        return None
    return power_kw / flow_m3_min


def specific_power_from_ratio(ratio_m3_per_kwh: float | None) -> float | None:
    """Specific power kW/(m³/min) equivalent to a ratio m³/kWh: ``60 / ratio`` (8.0 m³/kWh ↔ 7.5 kW/(m³/min)).

    ``None`` for a missing or non-positive ratio. Derivation: kW/(m³/min) = kWh/(m³) × 60 min/h.
    """
    if ratio_m3_per_kwh is None or ratio_m3_per_kwh <= 0:
        return None
    return 60.0 / ratio_m3_per_kwh


def ratio_from_specific_power(sp_kw_per_m3_min: float | None) -> float | None:
    """Ratio m³/kWh equivalent to a specific power kW/(m³/min): ``60 / specific_power``. ``None`` if ≤ 0."""
    if sp_kw_per_m3_min is None or sp_kw_per_m3_min <= 0:
        return None
    return 60.0 / sp_kw_per_m3_min


@dataclass
class RatioTotals:
    """Air and energy totals of a group (compressor, station, city, province, nation) over a period.

    Attributes:
        air_m3: Σ free air delivered, m³.
        energy_kwh: Σ electricity, kWh.
        members: number of rows/members summed (informational).
    Totals add (``a + b``); the group ratio is always Σair/Σenergy (:attr:`ratio`).
    """

    air_m3: float = 0.0
    energy_kwh: float = 0.0
    members: int = 0

    def add(self, air_m3: float | None, energy_kwh: float | None) -> "RatioTotals":
        """Add one member's totals in place (``None`` counts as 0); returns self."""
        self.air_m3 += air_m3 or 0.0
        self.energy_kwh += energy_kwh or 0.0
        self.members += 1
        return self

    def __add__(self, other: "RatioTotals") -> "RatioTotals":
        return RatioTotals(self.air_m3 + other.air_m3, self.energy_kwh + other.energy_kwh,
                           self.members + other.members)

    @property
    def ratio(self) -> float | None:
        """Σair / Σenergy, m³/kWh (``None`` when energy is 0)."""
        return air_to_power_ratio(self.air_m3, self.energy_kwh)

    @property
    def specific_power(self) -> float | None:
        """60 / ratio, kW/(m³/min) (``None`` when undefined)."""
        return specific_power_from_ratio(self.ratio)


def aggregate_ratio(pairs: Iterable[tuple[float | None, float | None]]) -> RatioTotals:
    """Totals of ``(air_m3, energy_kwh)`` pairs; the group's ratio is ``.ratio`` = Σair/Σenergy.

    Example: station A 1,000 m³ / 100 kWh (10.0 m³/kWh) and B 300 m³ / 50 kWh (6.0) → 1,300 / 150 = 8.67 m³/kWh;
    the mean of the ratios, (10 + 6) / 2 = 8.0, would over-weight the smaller station.
    """
    out = RatioTotals()
    for air, energy in pairs:
        out.add(air, energy)
    return out


def aggregate_ratio_by(rows: Iterable[Mapping], key: str) -> dict[str, RatioTotals]:
    """Group rows by ``row[key]`` and total ``row["air_m3"]``, ``row["energy_kwh"]`` per group (Σ/Σ).

    Args:
        rows: mappings with ``air_m3`` (m³), ``energy_kwh`` (kWh) and the key field, e.g. station rows with
            ``station_id``, ``city_adcode``, ``province_adcode``; use ``key="nation"`` to total everything under
            the key ``"nation"``.
    Returns:
        ``{group_key: RatioTotals}``.
    Raises:
        KeyError: a row lacks ``key`` (other than ``"nation"``) or the measures.
    """
    out: dict[str, RatioTotals] = {}
    for row in rows:
        k = "nation" if key == "nation" else row[key]
        out.setdefault(k, RatioTotals()).add(row["air_m3"], row["energy_kwh"])
    return out


# ------------------------------------------------------------------------------------------ compressor operation

def load_ratio(loaded_s: float, running_s: float) -> float | None:
    """Load ratio (加载率), 0…1 = loaded time / running time (running = loaded + unloaded). ``None`` if not running.

    Raises:
        ValueError: negative durations or loaded time above running time (inconsistent inputs).
    """
    if loaded_s < 0 or running_s < 0:
        raise ValueError("durations must be ≥ 0")
    if running_s == 0:
        return None
    if loaded_s > running_s * (1 + 1e-9):
        raise ValueError(f"loaded time {loaded_s} s exceeds running time {running_s} s")
    return min(1.0, loaded_s / running_s)


def unloaded_energy_kwh(unloaded_s: float, unloaded_power_kw: float) -> float:
    """Energy spent running unloaded, kWh = unloaded seconds × unloaded power (kW) / 3600.

    Typical unloaded power of a load/unload screw compressor is 25–40 % of full-load power (manufacturers' data,
    e.g. CAGI data sheets), so a low load ratio wastes energy that delivers no air.

    Raises:
        ValueError: negative inputs.
    """
    if unloaded_s < 0 or unloaded_power_kw < 0:
        raise ValueError("unloaded seconds and power must be ≥ 0")
    return unloaded_s * unloaded_power_kw / 3600.0


def running_hours(loaded_s: float, unloaded_s: float) -> float:
    """Running hours, h = (loaded + unloaded seconds) / 3600 (stop and fault excluded).

    The device's own ``running_hours_h`` counter is authoritative over long periods; this is the same quantity
    computed from the recorder's state durations.
    """
    return (loaded_s + unloaded_s) / 3600.0


# ---------------------------------------------------------------------------------------------------- counters

#: modulus of a uint32 × 0.1 kWh register (compressor / power meter ``energy_kwh``): 2³² × 0.1
ENERGY_KWH_MODULUS = 2 ** 32 * 0.1
#: modulus of a uint32 m³ register (``air_volume_m3``, flow meter ``total_m3``)
VOLUME_M3_MODULUS = float(2 ** 32)
#: a decrease is a rollover only when the wrapped delta is at most this fraction of the modulus (no rate limit given)
ROLLOVER_WINDOW = 0.01
#: default longest interval, seconds, over which a counter delta or a duration is attributed (longer: a gap)
DEFAULT_MAX_GAP_S = 300.0


@dataclass(frozen=True)
class CounterDelta:
    """Result of :func:`counter_delta`.

    Attributes:
        delta: the increase to attribute (counter units), or ``None`` when nothing may be attributed.
        kind: ``normal`` | ``rollover`` | ``reset`` | ``gap`` | ``implausible`` | ``stale``.
    """

    delta: float | None
    kind: str


def counter_delta(prev: float, curr: float, modulus: float | None = None, *, dt_s: float | None = None,
                  max_gap_s: float | None = DEFAULT_MAX_GAP_S, max_rate_per_s: float | None = None) -> CounterDelta:
    """Increase of a cumulative counter between two readings, with rollover, reset and gap handling.

    Rules, in order:

    1. ``dt_s <= 0`` → ``stale`` (no new information), ``delta=None``.
    2. ``dt_s > max_gap_s`` → ``gap``, ``delta=None``: the increase over a gap is not attributed (putting it in one
       bucket would make a spike; gaps stay gaps). The caller re-baselines on ``curr``.
    3. ``curr >= prev`` → ``normal``, ``delta = curr − prev``; but if a rate limit is given and the increase exceeds
       ``max_rate_per_s × dt_s`` → ``implausible`` (e.g. a meter swapped for one with a higher reading), ``None``.
    4. ``curr < prev`` and ``modulus`` given and the wrapped increase ``curr + modulus − prev`` is small (≤ the rate
       limit × dt if given, else ≤ ``ROLLOVER_WINDOW`` × modulus) → ``rollover``, ``delta`` = the wrapped increase.
       Example: uint32×0.1 kWh from 429,496,729.0 to 0.4 → 1.0 kWh.
    5. otherwise ``curr < prev`` is a **reset** (device replaced, counter cleared): ``delta = curr`` — the counter
       restarted from 0 within the interval and everything it counted since belongs to the interval (the rule of
       Prometheus ``increase()``) — unless ``curr`` itself exceeds the rate limit, then ``delta=None`` (treated as
       a gap; re-baseline).

    Args:
        prev, curr: counter values, in counter units (kWh, m³), already scaled.
        modulus: wrap value (:data:`ENERGY_KWH_MODULUS`, :data:`VOLUME_M3_MODULUS`), ``None`` for no rollover.
        dt_s: seconds between the readings (``None``: unknown, rules 1–2 skipped).
        max_gap_s: longest attributable interval (``None``: no limit).
        max_rate_per_s: plausibility limit of the counter's rate (units/s), ``None`` for no limit.
    Returns:
        a :class:`CounterDelta`; ``delta`` is rounded to 1e-6 to remove float noise of scaled registers.
    """
    if dt_s is not None:
        if dt_s <= 0:
            return CounterDelta(None, "stale")
        if max_gap_s is not None and dt_s > max_gap_s:
            return CounterDelta(None, "gap")
    limit = max_rate_per_s * dt_s if (max_rate_per_s is not None and dt_s is not None) else None
    d = curr - prev
    if d >= 0:
        if limit is not None and d > limit:
            return CounterDelta(None, "implausible")
        return CounterDelta(round(d, 6), "normal")
    if modulus:
        wrapped = curr + modulus - prev
        bound = limit if limit is not None else modulus * ROLLOVER_WINDOW
        if 0 <= wrapped <= bound:
            return CounterDelta(round(wrapped, 6), "rollover")
    if limit is not None and curr > limit:
        return CounterDelta(None, "reset")
    return CounterDelta(round(max(curr, 0.0), 6), "reset")


# ------------------------------------------------------------------------------------------- efficiency grades

@dataclass(frozen=True)
class GradeLimits:
    """Specific-power limits of GB 19153 grades for one compressor size class, kW/(m³/min).

    A compressor is grade 1 if its specific power ≤ ``grade1``, grade 2 if ≤ ``grade2``, grade 3 if ≤ ``grade3``
    (grade 3 is the 能效限定值, the minimum allowed); above ``grade3`` it does not meet the standard.

    Attributes:
        min_flow_m3_min, max_flow_m3_min: rated volume-flow range of the class, m³/min, ``[min, max)``.
        pressure_mpa: rated discharge pressure of the class, MPa (gauge).
        grade1, grade2, grade3: limits, kW/(m³/min), ascending.
    """

    min_flow_m3_min: float
    max_flow_m3_min: float
    pressure_mpa: float
    grade1: float
    grade2: float
    grade3: float

    def __post_init__(self) -> None:
        if not (0 < self.grade1 <= self.grade2 <= self.grade3):
            raise ValueError(f"grade limits must be positive and ascending: {self}")
        if not (0 <= self.min_flow_m3_min < self.max_flow_m3_min):
            raise ValueError(f"flow range must be ascending: {self}")


def _illustrative_table() -> tuple[GradeLimits, ...]:
    # (flow range m³/min) × (pressure MPa): limits rise with pressure and fall with size. ILLUSTRATIVE ONLY.
    sizes = [(2.0, 5.0, 7.0), (5.0, 10.0, 6.6), (10.0, 20.0, 6.3), (20.0, 40.0, 6.0), (40.0, 80.0, 5.8)]
    pressures = [(0.7, 1.00), (0.8, 1.06), (1.0, 1.18), (1.25, 1.32)]
    rows = []
    for lo, hi, base in sizes:
        for p, factor in pressures:
            g1 = round(base * factor, 2)
            rows.append(GradeLimits(lo, hi, p, g1, round(g1 * 1.10, 2), round(g1 * 1.22, 2)))
    return tuple(rows)


#: **APPROXIMATE / ILLUSTRATIVE** grade limits shaped like GB 19153-2019 《容积式空气压缩机能效限定值及能效等级》
#: table for oil-injected screw compressors (limits rising with rated pressure, falling with size, grades about
#: 10 % apart). These are NOT the standard's values: the exact limits must be taken from the standard's table for
#: the model's rated discharge pressure and volume flow (and drive type) and passed as ``table`` / ``limits``.
ILLUSTRATIVE_GB19153_TABLE: tuple[GradeLimits, ...] = _illustrative_table()
ILLUSTRATIVE_TABLE_NOTE = ("approximate, illustrative limits shaped like GB 19153-2019; take the exact values from "
                           "the standard's table for the rated pressure and flow")


def efficiency_grade(sp_kw_per_m3_min: float | None, limits: GradeLimits | tuple[float, float, float]) -> int | None:
    """GB 19153 grade (1 best, 2, 3) of a specific power against the limits of its size class.

    Args:
        sp_kw_per_m3_min: specific power, kW/(m³/min) (rated, or measured over a period for an operating grade).
        limits: a :class:`GradeLimits` or ``(grade1, grade2, grade3)`` limits in kW/(m³/min), ascending.
    Returns:
        1, 2 or 3; ``None`` when the specific power is missing or above the grade-3 limit (does not reach 能效限定值).
    Raises:
        ValueError: limits not ascending.
    Source: GB 19153-2019 (grading principle: specific power ≤ grade limit). The limit values are data.
    """
    g = (limits.grade1, limits.grade2, limits.grade3) if isinstance(limits, GradeLimits) else tuple(limits)
    if len(g) != 3 or not (0 < g[0] <= g[1] <= g[2]):
        raise ValueError(f"limits must be three ascending positive values, got {limits!r}")
    if sp_kw_per_m3_min is None or sp_kw_per_m3_min <= 0:
        return None
    for grade, lim in enumerate(g, start=1):
        if sp_kw_per_m3_min <= lim + 1e-12:
            return grade
    return None


def find_grade_limits(rated_flow_m3_min: float, rated_pressure_mpa: float,
                      table: Iterable[GradeLimits] = ILLUSTRATIVE_GB19153_TABLE) -> GradeLimits | None:
    """The table row for a compressor: flow class containing ``rated_flow_m3_min`` and the smallest class pressure
    ≥ ``rated_pressure_mpa`` (GB 19153 tables are given at discrete rated pressures; a compressor rated between two
    uses the next higher one — verify against the standard's own interpolation rule).

    Returns:
        the matching :class:`GradeLimits`, or ``None`` when the table has no class for this size/pressure.
    """
    candidates = [r for r in table if r.min_flow_m3_min <= rated_flow_m3_min < r.max_flow_m3_min
                  and r.pressure_mpa >= rated_pressure_mpa - 1e-9]
    if not candidates:
        return None
    return min(candidates, key=lambda r: r.pressure_mpa)


@dataclass(frozen=True)
class GradeResult:
    """Outcome of :func:`grade_compressor`.

    Attributes:
        grade: 1/2/3 or ``None`` (above grade 3 or no table row).
        specific_power: the graded specific power, kW/(m³/min).
        limits: the table row used (``None`` when none matched).
        vs_rated_pct: (measured − rated) / rated × 100 when a rated specific power was given; positive = worse.
        note: provenance of the limits (e.g. :data:`ILLUSTRATIVE_TABLE_NOTE`).
    """

    grade: int | None
    specific_power: float | None
    limits: GradeLimits | None
    vs_rated_pct: float | None = None
    note: str = ""


def grade_compressor(measured_sp_kw_per_m3_min: float | None, rated_flow_m3_min: float, rated_pressure_mpa: float,
                     rated_sp_kw_per_m3_min: float | None = None,
                     table: Iterable[GradeLimits] = ILLUSTRATIVE_GB19153_TABLE,
                     table_note: str | None = None) -> GradeResult:
    """Operating efficiency grade of a compressor from its measured specific power (e.g. power_sum/flow_sum of a
    period), against the grade limits of its rated size and pressure.

    Args:
        measured_sp_kw_per_m3_min: measured specific power, kW/(m³/min).
        rated_flow_m3_min, rated_pressure_mpa: nameplate data selecting the table row.
        rated_sp_kw_per_m3_min: nameplate specific power (``devices.specific_power_kw_per_m3_min``); optional.
        table: grade limits; default the **illustrative** table — pass the real GB 19153-2019 rows.
        table_note: provenance stored in the result; default says the illustrative table was used.
    Returns:
        a :class:`GradeResult`.
    """
    table = tuple(table)
    limits = find_grade_limits(rated_flow_m3_min, rated_pressure_mpa, table)
    note = table_note if table_note is not None else (
        ILLUSTRATIVE_TABLE_NOTE if table == ILLUSTRATIVE_GB19153_TABLE else "")
    grade = efficiency_grade(measured_sp_kw_per_m3_min, limits) if limits else None
    vs = None
    if rated_sp_kw_per_m3_min and measured_sp_kw_per_m3_min is not None:
        vs = (measured_sp_kw_per_m3_min - rated_sp_kw_per_m3_min) / rated_sp_kw_per_m3_min * 100.0
    return GradeResult(grade, measured_sp_kw_per_m3_min, limits, vs, note)


# --------------------------------------------------------------------------------------------------- baselines

@dataclass(frozen=True)
class Degradation:
    """Outcome of :func:`ratio_degradation`.

    Attributes:
        current, baseline: ratios, m³/kWh (``None`` when undefined).
        drop_pct: (baseline − current) / baseline × 100; positive = worse than baseline; ``None`` if undefined.
        flagged: ``drop_pct > threshold_pct``.
    """

    current: float | None
    baseline: float | None
    drop_pct: float | None
    flagged: bool = False


def ratio_degradation(current: float | None, baseline: float | None, threshold_pct: float = 10.0) -> Degradation:
    """Compare a station's current ratio with its own baseline (e.g. trailing 4 weeks).

    Flag when the ratio fell more than ``threshold_pct`` percent below the baseline: a falling 气电比 means more kWh
    per m³ (leaks, fouled filters, bad sequencing, worn airends). The threshold is a policy choice (default 10 %).

    Raises:
        ValueError: ``threshold_pct`` < 0.
    """
    if threshold_pct < 0:
        raise ValueError("threshold_pct must be ≥ 0")
    if current is None or baseline is None or baseline <= 0:
        return Degradation(current, baseline, None, False)
    drop = (baseline - current) / baseline * 100.0
    return Degradation(current, baseline, drop, drop > threshold_pct)
