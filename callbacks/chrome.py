"""Header: language, clock, connection indicator (all clientside).

The indicator is *live* only while the socket is connected **and** the server's ``feed`` heartbeat
(:meth:`dashboard.live.bridge.LiveBridge.feed_status`) says data flows; *stale* (with the age of the newest reading) when the
bus is down, the newest reading is older than ``stale_after_s`` or heartbeats stop; *reconnecting* without a socket.
"""
from __future__ import annotations

from dash import ALL, ClientsideFunction, Input, Output, State


def register(app, ctx) -> None:
    app.clientside_callback(
        ClientsideFunction(namespace="cc", function_name="chooseLang"),
        Output("lang", "data"),
        Input("url", "search"), Input("lang-toggle", "n_clicks"),
        State("lang", "data"),
    )
    app.clientside_callback(
        ClientsideFunction(namespace="cc", function_name="applyLang"),
        Output({"type": "i18n", "key": ALL, "n": ALL}, "children"),
        Output("lang-toggle", "children"), Output("lang-toggle", "title"),
        Output("crumb-nation", "children"), Output("site-close", "title"),
        Input("lang", "data"),
        State({"type": "i18n", "key": ALL, "n": ALL}, "id"),
    )
    app.clientside_callback(
        ClientsideFunction(namespace="cc", function_name="clock"),
        Output("clock-time", "children"), Output("clock-date", "children"),
        Input("clock-tick", "n_intervals"), Input("lang", "data"),
    )
    app.clientside_callback(
        ClientsideFunction(namespace="cc", function_name="connection"),
        Output("conn", "className"), Output("conn-text", "children"), Output("conn", "title"),
        Input("socket", "connected"), Input("socket", "data-feed"), Input("clock-tick", "n_intervals"),
        Input("lang", "data"),
    )
