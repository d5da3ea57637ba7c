"""Cameras layer: station and street cameras of a city (or of one station), coloured by link state.

``data(scope, ctx)`` — a FeatureCollection of Point features, WGS-84 ``[lon, lat]``, with properties
``id, name, name_en, status (online|offline), kind (mjpeg|hls), station_id, stream_url, snapshot_url, city_adcode,
tooltip`` and drawing hints ``_color``, ``_r`` (px). Only the scope's own cameras: ``city:<adcode>`` → the city's
cameras, ``station:<id>`` → that station's; ``nation`` / ``province`` → none (cameras are a city-level layer).

Playing: ``stream_url`` (``/cameras/<id>/stream.mjpg``, :func:`datasources.sim.cameras.cameras_blueprint`) in an
``<img>``; ``hls`` cameras need a video player. Drawing: ``dashExtensions.cc.cityPoint`` (a circle marker from
``_color`` / ``_r``; the tooltip is bound from ``properties.tooltip`` by dash-leaflet).
"""
from __future__ import annotations

import html
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from datasources.sql.city_models import Camera
from i18n import t
from layers.base import LayerContext, LegendItem, Scope, feature_collection

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
    """``dl.GeoJSON`` of the scope's cameras (``pointToLayer`` = ``dashExtensions.cc.cityPoint``)."""
    import dash_leaflet as dl  # noqa: PLC0415

    return dl.GeoJSON(id=COMPONENT_ID, data=geojson if geojson is not None else data(scope, ctx, lang),
                      pointToLayer={"variable": "dashExtensions.cc.cityPoint"}, hideout={"lang": lang},
                      bubblingMouseEvents=False)
