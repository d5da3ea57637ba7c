"""Place search in the header: regions, stations, shops and enterprises by name (Chinese, English / pinyin) or id
(:func:`datasources.sql.search.search`, within the current province or city when one is open… and the whole country at
the national view). Picking a hit (click, or Enter for the first) drills to the hit's scope and flies the map to it:
a province or city → its view; a station → its city, zoom 15, site panel open; a shop → its city, zoom 18, shop card
open; an enterprise → its city at its operating address, zoom 17.

``run_search`` (server) lists the hits (positions shifted to the display CRS); ``pickHit`` (clientside) changes the
scope and sets the viewport, or — when the scope changes — waits for the scope's own flight (``flyPending``, on
the map's ``viewport`` change) and then flies to the hit.
"""
from __future__ import annotations

import logging

from dash import ALL, ClientsideFunction, Input, Output, State, html, no_update
from sqlalchemy.exc import SQLAlchemyError

from datasources.sql.search import search
from i18n import t
from layers import display
from layers import regions as regions_layer
from layers.base import ScopeError

log = logging.getLogger(__name__)

LIMIT = 10


def _hit_row(i: int, h: dict, lang: str) -> html.Button:
    name = h["name_en"] if lang == "en" and h.get("name_en") else h["name"]
    where = regions_layer.region_name(h["city_adcode"], lang) if h.get("city_adcode") and h["kind"] != "region" else ""
    return html.Button(id={"type": "search-hit", "i": i}, n_clicks=0, className=f"cc-hit cc-hit-{h['kind']}",
                       **{"data-kind": h["kind"], "data-id": h["id"]}, children=[
                           html.Span(t(f"search.kind.{h['kind']}", lang), className="cc-hit-kind"),
                           html.Span(name, className="cc-hit-name"),
                           html.Span(where or h["id"], className="cc-hit-where")])


def register(app, ctx) -> None:
    @app.callback(
        Output("search-results", "children"), Output("search-results", "className"), Output("search-hits", "data"),
        Input("search-input", "value"),
        State("scope", "data"), State("lang", "data"),
        prevent_initial_call=True,
    )
    def run_search(q, scope_raw, lang):
        q = (q or "").strip()
        if not q:
            return [], "cc-search-results cc-search-empty", []
        scope_code = None
        try:
            scope = ctx.parse_scope(scope_raw or "nation")
            scope_code = scope.code if scope.level in ("province", "city") else None
        except ScopeError:
            pass
        try:
            hits = search(ctx.engine, q, limit=LIMIT, scope_adcode=scope_code)
            if not hits and scope_code:  # nothing here: look in the whole country
                hits = search(ctx.engine, q, limit=LIMIT)
        except (SQLAlchemyError, ValueError) as exc:
            log.warning("search %r: %s", q, exc)
            return no_update, no_update, no_update
        out = []
        for h in hits:
            d = h.to_dict()
            d["dlon"], d["dlat"] = display.point_to_display(h.lon, h.lat)
            out.append(d)
        if not out:
            return [html.Div(t("search.no_results", lang), className="cc-hit-none")], "cc-search-results", []
        return [_hit_row(i, d, lang) for i, d in enumerate(out)], "cc-search-results", out

    app.clientside_callback(
        ClientsideFunction(namespace="ccCity", function_name="pickHit"),
        Output("scope", "data", allow_duplicate=True), Output("map", "viewport", allow_duplicate=True),
        Output("search-results", "className", allow_duplicate=True),
        Output("station-open", "data", allow_duplicate=True), Output("feature-open", "data", allow_duplicate=True),
        Input({"type": "search-hit", "i": ALL}, "n_clicks"), Input("search-input", "n_submit"),
        State("search-hits", "data"), State("scope", "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(namespace="ccCity", function_name="flyPending"),
        Output("fly-done", "data"),
        Input("map", "viewport"),
        State("scope", "data"),
        prevent_initial_call=True,
    )
