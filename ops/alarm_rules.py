"""Alarm rules as data, and their pure evaluation (no I/O): one condition state machine per (rule, source).

Rules live in ``datasources/alarm_rules.yaml`` (format below); :func:`parse_rules` validates them and raises
:class:`RuleFileError` naming the file and the field (``rules[3].threshold``) on the first error.

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
import re
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from ops.vocab import SEVERITY_ROMAN  # severity number → roman grade (seed 002 §7.2.5.1 故障级别), re-exported

# ---------------------------------------------------------------- constants

#: severity number → label used in the UI and messages
SEVERITY_LABEL = {1: "critical", 2: "serious", 3: "general", 4: "minor"}
ROMAN_SEVERITY = {v: k for k, v in SEVERITY_ROMAN.items()}

RULE_KINDS = ("threshold", "rate_of_change", "digital", "comm_loss", "pressure_differential", "air_power_ratio")
DEVICE_KINDS = ("compressor", "dryer", "flow_meter", "power_meter", "station_io", "pipe_sensor")
#: field-engineer skills of the duty roster; rules name the skill their work order needs
SKILLS = ("compressor", "dryer", "electrical", "pipeline", "security")
#: default skill when a rule names none: by device kind
SKILL_BY_DEVICE_KIND = {"compressor": "compressor", "dryer": "dryer", "flow_meter": "pipeline",
                        "power_meter": "electrical", "station_io": "security",
                        "pipe_sensor": "pipeline"}
#: station summary fields a station-scope threshold/rate rule may use (datasources.bus.messages.StationSummary)
SUMMARY_FIELDS = ("flow_m3_min", "power_kw", "discharge_pressure_mpa", "devices_online", "compressors_loaded")

INACTIVE, PENDING, ACTIVE, CLEARING = "inactive", "pending", "active", "clearing"
RAISE, CLEAR = "raise", "clear"

_ID_RE = re.compile(r"^[a-z0-9_]{1,64}$")
_COMMON_KEYS = {"id", "kind", "severity", "message", "on_delay_s", "off_delay_s", "skill", "unit", "source",
                "enabled", "description", "detail_values"}
_KIND_KEYS = {
    "threshold": {"scope", "device_kind", "value", "op", "threshold", "hysteresis", "only_when_running",
                  "threshold_value"},
    "rate_of_change": {"scope", "device_kind", "value", "op", "threshold", "hysteresis", "window_s",
                       "only_when_running"},
    "digital": {"scope", "device_kind", "value", "states"},
    "comm_loss": {"scope", "device_kind"},
    "pressure_differential": {"scope", "op", "threshold", "hysteresis"},
    "air_power_ratio": {"scope", "op", "threshold", "hysteresis", "min_power_kw"},
}


class RuleFileError(ValueError):
    """A rules file is malformed. ``str(err)`` names the file and the field, e.g.
    ``alarm_rules.yaml: rules[2].threshold: must be a number, got 'high'``.

    Attributes:
        origin: file path (or ``<string>``); field: dotted field path or ``""`` for the whole file.
    """

    def __init__(self, origin: str, field_path: str, problem: str):
        self.origin, self.field, self.problem = origin, field_path, problem
        where = f"{origin}: {field_path}: " if field_path else f"{origin}: "
        super().__init__(where + problem)


@dataclass(frozen=True)
class Rule:
    """One validated alarm rule (see the module docstring for the file format).

    Attributes:
        id: unique rule id. kind: one of :data:`RULE_KINDS`. severity: 1 (I, critical) … 4 (IV, minor).
        scope: ``device`` (one alarm source per matching device, source id = device id) or ``station``
            (source id = station id).
        device_kind: device kind filter for device scope (``"*"`` any).
        value: profile value name (device scope) or :data:`SUMMARY_FIELDS` name (station scope).
        op: ``">"`` (bad when above) or ``"<"`` (bad when below). threshold: in the value's unit (rate: per s).
        threshold_value: threshold rules of device scope: name of a value of the same device holding that device's
            own threshold (same unit); when the reading carries it as a finite number it replaces ``threshold``
            for that device (per-sensor set points, e.g. a pipe's low-pressure limit), else ``threshold`` holds.
        hysteresis: dead band towards normal that must be passed to clear, same unit, ≥ 0.
        on_delay_s / off_delay_s: how long the condition must hold before raising / clearing, seconds.
        states: digital rules: values that are bad. window_s: rate rules: averaging window, s.
        min_power_kw: air-to-power rules: minimum station power for the ratio to be judged, kW.
        only_when_running: station scope: condition is "good" while no compressor is loaded.
        skill: skill a work order for this alarm needs (:data:`SKILLS`).
        unit, message, source (citation of the threshold), detail_values (values copied into the alarm detail).
    """

    id: str
    kind: str
    severity: int
    message: str
    scope: str = "device"
    device_kind: str = "*"
    value: str | None = None
    op: str = ">"
    threshold: float | None = None
    threshold_value: str | None = None
    hysteresis: float = 0.0
    on_delay_s: float = 0.0
    off_delay_s: float = 0.0
    states: tuple[float, ...] = ()
    window_s: float = 10.0
    min_power_kw: float = 10.0
    only_when_running: bool = False
    skill: str | None = None
    unit: str = ""
    source: str = ""
    description: str = ""
    detail_values: tuple[str, ...] = ()
    enabled: bool = True

    @property
    def severity_roman(self) -> str:
        """``"I"`` … ``"IV"``."""
        return SEVERITY_ROMAN[self.severity]

    def skill_for(self, device_kind: str | None) -> str | None:
        """The skill a work order for this rule needs: the rule's own, else by the device kind, else ``None``."""
        if self.skill:
            return self.skill
        return SKILL_BY_DEVICE_KIND.get(device_kind or "")


@dataclass(frozen=True)
class RuleSet:
    """Validated rules of one file. ``by_id`` maps rule id → :class:`Rule`; ``origin`` is the file path."""

    rules: tuple[Rule, ...]
    origin: str = "<string>"

    @property
    def by_id(self) -> dict[str, Rule]:
        """``{rule id: Rule}``."""
        return {r.id: r for r in self.rules}

    def __iter__(self):
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)


# ---------------------------------------------------------------- loading and validation

DEFAULT_RULES_PATH = Path(__file__).resolve().parent.parent / "datasources" / "alarm_rules.yaml"


def load_rules(path: str | Path | None = None) -> RuleSet:
    """Load and validate a rules file (default ``datasources/alarm_rules.yaml``).

    Raises:
        RuleFileError: unreadable file, YAML syntax error, or an invalid field (the message names file and field).
    """
    path = Path(path) if path else DEFAULT_RULES_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleFileError(str(path), "", f"cannot read: {exc}") from exc
    return parse_rules(text, origin=str(path))


def parse_rules(text_or_data: str | Mapping[str, Any], origin: str = "<string>") -> RuleSet:
    """Validate YAML text (or an already parsed mapping) into a :class:`RuleSet`.

    Raises:
        RuleFileError: naming ``origin`` and the offending field; unknown fields are errors (typo protection).
    """
    if isinstance(text_or_data, str):
        try:
            data = yaml.safe_load(text_or_data)
        except yaml.YAMLError as exc:
            raise RuleFileError(origin, "", f"YAML syntax error: {exc}") from exc
    else:
        data = text_or_data
    if not isinstance(data, Mapping):
        raise RuleFileError(origin, "", "top level must be a mapping with 'version' and 'rules'")
    unknown = set(data) - {"version", "rules", "defaults"}
    if unknown:
        raise RuleFileError(origin, sorted(unknown)[0], "unknown top-level field (allowed: version, rules, defaults)")
    if data.get("version") != 1:
        raise RuleFileError(origin, "version", f"must be 1, got {data.get('version')!r}")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        raise RuleFileError(origin, "defaults", "must be a mapping")
    bad_defaults = set(defaults) - {"on_delay_s", "off_delay_s", "hysteresis"}
    if bad_defaults:
        raise RuleFileError(origin, f"defaults.{sorted(bad_defaults)[0]}",
                            "unknown default (allowed: on_delay_s, off_delay_s, hysteresis)")
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RuleFileError(origin, "rules", "must be a non-empty list")
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_rules):
        where = f"rules[{i}]"
        if not isinstance(raw, Mapping):
            raise RuleFileError(origin, where, "must be a mapping")
        kind = raw.get("kind")
        allowed = _COMMON_KEYS | _KIND_KEYS.get(kind, set())
        merged = {**{k: v for k, v in defaults.items() if k in allowed}, **raw}
        rule = _parse_rule(origin, where, merged)
        if rule.id in seen:
            raise RuleFileError(origin, f"{where} ({rule.id}).id", f"duplicate rule id {rule.id!r}")
        seen.add(rule.id)
        if rule.enabled:
            rules.append(rule)
    return RuleSet(tuple(rules), origin)


def _num(origin: str, where: str, raw: Mapping, key: str, *, default: Any = None, minimum: float | None = None,
         positive: bool = False) -> float | None:
    if key not in raw or raw[key] is None:
        return default
    v = raw[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        raise RuleFileError(origin, f"{where}.{key}", f"must be a finite number, got {v!r}")
    v = float(v)
    if minimum is not None and v < minimum:
        raise RuleFileError(origin, f"{where}.{key}", f"must be ≥ {minimum:g}, got {v:g}")
    if positive and v <= 0:
        raise RuleFileError(origin, f"{where}.{key}", f"must be > 0, got {v:g}")
    return v


def _str(origin: str, where: str, raw: Mapping, key: str, *, required: bool = False,
         choices: Iterable[str] | None = None, default: str | None = None) -> str | None:
    if key not in raw or raw[key] is None:
        if required:
            raise RuleFileError(origin, f"{where}.{key}", "is required")
        return default
    v = raw[key]
    if not isinstance(v, str) or not v.strip():
        raise RuleFileError(origin, f"{where}.{key}", f"must be a non-empty string, got {v!r}")
    if choices is not None and v not in tuple(choices):
        raise RuleFileError(origin, f"{where}.{key}", f"must be one of {', '.join(choices)}; got {v!r}")
    return v


def _parse_severity(origin: str, where: str, raw: Mapping) -> int:
    if "severity" not in raw:
        raise RuleFileError(origin, f"{where}.severity", "is required (I, II, III or IV)")
    v = raw["severity"]
    if isinstance(v, str) and v.strip().upper() in ROMAN_SEVERITY:
        return ROMAN_SEVERITY[v.strip().upper()]
    if isinstance(v, int) and not isinstance(v, bool) and v in SEVERITY_ROMAN:
        return v
    raise RuleFileError(origin, f"{where}.severity", f"must be I, II, III or IV (or 1..4), got {v!r}")


def _parse_rule(origin: str, where: str, raw: Mapping[str, Any]) -> Rule:
    rid = raw.get("id")
    if not isinstance(rid, str) or not _ID_RE.match(rid):
        raise RuleFileError(origin, f"{where}.id", f"must match [a-z0-9_]{{1,64}}, got {rid!r}")
    where = f"{where} ({rid})"
    kind = _str(origin, where, raw, "kind", required=True, choices=RULE_KINDS)
    allowed = _COMMON_KEYS | _KIND_KEYS[kind]
    for key in raw:
        if key not in allowed:
            raise RuleFileError(origin, f"{where}.{key}",
                                f"unknown field for kind {kind!r} (allowed: {', '.join(sorted(allowed))})")
    severity = _parse_severity(origin, where, raw)
    message = _str(origin, where, raw, "message", required=True)
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RuleFileError(origin, f"{where}.enabled", f"must be true or false, got {enabled!r}")
    only_running = raw.get("only_when_running", False)
    if not isinstance(only_running, bool):
        raise RuleFileError(origin, f"{where}.only_when_running", f"must be true or false, got {only_running!r}")
    detail_values = raw.get("detail_values", [])
    if not isinstance(detail_values, list) or not all(isinstance(x, str) for x in detail_values):
        raise RuleFileError(origin, f"{where}.detail_values", "must be a list of value names")
    station_only = kind in ("pressure_differential", "air_power_ratio")
    scope = _str(origin, where, raw, "scope", choices=("device", "station"),
                 default="station" if station_only else "device")
    if station_only and scope != "station":
        raise RuleFileError(origin, f"{where}.scope", f"kind {kind!r} is station scope only")
    if kind == "digital" and scope != "device":
        raise RuleFileError(origin, f"{where}.scope", "digital rules are device scope only")
    device_kind = _str(origin, where, raw, "device_kind", choices=DEVICE_KINDS + ("*",), default="*")
    if scope == "device" and kind in ("threshold", "rate_of_change", "digital") and "device_kind" not in raw:
        raise RuleFileError(origin, f"{where}.device_kind", "is required for device-scope value rules")
    if scope == "station" and "device_kind" in raw:
        raise RuleFileError(origin, f"{where}.device_kind", "not allowed on station-scope rules")
    kw: dict[str, Any] = dict(
        id=rid, kind=kind, severity=severity, message=message, scope=scope, device_kind=device_kind,
        on_delay_s=_num(origin, where, raw, "on_delay_s", default=0.0, minimum=0),
        off_delay_s=_num(origin, where, raw, "off_delay_s", default=0.0, minimum=0),
        skill=_str(origin, where, raw, "skill", choices=SKILLS),
        unit=_str(origin, where, raw, "unit", default="") or "",
        source=_str(origin, where, raw, "source", default="") or "",
        description=_str(origin, where, raw, "description", default="") or "",
        detail_values=tuple(detail_values), enabled=enabled, only_when_running=only_running,
    )
    if kind in ("threshold", "rate_of_change", "digital"):
        kw["value"] = _str(origin, where, raw, "value", required=True)
        if scope == "station" and kw["value"] not in SUMMARY_FIELDS:
            raise RuleFileError(origin, f"{where}.value",
                                f"station-scope value must be a summary field ({', '.join(SUMMARY_FIELDS)})")
    if kind in ("threshold", "rate_of_change", "pressure_differential", "air_power_ratio"):
        default_op = {"air_power_ratio": "<", "pressure_differential": ">"}.get(kind)
        kw["op"] = _str(origin, where, raw, "op", required=default_op is None, choices=(">", "<"),
                        default=default_op)
        thr = _num(origin, where, raw, "threshold")
        if thr is None:
            raise RuleFileError(origin, f"{where}.threshold", "is required")
        if kind in ("pressure_differential", "air_power_ratio") and thr <= 0:
            raise RuleFileError(origin, f"{where}.threshold", f"must be > 0, got {thr:g}")
        kw["threshold"] = thr
        kw["hysteresis"] = _num(origin, where, raw, "hysteresis", default=0.0, minimum=0)
    if kind == "threshold" and "threshold_value" in raw:
        if scope != "device":
            raise RuleFileError(origin, f"{where}.threshold_value", "only device-scope rules take a per-device threshold")
        kw["threshold_value"] = _str(origin, where, raw, "threshold_value", required=True)
    if kind == "rate_of_change":
        kw["window_s"] = _num(origin, where, raw, "window_s", default=10.0, positive=True)
    if kind == "air_power_ratio":
        kw["min_power_kw"] = _num(origin, where, raw, "min_power_kw", default=10.0, minimum=0)
    if kind == "digital":
        states = raw.get("states")
        if (not isinstance(states, list) or not states
                or not all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in states)):
            raise RuleFileError(origin, f"{where}.states", f"must be a non-empty list of numbers, got {states!r}")
        kw["states"] = tuple(float(s) for s in states)
    return Rule(**kw)


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
