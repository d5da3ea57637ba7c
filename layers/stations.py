"""Stations layer: clustered points coloured by live state.

``data(scope, ctx)`` is a FeatureCollection of Point features in WGS-84 (``[lon, lat]`` degrees) with properties
``id, name, name_en, kind, lifecycle, state, capacity_m3_min, partner, province_adcode, city_adcode``. ``state``
is the live state at the time of the request; after first paint the browser keeps states in the GeoJSON
component's ``hideout.states`` (patched from ``station_states`` Socket.IO events), so a state change restyles
markers without touching ``data``.

Marker and cluster drawing: ``assets/cc_map.js`` (``cc.draw.stationPoint`` / ``stationCluster``).
"""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

import dash_leaflet as dl

from datasources.bus.messages import latest_key, now_ms, parse_latest
from datasources.sql.repository import load_station
from i18n import t
from datasources.ingest.specs import STATIONS
from layers.base import Layer, LayerContext, LegendItem, Scope, feature_collection
from layers.registry import register
from layers.devices import DEVICE_ORDER
from layers.display import to_display
from layers.draw import DRAW
from layers.live import effective_state, load_index, read_alarm_severities, read_summaries, station_info
from ops.vocab import STATION_LEGEND_ORDER

log = logging.getLogger(__name__)

key = "stations"
popup_fields: tuple[tuple[str, str], ...] = (("name", "legend.stations"), ("kind", "panel.kind"),
                                             ("lifecycle", "panel.lifecycle"), ("state", "panel.state"),
                                             ("partner", "panel.partner"), ("capacity_m3_min", "panel.capacity"))
#: legend order (:data:`ops.vocab.STATION_LEGEND_ORDER`)
LEGEND_STATES = STATION_LEGEND_ORDER
COMPONENT_ID = "stations"


def _index(ctx: LayerContext, scope: Scope):
    """The scope's stations (one SQL query, :func:`layers.live.load_index`)."""
    if scope.level == "province":
        return load_index(ctx.engine, province_adcode=scope.code)
    if scope.level == "city":
        return load_index(ctx.engine, city_adcode=scope.code)
    if scope.level == "station":
        return load_index(ctx.engine, station_id=scope.code)
    return load_index(ctx.engine)


def feature(info, state: str) -> dict:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [info.lon, info.lat]},
            "properties": {"id": info.station_id, "name": info.name, "name_en": info.name_en, "kind": info.kind,
                           "lifecycle": info.lifecycle, "state": state, "capacity_m3_min": info.capacity_m3_min,
                           "partner": info.partner, "province_adcode": info.province_adcode,
                           "city_adcode": info.city_adcode}}


def data(scope: Scope, ctx: LayerContext, lang: str = "zh", *, with_states: bool = True) -> dict:
    """Stations of ``scope`` as GeoJSON (WGS-84; ``lang`` unused: names come in both languages). ``with_states=False`` skips Redis (every state ``offline`` /
    ``not_built``) — used where states come separately (hideout).

    Raises:
        redis.exceptions.RedisError: Redis down and ``with_states``.
    """
    index = _index(ctx, scope)
    summaries = read_summaries(ctx.redis, index.keys()) if with_states and index else {}
    severities = _alarm_severities(ctx, index.keys()) if with_states and index else {}
    now = now_ms()
    return feature_collection([feature(info, effective_state(info, summaries.get(sid), now, ctx.stale_after_s,
                                                             severities.get(sid)))
                               for sid, info in index.items()])


def _alarm_severities(ctx: LayerContext, station_ids) -> dict[str, int]:
    """Worst active-alarm severity per station (:func:`layers.live.read_alarm_severities`); ``{}`` (states from
    the summaries alone, logged) when the alarm table cannot be read."""
    try:
        return read_alarm_severities(ctx.engine, station_ids)
    except SQLAlchemyError as exc:
        log.warning("stations layer: open alarms unreadable, states from summaries only: %s", exc)
        return {}


def legend(lang: str) -> list[LegendItem]:
    items = [LegendItem(f"cc-sym cc-sym-{s}", t(f"state.{s}", lang), key=f"state.{s}") for s in LEGEND_STATES]
    items.append(LegendItem("cc-sym cc-sym-cluster", t("legend.cluster", lang), key="legend.cluster", text="12"))
    return items


def component(ctx: LayerContext, scope: Scope, lang: str, geojson: dict | None = None) -> Any:
    """The clustered GeoJSON component (coordinates shifted to the display CRS, :mod:`layers.display`). Initial
    ``hideout.states`` come from the features' ``state``."""
    geojson = to_display(geojson if geojson is not None else data(scope, ctx))
    states = {f["properties"]["id"]: f["properties"]["state"] for f in geojson["features"]}
    return dl.GeoJSON(
        id=COMPONENT_ID, data=geojson, cluster=True, zoomToBoundsOnClick=True, spiderfyOnMaxZoom=True,
        superClusterOptions={"radius": 56, "maxZoom": 11},
        pointToLayer=DRAW("stationPoint"),
        clusterToLayer=DRAW("stationCluster"),
        hideout={"states": states, "lang": lang, "selected": None},
    )


def station_detail(ctx: LayerContext, station_id: str) -> dict | None:
    """One station with its devices and their current values (``cc:latest:<device>``), or ``None``.

    Returns::

        {"station": {<feature properties>, "lon", "lat"}, "state": "running", "summary": {...} | None,
         "devices": [{"device_id", "kind", "model", "online", "ts_ms", "error", "values": {name: number}}]}

    Raises:
        redis.exceptions.RedisError: Redis down.
    """
    spec = load_station(ctx.engine, station_id)
    if spec is None:
        return None
    info = station_info(spec)
    devices = sorted(spec.devices, key=lambda d: (DEVICE_ORDER.index(d.kind) if d.kind in DEVICE_ORDER else 99,
                                                  d.device_id))
    pipe = ctx.redis.pipeline(transaction=False)
    for d in devices:
        pipe.hgetall(latest_key(d.device_id))
    latest = pipe.execute() if devices else []
    summary = read_summaries(ctx.redis, [station_id]).get(station_id)
    out_devices = []
    for d, raw in zip(devices, latest):
        parsed = parse_latest(raw) if raw else {"values": {}}
        out_devices.append({"device_id": d.device_id, "kind": d.kind, "model": d.model,
                            "online": bool(parsed.get("online", False)), "ts_ms": parsed.get("ts_ms"),
                            "error": parsed.get("error"), "values": parsed["values"]})
    props = feature(info, effective_state(info, summary, now_ms(), ctx.stale_after_s,
                                          _alarm_severities(ctx, [station_id]).get(station_id)))["properties"]
    props.update(lon=info.lon, lat=info.lat)
    return {"station": props, "state": props["state"], "summary": summary, "devices": out_devices}


# --------------------------------------------------------------------------- the registered layer


@register
class StationsLayer(Layer):
    """Stations at every scope. Drawn by :mod:`callbacks.map` (component :func:`component`, live states through
    ``hideout.states``); the layer control hides / shows it by a class on ``<html>``. Imports station records."""

    key = "stations"
    order = 10
    scopes = ("nation", "province", "city", "station")
    default_on = True
    popup_fields = popup_fields
    import_spec = STATIONS

    def data(self, scope: Scope, ctx: LayerContext, lang: str = "zh") -> dict:
        return data(scope, ctx, lang)

    def legend(self, lang: str, opts=None) -> list[LegendItem]:
        return legend(lang)

    def after_import(self, engine) -> None:
        from layers import region_stats  # noqa: PLC0415

        region_stats.clear_cache()
