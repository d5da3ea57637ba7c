"""The live read model of the fleet: station index, live state per station, KPIs per scope.

Used by the HTTP snapshot endpoints and the page's first paint (full computation from ``cc:summary``) and by the
Socket.IO bridge (incremental: :class:`FleetAggregate` updates per station in O(1), so a flush costs
O(changed stations)).

Units: flow m³/min, power kW, air-to-power ratio m³/kWh (= Σflow × 60 / Σpower), timestamps epoch ms UTC.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from datasources.bus.messages import SUMMARY_HASH
from datasources.sql.fleet_spec import StationSpec
from datasources.settings import get_settings
from layers.base import Scope
from ops.station_state import air_to_power_ratio_m3_per_kwh, fold_open_alarm
from ops.vocab import STATION_ONLINE_STATES, STATION_STATES

log = logging.getLogger(__name__)

ONLINE_STATES = STATION_ONLINE_STATES

#: a summary stamped more than this far ahead of this process's clock is not trusted (ms). The poller stamps readings
#: with its host's clock; a host whose clock runs ahead (no NTP) or a stray publisher would otherwise make a station
#: look fresh for ever (never stale, never offline) and pin the scope's data time in the future. Two minutes covers
#: ordinary NTP drift between hosts. ``CC_MAX_CLOCK_SKEW_S`` overrides it.
MAX_FUTURE_MS = int(get_settings().max_clock_skew_s * 1000)


def from_the_future(ts_ms: int | None, now_ms: int, max_future_ms: int = MAX_FUTURE_MS) -> bool:
    """True when ``ts_ms`` (epoch ms UTC) is more than ``max_future_ms`` ahead of ``now_ms``: the sender's clock is
    wrong and the reading's time cannot be used (see :data:`MAX_FUTURE_MS`)."""
    return bool(ts_ms) and int(ts_ms) - int(now_ms) > max_future_ms


@dataclass(frozen=True)
class StationInfo:
    """The static facts of a station the live views need (from SQL)."""

    station_id: str
    name: str
    name_en: str
    kind: str
    lifecycle: str
    province_adcode: str
    city_adcode: str
    lon: float
    lat: float
    capacity_m3_min: float
    partner: str
    compressors_total: int

    @property
    def rooms(self) -> tuple[str, str, str]:
        """The scope rooms the station belongs to: ``nation``, ``province:<adcode>``, ``city:<adcode>``."""
        return ("nation", f"province:{self.province_adcode}", f"city:{self.city_adcode}")

    def in_scope(self, scope: Scope) -> bool:
        if scope.level == "nation":
            return True
        if scope.level == "province":
            return self.province_adcode == scope.code
        if scope.level == "city":
            return self.city_adcode == scope.code
        return self.station_id == scope.code


def station_info(spec: StationSpec) -> StationInfo:
    return StationInfo(
        station_id=spec.station_id, name=spec.name, name_en=spec.name_en, kind=spec.kind, lifecycle=spec.lifecycle,
        province_adcode=spec.province_adcode, city_adcode=spec.city_adcode, lon=spec.lon, lat=spec.lat,
        capacity_m3_min=spec.capacity_m3_min, partner=spec.partner,
        compressors_total=sum(1 for d in spec.devices if d.kind == "compressor"))


def build_index(specs: Iterable[StationSpec]) -> dict[str, StationInfo]:
    """``{station_id: StationInfo}``."""
    return {s.station_id: station_info(s) for s in specs}


def load_index(engine, *, province_adcode: str | None = None, city_adcode: str | None = None,
               station_id: str | None = None) -> dict[str, StationInfo]:
    """``{station_id: StationInfo}`` straight from SQL, ordered by id, optionally for one province, city or station.

    One query (stations joined with their compressor counts), no ORM objects: 10,000 stations in ~0.1 s where
    ``build_index(load_fleet(engine))`` (every device as an object) takes seconds.
    """
    from sqlalchemy import func, select  # noqa: PLC0415

    from datasources.sql.models import Device, Station  # noqa: PLC0415

    comp = (select(Device.station_id, func.count().label("n")).where(Device.kind == "compressor")
            .group_by(Device.station_id).subquery())
    stmt = (select(Station.station_id, Station.name, Station.name_en, Station.kind, Station.lifecycle,
                   Station.province_adcode, Station.city_adcode, Station.lon, Station.lat, Station.capacity_m3_min,
                   Station.partner, func.coalesce(comp.c.n, 0))
            .outerjoin(comp, comp.c.station_id == Station.station_id).order_by(Station.station_id))
    if province_adcode:
        stmt = stmt.where(Station.province_adcode == province_adcode)
    if city_adcode:
        stmt = stmt.where(Station.city_adcode == city_adcode)
    if station_id:
        stmt = stmt.where(Station.station_id == station_id)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return {r[0]: StationInfo(station_id=r[0], name=r[1], name_en=r[2] or "", kind=r[3], lifecycle=r[4],
                              province_adcode=r[5], city_adcode=r[6], lon=r[7], lat=r[8],
                              capacity_m3_min=r[9] or 0.0, partner=r[10] or "", compressors_total=int(r[11]))
            for r in rows}


def _decode(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else v


def read_summaries(redis_client, station_ids: Iterable[str] | None = None, *,
                   now_ms: int | None = None) -> dict[str, dict]:
    """Station summaries from ``cc:summary`` (``HGETALL``, or ``HMGET`` for ``station_ids``); malformed entries and
    entries stamped in the future (:func:`from_the_future` against ``now_ms``, default: now) are logged and skipped,
    so such a station shows offline instead of live.

    Raises:
        redis.exceptions.RedisError: Redis unreachable.
    """
    if station_ids is not None:
        ids = list(station_ids)
        raw = dict(zip(ids, redis_client.hmget(SUMMARY_HASH, ids))) if ids else {}
    else:
        raw = {_decode(k): v for k, v in redis_client.hgetall(SUMMARY_HASH).items()}
    out: dict[str, dict] = {}
    now = int(time.time() * 1000) if now_ms is None else int(now_ms)
    for sid, payload in raw.items():
        if payload is None:
            continue
        try:
            obj = json.loads(payload)
            if not isinstance(obj, dict):
                raise ValueError("not an object")
            if from_the_future(obj.get("ts_ms"), now):
                log.warning("cc:summary[%s] is stamped %s ms ahead of this clock: ignored (check the poller host's "
                            "clock)", sid, int(obj["ts_ms"]) - now)
                continue
            out[sid] = obj
        except ValueError as exc:
            log.warning("cc:summary[%s] is not a summary JSON object: %s", sid, exc)
    return out


def effective_state(info: StationInfo | None, summary: Mapping | None, now_ms: int, stale_after_s: float,
                    worst_alarm_severity: int | None = None) -> str:
    """The state the map shows.

    ``not_built`` for a lifecycle other than ``built``; ``offline`` when there is no summary or it is older than
    ``stale_after_s`` (the poller stopped reporting); else the summary's state, turned into ``alarm`` when the
    station has an active alarm of any rule (``worst_alarm_severity`` 1..4, see :func:`read_alarm_severities`
    and :func:`ops.station_state.fold_open_alarm`).
    """
    return fold_open_alarm(_summary_state(info, summary, now_ms, stale_after_s), worst_alarm_severity)


def read_alarm_severities(engine, station_ids: Iterable[str] | None = None) -> dict[str, int]:
    """``{station_id: worst severity (1 = I critical … 4 = IV minor)}`` of the stations with an active alarm;
    see :func:`datasources.sql.alarm_stats.active_severities` (SQL, the source of truth)."""
    from datasources.sql.alarm_stats import active_severities  # noqa: PLC0415

    return active_severities(engine, station_ids)


def _summary_state(info: StationInfo | None, summary: Mapping | None, now_ms: int, stale_after_s: float) -> str:
    if info is not None and info.lifecycle != "built":
        return "not_built"
    if not summary:
        return "offline"
    ts = summary.get("ts_ms") or 0
    if stale_after_s > 0 and ts and now_ms - int(ts) > stale_after_s * 1000:
        return "offline"
    state = summary.get("state")
    return state if state in STATION_STATES else "offline"


@dataclass
class _Contrib:
    state: str
    loaded: int
    flow: float
    power: float
    ts_ms: int


class _Totals:
    __slots__ = ("stations_total", "stations_built", "compressors_total", "states", "loaded", "flow", "power", "ts_ms")

    def __init__(self) -> None:
        self.stations_total = 0
        self.stations_built = 0
        self.compressors_total = 0
        self.states = {s: 0 for s in STATION_STATES}
        self.loaded = 0
        self.flow = 0.0
        self.power = 0.0
        self.ts_ms = 0

    def apply(self, c: _Contrib, sign: int) -> None:
        self.states[c.state] = self.states.get(c.state, 0) + sign
        self.loaded += sign * c.loaded
        self.flow += sign * c.flow
        self.power += sign * c.power


def _contribution(state: str, summary: Mapping | None) -> _Contrib:
    if state in ONLINE_STATES and summary:
        return _Contrib(state, int(summary.get("compressors_loaded") or 0), float(summary.get("flow_m3_min") or 0.0),
                        float(summary.get("power_kw") or 0.0), int(summary.get("ts_ms") or 0))
    return _Contrib(state, 0, 0.0, 0.0, int((summary or {}).get("ts_ms") or 0))


class FleetAggregate:
    """Per-scope KPI sums over a station index, updated incrementally.

    Scopes are room names (``nation``, ``province:<adcode>``, ``city:<adcode>``). Every station starts as
    ``not_built`` / ``offline`` (no data) until :meth:`update` is called for it.
    """

    def __init__(self, index: Mapping[str, StationInfo]) -> None:
        self.index = dict(index)
        self._contrib: dict[str, _Contrib] = {}
        self._totals: dict[str, _Totals] = {}
        self._children: dict[str, set[str]] = {}
        for info in self.index.values():
            self._add_station(info)

    def _add_station(self, info: StationInfo) -> None:
        c = _Contrib("not_built" if info.lifecycle != "built" else "offline", 0, 0.0, 0.0, 0)
        self._contrib[info.station_id] = c
        nation, province, city = info.rooms
        self._children.setdefault(nation, set()).add(province)
        self._children.setdefault(province, set()).add(city)
        for room in info.rooms:
            tot = self._totals.setdefault(room, _Totals())
            tot.stations_total += 1
            tot.stations_built += info.lifecycle == "built"
            tot.compressors_total += info.compressors_total
            tot.apply(c, +1)

    def add_station(self, info: StationInfo) -> None:
        """Register a station that appeared after start (e.g. the fleet was re-seeded)."""
        if info.station_id not in self.index:
            self.index[info.station_id] = info
            self._add_station(info)

    def state(self, station_id: str) -> str | None:
        c = self._contrib.get(station_id)
        return c.state if c else None

    def states(self) -> dict[str, str]:
        return {sid: c.state for sid, c in self._contrib.items()}

    def last_ts(self, station_id: str) -> int:
        c = self._contrib.get(station_id)
        return c.ts_ms if c else 0

    def update(self, station_id: str, state: str, summary: Mapping | None) -> tuple[bool, bool]:
        """Set a station's live contribution.

        Returns:
            ``(state_changed, totals_changed)``. Unknown stations are ignored (``(False, False)``).
        """
        info = self.index.get(station_id)
        if info is None:
            return False, False
        old = self._contrib[station_id]
        new = _contribution(state, summary)
        if new == old:
            return False, False
        totals_changed = (old.state, old.loaded, old.flow, old.power) != (new.state, new.loaded, new.flow, new.power)
        for room in info.rooms:
            tot = self._totals[room]
            if totals_changed:
                tot.apply(old, -1)
                tot.apply(new, +1)
            if new.ts_ms > tot.ts_ms:
                tot.ts_ms = new.ts_ms
        self._contrib[station_id] = new
        return old.state != new.state, totals_changed

    def kpis(self, room: str) -> dict:
        """KPI payload of a scope room (see :func:`kpi_payload`); zeros for a scope without stations.
        Cost: O(number of child regions) — 34 provinces for ``nation``, a province's cities otherwise."""
        children = [_child_row(c, self._totals[c]) for c in sorted(self._children.get(room, ()))]
        return kpi_payload(room, self._totals.get(room) or _Totals(), children)

    def child_rooms(self, room: str) -> list[str]:
        return sorted(self._children.get(room, ()))


def _child_row(room: str, tot: _Totals) -> dict:
    return {"scope": room, "stations_total": tot.stations_total,
            "stations_online": sum(tot.states.get(s, 0) for s in ONLINE_STATES),
            "stations_alarm": tot.states.get("alarm", 0), "stations_offline": tot.states.get("offline", 0),
            "flow_m3_min": round(max(tot.flow, 0.0), 2), "power_kw": round(max(tot.power, 0.0), 1)}


def kpi_payload(room: str, tot: _Totals, children: list[dict] | None = None) -> dict:
    """The ``kpis`` event / ``/api/kpis`` body::

        {"scope": "nation", "ts_ms": 1763700000000,
         "stations_total": 200, "stations_built": 170, "stations_online": 160, "stations_alarm": 3,
         "stations_offline": 7, "compressors_loaded": 250, "compressors_total": 480,
         "flow_m3_min": 3120.5, "power_kw": 19870.2, "air_to_power_m3_per_kwh": 9.42,
         "states": {"running": 120, "idle": 37, "alarm": 3, "offline": 10, "not_built": 30},
         "children": [{"scope": "province:330000", "stations_total", "stations_online", "stations_alarm",
                       "stations_offline", "flow_m3_min", "power_kw"}, ...]}

    ``children`` are the sub-regions of the scope that have stations (provinces of the nation, cities of a
    province; none for a city).
    """
    flow = max(tot.flow, 0.0)
    power = max(tot.power, 0.0)
    ratio = air_to_power_ratio_m3_per_kwh(flow, power)
    states = dict(tot.states)
    return {
        "scope": room, "ts_ms": tot.ts_ms,
        "stations_total": tot.stations_total, "stations_built": tot.stations_built,
        "stations_online": sum(states.get(s, 0) for s in ONLINE_STATES),
        "stations_alarm": states.get("alarm", 0), "stations_offline": states.get("offline", 0),
        "compressors_loaded": tot.loaded, "compressors_total": tot.compressors_total,
        "flow_m3_min": round(flow, 2), "power_kw": round(power, 1),
        "air_to_power_m3_per_kwh": None if ratio is None else round(ratio, 3),
        "states": states,
        "children": children or [],
    }


def snapshot(index: Mapping[str, StationInfo], summaries: Mapping[str, Mapping], scope: Scope, now_ms: int,
             stale_after_s: float) -> dict:
    """Full (O(stations in scope)) snapshot for first paint / resync: ``{"scope", "states": {id: state}, "kpis"}``."""
    infos = {sid: info for sid, info in index.items() if info.in_scope(scope)}
    agg = FleetAggregate(infos)
    for sid, info in infos.items():
        summ = summaries.get(sid)
        agg.update(sid, effective_state(info, summ, now_ms, stale_after_s), summ)
    kpis = agg.kpis(scope.room) if scope.is_region else None
    return {"scope": scope.room, "states": agg.states(), "kpis": kpis}
