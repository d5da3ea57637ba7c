"""The alarm rules file: rule constants, the validated :class:`Rule` / :class:`RuleSet`, and the pydantic schema
that loads ``datasources/alarm_rules.yaml`` (file format: :mod:`ops.alarm_rules`).

One model per rule kind (:data:`RULE_MODELS`): a kind's model lists exactly the fields that kind takes, so an
unknown or misplaced field (``threshold_value`` on a rate rule) is named as such. Errors raise
:class:`RuleFileError` naming the file and the field as ``rules[3] (<id>).threshold`` (first error only);
the text comes from :func:`ops.schema.error_parts`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Optional

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from ops.schema import STRICT, FieldError, error_parts
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

_ID_RE = re.compile(r"^[a-z0-9_]{1,64}$")


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



# ---------------------------------------------------------------- schema (pydantic)
def _finite(v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        raise ValueError(f"must be a finite number, got {v!r}")
    return float(v)


def _text(v: Any) -> Any:
    if not isinstance(v, str) or not v.strip():
        raise ValueError(f"must be a non-empty string, got {v!r}")
    return v


def _severity(v: Any) -> int:
    if isinstance(v, str) and v.strip().upper() in ROMAN_SEVERITY:
        return ROMAN_SEVERITY[v.strip().upper()]
    if isinstance(v, int) and not isinstance(v, bool) and v in SEVERITY_ROMAN:
        return v
    raise ValueError(f"must be I, II, III or IV (or 1..4), got {v!r}")


def _states(v: Any) -> Any:
    if (not isinstance(v, list) or not v
            or not all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in v)):
        raise ValueError(f"must be a non-empty list of numbers, got {v!r}")
    return tuple(float(s) for s in v)


#: a finite number (int or float; not a bool), as float
Number = Annotated[float, BeforeValidator(_finite)]
NonNegative = Annotated[Number, Field(ge=0)]
Positive = Annotated[Number, Field(gt=0)]
#: a non-empty string
Text = Annotated[str, BeforeValidator(_text)]
Severity = Annotated[int, BeforeValidator(_severity)]
States = Annotated[tuple[float, ...], BeforeValidator(_states)]
RuleId = Annotated[str, Field(pattern=_ID_RE.pattern)]
Op = Literal[">", "<"]


class _RuleModel(BaseModel):
    """Fields every rule kind takes; ``kind`` is checked before a model is chosen (:data:`RULE_MODELS`)."""

    model_config = ConfigDict(**STRICT, frozen=True)

    id: RuleId
    kind: str
    severity: Severity
    message: Text
    on_delay_s: NonNegative = 0.0
    off_delay_s: NonNegative = 0.0
    skill: Optional[Literal[SKILLS]] = None  # type: ignore[valid-type]
    unit: Optional[Text] = None
    source: Optional[Text] = None
    description: Optional[Text] = None
    enabled: bool = True
    detail_values: list[str] = []

    @field_validator("detail_values", mode="before")
    @classmethod
    def _names(cls, v: Any) -> Any:
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise ValueError("must be a list of value names")
        return v

    def rule(self) -> Rule:
        """The validated :class:`Rule`."""
        kw = self.model_dump(exclude_none=True)
        kw.update(unit=self.unit or "", source=self.source or "", description=self.description or "",
                  detail_values=tuple(self.detail_values))
        return Rule(**kw)


class _ScopedModel(_RuleModel):
    """Rules that may watch each device of a kind (device scope) or the station summary (station scope)."""

    scope: Literal["device", "station"] = "device"
    device_kind: Optional[Literal[DEVICE_KINDS + ("*",)]] = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _scope_rules(self):
        if self.scope == "station" and self.device_kind is not None:
            raise FieldError("device_kind", "not allowed on station-scope rules")
        return self


class _ValueModel(_ScopedModel):
    """Rules judging one value: a profile value name (device scope, ``device_kind`` required) or a summary field."""

    value: Text
    only_when_running: bool = False

    @model_validator(mode="after")
    def _value_rules(self):
        if self.scope == "device" and self.device_kind is None:
            raise FieldError("device_kind", "is required for device-scope value rules")
        if self.scope == "station" and self.value not in SUMMARY_FIELDS:
            raise FieldError("value", f"station-scope value must be a summary field ({', '.join(SUMMARY_FIELDS)})")
        return self


class ThresholdRule(_ValueModel):
    """``kind: threshold``: bad when the value is beyond ``threshold`` (or the device's own ``threshold_value``)."""

    op: Op
    threshold: Number
    hysteresis: NonNegative = 0.0
    threshold_value: Optional[Text] = None

    @model_validator(mode="after")
    def _own_threshold(self):
        if self.threshold_value is not None and self.scope != "device":
            raise FieldError("threshold_value", "only device-scope rules take a per-device threshold")
        return self


class RateRule(_ValueModel):
    """``kind: rate_of_change``: the value's rate (unit per s) averaged over ``window_s`` beyond ``threshold``."""

    op: Op
    threshold: Number
    hysteresis: NonNegative = 0.0
    window_s: Positive = 10.0


class DigitalRule(_ValueModel):
    """``kind: digital``: bad while the value is one of ``states`` (device scope only)."""

    states: States = Field(default=None, validate_default=True)

    @model_validator(mode="after")
    def _device_only(self):
        if self.scope != "device":
            raise FieldError("scope", "digital rules are device scope only")
        return self


class CommLossRule(_ScopedModel):
    """``kind: comm_loss``: a device (or every device of a station) not answering."""


class _StationModel(_RuleModel):
    scope: Literal["device", "station"] = "station"
    threshold: Positive
    hysteresis: NonNegative = 0.0

    @model_validator(mode="after")
    def _station_only(self):
        if self.scope != "station":
            raise FieldError("scope", f"kind {self.kind!r} is station scope only")
        return self


class PressureDifferentialRule(_StationModel):
    """``kind: pressure_differential``: station discharge minus header pressure beyond ``threshold``, MPa."""

    op: Op = ">"


class AirPowerRatioRule(_StationModel):
    """``kind: air_power_ratio``: the station's m³/kWh below ``threshold`` while its power ≥ ``min_power_kw``."""

    op: Op = "<"
    min_power_kw: NonNegative = 10.0


#: rule kind → its model
RULE_MODELS: dict[str, type[_RuleModel]] = {
    "threshold": ThresholdRule, "rate_of_change": RateRule, "digital": DigitalRule, "comm_loss": CommLossRule,
    "pressure_differential": PressureDifferentialRule, "air_power_ratio": AirPowerRatioRule,
}
assert tuple(RULE_MODELS) == RULE_KINDS


class _Defaults(BaseModel):
    model_config = ConfigDict(**STRICT, frozen=True)

    on_delay_s: NonNegative | None = None
    off_delay_s: NonNegative | None = None
    hysteresis: NonNegative | None = None


class RulesFile(BaseModel):
    """Top level of a rules file: ``version: 1``, optional ``defaults``, ``rules`` (each validated by its kind's
    model after the defaults it accepts are merged in)."""

    model_config = ConfigDict(**STRICT, frozen=True)

    version: Any = Field(default=None, validate_default=True)
    defaults: Optional[_Defaults] = None
    rules: Any = Field(default=None, validate_default=True)

    @field_validator("version")
    @classmethod
    def _v1(cls, v: Any) -> Any:
        if v != 1 or isinstance(v, bool):
            raise ValueError(f"must be 1, got {v!r}")
        return v

    @field_validator("rules")
    @classmethod
    def _non_empty(cls, v: Any) -> Any:
        if not isinstance(v, list) or not v:
            raise ValueError("must be a non-empty list")
        return v


def _fail(origin: str, exc: ValidationError, prefix: str = "", kind: str | None = None) -> RuleFileError:
    part = error_parts(exc)[0]
    reason = part.reason
    if part.type == "extra_forbidden" and kind in RULE_MODELS:
        allowed = ", ".join(sorted(RULE_MODELS[kind].model_fields))
        reason = f"unknown field for kind {kind!r} (allowed: {allowed})"
    path = f"{prefix}.{part.path}" if prefix and part.path else (prefix or part.path)
    return RuleFileError(origin, path, reason)


# ---------------------------------------------------------------- loading

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
    """Validate YAML text (or an already parsed mapping) into a :class:`RuleSet` (:class:`RulesFile`, then each
    rule by its kind's model in :data:`RULE_MODELS`). Disabled rules are validated, then left out.

    Raises:
        RuleFileError: naming ``origin`` and the offending field (``rules[2] (<id>).threshold``); unknown fields
            are errors (typo protection).
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
    try:
        top = RulesFile.model_validate(dict(data))
    except ValidationError as exc:
        raise _fail(origin, exc) from None
    defaults = top.defaults.model_dump(exclude_none=True) if top.defaults else {}
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, raw in enumerate(top.rules):
        where = f"rules[{i}]"
        if not isinstance(raw, Mapping):
            raise RuleFileError(origin, where, "must be a mapping")
        rid = raw.get("id")
        if isinstance(rid, str) and _ID_RE.match(rid):
            where = f"{where} ({rid})"
        kind = raw.get("kind")
        model = RULE_MODELS.get(kind) if isinstance(kind, str) else None
        if model is None:
            try:  # a bad id is named before the kind, as the id names the rule
                _RuleModel.model_validate({k: v for k, v in raw.items() if k in _RuleModel.model_fields})
            except ValidationError as exc:
                if error_parts(exc)[0].path == "id":
                    raise _fail(origin, exc, where) from None
            raise RuleFileError(origin, f"{where}.kind", "required field is missing" if kind is None else
                                f"must be one of {', '.join(RULE_KINDS)}; got {kind!r}")
        merged = {**{k: v for k, v in defaults.items() if k in model.model_fields}, **raw}
        try:
            rule = model.model_validate(merged).rule()
        except ValidationError as exc:
            raise _fail(origin, exc, where, kind) from None
        if rule.id in seen:
            raise RuleFileError(origin, f"{where}.id", f"duplicate rule id {rule.id!r}")
        seen.add(rule.id)
        if rule.enabled:
            rules.append(rule)
    return RuleSet(tuple(rules), origin)
