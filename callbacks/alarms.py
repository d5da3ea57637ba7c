"""Alarm panel: the live list under the map (scoped to the map's view), the alarm dialog (acknowledge with a comment,
shelve, close), statistics (报警统计) and the mute toggle.

* ``alarm_snapshot`` (server): open alarms of the scope, on load, scope change, socket (re)connect and after a bus
  reconnect (``ops_resync``); live ``alarm`` events are merged clientside (``ccOps.alarmsApply`` in
  ``assets/cc_alarms.js``), which also flashes and beeps for new severity I / II alarms.
* ``ccOps.alarmGo`` (clientside): a click on an alarm flies the map to its station and opens the site panel.
* ``alarm_dialog`` / ``alarm_action`` (server): the dialog and its buttons. Every action goes through
  ``ctx.ops`` (:class:`dashboard.web.operations.OpsService`): authorised and audited on the server, whatever the page
  showed — a forged callback request by a leader is refused and audited.
* ``stats`` (server): by severity, type, region and time, when the statistics tab is open.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from dash import ALL, ClientsideFunction, Input, Output, State, callback_context, html, no_update

from i18n import t
from ops.vocab import SEVERITIES, SEVERITY_COLOURS, SEVERITY_ROMAN, order_open
from layers import regions as regions_layer

log = logging.getLogger(__name__)

CST = timezone(timedelta(hours=8))
ROMAN = SEVERITY_ROMAN
SEV_COLORS = SEVERITY_COLOURS


def _msg(message: str, lang: str) -> str:
    if " / " not in (message or ""):
        return message or ""
    zh, en = message.split(" / ", 1)
    return en if lang == "en" else zh


def hms(ms: int | None) -> str:
    if not ms:
        return "—"
    return datetime.fromtimestamp(ms / 1000, CST).strftime("%H:%M:%S")


def dhm(ms: int | None) -> str:
    if not ms:
        return "—"
    return datetime.fromtimestamp(ms / 1000, CST).strftime("%m-%d %H:%M")


def error_text(exc: Exception, lang: str) -> str:
    """A refusal or domain error as a line for the page (server side already audited it)."""
    status = getattr(exc, "status", 409)
    if status in (401, 403):
        return f"{t('ops.refused', lang)}（{exc}）" if lang != "en" else f"{t('ops.refused', lang)} ({exc})"
    return f"{t('ops.failed', lang)}: {exc}"


def msg_div(text: str, kind: str) -> html.Div:
    return html.Div(text, className=f"cc-msg-line cc-msg-{kind}")


def alarm_value_text(a: dict, lang: str) -> str:
    if a.get("value") is None or a.get("kind") in ("digital", "comm_loss"):
        return ""
    unit = a.get("unit") or ""
    v = a["value"]
    txt = f"{v:.3g}" if abs(v) < 1 else f"{v:.1f}"
    if a.get("threshold") is not None:
        txt += f" {unit} / {t('ops.limit', lang)} {a['threshold']:g}"
    else:
        txt += f" {unit}"
    return txt


def _timeline(events: list[dict], lang: str, prefix: str = "alarm.event.") -> html.Div:
    rows = []
    for e in events:
        detail = e.get("detail")
        if isinstance(detail, dict):
            detail = ""
        rows.append(html.Div(className=f"cc-tl-row cc-tl-{e['event']}", children=[
            html.Span(className="cc-tl-dot"),
            html.Span(dhm(e["ts_ms"]) + ":" + hms(e["ts_ms"])[-2:], className="cc-tl-time"),
            html.Span(t(prefix + e["event"], lang), className="cc-tl-event"),
            html.Span(e.get("actor") or "", className="cc-tl-actor"),
            html.Span(str(detail or "")[:120], className="cc-tl-detail"),
        ]))
    return html.Div(rows, className="cc-tl")


def _kv(label: str, value, cls: str = "") -> html.Div:
    return html.Div(className=f"cc-kv {cls}", children=[html.Span(label, className="cc-kv-k"),
                                                        html.Span(value, className="cc-kv-v")])


def alarm_body(detail: dict, lang: str) -> list:
    a, st = detail["alarm"], detail["station"]
    name = st["name_en"] if lang == "en" else st["name"]
    state = "shelved" if a["shelved"] else a["state"]
    order = detail.get("order")
    head = html.Div(className=f"cc-ad-head cc-sevborder{a['severity']}", children=[
        html.Span(ROMAN[a["severity"]], className=f"cc-al-sev cc-sevbg{a['severity']}"),
        html.Div(className="cc-ad-titles", children=[
            html.Div(_msg(a["message"], lang), className="cc-ad-title"),
            html.Div(f"{name} · {a['source']}", className="cc-ad-sub")]),
        html.Span(t(f"alarm.state.{state}", lang), className=f"cc-al-state cc-al-st-{state}"),
    ])
    facts = html.Div(className="cc-ad-facts", children=[
        _kv(t("ops.raised", lang), f"{dhm(a['raised_ts_ms'])}:{hms(a['raised_ts_ms'])[-2:]}"),
        _kv(t("sev." + str(a["severity"]), lang), t(f"sev.short.{a['severity']}", lang)),
        _kv(t("ops.value", lang), alarm_value_text(a, lang) or "—"),
        _kv(t("ops.occurrences", lang), str(a["occurrences"])),
        _kv(t("ops.open_order", lang), f"#{order['id']} {order.get('assignee_name') or ''} · "
            f"{t('wo.state.' + order['state'], lang)}" if order else "—"),
    ])
    return [head, facts, html.H3(t("ops.timeline", lang), className="cc-sub-h"),
            _timeline(detail["events"], lang)]


def _bars(items: list[tuple[str, int, str]], total: int) -> html.Div:
    top = max([n for _l, n, _c in items] or [1]) or 1
    return html.Div(className="cc-bars", children=[
        html.Div(className="cc-bar-row", children=[
            html.Span(label, className="cc-bar-label", title=label),
            html.Span(className="cc-bar-track", children=[
                html.Span(className="cc-bar-fill", style={"width": f"{100 * n / top:.1f}%", "background": color})]),
            html.Span(str(n), className="cc-bar-n"),
        ]) for label, n, color in items])


def stats_view(s: dict, lang: str, rules: dict[str, str], station_name=lambda sid: sid) -> list:
    total = s["total"]
    if not total:
        return [html.Div(t("ops.stats_none", lang), className="cc-empty")]
    sev = [(t(f"sev.{k}", lang), s["by_severity"][str(k)], SEV_COLORS[k]) for k in SEVERITIES]
    rule_items = [(_msg(rules.get(r, r), lang), n, "var(--accent-2)") for r, n in s["by_rule"][:7]]
    if s["region_level"] == "station":
        reg_label = station_name
    else:
        reg_label = lambda k: regions_layer.region_name(k, lang) if k != "?" else "?"  # noqa: E731
    region_items = [(reg_label(k), n, "#7c9cff") for k, n in s["by_region"][:7]]
    series = s["by_time"]
    top = max(n for _b, n in series) or 1
    hourly = s["bucket_ms"] < 86_400_000
    step = max(1, len(series) // 8)
    cols = []
    for i, (b, n) in enumerate(series):
        dt = datetime.fromtimestamp(b / 1000, CST)
        label = dt.strftime("%H时" if lang != "en" else "%H:00") if hourly else dt.strftime("%m-%d")
        cols.append(html.Div(className="cc-col", title=f"{label}: {n}", children=[
            html.Span(str(n) if n else "", className="cc-col-n"),
            html.Span(className="cc-col-bar", style={"height": f"{100 * n / top:.1f}%"}),
            html.Span(label if i % step == 0 else "", className="cc-col-x"),
        ]))
    card = lambda key, body: html.Div(className="cc-stat-card", children=[  # noqa: E731
        html.Div(t(key, lang), className="cc-stat-h"), body])
    return [card("ops.stats_by_severity", _bars(sev, total)), card("ops.stats_by_rule", _bars(rule_items, total)),
            card("ops.stats_by_region", _bars(region_items, total)),
            card("ops.stats_by_time", html.Div(cols, className="cc-cols"))]


def register(app, ctx) -> None:
    ops = ctx.ops
    from ops.alarm_rules import load_rules  # noqa: PLC0415

    try:
        rule_messages = {r.id: r.message for r in load_rules().rules}
    except Exception:  # noqa: BLE001 — statistics fall back to rule ids
        rule_messages = {}

    @app.callback(
        Output("alarm-snapshot", "data"),
        Input("scope", "data"), Input("socket", "socketId"), Input("socket", "data-ops_resync"),
    )
    def alarm_snapshot(scope, _sid, _resync):
        try:
            return ops.alarms_snapshot(scope or "nation")
        except Exception as exc:  # noqa: BLE001 — Redis/SQL down: keep what the page has
            log.warning("alarm snapshot of %s failed: %s", scope, exc)
            return no_update

    app.clientside_callback(
        ClientsideFunction(namespace="ccOps", function_name="alarmsApply"),
        Output("dock-n-alarms", "children"),  # the rows themselves: drawn by alarmsApply into #alarm-list
        *[Output(f"alarm-sev-{n}", "children") for n in (1, 2, 3, 4)], Output("alarm-unacked", "children"),
        Output("dock-n-alarms", "className"),
        Input("alarm-snapshot", "data"), Input("socket", "data-alarm"), Input("alarm-filter", "value"),
        Input("alarm-filter-unack", "value"), Input("lang", "data"), Input("orders-brief", "data"),
        Input("alarm-muted", "data"),
        State("scope", "data"), State("me", "data"),
    )
    app.clientside_callback(
        ClientsideFunction(namespace="ccOps", function_name="alarmGo"),
        Output("station-open", "data", allow_duplicate=True), Output("map", "viewport", allow_duplicate=True),
        Input("al-pick", "data"), Input({"type": "site-al-go", "id": ALL}, "n_clicks"),
        State("station-open", "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(namespace="ccOps", function_name="alarmRefresh"),
        Output("alarm-refresh", "data"),
        Input("socket", "data-alarm"), Input("socket", "data-workorder"),
        State("alarm-open", "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(namespace="ccOps", function_name="openAlarm"),
        Output("alarm-open", "data"),
        Input("al-pick", "data"), Input({"type": "site-al", "id": ALL}, "n_clicks"),
        Input("alarm-dialog-x", "n_clicks"),
        State("alarm-open", "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(namespace="ccOps", function_name="dockTab"),
        Output("dock-tab", "data"),
        *[Output(f"dock-tab-{k}", "className") for k in ("alarms", "orders", "stats")],
        *[Output(f"dock-body-{k}", "className") for k in ("alarms", "orders", "stats")],
        Output("stats-tick", "disabled"),
        *[Input(f"dock-tab-{k}", "n_clicks") for k in ("alarms", "orders", "stats")],
        State("dock-tab", "data"),
    )
    app.clientside_callback(
        ClientsideFunction(namespace="ccOps", function_name="mute"),
        Output("alarm-muted", "data"), Output("alarm-mute", "className"), Output("alarm-mute-text", "children"),
        Input("alarm-mute", "n_clicks"), Input("lang", "data"),
        State("alarm-muted", "data"),
    )

    # ------------------------------------------------------------------ the alarm dialog
    @app.callback(
        Output("alarm-dialog", "className"), Output("alarm-dialog-body", "children"),
        Output("alarm-do-ack", "className"), Output("alarm-do-shelve", "className"),
        Output("alarm-do-unshelve", "className"), Output("alarm-do-close", "className"),
        Output("alarm-do-dispatch", "className"),
        Input("alarm-open", "data"), Input("alarm-refresh", "data"), Input("lang", "data"),
        State("me", "data"),
    )
    def alarm_dialog(alarm_id, _refresh, lang, me):
        """The alarm dialog, drawn in full on open, on language and on every live event about this alarm or its
        work order (``alarm-refresh``, gated by ``ccOps.alarmRefresh``; see there why never ``no_update``)."""
        hidden = "cc-btn cc-hidden-block"
        if not alarm_id:
            return "cc-modal cc-modal-hidden", [], hidden, hidden, hidden, hidden, hidden
        try:
            detail = ops.alarm_detail(int(alarm_id))
        except Exception as exc:  # noqa: BLE001
            return "cc-modal", [msg_div(error_text(exc, lang), "error")], hidden, hidden, hidden, hidden, hidden
        a = detail["alarm"]
        perms = set((me or {}).get("permissions") or [])
        show = lambda ok, cls="cc-btn": cls if ok else hidden  # noqa: E731
        ack_ok = "alarm.acknowledge" in perms and not a["acknowledged"] and a["state"] != "closed"
        shelve_ok = "alarm.shelve" in perms and a["state"] != "closed"
        close_ok = "alarm.close" in perms and a["state"] == "cleared"
        disp_ok = "workorder.create" in perms and a["state"] != "closed" and not (
            detail["order"] and order_open(detail["order"]["state"]))
        return ("cc-modal", alarm_body(detail, lang), show(ack_ok, "cc-btn cc-btn-primary"),
                show(shelve_ok and not a["shelved"]), show(shelve_ok and a["shelved"]), show(close_ok),
                show(disp_ok, "cc-btn cc-btn-dispatch"))

    @app.callback(
        Output("alarm-dialog-msg", "children"), Output("alarm-comment", "value"),
        Input("alarm-do-ack", "n_clicks"), Input("alarm-do-shelve", "n_clicks"),
        Input("alarm-do-unshelve", "n_clicks"), Input("alarm-do-close", "n_clicks"),
        State("alarm-open", "data"), State("alarm-comment", "value"), State("alarm-shelve-dur", "value"),
        State("lang", "data"),
        prevent_initial_call=True,
    )
    def alarm_action(_ack, _shelve, _unshelve, _close, alarm_id, comment, duration, lang):
        trig = callback_context.triggered_id
        action = {"alarm-do-ack": "acknowledge", "alarm-do-shelve": "shelve", "alarm-do-unshelve": "unshelve",
                  "alarm-do-close": "close"}.get(trig)
        if action is None or not alarm_id:
            return no_update, no_update
        try:
            ops.alarm_action(int(alarm_id), action, comment=comment or "", duration_s=duration)
        except Exception as exc:  # noqa: BLE001 — refusals and domain errors are shown (already audited)
            log.info("alarm %s %s refused: %s", alarm_id, action, exc)
            return msg_div(error_text(exc, lang or "zh"), "error"), no_update
        done = {"acknowledge": "ops.done_ack", "shelve": "ops.done_shelve", "unshelve": "ops.done_unshelve",
                "close": "ops.done_close"}[action]
        return msg_div(t(done, lang or "zh"), "ok"), ""

    # ------------------------------------------------------------------ statistics
    @app.callback(
        Output("stats-body", "children"), Output("stats-total", "children"),
        Input("dock-tab", "data"), Input("stats-period", "value"), Input("scope", "data"), Input("lang", "data"),
        Input("stats-tick", "n_intervals"),
    )
    def stats(tab, period, scope, lang, _tick):
        if tab != "stats":
            return no_update, no_update
        lang = lang or "zh"
        try:
            s = ops.stats(scope or "nation", period or "24h")
        except Exception as exc:  # noqa: BLE001
            return [msg_div(error_text(exc, lang), "error")], ""
        total = [html.Span(t("ops.stats_total", lang), className="cc-stats-total-k"),
                 html.B(str(s["total"]), className="cc-stats-total-n"),
                 html.Span(t(f"ops.period_{s['period']}", lang), className="cc-stats-total-p")]
        index = ctx.station_index()

        def station_name(sid: str) -> str:
            info = index.get(sid)
            return (info.name_en or info.name if lang == "en" else info.name) if info else sid

        return stats_view(s, lang, rule_messages, station_name), total
