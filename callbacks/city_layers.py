"""The map's layers: one pattern-matching callback for every registered layer (:mod:`layers.registry`), the
enterprise heat surface, the layer control, the legends and the feature panel.

Each registered layer with a ``pane`` has one component ``{"type": "cc-layer", "key": <key>}`` (placed by
:func:`dashboard.pages.city.map_layers`) and one live-refresh token ``{"type": "cc-layer-live", "key": <key>}``
(a ``dcc.Store``); the :func:`register`-ed ``MATCH`` callback fills the component for its key, only at the scopes
where the layer has data (``Layer.has_data``) and only while it is switched on:

* ``by_url`` layers (shops, 10,000 points): the browser loads ``/api/layers/<api_key>?scope&lang`` itself;
* ``reload_on_reconnect`` layers (pipelines): also reloaded when the Socket.IO connection is new; between reloads
  ``pipe_states`` deltas (:mod:`dashboard.live.city_live`) restyle the pipes through ``hideout.pipes``
  (clientside ``ccCity.applyPipes``);
* ``live_events`` layers (staff on duty: ``roster``): one clientside gate per layer (``ccCity.layerLive``) turns
  the Socket.IO events it declared into a refresh token while it is on and the event concerns the page's scope
  (its ``scopes``), so an unrelated event never re-triggers the callback with a ``no_update`` that would make Dash
  drop a call still running; the layer is then reloaded and sent only when the data changed; also reloaded on a
  new Socket.IO connection. No polling timer (DESIGN.md: the browser receives events).

Stations are hidden / shown by a class on ``<html>`` (clientside ``layerState``; live states keep flowing, drawn by
:mod:`callbacks.map`). The heat surface (:func:`layers.enterprise_heat.surface`) is rendered for the map's bounds
padded by 10 % into the ``enterprise-heat`` ``ImageOverlay`` on every move.

Everything sent to the map is shifted to the display CRS (:mod:`layers.display`); viewports coming back are shifted
to WGS-84 before use. A component's ``hideout.key`` remembers what it holds (layer on, scope, language), so a toggle
of one layer does not resend the others.

Clicks (clientside ``chooseFeature``, with the ``layer-kinds`` store) open the feature panel (server
``open_feature``), drawn by the clicked layer's :meth:`layers.base.Layer.panel`.
"""
from __future__ import annotations

import hashlib
import json
import logging

from dash import ALL, MATCH, ClientsideFunction, Input, Output, State, ctx as dash_ctx, html, no_update
from sqlalchemy.exc import SQLAlchemyError

from i18n import t
from layers import display
from layers import enterprise_heat
from layers import regions as regions_layer
from layers import registry
from layers.base import EMPTY_FC, LIVE_TYPE, ScopeError, pattern_id
from layers.enterprise_heat import BLANK_PNG

log = logging.getLogger(__name__)

HEAT_PAD = 0.10
#: surfaces are rendered for the padded viewport; the map's zoom snaps to 0.1, the grid to whole zoom levels
HEAT_ZOOM_STEP = 0.5

__all__ = ["BLANK_PNG", "legend_rows", "padded_bbox", "register"]


def _scope(ctx, raw):
    try:
        return ctx.parse_scope(raw or "nation")
    except ScopeError:
        return None


def _keyed(hideout, key) -> bool:
    return isinstance(hideout, dict) and hideout.get("key") == key


def _digest(fc: dict) -> str:
    return hashlib.blake2b(json.dumps(fc, sort_keys=True, separators=(",", ":")).encode(), digest_size=12).hexdigest()


def legend_rows(items) -> list:
    """Legend rows (``cc-legend-row``) of :class:`layers.base.LegendItem` s."""
    return [html.Div(className="cc-legend-row", children=[
        html.Span(item.text, className=item.symbol, style=dict(item.style) if item.style else None),
        html.Span(item.label)]) for item in items]


def padded_bbox(bounds, pad: float = HEAT_PAD):
    """Leaflet bounds ``[[s, w], [n, e]]`` (display CRS) → WGS-84 ``(w, s, e, n)`` padded by ``pad`` per side."""
    (s, w), (n, e) = bounds
    dx, dy = (e - w) * pad, (n - s) * pad
    w, s, e, n = display.bbox_from_display((w - dx, s - dy, e + dx, n + dy))
    return max(w, -180.0), max(s, -85.0), min(e, 180.0), min(n, 85.0)


def load_layer(ctx, key: str, scope_raw, toggles, lang, sid, hideout, live: bool):
    """What the ``MATCH`` callback answers for layer ``key``: ``(data, url, hideout)``.

    ``hideout.key`` = ``[on, scope, lang(, socket id)]``: unchanged → nothing is sent; ``live`` (its refresh token
    fired: a declared live event arrived) reloads a ``live_events`` layer, whose data are sent only when their
    digest (``hideout.digest``) changed. ``reload_on_reconnect`` and ``live_events`` layers key on the socket id.
    """
    layer = registry.get(key)
    scope = _scope(ctx, scope_raw)
    on = layer.has_data(scope) and key in (toggles or [])
    load_key = [on, scope_raw if on else None, lang if on else None]
    if layer.reload_on_reconnect or layer.live_events:
        load_key.append(sid if on else None)
    base = {**layer.hideout(lang), "key": load_key}
    if _keyed(hideout, load_key) and not (live and on and layer.live_events):
        return no_update, no_update, no_update
    if not on:
        return EMPTY_FC, None, base
    if layer.by_url:
        return None, layer.url(scope, lang), base
    fc = display.to_display(layer.data(scope, ctx.layer_ctx, lang))
    if layer.live_events:
        base["digest"] = _digest(fc)
        if _keyed(hideout, load_key) and hideout.get("digest") == base["digest"]:
            return no_update, no_update, no_update
    return fc, None, base


def register(app, ctx) -> None:
    lctx = lambda: ctx.layer_ctx  # noqa: E731 — fresh per call (stale_after_s may change in tests)
    layer_id = pattern_id(MATCH)
    live_id = pattern_id(MATCH, LIVE_TYPE)

    # ------------------------------------------------------------------ layer control state (clientside)
    app.clientside_callback(
        ClientsideFunction(namespace="ccCity", function_name="layerState"),
        Output("layer-control", "className"), Output("heat-controls", "className"), Output("drill-applied", "data"),
        Input("layer-toggles", "value"), Input("scope", "data"),
    )

    # ------------------------------------------------------------------ every registered layer: one callback
    @app.callback(
        Output(layer_id, "data"), Output(layer_id, "url"), Output(layer_id, "hideout"),
        Input("scope", "data"), Input("layer-toggles", "value"), Input("lang", "data"), Input("socket", "socketId"),
        Input(live_id, "data"),
        State(layer_id, "hideout"),
    )
    def load(scope_raw, toggles, lang, sid, _token, hideout):
        key = dash_ctx.outputs_list[0]["id"]["key"]
        live = any(LIVE_TYPE in str(t_.get("prop_id", "")) for t_ in dash_ctx.triggered or [])
        try:
            return load_layer(ctx, key, scope_raw, toggles, lang, sid, hideout, live)
        except SQLAlchemyError as exc:
            log.warning("layer %s: %s", key, exc)
            return no_update, no_update, no_update

    # ------------------------------------------------------------------ live events → refresh tokens (clientside)
    for layer in registry.live():
        app.clientside_callback(
            ClientsideFunction(namespace="ccCity", function_name="layerLive"),
            Output(pattern_id(layer.key, LIVE_TYPE), "data"),
            *[Input("socket", f"data-{event}") for event in layer.live_events],
            State("layer-toggles", "value"), State("scope", "data"),
            prevent_initial_call=True,
        )

    app.clientside_callback(
        ClientsideFunction(namespace="ccCity", function_name="applyPipes"),
        Output(pattern_id("pipelines"), "hideout", allow_duplicate=True),
        Input("socket", "data-pipe_states"),
        State(pattern_id("pipelines"), "hideout"), State("scope", "data"),
        prevent_initial_call=True,
    )

    # ------------------------------------------------------------------ enterprise heat surface for the viewport
    @app.callback(
        Output("enterprise-heat", "url"), Output("enterprise-heat", "bounds"), Output("enterprise-heat", "opacity"),
        Output("heat-total", "children"),
        Input("map", "bounds"), Input("map", "zoom"), Input("layer-toggles", "value"), Input("heat-metric", "value"),
        Input("heat-address", "value"), Input("scope", "data"), Input("lang", "data"),
        State("enterprise-heat", "opacity"),
    )
    def heat_surface(bounds, zoom, toggles, metric, address, scope_raw, lang, opacity):
        scope = _scope(ctx, scope_raw)
        if scope is None or "heat" not in (toggles or []) or scope.level == "station":
            if not opacity:
                return no_update, no_update, no_update, ""
            return BLANK_PNG, regions_layer.CHINA_BOUNDS, 0.0, ""
        try:
            if bounds and zoom is not None:
                bbox = padded_bbox(bounds)
                z = round(float(zoom) / HEAT_ZOOM_STEP) * HEAT_ZOOM_STEP
            else:
                bbox, z = None, None
            surf = enterprise_heat.surface(lctx(), scope, metric or "count", address or "registered", bbox, z)
        except (ValueError, KeyError, SQLAlchemyError) as exc:
            log.warning("heat surface %s: %s", scope.room, exc)
            return no_update, no_update, no_update, ""
        unit = t(f"heat.unit.{metric or 'count'}", lang)
        total = html.Span([t("layers.heat_total", lang), " ",
                           html.B(f"{surf['total']:,.0f}", id="heat-total-n", **{"data-total": surf["total"]}),
                           f" {unit}"])
        return surf["url"], display.bounds_to_display(surf["bounds"]), 0.85, total

    # ------------------------------------------------------------------ legends of the layers that are on
    @app.callback(
        Output("legend-extra", "children"),
        Input("layer-toggles", "value"), Input("scope", "data"), Input("heat-metric", "value"),
        Input("heat-address", "value"), Input("lang", "data"),
    )
    def legends(toggles, scope_raw, metric, address, lang):
        scope = _scope(ctx, scope_raw)
        return legend_sections(scope, toggles or [], {"metric": metric or "count", "address": address or "registered",
                                                      "level": scope.level if scope else None}, lang)

    # ------------------------------------------------------------------ feature panel
    app.clientside_callback(
        ClientsideFunction(namespace="ccCity", function_name="chooseFeature"),
        Output("feature-open", "data"), Output("station-open", "data", allow_duplicate=True),
        Input(pattern_id(ALL), "clickData"), Input("feature-close", "n_clicks"), Input("scope", "data"),
        Input("station-open", "data"),
        State("feature-open", "data"), State("layer-kinds", "data"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output("feature-panel", "className"), Output("feature-kind", "children"), Output("feature-title", "children"),
        Output("feature-sub", "children"), Output("feature-body", "children"),
        Input("feature-open", "data"), Input("lang", "data"),
    )
    def open_feature(feature, lang):
        closed = ("cc-fp cc-hidden", "", "", "", [])
        if not isinstance(feature, dict) or not feature.get("id"):
            return closed
        kind, fid = str(feature.get("kind") or ""), str(feature["id"])
        layer = registry.by_click_kind(kind)
        if layer is None:
            return closed
        try:
            return layer.panel(lctx(), kind, fid, lang) or closed
        except SQLAlchemyError as exc:
            log.warning("feature panel %s %s: %s", kind, fid, exc)
        return closed


def legend_sections(scope, toggles: list, opts: dict, lang: str) -> list:
    """The legend: the choropleth (and station size) section, then one section per registered layer that is on and
    shown at ``scope`` (``cc-legend-<key>``, titled by its ``title_key``)."""
    rows = [html.Div(className="cc-legend-row", children=[
        html.Span(className="cc-sym cc-sym-choro"), html.Span([t("heat.low", lang), " → ", t("heat.high", lang)])])]
    if "stations" in toggles:
        rows.append(html.Div(className="cc-legend-row", children=[
            html.Span(className="cc-sym cc-sym-size"), html.Span(t("drill.size_capacity", lang))]))
    out = [html.Div(className="cc-legend-sec", children=[
        html.Div(t("drill.choropleth", lang), className="cc-legend-sub"), *rows])]
    for layer in registry.controlled():
        if layer.title_key and layer.key in toggles and layer.shows_legend(scope):
            out.append(html.Div(className=f"cc-legend-sec cc-legend-{layer.key}", children=[
                html.Div(t(layer.title_key, lang), className="cc-legend-sub"),
                *legend_rows(layer.legend(lang, opts))]))
    return out

