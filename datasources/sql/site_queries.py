"""Read side of the site panel's record (站点档案): one station's alarm history, its work orders, its partner
(合作方), the revenue of an idle station (空闲站房收益) and the construction milestones (建设节点) of a station under
construction (seed 001 table 7, 大屏展示). Read only; SQL through SQLAlchemy Core/ORM, the same on SQLite and
PostgreSQL.

Clocks: timestamps are epoch milliseconds UTC (``*_ms``) like the bus; calendar dates (``idle_since``, milestones)
are local dates (Asia/Shanghai) as ISO strings ``YYYY-MM-DD``. Money: CNY (``*_cny``, ``*_cny_month``).
"""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Engine, case, func, or_, select
from sqlalchemy.orm import Session

from datasources.sql.alarm_models import Alarm, Engineer, WorkOrder
from datasources.sql.models import Station
from ops.sla import clocks as sla_clocks
from ops.vocab import ORDER_FLOW, ORDER_TERMINAL_STATES, SEVERITY_ROMAN, SLA_LABEL_KEYS, alerting, order_step

DAY_MS = 86_400_000
#: local time of the centre (dates of idle-since and milestones, "today")
CST = timezone(timedelta(hours=8))
#: finished work-order states (:data:`ops.vocab.ORDER_TERMINAL_STATES`); ``ORDER_FLOW`` is :mod:`ops.vocab`'s
CLOSED_ORDER_STATES = ORDER_TERMINAL_STATES
#: pro-rata rent: a day's rent is the monthly rent × 12 / 365 (the usual Chinese lease convention
#: 日租金 = 月租金 × 12 ÷ 365, whatever the month's length)
DAYS_PER_YEAR = 365


def local_today(now_ms: int) -> date:
    """The calendar date in Asia/Shanghai at epoch ms ``now_ms``."""
    return datetime.fromtimestamp(now_ms / 1000, CST).date()


# ---------------------------------------------------------------- alarms


def alarm_history(engine: Engine, station_id: str, *, now_ms: int, days: int = 30, limit: int = 20) -> dict[str, Any]:
    """The station's recent alarms, newest first (已建站点故障详情).

    Args:
        now_ms: evaluation time, epoch ms UTC (durations of alarms still active run up to it).
        days: window: alarms raised in the last ``days`` days, plus any still open (not closed) alarm however old.
        limit: at most this many rows (the counts cover the whole window, not only the rows).
    Returns:
        ``{"since_ms": int, "total": int, "counts": {1: n, 2: n, 3: n, 4: n}, "open": int, "rows": [row, …]}`` —
        ``counts`` by severity (1 = I … 4 = IV), ``open``: not closed; each row ``{"id", "rule", "message"
        ("中文 / English"), "device_id", "severity", "severity_roman", "state" (active / acknowledged /
        cleared_unacknowledged / cleared / closed, or shelved), "active": bool, "raised_ts_ms", "cleared_ts_ms",
        "closed_ts_ms", "duration_ms", "alerting" (:func:`ops.vocab.alerting`)}``; ``duration_ms`` = cleared − raised, or now − raised while active.
        Rows ordered by ``raised_ts_ms`` descending, then id descending.
    Raises:
        ValueError: ``days`` or ``limit`` < 1.
    """
    if days < 1 or limit < 1:
        raise ValueError(f"days and limit must be ≥ 1, got {days}, {limit}")
    since = now_ms - days * DAY_MS
    scope = (Alarm.station_id == station_id) & or_(Alarm.raised_ts_ms >= since, Alarm.open_key.is_not(None))
    with Session(engine) as s:
        counts = {sev: 0 for sev in SEVERITY_ROMAN}
        for sev, n in s.execute(select(Alarm.severity, func.count()).where(scope).group_by(Alarm.severity)):
            counts[int(sev)] = int(n)
        n_open = int(s.scalar(select(func.count()).select_from(Alarm).where(scope, Alarm.open_key.is_not(None)))
                     or 0)
        rows = []
        for a in s.scalars(select(Alarm).where(scope).order_by(Alarm.raised_ts_ms.desc(), Alarm.id.desc())
                           .limit(limit)):
            shelved = bool(a.shelved_until_ms and a.shelved_until_ms > now_ms and a.state != "closed")
            end = a.cleared_ts_ms if not a.active and a.cleared_ts_ms else (None if a.active else a.last_change_ts_ms)
            rows.append({
                "id": a.id, "rule": a.rule_id, "message": a.message, "device_id": a.device_id,
                "severity": a.severity, "severity_roman": SEVERITY_ROMAN.get(a.severity, "?"),
                "state": "shelved" if shelved else a.state, "active": bool(a.active),
                "raised_ts_ms": a.raised_ts_ms, "cleared_ts_ms": a.cleared_ts_ms, "closed_ts_ms": a.closed_ts_ms,
                "duration_ms": max(0, (end if end is not None else now_ms) - a.raised_ts_ms),
                "alerting": alerting({"severity": a.severity, "active": a.active, "acknowledged": a.acknowledged,
                                      "shelved": shelved, "state": a.state}),
            })
    return {"since_ms": since, "total": sum(counts.values()), "counts": counts, "open": n_open, "rows": rows}


# ---------------------------------------------------------------- work orders


def work_orders(engine: Engine, station_id: str, *, now_ms: int, days: int = 30, limit: int = 10) -> dict[str, Any]:
    """The station's work orders: every open one, then the recent finished ones, newest first within each group.

    Args:
        now_ms: evaluation time of the SLA clocks (:mod:`ops.sla`), epoch ms UTC.
        days: finished (closed / cancelled) orders are listed when created in the last ``days`` days.
        limit: at most this many rows.
    Returns:
        ``{"open": int, "recent": int, "rows": [row, …]}`` (``recent``: finished orders of the window); each row
        ``{"id", "title" ("中文 / English" when generated), "state", "step" (index in :data:`ORDER_FLOW`, -1 for
        cancelled), "severity", "severity_roman", "assignee_id", "assignee_name", "assignee_name_en",
        "created_ts_ms", "closed_ts_ms", "open" (:func:`ops.vocab.order_open`), "sla_clock" (the running clock:
        respond / on_site / handled, or None), "sla_due_ms" = "sla_deadline_ms" (its deadline, epoch ms, or None),
        "sla_label_key" (its catalog key, or None), "sla_remaining_ms", "overdue": bool (a running clock is past
        its deadline), "breached": [clock names whose deadline was missed, running or met late]}``.
    Raises:
        ValueError: ``days`` or ``limit`` < 1.
    """
    if days < 1 or limit < 1:
        raise ValueError(f"days and limit must be ≥ 1, got {days}, {limit}")
    since = now_ms - days * DAY_MS
    is_open = WorkOrder.state.not_in(CLOSED_ORDER_STATES)
    scope = (WorkOrder.station_id == station_id) & or_(is_open, WorkOrder.created_ts_ms >= since)
    stmt = (select(WorkOrder, Engineer.name, Engineer.name_en)
            .outerjoin(Engineer, Engineer.engineer_id == WorkOrder.assignee_id).where(scope)
            .order_by(case((is_open, 0), else_=1), WorkOrder.created_ts_ms.desc(), WorkOrder.id.desc()).limit(limit))
    with Session(engine) as s:
        n_open = int(s.scalar(select(func.count()).select_from(WorkOrder)
                              .where(WorkOrder.station_id == station_id, is_open)) or 0)
        n_recent = int(s.scalar(select(func.count()).select_from(WorkOrder).where(
            WorkOrder.station_id == station_id, WorkOrder.state.in_(CLOSED_ORDER_STATES),
            WorkOrder.created_ts_ms >= since)) or 0)
        rows = []
        for o, name, name_en in s.execute(stmt):
            live = o.state not in CLOSED_ORDER_STATES
            clk = sla_clocks(o.severity, o.created_ts_ms, now_ms, accepted_ms=o.accepted_ts_ms,
                             on_site_ms=o.on_site_ts_ms, resolved_ms=o.resolved_ts_ms)
            running = next((c for c in clk if c.running), None) if live else None
            rows.append({
                "id": o.id, "title": o.title, "state": o.state,
                "step": order_step(o.state), "open": live,
                "severity": o.severity, "severity_roman": SEVERITY_ROMAN.get(o.severity, "?"),
                "assignee_id": o.assignee_id, "assignee_name": name, "assignee_name_en": name_en,
                "created_ts_ms": o.created_ts_ms, "closed_ts_ms": o.closed_ts_ms,
                "sla_clock": running.name if running else None,
                "sla_due_ms": running.deadline_ms if running else None,
                "sla_deadline_ms": running.deadline_ms if running else None,
                "sla_label_key": SLA_LABEL_KEYS[running.name] if running else None,
                "sla_remaining_ms": running.remaining_ms if running else None,
                "overdue": bool(running and running.breached),
                "breached": [c.name for c in clk if c.breached and (live or not c.running)],
            })
    return {"open": n_open, "recent": n_recent, "rows": rows}


# ---------------------------------------------------------------- idle revenue, milestones


def idle_revenue(lease_cny_month: float | None, market_lease_cny_month: float | None, idle_since: date | None,
                 today: date) -> dict[str, Any] | None:
    """Revenue of an idle station room (空闲站房收益) from its lease, to ``today``.

    Model: an idle station is a finished room without compressed-air service; its revenue is the rent of the room.
    Stored per station: the contracted monthly lease income ``lease_cny_month`` (0 = not let) and the market
    (asking) rent ``market_lease_cny_month`` of the room, CNY/month, and the first idle day ``idle_since``. Rent
    accrues pro rata per day at monthly × 12 / 365 (:data:`DAYS_PER_YEAR`, the Chinese lease convention
    日租金 = 月租金 × 12 ÷ 365). Over the ``days_idle`` = today − idle_since days (0 if in the future):

    * ``revenue_to_date_cny`` = lease × 12 / 365 × days_idle — income earned while idle;
    * ``potential_to_date_cny`` = market × 12 / 365 × days_idle — income had the room been let at market rent
      the whole time;
    * ``forgone_cny`` = max(0, potential − revenue) — the income lost to vacancy or under-market rent;
    * ``annual_cny`` = lease × 12 — the run rate of the current lease; ``occupancy_pct`` = lease / market × 100.

    Missing figures count as 0 (``market`` missing: potential = revenue). Amounts rounded to 0.01 CNY.

    Returns:
        ``{"lease_cny_month", "market_lease_cny_month", "idle_since" (ISO or None), "days_idle", "leased": bool,
        "revenue_to_date_cny", "potential_to_date_cny", "forgone_cny", "annual_cny", "occupancy_pct" (or None)}``,
        or ``None`` when neither lease figure nor date is recorded.
    """
    if lease_cny_month is None and market_lease_cny_month is None and idle_since is None:
        return None
    lease = max(0.0, float(lease_cny_month or 0.0))
    market = max(0.0, float(market_lease_cny_month)) if market_lease_cny_month is not None else None
    days_idle = max(0, (today - idle_since).days) if idle_since else 0
    per_day = 12 / DAYS_PER_YEAR
    revenue = round(lease * per_day * days_idle, 2)
    potential = round((market if market is not None else lease) * per_day * days_idle, 2)
    return {
        "lease_cny_month": lease, "market_lease_cny_month": market,
        "idle_since": idle_since.isoformat() if idle_since else None, "days_idle": days_idle, "leased": lease > 0,
        "revenue_to_date_cny": revenue, "potential_to_date_cny": potential,
        "forgone_cny": round(max(0.0, potential - revenue), 2), "annual_cny": round(lease * 12, 2),
        "occupancy_pct": round(lease / market * 100, 1) if market else None,
    }


def milestone_progress(milestones_json: str | None, today: date) -> dict[str, Any] | None:
    """Construction milestones (建设节点) with their status at ``today``.

    Args:
        milestones_json: the ``stations.build_milestones`` text: ``[{"key", "planned": ISO, "done": ISO | null}]``.
    Returns:
        ``{"done": n, "total": n, "pct": 0–100, "current": key | None, "items": [{"key", "planned", "done",
        "status": "done" | "late" (done after plan) | "current" (first unfinished) | "overdue" (unfinished, plan
        passed) | "planned", "delay_days": int (done − planned, or today − planned while overdue; else 0)}]}``;
        ``None`` when nothing is recorded or the text is not valid JSON.
    """
    try:
        items = json.loads(milestones_json) if milestones_json else None
    except ValueError:
        return None
    if not items or not isinstance(items, list):
        return None
    out, current = [], None
    for m in items:
        if not isinstance(m, dict):
            continue
        planned = date.fromisoformat(m["planned"]) if m.get("planned") else None
        done = date.fromisoformat(m["done"]) if m.get("done") else None
        delay = 0
        if done is not None:
            delay = (done - planned).days if planned else 0
            status = "late" if delay > 0 else "done"
        else:
            if planned is not None and planned < today:
                status, delay = "overdue", (today - planned).days
            else:
                status = "planned"
            if current is None:
                current = m.get("key")
                status = "overdue" if status == "overdue" else "current"
        out.append({"key": m.get("key"), "planned": m.get("planned"), "done": m.get("done"), "status": status,
                    "delay_days": delay})
    n_done = sum(1 for i in out if i["done"])
    return {"done": n_done, "total": len(out), "pct": round(100 * n_done / len(out)) if out else 0,
            "current": current, "items": out}


def station_record(engine: Engine, station_id: str, *, now_ms: int) -> dict[str, Any] | None:
    """Partner, lifecycle and lifecycle figures of one station.

    Returns:
        ``{"station_id", "lifecycle", "partner": {"name", "contact", "phone"}, "revenue": idle_revenue(…) or None
        (idle stations only), "milestones": milestone_progress(…) or None (stations under construction only)}``,
        or ``None`` for an unknown station. "Today" is the Asia/Shanghai date at ``now_ms``.
    """
    with Session(engine) as s:
        st = s.get(Station, station_id)
        if st is None:
            return None
        today = local_today(now_ms)
        return {
            "station_id": st.station_id, "lifecycle": st.lifecycle,
            "partner": {"name": st.partner or "", "contact": st.partner_contact or "", "phone": st.partner_phone or ""},
            "revenue": (idle_revenue(st.lease_cny_month, st.market_lease_cny_month, st.idle_since, today)
                        if st.lifecycle == "idle" else None),
            "milestones": (milestone_progress(st.build_milestones, today)
                           if st.lifecycle == "under_construction" else None),
        }


def site_record(engine: Engine, station_id: str, *, now_ms: int, days: int = 30, alarm_limit: int = 20,
                order_limit: int = 10) -> dict[str, Any] | None:
    """Everything the site panel's record shows: ``{**station_record(…), "alarms": alarm_history(…),
    "orders": work_orders(…), "now_ms": now_ms, "days": days}``, or ``None`` for an unknown station."""
    rec = station_record(engine, station_id, now_ms=now_ms)
    if rec is None:
        return None
    rec["alarms"] = alarm_history(engine, station_id, now_ms=now_ms, days=days, limit=alarm_limit)
    rec["orders"] = work_orders(engine, station_id, now_ms=now_ms, days=days, limit=order_limit)
    rec["now_ms"], rec["days"] = now_ms, days
    return rec


__all__ = ["CLOSED_ORDER_STATES", "DAYS_PER_YEAR", "ORDER_FLOW", "alarm_history", "idle_revenue", "local_today",
           "milestone_progress", "site_record", "station_record", "work_orders"]
