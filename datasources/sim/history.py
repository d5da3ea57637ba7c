"""Demo energy history: months of plausible hourly and daily rollups (and minute rollups for the last hours)
written straight into the rollup tables, so trend charts have something to show before the recorder has run long.

Model (per built station with compressors; deterministic by ``seed`` and station id, independent of fleet order):

* **Capacity** = Σ rated free-air delivery of its compressors (m³/min), **rated ratio** = 60 / mean rated specific
  power (:mod:`ops.energy`), operating efficiency 80–95 % of rated (leaks, pressure drop, control losses).
* **Demand** (load fraction of capacity) by CST hour and weekday from the station's shift pattern (one, two or three
  shifts; Saturdays and Sundays lower), a seasonal swing, the Spring Festival shutdown (about a week from the eve)
  and the National Day holiday (1–7 Oct) for one/two-shift plants, plus noise.
* **Ratio** (m³/kWh) = rated ratio × operating efficiency × part-load factor (``1 − 0.2·(1 − load)²``: unload
  losses weigh more at low load) × summer factor (hot intake air, −3 % at the end of July) × a slow per-station drift
  (±3 %/year) × hourly noise (±2 %); clipped to 5–10.5 m³/kWh so daily ratios fall around 6–10.
* **Degrading stations** (``degrading_share``, default 3 %): the last 5–7 days lose 22–30 % of their ratio (a leak,
  a failed drain, fouled coolers), so :func:`datasources.sql.energy_store.degradation_flags` fires for them.
* **Outages**: about two communication outages per station-year of 1–12 hours leave no rows (gaps stay gaps).
* Per hour: air = capacity × 60 × load, energy = air / ratio; ``samples`` = 3600 (1 Hz polling); compressor-seconds
  loaded / unloaded / stopped, unloaded energy at 25 % of rated power; header pressure 0.60–0.72 MPa. Day rows are
  the sums of the hour rows of each CST day; compressor day rows split the station's day by rated flow.

Rows written: ``energy_station_hour`` and ``energy_station_day`` for the whole range, ``energy_device_day`` for the
compressors, ``energy_device_hour`` for the last ``device_hour_days`` days, ``energy_station_minute`` for the last
``minute_hours`` hours. Time zone: hours are aligned to UTC = CST hours; days are CST days; ``end`` defaults to the
current hour (exclusive), so the live recorder continues where history stops.
"""
from __future__ import annotations

import logging
import time
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Sequence

import numpy as np
from sqlalchemy import Engine, bindparam, func, select

from datasources.sql.energy_models import DEVICE_TABLES, STATION_TABLES
from datasources.sql.rollup_writes import write_rollups
from datasources.sql.fleet_spec import StationSpec
from ops.energy import CST, CST_OFFSET_S, bucket_start

log = logging.getLogger(__name__)

#: Spring Festival (春节) dates; the shutdown runs from the eve for about a week
SPRING_FESTIVAL = {2023: (1, 22), 2024: (2, 10), 2025: (1, 29), 2026: (2, 17), 2027: (2, 6), 2028: (1, 26),
                   2029: (2, 13), 2030: (2, 3)}


@dataclass
class HistoryReport:
    """What :func:`generate_history` did: ``skipped`` (history existed for every station), ``stations`` given
    history, ``rows`` per table, ``seconds``, the range ``start``/``end`` (CST)."""

    skipped: bool
    stations: int = 0
    rows: dict | None = None
    seconds: float = 0.0
    start: datetime | None = None
    end: datetime | None = None


def _calendar(hours: np.ndarray) -> dict[str, np.ndarray]:
    """Calendar features of hour starts (epoch s UTC) in CST."""
    local = hours + CST_OFFSET_S
    day = local // 86400
    hod = (local % 86400) // 3600
    weekday = (day + 3) % 7                          # Monday 0
    # day of year and holidays via numpy datetime64 (CST dates)
    dates = day.astype("datetime64[D]")
    years = dates.astype("datetime64[Y]").astype(int) + 1970
    doy = (dates - dates.astype("datetime64[Y]")).astype(int)
    holiday = np.zeros(len(hours), dtype=bool)       # plants of one/two shifts stop
    shutdown = np.zeros(len(hours), dtype=bool)      # Spring Festival: nearly everyone stops
    for y in np.unique(years):
        if int(y) in SPRING_FESTIVAL:
            m, d = SPRING_FESTIVAL[int(y)]
            eve = np.datetime64(f"{int(y):04d}-{m:02d}-{d:02d}") - np.timedelta64(1, "D")
            shutdown |= (dates >= eve) & (dates < eve + np.timedelta64(8, "D"))
        nd = np.datetime64(f"{int(y):04d}-10-01")
        holiday |= (dates >= nd) & (dates < nd + np.timedelta64(7, "D"))
    return {"day": day, "hod": hod, "weekday": weekday, "doy": doy, "holiday": holiday, "shutdown": shutdown}


def _demand(cal: dict, shifts: int, rng: np.random.Generator) -> np.ndarray:
    hod, wd = cal["hod"], cal["weekday"]
    if shifts == 1:
        base = np.where((hod >= 8) & (hod < 17), 0.82, np.where((hod == 7) | (hod == 17), 0.45, 0.08))
        wk = np.choose(np.clip(wd - 4, 0, 2), [1.0, 0.35, 0.12])          # Mon–Fri, Sat, Sun
    elif shifts == 2:
        base = np.where((hod >= 7) & (hod < 23), 0.78, 0.15)
        wk = np.choose(np.clip(wd - 4, 0, 2), [1.0, 0.65, 0.3])
    else:
        base = np.where(np.isin(hod, (7, 15, 23)), 0.62, 0.76)
        wk = np.choose(np.clip(wd - 4, 0, 2), [1.0, 0.92, 0.82])
    season = 1.0 + 0.05 * np.sin(2 * np.pi * (cal["doy"] - 80) / 365.25)
    load = base * wk * season
    if shifts < 3:
        load = np.where(cal["holiday"], load * 0.3, load)
    load = np.where(cal["shutdown"], load * 0.12, load)
    load = load * (1.0 + 0.05 * rng.standard_normal(len(load)))
    return np.clip(load, 0.02, 0.97)


def _station_rng(seed: int, station_id: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(station_id.encode("utf-8"))])


def _first_rows(engine: Engine, station_ids: Sequence[str], a: int, b: int) -> dict[str, int]:
    """``{station_id: earliest hour-row bucket in [a, b)}`` for the stations that have one (a primary-key seek each)."""
    t = STATION_TABLES["hour"].__table__
    stmt = select(func.min(t.c.bucket_ts)).where(t.c.station_id == bindparam("sid"), t.c.bucket_ts >= a,
                                                 t.c.bucket_ts < b)
    out = {}
    with engine.connect() as conn:
        for sid in station_ids:
            first = conn.execute(stmt, {"sid": sid}).scalar()
            if first is not None:
                out[sid] = int(first)
    return out


def _delete_range(conn, station_ids: Sequence[str], a: int, b: int) -> None:
    for tables in (STATION_TABLES, DEVICE_TABLES):
        for g, model in tables.items():
            t = model.__table__
            lo = bucket_start(a, "day") if g == "day" else a
            for i in range(0, len(station_ids), 500):
                conn.execute(t.delete().where(t.c.station_id.in_(station_ids[i:i + 500]), t.c.bucket_ts >= lo,
                                              t.c.bucket_ts < b))


def _station_rows(spec: StationSpec, hours: np.ndarray, cal: dict, seed: int, degrading_share: float,
                  end_s: int, minute_hours: int, device_hour_days: int) -> dict[str, list[tuple]]:
    comps = [d for d in spec.devices if d.kind == "compressor"]
    rng = _station_rng(seed, spec.station_id)
    n_h = len(hours)
    rated_flow = np.array([max(d.rated_flow_m3_min, 1.0) for d in comps])
    rated_power = np.array([max(d.rated_power_kw, 1.0) for d in comps])
    rated_sp = np.array([d.specific_power_kw_per_m3_min or 7.0 for d in comps])
    capacity = float(rated_flow.sum())
    rated_ratio = 60.0 / float(np.average(rated_sp, weights=rated_flow))
    shifts = int(rng.choice([1, 2, 3], p=[0.25, 0.4, 0.35]))
    efficiency = rng.uniform(0.80, 0.95)
    load = _demand(cal, shifts, rng)

    t_years = (hours - hours[0]) / (365.25 * 86400)
    drift = 1.0 + rng.uniform(-0.03, 0.03) * t_years
    summer = 1.0 - 0.03 * np.exp(-(((cal["doy"] - 205) / 30.0) ** 2))
    ratio = rated_ratio * efficiency * (1.0 - 0.2 * (1.0 - load) ** 2) * summer * drift
    ratio *= 1.0 + 0.02 * rng.standard_normal(n_h)
    if rng.random() < degrading_share:
        onset = end_s - int(rng.uniform(5, 7) * 86400)
        ratio = np.where(hours >= onset, ratio * (1.0 - rng.uniform(0.22, 0.30)), ratio)
    ratio = np.clip(ratio, 5.0, 10.5)

    air = capacity * 60.0 * load                       # m³ per hour
    energy = air / ratio                               # kWh per hour
    present = np.ones(n_h, dtype=bool)
    for _ in range(rng.poisson(2.0 * max(n_h / 8766.0, 0.0))):
        s = int(rng.integers(0, n_h))
        present[s:s + int(rng.integers(1, 13))] = False

    n_c = len(comps)
    comp_s = n_c * 3600.0
    loaded_s = comp_s * load
    unloaded_s = np.minimum(comp_s - loaded_s, comp_s * rng.uniform(0.06, 0.14))
    stopped_s = comp_s - loaded_s - unloaded_s
    unload_kw = 0.25 * float(rated_power.sum()) / max(n_c, 1)
    unloaded_kwh = unloaded_s * unload_kw / 3600.0
    p_base = rng.uniform(0.62, 0.70)
    p_min = np.round(p_base - 0.02 - 0.03 * load + 0.005 * rng.standard_normal(n_h), 3)
    p_max = np.round(p_base + 0.03 + 0.005 * rng.standard_normal(n_h), 3)
    comp_air = air * rng.uniform(1.0, 1.04)            # compressor counters read a little above the meters
    comp_energy = energy * rng.uniform(0.95, 0.99)     # … and below the station feeder (dryer, fans, losses)
    flow_sum = air / 60.0 * 3600.0                     # Σ over 3600 one-second samples of m³/min
    power_sum = energy * 3600.0

    sid = spec.station_id
    idx = np.nonzero(present)[0]
    cols = [hours, flow_sum, power_sum, air, energy, loaded_s, unloaded_s, stopped_s, unloaded_kwh, p_min, p_max,
            comp_air, comp_energy]
    h, fs, ps, ai, en, ls, us, ss, uk, pmi, pma, ca, ce = (c[idx].tolist() for c in cols)
    hour_rows = [(sid, int(h[i]), 3600, fs[i], ps[i], ai[i], en[i], 3600.0, ls[i], us[i], ss[i], 0.0, uk[i],
                  pmi[i], pma[i], 0, 0, ca[i], ce[i]) for i in range(len(idx))]

    # CST days: sums of the present hours
    day_of = (hours[idx] + CST_OFFSET_S) // 86400
    days, first = np.unique(day_of, return_index=True)
    sums = {name: np.add.reduceat(arr[idx], first) for name, arr in
            (("fs", flow_sum), ("ps", power_sum), ("air", air), ("en", energy), ("ls", loaded_s),
             ("us", unloaded_s), ("ss", stopped_s), ("uk", unloaded_kwh), ("ca", comp_air), ("ce", comp_energy))}
    n_hours = np.diff(np.append(first, len(idx)))
    pmin_d = np.minimum.reduceat(p_min[idx], first)
    pmax_d = np.maximum.reduceat(p_max[idx], first)
    day_start = days * 86400 - CST_OFFSET_S
    week = (days - (days + 3) % 7) * 86400 - CST_OFFSET_S
    month = [int(str(d)[:4]) * 100 + int(str(d)[5:7]) for d in days.astype("datetime64[D]")]
    L = {k: v.tolist() for k, v in sums.items()}
    day_rows = [(sid, int(day_start[j]), int(week[j]), month[j], int(n_hours[j]) * 3600, L["fs"][j], L["ps"][j],
                 L["air"][j], L["en"][j], float(n_hours[j]) * 3600.0, L["ls"][j], L["us"][j], L["ss"][j], 0.0,
                 L["uk"][j], float(pmin_d[j]), float(pmax_d[j]), 0, 0, L["ca"][j], L["ce"][j])
                for j in range(len(days))]

    # compressors: day rows split by rated flow (each within ±5 % of the station's own ratio)
    share = rated_flow / capacity
    eff = 1.0 + 0.05 * rng.uniform(-1, 1, n_c)
    e_share = share / eff
    e_share = e_share / e_share.sum()
    rh0 = rng.uniform(5_000, 40_000, n_c)
    run_h_day = (sums["ls"] + sums["us"]) / 3600.0 / max(n_c, 1)
    run_h_cum = np.cumsum(run_h_day)
    dev_day, dev_hour = [], []
    hour_cut = end_s - device_hour_days * 86400
    recent = [i for i in range(len(idx)) if h[i] >= hour_cut]
    for c, d in enumerate(comps):
        rh = (rh0[c] + run_h_cum).tolist()
        for j in range(len(days)):
            a_c = L["ca"][j] * share[c]
            e_c = L["ce"][j] * e_share[c]
            dev_day.append((d.device_id, int(day_start[j]), sid, "compressor", int(week[j]), month[j],
                            int(n_hours[j]) * 3600, a_c * 60.0, e_c * 3600.0, a_c, e_c,
                            float(n_hours[j]) * 3600.0, L["ls"][j] / n_c, L["us"][j] / n_c, L["ss"][j] / n_c, 0.0,
                            L["uk"][j] / n_c, float(pmin_d[j]) + 0.02, float(pmax_d[j]) + 0.04, 0, 0,
                            float(85 + 6 * share[c]), round(rh[j], 1)))
        for i in recent:
            a_c, e_c = ca[i] * share[c], ce[i] * e_share[c]
            dev_hour.append((d.device_id, int(h[i]), sid, "compressor", 3600, a_c * 60.0, e_c * 3600.0, a_c, e_c,
                             3600.0,
                             ls[i] / n_c, us[i] / n_c, ss[i] / n_c, 0.0, uk[i] / n_c, pmi[i] + 0.02, pma[i] + 0.04,
                             0, 0, float(85 + 6 * share[c]), None))

    # minutes of the last hours: each hour's totals spread over its minutes with noise (Σ minutes = the hour)
    minute_rows = []
    cut = end_s - minute_hours * 3600
    for i in range(len(idx)):
        if h[i] < cut:
            continue
        w_air = np.clip(1.0 + 0.08 * rng.standard_normal(60), 0.5, 1.5)
        w_air /= w_air.sum()
        w_en = w_air * np.clip(1.0 + 0.02 * rng.standard_normal(60), 0.9, 1.1)
        w_en /= w_en.sum()
        for m in range(60):
            wa, we = float(w_air[m]), float(w_en[m])
            minute_rows.append((sid, int(h[i]) + 60 * m, 60, fs[i] * wa, ps[i] * we, ai[i] * wa, en[i] * we, 60.0,
                                ls[i] / 60.0, us[i] / 60.0, ss[i] / 60.0, 0.0, uk[i] / 60.0, pmi[i], pma[i], 0, 0,
                                ca[i] * wa, ce[i] * we))
    return {"station_hour": hour_rows, "station_day": day_rows, "device_day": dev_day, "device_hour": dev_hour,
            "station_minute": minute_rows}


def generate_history(engine: Engine, stations: Iterable[StationSpec], *, seed: int = 42,
                     end: datetime | None = None, days: int = 365, minute_hours: int = 24,
                     device_hour_days: int = 7, degrading_share: float = 0.03, replace: bool = False,
                     devices: bool = True, chunk_stations: int = 25) -> HistoryReport:
    """Write demo history for the built stations (with compressors) of ``stations`` over ``[end − days, end)``.

    Args:
        engine: SQLite or PostgreSQL engine migrated to ≥ 0002 (the stations need not be in ``stations`` table,
            but trend queries by region join it).
        stations: :class:`datasources.sql.fleet_spec.StationSpec` list (e.g. :func:`datasources.sql.repository.load_fleet`).
        seed: random seed; the same seed, station id and range give the same rows.
        end: exclusive end, timezone-aware; floored to the hour; default the current hour.
        days: length of the history, days (hour and day rows).
        minute_hours: hours (before ``end``) that also get station minute rows.
        device_hour_days: days (before ``end``) that also get compressor hour rows.
        degrading_share: share of stations whose ratio drops 22–30 % in the last 5–7 days.
        replace: delete the stations' rollups in the range first. Otherwise the call is idempotent: a station with
            hour rows from the start of the range is left alone (the report says ``skipped`` when all are); a
            station whose rows start later — the live recorder ran first — gets history up to the hour of its first
            row (day rows of that day merge additively with the recorder's).
        devices: also write the compressor rows (``energy_device_day``/``energy_device_hour``).
        chunk_stations: stations per transaction.
    Returns:
        a :class:`HistoryReport`.
    Raises:
        ValueError: naive ``end``, ``days < 1``.
    """
    t0 = time.perf_counter()
    if days < 1:
        raise ValueError("days must be ≥ 1")
    if end is None:
        end_s = bucket_start(time.time(), "hour")
    else:
        if end.tzinfo is None:
            raise ValueError("end must be timezone-aware (e.g. tzinfo=ops.energy.CST)")
        end_s = bucket_start(end.timestamp(), "hour")
    start_s = end_s - days * 86400
    built = [s for s in stations if s.lifecycle == "built" and any(d.kind == "compressor" for d in s.devices)]
    report = HistoryReport(False, len(built), {}, 0.0, datetime.fromtimestamp(start_s, CST),
                           datetime.fromtimestamp(end_s, CST))
    ids = [s.station_id for s in built]
    if not built:
        return report
    stops = {sid: end_s for sid in ids}
    if replace:
        with engine.begin() as conn:
            _delete_range(conn, ids, start_s, end_s)
    else:
        for sid, first in _first_rows(engine, ids, start_s, end_s).items():
            stops[sid] = bucket_start(first, "hour")
    todo = [s for s in built if stops[s.station_id] - start_s >= 86400]
    report.stations = len(todo)
    if not todo:
        report.skipped = True
        report.seconds = time.perf_counter() - t0
        log.info("history exists for these stations in the range; skipped")
        return report
    hours_all = np.arange(start_s, end_s, 3600, dtype=np.int64)
    cal_all = _calendar(hours_all)
    targets = {"station_hour": ("station", "hour"), "station_day": ("station", "day"),
               "device_day": ("device", "day"), "device_hour": ("device", "hour"),
               "station_minute": ("station", "minute")}
    counts = {k: 0 for k in targets}
    for i in range(0, len(todo), chunk_stations):
        batch: dict[str, list] = {k: [] for k in targets}
        for spec in todo[i:i + chunk_stations]:
            stop = stops[spec.station_id]
            k_h = (stop - start_s) // 3600
            hours = hours_all[:k_h]
            cal = {name: arr[:k_h] for name, arr in cal_all.items()}
            for k, rows in _station_rows(spec, hours, cal, seed, degrading_share, stop, minute_hours,
                                         device_hour_days).items():
                if devices or not k.startswith("device"):
                    batch[k].extend(rows)
        with engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA cache_size=-131072")  # 128 MiB page cache for the bulk load
            for k, (level, gran) in targets.items():
                # day rows may meet a partial day the live recorder already wrote: merge (additive upsert)
                counts[k] += write_rollups(conn, level, gran, batch[k], upsert=gran == "day")
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA cache_size=-2000")  # back to SQLite's default on the pooled connection
    else:  # fresh statistics and visibility map: the trend queries' index-only scans need both after a bulk load
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE) energy_station_hour, energy_station_day")
    report.rows = counts
    report.seconds = time.perf_counter() - t0
    log.info("history: %d stations, %s rows in %.1f s", len(built), counts, report.seconds)
    return report


def run_history(settings, days: int = 365, replace: bool = False, seed: int | None = None) -> HistoryReport:
    """CLI hook (e.g. ``python -m dashboard history [--days N] [--replace]``): migrate the database and write demo
    history for the demo (``simulated``) stations stored in SQL, ending at the current hour; registered (real)
    sites keep only their recorded history.

    Args:
        settings: a :class:`datasources.settings.Settings` (``database_url``, ``seed``).
        days, replace: as :func:`generate_history`; ``seed`` defaults to ``settings.seed``.
    Returns:
        the :class:`HistoryReport` (``skipped`` when history already exists and ``replace`` is false).
    """
    from datasources.sql.db import make_engine, migrate  # noqa: PLC0415
    from datasources.sql.repository import load_fleet  # noqa: PLC0415

    migrate(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        demo = [s for s in load_fleet(engine) if s.simulated]  # registered sites have real history only
        return generate_history(engine, demo, seed=settings.seed if seed is None else seed,
                                days=days, replace=replace)
    finally:
        engine.dispose()
