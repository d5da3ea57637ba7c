"""Request payloads of the operations actions: ONE pydantic model per payload, used by both doors to the same
actions — the HTTP endpoints (:mod:`dashboard.web.api_ops`) and the Socket.IO events (:mod:`dashboard.live.ops_sockets`).

The models only shape the input (types, defaults, ids as integers); what a value may be in the domain (a legal
action, a shelve duration ≤ 24 h, a position inside WGS-84) stays with :class:`dashboard.web.operations.OpsService`,
which authorises and audits every action. Coercion is lax, as the hand-written checks were: ``"17"`` is alarm 17, a
missing comment is ``""``, ``confirmed`` is only ``true`` itself; unknown keys are ignored (work-order actions pass
them on as the action's arguments).

A malformed payload raises :class:`~dashboard.web.operations.OpsError` (400) with the text
``<payload>: <field>: <reason>`` (:func:`ops.schema.error_text`), e.g. ``dispatch: alarm_id: must be an integer``.
"""
from __future__ import annotations

from typing import Annotated, Any, Optional, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from dashboard.web.operations import OpsError
from ops.schema import validate

M = TypeVar("M", bound=BaseModel)


def _as_int(v: Any) -> int:
    if v is None or isinstance(v, bool):
        raise ValueError("must be an integer")
    try:
        return int(v)
    except (TypeError, ValueError):
        raise ValueError("must be an integer") from None


def _as_text(v: Any) -> str:
    return str(v or "")


#: an id given as a number or its digits (``int(v)``, as before)
Id = Annotated[int, BeforeValidator(_as_int)]
#: free text: missing / null / empty → ``""``, anything else its ``str``
Text = Annotated[str, BeforeValidator(_as_text)]
#: a confirmation: only JSON ``true`` confirms
Confirmed = Annotated[bool, BeforeValidator(lambda v: v is True)]
#: an engineer id, or ``None`` (JSON null) for "nobody yet"
EngineerId = Annotated[Optional[str], BeforeValidator(lambda v: None if v is None else str(v))]
#: an optional id string: missing / empty → ``None``
OptionalText = Annotated[Optional[str], BeforeValidator(lambda v: str(v) if v not in (None, "") else None)]


class Payload(BaseModel):
    """Base of the payload models: lax coercion (the fields' validators), unknown keys ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class AlarmActionBody(Payload):
    """``POST /api/alarms/<id>/<action>``: ``comment`` text, ``duration_s`` (shelve; checked by the service)."""

    comment: Text = ""
    duration_s: Any = None


class AlarmEvent(AlarmActionBody):
    """``ops:acknowledge`` / ``ops:shelve`` / ``ops:unshelve`` / ``ops:close_alarm``: the body plus ``alarm_id``."""

    alarm_id: Id = Field(default=None, validate_default=True)


class Dispatch(Payload):
    """``POST /api/workorders`` and ``ops:dispatch``: an ``alarm_id`` or a ``station_id``; ``engineer_id`` ``"auto"``
    (default: the dispatch rule chooses), an engineer id, or ``null`` (the order goes to the pool)."""

    alarm_id: Optional[Id] = None
    station_id: OptionalText = None
    engineer_id: EngineerId = "auto"


class OrderEvent(Payload):
    """``ops:order``: ``order_id``, ``action``; every other key is an argument of the action (as the HTTP body of
    ``POST /api/workorders/<id>/<action>``)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    order_id: Id = Field(default=None, validate_default=True)
    action: Text = ""

    def arguments(self) -> dict[str, Any]:
        """The action's keyword arguments (the payload's other keys)."""
        return dict(self.model_extra or {})


class Control(Payload):
    """``POST /api/control`` and ``ops:control``: ``device_id``, ``command`` (start|stop|load|unload, checked by the
    service), ``confirmed``."""

    device_id: Text = ""
    command: Text = ""
    confirmed: Confirmed = False


class Setpoint(Payload):
    """``POST /api/devices/<id>/setpoint``: register ``name``, ``value`` in engineering units (checked against the
    register by the service), ``confirmed``."""

    name: Text = ""
    value: Any = None
    confirmed: Confirmed = False


class Position(Payload):
    """``POST /api/engineers/position``: ``lon``, ``lat`` (WGS-84 degrees; range checked by the service)."""

    lon: Any = None
    lat: Any = None


def parse(model: type[M], data: Any, source: str) -> M:
    """Validate a request body / event data; a non-object counts as ``{}`` (as before).

    Raises:
        OpsError: 400, ``<source>: <field>: <reason>``.
    """
    return validate(model, data if isinstance(data, dict) else {}, source, lambda text: OpsError(text, 400))
