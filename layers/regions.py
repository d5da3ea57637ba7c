"""Administrative regions layer: province (nation scope) or city (province / city scope) boundaries and labels.

Boundaries come from :mod:`geo.regions` (WGS-84). The page loads them by URL (``/api/regions?scope=…`` and
``…&part=labels``, cacheable) so the Dash layout stays small and never waits for the region index; ``data(scope)``
is a FeatureCollection with properties ``adcode, name_zh, name_en, level, parent_adcode``; ``labels(scope)`` one
Point per region at its label position (inside the region).

Drawing: a choropleth of the scope's station counts — ``assets/cc_city.js`` (``cc.draw.choroplethStyle``,
``regionTooltip``, ``regionStatLabel``) reads the figures of :mod:`layers.region_stats` from the components'
``hideout.stats`` (set by :mod:`callbacks.drilldown`). Coordinates leave in the display CRS (:mod:`layers.display`).
"""
from __future__ import annotations

import json
import logging
from functools import lru_cache
from typing import Any

import dash_leaflet as dl

from i18n import t
from layers import display
from layers.base import Layer, LayerContext, LegendItem, Scope, feature_collection
from layers.registry import register
from layers.draw import DRAW

log = logging.getLogger(__name__)

key = "regions"
popup_fields: tuple[tuple[str, str], ...] = (("name_zh", "legend.regions"),)
COMPONENT_ID = "regions"
LABELS_ID = "region-labels"
#: China in WGS-84, [[south, west], [north, east]]: the national view's bounds
CHINA_BOUNDS = [[17.5, 73.0], [53.8, 135.2]]


_READY = False


def ready() -> bool:
    """True once :func:`warm_up` has loaded the index (names can be looked up without waiting)."""
    return _READY


def _index():
    from geo.regions import get_region_index  # noqa: PLC0415 — geo is optional at import time (built in parallel)

    return get_region_index()


def warm_up() -> bool:
    """Load (or on first use build — ~15–25 s) the region index and the national layer; True when available.
    The app factory runs this in a background thread so no request waits for it."""
    global _READY  # noqa: PLW0603
    try:
        data_text(Scope("nation"))
        labels(Scope("nation"))
        _READY = True
        return True
    except Exception as exc:  # noqa: BLE001 — ImportError, missing data: the map still shows stations
        log.warning("region boundaries unavailable: %s", exc)
        return False


def _level_and_parent(scope: Scope) -> tuple[str, str | None]:
    """Which regions a scope draws: the provinces (nation) or the cities of the scope's province."""
    if scope.level == "nation":
        return "province", None
    if scope.level == "province":
        return "city", scope.code
    return "city", _index().province_of(scope.code).adcode


_DISPLAY_TEXTS: dict[tuple, str] = {}


def data_text(scope: Scope) -> str:
    """:func:`data` serialised, in the display CRS (:mod:`layers.display`; memoised — what ``/api/regions`` serves).
    """
    if scope.level == "station":
        return '{"type":"FeatureCollection","features":[]}'
    level, parent = _level_and_parent(scope)
    text = _index().geojson_text(level, parent)
    crs = display.display_crs()
    if crs == "WGS84":
        return text
    key = (level, parent, crs)
    if key not in _DISPLAY_TEXTS:
        _DISPLAY_TEXTS[key] = json.dumps(display.to_display(json.loads(text), crs), ensure_ascii=False,
                                         separators=(",", ":"))
    return _DISPLAY_TEXTS[key]


def data(scope: Scope, ctx: LayerContext | None = None) -> dict:
    """Region boundaries for ``scope`` (display CRS — WGS-84 unless ``CC_TILE_CRS`` says otherwise): provinces
    (nation), the cities of a province (province), the cities of the city's province (city). Properties
    ``adcode, name_zh, name_en, level, parent_adcode``.

    Raises:
        KeyError: unknown adcode. ImportError: :mod:`geo.regions` missing.
    """
    return json.loads(data_text(scope))


@lru_cache(maxsize=256)
def _labels_cached(room: str, crs: str) -> dict:
    scope = Scope.parse(room)
    idx = _index()
    level, parent = _level_and_parent(scope)
    regions = idx.provinces() if level == "province" else idx.cities(parent)
    return display.to_display(feature_collection([
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [r.lon, r.lat]},
         "properties": {"id": r.adcode, "adcode": r.adcode, "name_zh": r.name_zh, "name_en": r.name_en,
                        "level": r.level}}
        for r in regions]), crs)


def labels(scope: Scope) -> dict:
    """Label points (display CRS, inside each region) of the regions drawn for ``scope``: properties
    ``adcode, name_zh, name_en, level``."""
    if scope.level == "station":
        return feature_collection([])
    return _labels_cached(scope.room, display.display_crs())


def region_name(adcode: str, lang: str) -> str:
    """Display name of a region (``adcode`` when unknown or while the index is still loading)."""
    if not _READY:
        return adcode
    try:
        reg = _index().region(adcode)
    except Exception:  # noqa: BLE001
        reg = None
    if reg is None:
        return adcode
    return reg.name_en if lang == "en" and getattr(reg, "name_en", "") else reg.name_zh


def region_bounds(scope: Scope) -> list[list[float]]:
    """``[[south, west], [north, east]]`` of a scope in the display CRS (China for nation / unknown)."""
    if scope.level in ("province", "city") and _READY:
        try:
            reg = _index().region(scope.code)
            if reg is not None:
                west, south, east, north = reg.bbox
                return display.bounds_to_display([[south, west], [north, east]])
        except Exception:  # noqa: BLE001
            pass
    return CHINA_BOUNDS


def legend(lang: str) -> list[LegendItem]:
    return [LegendItem("cc-sym cc-sym-region", t("legend.regions", lang), key="legend.regions")]


def url(scope: Scope) -> str:
    return f"/api/regions?scope={scope.room}"


def labels_url(scope: Scope) -> str:
    return f"/api/regions?scope={scope.room}&part=labels"


def component(ctx: LayerContext | None, scope: Scope, lang: str) -> list[Any]:
    """Boundaries and labels of ``scope``, both loaded by URL (cacheable, never blocks the page)."""
    return [
        dl.GeoJSON(id=COMPONENT_ID, url=url(scope), style=DRAW("choroplethStyle"),
                   hoverStyle=DRAW("regionHover"),
                   onEachFeature=DRAW("regionTooltip"),
                   hideout={"lang": lang, "selected": scope.code}),
        dl.GeoJSON(id=LABELS_ID, url=labels_url(scope),
                   pointToLayer=DRAW("regionStatLabel"), hideout={"lang": lang},
                   interactive=False),
    ]


# --------------------------------------------------------------------------- the registered layer


@register
class RegionsLayer(Layer):
    """Administrative boundaries of a scope's sub-regions (the choropleth), drawn by :mod:`callbacks.map` from
    :func:`url`; always on (no layer-control row)."""

    key = "regions"
    order = 0
    scopes = ("nation", "province", "city")
    control = False
    popup_fields = popup_fields

    def data(self, scope: Scope, ctx: LayerContext | None = None, lang: str = "zh") -> dict:
        return data(scope, ctx)

    def legend(self, lang: str, opts=None) -> list[LegendItem]:
        return legend(lang)
