"""Dispatch choice and the work-order state machine (pure, no I/O).

Work-order flow of seed 001 table 2/3 (派单 dispatch, 抢单 grab, 接单 accept, 打卡 check-in, 处理结果 result,
回访 return visit, 评价 rating) and DESIGN.md's states::

    created ──assign──► assigned ──accept──► accepted ──check_in──► on_site ──resolve──► resolved ──close──► closed
       │                   ▲  │                 ▲ │                                  ▲
       └──grab (抢单)───────┼──┼─────────────────┘ └──resolve (remote fix)─────────────┘
                           └──┘ reassign (before on site)
    any state before resolved ──cancel──► cancelled

Ranking of candidates for an order (:func:`propose`), in this order of precedence:

1. on duty (off-duty engineers are excluded and listed with the reason);
2. has the skill the alarm/device needs (engineers without it rank after every engineer with it);
3. lowest cost = great-circle distance home→station in km + :data:`KM_PER_OPEN_ORDER` × open orders
   (engineering default: one open order weighs like 30 km of extra travel);
4. engineer id (stable tie break).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Iterable

from ops.vocab import ORDER_WORKING_STATES

#: mean Earth radius (IUGG), metres
EARTH_RADIUS_M = 6_371_008.8
#: weight of one open order in the ranking cost, km (engineering default)
KM_PER_OPEN_ORDER = 30.0

#: action → (states it may start from, resulting state)
ORDER_TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "assign": (frozenset({"created", "assigned", "accepted"}), "assigned"),
    "grab": (frozenset({"created"}), "accepted"),
    "accept": (frozenset({"assigned"}), "accepted"),
    "check_in": (frozenset({"accepted"}), "on_site"),
    "resolve": (frozenset({"accepted", "on_site"}), "resolved"),
    "close": (frozenset({"resolved"}), "closed"),
    "cancel": (frozenset(ORDER_WORKING_STATES), "cancelled"),
}


class IllegalOrderTransition(ValueError):
    """The work-order action is not allowed in its current state; the message names both."""


def next_order_state(state: str, action: str) -> str:
    """State after ``action`` (one of :data:`ORDER_TRANSITIONS`) from ``state``.

    Raises:
        IllegalOrderTransition: not allowed from ``state``. ValueError: unknown action.
    """
    if action not in ORDER_TRANSITIONS:
        raise ValueError(f"unknown work-order action {action!r} (one of {', '.join(ORDER_TRANSITIONS)})")
    sources, target = ORDER_TRANSITIONS[action]
    if state not in sources:
        raise IllegalOrderTransition(f"cannot {action} a work order that is {state} "
                                     f"(allowed from: {', '.join(sorted(sources))})")
    return target


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance between two WGS-84 (EPSG:4326) points given in degrees, metres (spherical Earth,
    radius :data:`EARTH_RADIUS_M`; error < 0.5 % against the ellipsoid — enough to rank engineers).

    Raises:
        ValueError: a latitude outside [-90, 90] or a non-finite coordinate.
    """
    for v in (lon1, lat1, lon2, lat2):
        if not math.isfinite(v):
            raise ValueError(f"coordinate {v!r} is not finite")
    if not (-90 <= lat1 <= 90 and -90 <= lat2 <= 90):
        raise ValueError(f"latitude outside [-90, 90]: {lat1}, {lat2}")
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dphi, dlmb = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class EngineerCandidate:
    """A field engineer as seen by dispatch. lon/lat: current or home position, WGS-84 degrees.
    ``open_orders``: orders assigned to them and not yet resolved/closed/cancelled."""

    engineer_id: str
    name: str
    skills: frozenset[str]
    lon: float
    lat: float
    on_duty: bool
    open_orders: int = 0


@dataclass(frozen=True)
class RankedCandidate:
    """One ranked engineer: ``rank`` 1 = best; ``cost`` km-equivalent (lower is better, see module docstring);
    ``distance_km`` great-circle; ``reasons`` human-readable, e.g. ("on duty", "skill compressor", "12.3 km",
    "1 open order")."""

    engineer_id: str
    name: str
    rank: int
    cost: float
    distance_km: float
    open_orders: int
    skill_match: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Proposal:
    """Result of :func:`propose`. ``best`` is ``ranked[0]`` or ``None`` when nobody is on duty; ``ranked`` holds
    at most ``top`` candidates (the runners-up follow the best); ``excluded`` lists (engineer_id, reason)."""

    station_id: str
    skill: str | None
    ranked: tuple[RankedCandidate, ...]
    excluded: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    considered: int = 0

    @property
    def best(self) -> RankedCandidate | None:
        """The rank-1 candidate, or ``None`` when nobody is on duty."""
        return self.ranked[0] if self.ranked else None

    def to_dict(self) -> dict:
        """JSON-ready dict (for the UI, the order's stored proposal and the ``cc:workorders`` message)."""
        return {"station_id": self.station_id, "skill": self.skill, "considered": self.considered,
                "best": asdict(self.best) if self.best else None,
                "ranked": [asdict(r) for r in self.ranked], "excluded": [list(e) for e in self.excluded]}


def propose(candidates: Iterable[EngineerCandidate], station_lon: float, station_lat: float,
            skill: str | None = None, top: int = 3, station_id: str = "") -> Proposal:
    """Rank engineers for an order at a station (WGS-84 degrees). See the module docstring for the order.

    Args:
        skill: required skill (e.g. ``compressor``) or ``None`` (any engineer qualifies).
        top: how many to return (best + runners-up), ≥ 1.
    Raises:
        ValueError: ``top`` < 1 or invalid coordinates.
    """
    if top < 1:
        raise ValueError("top must be ≥ 1")
    ranked: list[tuple[tuple, dict]] = []
    excluded: list[tuple[str, str]] = []
    n = 0
    for c in candidates:
        n += 1
        if not c.on_duty:
            excluded.append((c.engineer_id, "off duty"))
            continue
        dist_km = haversine_m(c.lon, c.lat, station_lon, station_lat) / 1000.0
        match = skill is None or skill in c.skills
        cost = dist_km + KM_PER_OPEN_ORDER * c.open_orders
        reasons = ["on duty",
                   (f"skill {skill}" if match else f"lacks skill {skill}") if skill else "no skill required",
                   f"{dist_km:.1f} km from station",
                   f"{c.open_orders} open order{'s' if c.open_orders != 1 else ''}"]
        ranked.append(((not match, round(cost, 6), c.engineer_id),
                       dict(engineer_id=c.engineer_id, name=c.name, cost=round(cost, 1),
                            distance_km=round(dist_km, 1), open_orders=c.open_orders, skill_match=match,
                            reasons=tuple(reasons))))
    ranked.sort(key=lambda item: item[0])
    out = tuple(RankedCandidate(rank=i + 1, **d) for i, (_k, d) in enumerate(ranked[:top]))
    return Proposal(station_id=station_id, skill=skill, ranked=out, excluded=tuple(excluded), considered=n)
