"""Alarms in SQL (``alarms`` + ``alarm_events``) and their ``cc:alarms`` messages.

Two writers share these tables: the alarm engine (raise / clear, :func:`apply_transitions`) and operators through
the web (acknowledge / close / shelve / unshelve). Both go through :mod:`ops.alarms` for legality, write the
record and a timeline event in one transaction, and publish after the commit.

``cc:alarms`` message, schema version 1 (timestamps epoch ms UTC)::

    {"v": 1, "type": "alarm", "event": "raised" | "acknowledged" | "cleared" | "closed" | "shelved" | "unshelved",
     "ts_ms": 1763700000000, "actor": "engine" | "<username>", "annunciate": true,
     "alarm": {"id": 12, "station_id": "ST00001", "device_id": "ST00001-C1", "device_kind": "compressor",
               "source": "ST00001-C1", "rule": "compressor_discharge_temp_high", "kind": "threshold",
               "severity": 2, "severity_roman": "II", "state": "active", "active": true, "acknowledged": false,
               "value": 108.2, "threshold": 105.0, "unit": "°C", "message": "...", "skill": "compressor",
               "detail": {}, "raised_ts_ms": ..., "last_change_ts_ms": ..., "cleared_ts_ms": null,
               "acknowledged_ts_ms": null, "acknowledged_by": null, "closed_ts_ms": null, "closed_by": null,
               "shelved_until_ms": null, "shelved": false, "shelved_by": null, "occurrences": 1,
               "alerting": true, "emergency": false, "opens_camera": false}}

``annunciate`` is false while the alarm is shelved: clients update their lists but do not flash or sound.
``alerting`` is :func:`ops.vocab.alerting` at the time the dict was made (severity I/II, active, unacknowledged,
not shelved): the row blinks and the badge glows; clients draw it, they do not recompute it.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable, Iterable, TypeVar

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from datasources.sql.alarm_models import Alarm, AlarmEvent
from datasources.bus.messages import ALARMS_CHANNEL, SCHEMA_VERSION, now_ms
from ops.alarm_rules import CLEAR, RAISE, SEVERITY_ROMAN, Transition
from ops.alarms import EVENT_OF_ACTION, AlarmStatus, IllegalTransition, transition
from ops.vocab import alerting, emergency, opens_camera

log = logging.getLogger(__name__)

T = TypeVar("T")
ENGINE_ACTOR = "engine"


class AlarmNotFound(LookupError):
    """No alarm with that id."""


def open_key(rule_id: str, source: str) -> str:
    """Unique key of the one open alarm of (rule, source)."""
    return f"{rule_id}|{source}"


def status_of(row: Alarm) -> AlarmStatus:
    """The :class:`ops.alarms.AlarmStatus` of a row."""
    return AlarmStatus(active=row.active, acknowledged=row.acknowledged, closed=row.state == "closed",
                       shelved_until_ms=row.shelved_until_ms)


def _set_status(row: Alarm, st: AlarmStatus) -> None:
    row.active, row.acknowledged, row.shelved_until_ms = st.active, st.acknowledged, st.shelved_until_ms
    row.state = st.state
    if st.closed:
        row.open_key = None


def alarm_to_dict(row: Alarm, now: int | None = None) -> dict[str, Any]:
    """JSON-ready dict of an alarm row (the ``alarm`` object of the message; see module docstring)."""
    now = now_ms() if now is None else now
    try:
        detail = json.loads(row.detail or "{}")
    except ValueError:
        detail = {"raw": row.detail}
    out = {
        "id": row.id, "station_id": row.station_id, "device_id": row.device_id, "device_kind": row.device_kind,
        "source": row.source, "rule": row.rule_id, "kind": row.kind, "severity": row.severity,
        "severity_roman": SEVERITY_ROMAN.get(row.severity, "?"), "state": row.state, "active": row.active,
        "acknowledged": row.acknowledged, "value": row.value, "threshold": row.threshold, "unit": row.unit,
        "message": row.message, "skill": row.skill, "detail": detail, "raised_ts_ms": row.raised_ts_ms,
        "last_change_ts_ms": row.last_change_ts_ms, "cleared_ts_ms": row.cleared_ts_ms,
        "acknowledged_ts_ms": row.acknowledged_ts_ms, "acknowledged_by": row.acknowledged_by,
        "closed_ts_ms": row.closed_ts_ms, "closed_by": row.closed_by, "shelved_until_ms": row.shelved_until_ms,
        "shelved": status_of(row).shelved(now), "shelved_by": row.shelved_by, "occurrences": row.occurrences,
    }
    out["alerting"] = alerting(out)  # server-computed flag (ops.vocab): blink / glow / counts as alerting
    out["emergency"] = emergency(out)  # server-computed flag (ops.vocab): the wall's emergency-command mode
    out["opens_camera"] = opens_camera(out)  # server-computed flag (ops.vocab): raised → camera panel opens
    return out


def alarm_message(alarm: dict[str, Any], event: str, ts_ms: int, actor: str) -> dict[str, Any]:
    """The ``cc:alarms`` message for an alarm dict and an event (see module docstring)."""
    return {"v": SCHEMA_VERSION, "type": "alarm", "event": event, "ts_ms": ts_ms, "actor": actor,
            "annunciate": not alarm.get("shelved", False), "alarm": alarm}


def publish(redis_client, messages: Iterable[dict[str, Any]], channel: str = ALARMS_CHANNEL) -> int:
    """PUBLISH each message as JSON on ``channel`` in one pipeline. Failures are logged, never raised (pub/sub is
    fire-and-forget; SQL is the record). Returns the number of messages sent."""
    messages = list(messages)
    if redis_client is None or not messages:
        return 0
    try:
        pipe = redis_client.pipeline(transaction=False)
        for m in messages:
            pipe.publish(channel, json.dumps(m, ensure_ascii=False, separators=(",", ":")))
        pipe.execute()
    except Exception as exc:  # noqa: BLE001 — a bus outage must not undo a committed change
        log.warning("publishing %d message(s) on %s failed: %s", len(messages), channel, exc)
        return 0
    return len(messages)


def retry_stale(fn: Callable[[], T], attempts: int = 5) -> T:
    """Run ``fn`` (one transaction) again when a concurrent writer bumped a row version (``StaleDataError``).

    Raises:
        StaleDataError: still conflicting after ``attempts``.
    """
    for i in range(attempts):
        try:
            return fn()
        except StaleDataError:
            if i == attempts - 1:
                raise
            time.sleep(0.01 * (i + 1))
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- engine side


def apply_transitions(engine: Engine, transitions: Iterable[Transition]) -> list[dict[str, Any]]:
    """Persist the engine's raises and clears in one transaction; return the ``cc:alarms`` messages to publish.

    * raise, no open alarm for (rule, source): new record (state active, one occurrence) + event ``raised``;
    * raise, open record cleared: re-activated (unacknowledged, occurrences + 1) + event ``raised``;
    * raise, open record already active (e.g. a reading redelivered after a crash): nothing;
    * clear, open active record: state cleared(_unacknowledged) + event ``cleared``; otherwise nothing.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: database failure; nothing is written (the caller retries, readings stay
            unacknowledged on the stream).
    """
    transitions = list(transitions)
    if not transitions:
        return []

    def run() -> list[tuple[dict, str, int]]:
        out: list[tuple[dict, str, int]] = []
        with Session(engine) as session, session.begin():
            keys = {open_key(t.rule.id, t.source) for t in transitions}
            rows = {r.open_key: r for r in session.scalars(select(Alarm).where(Alarm.open_key.in_(keys)))}
            for t in transitions:
                key = open_key(t.rule.id, t.source)
                row = rows.get(key)
                detail = json.dumps(t.detail, ensure_ascii=False, default=str)
                if t.event == RAISE:
                    if row is None:
                        row = Alarm(open_key=key, station_id=t.station_id, device_id=t.device_id,
                                    device_kind=t.device_kind, source=t.source, rule_id=t.rule.id, kind=t.rule.kind,
                                    severity=t.rule.severity, state="active", active=True, acknowledged=False,
                                    value=t.value, threshold=t.threshold, unit=t.rule.unit,
                                    message=t.rule.message[:256], skill=t.rule.skill_for(t.device_kind),
                                    detail=detail, raised_ts_ms=t.ts_ms, last_change_ts_ms=t.ts_ms, occurrences=1)
                        session.add(row)
                        rows[key] = row
                    elif row.active:
                        continue
                    else:
                        _set_status(row, transition(status_of(row), "raise", t.ts_ms))
                        row.occurrences += 1
                        row.value, row.detail, row.last_change_ts_ms = t.value, detail, t.ts_ms
                        row.cleared_ts_ms = None
                        row.acknowledged_ts_ms, row.acknowledged_by = None, None
                    session.flush()
                    session.add(AlarmEvent(alarm_id=row.id, ts_ms=t.ts_ms, event="raised", actor=ENGINE_ACTOR,
                                           state_after=row.state, value=t.value, detail=detail))
                    out.append((alarm_to_dict(row, t.ts_ms), "raised", t.ts_ms))
                elif t.event == CLEAR:
                    if row is None or not row.active:
                        continue
                    _set_status(row, transition(status_of(row), "clear", t.ts_ms))
                    row.cleared_ts_ms = row.last_change_ts_ms = t.ts_ms
                    row.value = t.value if t.value is not None else row.value
                    session.flush()
                    session.add(AlarmEvent(alarm_id=row.id, ts_ms=t.ts_ms, event="cleared", actor=ENGINE_ACTOR,
                                           state_after=row.state, value=t.value, detail=""))
                    out.append((alarm_to_dict(row, t.ts_ms), "cleared", t.ts_ms))
        return out

    return [alarm_message(a, ev, ts, ENGINE_ACTOR) for a, ev, ts in retry_stale(run)]


def active_sources(engine: Engine) -> list[tuple[str, str, int]]:
    """``[(rule_id, source, last_change_ts_ms)]`` of open alarms whose condition is active — what a restarted
    engine restores into its :class:`ops.alarm_rules.Evaluator`."""
    with Session(engine) as session:
        return [(r, s, int(ts)) for r, s, ts in session.execute(
            select(Alarm.rule_id, Alarm.source, Alarm.last_change_ts_ms)
            .where(Alarm.open_key.is_not(None), Alarm.active.is_(True)))]


# ---------------------------------------------------------------- operator side


def operator_action(engine: Engine, alarm_id: int, action: str, actor: str, *, now: int | None = None,
                    until_ms: int | None = None, note: str = "", redis_client=None) -> dict[str, Any]:
    """Acknowledge / close / shelve / unshelve an alarm as ``actor`` (authorisation is the caller's:
    ``dashboard.auth.core``). Writes the record and a timeline event in one transaction, then publishes.

    Args:
        action: ``acknowledge`` | ``close`` | ``shelve`` | ``unshelve``. now: epoch ms (default: wall clock).
        until_ms: ``shelve``: end of suppression, epoch ms (≤ 24 h ahead). note: free text for the timeline.
    Returns:
        the published message (``event`` = acknowledged / closed / shelved / unshelved).
    Raises:
        AlarmNotFound: no such alarm. IllegalTransition: not allowed in its state (nothing written).
        ValueError: unknown action.
    """
    if action not in ("acknowledge", "close", "shelve", "unshelve"):
        raise ValueError(f"operator action must be acknowledge, close, shelve or unshelve, not {action!r}")
    ts = now_ms() if now is None else now

    def run() -> dict[str, Any]:
        with Session(engine) as session, session.begin():
            row = session.get(Alarm, alarm_id)
            if row is None:
                raise AlarmNotFound(f"alarm {alarm_id} does not exist")
            new = transition(status_of(row), action, ts, until_ms=until_ms)
            _set_status(row, new)
            if action == "acknowledge":
                row.acknowledged_ts_ms, row.acknowledged_by = ts, actor
            elif action == "close":
                row.closed_ts_ms, row.closed_by = ts, actor
            elif action == "shelve":
                row.shelved_by = actor
            else:
                row.shelved_by = None
            session.flush()
            event = EVENT_OF_ACTION[action]
            detail = note if action != "shelve" else json.dumps({"until_ms": until_ms, "note": note},
                                                                 ensure_ascii=False)
            session.add(AlarmEvent(alarm_id=row.id, ts_ms=ts, event=event, actor=actor, state_after=row.state,
                                   value=None, detail=detail))
            return alarm_message(alarm_to_dict(row, ts), event, ts, actor)

    msg = retry_stale(run)
    publish(redis_client, [msg])
    return msg


def acknowledge(engine: Engine, alarm_id: int, actor: str, **kw) -> dict[str, Any]:
    """Acknowledge an alarm (see :func:`operator_action`)."""
    return operator_action(engine, alarm_id, "acknowledge", actor, **kw)


def close(engine: Engine, alarm_id: int, actor: str, **kw) -> dict[str, Any]:
    """Close a cleared and acknowledged alarm (see :func:`operator_action`)."""
    return operator_action(engine, alarm_id, "close", actor, **kw)


def shelve(engine: Engine, alarm_id: int, actor: str, duration_s: float, **kw) -> dict[str, Any]:
    """Shelve (suppress) an alarm for ``duration_s`` seconds (≤ 24 h) (see :func:`operator_action`)."""
    now = kw.pop("now", None)
    now = now_ms() if now is None else now
    return operator_action(engine, alarm_id, "shelve", actor, now=now, until_ms=now + int(duration_s * 1000), **kw)


def unshelve(engine: Engine, alarm_id: int, actor: str, **kw) -> dict[str, Any]:
    """End shelving early (see :func:`operator_action`)."""
    return operator_action(engine, alarm_id, "unshelve", actor, **kw)


# ---------------------------------------------------------------- queries


def get_alarm(engine: Engine, alarm_id: int) -> dict[str, Any]:
    """One alarm as a dict. Raises: AlarmNotFound."""
    with Session(engine) as session:
        row = session.get(Alarm, alarm_id)
        if row is None:
            raise AlarmNotFound(f"alarm {alarm_id} does not exist")
        return alarm_to_dict(row)


def list_alarms(engine: Engine, *, open_only: bool = True, station_id: str | None = None,
                station_ids: Iterable[str] | None = None, severities: Iterable[int] | None = None,
                include_shelved: bool = True, limit: int = 500, now: int | None = None) -> list[dict[str, Any]]:
    """Alarms, most severe first then newest first.

    Args:
        open_only: only records not closed. station_id / station_ids: restrict to stations (a scope's stations).
        severities: only these severities (e.g. ``(1, 2)`` → I and II). include_shelved: False hides shelved.
        limit: at most this many.
    """
    now = now_ms() if now is None else now
    stmt = select(Alarm)
    if open_only:
        stmt = stmt.where(Alarm.open_key.is_not(None))
    if station_id:
        stmt = stmt.where(Alarm.station_id == station_id)
    if station_ids is not None:
        stmt = stmt.where(Alarm.station_id.in_(list(station_ids)))
    if severities is not None:
        stmt = stmt.where(Alarm.severity.in_(list(severities)))
    stmt = stmt.order_by(Alarm.severity, Alarm.last_change_ts_ms.desc(), Alarm.id.desc()).limit(limit)
    with Session(engine) as session:
        rows = [alarm_to_dict(r, now) for r in session.scalars(stmt)]
    return rows if include_shelved else [r for r in rows if not r["shelved"]]


def alarm_events(engine: Engine, alarm_id: int) -> list[dict[str, Any]]:
    """Timeline of one alarm, oldest first: ``[{ts_ms, event, actor, state_after, value, detail}]``."""
    with Session(engine) as session:
        return [{"ts_ms": e.ts_ms, "event": e.event, "actor": e.actor, "state_after": e.state_after,
                 "value": e.value, "detail": e.detail}
                for e in session.scalars(select(AlarmEvent).where(AlarmEvent.alarm_id == alarm_id)
                                         .order_by(AlarmEvent.id))]


def alarm_statistics(engine: Engine, since_ms: int, until_ms: int | None = None,
                     group_by: str = "severity") -> dict[str, int]:
    """Alarm statistics (seed 001 table 1 报警统计): number of alarms raised in [since, until) grouped by
    ``severity`` | ``rule_id`` | ``station_id`` | ``device_kind``.

    Raises:
        ValueError: unknown ``group_by``.
    """
    if group_by not in ("severity", "rule_id", "station_id", "device_kind"):
        raise ValueError(f"group_by must be severity, rule_id, station_id or device_kind, not {group_by!r}")
    col = getattr(Alarm, group_by)
    stmt = select(col, func.count()).where(Alarm.raised_ts_ms >= since_ms)
    if until_ms is not None:
        stmt = stmt.where(Alarm.raised_ts_ms < until_ms)
    with Session(engine) as session:
        return {str(k): int(n) for k, n in session.execute(stmt.group_by(col))}


__all__ = ["AlarmNotFound", "IllegalTransition", "acknowledge", "active_sources", "alarm_events", "alarm_message",
           "alarm_statistics", "alarm_to_dict", "apply_transitions", "close", "get_alarm", "list_alarms",
           "open_key", "operator_action", "publish", "retry_stale", "shelve", "status_of", "unshelve"]
