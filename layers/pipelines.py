"""Pipelines layer: compressed-air delivery lines (station → enterprise) and monitored underground pipe segments of a
city, coloured by live pressure; a segment below its alarm threshold is highlighted (seed 003 地下管线监测: real-time
alarm cases; seed 004: pipe-network map with live monitoring).

``data(scope, ctx)`` — a FeatureCollection of LineString features, WGS-84 ``[lon, lat]``. Properties:
``id, kind (compressed_air|underground), medium, name, name_en, nominal_pressure_mpa, low_pressure_mpa,
sensor_device_id, pressure_mpa (live, MPa, or null), ts_ms, ratio (pressure / nominal), status, station_id,
enterprise_id, length_m, city_adcode, tooltip`` and drawing hints ``_color``, ``_weight``.

Live pressure: the ``pressure_mpa`` value (the name the station flow meter uses for its header pressure) of the
hash ``cc:latest:<sensor_device_id>`` (:func:`datasources.bus.messages.parse_latest`). A compressed-air line's sensor is its
station's flow meter ``<station>-FM``; underground sensors are ``PS-<city>-<n>``
(:func:`datasources.sim.pipe_sensors.publish_pipe_sensors` simulates them).

``status``: ``low`` — the alarm highlight: the segment's sensor has an active alarm of the alarm engine (the only
judge: rule ``pipe_pressure_low`` on the sensor, whose threshold is the pipe's ``low_pressure_mpa``, default
0.8 × nominal; for an air line read by its station's flow meter, also that station's ``header_pressure_low``;
:func:`alarmed_sensors`); for a sensor that is not a Modbus device (the engine cannot see it) or when the alarm
table cannot be read, the layer falls back to comparing the pressure with ``low_pressure_mpa`` itself; ``high``
(> :data:`HIGH_RATIO` × nominal); ``ok``; ``no_data`` (sensor silent, offline or older than ``ctx.stale_after_s``, or
Redis unreachable); ``no_sensor``.

Scopes: ``city:<adcode>`` → the city's pipes; ``station:<id>`` → that station's lines; nation / province → none.
Drawing needs no JS: :func:`component` puts each status in its own ``dl.GeoJSON`` with a fixed style.
"""
from __future__ import annotations

import html
import json
import logging
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from datasources.sql.city_models import Pipeline
from i18n import t
from datasources.ingest.specs import PIPELINES
from layers.base import Layer, LayerContext, LegendItem, Scope, feature_collection
from layers.registry import register
from layers.draw import DRAW
from ops.vocab import PIPE_DRAW_ORDER, PIPE_STATUSES, PIPE_STYLES

log = logging.getLogger(__name__)

key = "pipelines"
COMPONENT_ID = "pipelines"
PRESSURE_VALUE = "pressure_mpa"
#: above this × nominal a pipe is "high"
HIGH_RATIO = 1.15
#: default alarm threshold as a fraction of nominal when a pipe has none
LOW_RATIO = 0.8
#: statuses, most urgent first; Leaflet path styles per status; drawing order (the alarm last, on top) — one
#: definition in :mod:`ops.vocab`, given to the browser as ``cc.vocab.pipe_styles``
STATUSES = PIPE_STATUSES
STYLES: dict[str, dict] = PIPE_STYLES
DRAW_ORDER = PIPE_DRAW_ORDER
popup_fields: tuple[tuple[str, str], ...] = (("name", "pipe.name"), ("pressure_mpa", "pipe.pressure"),
                                             ("nominal_pressure_mpa", "pipe.nominal"), ("status", "pipe.status"))



#: device-scope rules whose active alarm on a pipe's sensor makes the segment ``low``
PIPE_ALARM_RULES = ("pipe_pressure_low",)
#: station-scope rules whose active alarm makes the station's air lines (sensor ``<station>-FM``) ``low``
STATION_PIPE_ALARM_RULES = ("header_pressure_low",)


def pressure_status(pressure_mpa: float | None, nominal_mpa: float, low_mpa: float | None,
                    has_sensor: bool = True, alarmed: bool | None = None) -> str:
    """Status of a pipe (see the module docstring). ``pressure_mpa``: live pressure, MPa gauge, or ``None``.
    ``alarmed``: whether the sensor has an active alarm (:func:`alarmed_sensors`) — then ``low`` exactly when
    alarmed, whatever the pressure; ``None`` (alarm state unknown) = compare with ``low_mpa`` (0.8 × nominal)."""
    if not has_sensor:
        return "no_sensor"
    if alarmed:
        return "low"
    if pressure_mpa is None:
        return "no_data"
    low = low_mpa if low_mpa is not None else LOW_RATIO * nominal_mpa
    if alarmed is None and pressure_mpa < low:
        return "low"
    if pressure_mpa > HIGH_RATIO * nominal_mpa:
        return "high"
    return "ok"


def live_pressures(redis_client, sensor_ids: list[str], stale_after_s: float,
                   now_ms: int | None = None) -> dict[str, tuple[float | None, int | None]]:
    """``{sensor: (pressure MPa or None, ts_ms or None)}`` from ``cc:latest:<sensor>`` hashes.

    ``None`` pressure: no hash, device offline, value missing or older than ``stale_after_s``. A Redis error gives
    ``None`` for every sensor (logged) — the map then shows "no live data" rather than failing.
    """
    from datasources.bus.messages import latest_key, now_ms as _now_ms, parse_latest  # noqa: PLC0415

    out: dict[str, tuple[float | None, int | None]] = {s: (None, None) for s in sensor_ids}
    if not sensor_ids or redis_client is None:
        return out
    now = _now_ms() if now_ms is None else now_ms
    try:
        pipe = redis_client.pipeline(transaction=False)
        for sid in sensor_ids:
            pipe.hgetall(latest_key(sid))
        raws = pipe.execute()
    except Exception as exc:  # noqa: BLE001 — redis errors of any kind: degrade to "no data"
        log.warning("pipelines: live pressures unavailable: %s", exc)
        return out
    for sid, raw in zip(sensor_ids, raws):
        if not raw:
            continue
        parsed = parse_latest(raw)
        val = parsed["values"].get(PRESSURE_VALUE)
        ts = parsed.get("ts_ms")
        fresh = ts is not None and now - ts <= stale_after_s * 1000
        if parsed.get("online", False) and fresh and isinstance(val, (int, float)):
            out[sid] = (float(val), ts)
        else:
            out[sid] = (None, ts)
    return out


def alarmed_sensors(engine, sensor_ids) -> dict[str, bool] | None:
    """The alarm engine's verdict per sensor: ``{sensor: in alarm}`` for the sensors among ``sensor_ids`` that are
    Modbus devices (``devices`` table — the engine sees only what the poller reads). In alarm: an active, not closed
    alarm of :data:`PIPE_ALARM_RULES` on the sensor, or for a ``<station>-FM`` sensor one of
    :data:`STATION_PIPE_ALARM_RULES` on that station. Sensors that are not devices are absent (the layer compares
    their pressure itself). Two SQL queries. ``None`` (logged) when the tables cannot be read."""
    from sqlalchemy import or_  # noqa: PLC0415
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

    from datasources.sql.alarm_models import Alarm  # noqa: PLC0415
    from datasources.sql.models import Device  # noqa: PLC0415

    ids = sorted(set(sensor_ids))
    if not ids:
        return {}
    try:
        with engine.connect() as conn:
            devices = set(conn.execute(select(Device.device_id).where(Device.device_id.in_(ids))).scalars())
            if not devices:
                return {}
            fm = {sid[: -len("-FM")]: sid for sid in devices if sid.endswith("-FM")}
            cond = [Alarm.rule_id.in_(PIPE_ALARM_RULES) & Alarm.device_id.in_(sorted(devices))]
            if fm:
                cond.append(Alarm.rule_id.in_(STATION_PIPE_ALARM_RULES) & Alarm.station_id.in_(sorted(fm)))
            rows = conn.execute(select(Alarm.rule_id, Alarm.station_id, Alarm.device_id).where(
                Alarm.active.is_(True), Alarm.state != "closed", or_(*cond))).all()
    except SQLAlchemyError as exc:
        log.warning("pipelines: alarm state unavailable, judging by pressure: %s", exc)
        return None
    out = {sid: False for sid in devices}
    for rule_id, station_id, device_id in rows:
        if rule_id in PIPE_ALARM_RULES and device_id in out:
            out[device_id] = True
        elif rule_id in STATION_PIPE_ALARM_RULES and station_id in fm:
            out[fm[station_id]] = True
    return out


def _rows(ctx: LayerContext, scope: Scope) -> list[Pipeline]:
    stmt = select(Pipeline).order_by(Pipeline.pipeline_id)
    if scope.level == "city":
        stmt = stmt.where(Pipeline.city_adcode == scope.code)
    elif scope.level == "station":
        stmt = stmt.where(Pipeline.station_id == scope.code)
    else:
        return []
    with Session(ctx.engine) as s:
        return list(s.scalars(stmt))


def feature(p: Pipeline, pressure: float | None, ts_ms: int | None, lang: str = "zh",
            alarmed: bool | None = None) -> dict:
    """GeoJSON Feature of one pipe with its live pressure and status (``alarmed``: see :func:`pressure_status`)."""
    status = pressure_status(pressure, p.nominal_pressure_mpa, p.low_pressure_mpa, p.sensor_device_id is not None,
                             alarmed)
    low = p.low_pressure_mpa if p.low_pressure_mpa is not None else round(LOW_RATIO * p.nominal_pressure_mpa, 4)
    name = p.name_en if lang == "en" and p.name_en else p.name
    value = "—" if pressure is None else f"{pressure:.3f} MPa"
    tip = (f'<div class="cc-tip-name">{html.escape(name)}</div>'
           f'<div class="cc-tip-sub">{html.escape(t("pipe.kind." + p.kind, lang))} · '
           f'{html.escape(t("pipe.medium." + p.medium, lang))}</div>'
           f'<div class="cc-tip-sub cc-pipe-{status}">{html.escape(t("pipe.pressure", lang))} {value} · '
           f'{html.escape(t("pipe.nominal", lang))} {p.nominal_pressure_mpa:g} MPa · '
           f'{html.escape(t("pipe.status." + status, lang))}</div>')
    style = STYLES[status]
    return {"type": "Feature", "id": p.pipeline_id, "geometry": json.loads(p.geometry),
            "properties": {"id": p.pipeline_id, "kind": p.kind, "medium": p.medium, "name": p.name,
                           "name_en": p.name_en, "nominal_pressure_mpa": p.nominal_pressure_mpa,
                           "low_pressure_mpa": low, "sensor_device_id": p.sensor_device_id,
                           "pressure_mpa": pressure, "ts_ms": ts_ms,
                           "ratio": None if pressure is None else round(pressure / p.nominal_pressure_mpa, 3),
                           "status": status, "station_id": p.station_id, "enterprise_id": p.enterprise_id,
                           "length_m": p.length_m, "city_adcode": p.city_adcode, "tooltip": tip,
                           "_color": style["color"], "_weight": style["weight"]}}


def data(scope: Scope, ctx: LayerContext, lang: str = "zh", now_ms: int | None = None) -> dict:
    """Pipes of ``scope`` with live pressures, as a GeoJSON FeatureCollection (WGS-84); alarm (``low``) features
    last. Empty for nation / province scopes.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: database errors (Redis errors only degrade to ``no_data``).
    """
    rows = _rows(ctx, scope)
    sensors = sorted({p.sensor_device_id for p in rows if p.sensor_device_id})
    live = live_pressures(ctx.redis, sensors, ctx.stale_after_s, now_ms)
    in_alarm = alarmed_sensors(ctx.engine, sensors)
    feats = [feature(p, *(live.get(p.sensor_device_id, (None, None)) if p.sensor_device_id else (None, None)), lang,
                     alarmed=(in_alarm or {}).get(p.sensor_device_id))
             for p in rows]
    feats.sort(key=lambda f: DRAW_ORDER.index(f["properties"]["status"]))
    return feature_collection(feats)


def alarms(geojson: Mapping) -> list[dict]:
    """The ``low`` features' properties of a :func:`data` result (for an alarm list / the alarm engine)."""
    return [f["properties"] for f in geojson.get("features", []) if f["properties"]["status"] == "low"]


def legend(lang: str) -> list[LegendItem]:
    """One row per status (CSS classes ``cc-sym-pipe-<status>``)."""
    return [LegendItem(f"cc-sym cc-sym-pipe cc-sym-pipe-{s}", t(f"pipe.status.{s}", lang))
            for s in STATUSES]


def component(ctx: LayerContext, scope: Scope, lang: str, geojson: dict | None = None) -> Any:
    """A ``dl.LayerGroup`` with one ``dl.GeoJSON`` per status (ids ``pipelines-<status>``), fixed styles, the alarm
    group drawn last; tooltips come from ``properties.tooltip``. No JS function needed."""
    import dash_leaflet as dl  # noqa: PLC0415

    geojson = geojson if geojson is not None else data(scope, ctx, lang)
    groups = {s: [] for s in DRAW_ORDER}
    for f in geojson["features"]:
        groups[f["properties"]["status"]].append(f)
    children = [dl.GeoJSON(id=f"{COMPONENT_ID}-{s}", data=feature_collection(groups[s]), style=STYLES[s],
                           bubblingMouseEvents=False) for s in DRAW_ORDER]
    return dl.LayerGroup(id=COMPONENT_ID, children=children)


# --------------------------------------------------------------------------- the registered layer


def pipe_panel(ctx: LayerContext, pipe_id: str, lang: str):
    """Feature panel of a pipe: its live pressure gauge and status, medium, nominal pressure, alarm threshold,
    length, sensor and station."""
    from dash import html  # noqa: PLC0415

    from layers.panels import display_name, facts  # noqa: PLC0415

    with Session(ctx.engine) as s:
        p = s.get(Pipeline, pipe_id)
        if p is None:
            return ("cc-fp", t("fpanel.pipe", lang), pipe_id, "", [])
        s.expunge(p)
    pressure, _ts = (None, None)
    if p.sensor_device_id:
        pressure, _ts = live_pressures(ctx.redis, [p.sensor_device_id], ctx.stale_after_s)[p.sensor_device_id]
    status = pressure_status(pressure, p.nominal_pressure_mpa, p.low_pressure_mpa, p.sensor_device_id is not None)
    low = p.low_pressure_mpa if p.low_pressure_mpa is not None else LOW_RATIO * p.nominal_pressure_mpa
    gauge = html.Div(className=f"cc-fp-gauge cc-fp-gauge-{status}", children=[
        html.Div(t("pipe.pressure", lang), className="cc-fp-figtitle"),
        html.Div([html.B("—" if pressure is None else f"{pressure:.3f}", **{"data-k": "pressure"}),
                  html.Span(" MPa")], className="cc-fp-big"),
        html.Div(t(f"pipe.status.{status}", lang), className=f"cc-fp-st cc-fp-st-{status}")])
    table = facts([
        (t("fpanel.medium", lang), t(f"pipe.medium.{p.medium}", lang), None),
        (t("pipe.nominal", lang), f"{p.nominal_pressure_mpa:g} MPa", None),
        (t("pipe.threshold", lang), f"{low:.3f} MPa", None),
        (t("fpanel.length", lang), f"{p.length_m:,.0f} m", None),
        (t("fpanel.sensor", lang), p.sensor_device_id or "—", None),
        (t("fpanel.station", lang), p.station_id or "—", None)])
    sub = " · ".join([t(f"pipe.kind.{p.kind}", lang), p.pipeline_id])
    return ("cc-fp cc-fp-pipe", t("fpanel.pipe", lang), display_name(p, lang), sub, [gauge, table])


@register
class PipelinesLayer(Layer):
    """Compressed-air lines and monitored underground pipes of a city, by live pressure; after first paint
    ``pipe_states`` Socket.IO deltas restyle them through ``hideout.pipes`` (``ccCity.applyPipes``)."""

    key = "pipelines"
    order = 30
    default_on = True
    title_key = "legend.pipelines"
    api_key = "pipelines"
    pane = "cc-lines"
    reload_on_reconnect = True
    click_kind = "pipe"
    popup_fields = popup_fields
    import_spec = PIPELINES

    def data(self, scope: Scope, ctx: LayerContext, lang: str = "zh") -> dict:
        return data(scope, ctx, lang)

    def legend(self, lang: str, opts=None) -> list[LegendItem]:
        return legend(lang)

    def hideout(self, lang: str) -> dict:
        return {"lang": lang, "pipes": {}}

    def component_props(self) -> dict:
        return {"style": DRAW("pipeStyle"),
                "onEachFeature": DRAW("pipeTooltip"), "bubblingMouseEvents": False}

    def panel(self, ctx: LayerContext, kind: str, feature_id: str, lang: str):
        return pipe_panel(ctx, feature_id, lang)
