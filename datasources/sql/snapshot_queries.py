"""SQL reads of the weekly snapshot (周报), SQLAlchemy Core on the existing tables (SQLite and PostgreSQL).

Definitions (one ISO week ``[start, end)`` of :func:`ops.weekly.week_window`):

* stations total / built: ``stations`` rows created before the week's end (``created_at < end``), all / lifecycle
  ``built``; reporting rate % = built stations with at least one day rollup in the week ÷ built stations (the
  database keeps no history of live online state, so "online" over a week means "reported energy data").
* air m³ / electricity kWh: ``SUM(air_m3)`` / ``SUM(energy_kwh)`` of ``energy_station_day`` with
  ``week_ts = start`` … i.e. ``bucket_ts`` in the week; the ratio is :func:`ops.energy.air_to_power_ratio`
  (Σair/Σenergy, never a mean of ratios). Ranking and the daily trend reuse
  :func:`datasources.sql.energy_store.rank_stations` and :func:`~datasources.sql.energy_store.ratio_trend`.
* alarms raised: ``alarms.raised_ts_ms`` in the week, by ``rule_id`` and by ``severity`` (1 = I … 4 = IV).
* work orders created: ``created_ts_ms`` in the week (by current ``state``); resolved: ``resolved_ts_ms`` in
  the week. SLA compliance: of the orders created in the week, the share with no breached clock of
  :func:`ops.sla.clocks` evaluated at the week's end (or now, if earlier) — seed 003 §2.3.2 limits.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, func, select

from datasources.sql.alarm_models import Alarm, WorkOrder
from datasources.sql.energy_models import STATION_TABLES
from datasources.sql.energy_store import rank_stations, ratio_trend
from datasources.sql.models import Station
from ops.energy import air_to_power_ratio
from ops.sla import CLOCKS, clocks
from ops.weekly import WeekWindow, compliance_pct, delta, previous_week, rate_pct, week_window
from ops.vocab import ORDER_STATES

LIFECYCLES = ("built", "under_construction", "idle", "maintenance")


def _sla(orders: list[WorkOrder], at_ms: int) -> dict[str, Any]:
    """SLA compliance of ``orders`` evaluated at ``at_ms``; cancelled orders are not measured."""
    measured = [o for o in orders if o.state != "cancelled"]
    met = 0
    per_clock = {c: [0, 0] for c in CLOCKS}          # clock → [met, total]
    for o in measured:
        cs = clocks(o.severity, o.created_ts_ms, at_ms, accepted_ms=o.accepted_ts_ms, on_site_ms=o.on_site_ts_ms,
                    resolved_ms=o.resolved_ts_ms)
        if not any(c.breached for c in cs):
            met += 1
        for c in cs:
            per_clock[c.name][1] += 1
            per_clock[c.name][0] += 0 if c.breached else 1
    return {"measured": len(measured), "met": met, "compliance_pct": compliance_pct(met, len(measured)),
            "by_clock": {k: {"met": m, "total": n, "compliance_pct": compliance_pct(m, n)}
                         for k, (m, n) in per_clock.items()}}


def week_kpis(engine: Engine, w: WeekWindow, *, now_ms: int | None = None) -> dict[str, Any]:
    """The KPI figures of one week (see the module docstring for each definition).

    Returns:
        ``{stations_total, stations_built, stations_reporting, reporting_rate_pct, air_m3, energy_kwh,
        ratio_m3_per_kwh, alarms_raised, alarms_sev1, orders_created, orders_resolved, sla_compliance_pct,
        alarms_by_rule, alarms_by_severity, orders_by_state, sla}``.
    """
    end_dt = w.end.astimezone(timezone.utc)
    day = STATION_TABLES["day"].__table__
    eval_ms = min(w.end_ms, now_ms) if now_ms is not None else w.end_ms
    with engine.connect() as conn:
        st = Station.__table__
        created = st.c.created_at < end_dt
        total = conn.execute(select(func.count()).select_from(st).where(created)).scalar_one()
        built_ids = {r[0] for r in conn.execute(select(st.c.station_id).where(created, st.c.lifecycle == "built"))}
        air, energy = conn.execute(select(func.sum(day.c.air_m3), func.sum(day.c.energy_kwh))
                                   .where(day.c.bucket_ts >= w.start_s, day.c.bucket_ts < w.end_s)).one()
        reporting_ids = {r[0] for r in conn.execute(select(day.c.station_id).distinct()
                                                    .where(day.c.bucket_ts >= w.start_s, day.c.bucket_ts < w.end_s))}
        al = Alarm.__table__
        in_week = (al.c.raised_ts_ms >= w.start_ms, al.c.raised_ts_ms < w.end_ms)
        by_rule = {r: int(n) for r, n in conn.execute(select(al.c.rule_id, func.count()).where(*in_week)
                                                      .group_by(al.c.rule_id))}
        by_sev = {int(s): int(n) for s, n in conn.execute(select(al.c.severity, func.count()).where(*in_week)
                                                          .group_by(al.c.severity))}
        wo = WorkOrder.__table__
        resolved = conn.execute(select(func.count()).select_from(wo).where(
            wo.c.resolved_ts_ms >= w.start_ms, wo.c.resolved_ts_ms < w.end_ms)).scalar_one()
    from sqlalchemy.orm import Session  # noqa: PLC0415
    with Session(engine) as s:
        orders = list(s.scalars(select(WorkOrder).where(WorkOrder.created_ts_ms >= w.start_ms,
                                                        WorkOrder.created_ts_ms < w.end_ms)))
        by_state = Counter(o.state for o in orders)
        sla = _sla(orders, eval_ms)
    air = float(air) if air is not None else 0.0
    energy = float(energy) if energy is not None else 0.0
    reporting = len(built_ids & reporting_ids)
    return {
        "stations_total": int(total), "stations_built": len(built_ids), "stations_reporting": reporting,
        "reporting_rate_pct": rate_pct(reporting, len(built_ids)),
        "air_m3": air, "energy_kwh": energy, "ratio_m3_per_kwh": air_to_power_ratio(air, energy),
        "alarms_raised": sum(by_rule.values()), "alarms_sev1": by_sev.get(1, 0),
        "orders_created": len(orders), "orders_resolved": int(resolved),
        "sla_compliance_pct": sla["compliance_pct"],
        "alarms_by_rule": dict(sorted(by_rule.items(), key=lambda kv: (-kv[1], kv[0]))),
        "alarms_by_severity": {k: by_sev.get(k, 0) for k in (1, 2, 3, 4)},
        "orders_by_state": {k: by_state.get(k, 0) for k in ORDER_STATES},
        "sla": sla,
    }


KPI_KEYS = ("stations_total", "stations_built", "reporting_rate_pct", "air_m3", "energy_kwh", "ratio_m3_per_kwh",
            "alarms_raised", "alarms_sev1", "orders_created", "orders_resolved", "sla_compliance_pct")


def _province_names() -> dict[str, str]:
    try:
        from geo.regions import get_region_index  # noqa: PLC0415
        return {r.adcode: r.name_zh for r in get_region_index().provinces()}
    except Exception:  # noqa: BLE001 — names are decoration; adcodes remain
        return {}


def station_breakdown(engine: Engine, w: WeekWindow, top: int = 10) -> dict[str, Any]:
    """Stations existing at the week's end by lifecycle and by province (top ``top`` + others), and the points
    of the map ``[{station_id, name, lon, lat, lifecycle, province_adcode}]`` (WGS-84)."""
    st = Station.__table__
    end_dt = w.end.astimezone(timezone.utc)
    with engine.connect() as conn:
        rows = conn.execute(select(st.c.station_id, st.c.name, st.c.lon, st.c.lat, st.c.lifecycle,
                                   st.c.province_adcode).where(st.c.created_at < end_dt)
                            .order_by(st.c.station_id)).mappings().all()
    by_lc = Counter(r["lifecycle"] for r in rows)
    prov: dict[str, Counter] = {}
    for r in rows:
        prov.setdefault(r["province_adcode"], Counter())[r["lifecycle"]] += 1
    names = _province_names()
    ranked = sorted(prov.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    table = [{"adcode": a, "name": names.get(a, a), "total": sum(c.values()),
              **{lc: c.get(lc, 0) for lc in LIFECYCLES}} for a, c in ranked[:top]]
    rest = ranked[top:]
    if rest:
        agg = Counter()
        for _, c in rest:
            agg.update(c)
        table.append({"adcode": "others", "name": None, "total": sum(agg.values()),
                      **{lc: agg.get(lc, 0) for lc in LIFECYCLES}, "provinces": len(rest)})
    return {"by_lifecycle": {lc: by_lc.get(lc, 0) for lc in LIFECYCLES}, "by_province": table,
            "points": [dict(r) for r in rows]}


def _ratio_row(r) -> dict[str, Any]:
    return {"rank": r.rank, "station_id": r.station_id, "name": r.name, "air_m3": r.air_m3,
            "energy_kwh": r.energy_kwh, "ratio_m3_per_kwh": r.ratio}


def snapshot_data(engine: Engine, week: str, *, now_ms: int | None = None, top: int = 10) -> dict[str, Any]:
    """Everything the weekly snapshot shows, for ISO ``week`` (``"2026-W47"``) and the week before.

    Returns:
        ``{week, previous_week, start, end (ISO text, CST), current: week_kpis, previous: week_kpis,
        deltas: {kpi: Delta-as-dict}, stations: station_breakdown, ranking: {best, worst, count},
        trend: [{day, ratio, prev_day, prev_ratio, air_m3, energy_kwh}]}``.
    Raises:
        ValueError: malformed week.
    """
    w = week_window(week)
    pw = week_window(previous_week(w.week))
    cur = week_kpis(engine, w, now_ms=now_ms)
    prev = week_kpis(engine, pw, now_ms=now_ms)
    deltas = {k: delta(cur[k], prev[k]).__dict__ for k in KPI_KEYS}
    ranked = rank_stations(engine, "nation", w.start, w.end)
    trend = ratio_trend(engine, "nation", w.start, w.end, "day", compare=True)
    return {
        "week": w.week, "previous_week": pw.week, "start": w.start.isoformat(), "end": w.end.isoformat(),
        "start_ms": w.start_ms, "end_ms": w.end_ms,
        "current": cur, "previous": prev, "deltas": deltas,
        "stations": station_breakdown(engine, w, top=top),
        "ranking": {"count": len(ranked), "best": [_ratio_row(r) for r in ranked[:top]],
                    "worst": [_ratio_row(r) for r in reversed(ranked[-top:])] if ranked else []},
        "trend": [{"day": p.start.date().isoformat(), "ratio": p.ratio, "air_m3": p.air_m3,
                   "energy_kwh": p.energy_kwh,
                   "prev_day": p.prev_start.date().isoformat() if p.prev_start else None,
                   "prev_ratio": p.prev_ratio} for p in trend.points],
    }
