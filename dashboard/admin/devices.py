"""The registry admin page ``/admin/devices`` (server-rendered: Flask + Jinja, the video-wall theme).

What it shows: every registered station with its devices (``?sim=1`` adds the simulated demo fleet), each device's
live state from Redis ``cc:latest:<device_id>`` (online / offline / stale, the poller's error, the age of the last
reading, a few values), forms to add a station and a device, remove buttons, and the import upload with the row
errors of a rejected file. Live state refreshes every :data:`LIVE_REFRESH_S` s from ``GET /admin/devices/live.json``
(one ``HGETALL`` per listed device; an admin tool, not the video wall — the map keeps its Socket.IO rooms).

Who: administrators and duty officers read; only administrators change (``config.update``: forms hidden for
others and refused on the server, audited). Language: ``?lang=en|zh`` else ``Accept-Language``, Chinese default;
strings from the catalog (``admin.*``, :mod:`i18n.catalog_admin`).

Routes: ``GET /admin/devices``, ``GET /admin/devices/live.json``, ``GET /admin/devices/template.csv``, ``POST
/admin/devices/station``, ``POST /admin/devices/device``, ``POST /admin/devices/remove``, ``POST
/admin/devices/import`` (forms answer the page again: 200, or 400 with the errors).
"""
from __future__ import annotations

import time
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from dashboard.web.api_registry import READ_ROLES, WRITE_ACTION, run_import
from dashboard.auth.core import Forbidden, authorize, can
from datasources.sql.audit import write_audit
from dashboard.auth.login import page_lang
from datasources.ingest import registry
from datasources.bus.messages import latest_key, parse_latest
from datasources.sql.fleet_spec import DEVICE_KINDS, LIFECYCLES, STATION_KINDS, TRANSPORTS
from i18n import t

#: the page's Jinja templates: ``dashboard/templates/admin/devices.html`` (and ``devices_forbidden.html``)
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"

bp = Blueprint("cc_admin", __name__, template_folder=str(TEMPLATES))

#: seconds between the page's refreshes of the live device state
LIVE_REFRESH_S = 2.0
#: a reading older than this is shown stale (the poller writes every CC_POLL_INTERVAL_S, default 1 s)
STALE_AFTER_S = 15.0
#: values shown per device
MAX_VALUES = 4


def _ctx():
    return current_app.extensions["cc"]


def _reader():
    ctx = _ctx()
    user = authorize("view", target="admin:devices", engine=ctx.engine)
    if user.role not in READ_ROLES:
        write_audit(ctx.engine, user.username, user.role, "registry.read", "admin:devices", "refused",
                    {"reason": f"role {user.role} may not read the registry"})
        raise Forbidden(f"role {user.role} may not read the registry")
    return user


def _fmt_value(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def _order(model: str | None, profiles: dict) -> list[str]:
    """Value names of a model's profile, measurements (read-only) first, in profile order."""
    prof = profiles.get(model) if model else None
    if prof is None:
        return []
    regs = list(prof.registers)
    return [r.name for r in regs if not r.writable] + [r.name for r in regs if r.writable]


def live_states(redis_client, device_ids: list[str], lang: str, now_ms: int | None = None,
                models: dict[str, str] | None = None) -> dict[str, dict]:
    """``{device_id: {"state": online|offline|stale|none, "label", "error", "age", "age_s", "readings"}}`` from
    ``cc:latest:<device_id>`` (one pipeline). ``readings``: the first :data:`MAX_VALUES` values, measurements first
    (``models``: device id → profile model gives the order). A Redis error gives ``{}`` (the page shows "no data")."""
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    models = models or {}
    profiles = registry.current_profiles() if models else {}
    if not device_ids:
        return {}
    try:
        pipe = redis_client.pipeline(transaction=False)
        for d in device_ids:
            pipe.hgetall(latest_key(d))
        raws = pipe.execute()
    except Exception:  # noqa: BLE001 — Redis down: the page still renders
        return {}
    out = {}
    for d, raw in zip(device_ids, raws):
        if not raw:
            out[d] = {"state": "none", "label": t("admin.no_data", lang)}
            continue
        lv = parse_latest(raw)
        age_s = max(0.0, (now_ms - lv.get("ts_ms", now_ms)) / 1000.0)
        online = bool(lv.get("online"))
        state = "offline" if not online else ("stale" if age_s > STALE_AFTER_S or (lv.get("error") or "").startswith(
            "stale") else "online")
        vals = lv.get("values") or {}
        order = {name: k for k, name in enumerate(_order(models.get(d), profiles))}
        vals = dict(sorted(vals.items(), key=lambda kv: order.get(kv[0], len(order))))
        out[d] = {"state": state, "label": t(f"admin.{state}", lang), "error": lv.get("error") or "",
                  "age_s": round(age_s, 1), "age": t("admin.seconds_ago", lang, n=int(age_s)),
                  "readings": ", ".join(f"{k}={_fmt_value(v)}" for k, v in list(vals.items())[:MAX_VALUES])}
    return out


def _page(lang: str, user, *, message: str = "", errors: list | None = None, status: int = 200) -> Response:
    ctx = _ctx()
    sim = request.args.get("sim") == "1"
    stations = registry.list_stations(ctx.engine, simulated=None if sim else False)
    ids = [d.device_id for s in stations for d in s.devices]
    models = {d.device_id: d.model for s in stations for d in s.devices}
    from geo.crs import CRS_NAMES  # noqa: PLC0415

    body = render_template(
        "admin/devices.html", lang=lang, other="en" if lang == "zh" else "zh", tr=lambda k, **kw: t(k, lang, **kw), user=user,
        stations=stations, n_devices=len(ids), live=live_states(ctx.redis, ids, lang, models=models), sim=sim,
        writable=can(user, WRITE_ACTION), message=message, errors=errors or [], crs_names=CRS_NAMES,
        station_kinds=STATION_KINDS, lifecycles=LIFECYCLES, device_kinds=DEVICE_KINDS, transports=TRANSPORTS,
        models=sorted(registry.current_profiles()), refresh_ms=int(LIVE_REFRESH_S * 1000))
    return Response(body, status=status, mimetype="text/html")


@bp.errorhandler(Forbidden)
def _forbidden(exc: Forbidden):
    lang = page_lang()
    html = render_template("admin/devices_forbidden.html", tr=lambda k, **kw: t(k, lang, **kw))
    return Response(html, status=exc.status, mimetype="text/html")


@bp.get("/admin/devices")
def page():
    return _page(page_lang(), _reader())


@bp.get("/admin/devices/live.json")
def live():
    _reader()
    ctx = _ctx()
    sim = request.args.get("sim") == "1"
    models = {d.device_id: d.model for s in registry.list_stations(ctx.engine, simulated=None if sim else False)
              for d in s.devices}
    return jsonify({"ok": True, "devices": live_states(ctx.redis, list(models), page_lang(), models=models)})


@bp.get("/admin/devices/template.csv")
def template():
    _reader()
    return Response(registry.write_template("csv"), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=devices-template.csv"})


def _form(keys) -> dict:
    return {k: request.form.get(k) for k in keys if (request.form.get(k) or "").strip() != ""}


def _change(fn) -> Response:
    lang = page_lang()
    ctx = _ctx()
    user = authorize(WRITE_ACTION, target="admin:devices", engine=ctx.engine)
    try:
        message = fn(ctx, user, lang)
    except registry.RegistryError as err:
        return _page(lang, user, errors=[i._asdict() for i in err.issues], status=err.status)
    refresh = getattr(ctx, "station_index", None)
    if callable(refresh):
        refresh(refresh=True)
    return _page(lang, user, message=message)


@bp.post("/admin/devices/station")
def add_station():
    def run(ctx, user, lang):
        data = _form(("station_id", "name", "name_en", "kind", "lifecycle", "lon", "lat", "capacity_m3_min",
                      "partner"))
        registry.add_station(ctx.engine, data, crs=request.form.get("crs") or "WGS84", actor=user.username,
                             role=user.role, redis_client=ctx.redis)
        return t("admin.ok_saved", lang)

    return _change(run)


@bp.post("/admin/devices/device")
def add_device():
    def run(ctx, user, lang):
        data = _form(("device_id", "kind", "model", "transport", "host", "port", "unit_id", "rated_flow_m3_min",
                      "rated_power_kw", "timeout_s"))
        registry.add_device(ctx.engine, request.form.get("station_id") or "", data, actor=user.username,
                            role=user.role, redis_client=ctx.redis)
        return t("admin.ok_saved", lang)

    return _change(run)


@bp.post("/admin/devices/remove")
def remove():
    def run(ctx, user, lang):
        if request.form.get("device_id"):
            registry.remove_device(ctx.engine, request.form["device_id"], actor=user.username, role=user.role,
                                   redis_client=ctx.redis)
        else:
            registry.remove_station(ctx.engine, request.form.get("station_id") or "", actor=user.username,
                                    role=user.role, redis_client=ctx.redis)
        return t("admin.ok_removed", lang)

    return _change(run)


@bp.post("/admin/devices/import")
def import_file():
    def run(ctx, user, lang):
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise registry.RegistryError([registry.Issue(0, "file", "required")], 400)
        dry = (request.form.get("dry_run") or "") in ("1", "on", "true")
        res = run_import(ctx, user, upload, dry, request.form.get("crs") or "WGS84")
        if not res.ok:
            raise registry.RegistryError(res.errors, 400)
        return t("admin.ok_dry_run" if dry else "admin.ok_import", lang, stations=len(res.stations),
                 devices=len(res.devices))

    return _change(run)
