"""Cameras layer: station and street cameras of a city (or of one station), coloured by link state.

``data(scope, ctx)`` — a FeatureCollection of Point features, WGS-84 ``[lon, lat]``, with properties
``id, name, name_en, status (online|offline), kind (mjpeg|hls), station_id, stream_url, snapshot_url, city_adcode,
tooltip`` and drawing hints ``_color``, ``_r`` (px). Only the scope's own cameras: ``city:<adcode>`` → the city's
cameras, ``station:<id>`` → that station's; ``nation`` / ``province`` → none (cameras are a city-level layer).

Playing: ``stream_url`` (``/cameras/<id>/stream.mjpg``, :func:`dashboard.web.cameras.cameras_blueprint`) in an
``<img>``; ``hls`` cameras need a video player. Drawing: ``cc.draw.cityPoint`` (a circle marker from
``_color`` / ``_r``; the tooltip is bound from ``properties.tooltip`` by dash-leaflet).
"""
from __future__ import annotations

import html
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from datasources.sql.city_models import Camera
from i18n import t
from datasources.ingest.specs import CAMERAS as CAMERAS_SPEC
from layers.base import Layer, LayerContext, LegendItem, Scope, feature_collection
from layers.registry import register
from layers.draw import DRAW

key = "cameras"
COMPONENT_ID = "cameras"
#: (property, string key) shown in a popup / tooltip
popup_fields: tuple[tuple[str, str], ...] = (("name", "camera.name"), ("status", "camera.status"),
                                             ("station_id", "camera.station"))
COLORS = {"online": "#5fe3ff", "offline": "#5b6675"}


def _rows(ctx: LayerContext, scope: Scope) -> list[Camera]:
    stmt = select(Camera).order_by(Camera.camera_id)
    if scope.level == "city":
        stmt = stmt.where(Camera.city_adcode == scope.code)
    elif scope.level == "station":
        stmt = stmt.where(Camera.station_id == scope.code)
    else:
        return []
    with Session(ctx.engine) as s:
        return list(s.scalars(stmt))


def feature(cam: Camera, lang: str = "zh") -> dict:
    """GeoJSON Feature of one camera (see the module docstring for the properties)."""
    name = cam.name_en if lang == "en" and cam.name_en else cam.name
    tip = (f'<div class="cc-tip-name">{html.escape(name)}</div>'
           f'<div class="cc-tip-sub">{html.escape(t("camera.status." + cam.status, lang))}</div>')
    return {"type": "Feature", "id": cam.camera_id,
            "geometry": {"type": "Point", "coordinates": [cam.lon, cam.lat]},
            "properties": {"id": cam.camera_id, "name": cam.name, "name_en": cam.name_en, "status": cam.status,
                           "kind": cam.kind, "station_id": cam.station_id, "stream_url": cam.stream_url,
                           "snapshot_url": f"/cameras/{cam.camera_id}/snapshot.jpg" if cam.kind == "mjpeg" else None,
                           "city_adcode": cam.city_adcode, "tooltip": tip,
                           "_color": COLORS.get(cam.status, COLORS["offline"]), "_r": 6}}


def data(scope: Scope, ctx: LayerContext, lang: str = "zh") -> dict:
    """Cameras of ``scope`` as a GeoJSON FeatureCollection (WGS-84); empty for nation / province scopes.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: database errors.
    """
    return feature_collection([feature(c, lang) for c in _rows(ctx, scope)])


def legend(lang: str) -> list[LegendItem]:
    """Online / offline symbols (CSS classes ``cc-sym-camera``, ``cc-sym-camera-offline``)."""
    return [LegendItem("cc-sym cc-sym-camera", t("camera.online", lang)),
            LegendItem("cc-sym cc-sym-camera-offline", t("camera.offline", lang))]


def component(ctx: LayerContext, scope: Scope, lang: str, geojson: dict | None = None) -> Any:
    """``dl.GeoJSON`` of the scope's cameras (``pointToLayer`` = ``cc.draw.cityPoint``)."""
    import dash_leaflet as dl  # noqa: PLC0415

    return dl.GeoJSON(id=COMPONENT_ID, data=geojson if geojson is not None else data(scope, ctx, lang),
                      pointToLayer=DRAW("cityPoint"), hideout={"lang": lang},
                      bubblingMouseEvents=False)


# --------------------------------------------------------------------------- the registered layer


def camera_panel(engine, camera_id: str, lang: str):
    """Feature panel of a camera: its live MJPEG view (``<img src=stream_url>``; closing the panel removes the image
    and so ends the stream) or a link to an HLS stream, status, station, stream and WGS-84 position."""
    from dash import html  # noqa: PLC0415

    from layers.panels import display_name, facts, not_found  # noqa: PLC0415
    from layers.regions import region_name  # noqa: PLC0415

    with Session(engine) as s:
        cam = s.get(Camera, camera_id)
        if cam is None:
            return not_found(t("fpanel.camera", lang), camera_id, t("app.no_data", lang))
        s.expunge(cam)
    status = t(f"camera.status.{cam.status}", lang)
    place = " · ".join(x for x in (region_name(cam.city_adcode, lang), cam.camera_id) if x)
    live = html.Div(className="cc-fp-video" + (" cc-fp-video-off" if cam.status != "online" else ""), children=[
        html.Img(src=cam.stream_url, className="cc-fp-cam", id="camera-live", alt=display_name(cam, lang),
                 **{"data-cam": cam.camera_id}) if cam.kind == "mjpeg" else
        html.A(cam.stream_url, href=cam.stream_url, target="_blank", className="cc-fp-link"),
    ])
    table = facts([(t("camera.status", lang), html.Span(status, className=f"cc-fp-st cc-fp-st-{cam.status}"), None),
                   (t("fpanel.station", lang), cam.station_id or "—", None),
                   (t("fpanel.stream", lang), f"{cam.kind.upper()} · {cam.stream_url}", None),
                   ("WGS-84", f"{cam.lon:.5f}, {cam.lat:.5f}", None)])
    return ("cc-fp cc-fp-camera", t("fpanel.camera", lang), display_name(cam, lang), place, [live, table])


@register
class CamerasLayer(Layer):
    """Station and street cameras of a city (see the module docstring)."""

    key = "cameras"
    order = 20
    default_on = True
    title_key = "legend.cameras"
    api_key = "cameras"
    pane = "cc-points"
    click_kind = "camera"
    popup_fields = popup_fields
    import_spec = CAMERAS_SPEC

    def data(self, scope: Scope, ctx: LayerContext, lang: str = "zh") -> dict:
        return data(scope, ctx, lang)

    def legend(self, lang: str, opts=None) -> list[LegendItem]:
        return legend(lang)

    def hideout(self, lang: str) -> dict:
        return {"lang": lang, "kind": "camera"}

    def component_props(self) -> dict:
        return {"pointToLayer": DRAW("cityPoint"), "bubblingMouseEvents": False}

    def panel(self, ctx: LayerContext, kind: str, feature_id: str, lang: str):
        return camera_panel(ctx.engine, feature_id, lang)
