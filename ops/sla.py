"""Service-level clocks of work orders (pure; every function takes ``now_ms`` explicitly).

Source: seed 003 §2.3.2 故障响应 (fault response commitments of the O&M contract):

================  =========================  ===========  ===========  =============
alarm severity    seed 003 fault class        respond      on site      handled
================  =========================  ===========  ===========  =============
I   critical      紧急故障 emergency           30 min       2 h          4 h
II  serious       严重故障 serious             60 min       4 h          8 h
III general       一般故障 general             2 h          —            24 h
IV  minor         一般故障 general             2 h          —            24 h
================  =========================  ===========  ===========  =============

Severity grades I–IV are seed 002's (§7.2.5.1); its own resolution limits (12 h / 24 h / 48 h / 4 days) are for
software faults of that system and are not used here. The clocks start when the work order is created — the request reaches the maintainer (seed 003's
maintenance terms count "接到报修后", from the repair request) — and stop at:

* ``respond``  — the engineer accepts (接单) or grabs (抢单) the order;
* ``on_site``  — the engineer checks in on site (打卡);
* ``handled``  — the engineer reports the result (处理结果, state ``resolved``).
"""
from __future__ import annotations

from dataclasses import dataclass

from ops.vocab import SLA_CLOCKS

MIN = 60_000
HOUR = 3_600_000

#: clock names, in order (:data:`ops.vocab.SLA_CLOCKS`; labels and countdown text are the vocabulary's)
CLOCKS = SLA_CLOCKS


@dataclass(frozen=True)
class SlaPolicy:
    """Limits of one severity, milliseconds from order creation; ``on_site_ms`` ``None`` = no on-site clock."""

    respond_ms: int
    on_site_ms: int | None
    handled_ms: int
    fault_class: str

    def limit(self, clock: str) -> int | None:
        """Limit of ``clock`` (one of :data:`CLOCKS`), ms, or ``None``."""
        return {"respond": self.respond_ms, "on_site": self.on_site_ms, "handled": self.handled_ms}[clock]


#: seed 003 §2.3.2; key = alarm severity 1 (I) … 4 (IV)
SLA_BY_SEVERITY: dict[int, SlaPolicy] = {
    1: SlaPolicy(30 * MIN, 2 * HOUR, 4 * HOUR, "emergency"),
    2: SlaPolicy(60 * MIN, 4 * HOUR, 8 * HOUR, "serious"),
    3: SlaPolicy(2 * HOUR, None, 24 * HOUR, "general"),
    4: SlaPolicy(2 * HOUR, None, 24 * HOUR, "general"),
}


def policy_for(severity: int) -> SlaPolicy:
    """The :class:`SlaPolicy` of an alarm severity 1..4.

    Raises:
        ValueError: severity outside 1..4.
    """
    try:
        return SLA_BY_SEVERITY[int(severity)]
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"severity must be 1..4 (I..IV), got {severity!r}") from None


@dataclass(frozen=True)
class ClockStatus:
    """One SLA clock of one order.

    Attributes:
        name: ``respond`` / ``on_site`` / ``handled``. limit_ms: allowed duration. deadline_ms: epoch ms.
        met_ms: when the clock stopped (epoch ms) or ``None`` while running.
        breached: the deadline passed before the clock stopped (or it is still running after it).
        remaining_ms: ``deadline - now`` while running (negative = overdue); ``deadline - met`` once met.
    """

    name: str
    limit_ms: int
    deadline_ms: int
    met_ms: int | None
    breached: bool
    remaining_ms: int

    @property
    def running(self) -> bool:
        """True while the clock has not stopped."""
        return self.met_ms is None


def clocks(severity: int, created_ms: int, now_ms: int, *, accepted_ms: int | None = None,
           on_site_ms: int | None = None, resolved_ms: int | None = None) -> list[ClockStatus]:
    """The SLA clocks of an order at ``now_ms``.

    Args:
        severity: 1..4. created_ms: order creation, epoch ms. now_ms: evaluation time, epoch ms.
        accepted_ms / on_site_ms / resolved_ms: when the order reached accepted / on site / resolved, or ``None``.
            Reaching a later stage also stops the earlier clocks (a resolved order has responded).
    Returns:
        clocks in :data:`CLOCKS` order; severities without an on-site limit omit that clock.
    Raises:
        ValueError: severity outside 1..4.
    """
    policy = policy_for(severity)
    stops = {"respond": accepted_ms or on_site_ms or resolved_ms, "on_site": on_site_ms or resolved_ms,
             "handled": resolved_ms}
    out = []
    for name in CLOCKS:
        limit = policy.limit(name)
        if limit is None:
            continue
        deadline = created_ms + limit
        met = stops[name]
        if met is None:
            out.append(ClockStatus(name, limit, deadline, None, now_ms > deadline, deadline - now_ms))
        else:
            out.append(ClockStatus(name, limit, deadline, met, met > deadline, deadline - met))
    return out


def breached_clocks(severity: int, created_ms: int, now_ms: int, **stops: int | None) -> list[str]:
    """Names of the clocks breached at ``now_ms`` (same arguments as :func:`clocks`)."""
    return [c.name for c in clocks(severity, created_ms, now_ms, **stops) if c.breached]
