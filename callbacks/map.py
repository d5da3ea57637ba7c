"""Map drill-down: nation → province → city.

Clicking a region polygon or a breadcrumb sets the ``scope`` store (clientside); ``load_scope`` (server) then
swaps the stations' ``data`` for the scope's stations, the region boundaries and labels, moves the viewport, and
rewrites the breadcrumb. Live states keep flowing through ``hideout`` (the room changes in ``callbacks.live``).
"""
from __future__ import annotations

import logging

from dash import ALL, ClientsideFunction, Input, Output, State, callback_context, html, no_update

from i18n import t
from layers import regions as regions_layer
from layers import stations as stations_layer
from layers.base import ScopeError
from layers.display import to_display

log = logging.getLogger(__name__)


def _crumbs(scope, lang: str) -> list:
    out = []
    if scope.level in ("province", "city"):
        province = scope.code if scope.level == "province" else scope.code[:2] + "0000"
        out += [html.Span("›", className="cc-crumb-sep"),
                html.Button(regions_layer.region_name(province, lang), n_clicks=0,
                            id={"type": "crumb", "scope": f"province:{province}"},
                            className="cc-crumb" + (" cc-crumb-active" if scope.level == "province" else ""))]
    if scope.level == "city":
        out += [html.Span("›", className="cc-crumb-sep"),
                html.Button(regions_layer.region_name(scope.code, lang), n_clicks=0,
                            id={"type": "crumb", "scope": scope.room}, className="cc-crumb cc-crumb-active")]
    return out


def register(app, ctx) -> None:
    # cluster radius follows the marker size (rem), so the wall (bigger icons, higher zoom) does not overlap them
    app.clientside_callback(
        ClientsideFunction(namespace="cc", function_name="clusterOptions"),
        Output("stations", "superClusterOptions"),
        Input("url", "pathname"),
    )
    app.clientside_callback(
        ClientsideFunction(namespace="cc", function_name="chooseScope"),
        Output("scope", "data"),
        Input("regions", "clickData"), Input("crumb-nation", "n_clicks"),
        Input({"type": "crumb", "scope": ALL}, "n_clicks"),
        State("scope", "data"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output("stations", "data"), Output("regions", "url"), Output("region-labels", "url"),
        Output("map", "viewport"), Output("crumb-rest", "children"), Output("crumb-nation", "className"),
        Output("kpi-scope", "children"), Output("map-scope-name", "children"),
        Input("scope", "data"), Input("lang", "data"),
        State("regions", "url"),
    )
    def load_scope(scope_raw, lang, drawn_url):
        try:
            scope = ctx.parse_scope(scope_raw or "nation")
        except ScopeError:
            return (no_update,) * 8
        name = regions_layer.region_name(scope.code, lang) if scope.code else t("app.nation", lang)
        crumb_cls = "cc-crumb" + (" cc-crumb-active" if scope.level == "nation" else "")
        # the boundaries' and labels' hideout (lang, selection, choropleth figures): callbacks.drilldown
        words = (_crumbs(scope, lang), crumb_cls, name, name)
        # first paint / language: words only, keep the view — unless the map is not showing this scope yet (Dash
        # drops a scope change still on its way when the language switches: its answer never arrives)
        if callback_context.triggered_id in (None, "lang") and drawn_url == regions_layer.url(scope):
            return (no_update, no_update, no_update, no_update, *words)
        data = to_display(stations_layer.data(scope, ctx.layer_ctx, with_states=False))
        viewport = {"bounds": regions_layer.region_bounds(scope), "transition": "flyToBounds",
                    "options": {"duration": 0.8, "padding": [16, 16]}}
        return (data, regions_layer.url(scope), regions_layer.labels_url(scope), viewport, *words)
