"""Enterprise heat layer (楼宇经济, seed 003 rows 66–73): heat maps of enterprise count, registered capital or tax
output, by registered (注册地) or operating (经营地) address, at any scope, plus clickable parks and buildings with
their figures.

Heat: :func:`surface` renders a PNG ``ImageOverlay`` for a viewport (:mod:`geo.heat`; WGS-84 bounds
``[[south, west], [north, east]]``). The enterprises' positions and figures are loaded from SQL once per process
(1,000,000 rows: 2.7 s from SQLite, 4.1 s from PostgreSQL; ~48 MB of arrays) and kept as numpy arrays; each scope
(nation, a province, a city) × address gets its own :class:`geo.heat.HeatIndex` (built on first use: 0.3–0.9 s for
the nation, ~10 ms for a city) whose rendered surfaces are memoised by viewport: the national view renders in
30–60 ms cold, 0.05 ms from the memo; a city viewport in 3–40 ms (``bench/bench_heat.py``).
:func:`warm_up` precomputes the national surfaces in a background thread. The cache is re-validated against the row
count at most every :data:`RECHECK_S` seconds; :func:`invalidate` drops it (call it after an enterprises import).

A scope's heat uses only its own enterprises: those whose registered (or operating) address lies in the scope's
province or city.

``data(scope, ctx)`` — the parks and buildings of the scope as a FeatureCollection (Polygon footprints, WGS-84),
properties ``id, kind (park|building), name, name_en, park_id, city_adcode, registered {count, capital_wan,
tax_wan}, operating {…}, tooltip``; clicking one shows its figures (:func:`figures` gives the same for an id).
"""
from __future__ import annotations

import html
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from datasources.sql.city_models import Building, Enterprise, Park
from i18n import t
from datasources.ingest.specs import ENTERPRISES
from layers.base import Layer, LayerContext, LegendItem, Scope, feature_collection
from layers.registry import register

log = logging.getLogger(__name__)

key = "enterprise_heat"
COMPONENT_ID = "enterprise-heat"
PLACES_ID = "enterprise-places"
#: metric → weight column (``None``: one per enterprise)
METRICS = {"count": None, "capital": "registered_capital_wan", "tax": "tax_wan"}
ADDRESSES = ("registered", "operating")
#: the national view's extent, (west, south, east, north) WGS-84 degrees (mainland and Hainan; matches the map)
NATION_BBOX = (73.0, 17.5, 135.2, 53.8)
RECHECK_S = 60.0
#: heat rendering options (screen px at the view's zoom)
CELL_PX = 4.0
SIGMA_PX = 10.0
PLACE_STYLE = {"color": "#5fe3ff", "weight": 1.5, "opacity": 0.9, "fillColor": "#5fe3ff", "fillOpacity": 0.12}
popup_fields: tuple[tuple[str, str], ...] = (("name", "heat.place"), ("registered", "heat.registered"),
                                             ("operating", "heat.operating"))



# --------------------------------------------------------------------------- enterprise arrays (per process)


@dataclass
class _Points:
    """All enterprises as arrays: positions WGS-84 (N, 2), figures 万元, city adcodes as int32."""

    reg: np.ndarray
    op: np.ndarray
    capital: np.ndarray
    tax: np.ndarray
    reg_city: np.ndarray
    op_city: np.ndarray
    count: int
    loaded_at: float
    checked_at: float


_lock = threading.RLock()
_points: dict[str, _Points] = {}
_indexes: dict[tuple, Any] = {}  # (engine key, scope room, address) → HeatIndex
_places: dict[tuple, dict] = {}  # (engine key, scope room) → FeatureCollection of parks/buildings with figures


def _engine_key(engine) -> str:
    return str(engine.url)


def _count(engine) -> int:
    with Session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(Enterprise)) or 0)


def load_points(engine) -> _Points:
    """Read every enterprise's two positions and figures (one query; ~3–5 s for 1,000,000 rows on SQLite or
    PostgreSQL — run :func:`warm_up` at start-up so no request waits for it)."""
    t0 = time.perf_counter()
    with engine.connect() as conn:
        cur = conn.connection.dbapi_connection.cursor()  # plain tuples: numpy converts them ~20× faster than Rows
        try:
            cur.execute("SELECT reg_lon, reg_lat, op_lon, op_lat, registered_capital_wan, tax_wan, "
                        "CAST(reg_city_adcode AS INTEGER), CAST(op_city_adcode AS INTEGER) FROM enterprises")
            rows = cur.fetchall()
        finally:
            cur.close()
    arr = np.array(rows, dtype=np.float64).reshape(-1, 8)
    del rows
    n = len(arr)
    now = time.monotonic()
    pts = _Points(reg=np.ascontiguousarray(arr[:, 0:2]), op=np.ascontiguousarray(arr[:, 2:4]),
                  capital=np.ascontiguousarray(arr[:, 4]), tax=np.ascontiguousarray(arr[:, 5]),
                  reg_city=arr[:, 6].astype(np.int32), op_city=arr[:, 7].astype(np.int32), count=n, loaded_at=now,
                  checked_at=now)
    log.info("enterprise_heat: loaded %d enterprises in %.2f s", n, time.perf_counter() - t0)
    return pts


def invalidate(engine=None) -> None:
    """Drop cached arrays, heat indexes and place figures (of ``engine``, or all)."""
    with _lock:
        if engine is None:
            _points.clear()
            _indexes.clear()
            _places.clear()
            return
        k = _engine_key(engine)
        _points.pop(k, None)
        for d in (_indexes, _places):
            for key_ in [x for x in d if x[0] == k]:
                d.pop(key_, None)


def _get_points(engine) -> _Points:
    k = _engine_key(engine)
    with _lock:
        pts = _points.get(k)
        if pts is not None and time.monotonic() - pts.checked_at < RECHECK_S:
            return pts
    if pts is not None and _count(engine) == pts.count:
        pts.checked_at = time.monotonic()
        return pts
    invalidate(engine)
    fresh = load_points(engine)
    with _lock:
        _points[k] = fresh
    return fresh


def _scope_mask(codes: np.ndarray, scope: Scope) -> np.ndarray | None:
    if scope.level == "nation":
        return None
    code = int(scope.code)
    if scope.level == "province":
        return codes // 10000 == code // 10000
    return codes == code


def heat_index(ctx: LayerContext, scope: Scope, address: str = "registered"):
    """The :class:`geo.heat.HeatIndex` of a scope's enterprises by ``address`` (weights count, capital, tax).

    Raises:
        ValueError: unknown address or a station scope.
    """
    from geo.heat import HeatIndex  # noqa: PLC0415

    if address not in ADDRESSES:
        raise ValueError(f"address must be one of {ADDRESSES}, not {address!r}")
    if scope.level == "station":
        raise ValueError("the enterprise heat map has nation, province and city scopes")
    pts = _get_points(ctx.engine)
    k = (_engine_key(ctx.engine), scope.room, address)
    with _lock:
        idx = _indexes.get(k)
    if idx is not None:
        return idx
    t0 = time.perf_counter()
    xy, codes = (pts.reg, pts.reg_city) if address == "registered" else (pts.op, pts.op_city)
    mask = _scope_mask(codes, scope)
    sel = slice(None) if mask is None else mask
    idx = HeatIndex(xy[sel], {"count": None, "capital": pts.capital[sel], "tax": pts.tax[sel]})
    log.info("enterprise_heat: index %s/%s of %d points in %.2f s", scope.room, address, len(idx),
             time.perf_counter() - t0)
    with _lock:
        _indexes[k] = idx
        if len(_indexes) > 48:  # keep the nation, drop the oldest others
            for old in [x for x in _indexes if x[1] != "nation"][:8]:
                _indexes.pop(old, None)
    return idx


def scope_bbox(scope: Scope) -> tuple[float, float, float, float]:
    """(west, south, east, north) WGS-84 degrees of a scope (:data:`NATION_BBOX` for the nation)."""
    if scope.level in ("province", "city"):
        from geo.regions import get_region_index  # noqa: PLC0415

        return tuple(get_region_index().region(scope.code).bbox)
    return NATION_BBOX


def surface(ctx: LayerContext, scope: Scope, metric: str = "count", address: str = "registered",
            bbox: tuple[float, float, float, float] | None = None, zoom: float | None = None,
            width_px: int = 1600, height_px: int = 900) -> dict:
    """A heat surface for the map.

    Args:
        scope: nation, province or city (only its enterprises count).
        metric: ``count`` | ``capital`` (万元) | ``tax`` (万元/year).
        address: ``registered`` | ``operating``.
        bbox: the viewport ``(west, south, east, north)`` WGS-84 degrees (default: the scope's extent);
            pass the map's bounds padded by ~10 % so panning shows no edge.
        zoom: the map's zoom (default: the zoom that fits ``bbox`` in ``width_px`` × ``height_px``).
    Returns:
        ``{"url": "data:image/png;base64,…", "bounds": [[s, w], [n, e]], "nx", "ny", "cell_m", "total", "vmax",
        "points", "weight", "zoom", "metric", "address", "unit", "scope"}`` — ``total``: the metric summed over the
        enterprises inside ``bounds`` (count, 万元 or 万元/year).
    Raises:
        ValueError: unknown metric / address, station scope, malformed bbox.
    """
    from geo.heat import fit_zoom  # noqa: PLC0415

    if metric not in METRICS:
        raise ValueError(f"metric must be one of {tuple(METRICS)}, not {metric!r}")
    idx = heat_index(ctx, scope, address)
    bbox = tuple(bbox) if bbox is not None else scope_bbox(scope)
    zoom = fit_zoom(bbox, width_px, height_px) if zoom is None else float(zoom)
    out = idx.surface(bbox, zoom, metric, cell_px=CELL_PX, sigma_px=SIGMA_PX).to_dict()
    out.update(metric=metric, address=address, unit={"count": "firms", "capital": "万元", "tax": "万元/year"}[metric],
               scope=scope.room)
    return out


def warm_up(ctx: LayerContext, scopes=("nation",)) -> bool:
    """Precompute the default surfaces (every metric × address) of ``scopes``; True on success. Run it in a
    background thread at start-up."""
    try:
        for room in scopes:
            sc = Scope.parse(room)
            for address in ADDRESSES:
                for metric in METRICS:
                    surface(ctx, sc, metric, address)
        return True
    except Exception as exc:  # noqa: BLE001 — a missing table / region data: the map works without the heat layer
        log.warning("enterprise_heat warm-up failed: %s", exc)
        return False


# --------------------------------------------------------------------------- parks and buildings


def _figures_by(conn, column, ids: list[str] | None = None) -> dict[str, dict]:
    stmt = (select(column, func.count(), func.coalesce(func.sum(Enterprise.registered_capital_wan), 0.0),
                   func.coalesce(func.sum(Enterprise.tax_wan), 0.0))
            .where(column.is_not(None)).group_by(column))
    if ids is not None:
        stmt = stmt.where(column.in_(ids))
    return {b: {"count": int(n), "capital_wan": round(float(c), 1), "tax_wan": round(float(t), 1)}
            for b, n, c, t in conn.execute(stmt)}


def _empty() -> dict:
    return {"count": 0, "capital_wan": 0.0, "tax_wan": 0.0}


def _add(a: dict, b: dict) -> dict:
    return {"count": a["count"] + b["count"], "capital_wan": round(a["capital_wan"] + b["capital_wan"], 1),
            "tax_wan": round(a["tax_wan"] + b["tax_wan"], 1)}


def _place_rows(ctx: LayerContext, scope: Scope):
    def where(model, stmt):
        if scope.level == "province":
            return stmt.where(model.province_adcode == scope.code)
        if scope.level == "city":
            return stmt.where(model.city_adcode == scope.code)
        return stmt

    with Session(ctx.engine) as s:
        parks = list(s.scalars(where(Park, select(Park).order_by(Park.park_id))))
        buildings = list(s.scalars(where(Building, select(Building).order_by(Building.building_id))))
        s.expunge_all()
    return parks, buildings


def _tooltip(name: str, kind: str, reg: dict, op: dict, lang: str) -> str:
    def line(label, f):
        return (f'<div class="cc-tip-sub">{html.escape(label)}: {f["count"]} {html.escape(t("heat.unit.count", lang))}'
                f' · {f["capital_wan"]:,.0f} {html.escape(t("heat.unit.capital", lang))}'
                f' · {f["tax_wan"]:,.0f} {html.escape(t("heat.unit.tax", lang))}</div>')

    return (f'<div class="cc-tip-name">{html.escape(name)} · {html.escape(t("heat." + kind, lang))}</div>'
            + line(t("heat.registered", lang), reg) + line(t("heat.operating", lang), op))


def data(scope: Scope, ctx: LayerContext, lang: str = "zh") -> dict:
    """Parks and buildings of ``scope`` with registered / operating figures, as a FeatureCollection (WGS-84).

    Parks' figures are the sums over their buildings. Station scope → empty.
    """
    if scope.level == "station":
        return feature_collection([])
    k = (_engine_key(ctx.engine), scope.room, lang)
    pts = _get_points(ctx.engine)  # re-validates the cache (count) at most every RECHECK_S
    with _lock:
        hit = _places.get(k)
        if hit is not None and hit.get("_count") == pts.count:
            return hit["fc"]
    parks, buildings = _place_rows(ctx, scope)
    ids = [b.building_id for b in buildings]
    with ctx.engine.connect() as conn:
        reg = _figures_by(conn, Enterprise.reg_building_id) if ids else {}
        op = _figures_by(conn, Enterprise.op_building_id) if ids else {}
    feats = []
    park_reg: dict[str, dict] = {}
    park_op: dict[str, dict] = {}
    for b in buildings:
        r, o = reg.get(b.building_id, _empty()), op.get(b.building_id, _empty())
        if b.park_id:
            park_reg[b.park_id] = _add(park_reg.get(b.park_id, _empty()), r)
            park_op[b.park_id] = _add(park_op.get(b.park_id, _empty()), o)
        name = b.name_en if lang == "en" and b.name_en else b.name
        feats.append({"type": "Feature", "id": b.building_id, "geometry": json.loads(b.geometry),
                      "properties": {"id": b.building_id, "kind": "building", "name": b.name, "name_en": b.name_en,
                                     "park_id": b.park_id, "city_adcode": b.city_adcode, "lon": b.lon, "lat": b.lat,
                                     "floor_area_m2": b.floor_area_m2, "registered": r, "operating": o,
                                     "tooltip": _tooltip(name, "building", r, o, lang)}})
    park_feats = []
    for p in parks:
        r, o = park_reg.get(p.park_id, _empty()), park_op.get(p.park_id, _empty())
        name = p.name_en if lang == "en" and p.name_en else p.name
        park_feats.append({"type": "Feature", "id": p.park_id, "geometry": json.loads(p.geometry),
                           "properties": {"id": p.park_id, "kind": "park", "name": p.name, "name_en": p.name_en,
                                          "park_id": p.park_id, "city_adcode": p.city_adcode, "lon": p.lon,
                                          "lat": p.lat, "registered": r, "operating": o,
                                          "tooltip": _tooltip(name, "park", r, o, lang)}})
    fc = feature_collection(park_feats + feats)  # parks first: buildings are drawn on top
    with _lock:
        _places[k] = {"fc": fc, "_count": pts.count}
    return fc


def figures(ctx: LayerContext, kind: str, place_id: str) -> dict | None:
    """Figures of one park or building: ``{"id", "kind", "name", "name_en", "registered": {count, capital_wan,
    tax_wan}, "operating": {…}}`` — enterprises registered / operating there (a park: in its buildings).
    ``None`` for an unknown id.

    Raises:
        ValueError: ``kind`` not ``park`` / ``building``.
    """
    if kind not in ("park", "building"):
        raise ValueError(f"kind must be 'park' or 'building', not {kind!r}")
    with Session(ctx.engine) as s:
        row = s.get(Park if kind == "park" else Building, place_id)
        if row is None:
            return None
        name, name_en = row.name, row.name_en
        ids = ([place_id] if kind == "building" else
               list(s.scalars(select(Building.building_id).where(Building.park_id == place_id))))
    total_r, total_o = _empty(), _empty()
    if ids:
        with ctx.engine.connect() as conn:
            for v in _figures_by(conn, Enterprise.reg_building_id, ids).values():
                total_r = _add(total_r, v)
            for v in _figures_by(conn, Enterprise.op_building_id, ids).values():
                total_o = _add(total_o, v)
    return {"id": place_id, "kind": kind, "name": name, "name_en": name_en, "registered": total_r,
            "operating": total_o}


# --------------------------------------------------------------------------- legend and component


def legend(lang: str, metric: str = "count", address: str = "registered") -> list[LegendItem]:
    """Colour ramp (low → high) of the current metric and address, then the park and building outlines.

    CSS classes: ``cc-sym-heat`` (a bar with :func:`geo.heat.colorbar_css`), ``cc-sym-park``, ``cc-sym-building``.
    """
    title = f"{t('heat.metric.' + metric, lang)} · {t('heat.address.' + address, lang)}"
    return [LegendItem("cc-sym cc-sym-heat", f"{title} ({t('heat.low', lang)} → {t('heat.high', lang)})"),
            LegendItem("cc-sym cc-sym-park", t("heat.park", lang)),
            LegendItem("cc-sym cc-sym-building", t("heat.building", lang))]


def component(ctx: LayerContext, scope: Scope, lang: str, metric: str = "count", address: str = "registered",
              bbox=None, zoom=None) -> list[Any]:
    """``[dl.ImageOverlay(id="enterprise-heat"), dl.GeoJSON(id="enterprise-places")]``; the overlay's ``url`` and
    ``bounds`` are replaced by a callback on the map's viewport (:func:`surface`). No JS function needed."""
    import dash_leaflet as dl  # noqa: PLC0415

    s = surface(ctx, scope, metric, address, bbox, zoom)
    return [dl.ImageOverlay(id=COMPONENT_ID, url=s["url"], bounds=s["bounds"], opacity=0.85, interactive=False),
            dl.GeoJSON(id=PLACES_ID, data=data(scope, ctx, lang), style=PLACE_STYLE, bubblingMouseEvents=False,
                       hoverStyle={"weight": 3, "fillOpacity": 0.3})]


# --------------------------------------------------------------------------- the registered layer


def _blank_png() -> str:
    import base64  # noqa: PLC0415

    from geo.heat import encode_png  # noqa: PLC0415

    return "data:image/png;base64," + base64.b64encode(encode_png(np.zeros((1, 1, 4), dtype=np.uint8))).decode()


#: a transparent 1×1 PNG: the heat overlay while the layer is off
BLANK_PNG = _blank_png()


def place_panel(ctx: LayerContext, kind: str, place_id: str, lang: str):
    """Feature panel of a park or building: enterprise count, registered capital and tax output by registered and
    by operating address (:func:`figures`)."""
    from dash import html  # noqa: PLC0415

    fig = figures(ctx, kind, place_id)
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


@register
class EnterpriseHeatLayer(Layer):
    """The enterprise heat map (any region scope; its surface follows the map's viewport, drawn by
    :mod:`callbacks.city_layers` into the ``enterprise-heat`` overlay) and, at city scope, the parks and buildings
    (the registry component, ``/api/layers/places``). Imports enterprises."""

    key = "heat"
    order = 50
    scopes = ("nation", "province", "city")
    title_key = "legend.enterprise_heat"
    api_key = "places"
    pane = "cc-places"
    click_kind = "place"
    popup_fields = popup_fields
    import_spec = ENTERPRISES

    def data(self, scope: Scope, ctx: LayerContext, lang: str = "zh") -> dict:
        return data(scope, ctx, lang)

    def has_data(self, scope: Scope | None) -> bool:
        """Parks and buildings are drawn at city scope only (the heat surface at every region scope)."""
        return scope is not None and scope.level == "city"

    def shows_legend(self, scope: Scope | None) -> bool:
        return True

    def legend(self, lang: str, opts=None) -> list[LegendItem]:
        """The colour ramp of ``opts["metric"]`` / ``opts["address"]`` (inline style :func:`geo.heat.colorbar_css`);
        the park and building outlines only at city level (``opts["level"]``)."""
        from geo.heat import colorbar_css  # noqa: PLC0415

        opts = opts or {}
        items = legend(lang, opts.get("metric") or "count", opts.get("address") or "registered")
        bar = {"background": colorbar_css()}
        items = [LegendItem(i.symbol, i.label, i.key, i.text, bar if "cc-sym-heat" in i.symbol else None)
                 for i in items]
        return items if opts.get("level") == "city" else items[:1]

    def hideout(self, lang: str) -> dict:
        return {"lang": lang}

    def component_props(self) -> dict:
        from layers.draw import DRAW  # noqa: PLC0415

        return {"style": DRAW("placeStyle"), "hoverStyle": {"weight": 3, "fillOpacity": 0.35},
                "bubblingMouseEvents": False}

    def panel(self, ctx: LayerContext, kind: str, feature_id: str, lang: str):
        return place_panel(ctx, kind, feature_id, lang)

    def after_import(self, engine) -> None:
        from layers import region_stats  # noqa: PLC0415

        invalidate(engine)
        region_stats.clear_cache()
