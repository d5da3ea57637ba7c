"""The video-wall kiosk page ``/wall``: read-only, split across screens, a scene playlist, emergency command mode.

URL (all parameters optional)::

    /wall?token=<CC_WALL_TOKEN>&screen=1&of=2&scenes=nation,provinces,alarms,energy&dwell=20&lang=en

=============  ==========================================================================================  ========
parameter      meaning                                                                                     default
=============  ==========================================================================================  ========
``token``      signs the kiosk in as the read-only ``wall`` user (role ``wall``: permission ``view``       —
               only) when it equals ``$CC_WALL_TOKEN``; a wrong token is refused (HTTP 401, audited
               ``auth.wall_login`` / ``failed``). Without ``CC_WALL_TOKEN`` token sign-in is off and the
               wall needs a normal login (any role may view it). Each load with the right token starts a
               fresh wall session (audited ``ok``; an officer already signed in keeps their own session).
               The token is a URL parameter, so it shows in access logs: rotate it with the kiosks' URLs.
``screen``,    this screen's part when one wall is driven by several browsers: ``of=1`` the whole wall;    1, 1
``of``         ``of=2``: screen 1 = KPI strip + map, screen 2 = scene / emergency panels (larger)
``tile``       ``left`` = ``screen=1&of=2``, ``right`` = ``screen=2&of=2``                                 —
``scenes``     comma-separated playlist, from :data:`SCENES`                                               env
``dwell``      seconds per scene step (2 … 3600)                                                           env
``lang``       ``zh`` | ``en``                                                                             ``zh``
=============  ==========================================================================================  ========

Environment: ``CC_WALL_TOKEN`` (≥ 16 characters; unset: no token sign-in), ``CC_WALL_SCENES`` (default
``nation,provinces,alarms,energy``), ``CC_WALL_DWELL_S`` (default 20 s), ``CC_WALL_TOP_PROVINCES`` (steps of the
``provinces`` scene, default 3).

Playlist: the step shown is ``floor(epoch_ms / dwell_ms) mod steps``, so every screen of a wall shows the same scene
at the same moment without talking to each other (their clocks are NTP-synchronised). ``provinces`` expands into
one step per province with the most open alarms (then most stations).

Emergency command (seed 004 应急指挥): while any severity I alarm is active (not shelved), every screen switches to
the emergency layout — the alarm, its station zoomed in on the map, the station's camera, the work order's progress
— and returns to the playlist when it clears. Live through the ``nation`` Socket.IO room (``alarm``, ``workorder``,
``station_states``, ``kpis``; :mod:`dashboard.live.ops_bridge`, :mod:`dashboard.live.bridge`).

Resync: the server callback :func:`register` ``wall_sync`` joins the ``nation`` room and returns the snapshot
(states, KPIs, open alarms, work orders) on every socket (re)connect, on ``ops_resync`` and every
:data:`RESYNC_S` seconds (which also keeps the session from idling out). The page reloads itself (its URL keeps the
token) when the snapshot is older than three periods or the socket has been down for 90 s: a session that reached
its 12-hour limit is renewed that way.

Read-only: a ``wall`` session gets 403 on every state-changing HTTP request except Dash's callback endpoint (whose
acting callbacks authorise on the server and refuse the role), and the ``ops:*`` Socket.IO events refuse it
(:func:`dashboard.auth.guards.socketio_guard`). Opening any other page of the site with a wall session redirects to
``/wall``.
"""
from __future__ import annotations

import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

import dash_leaflet as dl
import redis
from dash import ClientsideFunction, Input, Output, State, dcc, html, no_update
from dash_socketio import DashSocketIO
from flask import Flask, Response, jsonify, redirect, request, session
from flask_login import current_user, login_user, logout_user
from sqlalchemy.exc import SQLAlchemyError

from dashboard.auth.core import create_user, get_user
from datasources.sql.audit import write_audit
from datasources.settings import Settings, get_settings
from i18n import normalize_lang, t
from ops.vocab import ORDER_FLOW, STATION_LEGEND_ORDER
from layers import regions as regions_layer
from layers import stations as stations_layer
from layers.base import NATION
from layers.display import point_to_display, to_display
from layers.draw import DRAW

log = logging.getLogger(__name__)

WALL_PATH = "/wall"
WALL_ROLE = "wall"
WALL_USER = "wall"
SCENES = ("nation", "provinces", "alarms", "energy")
DEFAULT_SCENES = ",".join(SCENES)
DEFAULT_DWELL_S = 20.0
MIN_TOKEN_LEN = 16
RESYNC_S = 60  # full resync period, s (also the session keep-alive: well under the 30-min idle timeout)
SOCKET_EVENTS = ["station_states", "kpis", "alarm", "workorder", "ops_resync"]
#: paths a wall session may GET besides the wall itself (data the wall page loads)
_WALL_READ_PREFIXES = ("/wall", "/_dash", "/assets/", "/i18n/", "/api/", "/cameras/", "/_favicon", "/favicon",
                       "/_reload-hash", "/auth/")
#: reference air-to-power ratio drawn on the energy scene, m³/kWh: ≈ GB 19153 grade 2 for a 7-bar screw compressor
#: (specific power ≈ 6.4–7.5 kW/(m³/min) → 60/7 ≈ 8.5 m³/kWh at the compressor, before distribution losses)
REFERENCE_RATIO_M3_PER_KWH = 8.0


@dataclass(frozen=True)
class WallConfig:
    """What one wall screen shows: ``part`` (``all`` | ``map`` | ``panel``), ``screen``/``of`` (1-based),
    ``scenes`` (names of :data:`SCENES`), ``dwell_s`` (seconds per step), ``top_provinces`` (steps of the
    ``provinces`` scene), ``lang``."""

    screen: int = 1
    of: int = 1
    scenes: tuple[str, ...] = SCENES
    dwell_s: float = DEFAULT_DWELL_S
    top_provinces: int = 3
    lang: str = "zh"

    @property
    def part(self) -> str:
        """``all`` (one screen), ``map`` (screen 1 of 2: KPI strip + map), ``panel`` (screen 2 of 2)."""
        if self.of <= 1:
            return "all"
        return "map" if self.screen == 1 else "panel"

    def to_client(self) -> dict:
        """What ``assets/cc_wall.js`` needs: the fields above, ``dwell_ms``, ``resync_ms``, ``china_bounds``
        (``[[south, west], [north, east]]``, display CRS) and ``reference_ratio`` (m³/kWh)."""
        return {"screen": self.screen, "of": self.of, "part": self.part, "scenes": list(self.scenes),
                "dwell_ms": int(self.dwell_s * 1000), "top_provinces": self.top_provinces, "lang": self.lang,
                "resync_ms": RESYNC_S * 1000, "china_bounds": regions_layer.CHINA_BOUNDS,
                "reference_ratio": REFERENCE_RATIO_M3_PER_KWH}


def _int(raw: Any, default: int, lo: int, hi: int) -> int:
    try:
        return max(lo, min(hi, int(raw)))
    except (TypeError, ValueError):
        return default


def _float(raw: Any, default: float, lo: float, hi: float) -> float:
    try:
        v = float(raw)
    except (TypeError, ValueError):
        return default
    return max(lo, min(hi, v)) if v == v else default


def parse_scenes(raw: str | None) -> tuple[str, ...]:
    """``"nation, alarms"`` → ``("nation", "alarms")``; unknown names are dropped (logged), empty → all scenes."""
    names = [s.strip().lower() for s in (raw or "").split(",") if s.strip()]
    bad = [s for s in names if s not in SCENES]
    if bad:
        log.warning("wall: unknown scenes %s ignored (known: %s)", bad, ", ".join(SCENES))
    good = tuple(s for s in names if s in SCENES)
    return good or SCENES


def wall_config(args: dict[str, str], settings: Settings | None = None) -> WallConfig:
    """The :class:`WallConfig` of a wall URL's query ``args`` (``{name: value}``), defaults from ``settings``
    (default :func:`datasources.settings.get_settings`): ``CC_WALL_SCENES``, ``CC_WALL_DWELL_S``,
    ``CC_WALL_TOP_PROVINCES``."""
    env = settings or get_settings()
    tile = (args.get("tile") or "").lower()
    if tile in ("left", "right"):
        screen, of = (1 if tile == "left" else 2), 2
    else:
        of = _int(args.get("of"), 1, 1, 2)
        screen = _int(args.get("screen"), 1, 1, of)
    dwell_default = _float(env.wall_dwell_s, DEFAULT_DWELL_S, 2.0, 3600.0)
    return WallConfig(screen=screen, of=of,
                      scenes=parse_scenes(args.get("scenes") or env.wall_scenes or DEFAULT_SCENES),
                      dwell_s=_float(args.get("dwell"), dwell_default, 2.0, 3600.0),
                      top_provinces=_int(env.wall_top_provinces, 3, 1, 10),
                      lang=normalize_lang(args.get("lang")))


def _page_args() -> dict[str, str] | None:
    """Query of the wall page this request belongs to (the page itself, or its ``/_dash-layout`` fetch whose
    ``Referer`` is the page — ``Referrer-Policy: same-origin``), or ``None`` when it is not the wall."""
    try:
        if request.path.rstrip("/") == WALL_PATH:
            return {k: v for k, v in request.args.items()}
        ref = request.referrer
        if ref:
            u = urlparse(ref)
            if u.path.rstrip("/") == WALL_PATH:
                return {k: v[0] for k, v in parse_qs(u.query).items() if v}
    except RuntimeError:  # outside a request
        return None
    return None


def is_wall_request() -> bool:
    """True when the current request is the wall page or its layout fetch (for ``serve_layout``)."""
    return _page_args() is not None


# ---------------------------------------------------------------------------------------------- token sign-in
def wall_token(settings: Settings | None = None) -> str | None:
    """``$CC_WALL_TOKEN`` (from ``settings``, default :func:`datasources.settings.get_settings`) if set and at least
    :data:`MIN_TOKEN_LEN` characters, else ``None`` (token sign-in off; a too-short token is refused with a logged
    error rather than accepted)."""
    raw = ((settings or get_settings()).wall_token or "").strip()
    if not raw:
        return None
    if len(raw) < MIN_TOKEN_LEN:
        log.error("CC_WALL_TOKEN is shorter than %d characters: wall token sign-in disabled", MIN_TOKEN_LEN)
        return None
    return raw


def ensure_wall_user(engine):
    """The read-only ``wall`` login (role ``wall``), created on first use with a random password nobody knows
    (it signs in only by token). Returns the :class:`dashboard.auth.core.AuthUser`.

    Raises:
        PermissionError: a user named ``wall`` exists with another role (never hand its rights to a kiosk).
    """
    user = get_user(engine, WALL_USER)
    if user is None:
        try:
            user = create_user(engine, WALL_USER, secrets.token_urlsafe(24) + "aA1!", WALL_ROLE,
                               display_name="视频墙 / video wall")
        except ValueError:  # another screen created it a moment ago
            user = get_user(engine, WALL_USER)
    if user is None or user.role != WALL_ROLE:
        raise PermissionError(f"user {WALL_USER!r} exists with role {getattr(user, 'role', None)!r}, not {WALL_ROLE!r}")
    return user


def _refused_page(lang: str) -> Response:
    title = t("wall.token_refused_title", lang)
    body = (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title></head>'
            f'<body style="background:#040a13;color:#dbe7f3;font:2rem sans-serif;display:flex;'
            f'align-items:center;justify-content:center;height:100vh;margin:0"><p id="wall-refused">'
            f'{t("wall.token_refused", lang)}</p></body></html>')
    return Response(body, status=401, mimetype="text/html")


def install_wall(server: Flask, engine) -> None:
    """Token sign-in and the read-only fence of wall sessions on ``server`` (call after
    :func:`dashboard.auth.session.init_auth`). The hook runs before every other ``before_request`` so that
    ``/wall?token=…`` signs in before the login redirect."""
    auth_state = server.extensions["cc_auth"]

    def _wall_gate():
        path = request.path
        user = current_user
        authed = bool(getattr(user, "is_authenticated", False))
        if path.rstrip("/") == WALL_PATH and "token" in request.args:
            expected = wall_token()
            if expected is not None:
                given = request.args.get("token", "")
                detail = {"remote_addr": request.remote_addr or "", "screen": request.args.get("screen")
                          or request.args.get("tile") or "1"}
                if not hmac.compare_digest(given.encode(), expected.encode()):
                    write_audit(engine, WALL_USER, WALL_ROLE, "auth.wall_login", f"user:{WALL_USER}", "failed",
                                {**detail, "reason": "wrong token"})
                    if authed and user.role == WALL_ROLE:  # a rotated token ends the kiosk's session too
                        logout_user()
                        session.clear()
                    return _refused_page(normalize_lang(request.args.get("lang")))
                if authed and user.role != WALL_ROLE:  # an officer opening the wall keeps their own session
                    return None
                # (a wall session is renewed on every load with the token: one that reached its idle / 12-hour
                # limit would otherwise be ended by the session clock right after this hook)
                try:
                    wall_user = ensure_wall_user(engine)
                except (PermissionError, SQLAlchemyError) as exc:
                    log.error("wall sign-in impossible: %s", exc)
                    return _refused_page(normalize_lang(request.args.get("lang")))
                session.clear()
                login_user(wall_user, remember=False)
                session.permanent = True
                session["_cc_since"] = session["_cc_seen"] = auth_state.clock()
                write_audit(engine, WALL_USER, WALL_ROLE, "auth.wall_login", f"user:{WALL_USER}", "ok", detail)
                return None
        if authed and getattr(user, "role", None) == WALL_ROLE:
            if request.method not in ("GET", "HEAD", "OPTIONS") and not path.startswith("/_dash-update-component"):
                write_audit(engine, user.username, user.role, f"http:{request.method} {path}"[:64], path, "refused",
                            {"reason": "the video wall is read-only"})
                return jsonify({"ok": False, "error": "the video wall session is read-only"}), 403
            if request.method == "GET" and not path.startswith(_WALL_READ_PREFIXES):
                return redirect(WALL_PATH)
        return None

    server.before_request_funcs.setdefault(None, []).insert(0, _wall_gate)
    if wall_token() is None:
        log.info("wall: CC_WALL_TOKEN unset: /wall needs a normal login")
    else:
        log.info("wall: token sign-in enabled at %s?token=…", WALL_PATH)


# ---------------------------------------------------------------------------------------------- layout
def _tile(key: str, lang: str, value_id: str, unit: str = "", sub_id: str | None = None, cls: str = "") -> html.Div:
    return html.Div(className=f"cc-w-kpi {cls}", children=[
        html.Div(t(key, lang), className="cc-w-kpi-label"),
        html.Div(className="cc-w-kpi-row", children=[html.Span("—", id=value_id, className="cc-w-kpi-value"),
                                                     html.Span(unit, className="cc-w-kpi-unit") if unit else None]),
        html.Div("", id=sub_id, className="cc-w-kpi-sub") if sub_id else None,
    ])


def _station_index(ctx) -> dict[str, list]:
    """``{station_id: [lat, lon, name, name_en, province_adcode, city_adcode]}`` in the display CRS."""
    out = {}
    for sid, info in ctx.station_index().items():
        lon, lat = point_to_display(info.lon, info.lat)
        out[sid] = [round(lat, 6), round(lon, 6), info.name, info.name_en or info.name, info.province_adcode,
                    info.city_adcode]
    return out


def _map(ctx, lang: str) -> html.Section:
    lctx = ctx.layer_ctx
    try:
        geojson = stations_layer.data(NATION, lctx)
    except redis.RedisError as exc:
        log.warning("wall: no live states for first paint (%s)", exc)
        geojson = stations_layer.data(NATION, lctx, with_states=False)
    geojson = to_display(geojson)
    states = {f["properties"]["id"]: f["properties"]["state"] for f in geojson["features"]}
    bounds = regions_layer.CHINA_BOUNDS
    layers = [
        dl.GeoJSON(id="wall-regions", url=regions_layer.url(NATION),
                   style=DRAW("regionStyle"),
                   hideout={"lang": lang, "selected": None}, interactive=False),
        dl.GeoJSON(id="wall-region-labels", url=regions_layer.labels_url(NATION),
                   pointToLayer=DRAW("regionLabel"), hideout={"lang": lang},
                   interactive=False),
        dl.GeoJSON(id="wall-stations", data=geojson, cluster=True, zoomToBoundsOnClick=False,
                   superClusterOptions={"radius": 40, "maxZoom": 8},
                   pointToLayer=DRAW("stationPoint"),
                   clusterToLayer=DRAW("stationCluster"),
                   hideout={"states": states, "lang": lang, "selected": None}),
    ]
    return html.Section(id="wall-mapbox", className="cc-w-mapbox", children=[
        dl.Map(id="wall-map", children=layers, bounds=bounds, center=[36.0, 104.0],
               boundsOptions={"padding": [4, 4]}, zoomSnap=0.1, zoomDelta=0.5, minZoom=3, maxZoom=17,
               attributionControl=False, zoomControl=False, dragging=False, scrollWheelZoom=False,
               doubleClickZoom=False, boxZoom=False, keyboard=False, className="cc-map cc-w-map",
               style={"width": "100%", "height": "100%"}),
        html.Div(className="cc-w-map-title", children=[html.Span("", id="wall-map-title"),
                                                        html.Span("", id="wall-map-sub", className="cc-w-map-sub")]),
        html.Div(id="wall-emg-banner", className="cc-w-emg-banner", children=[
            html.Span("I", className="cc-w-sev cc-w-sev1"), html.Span(t("wall.emg.banner", lang)),
            html.Span("", id="wall-emg-banner-station", className="cc-w-emg-banner-st")]),
        html.Div(className="cc-w-legend", children=[
            html.Span(className="cc-w-legend-item", children=[html.I(className=f"cc-w-dot cc-bg-{s}"),
                                                              t(f"state.{s}", lang)])
            for s in STATION_LEGEND_ORDER]),
    ])


def _panels(lang: str) -> html.Aside:
    def head(key: str, extra_id: str | None = None) -> html.Div:
        return html.Div(className="cc-w-card-head", children=[
            html.H2(t(key, lang)), html.Span("", id=extra_id, className="cc-w-tag") if extra_id else None])

    return html.Aside(id="wall-panel", className="cc-w-panel", children=[
        # daily scenes: one card per scene, only the current one shown
        html.Section(id="wall-p-nation", className="cc-w-card cc-w-scene-card", **{"data-scene": "nation"}, children=[
            head("wall.rank.title"),
            html.Div(className="cc-w-mix", children=[
                html.Div(className="cc-w-mix-bar", id="wall-mix-bar"),
                html.Div(className="cc-w-mix-legend", id="wall-mix-legend")]),
            html.Div(className="cc-w-table cc-w-rank", children=[
                html.Div(className="cc-w-tr cc-w-th", children=[
                    html.Span("#"), html.Span(t("wall.rank.region", lang)),
                    html.Span(t("wall.rank.online", lang), className="cc-num"),
                    html.Span(t("wall.rank.alarms", lang), className="cc-num"),
                    html.Span(t("wall.rank.flow", lang), className="cc-num"),
                    html.Span(t("wall.rank.ratio", lang), className="cc-num")]),
                html.Div(id="wall-rank-rows", className="cc-w-rows")]),
            html.H3(t("wall.nation.latest", lang), className="cc-w-sub"),
            html.Div(id="wall-nation-alarms", className="cc-w-rows cc-w-alist"),
        ]),
        html.Section(id="wall-p-province", className="cc-w-card cc-w-scene-card", **{"data-scene": "province"},
                     children=[
            head("wall.prov.title", "wall-prov-rank"),
            html.Div(id="wall-prov-name", className="cc-w-prov-name"),
            html.Div(className="cc-w-prov-kpis", children=[
                _tile("wall.prov.alarms", lang, "wall-prov-alarms", cls="cc-w-kpi-alarm"),
                _tile("wall.prov.online", lang, "wall-prov-online", sub_id="wall-prov-total"),
                _tile("wall.prov.flow", lang, "wall-prov-flow", "m³/min"),
                _tile("wall.kpi.ratio", lang, "wall-prov-ratio", "m³/kWh")]),
            html.H3(t("wall.prov.list", lang), className="cc-w-sub"),
            html.Div(id="wall-prov-alarms-list", className="cc-w-rows cc-w-alist"),
            html.H3(t("wall.prov.stations_list", lang), className="cc-w-sub"),
            html.Div(id="wall-prov-stations", className="cc-w-rows cc-w-stlist"),
            html.Div(id="wall-prov-top", className="cc-w-prov-top"),
        ]),
        html.Section(id="wall-p-alarms", className="cc-w-card cc-w-scene-card", **{"data-scene": "alarms"}, children=[
            head("wall.alarms.title", "wall-alarms-count"),
            html.Div(className="cc-w-sevbar", id="wall-sevbar"),
            html.Div(className="cc-w-table cc-w-atable", children=[
                html.Div(className="cc-w-tr cc-w-th", children=[
                    html.Span(t("wall.alarms.sev", lang)), html.Span(t("wall.alarms.station", lang)),
                    html.Span(t("wall.alarms.what", lang)), html.Span(t("wall.alarms.raised", lang)),
                    html.Span(t("wall.alarms.age", lang), className="cc-num"),
                    html.Span(t("wall.alarms.state", lang)), html.Span(t("wall.alarms.order", lang))]),
                html.Div(id="wall-alarm-rows", className="cc-w-rows")]),
            html.Div("", id="wall-alarms-more", className="cc-w-more"),
        ]),
        html.Section(id="wall-p-energy", className="cc-w-card cc-w-scene-card", **{"data-scene": "energy"}, children=[
            head("wall.energy.title"),
            html.Div(className="cc-w-energy-top", children=[
                html.Div(className="cc-w-gauge", children=[
                    html.Div(t("wall.energy.fleet_ratio", lang), className="cc-w-kpi-label"),
                    html.Div(className="cc-w-kpi-row", children=[
                        html.Span("—", id="wall-en-ratio", className="cc-w-big"),
                        html.Span("m³/kWh", className="cc-w-kpi-unit")]),
                    html.Div("", id="wall-en-ref", className="cc-w-kpi-sub")]),
                _tile("wall.kpi.specific", lang, "wall-en-specific", "kW/(m³/min)", sub_id="wall-en-specific-hint"),
                _tile("wall.kpi.loaded", lang, "wall-en-loaded", sub_id="wall-en-loaded-total")]),
            html.H3(t("wall.energy.rank", lang), className="cc-w-sub"),
            html.Div(id="wall-en-bars", className="cc-w-rows cc-w-bars"),
        ]),
        # emergency command: replaces the scene cards while a severity I alarm is active
        html.Section(id="wall-p-emg", className="cc-w-card cc-w-emg", children=[
            html.Div(className="cc-w-emg-alarm", children=[
                html.Div(className="cc-w-card-head", children=[
                    html.H2(t("wall.emg.alarm", lang)), html.Span("", id="wall-emg-state", className="cc-w-tag")]),
                html.Div(className="cc-w-emg-title", children=[
                    html.Span("I", className="cc-w-sev cc-w-sev1 cc-w-sev-big"),
                    html.Div(children=[html.Div("", id="wall-emg-what", className="cc-w-emg-what"),
                                       html.Div("", id="wall-emg-station", className="cc-w-emg-station")])]),
                html.Div(className="cc-w-emg-facts", children=[
                    html.Div(className="cc-w-fact", children=[html.Span(t("wall.emg.raised", lang)),
                                                              html.B("—", id="wall-emg-raised")]),
                    html.Div(className="cc-w-fact cc-w-fact-hot", children=[html.Span(t("wall.emg.elapsed", lang)),
                                                                            html.B("—", id="wall-emg-elapsed")]),
                    html.Div(className="cc-w-fact", children=[html.Span(t("wall.emg.value", lang)),
                                                              html.B("—", id="wall-emg-value")]),
                    html.Div(className="cc-w-fact", children=[html.Span(t("wall.emg.ack", lang)),
                                                              html.B("—", id="wall-emg-ack")])]),
            ]),
            html.Div(className="cc-w-emg-cam", children=[
                html.Div(className="cc-w-card-head", children=[
                    html.H2(t("wall.emg.camera", lang)), html.Span("", id="wall-emg-cam-name", className="cc-w-tag")]),
                html.Div(className="cc-w-cam-frame", children=[
                    html.Img(id="wall-emg-cam", className="cc-w-cam-img", alt=""),
                    html.Div(t("wall.emg.no_camera", lang), id="wall-emg-nocam", className="cc-w-cam-none")])]),
            html.Div(className="cc-w-emg-order", children=[
                html.Div(className="cc-w-card-head", children=[
                    html.H2(t("wall.emg.order", lang)), html.Span("", id="wall-emg-order-id", className="cc-w-tag")]),
                html.Div(id="wall-emg-steps", className="cc-w-steps", children=[
                    html.Div(className="cc-w-step", **{"data-step": s}, children=[
                        html.I(className="cc-w-step-dot"), html.Span(t(f"wall.order.{s}", lang)),
                        html.Small("", className="cc-w-step-ts")])
                    for s in ORDER_FLOW]),
                html.Div(className="cc-w-emg-order-facts", children=[
                    html.Div(className="cc-w-fact", children=[html.Span(t("wall.emg.assignee", lang)),
                                                              html.B("—", id="wall-emg-assignee")]),
                    html.Div(className="cc-w-fact", children=[html.Span(t("wall.emg.sla", lang)),
                                                              html.B("—", id="wall-emg-sla")])]),
                html.H3(t("wall.emg.others", lang), id="wall-emg-others-head", className="cc-w-sub cc-w-hidden"),
                html.Div("", id="wall-emg-others", className="cc-w-rows cc-w-alist"),
            ]),
        ]),
    ])


def build_layout(ctx, cfg: WallConfig) -> html.Div:
    """The wall page for ``cfg`` (language fixed at load: ``?lang=`` reloads)."""
    lang = cfg.lang
    try:
        index = _station_index(ctx)
    except SQLAlchemyError as exc:
        log.warning("wall: station index unavailable (%s)", exc)
        index = {}
    scene_chips = []
    return html.Div(id="wall-root", className=f"cc-wall cc-w-part-{cfg.part} cc-w-mode-daily",
                    **{"data-lang": lang, "data-part": cfg.part, "data-mode": "daily", "data-scene": "",
                       "data-config": json.dumps(cfg.to_client())}, children=[
        DashSocketIO(id="wall-socket", eventNames=SOCKET_EVENTS),
        dcc.Store(id="wall-config", data=cfg.to_client()),
        dcc.Store(id="wall-index", data=index),
        dcc.Store(id="wall-snapshot"), dcc.Store(id="wall-focus"), dcc.Store(id="wall-focus-detail"),
        dcc.Store(id="wall-drawn"),
        dcc.Interval(id="wall-resync", interval=RESYNC_S * 1000),
        html.Header(className="cc-w-head", children=[
            html.Div(className="cc-w-brand", children=[
                html.Div(className="cc-logo", children=[html.Span(className="cc-logo-ring"), html.Span("CA")]),
                html.Div(children=[html.H1(t("wall.title", lang), className="cc-w-title"),
                                   html.Div(t("wall.subtitle", lang), className="cc-w-subtitle")])]),
            html.Div(className="cc-w-mode", children=[
                html.Span(t("wall.mode.daily", lang), id="wall-mode", className="cc-w-mode-badge"),
                html.Span(t("wall.screen", lang, s=cfg.screen, n=cfg.of), className="cc-w-screen")
                if cfg.of > 1 else None]),
            html.Div(className="cc-w-scenes", children=[
                html.Div(id="wall-scene-chips", className="cc-w-chips", children=scene_chips),
                html.Div(className="cc-w-scene-now", children=[
                    html.Span("", id="wall-scene-name", className="cc-w-scene-name"),
                    html.Span(className="cc-w-next", children=[
                        html.Span(t("wall.next", lang) + " ›", className="cc-w-next-label"),
                        html.Span("", id="wall-scene-next", className="cc-w-next-name"),
                        html.Span("", id="wall-scene-left", className="cc-w-next-left")])]),
                html.Div(className="cc-w-progress", children=[html.I(id="wall-scene-progress")])]),
            html.Div(className="cc-w-clock", children=[html.Div("--:--:--", id="wall-clock", className="cc-w-time"),
                                                       html.Div("", id="wall-date", className="cc-w-date")]),
            html.Div(id="wall-conn", className="cc-w-conn cc-w-conn-down", children=[
                html.I(className="cc-w-conn-dot"), html.Span(t("wall.conn.down", lang), id="wall-conn-text")]),
        ]),
        html.Section(className="cc-w-kpis", children=[
            _tile("wall.kpi.online", lang, "wall-k-online", sub_id="wall-k-online-sub"),
            _tile("wall.kpi.loaded", lang, "wall-k-loaded", sub_id="wall-k-loaded-sub"),
            _tile("wall.kpi.flow", lang, "wall-k-flow", "m³/min"),
            _tile("wall.kpi.power", lang, "wall-k-power", "kW"),
            _tile("wall.kpi.ratio", lang, "wall-k-ratio", "m³/kWh", sub_id="wall-k-ratio-sub", cls="cc-w-kpi-ratio"),
            _tile("wall.kpi.alarm_stations", lang, "wall-k-alarm", sub_id="wall-k-alarm-sub", cls="cc-w-kpi-alarm"),
            _tile("wall.kpi.open_alarms", lang, "wall-k-open", sub_id="wall-k-open-sub", cls="cc-w-kpi-alarm"),
            _tile("wall.kpi.orders", lang, "wall-k-orders", sub_id="wall-k-orders-sub"),
        ]),
        html.Main(className="cc-w-main", children=[_map(ctx, lang), _panels(lang)]),
        html.Footer(className="cc-w-ticker", children=[
            html.Span(t("wall.ticker.label", lang), className="cc-w-ticker-label"),
            html.Div(className="cc-w-ticker-win", children=[html.Div(id="wall-ticker", className="cc-w-ticker-track")]),
            html.Span(className="cc-w-updated", children=[t("wall.updated", lang), " ",
                                                          html.B("—", id="wall-updated")])]),
    ])


def page_layout(ctx) -> html.Div:  # noqa: D401
    """The wall layout of the current request (``serve_layout`` calls this when :func:`is_wall_request`)."""
    return build_layout(ctx, wall_config(_page_args() or {}))


# ---------------------------------------------------------------------------------------------- callbacks
_BOUNDS: dict[str, list] = {}


def _province_bounds(ctx, rooms: list[str]) -> dict[str, list]:
    """``{room: [[s, w], [n, e]]}`` in the display CRS (cached once the region index is ready)."""
    out = {}
    for room in rooms:
        if room in _BOUNDS:
            out[room] = _BOUNDS[room]
            continue
        try:
            b = regions_layer.region_bounds(ctx.parse_scope(room))
        except Exception:  # noqa: BLE001 — bounds are a nicety: the page centres on the stations instead
            continue
        if b != regions_layer.CHINA_BOUNDS:
            _BOUNDS[room] = out[room] = b
    return out


def snapshot(ctx) -> dict:
    """Everything the wall draws, for first paint and resync::

        {"ts_ms", "states": {id: state}, "kpis": <kpi_payload of nation>, "names": {room: [zh, en]},
         "bounds": {room: [[s, w], [n, e]]}, "alarms": [open alarm dicts], "orders": [open / recent orders]}

    Raises:
        redis.RedisError / sqlalchemy errors: the caller keeps the previous snapshot.
    """
    snap = ctx.scope_snapshot(NATION)
    rooms = [c["scope"] for c in (snap.get("kpis") or {}).get("children", [])]
    alarms = ctx.ops.alarms_snapshot("nation", limit=300)
    orders = ctx.ops.orders("nation", include_recent=True)
    return {"ts_ms": snap["ts_ms"], "states": snap["states"], "kpis": snap["kpis"], "names": snap.get("names", {}),
            "bounds": _province_bounds(ctx, rooms), "alarms": alarms["alarms"], "alarms_ts_ms": alarms["ts_ms"],
            "orders": orders[:200]}


def focus_detail(ctx, station_id: str) -> dict:
    """The focused station of the emergency layout: ``{"station_id", "lat", "lon"`` (display CRS) ``, "cameras"}``;
    cameras online first."""
    info = ctx.station_index().get(station_id)
    out: dict[str, Any] = {"station_id": station_id, "cameras": []}
    if info is not None:
        lon, lat = point_to_display(info.lon, info.lat)
        out.update(lat=lat, lon=lon)
    cams = ctx.ops.station_cameras(station_id)
    cams.sort(key=lambda c: (c.get("status") != "online", c.get("kind") != "mjpeg", c.get("id")))
    out["cameras"] = cams[:4]
    return out


def register(app, ctx) -> None:
    """The wall's callbacks on the main Dash app (ids ``wall-*``; nothing of the officer page)."""

    @app.callback(Output("wall-snapshot", "data"),
                  Input("wall-socket", "socketId"), Input("wall-socket", "data-ops_resync"),
                  Input("wall-resync", "n_intervals"))
    def wall_sync(sid, _resync, _n):
        if sid:
            try:
                ctx.enter_scope(sid, "nation")
            except Exception as exc:  # noqa: BLE001 — still answer the snapshot
                log.warning("wall: join failed: %s", exc)
        try:
            return snapshot(ctx)
        except (redis.RedisError, SQLAlchemyError, OSError) as exc:
            log.warning("wall snapshot failed: %s", exc)
            return no_update

    @app.callback(Output("wall-focus-detail", "data"), Input("wall-focus", "data"))
    def wall_focus(focus):
        sid = (focus or {}).get("station_id") if isinstance(focus, dict) else None
        if not sid:
            return None
        try:
            return focus_detail(ctx, str(sid))
        except (SQLAlchemyError, OSError) as exc:
            log.warning("wall focus %s failed: %s", sid, exc)
            return {"station_id": sid, "cameras": []}

    app.clientside_callback(
        ClientsideFunction(namespace="ccWall", function_name="apply"),
        Output("wall-drawn", "data"),
        Input("wall-snapshot", "data"), Input("wall-socket", "data-station_states"), Input("wall-socket", "data-kpis"),
        Input("wall-socket", "data-alarm"), Input("wall-socket", "data-workorder"), Input("wall-socket", "connected"),
        Input("wall-focus-detail", "data"), Input("wall-index", "data"),
        State("wall-config", "data"),
    )


__all__ = ["SCENES", "WallConfig", "build_layout", "ensure_wall_user", "focus_detail", "install_wall",
           "is_wall_request", "page_layout", "parse_scenes", "register", "snapshot", "wall_config", "wall_token"]
