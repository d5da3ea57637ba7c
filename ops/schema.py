"""Shared pieces of the pydantic v2 schemas: strict model configuration and ONE translation of a
:class:`pydantic.ValidationError` into the project's error text ``<source>: <field>: <reason>``.

Every schema of the project (device profiles, alarm rules, bus messages, registry rows, API and socket payloads)
raises its own error class (``ProfileError``, ``SchemaError``, ``RuleError``, …) with a message that names where
the input came from and which field is wrong, e.g. ``compressor.yaml: registers[3].data_type: 'float' is not one of
[...]``. :func:`error_text` builds that message from pydantic's error list so no module formats it by hand.

Field paths: pydantic's ``loc`` tuple becomes a dotted path with list indices in brackets (``("registers", 3,
"data_type")`` → ``registers[3].data_type``); ``labels`` renames a first path element for the reader (the bus calls
its ``v`` field ``version``). Reasons: pydantic's own ``msg`` (English, developer-facing: these errors go to logs,
CLI output and API ``error`` fields, as before), with a ``ValueError`` raised inside a validator shown without
pydantic's ``Value error,`` prefix.

This module sits in ``ops`` because every layer above may import it (``ops`` imports at most ``geo`` and ``i18n``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

#: configuration of the project's schemas: no coercion ("1" is not 1, true is not 1), unknown keys rejected,
#: NaN/±inf rejected (JSON has none; the bus writes ``allow_nan=False``)
STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)

E = TypeVar("E", bound=Exception)
T = TypeVar("T")


class FieldError(ValueError):
    """Raise inside a pydantic validator (a model validator, usually) to blame a field below the validator's own
    location: ``FieldError(("registers", 1, "name"), "'a' already used by registers[0]")`` → the message says
    ``registers[1].name: 'a' already used by registers[0]``.

    Args:
        field: a field name or a path (names and list indices) relative to the validated object.
        reason: the reason, in the words the user reads.
    """

    def __init__(self, field: str | tuple, reason: str) -> None:
        self.field = (field,) if isinstance(field, str) else tuple(field)
        super().__init__(reason)


class StrictModel(BaseModel):
    """Base of the project's pydantic models: :data:`STRICT` configuration, instances frozen."""

    model_config = ConfigDict(**STRICT, frozen=True)


def field_path(loc: Iterable[Any], labels: Mapping[str, str] | None = None) -> str:
    """Dotted field path of a pydantic ``loc``: ``("registers", 3, "data_type")`` → ``registers[3].data_type``.

    Args:
        loc: pydantic error location (strings and ints).
        labels: optional renaming of the first element (``{"v": "version"}``).
    Returns:
        the path; ``""`` for the document itself (empty ``loc``).
    """
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = str(part)
            if i == 0 and labels:
                name = labels.get(name, name)
            out += f".{name}" if out else name
    return out


#: pydantic error type → the wording of the hand-written checks this module replaces
_REASONS = {"missing": "required field is missing", "extra_forbidden": "unknown field"}


def _reason(err: Mapping[str, Any]) -> str:
    msg = str(err.get("msg", "invalid"))
    kind, ctx = err.get("type"), err.get("ctx") or {}
    if kind in _REASONS:
        return _REASONS[kind]
    if kind == "value_error":  # a ValueError raised by one of our validators: its own words
        if "error" in ctx:
            return str(ctx["error"])
        return msg.removeprefix("Value error, ")
    if kind in ("literal_error", "enum") and "expected" in ctx:
        return f"must be one of {ctx['expected']}; got {err.get('input')!r}"
    if kind == "greater_than_equal":
        return f"must be ≥ {ctx['ge']}, got {err.get('input')!r}"
    if kind == "greater_than":
        return f"must be > {ctx['gt']}, got {err.get('input')!r}"
    if kind == "less_than_equal":
        return f"must be ≤ {ctx['le']}, got {err.get('input')!r}"
    return msg


@dataclass(frozen=True)
class ErrorPart:
    """One pydantic error in the project's terms: ``path`` (dotted, :func:`field_path`), ``reason`` (words),
    ``type`` (pydantic's error type, e.g. ``extra_forbidden``), ``input`` (the offending value)."""

    path: str
    reason: str
    type: str
    input: Any = None


def error_parts(exc: ValidationError, labels: Mapping[str, str] | None = None) -> list[ErrorPart]:
    """Every error of ``exc`` as :class:`ErrorPart` (a :class:`FieldError` raised in a validator moves the path
    down to the field it names)."""
    out = []
    for err in exc.errors(include_url=False):
        loc = tuple(err.get("loc", ()))
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, FieldError):
            loc += cause.field
        out.append(ErrorPart(field_path(loc, labels), _reason(err), str(err.get("type")), err.get("input")))
    return out


def error_text(exc: ValidationError, source: str, labels: Mapping[str, str] | None = None,
               first_only: bool = True) -> str:
    """``<source>: <field>: <reason>`` of a pydantic validation error (the first error, or all joined by ``; ``).

    Args:
        exc: the pydantic error.
        source: where the input came from: a file name (``compressor.yaml``), a message type (``station_reading``),
            a payload name (``acknowledge``) or a ``file: row`` prefix.
        labels: renaming of first path elements (see :func:`field_path`).
        first_only: only the first error (the style of the hand-written checks this replaces).
    Returns:
        the message, e.g. ``m.yaml: registers[0].scale: Input should be a valid number``.
    """
    parts = error_parts(exc, labels)
    if first_only:
        parts = parts[:1]
    return f"{source}: " + "; ".join(f"{p.path}: {p.reason}" if p.path else p.reason for p in parts)


def validate(schema: type[T] | TypeAdapter, data: Any, source: str, error: type[E],
             labels: Mapping[str, str] | None = None, first_only: bool = True) -> T:
    """Validate ``data`` against a pydantic model class or a :class:`~pydantic.TypeAdapter`.

    Returns:
        the validated model instance (or the adapter's type).
    Raises:
        error: (the caller's error class, a ``ValueError`` subclass) with :func:`error_text` as its message.
    """
    try:
        if isinstance(schema, TypeAdapter):
            return schema.validate_python(data)
        return schema.model_validate(data)  # type: ignore[union-attr]
    except ValidationError as exc:
        raise error(error_text(exc, source, labels, first_only)) from None
