"""Site panel: opens on a station marker (or attention-list row) click, joins ``station:<id>``, lists every device
with its values; values update clientside from ``station_values`` events. Closing leaves the room.

The site record (站点档案, issue 9 item 4; the wing beside the drawer, ``site-record-body``) is rendered on the
server by ``site_record`` from :func:`datasources.sql.site_queries.site_record`: partner (合作方), idle-room revenue
(空闲站房收益) or construction milestones (建设节点), alarm history (故障历史, last 30 days, 20 rows, counts by
severity) and work orders (open + recent, flow step, assignee, SLA due / overdue). It is re-rendered when the
station opens, the language changes, an ``alarm`` / ``workorder`` event of *this* station arrives on the socket (the
page is in the station's room while the panel is open), and on ``ops_resync`` (bus reconnected).
"""
from __future__ import annotations

import logging

import redis
from dash import ClientsideFunction, Input, Output, State, html, no_update

from callbacks.alarms import _msg, dhm
from datasources.sql import site_queries
from datasources.bus.messages import now_ms
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


#: site record bounds: the window (days) and the rows shown
RECORD_DAYS, ALARM_ROWS, ORDER_ROWS = 30, 20, 10
ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}


def duration_text(ms: int | None, lang: str) -> str:
    """``ms`` (duration, milliseconds) as the two largest units: ``2天3时`` / ``2d 3h``, ``5时07分``, ``12分``, ``40秒``."""
    if ms is None:
        return "—"
    sec = max(0, int(ms // 1000))
    d, rem = divmod(sec, 86_400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    u = {k: t(f"site.dur.{k}", lang) for k in ("d", "h", "m", "s")}
    sep = " " if lang == "en" else ""
    if d:
        return f"{d}{u['d']}{sep}{h}{u['h']}"
    if h:
        return f"{h}{u['h']}{sep}{m:02d}{u['m']}"
    if m:
        return f"{m}{u['m']}"
    return f"{s}{u['s']}"


def _cny(v: float | None) -> str:
    return "—" if v is None else f"{v:,.0f}"


def _section(title_key: str, lang: str, tags: list, body: list, cls: str) -> html.Section:
    return html.Section(className=f"cc-srec-sec {cls}", children=[
        html.Div(className="cc-srec-sec-head", children=[html.H4(t(title_key, lang)), *tags]),
        *body])


def partner_block(partner: dict, lang: str) -> html.Section:
    """合作方: name, contact person, phone (``tel:`` link)."""
    if not partner.get("name"):
        body = [html.Div(t("site.partner_none", lang), className="cc-srec-none")]
    else:
        phone = partner.get("phone") or ""
        body = [html.Div(className="cc-srec-partner", children=[
            html.Div(partner["name"], className="cc-srec-partner-name", id="site-partner-name"),
            html.Div(className="cc-srec-kv", children=[
                html.Span(t("site.partner_contact", lang), className="cc-srec-k"),
                html.Span(partner.get("contact") or "—", className="cc-srec-v", id="site-partner-contact")]),
            html.Div(className="cc-srec-kv", children=[
                html.Span(t("site.partner_phone", lang), className="cc-srec-k"),
                html.A(phone, href=f"tel:{phone.replace('-', '')}", className="cc-srec-v cc-srec-phone",
                       id="site-partner-phone") if phone else html.Span("—", className="cc-srec-v")]),
        ])]
    return _section("site.partner", lang, [], body, "cc-srec-partner-sec")


def revenue_block(rev: dict | None, lang: str) -> html.Section:
    """空闲站房收益 (:func:`datasources.sql.site_queries.idle_revenue`): three figures to date, then the lease terms."""
    if rev is None:
        return _section("site.revenue", lang, [], [html.Div(t("site.rev_none", lang), className="cc-srec-none")],
                        "cc-srec-rev")
    unit, unit_m = t("site.unit_cny", lang), t("site.unit_cny_month", lang)

    def fig(key: str, value: float, cls: str, fid: str) -> html.Div:
        return html.Div(className=f"cc-srec-fig {cls}", children=[
            html.Div(t(key, lang), className="cc-srec-fig-label"),
            html.Div([html.Span(_cny(value), className="cc-srec-fig-val", id=fid),
                      html.Span(unit, className="cc-srec-fig-unit")])])

    def term(key: str, value: str, tid: str | None = None) -> html.Div:
        return html.Div(className="cc-srec-kv", children=[html.Span(t(key, lang), className="cc-srec-k"),
                                                         html.Span(value, className="cc-srec-v",
                                                                   **({"id": tid} if tid else {}))])

    tag = html.Span(t("site.rev_let" if rev["leased"] else "site.rev_not_let", lang),
                    className="cc-srec-tag " + ("cc-srec-tag-ok" if rev["leased"] else "cc-srec-tag-warn"),
                    id="site-rev-let")
    occ = rev.get("occupancy_pct")
    body = [
        html.Div(className="cc-srec-figs", children=[
            fig("site.rev_to_date", rev["revenue_to_date_cny"], "cc-srec-fig-main", "site-rev-to-date"),
            fig("site.rev_potential", rev["potential_to_date_cny"], "", "site-rev-potential"),
            fig("site.rev_forgone", rev["forgone_cny"], "cc-srec-fig-loss", "site-rev-forgone")]),
        html.Div(className="cc-srec-terms", children=[
            term("site.rev_lease", f"{_cny(rev['lease_cny_month'])} {unit_m}", "site-rev-lease"),
            term("site.rev_market", f"{_cny(rev['market_lease_cny_month'])} {unit_m}"),
            term("site.rev_annual", f"{_cny(rev['annual_cny'])} {unit}"),
            term("site.rev_occupancy", "—" if occ is None else f"{occ:.0f} %"),
            term("site.rev_idle_since", f"{rev['idle_since'] or '—'} · {t('site.rev_days', lang, n=rev['days_idle'])}",
                 "site-rev-since")]),
        html.Div(t("site.rev_note", lang), className="cc-srec-note"),
    ]
    return _section("site.revenue", lang, [tag], body, "cc-srec-rev")


def milestones_block(ms: dict | None, lang: str) -> html.Section:
    """建设节点: progress bar and one row per milestone (plan, done, status)."""
    if ms is None:
        return _section("site.build", lang, [], [html.Div(t("site.build_none", lang), className="cc-srec-none")],
                        "cc-srec-build")
    rows = []
    for m in ms["items"]:
        st = m["status"]
        rows.append(html.Div(className=f"cc-srec-ms cc-srec-ms-{st}", **{"data-ms": m["key"] or ""}, children=[
            html.Span(className="cc-srec-ms-dot"),
            html.Span(t(f"site.ms.{m['key']}", lang), className="cc-srec-ms-name"),
            html.Span(f"{t('site.ms_planned', lang)} {(m['planned'] or '—')[5:]}", className="cc-srec-ms-date"),
            html.Span(f"{t('site.ms_done', lang)} {m['done'][5:]}" if m["done"] else "", className="cc-srec-ms-date"),
            html.Span(t(f"site.ms_status.{st}", lang, n=m["delay_days"]), className="cc-srec-ms-st"),
        ]))
    tag = html.Span(t("site.build_progress", lang, done=ms["done"], total=ms["total"]), className="cc-srec-tag")
    bar = html.Div(className="cc-srec-bar", children=[html.Span(style={"width": f"{ms['pct']}%"})])
    return _section("site.build", lang, [tag], [bar, html.Div(rows, className="cc-srec-ms-list")], "cc-srec-build")


def alarm_block(hist: dict, days: int, lang: str) -> html.Section:
    """故障历史: counts by severity, then one row per alarm (time, severity, type, state, duration)."""
    chips = [html.Span(className=f"cc-srec-sevn cc-srec-sevn{sev}" + ("" if n else " cc-srec-zero"),
                       **{"data-sev": str(sev)}, title=t(f"sev.{sev}", lang),
                       children=[html.Span(ROMAN[sev], className=f"cc-al-sev cc-sevbg{sev}"),
                                 html.Span(str(n), className="cc-srec-sevn-n")])
             for sev, n in sorted(hist["counts"].items())]
    tags = [html.Span(t("site.window", lang, days=days), className="cc-srec-tag"),
            html.Span(t("site.alarms_open", lang, n=hist["open"]),
                      className="cc-srec-tag" + (" cc-srec-tag-alarm" if hist["open"] else ""))]
    if not hist["rows"]:
        return _section("site.alarms", lang, tags, [html.Div(chips, className="cc-srec-sevs"),
                                                    html.Div(t("site.alarms_none", lang, days=days),
                                                             className="cc-srec-none")], "cc-srec-alarms")
    head = html.Div(className="cc-srec-tr cc-srec-th cc-srec-al", children=[
        html.Span(t(k, lang)) for k in ("site.col_time", "site.col_sev", "site.col_type", "site.col_state",
                                        "site.col_duration")])
    rows = []
    for a in hist["rows"]:
        st = a["state"]
        rows.append(html.Div(className=f"cc-srec-tr cc-srec-al cc-srec-al-sev{a['severity']}"
                             + (" cc-srec-live" if a["active"] else ""),
                             **{"data-alarm-id": str(a["id"]), "data-state": st}, children=[
            html.Span(dhm(a["raised_ts_ms"]), className="cc-srec-time"),
            html.Span(html.Span(a["severity_roman"], className=f"cc-al-sev cc-sevbg{a['severity']}")),
            html.Span(_msg(a["message"], lang) or a["rule"], className="cc-srec-type",
                      title=f"{_msg(a['message'], lang)} · {a['device_id'] or ''} · {a['rule']}"),
            html.Span(t(f"alarm.state.{st}", lang), className=f"cc-al-state cc-al-st-{st} cc-srec-state"),
            html.Span(duration_text(a["duration_ms"], lang) + (f" · {t('site.ongoing', lang)}" if a["active"] else ""),
                      className="cc-srec-dur"),
        ]))
    more = hist["total"] - len(hist["rows"])
    extra = [html.Div(t("site.more", lang, n=more), className="cc-srec-more")] if more > 0 else []
    return _section("site.alarms", lang, tags, [html.Div(chips, className="cc-srec-sevs"), head,
                                                html.Div(rows, className="cc-srec-rows"), *extra], "cc-srec-alarms")


def order_block(orders: dict, days: int, lang: str) -> html.Section:
    """工单: open first, then recent; number, title, flow steps, state, assignee, SLA due / overdue."""
    tags = [html.Span(t("site.orders_open", lang, n=orders["open"]),
                      className="cc-srec-tag" + (" cc-srec-tag-warn" if orders["open"] else "")),
            html.Span(t("site.orders_recent", lang, n=orders["recent"]), className="cc-srec-tag")]
    if not orders["rows"]:
        return _section("site.orders", lang, tags, [html.Div(t("site.orders_none", lang, days=days),
                                                             className="cc-srec-none")], "cc-srec-orders")
    rows = []
    for o in orders["rows"]:
        st = o["state"]
        steps = [html.Span(className="cc-srec-step" + (" cc-on" if 0 <= i <= o["step"] else ""),
                           title=t(f"wo.state.{name}", lang))
                 for i, name in enumerate(site_queries.ORDER_FLOW)]
        who = (o["assignee_name_en"] or o["assignee_name"]) if lang == "en" else o["assignee_name"]
        if o["overdue"]:
            sla = html.Span(f"{t('site.overdue', lang)} · {t('sla.' + o['sla_clock'], lang)}",
                            className="cc-srec-sla cc-srec-sla-over")
        elif o["sla_due_ms"]:
            sla = html.Span(f"{t('site.sla_due', lang, clock=t('sla.' + o['sla_clock'], lang))} {dhm(o['sla_due_ms'])}",
                            className="cc-srec-sla")
        elif st == "cancelled":
            sla = html.Span(t("site.cancelled", lang), className="cc-srec-sla cc-srec-dim")
        else:
            sla = html.Span(t("site.sla_breached" if o["breached"] else "site.sla_ok", lang),
                            className="cc-srec-sla " + ("cc-srec-sla-late" if o["breached"] else "cc-srec-sla-ok"))
        rows.append(html.Div(className=f"cc-srec-wo cc-srec-wo-{st}" + (" cc-srec-wo-over" if o["overdue"] else ""),
                             **{"data-order-id": str(o["id"]), "data-state": st}, children=[
            html.Div(className="cc-srec-wo-l1", children=[
                html.Span(f"#{o['id']}", className="cc-srec-wo-no"),
                html.Span(o["severity_roman"], className=f"cc-al-sev cc-sevbg{o['severity']}"),
                html.Span(_msg(o["title"], lang), className="cc-srec-wo-title", title=_msg(o["title"], lang)),
                html.Span(dhm(o["created_ts_ms"]), className="cc-srec-time"),
            ]),
            html.Div(className="cc-srec-wo-l2", children=[
                html.Span(steps, className="cc-srec-steps"),
                html.Span(t(f"wo.state.{st}", lang), className=f"cc-srec-wo-state cc-srec-wo-st-{st}"),
                html.Span(who or t("site.unassigned", lang), className="cc-srec-who"),
                sla,
            ]),
        ]))
    return _section("site.orders", lang, tags, [html.Div(rows, className="cc-srec-rows")], "cc-srec-orders")


def record_children(rec: dict, lang: str) -> list:
    """The record's sections for one :func:`datasources.sql.site_queries.site_record` dict."""
    days = rec.get("days", RECORD_DAYS)
    out = [partner_block(rec["partner"], lang)]
    if rec["lifecycle"] == "idle":
        out.append(revenue_block(rec["revenue"], lang))
    elif rec["lifecycle"] == "under_construction":
        out.append(milestones_block(rec["milestones"], lang))
    out += [alarm_block(rec["alarms"], days, lang), order_block(rec["orders"], days, lang)]
    return out


def register(app, ctx) -> None:
    @app.callback(
        Output("site-record-body", "children"), Output("site-record", "className"),
        Input("station-open", "data"), Input("lang", "data"), Input("station-refresh", "data"),
    )
    def site_record(station_id, lang, _refresh):
        """The station record, drawn in full on open, on language and on every live alarm / work-order event of
        this station or a resync (``station-refresh``, gated by ``ccOps.stationRefresh``)."""
        lang = lang or "zh"
        if not station_id:
            return [], "cc-srec cc-srec-empty"
        try:
            rec = site_queries.site_record(ctx.engine, station_id, now_ms=now_ms(), days=RECORD_DAYS,
                                           alarm_limit=ALARM_ROWS, order_limit=ORDER_ROWS)
        except Exception as exc:  # noqa: BLE001 — database down: the rest of the panel still works
            log.warning("site record %s: %s", station_id, exc)
            return [html.Div(t("site.error", lang), className="cc-srec-none")], "cc-srec"
        if rec is None:
            return [], "cc-srec cc-srec-empty"
        return record_children(rec, lang), f"cc-srec cc-srec-{rec['lifecycle']}"

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
