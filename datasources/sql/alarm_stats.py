"""Alarm statistics (seed 001 table 1 报警统计): alarms raised in a period by type, severity, region and time.

:func:`alarm_statistics` reads the raised alarms of a period from SQL (one indexed range query on
``alarms.raised_ts_ms``) and :func:`summarize` groups them in Python — the same function serves the HTTP API and
the statistics panel. Time buckets are hours (periods up to 48 h) or days, aligned to China Standard Time (UTC+8,
the operators' clock); timestamps are epoch ms UTC.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Callable, Iterable

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from datasources.sql.alarm_models import Alarm

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
#: China Standard Time offset, ms (bucket boundaries at local midnight / full local hours)
CST_OFFSET_MS = 8 * HOUR_MS
#: named periods of the panel → length, ms
PERIODS = {"24h": DAY_MS, "7d": 7 * DAY_MS, "30d": 30 * DAY_MS}

__all__ = ["PERIODS", "alarm_rows", "alarm_statistics", "summarize"]


def alarm_rows(engine: Engine, since_ms: int, until_ms: int,
               station_ids: Iterable[str] | None = None) -> list[tuple[int, str, int, str, str | None]]:
    """``[(raised_ts_ms, rule_id, severity, station_id, device_kind)]`` of alarms raised in ``[since, until)``;
    ``station_ids`` restricts to those stations (``None``: all)."""
    stmt = (select(Alarm.raised_ts_ms, Alarm.rule_id, Alarm.severity, Alarm.station_id, Alarm.device_kind)
            .where(Alarm.raised_ts_ms >= since_ms, Alarm.raised_ts_ms < until_ms))
    if station_ids is not None:
        stmt = stmt.where(Alarm.station_id.in_(list(station_ids)))
    with Session(engine) as s:
        return [tuple(r) for r in s.execute(stmt)]


def _bucket_start(ts: int, bucket_ms: int) -> int:
    return (ts + CST_OFFSET_MS) // bucket_ms * bucket_ms - CST_OFFSET_MS


def summarize(rows: Iterable[tuple], since_ms: int, until_ms: int,
              region_of: Callable[[str], str | None] = lambda sid: sid) -> dict[str, Any]:
    """Group alarm rows (see :func:`alarm_rows`).

    Args:
        region_of: station id → region key (province / city adcode, or the station id itself); ``None`` → ``"?"``.
    Returns:
        ``{"total", "since_ms", "until_ms", "bucket_ms", "by_severity": {"1": n, …, "4": n},
        "by_rule": [[rule_id, n], …] (most first), "by_region": [[key, n], …] (most first),
        "by_time": [[bucket_start_ms, n], …] (every bucket of the period, oldest first)}``.
    """
    rows = list(rows)
    bucket = HOUR_MS if until_ms - since_ms <= 2 * DAY_MS else DAY_MS
    sev = Counter(str(r[2]) for r in rows)
    rules = Counter(r[1] for r in rows)
    regions = Counter(region_of(r[3]) or "?" for r in rows)
    times = Counter(_bucket_start(int(r[0]), bucket) for r in rows)
    first = _bucket_start(since_ms, bucket)
    series = []
    b = first
    while b < until_ms:
        series.append([b, times.get(b, 0)])
        b += bucket
    return {"total": len(rows), "since_ms": since_ms, "until_ms": until_ms, "bucket_ms": bucket,
            "by_severity": {str(k): sev.get(str(k), 0) for k in (1, 2, 3, 4)},
            "by_rule": [[k, n] for k, n in rules.most_common()],
            "by_region": [[k, n] for k, n in regions.most_common()],
            "by_time": series}


def alarm_statistics(engine: Engine, since_ms: int, until_ms: int, station_ids: Iterable[str] | None = None,
                     region_of: Callable[[str], str | None] = lambda sid: sid) -> dict[str, Any]:
    """:func:`summarize` of :func:`alarm_rows` (see both)."""
    return summarize(alarm_rows(engine, since_ms, until_ms, station_ids), since_ms, until_ms, region_of)


def active_severities(engine: Engine, station_ids: Iterable[str] | None = None) -> dict[str, int]:
    """``{station_id: worst severity}`` (1 = I critical … 4 = IV minor, seed 002 §7.2.5.1) over the alarms whose
    condition is active and that are not closed — any rule. A cleared alarm (waiting for acknowledgement or
    closing) does not count. ``station_ids`` ``None`` = all stations. One SQL query (the source of truth that the
    alarm engine caches in ``cc:station_alarm_severity`` and the map's read side queries).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: database unreachable.
    """
    q = (select(Alarm.station_id, func.min(Alarm.severity)).where(Alarm.active.is_(True), Alarm.state != "closed")
         .group_by(Alarm.station_id))
    if station_ids is not None:
        ids = list(station_ids)
        if not ids:
            return {}
        q = q.where(Alarm.station_id.in_(ids))
    with engine.connect() as conn:
        return {sid: int(sev) for sid, sev in conn.execute(q)}

