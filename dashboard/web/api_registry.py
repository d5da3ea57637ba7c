"""HTTP JSON endpoints of the station and device registry (:mod:`datasources.ingest.registry`).

Every endpoint needs a login (the app-wide check of :func:`dashboard.auth.session.init_auth` answers 401 first). Reading is
for administrators and duty officers (:data:`READ_ROLES`); every change is for administrators only (permission
``config.update`` of :data:`dashboard.auth.core.PERMISSIONS`), refused on the server and audited ``refused`` whatever the
page showed; the change itself is audited by the registry (``registry.*``, actor = the logged-in user).

Errors answer ``{"ok": false, "error": str, "errors": [{"row", "field", "message"}]}`` with 400 (invalid input),
401, 403, 404 (unknown station / device) or 409 (id exists, address in use, simulated station); success
``{"ok": true, …}``.

==========================================  ========================================================================
``GET    /api/registry/stations``           stations with their devices (``?simulated=0|1``; default all).
                                            (``GET /api/stations`` is the map layer's GeoJSON, :mod:`dashboard.web.api`)
``POST   /api/stations``                    ``{station fields, "crs", "devices": [device fields]}`` → 201
``DELETE /api/stations/<id>``               a registered station with its devices
``GET    /api/stations/<id>/devices``       the station's devices
``POST   /api/stations/<id>/devices``       ``{device fields}`` → 201
``DELETE /api/devices/<id>``                one device
``POST   /api/registry/import``             multipart ``file`` (.csv / .xlsx), ``dry_run`` (1/true), ``crs`` → 200
                                            with the result, 400 with the row errors (nothing written)
==========================================  ========================================================================

Field names: :func:`datasources.ingest.registry.validate_station` / :func:`~datasources.ingest.registry.validate_device`.
"""
from __future__ import annotations

import dataclasses

from flask import Blueprint, current_app, jsonify, request

from dashboard.auth.core import Forbidden, authorize
from datasources.sql.audit import write_audit
from datasources.ingest import registry
from datasources.sql.repository import load_station

bp = Blueprint("cc_registry_api", __name__)

#: roles that may read the registry (stations with device addresses: not for leaders or field engineers)
READ_ROLES = frozenset({"admin", "duty_officer"})
#: the permission of every registry change (administrators)
WRITE_ACTION = "config.update"


def _ctx():
    return current_app.extensions["cc"]


def _error(status: int, message: str, errors: list | None = None):
    resp = jsonify({"ok": False, "error": message, "errors": errors or []})
    resp.status_code = status
    return resp


@bp.errorhandler(Forbidden)
def _forbidden(exc: Forbidden):
    return _error(exc.status, str(exc))


@bp.errorhandler(registry.RegistryError)
def _rejected(exc: registry.RegistryError):
    return _error(exc.status, str(exc), [i._asdict() for i in exc.issues])


def _reader():
    """The logged-in user if they may read the registry; a refusal is audited and raised."""
    ctx = _ctx()
    user = authorize("view", target="registry", engine=ctx.engine)
    if user.role not in READ_ROLES:
        write_audit(ctx.engine, user.username, user.role, "registry.read", "registry", "refused",
                    {"reason": f"role {user.role} may not read the registry"})
        raise Forbidden(f"role {user.role} may not read the registry")
    return user


def _writer(target: str):
    return authorize(WRITE_ACTION, target=target, engine=_ctx().engine)


def _body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise registry.RegistryError([registry.Issue(0, "", "a JSON object body is expected")], 400)
    return data


def _station_dict(st) -> dict:
    return dataclasses.asdict(st)


@bp.get("/api/registry/stations")
def stations():
    _reader()
    flag = request.args.get("simulated")
    simulated = None if flag in (None, "") else flag.lower() in ("1", "true", "yes")
    items = registry.list_stations(_ctx().engine, simulated=simulated)
    return jsonify({"ok": True, "stations": [_station_dict(s) for s in items]})


@bp.post("/api/stations")
def add_station():
    ctx = _ctx()
    body = _body()
    user = _writer(f"station:{body.get('station_id', '')}")
    devices = body.pop("devices", None) or []
    if not isinstance(devices, list) or not all(isinstance(d, dict) for d in devices):
        raise registry.RegistryError([registry.Issue(0, "devices", "must be a list of objects")], 400)
    crs = str(body.pop("crs", None) or "WGS84")
    st = registry.add_station(ctx.engine, body, devices=devices, crs=crs, actor=user.username, role=user.role,
                              redis_client=ctx.redis)
    _refresh(ctx)
    resp = jsonify({"ok": True, "station": _station_dict(st)})
    resp.status_code = 201
    return resp


@bp.delete("/api/stations/<station_id>")
def remove_station(station_id: str):
    ctx = _ctx()
    user = _writer(f"station:{station_id}")
    st = registry.remove_station(ctx.engine, station_id, actor=user.username, role=user.role, redis_client=ctx.redis)
    _refresh(ctx)
    return jsonify({"ok": True, "removed": st.station_id, "devices": [d.device_id for d in st.devices]})


@bp.get("/api/stations/<station_id>/devices")
def devices(station_id: str):
    _reader()
    st = load_station(_ctx().engine, station_id)
    if st is None:
        return _error(404, f"no station {station_id!r}")
    return jsonify({"ok": True, "station_id": station_id, "simulated": st.simulated,
                    "devices": [dataclasses.asdict(d) for d in st.devices]})


@bp.post("/api/stations/<station_id>/devices")
def add_device(station_id: str):
    ctx = _ctx()
    body = _body()
    user = _writer(f"station:{station_id}")
    dev = registry.add_device(ctx.engine, station_id, body, actor=user.username, role=user.role,
                              redis_client=ctx.redis)
    _refresh(ctx)
    resp = jsonify({"ok": True, "device": dataclasses.asdict(dev)})
    resp.status_code = 201
    return resp


@bp.delete("/api/devices/<device_id>")
def remove_device(device_id: str):
    ctx = _ctx()
    user = _writer(f"device:{device_id}")
    st = registry.remove_device(ctx.engine, device_id, actor=user.username, role=user.role, redis_client=ctx.redis)
    _refresh(ctx)
    return jsonify({"ok": True, "removed": device_id, "station_id": st.station_id})


def run_import(ctx, user, upload, dry_run: bool, crs: str) -> registry.ImportResult:
    """Import an uploaded file as ``user`` (shared by this API and the admin page)."""
    data = upload.read(registry.MAX_IMPORT_BYTES + 1)
    res = registry.import_devices(ctx.engine, data, upload.filename or "upload", actor=user.username, role=user.role,
                                  dry_run=dry_run, crs=crs, redis_client=ctx.redis)
    if res.written:
        _refresh(ctx)
    return res


@bp.post("/api/registry/import")
def import_file():
    ctx = _ctx()
    user = _writer("registry:import")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _error(400, "multipart field 'file' is required", [{"row": 0, "field": "file", "message": "required"}])
    dry_run = (request.form.get("dry_run") or request.args.get("dry_run") or "").lower() in ("1", "true", "yes", "on")
    res = run_import(ctx, user, upload, dry_run, request.form.get("crs") or "WGS84")
    resp = jsonify({**res.to_dict(), "ok": res.ok})
    resp.status_code = 200 if res.ok else 400
    return resp


def _refresh(ctx) -> None:
    """The web process's cached station index learns the change at once (the map, search, site panel)."""
    refresh = getattr(ctx, "station_index", None)
    if callable(refresh):
        try:
            refresh(refresh=True)
        except TypeError:
            pass
