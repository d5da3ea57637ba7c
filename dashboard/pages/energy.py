"""Energy analytics tab of the site panel (issue 5): tab bar "设备 / 能耗分析", the devices pane (the panel's device
list, unchanged) and the energy pane — range and granularity pickers, KPI tiles, the air-to-power ratio chart
(``#energy-graph``: this period, the previous period and the same period a year before) and the compressors'
efficiency table. Filled by :mod:`callbacks.energy`; styled by ``assets/cc_energy.css``.
"""
from __future__ import annotations

from dash import dcc, html

from ops.energy_periods import DEFAULT_GRANULARITY, DEFAULT_RANGE, granularity_options, range_options

#: KPI tiles: (element id suffix, label key, unit)
KPI_TILES = (("ratio", "energy.ratio", "m³/kWh"), ("sp", "energy.sp", "kW/(m³/min)"),
             ("load", "energy.load", "%"), ("unloaded", "energy.unloaded", "kWh"))


def _tile(T, suffix: str, key: str, unit: str) -> html.Div:
    return html.Div(className=f"cc-en-kpi cc-en-kpi-{suffix}", children=[
        T(key, tag=html.Div, className="cc-en-kpi-label"),
        html.Div(className="cc-en-kpi-row", children=[html.Span("—", id=f"energy-kpi-{suffix}",
                                                                className="cc-en-kpi-value"),
                                                      html.Span(unit, className="cc-en-kpi-unit")]),
        html.Div("", id=f"energy-kpi-{suffix}-sub", className="cc-en-kpi-sub"),
    ])


def energy_pane(T) -> html.Div:
    """The energy pane (hidden until its tab is chosen)."""
    return html.Div(id="site-pane-energy", className="cc-site-pane cc-en-pane cc-off", children=[
        html.Div(className="cc-en-controls", children=[
            dcc.RadioItems(id="energy-range", className="cc-en-seg", value=DEFAULT_RANGE, inline=True,
                           options=range_options(T.lang)),
            dcc.RadioItems(id="energy-gran", className="cc-en-seg", value=DEFAULT_GRANULARITY, inline=True,
                           options=granularity_options(T.lang)),
        ]),
        html.Div(className="cc-en-kpis", children=[_tile(T, *tile) for tile in KPI_TILES]),
        html.Div(className="cc-en-chart", children=[
            html.Div(className="cc-en-chart-head", children=[
                T("energy.title", tag=html.H3),
                html.Span("", id="energy-period", className="cc-en-period")]),
            # the charts are put in their slots by the energy callbacks (energy_graph): a dcc.Graph in the initial
            # layout would load and run plotly.js (4.8 MB) on every page load, ~1 s of the main thread
            dcc.Loading(type="dot", color="#2bd3ff", delay_show=300, children=html.Div(
                id="energy-graph-slot", className="cc-en-graph-slot", style={"height": "19rem"})),
            html.Div(id="energy-note", className="cc-en-note", children=""),
        ]),
        html.Div(className="cc-en-comp", children=[
            T("energy.compressors", tag=html.H3),
            html.Div(id="energy-comp", className="cc-en-table"),
        ]),
        html.Div(className="cc-en-chart cc-en-devbox", children=[
            dcc.Store(id="energy-dev", data=None),
            html.Div(className="cc-en-chart-head", children=[
                T("energy.device_title", tag=html.H3),
                html.Span("", id="energy-dev-name", className="cc-en-period")]),
            html.Div(id="energy-dev-graph-slot", className="cc-en-graph-slot", style={"height": "20rem"}),
        ]),
    ])


def site_tabs(T, device_children: list) -> list:
    """The tab bar and the two panes of the site panel; ``device_children`` is the panel's device section."""
    return [
        dcc.Store(id="energy-tab", data="devices"),
        html.Div(className="cc-site-tabs", role="tablist", children=[
            html.Button(T("energy.tab_devices"), id="site-tab-devices", className="cc-site-tab cc-on", n_clicks=0),
            html.Button(T("energy.tab_energy"), id="site-tab-energy", className="cc-site-tab", n_clicks=0),
        ]),
        html.Div(id="site-pane-devices", className="cc-site-pane", children=device_children),
        energy_pane(T),
    ]

