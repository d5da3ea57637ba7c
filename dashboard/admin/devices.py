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

from flask import Blueprint, Response, current_app, jsonify, render_template_string, request

from dashboard.web.api_registry import READ_ROLES, WRITE_ACTION, run_import
from dashboard.auth.core import Forbidden, authorize, can
from datasources.sql.audit import write_audit
from dashboard.auth.login import page_lang
from datasources.ingest import registry
from datasources.bus.messages import latest_key, parse_latest
from datasources.sql.fleet_spec import DEVICE_KINDS, LIFECYCLES, STATION_KINDS, TRANSPORTS
from i18n import t

bp = Blueprint("cc_admin", __name__)

#: seconds between the page's refreshes of the live device state
LIVE_REFRESH_S = 2.0
#: a reading older than this is shown stale (the poller writes every CC_POLL_INTERVAL_S, default 1 s)
STALE_AFTER_S = 15.0
#: values shown per device
MAX_VALUES = 4

_PAGE = """<!doctype html>
<html lang="{{ 'en' if lang == 'en' else 'zh-CN' }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ tr('admin.title') }} · {{ tr('app.title') }}</title>
<link rel="stylesheet" href="/assets/cc_theme.css">
<style>
html, body { overflow: auto; height: auto; min-height: 100%; }
.cc-adm { max-width: 120rem; margin: 0 auto; padding: 1.4rem 2rem 4rem; font-size: 1.15rem; }
.cc-adm-head { display: flex; align-items: center; gap: 1.2rem; padding-bottom: 1rem;
  border-bottom: 1px solid var(--line-2); }
.cc-adm-head h1 { margin: 0; font-size: 2rem; letter-spacing: .12em; color: var(--accent); }
.cc-adm-head .sub { color: var(--muted); }
.cc-adm-head .flex { flex: 1; }
.cc-adm a { color: var(--accent); text-decoration: none; }
.cc-adm-grid { display: grid; grid-template-columns: 1fr 30rem; gap: 1.4rem; margin-top: 1.2rem; }
.cc-adm-card { background: var(--panel); border: 1px solid var(--line); border-radius: .4rem; padding: 1rem 1.2rem;
  box-shadow: inset 0 0 2rem rgba(43, 211, 255, .04); margin-bottom: 1.2rem; }
.cc-adm-card h2 { margin: 0 0 .8rem; font-size: 1.25rem; letter-spacing: .1em; color: var(--text);
  border-left: .25rem solid var(--accent); padding-left: .6rem; }
table.cc-adm-t { width: 100%; border-collapse: collapse; }
.cc-adm-t th { text-align: left; color: var(--muted); font-weight: normal; padding: .35rem .5rem;
  border-bottom: 1px solid var(--line-2); }
.cc-adm-t td { padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
.cc-adm-t tr.st td { background: var(--panel-2); font-weight: bold; }
.cc-adm-t .num { font-family: var(--num-font); }
.tag { display: inline-block; padding: 0 .45rem; border-radius: .2rem; font-size: .9rem; border: 1px solid var(--line-2); }
.tag.sim { color: var(--not_built); border-color: var(--not_built); }
.tag.real { color: var(--running); border-color: var(--running); }
.dot { display: inline-block; width: .7rem; height: .7rem; border-radius: 50%; background: var(--offline);
  margin-right: .35rem; }
.live-online .dot { background: var(--running); box-shadow: 0 0 .4rem var(--running); }
.live-offline .dot { background: var(--alarm); }
.live-stale .dot { background: var(--not_built); }
.err { color: var(--alarm); font-size: .95rem; }
.muted { color: var(--muted); }
form.cc-adm-f label { display: block; color: var(--muted); margin: .45rem 0 .15rem; font-size: 1rem; }
form.cc-adm-f input, form.cc-adm-f select { width: 100%; box-sizing: border-box; background: var(--bg-2);
  color: var(--text); border: 1px solid var(--line-2); border-radius: .25rem; padding: .4rem .5rem; font: inherit; }
form.cc-adm-f .two { display: grid; grid-template-columns: 1fr 1fr; gap: 0 .7rem; }
button.cc-adm-b { margin-top: .8rem; background: linear-gradient(180deg, var(--accent-2), #087aa6); color: #fff;
  border: 0; border-radius: .25rem; padding: .45rem 1.2rem; cursor: pointer; font: inherit; }
button.cc-adm-x { background: transparent; border: 1px solid var(--alarm); color: var(--alarm); border-radius: .2rem;
  cursor: pointer; font: inherit; font-size: .9rem; padding: .05rem .5rem; }
.msg { padding: .7rem 1rem; border-radius: .3rem; margin-top: 1rem; }
.msg.ok { border: 1px solid var(--running); color: var(--running); }
.msg.bad { border: 1px solid var(--alarm); }
.msg.bad table td { color: var(--text); }
</style></head>
<body><div class="cc-adm" id="cc-admin" data-lang="{{ lang }}">
<header class="cc-adm-head">
  <h1 id="adm-title">{{ tr('admin.title') }}</h1><span class="sub">{{ tr('admin.subtitle') }}</span>
  <span class="flex"></span>
  <span class="muted" id="adm-user">{{ user.display_name or user.username }}</span>
  <a href="?lang={{ other }}{{ '&sim=1' if sim else '' }}" id="adm-lang">{{ tr('admin.lang_switch') }}</a>
  <a href="/">{{ tr('admin.back') }}</a>
</header>
{% if message %}<div class="msg ok" id="adm-ok">{{ message }}</div>{% endif %}
{% if errors %}<div class="msg bad" id="adm-errors"><b class="err">{{ tr('admin.errors') }}</b>
<table class="cc-adm-t"><tr><th>{{ tr('admin.row') }}</th><th>{{ tr('admin.field') }}</th><th>{{ tr('admin.reason') }}</th></tr>
{% for e in errors %}<tr class="adm-error"><td class="num">{{ e.row or '—' }}</td><td>{{ e.field }}</td><td>{{ e.message }}</td></tr>{% endfor %}
</table></div>{% endif %}
<div class="cc-adm-grid"><main>
<section class="cc-adm-card"><h2>{{ tr('admin.stations') }} <span class="muted">{{ tr('admin.count', stations=stations|length, devices=n_devices) }}</span>
  <a style="float:right;font-size:1rem" href="?lang={{ lang }}{{ '' if sim else '&sim=1' }}">{{ tr('admin.hide_sim') if sim else tr('admin.show_sim') }}</a></h2>
{% if not writable %}<p class="muted" id="adm-readonly">{{ tr('admin.read_only') }}</p>{% endif %}
{% if not stations %}<p class="muted" id="adm-empty">{{ tr('admin.empty') }}</p>{% else %}
<table class="cc-adm-t" id="adm-stations">
<tr><th>{{ tr('admin.station') }} / {{ tr('admin.device') }}</th><th>{{ tr('admin.kind') }}</th><th>{{ tr('admin.model') }}</th>
<th>{{ tr('admin.endpoint') }}</th><th>{{ tr('admin.state') }}</th><th>{{ tr('admin.age') }}</th><th>{{ tr('admin.values') }}</th><th></th></tr>
{% for st in stations %}
<tr class="st" data-station="{{ st.station_id }}"><td>{{ st.station_id }} · {{ st.name_en if lang == 'en' and st.name_en else st.name }}
  <span class="tag {{ 'sim' if st.simulated else 'real' }}">{{ tr('admin.simulated') if st.simulated else tr('admin.real') }}</span></td>
<td>{{ tr('admin.kind.' ~ st.kind) }}</td><td>{{ tr('admin.lc.' ~ st.lifecycle) }}</td>
<td class="num">{{ '%.5f, %.5f'|format(st.lon, st.lat) }} · {{ st.city_adcode }}</td><td colspan="3"></td>
<td>{% if writable and not st.simulated %}<form method="post" action="/admin/devices/remove?lang={{ lang }}" onsubmit='return confirm({{ tr("admin.confirm_remove")|tojson }})'><input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<input type="hidden" name="station_id" value="{{ st.station_id }}"><button class="cc-adm-x" type="submit">{{ tr('admin.remove_station') }}</button></form>{% endif %}</td></tr>
{% for d in st.devices %}{% set lv = live.get(d.device_id, {}) %}
<tr class="dev" data-device="{{ d.device_id }}"><td>&nbsp;&nbsp;{{ d.device_id }}</td><td>{{ tr('admin.dk.' ~ d.kind) }}</td><td>{{ d.model }}</td>
<td class="num">{{ d.transport }} {{ d.host }}{% if d.transport != 'rtu' %}:{{ d.port }}{% endif %} #{{ d.unit_id }}</td>
<td class="live live-{{ lv.state or 'none' }}" data-live="{{ d.device_id }}"><span class="dot"></span><span class="lv-text">{{ lv.label or tr('admin.no_data') }}</span>
  <div class="err lv-error">{{ lv.error or '' }}</div></td>
<td class="num lv-age">{{ lv.age or '—' }}</td><td class="num lv-values">{{ lv.readings or "" }}</td>
<td>{% if writable and not st.simulated %}<form method="post" action="/admin/devices/remove?lang={{ lang }}" onsubmit='return confirm({{ tr("admin.confirm_remove")|tojson }})'><input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<input type="hidden" name="device_id" value="{{ d.device_id }}"><button class="cc-adm-x" type="submit">{{ tr('admin.remove') }}</button></form>{% endif %}</td></tr>
{% endfor %}{% endfor %}</table>{% endif %}
</section></main>
<aside>{% if writable %}
<section class="cc-adm-card"><h2>{{ tr('admin.import') }}</h2><p class="muted">{{ tr('admin.import_hint') }}</p>
<p><a href="/admin/devices/template.csv">{{ tr('admin.template') }}</a></p>
<form class="cc-adm-f" id="adm-import" method="post" action="/admin/devices/import?lang={{ lang }}" enctype="multipart/form-data"><input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<input type="file" name="file" accept=".csv,.xlsx" required>
<label><input type="checkbox" name="dry_run" value="1" style="width:auto"> {{ tr('admin.dry_run') }}</label>
<label>{{ tr('admin.crs') }}</label><select name="crs">{% for c in crs_names %}<option>{{ c }}</option>{% endfor %}</select>
<button class="cc-adm-b" type="submit">{{ tr('admin.upload') }}</button></form></section>
<section class="cc-adm-card"><h2>{{ tr('admin.add_station') }}</h2>
<form class="cc-adm-f" id="adm-add-station" method="post" action="/admin/devices/station?lang={{ lang }}"><input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<div class="two"><div><label>{{ tr('admin.f.station_id') }}</label><input name="station_id" required></div>
<div><label>{{ tr('admin.f.name') }}</label><input name="name" required></div></div>
<label>{{ tr('admin.f.name_en') }}</label><input name="name_en">
<div class="two"><div><label>{{ tr('admin.kind') }}</label><select name="kind">{% for k in station_kinds %}<option value="{{ k }}">{{ tr('admin.kind.' ~ k) }}</option>{% endfor %}</select></div>
<div><label>{{ tr('admin.lifecycle') }}</label><select name="lifecycle">{% for k in lifecycles %}<option value="{{ k }}">{{ tr('admin.lc.' ~ k) }}</option>{% endfor %}</select></div></div>
<div class="two"><div><label>{{ tr('admin.f.lon') }}</label><input name="lon" required></div>
<div><label>{{ tr('admin.f.lat') }}</label><input name="lat" required></div></div>
<div class="two"><div><label>{{ tr('admin.crs') }}</label><select name="crs">{% for c in crs_names %}<option>{{ c }}</option>{% endfor %}</select></div>
<div><label>{{ tr('admin.f.capacity') }}</label><input name="capacity_m3_min"></div></div>
<label>{{ tr('admin.f.partner') }}</label><input name="partner">
<button class="cc-adm-b" type="submit">{{ tr('admin.submit') }}</button></form></section>
<section class="cc-adm-card"><h2>{{ tr('admin.add_device') }}</h2>
<form class="cc-adm-f" id="adm-add-device" method="post" action="/admin/devices/device?lang={{ lang }}"><input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<div class="two"><div><label>{{ tr('admin.station') }}</label><select name="station_id">{% for st in stations if not st.simulated %}<option>{{ st.station_id }}</option>{% endfor %}</select></div>
<div><label>{{ tr('admin.f.device_id') }}</label><input name="device_id" required></div></div>
<div class="two"><div><label>{{ tr('admin.f.device_kind') }}</label><select name="kind">{% for k in device_kinds %}<option value="{{ k }}">{{ tr('admin.dk.' ~ k) }}</option>{% endfor %}</select></div>
<div><label>{{ tr('admin.model') }}</label><select name="model">{% for m in models %}<option>{{ m }}</option>{% endfor %}</select></div></div>
<div class="two"><div><label>{{ tr('admin.f.transport') }}</label><select name="transport">{% for k in transports %}<option>{{ k }}</option>{% endfor %}</select></div>
<div><label>{{ tr('admin.f.host') }}</label><input name="host" required></div></div>
<div class="two"><div><label>{{ tr('admin.f.port') }}</label><input name="port" value="502"></div>
<div><label>{{ tr('admin.f.unit_id') }}</label><input name="unit_id" value="1"></div></div>
<div class="two"><div><label>{{ tr('admin.f.rated_flow') }}</label><input name="rated_flow_m3_min"></div>
<div><label>{{ tr('admin.f.rated_power') }}</label><input name="rated_power_kw"></div></div>
<label>{{ tr('admin.f.timeout_s') }}</label><input name="timeout_s">
<button class="cc-adm-b" type="submit">{{ tr('admin.submit') }}</button></form></section>
{% endif %}</aside></div></div>
<script>
(function () {
  var url = "/admin/devices/live.json?lang={{ lang }}{{ '&sim=1' if sim else '' }}";
  function paint(states) {
    document.querySelectorAll("td[data-live]").forEach(function (td) {
      var s = states[td.dataset.live] || {};
      td.className = "live live-" + (s.state || "none");
      td.querySelector(".lv-text").textContent = s.label || {{ tr('admin.no_data')|tojson }};
      td.querySelector(".lv-error").textContent = s.error || "";
      var row = td.parentElement;
      row.querySelector(".lv-age").textContent = s.age || "—";
      row.querySelector(".lv-values").textContent = s.readings || "";
    });
  }
  function tick() {
    fetch(url, {credentials: "same-origin"}).then(function (r) { return r.ok ? r.json() : null; })
      .then(function (j) { if (j) paint(j.devices); }).catch(function () {})
      .finally(function () { setTimeout(tick, {{ refresh_ms }}); });
  }
  setTimeout(tick, {{ refresh_ms }});
})();
</script></body></html>"""


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

    body = render_template_string(
        _PAGE, lang=lang, other="en" if lang == "zh" else "zh", tr=lambda k, **kw: t(k, lang, **kw), user=user,
        stations=stations, n_devices=len(ids), live=live_states(ctx.redis, ids, lang, models=models), sim=sim,
        writable=can(user, WRITE_ACTION), message=message, errors=errors or [], crs_names=CRS_NAMES,
        station_kinds=STATION_KINDS, lifecycles=LIFECYCLES, device_kinds=DEVICE_KINDS, transports=TRANSPORTS,
        models=sorted(registry.current_profiles()), refresh_ms=int(LIVE_REFRESH_S * 1000))
    return Response(body, status=status, mimetype="text/html")


@bp.errorhandler(Forbidden)
def _forbidden(exc: Forbidden):
    lang = page_lang()
    return Response(f"<!doctype html><meta charset='utf-8'><link rel='stylesheet' href='/assets/cc_theme.css'>"
                    f"<p style='padding:2rem' id='adm-forbidden'>{t('admin.forbidden', lang)}</p>",
                    status=exc.status, mimetype="text/html")


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
