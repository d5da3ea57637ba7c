"""One-click dispatch (派单), the work-order list with SLA clocks, the work-order dialog (timeline, 回访 / 评价, cancel)
and the map overlay of engineers with a line to their site.

* ``ccOps.dispatchReq`` (clientside): 派单 from an alarm row, the alarm dialog or the site panel opens the dialog.
* ``dispatch_dialog`` (server): the proposal — best engineer preselected, runners-up with their reasons (on duty,
  skill, distance, open orders), the off-duty ones listed as not available — and "leave it to the grab pool".
* ``dispatch_confirm`` (server): creates the order through ``ctx.ops.dispatch`` (authorised, audited; notifies the
  engineer over Socket.IO and the webhook).
* ``orders_list`` (server): the scope's orders, re-rendered on every ``workorder`` event (SLA countdowns tick
  clientside from ``data-deadline``); overdue rows are highlighted.
* ``order_dialog`` / ``order_action`` (server): timeline, check-in distance, result, return visit and rating.
* ``overlay`` (server): engineers' positions and dashed lines to the stations of their open orders.
"""
from __future__ import annotations

import logging

import dash_leaflet as dl
from dash import ALL, ClientsideFunction, Input, Output, State, callback_context, html, no_update

from callbacks.alarms import ROMAN, _kv, _msg, _timeline, dhm, error_text, msg_div
from i18n import t
from ops.vocab import (ORDER_COLOURS, ORDER_DEFAULT_COLOUR, ORDER_FLOW, ORDER_OVERDUE_COLOUR, format_countdown,
                       order_open, order_working, running_clock)

log = logging.getLogger(__name__)

STATE_STEPS = ORDER_FLOW
OVERLAY_COLORS = ORDER_COLOURS


def _name(obj: dict, lang: str, zh: str = "name", en: str = "name_en") -> str:
    return (obj.get(en) or obj.get(zh) or "") if lang == "en" else (obj.get(zh) or "")


def sla_cell(order: dict, lang: str) -> html.Span:
    """The first running SLA clock as a live countdown (``data-deadline``), or the outcome when all stopped."""
    c = running_clock(order)
    if c is not None:
        over = c["remaining_ms"] < 0
        return html.Span(className="cc-sla" + (" cc-sla-over" if over else ""), **{"data-deadline": c["deadline_ms"]},
                         children=[html.Span(t(f"sla.{c['name']}", lang), className="cc-sla-k"),
                                   html.Span(_dur(c["remaining_ms"]), className="cc-sla-v")])
    missed = [c for c in order["sla"] if c["breached"]]
    return html.Span(className="cc-sla cc-sla-done" + (" cc-sla-missed" if missed else ""), children=[
        html.Span(t("sla.missed" if missed else "sla.met", lang), className="cc-sla-k")])


_dur = format_countdown  # SLA countdown text (ops.vocab; the browser ticks it with cc.vocab.sla.countdown)


def order_rows(orders: list[dict], lang: str) -> list:
    if not orders:
        return [html.Div(t("ops.no_orders", lang), className="cc-empty")]
    rows = []
    for o in orders:
        st = o["station"]
        overdue = bool(o["overdue"])
        cls = f"cc-wo-row cc-wo-{o['state']}" + (" cc-wo-overdue" if overdue else "")
        rows.append(html.Div(id={"type": "wo-row", "id": o["id"]}, n_clicks=0, className=cls, children=[
            html.Span(f"#{o['id']}", className="cc-wo-c-id"),
            html.Span(ROMAN.get(o["severity"], "?"), className=f"cc-al-sev cc-sevbg{o['severity']}"),
            html.Span(className="cc-wo-c-title", children=[
                html.Span(_name(st, lang), className="cc-wo-station"),
                html.Span(_msg(o["title"], lang), className="cc-wo-title")]),
            html.Span(className="cc-wo-c-eng", children=o["assignee_name"] or t("wo.pool", lang)),
            html.Span(t(f"wo.state.{o['state']}", lang), className=f"cc-wo-state cc-wo-st-{o['state']}"),
            sla_cell(o, lang),
            html.Span(dhm(o["created_ts_ms"]), className="cc-wo-c-time"),
        ]))
    return rows


def _reason_chips(c: dict, skill: str | None, lang: str, engineer: dict | None) -> list:
    chips = [html.Span(t("ops.on_duty", lang), className="cc-chip cc-chip-ok")]
    if skill:
        chips.append(html.Span(f"{t('ops.skill_match' if c['skill_match'] else 'ops.skill_missing', lang)} · "
                               f"{t('skill.' + skill, lang)}",
                               className="cc-chip " + ("cc-chip-ok" if c["skill_match"] else "cc-chip-bad")))
    chips.append(html.Span(f"{t('ops.distance', lang)} {c['distance_km']:.1f} {t('ops.km', lang)}",
                           className="cc-chip"))
    chips.append(html.Span(f"{t('ops.open_orders', lang)} {c['open_orders']}",
                           className="cc-chip" + (" cc-chip-warn" if c["open_orders"] else "")))
    return chips


def candidate_label(c: dict, engineers: dict, skill: str | None, lang: str) -> html.Div:
    e = engineers.get(c["engineer_id"], {})
    skills = " · ".join(t(f"skill.{s}", lang) for s in e.get("skills", []))
    return html.Div(className=f"cc-cand cc-cand-rank{c['rank']}", children=[
        html.Div(className="cc-cand-top", children=[
            html.Span(t("ops.best" if c["rank"] == 1 else "ops.runner_up", lang),
                      className="cc-cand-rank" + (" cc-cand-best" if c["rank"] == 1 else "")),
            html.Span(_name(e, lang) or c["name"], className="cc-cand-name"),
            html.Span(c["engineer_id"], className="cc-cand-id"),
            html.Span(f"{e.get('city', '')} · {e.get('partner', '')}", className="cc-cand-org"),
        ]),
        html.Div(_reason_chips(c, skill, lang, e), className="cc-cand-chips"),
        html.Div(className="cc-cand-skills", children=[html.Span(skills), html.Span(e.get("phone", ""))]),
    ])


def proposal_view(p: dict, lang: str) -> tuple[list, list, str | None]:
    """Dialog body, radio options and the preselected value of a proposal."""
    prop, engineers, st, alarm = p["proposal"], p["engineers"], p["station"], p["alarm"]
    skill = prop.get("skill")
    head_children = [html.Div(className="cc-dp-target", children=[
        html.Span(ROMAN.get(alarm["severity"], "") if alarm else "—",
                  className=f"cc-al-sev cc-sevbg{alarm['severity'] if alarm else 3}"),
        html.Div(className="cc-dp-titles", children=[
            html.Div(_msg(alarm["message"], lang) if alarm else t("ops.station", lang), className="cc-ad-title"),
            html.Div(f"{_name(st, lang)} · {alarm['source'] if alarm else st['id']}", className="cc-ad-sub")]),
        html.Span(f"{t('ops.need_skill', lang)}: {t('skill.' + skill, lang) if skill else '—'}",
                  className="cc-chip"),
    ])]
    if p.get("open_order"):
        o = p["open_order"]
        head_children.append(msg_div(t("ops.already_dispatched", lang).format(
            id=o["id"], state=t(f"wo.state.{o['state']}", lang)), "warn"))
    options = [{"label": candidate_label(c, engineers, skill, lang), "value": c["engineer_id"]}
               for c in prop["ranked"]]
    options.append({"label": html.Div(className="cc-cand cc-cand-pool", children=[
        html.Div(className="cc-cand-top", children=[html.Span(t("ops.pool", lang), className="cc-cand-name")]),
        html.Div(t("ops.pool_hint", lang), className="cc-cand-skills")]), "value": "__pool__"})
    excluded = prop.get("excluded") or []
    if excluded:
        names = ", ".join(_name(engineers.get(eid, {}), lang) or eid for eid, _why in excluded)
        head_children.append(html.Div(className="cc-dp-excluded", children=[
            html.Span(f"{t('ops.excluded', lang)}（{t('ops.off_duty', lang)}）: " if lang != "en" else
                      f"{t('ops.excluded', lang)} ({t('ops.off_duty', lang)}): ", className="cc-dp-ex-k"),
            html.Span(names)]))
    best = prop["best"]["engineer_id"] if prop.get("best") else "__pool__"
    return head_children, options, best


def order_body(d: dict, lang: str) -> list:
    o, st = d["order"], d["station"]
    steps = []
    reached = STATE_STEPS.index(o["state"]) if o["state"] in STATE_STEPS else -1
    for i, s in enumerate(STATE_STEPS):
        cls = "cc-step" + (" cc-step-done" if i <= reached else "") + (" cc-step-now" if i == reached else "")
        steps.append(html.Div(className=cls, children=[html.Span(str(i + 1), className="cc-step-n"),
                                                       html.Span(t(f"wo.state.{s}", lang), className="cc-step-t")]))
    if o["state"] == "cancelled":
        steps.append(html.Div(className="cc-step cc-step-now cc-step-cancel", children=[
            html.Span("×", className="cc-step-n"), html.Span(t("wo.state.cancelled", lang), className="cc-step-t")]))
    clocks = []
    for c in o["sla"]:
        if c["met_ms"] is None and order_open(o["state"]):
            val = html.Span(_dur(c["remaining_ms"]), className="cc-sla-v", **{"data-deadline": c["deadline_ms"]})
            cls = "cc-sla" + (" cc-sla-over" if c["remaining_ms"] < 0 else "")
        else:
            val = html.Span(t("sla.missed" if c["breached"] else "sla.met", lang), className="cc-sla-v")
            cls = "cc-sla cc-sla-done" + (" cc-sla-missed" if c["breached"] else "")
        clocks.append(html.Span(className=cls, children=[html.Span(t(f"sla.{c['name']}", lang),
                                                                   className="cc-sla-k"), val]))
    checkin = "—"
    if o["on_site_distance_m"] is not None:
        m = int(round(o["on_site_distance_m"]))
        checkin = t("ops.checkin_near" if m <= 1000 else "ops.checkin_far", lang).format(m=m)
    facts = html.Div(className="cc-ad-facts", children=[
        _kv(t("ops.station", lang), _name(st, lang)),
        _kv(t("ops.assignee", lang), (o["assignee_name"] or t("wo.pool", lang)) +
            (f" · {t('wo.mode.' + o['dispatch_mode'], lang)}" if o["dispatch_mode"] else "")),
        _kv(t("ops.created_by", lang), f"{o['created_by']} · {dhm(o['created_ts_ms'])}"),
        _kv(t("ops.checkin", lang), checkin),
        _kv(t("ops.result", lang), o["result"] or "—", "cc-kv-wide"),
        _kv(t("ops.return_visit", lang), (f"{'★' * o['rating']} " if o["rating"] else "") + (o["return_visit"] or "—"),
            "cc-kv-wide"),
    ])
    head = html.Div(className=f"cc-ad-head cc-sevborder{o['severity']}", children=[
        html.Span(ROMAN.get(o["severity"], "?"), className=f"cc-al-sev cc-sevbg{o['severity']}"),
        html.Div(className="cc-ad-titles", children=[
            html.Div(f"#{o['id']} {_msg(o['title'], lang)}", className="cc-ad-title"),
            html.Div(f"{_name(st, lang)} · {o['station_id']}", className="cc-ad-sub")]),
        html.Span(t(f"wo.state.{o['state']}", lang), className=f"cc-wo-state cc-wo-st-{o['state']}"),
    ])
    return [head, html.Div(steps, className="cc-steps"), html.Div(clocks, className="cc-sla-row"), facts,
            html.H3(t("ops.timeline", lang), className="cc-sub-h"), _timeline(d["events"], lang, "wo.event.")]


def overlay_children(items: list[dict], lang: str) -> list:
    out = []
    for it in items:
        color = ORDER_OVERDUE_COLOUR if it["overdue"] else OVERLAY_COLORS.get(it["state"], ORDER_DEFAULT_COLOUR)
        name = (it["engineer_name_en"] or it["engineer_name"]) if lang == "en" else it["engineer_name"]
        eng = [it["lat"], it["lon"]]
        site = [it["station_lat"], it["station_lon"]]
        out.append(dl.Polyline(positions=[eng, site], color=color, weight=2.5, opacity=0.9, dashArray="6 6",
                               id={"type": "ops-line", "order": it["order_id"]}, interactive=False))
        out.append(dl.CircleMarker(center=eng, radius=7, color="#ffffff", weight=2, fillColor=color, fillOpacity=1,
                                   id={"type": "ops-eng", "order": it["order_id"]}, children=[
                                       dl.Tooltip(f"{name} · #{it['order_id']} · {t('wo.state.' + it['state'], lang)}",
                                                  className="cc-tip")]))
    return out


def register(app, ctx) -> None:
    ops = ctx.ops

    app.clientside_callback(
        ClientsideFunction(namespace="ccOps", function_name="dispatchReq"),
        Output("dispatch-req", "data"),
        Input("al-pick", "data"), Input("alarm-do-dispatch", "n_clicks"),
        Input("site-dispatch", "n_clicks"), Input("dispatch-cancel", "n_clicks"), Input("dispatch-dialog-x", "n_clicks"),
        State("alarm-open", "data"), State("station-open", "data"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output("dispatch-dialog", "className"), Output("dispatch-body", "children"),
        Output("dispatch-engineer", "options"), Output("dispatch-engineer", "value"),
        Output("dispatch-msg", "children"), Output("dispatch-confirm", "disabled"),
        Input("dispatch-req", "data"),
        State("lang", "data"),
    )
    def dispatch_dialog(req, lang):
        lang = lang or "zh"
        if not req:
            return "cc-modal cc-modal-hidden cc-modal-wide cc-modal-top", [], [], None, [], True
        try:
            p = ops.proposal(alarm_id=req.get("alarm_id"), station_id=req.get("station_id"))
        except Exception as exc:  # noqa: BLE001
            return "cc-modal cc-modal-wide cc-modal-top", [], [], None, msg_div(error_text(exc, lang), "error"), True
        body, options, best = proposal_view(p, lang)
        return "cc-modal cc-modal-wide cc-modal-top", body, options, best, [], False

    @app.callback(
        Output("dispatch-msg", "children", allow_duplicate=True),
        Output("dispatch-confirm", "disabled", allow_duplicate=True),
        Output("ops-refresh", "data"),
        Input("dispatch-confirm", "n_clicks"),
        State("dispatch-req", "data"), State("dispatch-engineer", "value"), State("lang", "data"),
        State("ops-refresh", "data"),
        prevent_initial_call=True,
    )
    def dispatch_confirm(n, req, engineer, lang, refresh):
        lang = lang or "zh"
        if not n or not req:
            return no_update, no_update, no_update
        engineer_id = None if engineer in (None, "__pool__") else str(engineer)
        try:
            order = ops.dispatch(alarm_id=req.get("alarm_id"), station_id=req.get("station_id"),
                                 engineer_id=engineer_id)
        except Exception as exc:  # noqa: BLE001 — refused / conflict: shown, already audited
            return msg_div(error_text(exc, lang), "error"), False, no_update
        if order["assignee_id"]:
            text = t("ops.dispatched", lang).format(id=order["id"], name=order["assignee_name"] or order["assignee_id"])
        else:
            text = t("ops.dispatched_pool", lang).format(id=order["id"])
        return msg_div(text, "ok"), True, (refresh or 0) + 1

    # ------------------------------------------------------------------ work-order list
    @app.callback(
        Output("order-list", "children"), Output("dock-n-orders", "children"), Output("orders-brief", "data"),
        Output("dock-n-orders", "className"),
        Input("scope", "data"), Input("socket", "data-workorder"), Input("ops-refresh", "data"), Input("lang", "data"),
        Input("socket", "data-ops_resync"), Input("socket", "socketId"),
    )
    def orders_list(scope, _evt, _refresh, lang, _resync, _sid):
        """The work-order list; re-read on every (re)connect of the socket (``socketId``), so orders created or
        changed while the page was offline appear without a reload."""
        lang = lang or "zh"
        try:
            orders = ops.orders(scope or "nation")
        except Exception as exc:  # noqa: BLE001
            log.warning("work-order list of %s failed: %s", scope, exc)
            return no_update, no_update, no_update, no_update
        open_orders = [o for o in orders if order_open(o["state"])]
        overdue = sum(1 for o in open_orders if o["overdue"])
        brief = [{"id": o["id"], "alarm_id": o["alarm_id"], "state": o["state"], "assignee_name": o["assignee_name"],
                  "overdue": bool(o["overdue"]), "open": order_open(o["state"])} for o in orders]
        badge = "cc-dock-badge" + (" cc-dock-badge-hot" if overdue else "")
        return order_rows(orders, lang), str(len(open_orders)), brief, badge

    app.clientside_callback(
        ClientsideFunction(namespace="ccOps", function_name="orderRefresh"),
        Output("order-refresh", "data"),
        Input("socket", "data-workorder"),
        State("order-open", "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(namespace="ccOps", function_name="openOrder"),
        Output("order-open", "data"),
        Input({"type": "wo-row", "id": ALL}, "n_clicks"), Input("al-pick", "data"),
        Input("order-dialog-x", "n_clicks"),
        State("order-open", "data"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output("order-dialog", "className"), Output("order-body", "children"),
        Output("order-close-form", "className"), Output("order-cancel-form", "className"),
        Output("order-do-close", "className"), Output("order-do-cancel", "className"),
        Input("order-open", "data"), Input("order-refresh", "data"), Input("lang", "data"),
        State("me", "data"),
    )
    def order_dialog(order_id, _refresh, lang, me):
        """The work-order dialog, drawn in full on open, on language and on every live event about this order
        (``order-refresh``, gated by ``ccOps.orderRefresh``)."""
        lang = lang or "zh"
        hidden_form, hidden_btn = "cc-od-form cc-hidden-block", "cc-btn cc-hidden-block"
        if not order_id:
            return "cc-modal cc-modal-hidden cc-modal-wide", [], hidden_form, hidden_form, hidden_btn, hidden_btn
        try:
            d = ops.order_detail(int(order_id))
        except Exception as exc:  # noqa: BLE001
            return ("cc-modal cc-modal-wide", [msg_div(error_text(exc, lang), "error")], hidden_form, hidden_form,
                    hidden_btn, hidden_btn)
        o = d["order"]
        perms = set((me or {}).get("permissions") or [])
        can_close = "workorder.close" in perms and o["state"] == "resolved"
        can_cancel = "workorder.cancel" in perms and order_working(o["state"])
        return ("cc-modal cc-modal-wide", order_body(d, lang),
                "cc-od-form" if can_close else hidden_form, "cc-od-form" if can_cancel else hidden_form,
                "cc-btn cc-btn-primary" if can_close else hidden_btn,
                "cc-btn cc-btn-danger" if can_cancel else hidden_btn)

    @app.callback(
        Output("order-msg", "children"),
        Input("order-do-close", "n_clicks"), Input("order-do-cancel", "n_clicks"), Input("order-open", "data"),
        State("order-visit", "value"), State("order-rating", "value"), State("order-cancel-reason", "value"),
        State("lang", "data"),
        prevent_initial_call=True,
    )
    def order_action(_close, _cancel, order_id, visit, rating, reason, lang):
        lang = lang or "zh"
        trig = callback_context.triggered_id
        if trig == "order-open" or not order_id:
            return []
        try:
            if trig == "order-do-close":
                ops.order_action(int(order_id), "close", return_visit=visit or "", rating=rating)
                return msg_div(t("ops.done_close_order", lang), "ok")
            if trig == "order-do-cancel":
                ops.order_action(int(order_id), "cancel", reason=reason or "")
                return msg_div(t("ops.done_cancel_order", lang), "ok")
        except Exception as exc:  # noqa: BLE001
            return msg_div(error_text(exc, lang), "error")
        return no_update

    # ------------------------------------------------------------------ engineers on the map
    @app.callback(
        Output("ops-overlay", "children"),
        Input("scope", "data"), Input("socket", "data-workorder"), Input("socket", "data-engineer_pos"),
        Input("lang", "data"), Input("ops-refresh", "data"),
    )
    def overlay(scope, _evt, _pos, lang, _refresh):
        try:
            return overlay_children(ops.overlay(scope or "nation"), lang or "zh")
        except Exception as exc:  # noqa: BLE001
            log.warning("engineer overlay of %s failed: %s", scope, exc)
            return no_update


__all__ = ["order_rows", "overlay_children", "proposal_view", "register", "sla_cell"]
