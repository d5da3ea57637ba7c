"""HTTP endpoints of the drill-down map and the city layers (issue 3). A blueprint; the app factory registers it.

==========================================  =========================================================================
``GET /api/layers/<layer>?scope&lang``      GeoJSON of a registered layer (:mod:`layers.registry`, ``api_key``) for
                                            a scope, in the **display CRS** (what the map draws; :mod:`layers.display`):
                                            ``cameras``, ``pipelines`` (live pressures), ``shops`` (10,000 points,
                                            loaded by URL), ``places`` (parks and buildings with their figures),
                                            ``staff`` (people on duty by region). A scope where a layer has no data
                                            answers an empty collection (cameras … are city-level layers).
``GET /api/heat?scope&metric&address&``     enterprise heat surface (:func:`layers.enterprise_heat.surface`):
``bbox=w,s,e,n&zoom[&display=1]``           ``{url: data:image/png…, bounds, total, vmax, …}``; ``bbox`` (the map's
                                            bounds padded ~10 %) and ``bounds`` WGS-84, or display CRS with
                                            ``display=1``
``GET /api/search?q&scope&limit``           search regions, stations, shops, enterprises by name
                                            (:func:`datasources.sql.search.search`); each hit also carries ``dlon, dlat``
                                            (display CRS) for the map to fly to
``GET /api/shops/<id>``                     a shop with QR code and inspection history (:func:`layers.shops.shop_detail`)
``GET /api/places/<park|building>/<id>``    figures of a park or building (:func:`layers.enterprise_heat.figures`)
``GET /api/regions/figures?scope``          choropleth figures per sub-region (:func:`layers.region_stats.figures`)
``GET /api/map/config``                     the base map: ``{tile_url, crs, subdomains, attribution}``
``POST /api/import/<layer>``                multipart ``file`` (+ ``crs`` WGS84|GCJ02|BD09, optional ``region``
                                            adcode): all-or-nothing import as the logged-in user
                                            (permission ``data.import``: admin, duty officer); streamed, at most
                                            ``MAX_BYTES`` (256 MB) / ``MAX_ROWS`` rows. 200 + report when
                                            written, 422 + report (row-by-row errors) when rejected, 400 no file /
                                            unknown layer, 401 not logged in, 403 role not allowed
==========================================  =========================================================================

Errors: a bad scope, metric or bbox answers 400 ``{"error": …}``; database errors 503.
"""
from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from dashboard.auth.core import Forbidden, authorize
from datasources.sql.search import search as search_places
from layers import display
from layers import enterprise_heat
from layers import region_stats
from layers import registry
from layers import shops as shops_layer
from layers.base import ScopeError
from layers.importing import import_layers, run_import

log = logging.getLogger(__name__)

bp = Blueprint("cc_api_city", __name__)

def _ctx():
    return current_app.extensions["cc"]


def _error(status: int, message: str, **extra):
    resp = jsonify({"error": message, **extra})
    resp.status_code = status
    return resp


def _json_text(text: str, cache: str = "no-cache") -> Response:
    resp = Response(text, mimetype="application/json")
    resp.headers["Cache-Control"] = cache
    return resp


def _scope(default: str = "nation"):
    return _ctx().parse_scope(request.args.get("scope", default))


def _lang() -> str:
    return "en" if (request.args.get("lang") or "").lower().startswith("en") else "zh"


@bp.errorhandler(ScopeError)
def _bad_scope(exc):
    return _error(400, str(exc))


@bp.errorhandler(SQLAlchemyError)
def _db_down(exc):
    log.warning("api_city: database error: %s", exc)
    return _error(503, f"database unavailable: {exc.__class__.__name__}")


def layer_geojson(layer: str, scope, lctx, lang: str) -> dict:
    """The WGS-84 GeoJSON of the layer served as ``/api/layers/<layer>`` for a scope (before the display shift).

    Raises:
        KeyError: no layer is served under that name.
    """
    return registry.by_api_key(layer).data(scope, lctx, lang)


@bp.get("/api/layers/<layer>")
def layer_data(layer: str):
    try:
        target = registry.by_api_key(layer)
    except KeyError:
        return _error(404, f"unknown layer {layer!r}; one of {', '.join(registry.api_keys())}")
    scope = _scope()
    return _json_text(target.api_text(scope, _ctx().layer_ctx, _lang()))


def _parse_bbox(raw: str | None):
    if not raw:
        return None
    try:
        parts = [float(v) for v in raw.split(",")]
    except ValueError:
        raise ValueError(f"bbox must be 'west,south,east,north' degrees, not {raw!r}") from None
    if len(parts) != 4:
        raise ValueError(f"bbox must have 4 numbers, not {len(parts)}")
    return tuple(parts)


@bp.get("/api/heat")
def heat():
    scope = _scope()
    shown = request.args.get("display") in ("1", "true")
    try:
        bbox = _parse_bbox(request.args.get("bbox"))
        if bbox is not None and shown:
            bbox = display.bbox_from_display(bbox)
        zoom = request.args.get("zoom")
        out = enterprise_heat.surface(_ctx().layer_ctx, scope, request.args.get("metric", "count"),
                                      request.args.get("address", "registered"), bbox,
                                      float(zoom) if zoom not in (None, "") else None)
    except ValueError as exc:
        return _error(400, str(exc))
    if shown:
        out["bounds"] = display.bounds_to_display(out["bounds"])
    resp = jsonify(out)
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.get("/api/search")
def search():
    q = request.args.get("q", "")
    raw_scope = request.args.get("scope") or None
    scope_code = None
    if raw_scope and raw_scope != "nation":
        scope_code = _ctx().parse_scope(raw_scope).code
    try:
        limit = int(request.args.get("limit", 12))
        hits = search_places(_ctx().engine, q, limit=limit, scope_adcode=scope_code)
    except ValueError as exc:
        return _error(400, str(exc))
    out = []
    for h in hits:
        d = h.to_dict()
        d["dlon"], d["dlat"] = display.point_to_display(h.lon, h.lat)
        out.append(d)
    return jsonify({"q": q, "results": out})


@bp.get("/api/shops/<shop_id>")
def shop(shop_id: str):
    detail = shops_layer.shop_detail(_ctx().layer_ctx, shop_id)
    if detail is None:
        return _error(404, f"unknown shop {shop_id!r}")
    return jsonify(detail)


@bp.get("/api/places/<kind>/<place_id>")
def place(kind: str, place_id: str):
    try:
        fig = enterprise_heat.figures(_ctx().layer_ctx, kind, place_id)
    except ValueError as exc:
        return _error(400, str(exc))
    if fig is None:
        return _error(404, f"unknown {kind} {place_id!r}")
    return jsonify(fig)


@bp.get("/api/regions/figures")
def region_figures():
    scope = _scope()
    if not scope.is_region:
        return _error(400, "a region scope (nation, province:…, city:…) is required")
    try:
        return jsonify(region_stats.figures(_ctx().engine, scope))
    except KeyError as exc:
        return _error(404, f"unknown region: {exc}")


@bp.get("/api/map/config")
def map_config():
    bm = display.base_map()
    return jsonify({"tile_url": bm.url, "crs": bm.crs, "subdomains": bm.subdomains, "attribution": bm.attribution})


@bp.post("/api/import/<layer>")
def import_layer(layer: str):
    ctx = _ctx()
    if layer not in import_layers():
        return _error(400, f"unknown layer {layer!r}; one of {', '.join(import_layers())}")
    try:
        user = authorize("data.import", target=f"import:{layer}", engine=ctx.engine)
    except Forbidden as exc:
        return _error(exc.status, str(exc))
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _error(400, "multipart field 'file' is required")
    # the upload as Werkzeug spooled it (a temporary file above 500 kB), streamed by the importer: not read into
    # memory here (a 1,000,000-row file is ~155 MB). The request-size limit (MAX_BYTES + 1 MiB,
    # dashboard.auth.headers) refuses larger bodies with 413 before they are read; the importer checks MAX_BYTES.
    try:
        report = run_import(ctx.engine, layer, upload.stream, filename=upload.filename, actor=user.username,
                            role=user.role, crs=request.form.get("crs") or "WGS84",
                            region_adcode=(request.form.get("region") or "").strip() or None,
                            on_stations=lambda: ctx.station_index(refresh=True))
    except PermissionError as exc:
        return _error(403, str(exc))
    resp = jsonify(report.to_dict())
    resp.status_code = 200 if report.ok else 422
    return resp
