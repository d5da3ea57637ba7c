"""Energy tab of the site panel (issue 5): the station's air-to-power ratio (气电比) over the chosen range and
granularity beside the previous period (环比) and the same period a year before (同比), its specific power, load
ratio and energy spent unloaded, and the compressors' efficiency.

The numbers are SQL queries of the rollups (:func:`datasources.sql.energy_store.ratio_trend`,
:func:`datasources.sql.energy_store.compressor_kpis`), not live data, so a server callback answers them — only while
the energy tab is showing. Tab switching is clientside.

The figure's three traces carry ``meta`` ``"current"`` / ``"prev"`` / ``"yoy"``; the comparison traces are drawn on
the current period's x positions (bucket by bucket, :func:`datasources.sql.energy_store.comparison_starts`) with their
own dates in ``customdata`` (hover).
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

from dash import ALL, Input, Output, State, ctx as dash_ctx, dcc, html, no_update
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from datasources.sql.energy_models import DEVICE_TABLES
from datasources.sql.energy_store import compressor_kpis, ratio_trend
from i18n import t
from ops.energy import CST, bucket_start, load_ratio, next_bucket
from ops.energy_periods import (DEFAULT_GRANULARITY, DEFAULT_RANGE, GRANULARITIES, RANGES, granularity_options,
                                range_options)

log = logging.getLogger(__name__)

COLORS = {"current": "#2bd3ff", "prev": "#f2a93b", "yoy": "#b18cff"}
_FMT = {"hour": "%m-%d %H:00", "day": "%Y-%m-%d", "week": "%Y-%m-%d", "month": "%Y-%m"}


def energy_graph(graph_id: str, figure: dict[str, Any]) -> dcc.Graph:
    """The chart ``graph_id`` (``energy-graph`` / ``energy-dev-graph``) drawing ``figure``, for its slot."""
    return dcc.Graph(id=graph_id, className="cc-en-graph", figure=figure, style={"height": "100%"},
                     config={"displayModeBar": False, "responsive": True})


def empty_figure(message: str) -> dict[str, Any]:
    """A blank dark figure carrying ``message`` (no data, nothing chosen yet)."""
    return {"data": [], "layout": {
        **base_layout(), "xaxis": {"visible": False}, "yaxis": {"visible": False},
        "annotations": [{"text": message, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
                         "font": {"size": 14, "color": "#8aa0b6"}}] if message else []}}


def base_layout() -> dict[str, Any]:
    """The app's dark chart theme: transparent paper and plot, light text, thin blue grid."""
    return {"paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
            "font": {"color": "#dbe7f3", "size": 12,
                     "family": "Noto Sans CJK SC, Liberation Sans, Arial, sans-serif"},
            "margin": {"l": 46, "r": 12, "t": 30, "b": 34}, "hovermode": "x unified",
            "hoverlabel": {"bgcolor": "#071322", "bordercolor": "#1f4a6e", "font": {"color": "#dbe7f3"}},
            "legend": {"orientation": "h", "x": 0, "y": 1.12, "xanchor": "left", "font": {"size": 11},
                       "bgcolor": "rgba(0,0,0,0)"}}


def period_bounds(days: int, granularity: str, now_s: float | None = None) -> tuple[datetime, datetime]:
    """``[start, end)`` of "the last ``days`` days" ending with the current bucket (included, partial): ``end`` is
    the start of the next hour (``hour``) or the next CST day (otherwise)."""
    now_s = time.time() if now_s is None else now_s
    unit = "hour" if granularity == "hour" else "day"
    end_s = next_bucket(bucket_start(now_s, unit), unit)
    end = datetime.fromtimestamp(end_s, CST)
    return end - timedelta(days=days), end


def _x(dt: datetime | None) -> str | None:
    return dt.astimezone(CST).strftime("%Y-%m-%d %H:%M") if dt else None


def _label(dt: datetime | None, granularity: str) -> str:
    return dt.astimezone(CST).strftime(_FMT[granularity]) if dt else ""


def _span(a: datetime | None, b: datetime | None, granularity: str) -> str:
    """Human range ``a – b`` (``b`` exclusive shown as its last bucket)."""
    if a is None or b is None:
        return ""
    last = b - timedelta(hours=1) if granularity == "hour" else b - timedelta(days=1)
    return f"{_label(a, 'day')} – {_label(last, 'day')}"


def trend_figure(trend, lang: str) -> dict:
    """Plotly figure (dict) of a :class:`datasources.sql.energy_store.Trend`: this period (area), previous period
    (dashed), year before (dotted); values are the SQL Σair/Σenergy ratios, unrounded."""
    g = trend.granularity
    xs = [_x(p.start) for p in trend.points]
    series = (
        ("current", t("energy.current", lang), [p.ratio for p in trend.points], [_label(p.start, g) for p in trend.points],
         _span(trend.start, trend.end, g), {"width": 2.6, "color": COLORS["current"], "shape": "linear"}),
        ("prev", t("energy.prev", lang), [p.prev_ratio for p in trend.points],
         [_label(p.prev_start, g) for p in trend.points], _span(trend.prev_start, trend.prev_end, g),
         {"width": 1.6, "color": COLORS["prev"], "dash": "dash"}),
        ("yoy", t("energy.yoy", lang), [p.yoy_ratio for p in trend.points],
         [_label(p.yoy_start, g) for p in trend.points], _span(trend.yoy_start, trend.yoy_end, g),
         {"width": 1.6, "color": COLORS["yoy"], "dash": "dot"}),
    )
    data = []
    many = len(xs) > 120
    for meta, name, ys, dates, span, line in series:
        tr = {"type": "scatter", "mode": "lines" if many else "lines+markers", "meta": meta, "name": name,
              "x": xs, "y": ys, "customdata": dates, "line": line, "connectgaps": False,
              "marker": {"size": 4, "color": line["color"]},
              "hovertemplate": f"{name} %{{customdata}}: <b>%{{y:.2f}}</b> m³/kWh<extra></extra>",
              "legendgroup": meta}
        if meta == "current":
            tr["fill"] = "tozeroy"
            tr["fillcolor"] = "rgba(43, 211, 255, 0.10)"
        data.append(tr)
    vals = [v for _, _, ys, *_ in series for v in ys if v is not None]
    lo, hi = (min(vals), max(vals)) if vals else (0, 10)
    pad = max(0.3, (hi - lo) * 0.15)
    layout = {**base_layout(),
              "xaxis": {"type": "date", "gridcolor": "rgba(31, 74, 110, 0.35)", "linecolor": "#1f4a6e",
                        "tickfont": {"color": "#8aa0b6", "size": 11}, "zeroline": False,
                        "hoverformat": "%Y-%m-%d %H:%M" if g == "hour" else "%Y-%m-%d"},
              "yaxis": {"title": {"text": "m³/kWh", "font": {"color": "#8aa0b6", "size": 11}},
                        "gridcolor": "rgba(31, 74, 110, 0.45)", "zeroline": False,
                        "tickfont": {"color": "#8aa0b6", "size": 11}, "range": [max(0.0, lo - pad), hi + pad]}}
    if not vals:
        layout["annotations"] = empty_figure(t("energy.no_data", lang))["layout"]["annotations"]
    return {"data": data, "layout": layout}


def _pct(a, b) -> float | None:
    return None if a is None or not b else (a - b) / b * 100.0


def _delta(label: str, pct: float | None) -> html.Span:
    if pct is None:
        return html.Span([label, " —"], className="cc-en-delta")
    cls = "cc-en-up" if pct >= 0 else "cc-en-down"
    return html.Span([label, " ", html.B(f"{'▲' if pct >= 0 else '▼'}{abs(pct):.1f}%")], className=f"cc-en-delta {cls}")


def _fmt(v, spec: str) -> str:
    return "—" if v is None else format(v, spec)


def compressor_table(rows, lang: str) -> list:
    head = html.Div(className="cc-en-tr cc-en-th", children=[
        html.Span(t(k, lang)) for k in ("energy.col_device", "energy.col_ratio", "energy.col_sp", "energy.col_load",
                                        "energy.col_unloaded", "energy.col_grade")])
    body = []
    for r in rows:
        grade = r.grade.grade if r.grade is not None else None
        body.append(html.Div(className="cc-en-tr cc-en-click", id={"type": "energy-dev-row", "dev": r.device_id},
                             n_clicks=0, **{"data-energy-dev": r.device_id}, children=[
            html.Span(r.device_id, className="cc-en-dev"),
            html.Span(_fmt(r.ratio, ".2f")), html.Span(_fmt(r.specific_power, ".2f")),
            html.Span(_fmt(None if r.load_ratio is None else r.load_ratio * 100, ".0f") + ("%" if r.load_ratio is not None else "")),
            html.Span(f"{r.unloaded_kwh:,.0f}"),
            html.Span(t("energy.grade", lang, grade=grade) if grade else "—",
                      className=f"cc-en-grade cc-en-grade-{grade or 'none'}"),
        ]))
    if not body:
        body = [html.Div(t("energy.no_data", lang), className="cc-empty")]
    return [head, *body]


def energy_view(engine, station_id: str, days: int, granularity: str, lang: str, now_s: float | None = None):
    """Everything the tab shows, as the callback's outputs after the figure (see :func:`register`)."""
    start, end = period_bounds(days, granularity, now_s)
    t0 = time.perf_counter()
    trend = ratio_trend(engine, f"station:{station_id}", start, end, granularity)
    # compressor KPIs over the same days (whole CST days → day rollups of the devices)
    d_end = datetime.fromtimestamp(next_bucket(bucket_start(end.timestamp() - 1, "day"), "day"), CST)
    comps = compressor_kpis(engine, station_id, d_end - timedelta(days=days), d_end)
    ms = (time.perf_counter() - t0) * 1000
    loaded = sum(c.loaded_h for c in comps)
    unloaded = sum(c.unloaded_h for c in comps)
    lr = load_ratio(loaded, loaded + unloaded)
    ratio = trend.ratio
    sp = 60.0 / ratio if ratio else None
    fig = trend_figure(trend, lang)
    period = f"{_span(trend.start, trend.end, granularity)}"
    return (fig, period, _fmt(ratio, ".2f"),
            [_delta(t("energy.vs_prev", lang), _pct(ratio, trend.prev_ratio)), " ",
             _delta(t("energy.vs_yoy", lang), _pct(ratio, trend.yoy_ratio))],
            _fmt(sp, ".2f"), f"{t('energy.air', lang)} {trend.air_m3:,.0f} m³",
            _fmt(None if lr is None else lr * 100, ".1f"), f"{t('energy.energy', lang)} {trend.energy_kwh:,.0f} kWh",
            f"{sum(c.unloaded_kwh for c in comps):,.0f}",
            f"{unloaded:,.0f} h" if comps else "",
            compressor_table(comps, lang),
            f"{t('energy.source', lang)} · {t('energy.query', lang, ms=f'{ms:.0f}')}")


N_OUT = 12


def device_series(engine, device_id: str, days: int, now_s: float | None = None) -> tuple[str, list[dict]]:
    """A device's rollup rows over the last ``days`` days: hour rollups for 7 days or less, else day rollups.
    Returns ``(granularity, [{"t", "power_kw", "flow_m3_min", "pressure_min", "pressure_max", "temp_max"}])`` —
    power and flow are sample means (``power_sum / samples``), pressure and temperature the bucket extremes."""
    gran = "hour" if days <= 7 else "day"
    start, end = period_bounds(days, gran, now_s)
    tb = DEVICE_TABLES[gran].__table__
    stmt = (select(tb.c.bucket_ts, tb.c.samples, tb.c.power_sum, tb.c.flow_sum, tb.c.pressure_min,
                   tb.c.pressure_max, tb.c.temp_max)
            .where(tb.c.device_id == device_id, tb.c.bucket_ts >= int(start.timestamp()),
                   tb.c.bucket_ts < int(end.timestamp())).order_by(tb.c.bucket_ts))
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    out = []
    for ts, n, psum, fsum, pmin, pmax, tmax in rows:
        out.append({"t": _x(datetime.fromtimestamp(ts, CST)), "power_kw": psum / n if n else None,
                    "flow_m3_min": fsum / n if n else None, "pressure_min": pmin, "pressure_max": pmax,
                    "temp_max": tmax})
    return gran, out


def device_figure(gran: str, rows: list[dict], lang: str) -> dict:
    """Two stacked panels sharing time: power and flow (top), discharge pressure band and temperature (bottom)."""
    if not rows:
        return empty_figure(t("energy.no_data", lang))
    xs = [r["t"] for r in rows]
    mode = "lines" if len(rows) > 60 else "lines+markers"

    def tr(key, label, color, xa, ya, **kw):
        return {"type": "scatter", "mode": mode, "x": xs, "y": [r[key] for r in rows], "name": t(label, lang),
                "meta": key, "xaxis": xa, "yaxis": ya, "line": {"color": color, "width": 1.8},
                "marker": {"size": 3, "color": color}, "connectgaps": False, **kw}

    axis = {"gridcolor": "rgba(31, 74, 110, 0.4)", "zeroline": False, "tickfont": {"color": "#8aa0b6", "size": 10}}
    layout = {**base_layout(), "hovermode": "x unified", "margin": {"l": 46, "r": 46, "t": 34, "b": 30},
              "legend": {**base_layout()["legend"], "y": 1.16, "font": {"size": 10}},
              "xaxis": {**axis, "type": "date", "anchor": "y3", "matches": "x2", "showticklabels": True},
              "xaxis2": {**axis, "type": "date", "anchor": "y", "showticklabels": False},
              "yaxis": {**axis, "domain": [0.56, 1.0], "title": {"text": "kW", "font": {"size": 10}}},
              "yaxis2": {**axis, "domain": [0.56, 1.0], "overlaying": "y", "side": "right", "showgrid": False,
                         "tickformat": ".1f",
                         "title": {"text": "m³/min", "font": {"size": 10}}},
              "yaxis3": {**axis, "domain": [0.0, 0.44], "tickformat": ".2f", "title": {"text": "MPa", "font": {"size": 10}}},
              "yaxis4": {**axis, "domain": [0.0, 0.44], "overlaying": "y3", "side": "right", "showgrid": False,
                         "tickformat": ".1f",
                         "title": {"text": "℃", "font": {"size": 10}}}}
    data = [tr("power_kw", "energy.d_power", "#2bd3ff", "x2", "y"),
            tr("flow_m3_min", "energy.d_flow", "#22d37a", "x2", "y2"),
            tr("pressure_max", "energy.d_pmax", "#f2a93b", "x", "y3"),
            tr("pressure_min", "energy.d_pmin", "#f2a93b", "x", "y3", fill="tonexty",
               fillcolor="rgba(242, 169, 59, 0.12)"),
            tr("temp_max", "energy.d_temp", "#ff6b7a", "x", "y4")]
    data[3]["line"]["dash"] = "dot"
    return {"data": data, "layout": layout}


def register(app, ctx) -> None:
    app.clientside_callback(
        """function (nDev, nEn, current) {
            var trig = ((window.dash_clientside.callback_context || {}).triggered || [])[0];
            var tab = current || "devices";
            if (trig && trig.prop_id.indexOf("site-tab-energy") === 0) { tab = "energy"; }
            if (trig && trig.prop_id.indexOf("site-tab-devices") === 0) { tab = "devices"; }
            var en = tab === "energy";
            return [tab, en ? "cc-site-tab" : "cc-site-tab cc-on", en ? "cc-site-tab cc-on" : "cc-site-tab",
                    en ? "cc-site-pane cc-off" : "cc-site-pane", en ? "cc-site-pane cc-en-pane" : "cc-site-pane cc-en-pane cc-off"];
        }""",
        Output("energy-tab", "data"), Output("site-tab-devices", "className"), Output("site-tab-energy", "className"),
        Output("site-pane-devices", "className"), Output("site-pane-energy", "className"),
        Input("site-tab-devices", "n_clicks"), Input("site-tab-energy", "n_clicks"), State("energy-tab", "data"),
    )

    @app.callback(
        Output("energy-graph-slot", "children"), Output("energy-period", "children"),
        Output("energy-kpi-ratio", "children"), Output("energy-kpi-ratio-sub", "children"),
        Output("energy-kpi-sp", "children"), Output("energy-kpi-sp-sub", "children"),
        Output("energy-kpi-load", "children"), Output("energy-kpi-load-sub", "children"),
        Output("energy-kpi-unloaded", "children"), Output("energy-kpi-unloaded-sub", "children"),
        Output("energy-comp", "children"), Output("energy-note", "children"), Output("energy-dev", "data"),
        Input("station-open", "data"), Input("energy-tab", "data"), Input("energy-range", "value"),
        Input("energy-gran", "value"), Input("lang", "data"), State("energy-dev", "data"),
    )
    def update_energy(station_id, tab, days, granularity, lang, dev):
        if not station_id or tab != "energy":
            return (no_update,) * (N_OUT + 1)
        days = days if days in RANGES else DEFAULT_RANGE
        granularity = granularity if granularity in GRANULARITIES else DEFAULT_GRANULARITY
        try:
            out = energy_view(ctx.engine, station_id, int(days), granularity, lang)
        except (SQLAlchemyError, ValueError) as exc:
            log.warning("energy tab %s: %s", station_id, exc)
            blank = energy_graph("energy-graph", empty_figure(t("energy.no_data", lang)))
            return (blank,) + ("",) * (N_OUT - 1) + (None,)
        # keep the chosen compressor while it belongs to this station, else the station's first compressor
        if not (isinstance(dev, str) and dev.startswith(f"{station_id}-")):
            rows = [c for c in out[10] if isinstance(c, html.Div) and getattr(c, "id", None)]
            dev = rows[0].id["dev"] if rows else None
        return (energy_graph("energy-graph", out[0]),) + tuple(out[1:]) + (dev,)

    @app.callback(Output("energy-range", "options"), Output("energy-gran", "options"), Input("lang", "data"),
                  prevent_initial_call=True)
    def translate_pickers(lang):
        return range_options(lang), granularity_options(lang)

    @app.callback(
        Output("energy-dev", "data", allow_duplicate=True),
        Input({"type": "energy-dev-row", "dev": ALL}, "n_clicks"), prevent_initial_call=True,
    )
    def choose_device(clicks):
        trig = dash_ctx.triggered_id
        if not isinstance(trig, dict) or not any(clicks or []):
            return no_update
        return trig["dev"]

    @app.callback(
        Output("energy-dev-graph-slot", "children"), Output("energy-dev-name", "children"),
        Input("energy-dev", "data"), Input("energy-range", "value"), Input("lang", "data"),
        State("energy-tab", "data"),
    )
    def update_device(device_id, days, lang, tab):
        if not device_id or tab != "energy":
            return no_update, no_update
        try:
            gran, rows = device_series(ctx.engine, device_id, int(days if days in RANGES else DEFAULT_RANGE))
        except SQLAlchemyError as exc:
            log.warning("device panel %s: %s", device_id, exc)
            return energy_graph("energy-dev-graph", empty_figure(t("energy.no_data", lang))), device_id
        return energy_graph("energy-dev-graph", device_figure(gran, rows, lang)), f"{device_id} · {t('energy.d_' + ('hourly' if gran == 'hour' else 'daily'), lang)}"
