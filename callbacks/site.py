"""Site panel: opens on a station marker (or attention-list row) click, joins ``station:<id>``, lists every device
with its values; values update clientside from ``station_values`` events. Closing leaves the room.
"""
from __future__ import annotations

import logging

import redis
from dash import ClientsideFunction, Input, Output, State, html, no_update

from i18n import t, value_label
from layers import stations as stations_layer
from layers.base import ScopeError
from layers.devices import device_label_suffix, value_formats, value_names

log = logging.getLogger(__name__)


def _region_text(station: dict, lang: str) -> str:
    from layers.regions import region_name  # noqa: PLC0415

    return " · ".join(x for x in (station["id"], region_name(station["province_adcode"], lang),
                                  region_name(station["city_adcode"], lang)) if x)


def device_cards(detail: dict, lang: str) -> list:
    """One card per device: name, model, online badge, one row per value (value cells filled clientside)."""
    if not detail["devices"]:
        return [html.Div(t("panel.no_devices", lang), className="cc-empty")]
    formats = value_formats()
    cards = []
    sid = detail["station"]["id"]
    for dev in detail["devices"]:
        fmt = formats.get(dev["model"], {"values": {}})
        rows = []
        for name in value_names(dev["model"], list(dev["values"])):
            unit = fmt["values"].get(name, {}).get("unit", "")
            rows.append(html.Div(className="cc-dv-row", children=[
                html.Span(value_label(dev["kind"], name, lang), className="cc-dv-label"),
                html.Span("—", id={"type": "dv", "key": f"{dev['device_id']}|{name}"}, className="cc-dv-val",
                          **{"data-dv": f"{dev['device_id']}|{name}"}),
                html.Span(unit, className="cc-dv-unit"),
            ]))
        cards.append(html.Div(className=f"cc-dev cc-dev-{dev['kind']}", children=[
            html.Div(className="cc-dev-head", children=[
                html.Span(className=f"cc-dev-icon cc-icon-{dev['kind']}"),
                html.Span(f"{t('device.' + dev['kind'], lang)} {device_label_suffix(dev['device_id'], sid)}",
                          className="cc-dev-name"),
                html.Span(dev["device_id"], className="cc-dev-id"),
                html.Span("—", id={"type": "dev-st", "dev": dev["device_id"]}, className="cc-dev-st",
                          **{"data-dev": dev["device_id"]}),
            ]),
            html.Div(rows, className="cc-dv-grid"),
        ]))
    return cards


def register(app, ctx) -> None:
    app.clientside_callback(
        ClientsideFunction(namespace="cc", function_name="chooseStation"),
        Output("station-open", "data"),
        Input("stations", "clickData"), Input("attn-pick", "data"),
        Input("site-close", "n_clicks"),
        State("station-open", "data"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output("site-panel", "className"), Output("site-name", "children"), Output("site-sub", "children"),
        Output("site-kind", "children"), Output("site-lifecycle", "children"), Output("site-partner", "children"),
        Output("site-capacity", "children"), Output("site-devices", "children"),
        Output("station-snapshot", "data"), Output("station-joined", "data"),
        Input("station-open", "data"), Input("socket", "socketId"), Input("lang", "data"),
        State("station-joined", "data"),
    )
    def open_station(station_id, sid, lang, joined):
        joined_room = joined.get("room") if isinstance(joined, dict) and joined.get("sid") == sid else None
        if not station_id:
            if sid and joined_room:
                ctx.leave_scope(sid, joined_room)
            return ("cc-site cc-hidden", "", "", "—", "—", "—", "—", [], None, None)
        joined_out = no_update
        if sid:
            try:
                if ctx.enter_scope(sid, f"station:{station_id}", previous=joined_room) is not None:
                    joined_out = {"sid": sid, "room": f"station:{station_id}"}
            except ScopeError as exc:
                log.info("site panel: %s", exc)
                return ("cc-site cc-hidden", "", "", "—", "—", "—", "—", [], None, None)
        try:
            detail = stations_layer.station_detail(ctx.layer_ctx, station_id)
        except redis.RedisError as exc:
            log.warning("site panel %s: %s", station_id, exc)
            return (no_update,) * 8 + (no_update, joined_out)
        if detail is None:
            return ("cc-site", t("panel.not_found", lang), station_id, "—", "—", "—", "—", [], None, joined_out)
        st = detail["station"]
        name = st["name_en"] if lang == "en" and st.get("name_en") else st["name"]
        capacity = f"{st['capacity_m3_min']:g} m³/min"
        return ("cc-site", name, _region_text(st, lang), t(f"kind.{st['kind']}", lang),
                t(f"lifecycle.{st['lifecycle']}", lang), st["partner"] or "—", capacity, device_cards(detail, lang),
                detail, joined_out)

    app.clientside_callback(  # writes the values into the DOM (data-dv / data-dev), like cc.applyKpis
        ClientsideFunction(namespace="cc", function_name="stationValues"),
        Output("site-drawn", "data"),
        Input("station-snapshot", "data"), Input("socket", "data-station_values"),
        State("station-open", "data"), State("lang", "data"),
    )
