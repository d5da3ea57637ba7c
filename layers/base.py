"""The shared shape of every map layer: :class:`Layer`, its context and legend rows.

A layer (Grafana's "one plugin, one interface") is a subclass of :class:`Layer` in its own module of this package,
registered with :func:`layers.registry.register`; everything that lists layers — the HTTP API
(``/api/layers/<key>``), the page (layer-control rows, the dash-leaflet components, legends), the callbacks (one
pattern-matching callback for all layers) and the importer — reads the registry, so a new layer is a new module.

A layer has:

* ``key`` — a short name (``"stations"``, ``"cameras"`` …), also its layer-control value and its component id's key
  (``{"type": "cc-layer", "key": key}``);
* ``data(scope, ctx, lang) -> dict`` — a GeoJSON FeatureCollection in WGS-84 (EPSG:4326, ``[lon, lat]``) for a scope,
  with tooltips in ``lang``;
* ``legend(lang, opts) -> list[LegendItem]`` — what the colours / symbols mean, in the UI language;
* ``popup_fields`` — the feature properties a popup / tooltip shows, as ``(property, catalog key)`` pairs;
* ``import_spec`` — the columns, validation and target table of its file import
  (:class:`datasources.ingest.specs.LayerSpec`), or ``None``;
* drawing: ``pane`` (the Leaflet pane of its component; ``None`` = drawn elsewhere or not at all),
  :meth:`Layer.component_props` (dash-leaflet ``GeoJSON`` options; JS functions for ``pointToLayer`` / ``style`` live
  in ``assets/`` under ``window.cc.draw``, named with ``layers.draw.DRAW``), :meth:`Layer.hideout`.

The :class:`Scope` is the project's one scope (:mod:`geo.scope`), re-exported here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

from geo.scope import NATION, SCOPE_LEVELS, SELF_CITY_PROVINCES, Scope, ScopeError

__all__ = ["EMPTY_FC", "LAYER_TYPE", "LIVE_TYPE", "NATION", "SCOPE_LEVELS", "SELF_CITY_PROVINCES", "Layer", "LayerContext", "LegendItem",
           "Scope", "ScopeError", "feature_collection", "pattern_id"]

#: the component-id type of a registered layer's map component
LAYER_TYPE = "cc-layer"
#: the id type of a registered layer's live-refresh token (``dcc.Store``, set clientside by ``cc.city.layerLive`` when
#: a Socket.IO event the layer declared in :attr:`Layer.live_events` arrives)
LIVE_TYPE = "cc-layer-live"
EMPTY_FC: dict = {"type": "FeatureCollection", "features": []}


def pattern_id(key: str, kind: str = LAYER_TYPE) -> dict:
    """The Dash pattern-matching id of a layer's component: ``{"type": "cc-layer", "key": key}``."""
    return {"type": kind, "key": key}


@dataclass(frozen=True)
class LegendItem:
    """One legend row: ``symbol`` is a CSS class of ``assets/cc_theme.css`` (e.g. ``cc-sym-running``); ``label``
    the text in the requested language; ``key`` its catalog key when it has one (the page then re-translates it
    clientside on a language switch); ``text`` is drawn inside the symbol (e.g. a cluster count); ``style`` inline CSS
    of the symbol (e.g. a colour ramp)."""

    symbol: str
    label: str
    key: str | None = None
    text: str = ""
    style: Mapping[str, str] | None = field(default=None, compare=False, hash=False)


@dataclass
class LayerContext:
    """What layers read from: a SQLAlchemy engine and a sync ``redis.Redis`` client (``decode_responses=False``)."""

    engine: Any
    redis: Any
    stale_after_s: float = 30.0


class Layer:
    """Base of every map layer (see the module docstring). Subclasses set the class attributes and implement
    :meth:`data`; the registry holds one instance per subclass.

    Attributes:
        key: short name (layer-control value, component-id key, ``/api/layers/<key>`` unless ``api_key``).
        order: position in the layer control, the legends and the panes (ascending).
        scopes: scope levels at which the layer has data (``("city",)`` for city layers: tagged "city only").
        control: has a row in the layer control. default_on: switched on when the page opens.
        title_key: catalog key of its legend section title (``None``: no legend section).
        api_key: name under ``/api/layers/``; ``None`` = not served there.
        pane: Leaflet pane of its component (``cc-heat``, ``cc-places``, ``cc-lines``, ``cc-points``); ``None`` = the
            layer draws no registry component (e.g. stations, drawn by :mod:`callbacks.map`).
        by_url: the browser loads the features itself from ``/api/layers/<api_key>`` (large layers).
        reload_on_reconnect: reload the data when the Socket.IO connection is new (the layer's live deltas
            resume from a fresh snapshot).
        live_events: names of Socket.IO events of the page (e.g. ``("roster",)``, relayed by
            :mod:`dashboard.live.ops_bridge`) after which the layer reloads while it is on — never a polling
            timer (DESIGN.md: the browser receives events). An event whose payload has ``scopes`` (room names)
            reloads only a page showing one of them; the data are sent only when they changed, and the layer also
            reloads on a new Socket.IO connection (events may have been missed).
        click_kind: what a click on a feature opens in the feature panel (``None``: nothing; ``"place"``: the
            feature's own ``kind`` property).
        popup_fields: ``(property, catalog key)`` pairs a popup / tooltip shows.
        import_spec: :class:`datasources.ingest.specs.LayerSpec` of its file import, or ``None``.
        swatch: inline CSS of its layer-control symbol (when ``assets/`` has no ``cc-lc-sym-<key>`` class for it).
    """

    key: ClassVar[str] = ""
    order: ClassVar[int] = 100
    scopes: ClassVar[tuple[str, ...]] = ("city",)
    control: ClassVar[bool] = True
    default_on: ClassVar[bool] = False
    title_key: ClassVar[str | None] = None
    api_key: ClassVar[str | None] = None
    pane: ClassVar[str | None] = None
    by_url: ClassVar[bool] = False
    reload_on_reconnect: ClassVar[bool] = False
    live_events: ClassVar[tuple[str, ...]] = ()
    click_kind: ClassVar[str | None] = None
    popup_fields: ClassVar[tuple[tuple[str, str], ...]] = ()
    import_spec: ClassVar[Any] = None
    swatch: ClassVar[Mapping[str, str] | None] = None

    # ------------------------------------------------------------------ data
    def data(self, scope: Scope, ctx: LayerContext, lang: str = "zh") -> dict:
        """The layer's features for ``scope`` as a GeoJSON FeatureCollection, WGS-84 ``[lon, lat]`` degrees.

        Raises:
            sqlalchemy.exc.SQLAlchemyError / redis.exceptions.RedisError: its sources are down.
        """
        raise NotImplementedError

    def has_data(self, scope: Scope | None) -> bool:
        """True when the layer has data at ``scope``'s level (:attr:`scopes`)."""
        return scope is not None and scope.level in self.scopes

    @property
    def city_only(self) -> bool:
        """True for a city-level layer (tagged "city only" in the layer control)."""
        return tuple(self.scopes) == ("city",)

    # ------------------------------------------------------------------ legend and drawing
    def legend(self, lang: str, opts: Mapping[str, Any] | None = None) -> list[LegendItem]:
        """Legend rows in ``lang``; ``opts``: the page's layer options (``metric``, ``address``, ``level``)."""
        return []

    def hideout(self, lang: str) -> dict:
        """The component's initial ``hideout`` (read by its JS drawing functions)."""
        return {"lang": lang}

    def component_props(self) -> dict:
        """Keyword arguments of the layer's ``dl.GeoJSON`` besides ``id``, ``data`` and ``hideout``."""
        return {"bubblingMouseEvents": False}

    def placeholder(self, lang: str) -> Any:
        """The empty ``dl.GeoJSON`` the page starts with (id :func:`pattern_id`); the registry callback fills it."""
        import dash_leaflet as dl  # noqa: PLC0415

        return dl.GeoJSON(id=pattern_id(self.key), data=EMPTY_FC, hideout=self.hideout(lang),
                          **self.component_props())

    def api_text(self, scope: Scope, ctx: LayerContext, lang: str = "zh") -> str:
        """What ``/api/layers/<api_key>`` answers: :meth:`data` in the display CRS (:mod:`layers.display`) as compact
        JSON text (UTF-8 names unescaped)."""
        import json  # noqa: PLC0415

        from layers import display  # noqa: PLC0415

        return json.dumps(display.to_display(self.data(scope, ctx, lang)), ensure_ascii=False, separators=(",", ":"))

    def url(self, scope: Scope, lang: str) -> str:
        """Where the browser loads a ``by_url`` layer: ``/api/layers/<api_key>?scope=…&lang=…``."""
        from urllib.parse import quote  # noqa: PLC0415

        return f"/api/layers/{self.api_key or self.key}?scope={quote(scope.room, safe=':')}&lang={lang}"

    # ------------------------------------------------------------------ feature panel and import
    def shows_legend(self, scope: Scope | None) -> bool:
        """True when the layer's legend section is shown at ``scope`` (when switched on): where it has data."""
        return self.has_data(scope)

    def panel(self, ctx: LayerContext, kind: str, feature_id: str, lang: str):
        """The feature panel for a clicked feature: ``(className, kind label, title, subtitle, body children)``
        or ``None`` (nothing to show)."""
        return None

    def after_import(self, engine) -> None:
        """Drop what a successful import of this layer invalidates (caches of derived figures)."""


def feature_collection(features: list[dict]) -> dict:
    """``{"type": "FeatureCollection", "features": features}``."""
    return {"type": "FeatureCollection", "features": features}
