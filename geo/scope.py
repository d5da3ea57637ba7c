"""The one scope of the project: what a view, a query or a layer looks at.

A :class:`Scope` is ``nation``, ``province:<adcode>``, ``city:<adcode>`` or ``station:<id>``; its string form is also
the name of the Socket.IO room that carries its live data. It lives in ``geo`` because every package needs it
(``datasources`` for scoped queries, ``layers`` for scoped layer data) and ``geo`` imports nothing of the project.

Adcodes are the 6-digit codes of GB/T 2260 (province ``xx0000``, city ``xxxx00``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

SCOPE_LEVELS = ("nation", "province", "city", "station")
_ADCODE_RE = re.compile(r"^\d{6}$")
_STATION_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,32}$")
#: provinces that are also their own (only) city — Taiwan, Hong Kong, Macao: ``city:810000`` is a valid scope
SELF_CITY_PROVINCES = frozenset({"710000", "810000", "820000"})


class ScopeError(ValueError):
    """A scope string is malformed or names something that does not exist; the message says which."""


@dataclass(frozen=True)
class Scope:
    """A scope. ``level`` is one of :data:`SCOPE_LEVELS`; ``code`` the adcode (province / city), the station id
    (station) or ``None`` (nation)."""

    level: str
    code: str | None = None

    @property
    def room(self) -> str:
        """Socket.IO room name: ``nation`` | ``province:<adcode>`` | ``city:<adcode>`` | ``station:<id>``."""
        return "nation" if self.level == "nation" else f"{self.level}:{self.code}"

    def __str__(self) -> str:
        return self.room

    @property
    def is_region(self) -> bool:
        """True for nation, province and city scopes (not for a station)."""
        return self.level in ("nation", "province", "city")

    @classmethod
    def parse(cls, raw: Any, station_exists: Callable[[str], bool] | None = None, *,
              shorthand: bool = False) -> "Scope":
        """Validate a scope.

        Args:
            raw: ``"nation"``, ``"province:330000"``, ``"city:330100"``, ``"station:<id>"`` or a :class:`Scope`
                (returned as it is).
            station_exists: when given, ``station:<id>`` must name a known station.
            shorthand: also accept a bare adcode (``xx0000`` → province, else city) or a bare station id — for
                programmatic callers (the energy queries); the web keeps the strict form.
        Raises:
            ScopeError (a ``ValueError``): anything else (wrong type, unknown level, adcode not 6 digits, province
                adcode not ``xx0000``, unknown station).
        """
        if isinstance(raw, Scope):
            return raw
        if not isinstance(raw, str) or len(raw) > 64:
            raise ScopeError(f"scope must be a string like 'nation' or 'province:330000', not {raw!r:.80}")
        if raw == "nation":
            return cls("nation")
        if shorthand and raw and ":" not in raw:
            if _ADCODE_RE.match(raw):
                raw = ("province:" if raw.endswith("0000") else "city:") + raw
            else:
                raw = "station:" + raw
        level, sep, code = raw.partition(":")
        if not sep or level not in SCOPE_LEVELS or level == "nation":
            raise ScopeError(f"scope {raw!r}: level must be one of {list(SCOPE_LEVELS)}")
        if level in ("province", "city"):
            if not _ADCODE_RE.match(code):
                raise ScopeError(f"scope {raw!r}: adcode must be 6 digits")
            if level == "province" and not code.endswith("0000"):
                raise ScopeError(f"scope {raw!r}: a province adcode ends with 0000")
            if level == "city" and code.endswith("0000") and code not in SELF_CITY_PROVINCES:
                raise ScopeError(f"scope {raw!r}: {code} is a province adcode, not a city")
            return cls(level, code)
        if not _STATION_ID_RE.match(code):
            raise ScopeError(f"scope {raw!r}: malformed station id")
        if station_exists is not None and not station_exists(code):
            raise ScopeError(f"scope {raw!r}: unknown station {code}")
        return cls("station", code)


NATION = Scope("nation")
