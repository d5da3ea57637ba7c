"""City layers on the map: cameras, pipelines, street shops, parks and buildings, the enterprise heat map; the
layer control, their legends and the feature panel.

Each layer loads only its own scope's data and only while it is switched on:

=============  ==========================  ===================================================================
layer          scopes                      source
=============  ==========================  ===================================================================
stations       all (:mod:`callbacks.map`)  hidden / shown by a class on ``<html>`` (live states keep flowing)
cameras        city                        :func:`layers.cameras.data` → ``cameras.data``
pipelines      city                        :func:`layers.pipelines.data` (live pressures) → ``pipelines.data``;
                                           then ``pipe_states`` Socket.IO deltas (:mod:`dashboard.live.city_live`) →
                                           ``pipelines.hideout`` (restyle in place)
shops          city                        ``/api/layers/shops?scope&lang`` loaded by the browser (10,000 points)
heat           nation, province, city      :func:`layers.enterprise_heat.surface` for the map's bounds padded by 10 %
                                           → the ``enterprise-heat`` ``ImageOverlay`` (re-rendered on every move)
parks/bldgs    city, with the heat layer   :func:`layers.enterprise_heat.data` → ``enterprise-places.data``
=============  ==========================  ===================================================================

Everything sent to the map is shifted to the display CRS (:mod:`layers.display`); viewports coming back are shifted
to WGS-84 before use. A component's ``hideout.key`` remembers what it holds (layer on, scope, language), so a toggle
of one layer does not resend the others.

Clicks (clientside ``chooseFeature``) open the feature panel (server ``open_feature``): a camera's live MJPEG view
(``<img src=stream_url>``; closing the panel removes the image and so ends the stream), a shop's card with its QR
code and inspection history (:func:`layers.shops.popup_component`), a park's or building's figures
(:func:`layers.enterprise_heat.figures`), a pipe's live pressure.
"""
from __future__ import annotations

import logging
from urllib.parse import quote

from dash import ClientsideFunction, Input, Output, State, html, no_update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from datasources.sql.city_models import Camera, Pipeline
from geo.heat import colorbar_css
from i18n import t
from layers import cameras as cameras_layer
from layers import display
from layers import enterprise_heat
from layers import pipelines as pipelines_layer
from layers import regions as regions_layer
from layers import shops as shops_layer
from layers.base import ScopeError

log = logging.getLogger(__name__)

EMPTY_FC = {"type": "FeatureCollection", "features": []}
HEAT_PAD = 0.10
#: surfaces are rendered for the padded viewport; the map's zoom snaps to 0.1, the grid to whole zoom levels
HEAT_ZOOM_STEP = 0.5


def _scope(ctx, raw):
    try:
        return ctx.parse_scope(raw or "nation")
    except ScopeError:
        return None


def _is_on(key: str, toggles, scope) -> bool:
    return scope is not None and scope.level == "city" and key in (toggles or [])


def _keyed(hideout, key) -> bool:
    return isinstance(hideout, dict) and hideout.get("key") == key


def legend_rows(items, style_of=None) -> list:
    rows = []
    for item in items:
        style = style_of(item) if style_of else None
        rows.append(html.Div(className="cc-legend-row", children=[
            html.Span(item.text, className=item.symbol, style=style), html.Span(item.label)]))
    return rows


def padded_bbox(bounds, pad: float = HEAT_PAD):
    """Leaflet bounds ``[[s, w], [n, e]]`` (display CRS) → WGS-84 ``(w, s, e, n)`` padded by ``pad`` per side."""
    (s, w), (n, e) = bounds
    dx, dy = (e - w) * pad, (n - s) * pad
    w, s, e, n = display.bbox_from_display((w - dx, s - dy, e + dx, n + dy))
    return max(w, -180.0), max(s, -85.0), min(e, 180.0), min(n, 85.0)


def register(app, ctx) -> None:
    lctx = lambda: ctx.layer_ctx  # noqa: E731 — fresh per call (stale_after_s may change in tests)

    # ------------------------------------------------------------------ layer control state (clientside)
    app.clientside_callback(
        ClientsideFunction(namespace="ccCity", function_name="layerState"),
        Output("layer-control", "className"), Output("heat-controls", "className"), Output("drill-applied", "data"),
        Input("layer-toggles", "value"), Input("scope", "data"),
    )

    # ------------------------------------------------------------------ cameras
    @app.callback(
        Output("cameras", "data"), Output("cameras", "hideout"),
        Input("scope", "data"), Input("layer-toggles", "value"), Input("lang", "data"),
        State("cameras", "hideout"),
    )
    def load_cameras(scope_raw, toggles, lang, hideout):
        scope = _scope(ctx, scope_raw)
        on = _is_on("cameras", toggles, scope)
        key = [on, scope_raw if on else None, lang if on else None]
        if _keyed(hideout, key):
            return no_update, no_update
        data = display.to_display(cameras_layer.data(scope, lctx(), lang)) if on else EMPTY_FC
        return data, {"lang": lang, "kind": "camera", "key": key}

    # ------------------------------------------------------------------ pipelines
    @app.callback(
        Output("pipelines", "data"), Output("pipelines", "hideout"),
        Input("scope", "data"), Input("layer-toggles", "value"), Input("lang", "data"),
        Input("socket", "socketId"),
        State("pipelines", "hideout"),
    )
    def load_pipelines(scope_raw, toggles, lang, sid, hideout):
        scope = _scope(ctx, scope_raw)
        on = _is_on("pipelines", toggles, scope)
        key = [on, scope_raw if on else None, lang if on else None, sid if on else None]
        if _keyed(hideout, key):
            return no_update, no_update
        data = display.to_display(pipelines_layer.data(scope, lctx(), lang)) if on else EMPTY_FC
        return data, {"lang": lang, "pipes": {}, "key": key}

    app.clientside_callback(
        ClientsideFunction(namespace="ccCity", function_name="applyPipes"),
        Output("pipelines", "hideout", allow_duplicate=True),
        Input("socket", "data-pipe_states"),
        State("pipelines", "hideout"), State("scope", "data"),
        prevent_initial_call=True,
    )

    # ------------------------------------------------------------------ shops (loaded by URL, clustered)
    @app.callback(
        Output("shops", "data"), Output("shops", "url"), Output("shops", "hideout"),
        Input("scope", "data"), Input("layer-toggles", "value"), Input("lang", "data"),
        State("shops", "hideout"),
    )
    def load_shops(scope_raw, toggles, lang, hideout):
        scope = _scope(ctx, scope_raw)
        on = _is_on("shops", toggles, scope)
        key = [on, scope_raw if on else None, lang if on else None]
        if _keyed(hideout, key):
            return no_update, no_update, no_update
        if not on:
            return EMPTY_FC, None, {"lang": lang, "kind": "shop", "key": key}
        url = f"/api/layers/shops?scope={quote(scope.room, safe=':')}&lang={lang}"
        return None, url, {"lang": lang, "kind": "shop", "key": key}

    # ------------------------------------------------------------------ parks and buildings (with the heat layer)
    @app.callback(
        Output("enterprise-places", "data"), Output("enterprise-places", "hideout"),
        Input("scope", "data"), Input("layer-toggles", "value"), Input("lang", "data"),
        State("enterprise-places", "hideout"),
    )
    def load_places(scope_raw, toggles, lang, hideout):
        scope = _scope(ctx, scope_raw)
        on = _is_on("heat", toggles, scope)
        key = [on, scope_raw if on else None, lang if on else None]
        if _keyed(hideout, key):
            return no_update, no_update
        data = display.to_display(enterprise_heat.data(scope, lctx(), lang)) if on else EMPTY_FC
        return data, {"lang": lang, "key": key}

    # ------------------------------------------------------------------ enterprise heat surface for the viewport
    @app.callback(
        Output("enterprise-heat", "url"), Output("enterprise-heat", "bounds"), Output("enterprise-heat", "opacity"),
        Output("heat-total", "children"),
        Input("map", "bounds"), Input("map", "zoom"), Input("layer-toggles", "value"), Input("heat-metric", "value"),
        Input("heat-address", "value"), Input("scope", "data"), Input("lang", "data"),
        State("enterprise-heat", "opacity"),
    )
    def heat_surface(bounds, zoom, toggles, metric, address, scope_raw, lang, opacity):
        scope = _scope(ctx, scope_raw)
        if scope is None or "heat" not in (toggles or []) or scope.level == "station":
            if not opacity:
                return no_update, no_update, no_update, ""
            return BLANK_PNG, regions_layer.CHINA_BOUNDS, 0.0, ""
        try:
            if bounds and zoom is not None:
                bbox = padded_bbox(bounds)
                z = round(float(zoom) / HEAT_ZOOM_STEP) * HEAT_ZOOM_STEP
            else:
                bbox, z = None, None
            surf = enterprise_heat.surface(lctx(), scope, metric or "count", address or "registered", bbox, z)
        except (ValueError, KeyError, SQLAlchemyError) as exc:
            log.warning("heat surface %s: %s", scope.room, exc)
            return no_update, no_update, no_update, ""
        unit = t(f"heat.unit.{metric or 'count'}", lang)
        total = html.Span([t("layers.heat_total", lang), " ",
                           html.B(f"{surf['total']:,.0f}", id="heat-total-n", **{"data-total": surf["total"]}),
                           f" {unit}"])
        return surf["url"], display.bounds_to_display(surf["bounds"]), 0.85, total

    # ------------------------------------------------------------------ legends of the layers that are on
    @app.callback(
        Output("legend-extra", "children"),
        Input("layer-toggles", "value"), Input("scope", "data"), Input("heat-metric", "value"),
        Input("heat-address", "value"), Input("lang", "data"),
    )
    def legends(toggles, scope_raw, metric, address, lang):
        scope = _scope(ctx, scope_raw)
        toggles = toggles or []
        rows = [html.Div(className="cc-legend-row", children=[
            html.Span(className="cc-sym cc-sym-choro"), html.Span([t("heat.low", lang), " → ", t("heat.high", lang)])])]
        if "stations" in toggles:
            rows.append(html.Div(className="cc-legend-row", children=[
                html.Span(className="cc-sym cc-sym-size"), html.Span(t("drill.size_capacity", lang))]))
        out = [html.Div(className="cc-legend-sec", children=[
            html.Div(t("drill.choropleth", lang), className="cc-legend-sub"), *rows])]
        city = scope is not None and scope.level == "city"
        for key, mod, title in (("cameras", cameras_layer, "legend.cameras"),
                                ("pipelines", pipelines_layer, "legend.pipelines"),
                                ("shops", shops_layer, "legend.shops")):
            if key in toggles and city:
                out.append(html.Div(className=f"cc-legend-sec cc-legend-{key}", children=[
                    html.Div(t(title, lang), className="cc-legend-sub"), *legend_rows(mod.legend(lang))]))
        if "heat" in toggles:
            items = enterprise_heat.legend(lang, metric or "count", address or "registered")
            if not city:
                items = items[:1]
            heat_bar = {"background": colorbar_css()}
            out.append(html.Div(className="cc-legend-sec cc-legend-heat", children=[
                html.Div(t("legend.enterprise_heat", lang), className="cc-legend-sub"),
                *legend_rows(items, lambda it: heat_bar if "cc-sym-heat" in it.symbol else None)]))
        return out

    # ------------------------------------------------------------------ feature panel
    app.clientside_callback(
        ClientsideFunction(namespace="ccCity", function_name="chooseFeature"),
        Output("feature-open", "data"), Output("station-open", "data", allow_duplicate=True),
        Input("cameras", "clickData"), Input("shops", "clickData"), Input("enterprise-places", "clickData"),
        Input("pipelines", "clickData"), Input("feature-close", "n_clicks"), Input("scope", "data"),
        Input("station-open", "data"),
        State("feature-open", "data"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output("feature-panel", "className"), Output("feature-kind", "children"), Output("feature-title", "children"),
        Output("feature-sub", "children"), Output("feature-body", "children"),
        Input("feature-open", "data"), Input("lang", "data"),
    )
    def open_feature(feature, lang):
        closed = ("cc-fp cc-hidden", "", "", "", [])
        if not isinstance(feature, dict) or not feature.get("id"):
            return closed
        kind, fid = feature.get("kind"), str(feature["id"])
        try:
            if kind == "camera":
                return camera_panel(ctx.engine, fid, lang)
            if kind == "shop":
                return shop_panel(lctx(), fid, lang)
            if kind in ("park", "building"):
                return place_panel(lctx(), kind, fid, lang)
            if kind == "pipe":
                return pipe_panel(lctx(), fid, lang)
        except SQLAlchemyError as exc:
            log.warning("feature panel %s %s: %s", kind, fid, exc)
        return closed


def _blank_png() -> str:
    import base64  # noqa: PLC0415

    import numpy as np  # noqa: PLC0415

    from geo.heat import encode_png  # noqa: PLC0415

    return "data:image/png;base64," + base64.b64encode(encode_png(np.zeros((1, 1, 4), dtype=np.uint8))).decode()


#: a transparent 1×1 PNG: the heat overlay while the layer is off
BLANK_PNG = _blank_png()


def _facts(rows) -> html.Table:
    return html.Table(className="cc-fp-facts", children=html.Tbody([
        html.Tr([html.Th(k), html.Td(v, **({"data-k": dk} if dk else {}))]) for k, v, dk in rows]))


def _name(obj, lang: str) -> str:
    return obj.name_en if lang == "en" and getattr(obj, "name_en", "") else obj.name


def camera_panel(engine, camera_id: str, lang: str):
    with Session(engine) as s:
        cam = s.get(Camera, camera_id)
        if cam is None:
            return ("cc-fp", t("fpanel.camera", lang), camera_id, "", [html.Div(t("app.no_data", lang),
                                                                                className="cc-empty")])
        s.expunge(cam)
    status = t(f"camera.status.{cam.status}", lang)
    place = " · ".join(x for x in (regions_layer.region_name(cam.city_adcode, lang), cam.camera_id) if x)
    live = html.Div(className="cc-fp-video" + (" cc-fp-video-off" if cam.status != "online" else ""), children=[
        html.Img(src=cam.stream_url, className="cc-fp-cam", id="camera-live", alt=_name(cam, lang),
                 **{"data-cam": cam.camera_id}) if cam.kind == "mjpeg" else
        html.A(cam.stream_url, href=cam.stream_url, target="_blank", className="cc-fp-link"),
    ])
    facts = _facts([(t("camera.status", lang), html.Span(status, className=f"cc-fp-st cc-fp-st-{cam.status}"), None),
                    (t("fpanel.station", lang), cam.station_id or "—", None),
                    (t("fpanel.stream", lang), f"{cam.kind.upper()} · {cam.stream_url}", None),
                    ("WGS-84", f"{cam.lon:.5f}, {cam.lat:.5f}", None)])
    return ("cc-fp cc-fp-camera", t("fpanel.camera", lang), _name(cam, lang), place, [live, facts])


def shop_panel(lctx, shop_id: str, lang: str):
    detail = shops_layer.shop_detail(lctx, shop_id)
    if detail is None:
        return ("cc-fp", t("fpanel.shop", lang), shop_id, "", [html.Div(t("shop.not_found", lang),
                                                                        className="cc-empty")])
    s = detail["shop"]
    name = s["name_en"] if lang == "en" and s["name_en"] else s["name"]
    sub = " · ".join(x for x in (shops_layer.category_label(s["category"], lang), s["id"]) if x)
    return ("cc-fp cc-fp-shop", t("fpanel.shop", lang), name, sub, [shops_layer.popup_component(lctx, shop_id, lang)])


def place_panel(lctx, kind: str, place_id: str, lang: str):
    fig = enterprise_heat.figures(lctx, kind, place_id)
    if fig is None:
        return ("cc-fp", t(f"fpanel.{kind}", lang), place_id, "", [])
    name = fig["name_en"] if lang == "en" and fig["name_en"] else fig["name"]

    def col(label_key: str, f: dict, cls: str):
        return html.Div(className=f"cc-fp-figcol {cls}", children=[
            html.Div(t(label_key, lang), className="cc-fp-figtitle"),
            html.Div(className="cc-fp-fig", children=[html.B(f"{f['count']:,}", **{"data-k": f"{cls}-count"}),
                                                       html.Span(t("heat.unit.count", lang))]),
            html.Div(className="cc-fp-fig", children=[html.B(f"{f['capital_wan']:,.0f}"),
                                                       html.Span(t("heat.unit.capital", lang)),
                                                       html.I(t("fpanel.capital", lang))]),
            html.Div(className="cc-fp-fig", children=[html.B(f"{f['tax_wan']:,.0f}"),
                                                       html.Span(t("heat.unit.tax", lang)),
                                                       html.I(t("fpanel.tax", lang))]),
        ])

    body = html.Div(className="cc-fp-figs", children=[col("heat.registered", fig["registered"], "reg"),
                                                      col("heat.operating", fig["operating"], "op")])
    return (f"cc-fp cc-fp-{kind}", t(f"fpanel.{kind}", lang), name, place_id, [body])


def pipe_panel(lctx, pipe_id: str, lang: str):
    with Session(lctx.engine) as s:
        p = s.get(Pipeline, pipe_id)
        if p is None:
            return ("cc-fp", t("fpanel.pipe", lang), pipe_id, "", [])
        s.expunge(p)
    pressure, ts = (None, None)
    if p.sensor_device_id:
        pressure, ts = pipelines_layer.live_pressures(lctx.redis, [p.sensor_device_id],
                                                      lctx.stale_after_s)[p.sensor_device_id]
    status = pipelines_layer.pressure_status(pressure, p.nominal_pressure_mpa, p.low_pressure_mpa,
                                             p.sensor_device_id is not None)
    low = p.low_pressure_mpa if p.low_pressure_mpa is not None else pipelines_layer.LOW_RATIO * p.nominal_pressure_mpa
    gauge = html.Div(className=f"cc-fp-gauge cc-fp-gauge-{status}", children=[
        html.Div(t("pipe.pressure", lang), className="cc-fp-figtitle"),
        html.Div([html.B("—" if pressure is None else f"{pressure:.3f}", **{"data-k": "pressure"}),
                  html.Span(" MPa")], className="cc-fp-big"),
        html.Div(t(f"pipe.status.{status}", lang), className=f"cc-fp-st cc-fp-st-{status}")])
    facts = _facts([
        (t("fpanel.medium", lang), t(f"pipe.medium.{p.medium}", lang), None),
        (t("pipe.nominal", lang), f"{p.nominal_pressure_mpa:g} MPa", None),
        (t("pipe.threshold", lang), f"{low:.3f} MPa", None),
        (t("fpanel.length", lang), f"{p.length_m:,.0f} m", None),
        (t("fpanel.sensor", lang), p.sensor_device_id or "—", None),
        (t("fpanel.station", lang), p.station_id or "—", None)])
    sub = " · ".join([t(f"pipe.kind.{p.kind}", lang), p.pipeline_id])
    return ("cc-fp cc-fp-pipe", t("fpanel.pipe", lang), _name(p, lang), sub, [gauge, facts])
