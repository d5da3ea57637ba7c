"""Drill-down national → province → city: the URL, the back button and the choropleth figures.

* ``drillRoute`` (clientside): the page URL carries the scope (``/?scope=province:330000``, ``…city:330100``) — a
  scope change pushes a history entry, so the browser's back / forward buttons and a bookmarked or shared link
  give the same view; the "‹" button goes up one level (city → its province → nation). The region clicks and the
  breadcrumb buttons are :mod:`callbacks.map`'s; that module also swaps stations, boundaries and the viewport.
* ``region_figures`` (server): the choropleth of the scope's sub-regions — station counts by lifecycle, service
  staff, experts, partners (:func:`layers.region_stats.figures`) — into the ``region-figures`` store and the
  figures strip of the scope over the map.
* ``initialView`` (clientside): the page refits the scope it opened on while its panels settle (the map gets
  smaller after it is made), so a national view shows the whole country, a bookmarked city the whole city.
* ``applyFigures`` (clientside): the figures become the map's (``window.cc.city.regionStats``, read by
  ``cc.draw.choroplethStyle`` / ``regionStatLabel`` / ``regionTooltip``) and a new ``hideout`` of the
  boundaries and labels makes them redraw. (The boundaries load by URL; a ``hideout`` that arrives while they are
  still loading is not applied by dash-leaflet, so the figures are not carried in the ``hideout`` itself — the
  drawing functions read them when the features are drawn, whichever comes first.)
"""
from __future__ import annotations

import logging

from dash import ClientsideFunction, Input, Output, State, no_update
from sqlalchemy.exc import SQLAlchemyError

from layers import region_stats
from layers.base import ScopeError

log = logging.getLogger(__name__)

FIG_KEYS = ("stations", "built", "under_construction", "idle", "maintenance", "staff", "experts", "partners")


def _fmt(n: int) -> str:
    return f"{n:,}"


def register(app, ctx) -> None:
    app.clientside_callback(
        ClientsideFunction(namespace="ccCity", function_name="drillRoute"),
        Output("scope", "data", allow_duplicate=True), Output("url", "search", allow_duplicate=True),
        Output("crumb-back", "className"),
        Input("url", "search"), Input("scope", "data"), Input("crumb-back", "n_clicks"),
        prevent_initial_call="initial_duplicate",
    )

    app.clientside_callback(
        ClientsideFunction(namespace="ccCity", function_name="initialView"),
        Output("initial-view", "modified_timestamp"),
        Input("initial-view", "data"),
    )

    @app.callback(
        Output("region-figures", "data"), *[Output(f"fig-{k}", "children") for k in FIG_KEYS],
        Input("scope", "data"), Input("lang", "data"),
    )
    def region_figures(scope_raw, lang):
        try:
            scope = ctx.parse_scope(scope_raw or "nation")
        except ScopeError:
            return (no_update,) * (1 + len(FIG_KEYS))
        try:
            figs = region_stats.figures(ctx.engine, scope)
        except (SQLAlchemyError, KeyError, ImportError) as exc:
            log.warning("region figures of %s: %s", scope.room, exc)
            figs = {"scope": scope.room, "level": "city", "regions": {}, "total": {}, "max_stations": 0}
        total = figs["total"]
        return (figs, *[_fmt(int(total.get(k, 0))) if total else "—" for k in FIG_KEYS])

    app.clientside_callback(
        ClientsideFunction(namespace="ccCity", function_name="applyFigures"),
        Output("regions", "hideout"), Output("region-labels", "hideout"),
        Input("region-figures", "data"), Input("lang", "data"),
        State("scope", "data"),
    )
