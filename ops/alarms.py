"""Alarm lifecycle (pure): the operator-facing state of one alarm record, and its legal transitions.

An alarm record is the occurrence of a (rule, source) condition (:mod:`ops.alarm_rules`). Its lifecycle follows
the usual alarm-management model (ISA-18.2 / IEC 62682 style) with the names of DESIGN.md::

    active ──acknowledge──► acknowledged ──clear──► cleared ──close──► closed
       │                                                ▲
       └──clear──► cleared_unacknowledged ──acknowledge─┘

* ``raise`` (condition returned) on an open, cleared record re-activates it (unacknowledged again, one more
  occurrence): at most one open record exists per (rule, source), so a chattering source never floods the list.
* ``close`` needs the condition cleared **and** the alarm acknowledged.
* ``shelve`` suppresses annunciation until ``until_ms`` (at most :data:`MAX_SHELVE_MS`); it does not change the
  state, and it ends by itself (no event needed) or with ``unshelve``.

Everything here is a pure function of its arguments; persistence is :mod:`datasources.sql.alarm_store`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ops.vocab import (ALARM_ACKNOWLEDGED as ACKNOWLEDGED, ALARM_ACTIVE as ACTIVE, ALARM_CLEARED as CLEARED,
                       ALARM_CLEARED_UNACKNOWLEDGED as CLEARED_UNACKNOWLEDGED, ALARM_CLOSED as CLOSED,
                       ALARM_STATES as STATES)

__all__ = ["ACKNOWLEDGED", "ACTIONS", "ACTIVE", "CLEARED", "CLEARED_UNACKNOWLEDGED", "CLOSED", "EVENT_OF_ACTION",
           "MAX_SHELVE_MS", "STATES", "AlarmStatus", "IllegalTransition", "allowed_actions", "transition"]

ACTIONS = ("raise", "clear", "acknowledge", "close", "shelve", "unshelve")
#: the event name published / stored for each action (``cc:alarms`` ``event`` field)
EVENT_OF_ACTION = {"raise": "raised", "clear": "cleared", "acknowledge": "acknowledged", "close": "closed",
                   "shelve": "shelved", "unshelve": "unshelved"}
#: longest shelving: 24 h (engineering default; ISA-18.2 requires shelving to be time-limited)
MAX_SHELVE_MS = 24 * 3600 * 1000


class IllegalTransition(ValueError):
    """The action is not allowed in the alarm's current state; the message names both."""


@dataclass(frozen=True)
class AlarmStatus:
    """Operator-facing status of one alarm record.

    Attributes:
        active: the condition is present. acknowledged: an operator acknowledged this occurrence.
        closed: the record is finished (terminal). shelved_until_ms: suppression end, epoch ms UTC, or ``None``.
    """

    active: bool = True
    acknowledged: bool = False
    closed: bool = False
    shelved_until_ms: int | None = None

    @property
    def state(self) -> str:
        """One of :data:`STATES`."""
        if self.closed:
            return CLOSED
        if self.active:
            return ACKNOWLEDGED if self.acknowledged else ACTIVE
        return CLEARED if self.acknowledged else CLEARED_UNACKNOWLEDGED

    def shelved(self, now_ms: int) -> bool:
        """True while shelving is in force at ``now_ms`` (epoch ms)."""
        return self.shelved_until_ms is not None and now_ms < self.shelved_until_ms and not self.closed


def transition(status: AlarmStatus, action: str, now_ms: int, until_ms: int | None = None) -> AlarmStatus:
    """Apply ``action`` to ``status``.

    Args:
        action: one of :data:`ACTIONS`. now_ms: time of the action, epoch ms.
        until_ms: ``shelve`` only: end of suppression, epoch ms, ``now_ms < until_ms ≤ now_ms + MAX_SHELVE_MS``.
    Returns:
        the new status.
    Raises:
        IllegalTransition: e.g. closing an active or unacknowledged alarm, acknowledging twice, any action on a
            closed alarm, shelving into the past.
        ValueError: unknown action.
    """
    state = status.state
    if action not in ACTIONS:
        raise ValueError(f"unknown alarm action {action!r} (one of {', '.join(ACTIONS)})")
    if status.closed:
        raise IllegalTransition(f"cannot {action} a closed alarm")
    if action == "raise":
        if status.active:
            raise IllegalTransition(f"cannot raise an alarm that is {state}")
        return replace(status, active=True, acknowledged=False)
    if action == "clear":
        if not status.active:
            raise IllegalTransition(f"cannot clear an alarm that is {state}")
        return replace(status, active=False)
    if action == "acknowledge":
        if status.acknowledged:
            raise IllegalTransition(f"cannot acknowledge an alarm that is {state}")
        return replace(status, acknowledged=True)
    if action == "close":
        if status.active or not status.acknowledged:
            raise IllegalTransition(f"cannot close an alarm that is {state}: it must be cleared and acknowledged")
        return replace(status, closed=True, shelved_until_ms=None)
    if action == "shelve":
        if until_ms is None or until_ms <= now_ms:
            raise IllegalTransition("shelving needs an end time in the future")
        if until_ms - now_ms > MAX_SHELVE_MS:
            raise IllegalTransition(f"shelving is limited to {MAX_SHELVE_MS // 3600000} h")
        return replace(status, shelved_until_ms=int(until_ms))
    # unshelve
    if not status.shelved(now_ms):
        raise IllegalTransition("the alarm is not shelved")
    return replace(status, shelved_until_ms=None)


def allowed_actions(status: AlarmStatus, now_ms: int) -> tuple[str, ...]:
    """Operator actions legal now (subset of acknowledge, close, shelve, unshelve), for enabling UI buttons."""
    out = []
    for action in ("acknowledge", "close", "shelve", "unshelve"):
        try:
            transition(status, action, now_ms, until_ms=now_ms + 1 if action == "shelve" else None)
        except IllegalTransition:
            continue
        out.append(action)
    return tuple(out)
