"""Alarm rules as data, and their pure evaluation (no I/O): one condition state machine per (rule, source).

Rules live in ``datasources/alarm_rules.yaml`` (format below); :func:`parse_rules` validates them (one pydantic
model per rule kind, :mod:`ops.alarm_rule_file`) and raises :class:`RuleFileError` naming the file and the field
(``rules[3] (<id>).threshold``) on the first error.

Severity grades (seed 002 §7.2.5.1, 故障级别 I–IV)::

    I   critical  紧急 — service interrupted or life/asset at risk (fire, flood)
    II  serious   严重 — risk of interruption, function degraded (compressor fault, low header pressure)
    III general   一般 — partial degradation, warning (dew point high, a device offline)
    IV  minor     提示 — indirect / efficiency (air-to-power ratio degraded)

SLA clocks per grade come from seed 003 §2.3.2 (see :mod:`ops.sla`).

Condition state machine per (rule, source) — time is the reading's ``ts_ms``, never the wall clock::

    inactive ──bad──► pending ──bad for on_delay_s──► active ──good (past hysteresis)──► clearing
        ▲                │ good                          ▲                                   │
        └────────────────┘                               └────────────bad again──────────────┤
        ▲                                                                                    │
        └──────────────────────────── good for off_delay_s ("cleared") ◄─────────────────────┘

"bad" uses the raw threshold while inactive/pending and the threshold moved by ``hysteresis`` towards normal
while active/clearing, so a value oscillating around the threshold raises one alarm and clears once.
A missing observation (device offline, value absent) holds the state: no alarm is cleared by lack of data.
A reading whose ``ts_ms`` is not newer than the last one seen for a state is ignored (redelivery is harmless).

Rules file format (YAML)::

    version: 1
    defaults: {on_delay_s: 0, off_delay_s: 0}  # optional: on_delay_s / off_delay_s / hysteresis for every rule
                                               # whose kind accepts the field (a rule's own value wins)
    rules:
      - id: compressor_discharge_temp_high     # [a-z0-9_]+, unique
        kind: threshold                        # threshold | rate_of_change | digital | comm_loss |
                                               # pressure_differential | air_power_ratio
        scope: device                          # device (default for device rules) | station
        device_kind: compressor                # compressor | dryer | flow_meter | power_meter | station_io | "*"
        value: discharge_temp_c                # profile value name (device scope) or summary field (station)
        op: ">"                                # ">" or "<"
        threshold: 105.0                       # unit of the value (rate rules: unit per second)
        threshold_value: low_pressure_threshold_mpa  # threshold rules, device scope, optional: a value of the same
                                               # device that holds its own threshold (a set point configured in
                                               # the device); used when present and numeric, else ``threshold``
        hysteresis: 3.0                        # ≥ 0, same unit
        on_delay_s: 5                          # ≥ 0
        off_delay_s: 5                         # ≥ 0
        severity: II                           # I | II | III | IV (or 1..4)
        skill: compressor                      # compressor | dryer | electrical | pipeline | security
        unit: "°C"
        message: 排气温度过高 / discharge temperature high
        source: "engineering default: ..."     # where the threshold comes from
        detail_values: [fault_code]            # values copied into the alarm detail
        only_when_running: false               # station scope: good (not bad) while no compressor is loaded
        window_s: 10                           # rate_of_change only: averaging window, s
        states: [3]                            # digital only: values that are "bad"
        min_power_kw: 20                       # air_power_ratio only: below this power the ratio is not judged
        enabled: true
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

# the rules file (constants, Rule, RuleSet, schema, loading) is ops.alarm_rule_file; its names are part of this
# module's interface (the engine, the stores and the tests import them from here)
from ops.alarm_rule_file import (DEFAULT_RULES_PATH, DEVICE_KINDS, ROMAN_SEVERITY, RULE_KINDS, RULE_MODELS,  # noqa: F401
                                 SEVERITY_LABEL, SEVERITY_ROMAN, SKILL_BY_DEVICE_KIND, SKILLS, SUMMARY_FIELDS, Rule,
                                 RuleFileError, RuleSet, load_rules, parse_rules)

INACTIVE, PENDING, ACTIVE, CLEARING = "inactive", "pending", "active", "clearing"
RAISE, CLEAR = "raise", "clear"


# ---------------------------------------------------------------- evaluation


@dataclass(slots=True)
class ConditionState:
    """Condition state of one (rule, source). ``since_ms``: start of pending/clearing; ``last_ts_ms``: newest
    reading applied; ``history``: (ts_ms, value) samples of rate rules (``None`` for other kinds).
    Slotted: an engine holds one per (rule, source) — about 26 per station."""

    state: str = INACTIVE
    since_ms: int | None = None
    last_ts_ms: int | None = None
    last_value: float | None = None
    history: deque | None = None


@dataclass(frozen=True)
class Observation:
    """What a rule sees of one source in one reading.

    ``value``: the judged quantity (value, rate per s, ratio, online 0/1); ``None`` with ``bad=None`` means
    "no data, hold". ``bad``: forced verdict (digital/comm-loss/guards) or ``None`` to compare ``value`` with the
    threshold. ``detail``: extra values copied into the alarm. ``threshold``: this source's own threshold
    (:attr:`Rule.threshold_value`), ``None`` = the rule's.
    """

    station_id: str
    source: str
    device_id: str | None
    device_kind: str | None
    value: float | None
    bad: bool | None = None
    detail: dict = field(default_factory=dict)
    threshold: float | None = None


@dataclass(frozen=True)
class Transition:
    """A raise or clear produced by :meth:`Evaluator.evaluate`.

    Attributes:
        event: :data:`RAISE` or :data:`CLEAR`. rule: the rule. source: device id or station id.
        ts_ms: reading time (epoch ms UTC) at which the transition happened. value: judged value (rule's unit).
        threshold: the threshold applied (the device's own one for ``threshold_value`` rules, else the rule's;
            ``None`` for digital/comm-loss). detail: extra values (e.g. fault_code).
    """

    event: str
    rule: Rule
    station_id: str
    source: str
    device_id: str | None
    device_kind: str | None
    ts_ms: int
    value: float | None
    threshold: float | None
    detail: dict = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        """``(rule_id, source)``: at most one open alarm exists per key."""
        return (self.rule.id, self.source)


def is_bad(rule: Rule, value: float, latched: bool, threshold: float | None = None) -> bool:
    """Threshold comparison with hysteresis; ``threshold`` (same unit) replaces the rule's when given.

    Not latched (inactive/pending): bad when ``value > threshold`` (op ``>``) / ``value < threshold`` (op ``<``).
    Latched (active/clearing): stays bad until the value passes ``threshold ∓ hysteresis`` towards normal.
    """
    thr = float(rule.threshold if threshold is None else threshold)
    if rule.op == ">":
        return value > (thr - rule.hysteresis if latched else thr)
    return value < (thr + rule.hysteresis if latched else thr)


def step(rule: Rule, cs: ConditionState, obs_value: float | None, forced_bad: bool | None, ts_ms: int,
         threshold: float | None = None) -> str | None:
    """Advance one condition state machine by one observation (mutates ``cs``). ``threshold``: the source's own
    threshold (``None`` = the rule's).

    Returns:
        :data:`RAISE`, :data:`CLEAR` or ``None``.
    """
    if cs.last_ts_ms is not None and ts_ms <= cs.last_ts_ms:
        return None  # old or redelivered reading
    if forced_bad is None and obs_value is None:
        cs.last_ts_ms = ts_ms
        return None  # no data: hold
    cs.last_ts_ms = ts_ms
    cs.last_value = obs_value
    latched = cs.state in (ACTIVE, CLEARING)
    bad = forced_bad if forced_bad is not None else is_bad(rule, float(obs_value), latched, threshold)
    on_ms, off_ms = rule.on_delay_s * 1000.0, rule.off_delay_s * 1000.0
    if cs.state == INACTIVE:
        if bad:
            if on_ms <= 0:
                cs.state, cs.since_ms = ACTIVE, ts_ms
                return RAISE
            cs.state, cs.since_ms = PENDING, ts_ms
        return None
    if cs.state == PENDING:
        if not bad:
            cs.state, cs.since_ms = INACTIVE, None
            return None
        if ts_ms - cs.since_ms >= on_ms:
            cs.state, cs.since_ms = ACTIVE, ts_ms
            return RAISE
        return None
    if cs.state == ACTIVE:
        if bad:
            return None
        if off_ms <= 0:
            cs.state, cs.since_ms = INACTIVE, None
            return CLEAR
        cs.state, cs.since_ms = CLEARING, ts_ms
        return None
    # CLEARING
    if bad:
        cs.state, cs.since_ms = ACTIVE, ts_ms
        return None
    if ts_ms - cs.since_ms >= off_ms:
        cs.state, cs.since_ms = INACTIVE, None
        return CLEAR
    return None


def _num_or_none(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _details(rule: Rule, values: Mapping[str, Any]) -> dict:
    return {k: values[k] for k in rule.detail_values if k in values}


class Evaluator:
    """Evaluates a :class:`RuleSet` against station readings; keeps one :class:`ConditionState` per
    (rule id, source). Pure and single-threaded; the alarm engine owns one instance.

    A reading is any object shaped like :class:`datasources.bus.messages.StationReading` (``station_id``, ``ts_ms``,
    ``devices`` with ``device_id, kind, online, values``, ``summary`` with ``state, compressors_loaded,
    flow_m3_min, power_kw, discharge_pressure_mpa``).
    """

    def __init__(self, rules: RuleSet | Iterable[Rule]):
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.states: dict[tuple[str, str], ConditionState] = {}

    def state_of(self, rule_id: str, source: str) -> str:
        """Condition state name of (rule, source): inactive / pending / active / clearing."""
        cs = self.states.get((rule_id, source))
        return cs.state if cs else INACTIVE

    def restore_active(self, rule_id: str, source: str, last_ts_ms: int | None = None) -> None:
        """Mark (rule, source) active, e.g. from an open, active alarm in SQL after a restart.
        Readings not newer than ``last_ts_ms`` are then ignored for it (they were already applied)."""
        self.states[(rule_id, source)] = ConditionState(state=ACTIVE, since_ms=last_ts_ms, last_ts_ms=last_ts_ms)

    def active_keys(self) -> set[tuple[str, str]]:
        """``{(rule_id, source)}`` whose condition is active or clearing."""
        return {k for k, cs in self.states.items() if cs.state in (ACTIVE, CLEARING)}

    def evaluate(self, reading: Any) -> list[Transition]:
        """Apply one station reading to every rule; return the raises and clears it caused (in rule order)."""
        out: list[Transition] = []
        ts = int(reading.ts_ms)
        devices = list(reading.devices)
        by_kind: dict[str, list] = {}
        for d in devices:
            by_kind.setdefault(d.kind, []).append(d)
        station_offline = bool(devices) and not any(d.online for d in devices)
        for rule in self.rules:
            for obs in self._observe(rule, reading, devices, by_kind, station_offline):
                key = (rule.id, obs.source)
                cs = self.states.get(key)
                if cs is None:
                    cs = self.states[key] = ConditionState()
                value = obs.value
                if rule.kind == "rate_of_change" and value is not None:
                    value = self._rate(rule, cs, ts, value)
                event = step(rule, cs, value, obs.bad, ts, obs.threshold)
                if event:
                    thr = rule.threshold if obs.threshold is None else obs.threshold
                    out.append(Transition(event=event, rule=rule, station_id=obs.station_id, source=obs.source,
                                          device_id=obs.device_id, device_kind=obs.device_kind, ts_ms=ts,
                                          value=value, threshold=thr, detail=obs.detail))
        return out

    @staticmethod
    def _rate(rule: Rule, cs: ConditionState, ts: int, value: float) -> float | None:
        """Average rate of change over ``window_s`` (unit per second); ``None`` until the history spans half the
        window (startup) — the state then holds."""
        if cs.history is None:
            cs.history = deque()
        hist = cs.history
        if hist and ts <= hist[-1][0]:
            return None
        hist.append((ts, value))
        horizon = ts - rule.window_s * 1000.0
        while len(hist) > 2 and hist[1][0] <= horizon:
            hist.popleft()
        t0, v0 = hist[0]
        span = ts - t0
        if span < rule.window_s * 500.0 or span <= 0:
            return None
        return (value - v0) / (span / 1000.0)

    def _observe(self, rule: Rule, reading: Any, devices: list, by_kind: dict[str, list],
                 station_offline: bool) -> list[Observation]:
        sid = reading.station_id
        summary = reading.summary
        if rule.scope == "device":
            out = []
            for d in (devices if rule.device_kind == "*" else by_kind.get(rule.device_kind, ())):
                obs_kw = dict(station_id=sid, source=d.device_id, device_id=d.device_id, device_kind=d.kind)
                if rule.kind == "comm_loss":
                    # a whole-station outage is the station rule's alarm: device alarms hold instead of flooding
                    bad = None if station_offline else (not d.online)
                    out.append(Observation(value=None if bad is None else float(bool(d.online)), bad=bad,
                                           detail={"error": d.error} if (bad and getattr(d, "error", None)) else {},
                                           **obs_kw))
                    continue
                raw = d.values.get(rule.value) if d.online else None
                value = _num_or_none(raw)
                detail = _details(rule, d.values) if d.online else {}
                if rule.kind == "digital":
                    bad = None if value is None else any(abs(value - s) < 1e-9 for s in rule.states)
                    out.append(Observation(value=value, bad=bad, detail=detail, **obs_kw))
                else:
                    own = (_num_or_none(d.values.get(rule.threshold_value))
                           if rule.threshold_value and d.online else None)
                    out.append(Observation(value=value, bad=None, detail=detail, threshold=own, **obs_kw))
            return out
        # station scope
        obs_kw = dict(station_id=sid, source=sid, device_id=None, device_kind=None)
        loaded = int(getattr(summary, "compressors_loaded", 0) or 0)
        if rule.kind == "comm_loss":
            offline = station_offline or getattr(summary, "state", "") == "offline"
            return [Observation(value=0.0 if offline else 1.0, bad=offline, **obs_kw)]
        if rule.kind in ("threshold", "rate_of_change"):
            value = _num_or_none(getattr(summary, rule.value, None))
            if rule.only_when_running and loaded == 0 and rule.kind == "threshold":
                return [Observation(value=value, bad=False if value is not None else None, **obs_kw)]
            return [Observation(value=value, **obs_kw)]
        if rule.kind == "pressure_differential":
            header = next((_num_or_none(d.values.get("pressure_mpa")) for d in devices
                           if d.kind == "flow_meter" and d.online), None)
            discharge = [_num_or_none(d.values.get("discharge_pressure_mpa")) for d in devices
                         if d.kind == "compressor" and d.online and _num_or_none(d.values.get("run_state")) == 2.0]
            discharge = [p for p in discharge if p is not None]
            if header is None:
                return [Observation(value=None, **obs_kw)]  # no header pressure: hold
            if not discharge:
                return [Observation(value=0.0, bad=False, **obs_kw)]  # nothing loaded: no flow, no drop
            drop = round(max(discharge) - header, 6)
            return [Observation(value=drop, detail={"discharge_pressure_mpa": max(discharge),
                                                    "header_pressure_mpa": header}, **obs_kw)]
        if rule.kind == "air_power_ratio":
            power = _num_or_none(getattr(summary, "power_kw", None))
            flow = _num_or_none(getattr(summary, "flow_m3_min", None))
            if power is None or flow is None:
                return [Observation(value=None, **obs_kw)]
            if loaded == 0 or power < rule.min_power_kw:
                return [Observation(value=None, bad=False, **obs_kw)]  # not producing: nothing to judge
            ratio = round(flow * 60.0 / power, 4)
            return [Observation(value=ratio, detail={"flow_m3_min": flow, "power_kw": power}, **obs_kw)]
        raise AssertionError(f"unhandled rule kind {rule.kind}")  # validated at load


def with_overrides(rules: RuleSet, **changes: Mapping[str, Any]) -> RuleSet:
    """A copy of ``rules`` with fields of some rules replaced: ``with_overrides(rs, rule_id={"on_delay_s": 0})``.
    For configuration screens and tests.

    Raises:
        KeyError: unknown rule id.
    """
    by_id = rules.by_id
    for rid in changes:
        if rid not in by_id:
            raise KeyError(f"no rule {rid!r}")
    return RuleSet(tuple(replace(r, **changes[r.id]) if r.id in changes else r for r in rules.rules), rules.origin)
