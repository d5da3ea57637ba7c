"""Arithmetic of the leaders' weekly snapshot (周报): ISO week windows, week-on-week deltas, SLA compliance.

Pure functions, no I/O. Time zone: China Standard Time (Asia/Shanghai, UTC+8, no daylight saving since 1991), the
zone of the energy rollups (:mod:`ops.energy` ``CST``). A week is the ISO-8601 week: Monday 00:00 local time to the
next Monday 00:00 (end exclusive), given as epoch **milliseconds** UTC (the clock of alarms and work orders) and
epoch **seconds** (the clock of the energy rollups' ``bucket_ts``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ops.energy import CST

_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")
#: the scheduler writes last week's snapshot from Monday 06:00 local time (after the night's rollups, before the
#: morning meeting) — product decision of the weekly-report issue (seed 002 asks for weekly reports).
SCHEDULE_HOUR_LOCAL = 6


@dataclass(frozen=True)
class WeekWindow:
    """One ISO week. ``week``: ``"2026-W47"``; ``start``/``end``: aware datetimes in CST (end exclusive);
    ``start_ms``/``end_ms``: epoch ms UTC; ``start_s``/``end_s``: epoch s UTC."""

    week: str
    start: datetime
    end: datetime

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp()) * 1000

    @property
    def end_ms(self) -> int:
        return int(self.end.timestamp()) * 1000

    @property
    def start_s(self) -> int:
        return int(self.start.timestamp())

    @property
    def end_s(self) -> int:
        return int(self.end.timestamp())

    def days(self) -> list[datetime]:
        """The 7 local midnights (CST) of the week."""
        return [self.start + timedelta(days=i) for i in range(7)]


def parse_week(week: str) -> tuple[int, int]:
    """``"2026-W47"`` → ``(2026, 47)``.

    Raises:
        ValueError: not ``YYYY-Www`` or the week does not exist in that ISO year (e.g. W53 of a 52-week year).
    """
    m = _WEEK_RE.match(str(week or "").strip())
    if not m:
        raise ValueError(f"week must look like 2026-W47 (ISO year-week), got {week!r}")
    year, num = int(m.group(1)), int(m.group(2))
    try:
        date.fromisocalendar(year, num, 1)
    except ValueError:
        raise ValueError(f"ISO year {year} has no week {num:02d}") from None
    return year, num


def week_window(week: str) -> WeekWindow:
    """The window of an ISO week in CST. Raises ValueError as :func:`parse_week`."""
    year, num = parse_week(week)
    monday = date.fromisocalendar(year, num, 1)
    start = datetime(monday.year, monday.month, monday.day, tzinfo=CST)
    return WeekWindow(f"{year}-W{num:02d}", start, start + timedelta(days=7))


def week_of(ts: datetime) -> str:
    """ISO week (``"2026-W47"``) containing the aware datetime ``ts`` in CST.

    Raises:
        ValueError: naive datetime.
    """
    if ts.tzinfo is None:
        raise ValueError("week_of needs a timezone-aware datetime")
    y, w, _ = ts.astimezone(CST).isocalendar()
    return f"{y}-W{w:02d}"


def previous_week(week: str) -> str:
    """The ISO week before ``week`` (``2027-W01`` → ``2026-W53`` when 2026 has 53 weeks)."""
    return week_of(week_window(week).start - timedelta(days=1))


def last_complete_week(now: datetime) -> str:
    """The most recent ISO week that has ended at ``now`` (aware), i.e. the week before ``now``'s week."""
    return previous_week(week_of(now))


def snapshot_due(now: datetime) -> bool:
    """True from Monday :data:`SCHEDULE_HOUR_LOCAL`:00 CST on (any later day of the week is also due, so a
    scheduler that was down on Monday catches up)."""
    local = now.astimezone(CST)
    return local.isoweekday() > 1 or local.hour >= SCHEDULE_HOUR_LOCAL


@dataclass(frozen=True)
class Delta:
    """A figure beside the previous week's: ``change`` = current − previous (same unit), ``change_pct`` relative
    change in % (``None`` when the previous value is 0 or missing)."""

    current: float | None
    previous: float | None
    change: float | None
    change_pct: float | None


def delta(current: float | None, previous: float | None) -> Delta:
    """Week-on-week change (环比) of one KPI."""
    if current is None or previous is None:
        return Delta(current, previous, None, None)
    change = current - previous
    pct = None if previous == 0 else change / abs(previous) * 100.0
    return Delta(current, previous, change, pct)


def compliance_pct(met: int, total: int) -> float | None:
    """SLA compliance, % = ``met / total × 100``; ``None`` with no orders (not 100 %: nothing was measured).

    Raises:
        ValueError: negative counts or ``met > total``.
    """
    if met < 0 or total < 0 or met > total:
        raise ValueError(f"compliance needs 0 <= met <= total, got met={met}, total={total}")
    return None if total == 0 else met / total * 100.0


def rate_pct(part: int, whole: int) -> float | None:
    """``part / whole × 100`` or ``None`` when ``whole`` is 0."""
    return None if whole <= 0 else part / whole * 100.0
