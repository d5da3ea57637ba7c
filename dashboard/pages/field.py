"""The field page (现场端, phone width ~390 px): a second Dash app on the same Flask server at ``/field/``.

A field engineer sees the orders assigned to them (派单), the unassigned ones to grab (抢单) and what they resolved;
accepts (接单), checks in on site with their position (打卡: browser geolocation; where the browser has none — the
demo, a desktop — the station's own position), records the result (处理结果). New orders arrive live over
Socket.IO: on connect the page's socket joins ``engineer:<roster id>`` and ``field`` (server callback
``join_rooms``, which checks the role); :mod:`dashboard.live.ops_bridge` pushes ``workorder`` / ``field_pool`` there.
While an order is accepted the page reports the engineer's position every 30 s (the officer's map draws it).

Every action goes through :class:`dashboard.web.operations.OpsService` (authorised: field engineers only, and only on
their own orders; audited). Other roles get a notice instead of the lists. Assets: ``assets/cc_field.css`` and
``assets/cc_field.js`` and the browser core ``assets/cc.js`` only (``assets_ignore``); their rules are scoped under
``.cc-fieldapp``.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dash
from dash import ALL, ClientsideFunction, Input, Output, State, dcc, html, no_update
from dash_socketio import DashSocketIO

from dashboard.auth.core import Forbidden, authorize
from dashboard.pages.alarms import me as current_me
from dashboard.live.ops_bridge import FIELD_ROOM, engineer_room
from i18n import t
from ops.vocab import format_countdown, index_with_vocab, running_clock

log = logging.getLogger(__name__)

ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets"
CST = timezone(timedelta(hours=8))
ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}
NEXT_ACTION = {"created": "grab", "assigned": "accept", "accepted": "check_in", "on_site": "resolve"}


def _msg(message: str, lang: str) -> str:
    if " / " not in (message or ""):
        return message or ""
    zh, en = message.split(" / ", 1)
    return en if lang == "en" else zh


def _dt(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000, CST).strftime("%m-%d %H:%M") if ms else "—"


_dur = format_countdown  # SLA countdown text (ops.vocab; the browser ticks it with cc.vocab.sla.countdown)


def order_card(o: dict, lang: str, pool: bool = False) -> html.Div:
    st = o["station"]
    name = (st.get("name_en") or st.get("name")) if lang == "en" else st.get("name")
    c = running_clock(o)
    sla = []
    if c is not None:
        sla = [html.Span(className="cc-sla" + (" cc-sla-over" if c["remaining_ms"] < 0 else ""),
                         **{"data-deadline": c["deadline_ms"]}, children=[
                             html.Span(t(f"sla.{c['name']}", lang), className="cc-sla-k"),
                             html.Span(_dur(c["remaining_ms"]), className="cc-sla-v")])]
    action = NEXT_ACTION.get(o["state"]) if (pool or o["state"] != "created") else None
    children = [
        html.Div(className="cc-fc-top", children=[
            html.Span(ROMAN.get(o["severity"], "?"), className=f"cc-fc-sev cc-sevbg{o['severity']}"),
            html.Span(f"#{o['id']}", className="cc-fc-id"),
            html.Span(t(f"wo.state.{o['state']}", lang), className=f"cc-fc-state cc-fc-st-{o['state']}"),
            html.Span(className="cc-flex"), *sla,
        ]),
        html.Div(_msg(o["title"], lang), className="cc-fc-title"),
        html.Div(className="cc-fc-station", children=[
            html.Span(className="cc-fc-pin"), html.Span(name or o["station_id"], className="cc-fc-stname"),
            html.Span(o["station_id"], className="cc-fc-stid")]),
        html.Div(className="cc-fc-meta", children=[
            html.Span(f"{t('ops.created_by', lang)} {o['created_by']} · {_dt(o['created_ts_ms'])}"),
            html.Span(t(f"skill.{o['skill']}", lang) if o.get("skill") else "", className="cc-fc-skill")]),
    ]
    if o["result"]:
        children.append(html.Div([html.B(t("ops.result", lang) + "："), o["result"]], className="cc-fc-result"))
    if action == "resolve":
        # persistence: a live re-render of the list (a push) keeps what the engineer is typing
        children.append(dcc.Textarea(id={"type": "f-result", "id": o["id"]}, className="cc-fc-text", value="",
                                     placeholder=t("field.result_ph", lang), maxLength=1000, persistence=True,
                                     persistence_type="memory"))
    if action:
        children.append(html.Button(t(f"field.{action}", lang), id={"type": "f-act", "id": o["id"], "act": action},
                                    n_clicks=0, className=f"cc-fc-btn cc-fc-btn-{action}"))
    return html.Div(className=f"cc-fc cc-fc-sev{o['severity']} cc-fc-{o['state']}" +
                    (" cc-fc-overdue" if o["overdue"] else ""), children=children,
                    **{"data-order": str(o["id"]), "data-lon": str(st.get("lon") or ""),
                       "data-lat": str(st.get("lat") or "")})


def field_layout():
    """The page for the logged-in user (built per page load)."""
    me = current_me() or {}
    lang_default = "zh"
    base = [dcc.Location(id="furl", refresh=False), dcc.Store(id="flang", data=lang_default)]
    if me.get("role") != "field_engineer":
        return html.Div(className="cc-fieldapp cc-f-denied", children=[
            *base,
            html.Div(className="cc-f-card", children=[
                html.Div("CA", className="cc-f-logo"),
                html.P(t("field.only_engineers", lang_default), id="f-denied"),
                html.A(t("field.back", lang_default), href="/", className="cc-fc-btn")]),
        ])
    return html.Div(className="cc-fieldapp", children=[
        *base,
        DashSocketIO(id="fsocket", eventNames=["workorder", "field_pool"]),
        dcc.Store(id="f-me", data=me), dcc.Store(id="f-req"), dcc.Store(id="f-refresh", data=0),
        dcc.Store(id="f-tab", data="mine"), dcc.Store(id="f-joined"), dcc.Store(id="f-pos"), dcc.Store(id="f-pos-ack"),
        dcc.Interval(id="f-pos-tick", interval=30_000),
        html.Header(className="cc-f-head", children=[
            html.Div("CA", className="cc-f-logo"),
            html.Div(className="cc-f-titles", children=[
                html.H1(t("field.title", lang_default), id="f-title"),
                html.Div(t("field.subtitle", lang_default), id="f-subtitle", className="cc-f-sub")]),
            html.Span(className="cc-flex"),
            html.Div(className="cc-f-user", children=[
                html.Div(me.get("display_name") or me.get("username"), className="cc-f-name"),
                html.Div(className="cc-f-status", children=[html.Span(id="f-conn", className="cc-f-dot"),
                                                            html.Span(me.get("engineer_id") or "", id="f-eid")])]),
            html.Button(t("ops.logout", lang_default), id="f-logout", className="cc-field-logout", n_clicks=0),
        ]),
        html.Div(id="f-banner", className="cc-f-banner"),
        html.Nav(className="cc-f-tabs", children=[
            html.Button(id=f"f-tab-{k}", n_clicks=0, className="cc-f-tab", children=[
                html.Span(t(f"field.tab_{k}", lang_default), id=f"f-tab-{k}-label"),
                html.Span("0", id=f"f-n-{k}", className="cc-f-badge")]) for k in ("mine", "pool", "done")]),
        html.Main(id="f-list", className="cc-f-list"),
        html.Div(id="f-msg", className="cc-f-msg"),
    ])


def init_field_app(server, ctx) -> dash.Dash:
    """Mount the field page on ``server`` at ``/field/`` (callbacks use ``ctx.ops``)."""
    app = dash.Dash(
        "field", server=server, url_base_pathname="/field/", assets_folder=str(ASSETS_DIR),
        assets_ignore=r"^(?!cc_field|cc\.js$)", title=t("field.title"), update_title=None, serve_locally=True,
        external_scripts=["/i18n/catalog.js"], suppress_callback_exceptions=True,
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1, maximum-scale=1"},
                   {"name": "theme-color", "content": "#040a13"}],
    )
    app.index_string = index_with_vocab(app.index_string)  # <script id="cc-vocab">: the vocabulary as data
    app.layout = field_layout
    ops = ctx.ops

    app.clientside_callback(
        ClientsideFunction(namespace="ccField", function_name="lang"),
        Output("flang", "data"), Input("furl", "search"),
    )

    @app.callback(Output("f-joined", "data"), Input("fsocket", "socketId"), State("f-me", "data"))
    def join_rooms(sid, me):
        if not sid:
            return no_update
        try:
            user = authorize("workorder.grab", target="socket:field")  # field engineers only (audited refusal)
        except Forbidden:
            return no_update
        server_ = ctx.socketio.server
        try:
            for room in (engineer_room(user.engineer_id), FIELD_ROOM):
                server_.enter_room(sid, room, namespace="/")
        except (KeyError, ValueError):  # a socket that is gone (page reconnecting): its next id joins
            return no_update
        return {"sid": sid, "engineer_id": user.engineer_id}

    app.clientside_callback(
        ClientsideFunction(namespace="ccField", function_name="tab"),
        Output("f-tab", "data"), *[Output(f"f-tab-{k}", "className") for k in ("mine", "pool", "done")],
        *[Input(f"f-tab-{k}", "n_clicks") for k in ("mine", "pool", "done")],
        State("f-tab", "data"),
    )

    @app.callback(
        Output("f-list", "children"), *[Output(f"f-n-{k}", "children") for k in ("mine", "pool", "done")],
        Output("f-title", "children"), Output("f-subtitle", "children"),
        *[Output(f"f-tab-{k}-label", "children") for k in ("mine", "pool", "done")],
        Input("f-tab", "data"), Input("f-refresh", "data"), Input("fsocket", "data-workorder"),
        Input("fsocket", "data-field_pool"), Input("flang", "data"), Input("f-joined", "data"),
    )
    def render(tab, _refresh, _evt, _pool, lang, _joined):
        lang = lang or "zh"
        words = (t("field.title", lang), t("field.subtitle", lang),
                 *[t(f"field.tab_{k}", lang) for k in ("mine", "pool", "done")])
        try:
            lists = ops.field_orders()
        except Exception as exc:  # noqa: BLE001
            return ([html.Div(str(exc), className="cc-f-empty")], "0", "0", "0", *words)
        tab = tab or "mine"
        items = lists[tab]
        cards = [order_card(o, lang, pool=tab == "pool") for o in items] or [
            html.Div(t(f"field.empty_{tab}", lang), className="cc-f-empty")]
        return (cards, str(len(lists["mine"])), str(len(lists["pool"])), str(len(lists["done"])), *words)

    app.clientside_callback(
        ClientsideFunction(namespace="ccField", function_name="act"),
        Output("f-req", "data"),
        Input({"type": "f-act", "id": ALL, "act": ALL}, "n_clicks"),
        State({"type": "f-result", "id": ALL}, "value"), State({"type": "f-result", "id": ALL}, "id"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output("f-msg", "children"), Output("f-refresh", "data"),
        Input("f-req", "data"),
        State("f-refresh", "data"), State("flang", "data"),
        prevent_initial_call=True,
    )
    def do_action(req, refresh, lang):
        lang = lang or "zh"
        if not req or not req.get("order_id"):
            return no_update, no_update
        act, oid = req.get("act"), int(req["order_id"])
        kw = {}
        if act == "check_in":
            kw = {"lon": req.get("lon"), "lat": req.get("lat")}
        elif act == "resolve":
            kw = {"result": req.get("result") or ""}
        try:
            ops.order_action(oid, act, **kw)
            if act == "accept" and req.get("lon") is not None:
                ops.report_position(req["lon"], req["lat"])
        except Exception as exc:  # noqa: BLE001 — refusals and conflicts are shown; they were audited
            return html.Div(f"#{oid}: {exc}", className="cc-f-toast cc-f-toast-err", key=str(req.get("ts"))), \
                (refresh or 0) + 1
        return (html.Div(f"#{oid} {t(f'field.done_{act}', lang)}", className="cc-f-toast cc-f-toast-ok",
                         key=str(req.get("ts"))), (refresh or 0) + 1)

    app.clientside_callback(
        ClientsideFunction(namespace="ccField", function_name="position"),
        Output("f-pos", "data"),
        Input("f-pos-tick", "n_intervals"),
        State("f-list", "children"),
        prevent_initial_call=True,
    )

    @app.callback(Output("f-pos-ack", "data"), Input("f-pos", "data"), prevent_initial_call=True)
    def position(pos):
        if not pos or pos.get("lon") is None:
            return no_update
        try:
            return ops.report_position(pos["lon"], pos["lat"])["ts_ms"]
        except Exception as exc:  # noqa: BLE001 — telemetry is best effort
            log.info("position report refused: %s", exc)
            return no_update

    app.clientside_callback(
        ClientsideFunction(namespace="ccField", function_name="banner"),
        Output("f-banner", "children"), Output("f-banner", "className"),
        Output("f-conn", "className"),
        Input("fsocket", "data-workorder"), Input("fsocket", "connected"), Input("flang", "data"),
        State("f-me", "data"),
        prevent_initial_call=True,
    )
    return app


__all__ = ["field_layout", "init_field_app", "order_card"]
