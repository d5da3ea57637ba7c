"""Page parts of the drill-down map and the city layers (issue 3), inserted into :mod:`dashboard.pages.layout`:

* :func:`initial_scope` — the scope a page opens with: ``?scope=…`` of the page's URL (bookmark / shared link), so a
  bookmarked province or city view loads only its own data from the first paint;
* :func:`crumb_tools` — the "back" button left of the breadcrumb;
* :func:`search_box` — place search (regions, stations, shops, enterprises), over the map;
* :func:`map_layers` — the base map tiles (``CC_TILE_URL``), and panes holding the enterprise heat overlay and the
  components of the registered layers (:mod:`layers.registry`: parks and buildings, pipelines, cameras, shops, staff
  on duty …; ids ``{"type": "cc-layer", "key": <key>}``, data filled by :mod:`callbacks.city_layers`);
* :func:`map_overlays` — the search box, the layer control (one row per registered layer with a control; with the heat metric / address selectors and the import
  button, for roles that may import) and the scope's figures strip;
* :func:`legend_extra` — legends of the layers that are on;
* :func:`feature_panel` — drawer with a camera's live view, a shop's card (QR code, inspections), a park's or
  building's figures, a pipe's live pressure;
* :func:`import_dialog` — upload a file for a layer, declare its CRS, see the row-by-row report;
* :func:`stores` — client state of the above.

Layer z-order (Leaflet panes): region fills 400 < heat 405 < parks/buildings 410 < pipelines 420 < cameras and
shops 430 < station markers 600.
"""
from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlparse

import dash_leaflet as dl
from dash import dcc, html

from i18n import t
from layers import display
from layers import enterprise_heat
from layers import regions as regions_layer
from layers import registry
from layers.base import LIVE_TYPE, NATION, Scope, ScopeError, pattern_id
from layers.enterprise_heat import BLANK_PNG
from layers.importing import CRS_CHOICES, import_layers, may_import

log = logging.getLogger(__name__)

HEAT_METRICS = tuple(enterprise_heat.METRICS)
HEAT_ADDRESSES = enterprise_heat.ADDRESSES
PANES = (("cc-heat", 405), ("cc-places", 410), ("cc-lines", 420), ("cc-points", 430))


def initial_scope(ctx) -> Scope:
    """The scope named by ``?scope=`` of the page URL, else the nation.

    The Dash layout is fetched by the page's script (``/_dash-layout``), so the page URL is the request's
    ``Referer``; a direct request may also carry ``?scope=``. A malformed or unknown scope falls back to the nation.
    """
    try:
        from flask import has_request_context, request  # noqa: PLC0415

        if not has_request_context():
            return NATION
        raw = request.args.get("scope")
        if not raw and request.referrer:
            raw = (parse_qs(urlparse(request.referrer).query).get("scope") or [None])[0]
        if not raw:
            return NATION
        scope = ctx.parse_scope(raw)
        return scope if scope.is_region else NATION
    except (ScopeError, ValueError):
        return NATION
    except Exception as exc:  # noqa: BLE001 — never fail the page for a bad link
        log.warning("initial scope: %s", exc)
        return NATION


def default_on() -> list[str]:
    """Keys of the layers switched on when the page opens (``Layer.default_on``)."""
    return [layer.key for layer in registry.controlled() if layer.default_on]


def socket_events(base: list[str]) -> list[str]:
    """The page's Socket.IO event names: ``base`` then the registered layers' ``live_events`` not in it."""
    return [*base, *(event for event in registry.live_events() if event not in base)]


def stores(scope: Scope) -> list:
    """Client state: the initial view, the layers on, heat options, figures, the open feature, search hits, what a
    click on each registered layer's features opens (``layer-kinds``: ``{key: click kind}``) and one live-refresh
    token per drawn layer (``{"type": "cc-layer-live", "key": …}``, set when an event in its ``live_events``
    arrives; :mod:`callbacks.city_layers`)."""
    tokens = [dcc.Store(id=pattern_id(layer.key, LIVE_TYPE)) for layer in registry.drawn()]
    return [
        dcc.Store(id="initial-view", data=regions_layer.region_bounds(scope)),
        dcc.Store(id="layers-on", data=default_on()),
        dcc.Store(id="layer-kinds", data={layer.key: layer.click_kind for layer in registry.drawn() if layer.click_kind}),
        *tokens,
        dcc.Store(id="heat-opts", data={"metric": "count", "address": "registered"}),
        dcc.Store(id="region-figures"),
        dcc.Store(id="feature-open"),
        dcc.Store(id="search-hits"),
        dcc.Store(id="drill-applied"),
        dcc.Store(id="fly-done"),
    ]


def crumb_tools(T) -> list:
    return [html.Button("‹", id="crumb-back", className="cc-crumb cc-crumb-back cc-crumb-disabled", n_clicks=0,
                        title=t("drill.back", T.lang))]


def search_box(T) -> html.Div:
    return html.Div(className="cc-search", id="search-box", children=[
        html.Span("⌕", className="cc-search-icon"),
        dcc.Input(id="search-input", type="text", debounce=0.3, autoComplete="off", maxLength=64,
                  placeholder=t("search.placeholder", T.lang), className="cc-search-input"),
        html.Div(id="search-results", className="cc-search-results cc-search-empty"),
    ])


def map_layers(ctx, scope: Scope, lang: str) -> list:
    """Children for the ``dl.Map``: tiles (if configured) first, then the city-layer panes."""
    out = []
    bm = display.base_map()
    if bm.url:
        out.append(dl.TileLayer(id="base-tiles", url=bm.url, subdomains=bm.subdomains, attribution=bm.attribution,
                                maxZoom=18, className="cc-tiles"))
    panes = {name: dl.Pane(name=name, style={"zIndex": z}, children=[]) for name, z in PANES}
    panes["cc-heat"].children = [dl.ImageOverlay(id="enterprise-heat", url=BLANK_PNG,
                                                 bounds=regions_layer.CHINA_BOUNDS, opacity=0.0, interactive=False)]
    for layer in registry.drawn():
        panes[layer.pane].children.append(layer.placeholder(lang))
    out.extend(panes[name] for name, _ in PANES)
    return out


def _layer_row(T, layer) -> html.Div:
    """A layer-control row: symbol (CSS ``cc-lc-sym-<key>`` or the layer's ``swatch``), name (``layers.<key>``), the
    "city only" tag."""
    key = layer.key
    return html.Div(className="cc-lc-row", id=f"lc-row-{key}", children=[
        html.Span(className=f"cc-lc-sym cc-lc-sym-{key}", style=dict(layer.swatch) if layer.swatch else None),
        T(f"layers.{key}", className="cc-lc-label"),
        T("layers.city_only", className="cc-lc-tag") if layer.city_only else None,
    ])


def map_overlays(T, scope: Scope) -> list:
    lang = T.lang
    control = html.Div(className="cc-lc", id="layer-control", children=[
        html.Div(className="cc-lc-head", children=[T("layers.title", tag=html.Span)]),
        dcc.Checklist(id="layer-toggles", value=default_on(), className="cc-lc-list",
                      inputClassName="cc-lc-check", labelClassName="cc-lc-item",
                      options=[{"label": _layer_row(T, layer), "value": layer.key} for layer in registry.controlled()]),
        html.Div(id="heat-controls", className="cc-lc-heat cc-lc-heat-off", children=[
            _seg("heat-metric", "count", [(T(f"heat.metric.{m}"), m) for m in HEAT_METRICS]),
            _seg("heat-address", "registered", [(T(f"drill.address.{a}"), a) for a in HEAT_ADDRESSES]),
            html.Div(id="heat-total", className="cc-lc-total"),
        ]),
        # only for roles that may import (``data.import``: leaders read, they do not see it)
        html.Button(id="import-open", className="cc-tool-btn", n_clicks=0, title=t("import.title", lang),
                    children=[html.Span("⇪", className="cc-tool-icon"), T("import.button")]) if may_import() else None,
    ])
    figures = html.Div(id="scope-figures", className="cc-figs", children=[
        _fig(T, "stations", "drill.fig.stations", big=True),
        *[_fig(T, k, f"lifecycle.{k}") for k in ("built", "under_construction", "idle", "maintenance")],
        _fig(T, "staff", "drill.fig.staff"), _fig(T, "experts", "drill.fig.experts"),
        _fig(T, "partners", "drill.fig.partners"),
    ])
    return [search_box(T), control, figures]


def _seg(cid: str, value: str, options: list) -> dcc.RadioItems:
    """A segmented control (radio buttons drawn as one bar)."""
    return dcc.RadioItems(id=cid, value=value, className="cc-lseg", inputClassName="cc-lseg-input",
                          labelClassName="cc-lseg-item", options=[{"label": lab, "value": v} for lab, v in options])


def _fig(T, key: str, label_key: str, big: bool = False) -> html.Div:
    return html.Div(className=f"cc-fig cc-fig-{key}" + (" cc-fig-big" if big else ""), children=[
        html.Span("—", id=f"fig-{key}", className="cc-fig-n"), T(label_key, className="cc-fig-label")])


def legend_extra() -> html.Div:
    return html.Div(id="legend-extra", className="cc-legend-extra")


def feature_panel(T) -> html.Div:
    return html.Div(id="feature-panel", className="cc-fp cc-hidden", children=[
        html.Div(className="cc-fp-head", children=[
            html.Div(className="cc-fp-titles", children=[
                html.Div(id="feature-kind", className="cc-fp-kind"),
                html.H2(id="feature-title", className="cc-fp-title"),
                html.Div(id="feature-sub", className="cc-fp-sub"),
            ]),
            html.Button("✕", id="feature-close", className="cc-site-close", n_clicks=0,
                        title=t("panel.close", T.lang)),
        ]),
        html.Div(id="feature-body", className="cc-fp-body"),
    ])


def import_dialog(T) -> html.Div:
    lang = T.lang
    return html.Div(id="import-dialog", className="cc-imp cc-imp-hidden", children=[
        html.Div(className="cc-imp-box", children=[
            html.Div(className="cc-imp-head", children=[
                T("import.title", tag=html.H2),
                html.Button("✕", id="import-close", className="cc-site-close", n_clicks=0,
                            title=t("panel.close", lang))]),
            html.Div(className="cc-imp-form", children=[
                html.Div(className="cc-imp-field", children=[
                    T("import.layer", tag=html.Div, className="cc-imp-label"),
                    _seg("import-layer", "shops", [(T(f"import.layer.{k}"), k) for k in import_layers()])]),
                html.Div(className="cc-imp-field", children=[
                    T("import.crs", tag=html.Div, className="cc-imp-label"),
                    _seg("import-crs", "WGS84", [(T(f"import.crs.{c}"), c) for c in CRS_CHOICES])]),
                html.Div(className="cc-imp-field", children=[
                    T("import.region", tag=html.Div, className="cc-imp-label"),
                    dcc.Input(id="import-region", type="text", maxLength=6, className="cc-imp-input",
                              placeholder=t("import.region_hint", lang))]),
            ]),
            dcc.Upload(id="import-upload", className="cc-imp-drop", max_size=50 * 1024 * 1024, multiple=False,
                       accept=".csv,.xlsx,.geojson,.json,.gpkg,.zip", children=html.Div([
                           T("import.drop"), html.Div(id="import-file-name", className="cc-imp-file")])),
            html.Div(className="cc-imp-actions", children=[
                T("import.all_or_nothing", className="cc-imp-note"),
                html.Button(T("import.submit"), id="import-submit", className="cc-imp-submit", n_clicks=0)]),
            dcc.Loading(html.Div(id="import-result", className="cc-imp-result"), type="dot", color="#2bd3ff"),
        ]),
    ])
