"""Header: language, clock, connection indicator (all clientside)."""
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
        Input("socket", "connected"), Input("lang", "data"),
    )
