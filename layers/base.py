"""The shared shape of every map layer, and the scopes a view can look at.

A layer (Grafana's "one plugin, one interface") is a module-level object with:

* ``key`` — a short name (``"stations"``, ``"regions"``, later ``"cameras"``, ``"pipelines"`` …);
* ``data(scope, ctx) -> dict`` — a GeoJSON FeatureCollection in WGS-84 (EPSG:4326, ``[lon, lat]``) for a scope;
* ``legend(lang) -> list[LegendItem]`` — what the colours/symbols mean, in the UI language;
* ``popup_fields`` — the feature properties a popup / tooltip shows, as ``(property, catalog key)`` pairs;
* ``component(ctx, scope, lang) -> Dash component`` — the dash-leaflet component drawing ``data`` (functions for
  ``pointToLayer`` / ``style`` / ``clusterToLayer`` live in ``assets/cc_map.js`` under ``window.dashExtensions.cc``).

A :class:`Scope` is one of ``nation``, ``province:<adcode>``, ``city:<adcode>``, ``station:<id>``; its string form is
also the name of the Socket.IO room that carries its live data.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Protocol

SCOPE_LEVELS = ("nation", "province", "city", "station")
_ADCODE_RE = re.compile(r"^\d{6}$")
_STATION_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,32}$")
#: provinces that are also their own (only) city — Taiwan, Hong Kong, Macao: ``city:810000`` is a valid scope
SELF_CITY_PROVINCES = frozenset({"710000", "810000", "820000"})


class ScopeError(ValueError):
    """A scope string is malformed or names something that does not exist; the message says which."""


@dataclass(frozen=True)
class Scope:
    """A view's scope. ``code`` is the adcode (province/city), the station id (station) or ``None`` (nation)."""

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
        return self.level in ("nation", "province", "city")

    @classmethod
    def parse(cls, raw: Any, station_exists: Callable[[str], bool] | None = None) -> "Scope":
        """Validate a scope string.

        Args:
            raw: ``"nation"``, ``"province:330000"``, ``"city:330100"`` or ``"station:<id>"``.
            station_exists: when given, ``station:<id>`` must name a known station.
        Raises:
            ScopeError: anything else (wrong type, unknown level, adcode not 6 digits, province adcode not
                ``xx0000``, unknown station).
        """
        if not isinstance(raw, str) or len(raw) > 64:
            raise ScopeError(f"scope must be a string like 'nation' or 'province:330000', not {raw!r:.80}")
        if raw == "nation":
            return cls("nation")
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


@dataclass(frozen=True)
class LegendItem:
    """One legend row: ``symbol`` is a CSS class of ``assets/cc_theme.css`` (e.g. ``cc-sym-running``); ``label``
    the text in the requested language; ``key`` its catalog key when it has one (the page then re-translates it
    clientside on a language switch); ``text`` is drawn inside the symbol (e.g. a cluster count)."""

    symbol: str
    label: str
    key: str | None = None
    text: str = ""


@dataclass
class LayerContext:
    """What layers read from: a SQLAlchemy engine and a sync ``redis.Redis`` client (``decode_responses=False``)."""

    engine: Any
    redis: Any
    stale_after_s: float = 30.0


class Layer(Protocol):
    key: str
    popup_fields: tuple[tuple[str, str], ...]

    def data(self, scope: Scope, ctx: LayerContext) -> dict: ...

    def legend(self, lang: str) -> list[LegendItem]: ...

    def component(self, ctx: LayerContext, scope: Scope, lang: str) -> Any: ...


def feature_collection(features: list[dict]) -> dict:
    return {"type": "FeatureCollection", "features": features}
