"""Page layout of the command center (video wall 3840×2160, duty desktop 1920×1080, leaders' snapshot).

Everything is sized in ``rem`` and the root font size follows the viewport width (``assets/cc_theme.css``), so the
same layout is legible at 4 m on the wall and dense on a desktop.

Regions of the page::

    ┌ header: title · scope breadcrumb · clock · live/reconnecting · 中/EN ────────────────────────────┐
    │ KPI tiles        │                map of China (regions + clustered stations)   │ abnormal       │
    │ state mix        │                legend · data time / hint                     │ stations       │
    │ region ranking   │                                                 site panel (drawer over the   │
    │                  │                                                 right column when a station   │
    │                  │                                                 is open)      │ live events    │
    └──────────────────┴───────────────────────────────────────────────────────────────┴────────────────┘

Static strings are ``Span``\\ s with ids ``{"type": "i18n", "key": <catalog key>, "n": k}``; a clientside callback
rewrites them when the language changes. Live values have fixed ids that clientside callbacks fill from Socket.IO
events (see :mod:`callbacks.live`).
"""
from __future__ import annotations

import itertools
import logging
from typing import Any

import dash_leaflet as dl
import redis
from dash import dcc, html
from dash_socketio import DashSocketIO

from dashboard.pages import alarms as ops_layout
from dashboard.pages import city as layout_city
from dashboard.pages import energy as layout_energy
from i18n import DEFAULT_LANG, t
from ops.vocab import STATION_LEGEND_ORDER
from layers import regions as regions_layer
from layers import stations as stations_layer
from layers.base import NATION

log = logging.getLogger(__name__)

SOCKET_EVENTS = ["station_states", "kpis", "station_values", *ops_layout.OPS_SOCKET_EVENTS, "pipe_states", "feed"]
KPI_TILES = (
    # id, label key, unit, sub-line kind
    ("stations_online", "kpi.stations_online", "", "of_total"),
    ("compressors_loaded", "kpi.compressors_loaded", "", "of_total"),
    ("flow", "kpi.flow", "m³/min", None),
    ("power", "kpi.power", "kW", None),
    ("ratio", "kpi.ratio", "m³/kWh", "ratio_hint"),
    ("stations_alarm", "kpi.stations_alarm", "", "alarm"),
)
MIX_STATES = STATION_LEGEND_ORDER


class _Texts:
    """Factory of translatable spans with unique pattern ids."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._n = itertools.count()

    def __call__(self, key: str, tag=html.Span, **kwargs) -> Any:
        return tag(t(key, self.lang), id={"type": "i18n", "key": key, "n": next(self._n)}, **kwargs)


def _header(T: _Texts) -> html.Header:
    return html.Header(className="cc-header", children=[
        html.Div(className="cc-brand", children=[
            html.Div(className="cc-logo", children=[html.Span(className="cc-logo-ring"), html.Span("CA")]),
            html.Div(className="cc-titles", children=[
                T("app.title", tag=html.H1, className="cc-title"),
                T("app.subtitle", tag=html.Div, className="cc-subtitle"),
            ]),
        ]),
        html.Nav(id="scope-crumbs", className="cc-crumbs", children=[
            *layout_city.crumb_tools(T),
            html.Button(t("app.nation", T.lang), id="crumb-nation", className="cc-crumb cc-crumb-active", n_clicks=0),
            html.Span(id="crumb-rest", className="cc-crumb-rest"),
        ]),
        html.Div(className="cc-header-right", children=[
            html.Div(className="cc-clock", children=[
                html.Div(id="clock-time", className="cc-clock-time", children="--:--:--"),
                html.Div(id="clock-date", className="cc-clock-date", children=""),
            ]),
            html.Div(id="conn", className="cc-conn cc-conn-down", title=t("conn.title_reconnecting", T.lang),
                     children=[html.Span(className="cc-conn-dot"),
                               html.Span(t("conn.reconnecting", T.lang), id="conn-text", className="cc-conn-text")]),
            html.Button(t("app.lang_switch", T.lang), id="lang-toggle", className="cc-lang", n_clicks=0,
                        title=t("app.lang_switch_title", T.lang)),
            *ops_layout.header_tools(T),
        ]),
    ])


def _kpi_tile(T: _Texts, tile_id: str, label_key: str, unit: str, sub: str | None) -> html.Div:
    sub_children: list = []
    if sub == "of_total":
        sub_children = [html.Span("/ ", className="cc-kpi-slash"), html.Span("—", id=f"kpi-{tile_id}-total"),
                        " ", T("kpi.of_total", className="cc-kpi-sublabel")]
    elif sub == "ratio_hint":
        sub_children = [T("kpi.ratio_hint", className="cc-kpi-sublabel")]
    elif sub == "alarm":
        sub_children = [html.Span("—", id="kpi-stations_offline"), " ",
                        T("state.offline", className="cc-kpi-sublabel")]
    return html.Div(className=f"cc-kpi cc-kpi-{tile_id}", id=f"kpi-tile-{tile_id}", children=[
        T(label_key, tag=html.Div, className="cc-kpi-label"),
        html.Div(className="cc-kpi-value-row", children=[
            html.Span("—", id=f"kpi-{tile_id}", className="cc-kpi-value"),
            html.Span(unit, className="cc-kpi-unit") if unit else None,
        ]),
        html.Div(sub_children, className="cc-kpi-sub"),
    ])


def _left(T: _Texts) -> html.Aside:
    mix_rows = [html.Div(className=f"cc-mix-row cc-mix-{s}", children=[
        html.Span(className=f"cc-sym cc-sym-{s}"), T(f"state.{s}", className="cc-mix-label"),
        html.Span("—", id=f"mix-n-{s}", className="cc-mix-n"),
        html.Span("", id=f"mix-pct-{s}", className="cc-mix-pct")]) for s in MIX_STATES]
    return html.Aside(className="cc-side cc-left", children=[
        html.Section(className="cc-card cc-kpis", children=[
            html.Div(className="cc-card-head", children=[
                T("app.fleet", tag=html.H2),
                html.Span(id="kpi-scope", className="cc-card-tag", children=t("app.nation", T.lang))]),
            html.Div(className="cc-kpi-grid", children=[_kpi_tile(T, *tile) for tile in KPI_TILES]),
        ]),
        html.Section(className="cc-card cc-mix", children=[
            html.Div(className="cc-card-head", children=[T("app.state_mix", tag=html.H2)]),
            html.Div(className="cc-mix-bar", children=[
                html.Span(id=f"mix-seg-{s}", className=f"cc-mix-seg cc-bg-{s}", style={"width": "0%"})
                for s in MIX_STATES]),
            html.Div(mix_rows, className="cc-mix-rows"),
        ]),
        html.Section(className="cc-card cc-rank", children=[
            html.Div(className="cc-card-head", children=[T("app.ranking", tag=html.H2)]),
            html.Div(className="cc-rank-row cc-rank-head", children=[
                html.Span("#"), T("app.rank_region"), T("app.rank_online", className="cc-num"),
                T("app.rank_alarm", className="cc-num"), T("app.rank_flow", className="cc-num")]),
            html.Div(id="rank-list", className="cc-rank-list"),
        ]),
    ])


#: layers whose legends the map shows, in order (later issues append cameras, pipelines, shops, heat)
LEGEND_LAYERS = (stations_layer, regions_layer)


def _legend(T: _Texts) -> html.Div:
    rows = []
    for layer in LEGEND_LAYERS:
        for item in layer.legend(T.lang):
            label = T(item.key) if item.key else html.Span(item.label)
            rows.append(html.Div(className="cc-legend-row", children=[
                html.Span(item.text, className=item.symbol), label]))
    return html.Div(className="cc-legend", children=[T("legend.title", tag=html.Div, className="cc-legend-title"),
                                                     *rows, layout_city.legend_extra()])


def _site_panel(T: _Texts) -> html.Div:
    """The site drawer: static skeleton (filled by :mod:`callbacks.site`), device list rendered per station; the
    site record (站点档案: partner, idle revenue / milestones, alarm history, work orders) is a wing on the drawer's
    left (``site-record``, rendered by :func:`callbacks.site.record_children`)."""

    def meta(key: str, value_id: str) -> html.Div:
        return html.Div(className="cc-site-meta-item", children=[T(key, tag=html.Div, className="cc-meta-label"),
                                                                  html.Div("—", id=value_id, className="cc-meta-value")])

    def live(key: str, value_id: str, unit: str = "") -> html.Div:
        return html.Div(className="cc-site-live-item", children=[
            T(key, tag=html.Div, className="cc-live-label"),
            html.Div(className="cc-live-value-row", children=[html.Span("—", id=value_id, className="cc-live-value"),
                                                               html.Span(unit, className="cc-live-unit")])])

    return html.Div(id="site-panel", className="cc-site cc-hidden", children=[
        html.Div(className="cc-site-head", children=[
            html.Div(className="cc-site-titles", children=[
                html.H2(id="site-name", className="cc-site-name", children=""),
                html.Div(id="site-sub", className="cc-site-sub", children=""),
            ]),
            html.Button("✕", id="site-close", className="cc-site-close", n_clicks=0,
                        title=t("panel.close", T.lang)),
        ]),
        html.Div(className="cc-site-meta", children=[meta("panel.kind", "site-kind"),
                                                      meta("panel.lifecycle", "site-lifecycle"),
                                                      meta("panel.partner", "site-partner"),
                                                      meta("panel.capacity", "site-capacity")]),
        html.Div(className="cc-site-live", children=[
            html.Div(className="cc-site-live-item cc-site-state-item", children=[
                T("panel.state", tag=html.Div, className="cc-live-label"),
                html.Div(id="site-state", className="cc-state-badge", children="—")]),
            live("panel.flow", "site-flow", "m³/min"), live("panel.power", "site-power", "kW"),
            live("panel.ratio", "site-ratio", "m³/kWh"), live("panel.pressure", "site-pressure", "MPa"),
        ]),
        html.Div(id="site-alarms", className="cc-site-alarms"),
        ops_layout.site_ops(T),
        *layout_energy.site_tabs(T, [  # tabs: devices | energy analytics (issue 5)
        html.Div(className="cc-site-devhead", children=[T("panel.devices", tag=html.H3),
                                                        html.Span(className="cc-site-updated", children=[
                                                            T("panel.updated"), " ",
                                                            html.Span("—", id="site-updated")])]),
        html.Div(id="site-devices", className="cc-site-devices")]),
        html.Aside(id="site-record", className="cc-srec cc-srec-empty", children=[
            html.Div(className="cc-srec-head", children=[T("site.record", tag=html.H3)]),
            html.Div(id="site-record-body", className="cc-srec-body")]),
    ])


def _map(ctx, T: _Texts, lang: str, scope=NATION) -> html.Section:
    lctx = ctx.layer_ctx
    try:
        geojson = stations_layer.data(scope, lctx)
    except redis.RedisError as exc:  # first paint without live states; the snapshot fills them in
        log.warning("layout: no live states for first paint (%s)", exc)
        geojson = stations_layer.data(scope, lctx, with_states=False)
    bounds = regions_layer.region_bounds(scope)
    children = [*layout_city.map_layers(ctx, scope, lang), *regions_layer.component(lctx, scope, lang),
                stations_layer.component(lctx, scope, lang, geojson), ops_layout.map_overlay()]
    return html.Section(className="cc-map-wrap", children=[
        # trackViewport (the heat map follows the view) needs a center; the initial view fits the bounds
        dl.Map(id="map", children=children, bounds=bounds, center=[(bounds[0][0] + bounds[1][0]) / 2,
                                                                    (bounds[0][1] + bounds[1][1]) / 2],
               boundsOptions={"padding": [6, 6]}, trackViewport=True, zoomSnap=0.1, zoomDelta=0.5, minZoom=3,
               maxZoom=18, attributionControl=False, zoomControl=False, className="cc-map",
               style={"width": "100%", "height": "100%"}),
        html.Div(className="cc-map-title", children=[T("app.map_title", tag=html.Span),
                                                      html.Span(t("app.nation", lang), id="map-scope-name",
                                                                className="cc-map-scope")]),
        _legend(T),
        *layout_city.map_overlays(T, scope),
        html.Div(className="cc-map-status", children=[
            T("app.updated"), html.Span("—", id="kpi-updated", className="cc-map-status-time"),
            html.Span("·", className="cc-dot-sep"), T("app.map_hint")]),
    ])


def _right(T: _Texts) -> html.Aside:
    return html.Aside(className="cc-side cc-right", children=[
        html.Section(className="cc-card cc-attn", children=[
            html.Div(className="cc-card-head", children=[
                T("app.attention", tag=html.H2),
                html.Span("0", id="attn-count", className="cc-card-tag cc-tag-alarm")]),
            # drawn by cc.attention (assets/cc_officer.js); a click on a row sets "attn-pick"
            html.Div(id="attn-list", className="cc-attn-list"), dcc.Store(id="attn-pick"),
        ]),
        html.Section(className="cc-card cc-events", children=[
            html.Div(className="cc-card-head", children=[T("app.events", tag=html.H2)]),
            html.Div(id="event-log", className="cc-event-log"),  # drawn by cc.attention
        ]),
    ])


def build_layout(ctx, lang: str = DEFAULT_LANG, scope=NATION) -> html.Div:
    """The whole page for ``lang`` (the language can be switched later without reload) at ``scope`` (a bookmarked
    ``?scope=…`` link opens there; :func:`dashboard.pages.city.initial_scope`)."""
    T = _Texts(lang)
    return html.Div(id="cc-root", className="cc-app", **{"data-lang": lang}, children=[
        DashSocketIO(id="socket", eventNames=layout_city.socket_events(SOCKET_EVENTS)),
        dcc.Location(id="url", refresh=False),
        dcc.Store(id="lang", data=lang),
        dcc.Store(id="scope", data=scope.room),
        *layout_city.stores(scope),
        dcc.Store(id="scope-snapshot"),
        dcc.Store(id="kpi-drawn"), dcc.Store(id="site-drawn"),  # output of cc.applyKpis, which draws into the DOM and never sets it
        dcc.Store(id="joined-region"),
        dcc.Store(id="station-open"),
        dcc.Store(id="station-joined"),
        dcc.Store(id="station-snapshot"),
        dcc.Interval(id="clock-tick", interval=1000),
        _header(T),
        html.Main(className="cc-main", children=[
            _left(T), html.Div(className="cc-center", children=[_map(ctx, T, lang, scope), ops_layout.alarm_dock(T)]),
            _right(T), _site_panel(T), layout_city.feature_panel(T)]),
        layout_city.import_dialog(T),
        *ops_layout.overlays(T),
    ])


def serve_layout(ctx):
    """A layout function for ``dash.Dash.layout`` (built per page load, so the stations are current)."""

    def layout():
        from dashboard.pages import wall  # noqa: PLC0415 — the video wall /wall (issue 9): its own layout

        if wall.is_wall_request():
            return wall.page_layout(ctx)
        return build_layout(ctx, scope=layout_city.initial_scope(ctx))

    return layout

