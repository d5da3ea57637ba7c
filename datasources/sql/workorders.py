"""Work orders (工单) in SQL: dispatch proposal, one-click creation, the field flow, SLA escalation, roster.

Flow (seed 001 tables 2–3; states and transitions in :mod:`ops.dispatch`)::

    create (duty officer, from an alarm or a station; "one click" assigns the best proposal)
      → assigned (派单) → accepted (接单) → on_site (打卡, lon/lat) → resolved (处理结果) → closed (回访 + 评价 1–5)
    created (unassigned) → grab (抢单 by an on-duty engineer) → accepted …

Every change writes the order and a ``work_order_events`` row (actor, time, detail) in one transaction, then
publishes on ``cc:workorders`` and queues a webhook (:mod:`datasources.workers.notify`) without waiting for it.
Authorisation by role is the web layer's (``dashboard.auth.core``); this module enforces the domain rules: only the
assignee accepts / checks in / resolves, only on-duty engineers grab or get assigned, one open order per alarm.

``cc:workorders`` message, schema version 1 (timestamps epoch ms UTC)::

    {"v": 1, "type": "workorder", "event": "created" | "assigned" | "grabbed" | "accepted" | "on_site" |
     "resolved" | "closed" | "cancelled" | "escalated", "ts_ms": ..., "actor": "duty",
     "clocks": ["respond"],                      # escalated only: the SLA clocks newly breached
     "order": {"id", "alarm_id", "station_id", "device_id", "title", "severity", "severity_roman", "skill",
               "state", "assignee_id", "assignee_name", "dispatch_mode", "created_by", "created_ts_ms",
               "assigned_ts_ms", "accepted_ts_ms", "on_site_ts_ms", "on_site_lon", "on_site_lat",
               "on_site_distance_m", "resolved_ts_ms", "result", "closed_ts_ms", "closed_by", "return_visit",
               "rating", "escalated": [...], "sla": [{"name", "deadline_ms", "met_ms", "breached",
               "remaining_ms"}], "overdue": [...],
               "open": true, "sla_clock": "respond" | null, "sla_deadline_ms": ... | null,
               "sla_label_key": "sla.respond" | null}}

``open``, ``sla_clock``, ``sla_deadline_ms`` and ``sla_label_key`` are :func:`ops.vocab.order_flags`: the browser
draws them (and ticks the countdown itself), it does not recompute them.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Callable, Iterable

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from datasources.sql.alarm_models import Alarm, Engineer, WorkOrder, WorkOrderEvent
from datasources.sql.alarm_store import AlarmNotFound, IllegalTransition, operator_action, publish, retry_stale
from datasources.bus.messages import ROSTER_CHANNEL, SCHEMA_VERSION, WORKORDERS_CHANNEL, now_ms
from datasources.sql.models import Station
from ops.alarm_rules import SKILLS
from ops.dispatch import EngineerCandidate, IllegalOrderTransition, Proposal, haversine_m, next_order_state, propose
from ops.sla import clocks as sla_clocks
from ops.vocab import (ORDER_TERMINAL_STATES, ORDER_WORKING_STATES, SEVERITY_ROMAN, order_flags, order_open)

log = logging.getLogger(__name__)

#: a check-in farther than this from the station is recorded with ``far_from_station`` (engineering default)
CHECKIN_RADIUS_M = 1000.0
#: events that trigger a webhook
NOTIFY_EVENTS = ("created", "assigned", "grabbed", "resolved", "cancelled", "escalated")

__all__ = ["CHECKIN_RADIUS_M", "IllegalOrderTransition", "WorkOrderError", "WorkOrderNotFound", "accept", "assign",
           "cancel", "check_in", "close_order", "create_order", "engineer_candidates", "escalate_overdue",
           "get_order", "grab", "list_engineers", "list_orders", "order_events", "overdue_orders",
           "propose_for_alarm", "propose_for_station", "resolve", "roster_message", "seed_demo_roster",
           "set_on_duty"]


class WorkOrderError(ValueError):
    """A domain rule refused the action (not the assignee, engineer off duty, order already open for the alarm,
    bad rating …); nothing was written."""


class WorkOrderNotFound(LookupError):
    """No work order (or engineer / station) with that id."""


# ---------------------------------------------------------------- duty roster

#: demo roster: (id, name, name_en, skills, city, city adcode, lon, lat, on duty) — positions are city centres,
#: WGS-84; partners as in the demo fleet (datasources.sim.fleet.PARTNERS)
DEMO_ROSTER = (
    ("E01", "张伟", "Zhang Wei", "compressor,electrical", "苏州", "320500", 120.5853, 31.2990, True, "华东压缩机服务"),
    ("E02", "李娜", "Li Na", "dryer,pipeline,security", "上海", "310100", 121.4737, 31.2304, True, "华东压缩机服务"),
    ("E03", "王强", "Wang Qiang", "compressor,dryer", "杭州", "330100", 120.1551, 30.2741, True, "长江空压设备"),
    ("E04", "刘洋", "Liu Yang", "electrical,security", "南京", "320100", 118.7969, 32.0603, False, "长江空压设备"),
    ("E05", "陈静", "Chen Jing", "compressor,pipeline", "广州", "440100", 113.2644, 23.1291, True, "粤海机电"),
    ("E06", "杨磊", "Yang Lei", "electrical,security", "深圳", "440300", 114.0579, 22.5431, True, "粤海机电"),
    ("E07", "赵敏", "Zhao Min", "compressor,dryer", "济南", "370100", 117.1205, 36.6510, True, "齐鲁动力设备"),
    ("E08", "黄涛", "Huang Tao", "pipeline,security", "青岛", "370200", 120.3826, 36.0671, True, "齐鲁动力设备"),
    ("E09", "周杰", "Zhou Jie", "compressor,electrical", "北京", "110100", 116.4074, 39.9042, True, "京津冀工业服务"),
    ("E10", "吴芳", "Wu Fang", "dryer,pipeline", "天津", "120100", 117.2008, 39.0842, False, "京津冀工业服务"),
    ("E11", "徐斌", "Xu Bin", "compressor,electrical,security", "成都", "510100", 104.0665, 30.5723, True,
     "蜀都空压运维"),
    ("E12", "孙丽", "Sun Li", "dryer,pipeline", "重庆", "500100", 106.5516, 29.5630, True, "蜀都空压运维"),
    ("E13", "马超", "Ma Chao", "compressor,pipeline", "郑州", "410100", 113.6254, 34.7466, True, "中原节能科技"),
    ("E14", "朱琳", "Zhu Lin", "compressor,dryer,electrical", "武汉", "420100", 114.3055, 30.5928, True,
     "长江空压设备"),
    ("E15", "胡军", "Hu Jun", "compressor,security", "厦门", "350200", 118.0894, 24.4798, True, "闽南气动工程"),
    ("E16", "郭鹏", "Guo Peng", "electrical,pipeline", "西安", "610100", 108.9402, 34.3416, False, "中原节能科技"),
)


def seed_demo_roster(engine: Engine) -> int:
    """Insert or update the demo roster (:data:`DEMO_ROSTER`, 16 engineers near demo cities, 3 off duty).
    Returns the number of engineers written."""
    with Session(engine) as s, s.begin():
        for i, (eid, name, name_en, skills, city, adcode, lon, lat, duty, partner) in enumerate(DEMO_ROSTER):
            row = s.get(Engineer, eid) or Engineer(engineer_id=eid)
            row.name, row.name_en, row.skills, row.city, row.city_adcode = name, name_en, skills, city, adcode
            row.home_lon, row.home_lat, row.on_duty, row.partner, row.active = lon, lat, duty, partner, True
            row.phone = f"138-0000-{i + 1:04d}"
            s.add(row)
    return len(DEMO_ROSTER)


def _engineer_dict(e: Engineer, open_orders: int | None = None) -> dict[str, Any]:
    return {"engineer_id": e.engineer_id, "name": e.name, "name_en": e.name_en, "phone": e.phone,
            "skills": [x for x in e.skills.split(",") if x], "lon": e.home_lon, "lat": e.home_lat, "city": e.city,
            "city_adcode": e.city_adcode, "partner": e.partner, "on_duty": e.on_duty, "active": e.active,
            "open_orders": open_orders}


def _open_counts(s: Session) -> dict[str, int]:
    return {eid: int(n) for eid, n in s.execute(
        select(WorkOrder.assignee_id, func.count()).where(WorkOrder.state.in_(ORDER_WORKING_STATES),
                                                          WorkOrder.assignee_id.is_not(None))
        .group_by(WorkOrder.assignee_id))}


def list_engineers(engine: Engine, *, on_duty: bool | None = None) -> list[dict[str, Any]]:
    """Active engineers with skills, position (WGS-84), duty flag and open-order count, ordered by id."""
    with Session(engine) as s:
        counts = _open_counts(s)
        stmt = select(Engineer).where(Engineer.active.is_(True)).order_by(Engineer.engineer_id)
        if on_duty is not None:
            stmt = stmt.where(Engineer.on_duty.is_(on_duty))
        return [_engineer_dict(e, counts.get(e.engineer_id, 0)) for e in s.scalars(stmt)]


def roster_message(engineer: dict[str, Any], ts_ms: int, event: str = "duty") -> dict[str, Any]:
    """The ``cc:roster`` message (:mod:`datasources.bus.messages`, schema version 1) of an engineer (an
    :func:`list_engineers` row): ``{"v", "type": "roster", "event", "ts_ms", "engineer_id", "on_duty",
    "city_adcode", "province_adcode"}``; the province is the adcode's first two digits + ``0000`` (GB/T 2260)."""
    city = engineer.get("city_adcode") or None
    return {"v": SCHEMA_VERSION, "type": "roster", "event": event, "ts_ms": ts_ms,
            "engineer_id": engineer["engineer_id"], "on_duty": bool(engineer["on_duty"]), "city_adcode": city,
            "province_adcode": f"{city[:2]}0000" if city else None}


def set_on_duty(engine: Engine, engineer_id: str, on_duty: bool, *, redis_client=None) -> dict[str, Any]:
    """Set an engineer's duty flag; when it changed, publish :func:`roster_message` on ``cc:roster`` after the
    transaction commits (with ``redis_client``; a bus outage is logged, never raised). Raises: WorkOrderNotFound."""
    with Session(engine) as s, s.begin():
        e = s.get(Engineer, engineer_id)
        if e is None:
            raise WorkOrderNotFound(f"engineer {engineer_id} does not exist")
        changed = bool(e.on_duty) != bool(on_duty)
        e.on_duty = bool(on_duty)
        out = _engineer_dict(e)
    if changed:
        publish(redis_client, [roster_message(out, now_ms())], channel=ROSTER_CHANNEL)
    return out


def engineer_candidates(engine: Engine) -> list[EngineerCandidate]:
    """Every active engineer as a :class:`ops.dispatch.EngineerCandidate` (home position, open orders)."""
    with Session(engine) as s:
        counts = _open_counts(s)
        return [EngineerCandidate(engineer_id=e.engineer_id, name=e.name,
                                  skills=frozenset(x for x in e.skills.split(",") if x), lon=e.home_lon,
                                  lat=e.home_lat, on_duty=e.on_duty, open_orders=counts.get(e.engineer_id, 0))
                for e in s.scalars(select(Engineer).where(Engineer.active.is_(True)))]


# ---------------------------------------------------------------- proposals


def _station_lonlat(s: Session, station_id: str) -> tuple[float, float]:
    st = s.get(Station, station_id)
    if st is None:
        raise WorkOrderNotFound(f"station {station_id} does not exist")
    return st.lon, st.lat


def propose_for_station(engine: Engine, station_id: str, skill: str | None = None, top: int = 3) -> Proposal:
    """Rank on-duty engineers for a station (see :func:`ops.dispatch.propose`).

    Raises:
        WorkOrderNotFound: unknown station. WorkOrderError: unknown skill.
    """
    if skill is not None and skill not in SKILLS:
        raise WorkOrderError(f"unknown skill {skill!r} (one of {', '.join(SKILLS)})")
    with Session(engine) as s:
        lon, lat = _station_lonlat(s, station_id)
    return propose(engineer_candidates(engine), lon, lat, skill=skill, top=top, station_id=station_id)


def propose_for_alarm(engine: Engine, alarm_id: int, top: int = 3) -> Proposal:
    """Rank engineers for an alarm: its station's position, the skill its rule/device kind needs.

    Raises:
        AlarmNotFound, WorkOrderNotFound (station unknown).
    """
    with Session(engine) as s:
        alarm = s.get(Alarm, alarm_id)
        if alarm is None:
            raise AlarmNotFound(f"alarm {alarm_id} does not exist")
        station_id, skill = alarm.station_id, alarm.skill
    return propose_for_station(engine, station_id, skill=skill, top=top)


# ---------------------------------------------------------------- order dicts and messages


def order_to_dict(row: WorkOrder, assignee_name: str | None = None, now: int | None = None) -> dict[str, Any]:
    """JSON-ready dict of an order with its SLA clocks at ``now`` (epoch ms; default wall clock)."""
    now = now_ms() if now is None else now
    clocks = sla_clocks(row.severity, row.created_ts_ms, now, accepted_ms=row.accepted_ts_ms,
                        on_site_ms=row.on_site_ts_ms, resolved_ms=row.resolved_ts_ms)
    live = order_open(row.state)
    out = {
        "id": row.id, "alarm_id": row.alarm_id, "station_id": row.station_id, "device_id": row.device_id,
        "title": row.title, "severity": row.severity, "severity_roman": SEVERITY_ROMAN.get(row.severity, "?"),
        "skill": row.skill, "state": row.state, "assignee_id": row.assignee_id, "assignee_name": assignee_name,
        "dispatch_mode": row.dispatch_mode, "created_by": row.created_by, "created_ts_ms": row.created_ts_ms,
        "assigned_ts_ms": row.assigned_ts_ms, "accepted_ts_ms": row.accepted_ts_ms,
        "on_site_ts_ms": row.on_site_ts_ms, "on_site_lon": row.on_site_lon, "on_site_lat": row.on_site_lat,
        "on_site_distance_m": row.on_site_distance_m, "resolved_ts_ms": row.resolved_ts_ms, "result": row.result,
        "closed_ts_ms": row.closed_ts_ms, "closed_by": row.closed_by, "return_visit": row.return_visit,
        "rating": row.rating, "escalated": [x for x in (row.escalated or "").split(",") if x],
        "sla": [{"name": c.name, "deadline_ms": c.deadline_ms, "met_ms": c.met_ms, "breached": c.breached,
                 "remaining_ms": c.remaining_ms} for c in clocks],
        "overdue": [c.name for c in clocks if c.breached] if live else [],
    }
    out.update(order_flags(out))  # open, sla_clock, sla_deadline_ms, sla_label_key (ops.vocab)
    return out


def _dict(s: Session, row: WorkOrder, now: int) -> dict[str, Any]:
    name = None
    if row.assignee_id:
        e = s.get(Engineer, row.assignee_id)
        name = e.name if e else None
    return order_to_dict(row, name, now)


def order_message(order: dict[str, Any], event: str, ts_ms: int, actor: str, **extra: Any) -> dict[str, Any]:
    """The ``cc:workorders`` message (see module docstring)."""
    return {"v": SCHEMA_VERSION, "type": "workorder", "event": event, "ts_ms": ts_ms, "actor": actor, **extra,
            "order": order}


def _emit(messages: list[dict], redis_client, notifier, skip_notify: Iterable[str] = ()) -> None:
    publish(redis_client, messages, channel=WORKORDERS_CHANNEL)
    if notifier is not None:
        for m in messages:
            if m["event"] in NOTIFY_EVENTS and m["event"] not in skip_notify:
                try:
                    notifier.notify(m, order_id=m["order"]["id"])
                except Exception as exc:  # noqa: BLE001 — a notifier problem never blocks dispatch
                    log.warning("queueing notification failed: %s", exc)


def _event(s: Session, row: WorkOrder, ts: int, event: str, actor: str, detail: dict | None = None) -> None:
    s.add(WorkOrderEvent(order_id=row.id, ts_ms=ts, event=event, actor=actor, state_after=row.state,
                         detail=json.dumps(detail or {}, ensure_ascii=False, default=str)))


def _on_duty_engineer(s: Session, engineer_id: str) -> Engineer:
    e = s.get(Engineer, engineer_id)
    if e is None or not e.active:
        raise WorkOrderNotFound(f"engineer {engineer_id} does not exist")
    if not e.on_duty:
        raise WorkOrderError(f"engineer {engineer_id} ({e.name}) is off duty")
    return e


# ---------------------------------------------------------------- create


def create_order(engine: Engine, *, actor: str, alarm_id: int | None = None, station_id: str | None = None,
                 device_id: str | None = None, engineer_id: str | None = "auto", title: str | None = None,
                 severity: int | None = None, skill: str | None = None, now: int | None = None,
                 redis_client=None, notifier=None) -> dict[str, Any]:
    """Create a work order — the duty officer's one click — for an alarm or a station.

    Args:
        actor: username of the duty officer.
        alarm_id: the alarm (station, device, severity, skill and title follow from it; an unacknowledged alarm
            is acknowledged by the dispatch). station_id: instead of an alarm (then ``severity`` defaults to 3).
        engineer_id: ``"auto"`` assign the best proposal (left unassigned when nobody qualifies), an engineer id,
            or ``None`` to leave it open for grabbing (抢单).
        now: epoch ms (tests pass a controllable clock).
    Returns:
        the order dict (state ``assigned`` or ``created``); the timeline has ``created`` (+ ``assigned``).
    Raises:
        WorkOrderError: neither alarm nor station, alarm closed, an open order exists for the alarm, engineer off
            duty, bad severity/skill. WorkOrderNotFound / AlarmNotFound: unknown ids.
    """
    ts = now_ms() if now is None else now
    if alarm_id is None and not station_id:
        raise WorkOrderError("a work order needs an alarm or a station")
    if severity is not None and severity not in SEVERITY_ROMAN:
        raise WorkOrderError(f"severity must be 1..4, got {severity!r}")
    if skill is not None and skill not in SKILLS:
        raise WorkOrderError(f"unknown skill {skill!r} (one of {', '.join(SKILLS)})")
    messages: list[dict] = []
    if alarm_id is not None:
        with Session(engine) as s:
            alarm = s.get(Alarm, alarm_id)
            if alarm is None:
                raise AlarmNotFound(f"alarm {alarm_id} does not exist")
            if alarm.state == "closed":
                raise WorkOrderError(f"alarm {alarm_id} is closed")
            station_id, device_id = alarm.station_id, alarm.device_id
            severity = severity or alarm.severity
            skill = skill or alarm.skill
            title = title or f"{alarm.message} ({alarm.source})"
            needs_ack = not alarm.acknowledged
            existing = s.scalar(select(WorkOrder.id).where(WorkOrder.open_key == f"alarm:{alarm_id}"))
        if existing is not None:
            raise WorkOrderError(f"alarm {alarm_id} already has open work order #{existing}")
    with Session(engine) as s:
        _station_lonlat(s, station_id)  # the station must exist (its position ranks the engineers)
    if alarm_id is not None and needs_ack:
        try:
            operator_action(engine, alarm_id, "acknowledge", actor, now=ts, note="acknowledged by dispatch",
                            redis_client=redis_client)
        except IllegalTransition as exc:  # acknowledged concurrently: fine
            log.info("dispatch acknowledge of alarm %s: %s", alarm_id, exc)
    severity = severity or 3
    proposal: Proposal | None = None
    if engineer_id == "auto":
        proposal = propose_for_station(engine, station_id, skill=skill)
        engineer_id = proposal.best.engineer_id if proposal.best else None
    try:
        with Session(engine) as s, s.begin():
            assignee = _on_duty_engineer(s, engineer_id) if engineer_id else None
            row = WorkOrder(open_key=f"alarm:{alarm_id}" if alarm_id is not None else None, alarm_id=alarm_id,
                            station_id=station_id, device_id=device_id, title=(title or f"{station_id} 巡检/维修")[:256],
                            severity=severity, skill=skill, state="created", created_by=actor, created_ts_ms=ts,
                            result="", return_visit="", escalated="", dispatch_mode="",
                            proposal=json.dumps(proposal.to_dict(), ensure_ascii=False) if proposal else "")
            s.add(row)
            s.flush()
            _event(s, row, ts, "created", actor, {"alarm_id": alarm_id, "station_id": station_id,
                                                  "proposal": proposal.to_dict() if proposal else None})
            messages.append(order_message(_dict(s, row, ts), "created", ts, actor,
                                          proposal=proposal.to_dict() if proposal else None))
            if assignee is not None:
                row.state = next_order_state(row.state, "assign")
                row.assignee_id, row.assigned_ts_ms, row.dispatch_mode = assignee.engineer_id, ts, "assigned"
                s.flush()
                _event(s, row, ts, "assigned", actor, {"engineer_id": assignee.engineer_id,
                                                       "engineer": assignee.name})
                messages.append(order_message(_dict(s, row, ts), "assigned", ts, actor))
    except IntegrityError as exc:
        raise WorkOrderError(f"alarm {alarm_id} already has an open work order") from exc
    # created + assigned in one click: the webhook announces the assignment only
    _emit(messages, redis_client, notifier, skip_notify=("created",) if len(messages) > 1 else ())
    return messages[-1]["order"]


# ---------------------------------------------------------------- transitions


def _transition(engine: Engine, order_id: int, action: str, actor: str, ts: int,
                mutate: Callable[[Session, WorkOrder], dict], event: str | None = None,
                redis_client=None, notifier=None) -> dict[str, Any]:
    def run() -> dict:
        with Session(engine) as s, s.begin():
            row = s.get(WorkOrder, order_id)
            if row is None:
                raise WorkOrderNotFound(f"work order {order_id} does not exist")
            target = next_order_state(row.state, action)
            detail = mutate(s, row) or {}
            row.state = target
            if target in ORDER_TERMINAL_STATES:
                row.open_key = None
            s.flush()
            _event(s, row, ts, event or action, actor, detail)
            return order_message(_dict(s, row, ts), event or action, ts, actor)

    msg = retry_stale(run)
    _emit([msg], redis_client, notifier)
    return msg["order"]


def assign(engine: Engine, order_id: int, engineer_id: str, actor: str, *, now: int | None = None,
           redis_client=None, notifier=None) -> dict[str, Any]:
    """Assign (派单) or reassign an order to an on-duty engineer (from created / assigned / accepted).

    Raises:
        WorkOrderNotFound, IllegalOrderTransition, WorkOrderError (engineer off duty).
    """
    ts = now_ms() if now is None else now

    def mutate(s: Session, row: WorkOrder) -> dict:
        e = _on_duty_engineer(s, engineer_id)
        prev = row.assignee_id
        row.assignee_id, row.assigned_ts_ms, row.dispatch_mode = e.engineer_id, ts, "assigned"
        row.accepted_ts_ms = None
        return {"engineer_id": e.engineer_id, "engineer": e.name, "previous": prev}

    return _transition(engine, order_id, "assign", actor, ts, mutate, redis_client=redis_client, notifier=notifier)


def grab(engine: Engine, order_id: int, engineer_id: str, actor: str, *, now: int | None = None,
         redis_client=None, notifier=None) -> dict[str, Any]:
    """Grab (抢单) an unassigned order: the on-duty engineer becomes the assignee and the order is accepted.
    Concurrent grabs: the first commit wins, the others get IllegalOrderTransition.

    Raises:
        WorkOrderNotFound, IllegalOrderTransition (not in state created), WorkOrderError (off duty).
    """
    ts = now_ms() if now is None else now

    def mutate(s: Session, row: WorkOrder) -> dict:
        e = _on_duty_engineer(s, engineer_id)
        row.assignee_id, row.dispatch_mode = e.engineer_id, "grabbed"
        row.assigned_ts_ms = row.accepted_ts_ms = ts
        return {"engineer_id": e.engineer_id, "engineer": e.name}

    return _transition(engine, order_id, "grab", actor, ts, mutate, event="grabbed", redis_client=redis_client,
                       notifier=notifier)


def _own(row: WorkOrder, engineer_id: str) -> None:
    if row.assignee_id != engineer_id:
        raise WorkOrderError(f"work order {row.id} is assigned to {row.assignee_id or 'nobody'}, "
                             f"not to {engineer_id}")


def accept(engine: Engine, order_id: int, engineer_id: str, actor: str, *, now: int | None = None,
           redis_client=None, notifier=None) -> dict[str, Any]:
    """The assignee accepts (接单); stops the ``respond`` SLA clock.

    Raises:
        WorkOrderNotFound, IllegalOrderTransition, WorkOrderError (not the assignee).
    """
    ts = now_ms() if now is None else now

    def mutate(_s: Session, row: WorkOrder) -> dict:
        _own(row, engineer_id)
        row.accepted_ts_ms = ts
        return {"engineer_id": engineer_id}

    return _transition(engine, order_id, "accept", actor, ts, mutate, event="accepted", redis_client=redis_client,
                       notifier=notifier)


def check_in(engine: Engine, order_id: int, engineer_id: str, lon: float, lat: float, actor: str, *,
             now: int | None = None, redis_client=None, notifier=None) -> dict[str, Any]:
    """On-site check-in (打卡) of the assignee at lon/lat (WGS-84 degrees); stops the ``on_site`` clock. The
    distance to the station is stored; beyond :data:`CHECKIN_RADIUS_M` the event is flagged ``far_from_station``.

    Raises:
        WorkOrderNotFound, IllegalOrderTransition, WorkOrderError (not the assignee, bad coordinates).
    """
    ts = now_ms() if now is None else now
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise WorkOrderError(f"check-in position outside WGS-84 range: {lon}, {lat}")

    def mutate(s: Session, row: WorkOrder) -> dict:
        _own(row, engineer_id)
        slon, slat = _station_lonlat(s, row.station_id)
        dist = haversine_m(lon, lat, slon, slat)
        row.on_site_ts_ms, row.on_site_lon, row.on_site_lat = ts, lon, lat
        row.on_site_distance_m = round(dist, 1)
        return {"lon": lon, "lat": lat, "distance_m": round(dist, 1), "far_from_station": dist > CHECKIN_RADIUS_M}

    return _transition(engine, order_id, "check_in", actor, ts, mutate, event="on_site", redis_client=redis_client,
                       notifier=notifier)


def resolve(engine: Engine, order_id: int, engineer_id: str, result: str, actor: str, *, now: int | None = None,
            redis_client=None, notifier=None) -> dict[str, Any]:
    """The assignee reports the result (处理结果); stops the ``handled`` clock. From on_site, or from accepted
    for a remote fix.

    Raises:
        WorkOrderNotFound, IllegalOrderTransition, WorkOrderError (not the assignee, empty result).
    """
    ts = now_ms() if now is None else now
    if not result or not result.strip():
        raise WorkOrderError("a result text is required")

    def mutate(_s: Session, row: WorkOrder) -> dict:
        _own(row, engineer_id)
        row.resolved_ts_ms, row.result = ts, result.strip()
        return {"result": row.result, "remote": row.on_site_ts_ms is None}

    return _transition(engine, order_id, "resolve", actor, ts, mutate, event="resolved", redis_client=redis_client,
                       notifier=notifier)


def close_order(engine: Engine, order_id: int, actor: str, return_visit: str, rating: int, *,
                now: int | None = None, redis_client=None, notifier=None) -> dict[str, Any]:
    """Close a resolved order with the return visit (回访) note and the customer's rating (评价) 1–5.

    Raises:
        WorkOrderNotFound, IllegalOrderTransition, WorkOrderError (rating not an integer 1..5, empty return visit).
    """
    ts = now_ms() if now is None else now
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise WorkOrderError(f"rating must be an integer 1..5, got {rating!r}")
    if not return_visit or not return_visit.strip():
        raise WorkOrderError("a return-visit note is required")

    def mutate(_s: Session, row: WorkOrder) -> dict:
        row.closed_ts_ms, row.closed_by = ts, actor
        row.return_visit, row.rating = return_visit.strip(), rating
        return {"return_visit": row.return_visit, "rating": rating}

    return _transition(engine, order_id, "close", actor, ts, mutate, event="closed", redis_client=redis_client,
                       notifier=notifier)


def cancel(engine: Engine, order_id: int, actor: str, reason: str, *, now: int | None = None,
           redis_client=None, notifier=None) -> dict[str, Any]:
    """Cancel an order not yet resolved (duplicate, false alarm), with a reason.

    Raises:
        WorkOrderNotFound, IllegalOrderTransition, WorkOrderError (empty reason).
    """
    ts = now_ms() if now is None else now
    if not reason or not reason.strip():
        raise WorkOrderError("a reason is required")
    return _transition(engine, order_id, "cancel", actor, ts, lambda _s, _r: {"reason": reason.strip()},
                       event="cancelled", redis_client=redis_client, notifier=notifier)


# ---------------------------------------------------------------- queries


def get_order(engine: Engine, order_id: int, now: int | None = None) -> dict[str, Any]:
    """One order as a dict (SLA clocks at ``now``). Raises: WorkOrderNotFound."""
    with Session(engine) as s:
        row = s.get(WorkOrder, order_id)
        if row is None:
            raise WorkOrderNotFound(f"work order {order_id} does not exist")
        return _dict(s, row, now_ms() if now is None else now)


def list_orders(engine: Engine, *, open_only: bool = True, engineer_id: str | None = None,
                station_id: str | None = None, unassigned: bool = False, limit: int = 500,
                now: int | None = None) -> list[dict[str, Any]]:
    """Orders, newest first. ``open_only``: created…on_site and resolved (not closed/cancelled);
    ``engineer_id``: the engineer's own; ``unassigned``: open for grabbing (state created, nobody assigned)."""
    now = now_ms() if now is None else now
    stmt = select(WorkOrder)
    if open_only:
        stmt = stmt.where(WorkOrder.state.not_in(ORDER_TERMINAL_STATES))
    if engineer_id:
        stmt = stmt.where(WorkOrder.assignee_id == engineer_id)
    if station_id:
        stmt = stmt.where(WorkOrder.station_id == station_id)
    if unassigned:
        stmt = stmt.where(WorkOrder.state == "created", WorkOrder.assignee_id.is_(None))
    with Session(engine) as s:
        return [_dict(s, r, now) for r in s.scalars(stmt.order_by(WorkOrder.id.desc()).limit(limit))]


def order_events(engine: Engine, order_id: int) -> list[dict[str, Any]]:
    """Timeline of an order, oldest first: ``[{ts_ms, event, actor, state_after, detail(dict)}]``."""
    with Session(engine) as s:
        return [{"ts_ms": e.ts_ms, "event": e.event, "actor": e.actor, "state_after": e.state_after,
                 "detail": json.loads(e.detail or "{}")}
                for e in s.scalars(select(WorkOrderEvent).where(WorkOrderEvent.order_id == order_id)
                                   .order_by(WorkOrderEvent.id))]


def overdue_orders(engine: Engine, now: int | None = None) -> list[dict[str, Any]]:
    """Orders not closed/cancelled with at least one breached SLA clock at ``now`` (``order["overdue"]``)."""
    return [o for o in list_orders(engine, open_only=True, limit=100_000, now=now) if o["overdue"]]


def escalate_overdue(engine: Engine, redis_client=None, notifier=None, now: int | None = None,
                     actor: str = "sla") -> list[dict[str, Any]]:
    """Periodic SLA check: for each order with a clock breached and not yet escalated, record an ``escalated``
    event (clocks listed), remember it on the order, publish and notify. Idempotent: a clock escalates once.

    Args:
        now: epoch ms (pass it explicitly in tests; default wall clock).
    Returns:
        the ``escalated`` messages sent.
    """
    ts = now_ms() if now is None else now
    out: list[dict] = []
    for order in overdue_orders(engine, ts):
        new = [c for c in order["overdue"] if c not in order["escalated"]]
        if not new:
            continue

        def run(oid: int = order["id"], new: list[str] = new) -> dict | None:
            with Session(engine) as s, s.begin():
                row = s.get(WorkOrder, oid)
                done = [x for x in (row.escalated or "").split(",") if x]
                fresh = [c for c in new if c not in done]
                if not fresh:
                    return None
                row.escalated = ",".join(done + fresh)
                s.flush()
                _event(s, row, ts, "escalated", actor, {"clocks": fresh})
                return order_message(_dict(s, row, ts), "escalated", ts, actor, clocks=fresh)

        msg = retry_stale(run)
        if msg:
            out.append(msg)
    _emit(out, redis_client, notifier)
    return out
