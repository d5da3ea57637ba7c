"""Street-shops layer (沿街商铺, seed 003 rows 85–97): the shops of a city coloured by their latest inspection grade,
with a popup showing name, grade, integrity score, the shop's QR code (一户一码) and its inspection history.

``data(scope, ctx)`` — a FeatureCollection of Point features, WGS-84 ``[lon, lat]``, properties
``id, category, rating (A–D or null), score (integrity score 0–100 or null), tooltip`` and the drawing hint
``_color``. City scope only (``city:<adcode>``); other scopes → empty (10,000 shops per
street office are a city-level layer).

Popup: :func:`shop_detail` (data) / :func:`popup_component` (Dash component) for one shop id — fetched on click,
so the 10,000-feature layer stays small. QR images: :func:`qr_data_uri` — PNG made by the ``qrcode`` library
(error correction M) as a ``data:`` URI.

Drawing: clustered ``dl.GeoJSON`` with ``cc.draw.cityPoint`` / ``cc.draw.cityCluster``.
"""
from __future__ import annotations

import base64
import io
import json
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from datasources.sql.city_models import SHOP_CATEGORIES, SHOP_RATINGS, Shop, ShopInspection
from i18n import t
from datasources.ingest.specs import SHOPS
from layers.base import Layer, LayerContext, LegendItem, Scope, feature_collection
from layers.registry import register
from layers.draw import DRAW
from ops.vocab import SHOP_GRADE_COLOURS

key = "shops"
COMPONENT_ID = "shops"
popup_fields: tuple[tuple[str, str], ...] = (("name", "shop.name"), ("rating", "shop.rating"),
                                             ("integrity_score", "shop.integrity"), ("address", "shop.address"))
COLORS = dict(SHOP_GRADE_COLOURS)  # grade (None = not graded) → colour, ops/vocab.py
HISTORY_ROWS = 10



def category_label(category: str, lang: str) -> str:
    """Display name of a shop category key (:data:`datasources.sql.city_models.SHOP_CATEGORIES`)."""
    entry = SHOP_CATEGORIES.get(category)
    if entry is None:
        return category
    return entry[1] if lang == "en" else entry[0]


@lru_cache(maxsize=2048)
def qr_png(payload: str, box_size: int = 4, border: int = 2) -> bytes:
    """PNG bytes of the QR code of ``payload`` (UTF-8 byte mode, error correction M, ``box_size`` px per module).

    Raises:
        ImportError: ``qrcode`` / Pillow missing. qrcode.exceptions.DataOverflowError: payload too long (> ~2 kB).
    """
    import qrcode  # noqa: PLC0415
    from qrcode.constants import ERROR_CORRECT_M  # noqa: PLC0415

    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=border)
    qr.add_data(payload.encode("utf-8"))
    qr.make(fit=True)
    img = qr.make_image(fill_color="black", back_color="white")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def qr_data_uri(payload: str, box_size: int = 4) -> str:
    """``data:image/png;base64,…`` of :func:`qr_png` — for ``html.Img(src=...)``."""
    return "data:image/png;base64," + base64.b64encode(qr_png(payload, box_size)).decode("ascii")


def _rows(ctx: LayerContext, scope: Scope):
    if scope.level != "city":
        return []
    stmt = (select(Shop.shop_id, Shop.name, Shop.name_en, Shop.category, Shop.rating, Shop.integrity_score,
                   Shop.lon, Shop.lat, Shop.city_adcode)
            .where(Shop.city_adcode == scope.code).order_by(Shop.shop_id))
    with ctx.engine.connect() as conn:
        return conn.execute(stmt).all()


def data(scope: Scope, ctx: LayerContext, lang: str = "zh") -> dict:
    """Shops of a city as a GeoJSON FeatureCollection (WGS-84); empty for other scopes.

    Properties are kept small (10,000 features ≈ 2 MB of JSON; serve it by URL, :func:`data_text`):
    ``id, category, rating, score (integrity), tooltip`` (name · grade · score in ``lang``), ``_color``.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: database errors.
    """
    feats = []
    for sid, name, name_en, cat, rating, score, lon, lat, _city in _rows(ctx, scope):
        shown = name_en if lang == "en" and name_en else name
        tip = f"{shown} · {rating or '—'}" + (f" · {score:.0f}" if score is not None else "")
        feats.append({"type": "Feature", "id": sid, "geometry": {"type": "Point", "coordinates": [lon, lat]},
                      "properties": {"id": sid, "category": cat, "rating": rating, "score": score, "tooltip": tip,
                                     "_color": COLORS.get(rating, COLORS[None])}})
    return feature_collection(feats)


def data_text(scope: Scope, ctx: LayerContext, lang: str = "zh") -> str:
    """:func:`data` as compact JSON text (UTF-8 names unescaped) — what a ``/api/layers/shops`` route serves."""
    return json.dumps(data(scope, ctx, lang), ensure_ascii=False, separators=(",", ":"))


def shop_detail(ctx: LayerContext, shop_id: str, history: int = HISTORY_ROWS) -> dict | None:
    """One shop with its QR code and latest inspections, or ``None``.

    Returns::

        {"shop": {id, name, name_en, address, contact, category, rating, integrity_score, lon, lat, city_adcode,
                  qr_payload},
         "qr": "data:image/png;base64,…",
         "history": [{"date": "2026-11-02", "rating": "A", "score": 93.5, "inspector": "…", "notes": "…"}, …]}

    ``history``: newest first, at most ``history`` rows.
    """
    with Session(ctx.engine) as s:
        shop = s.get(Shop, shop_id)
        if shop is None:
            return None
        rows = s.execute(select(ShopInspection.inspected_on, ShopInspection.rating, ShopInspection.score,
                                ShopInspection.inspector, ShopInspection.notes)
                         .where(ShopInspection.shop_id == shop_id)
                         .order_by(ShopInspection.inspected_on.desc(), ShopInspection.id.desc()).limit(history)).all()
        info = {"id": shop.shop_id, "name": shop.name, "name_en": shop.name_en, "address": shop.address,
                "contact": shop.contact, "category": shop.category, "rating": shop.rating,
                "integrity_score": shop.integrity_score, "lon": shop.lon, "lat": shop.lat,
                "city_adcode": shop.city_adcode, "qr_payload": shop.qr_payload}
    return {"shop": info, "qr": qr_data_uri(info["qr_payload"] or info["id"]),
            "history": [{"date": d.isoformat() if isinstance(d, date) else str(d), "rating": r, "score": sc,
                         "inspector": ins, "notes": n} for d, r, sc, ins, n in rows]}


def popup_component(ctx: LayerContext, shop_id: str, lang: str = "zh") -> Any:
    """The shop popup as Dash HTML: name, grade, integrity score, address, person in charge, QR code, history table.

    CSS classes: ``cc-shop-popup``, ``cc-shop-grade cc-shop-grade-<A..D>``, ``cc-shop-qr``, ``cc-shop-history``.
    """
    from dash import html  # noqa: PLC0415

    d = shop_detail(ctx, shop_id)
    if d is None:
        return html.Div(t("shop.not_found", lang), className="cc-shop-popup")
    s = d["shop"]
    name = s["name_en"] if lang == "en" and s["name_en"] else s["name"]
    grade = s["rating"]
    score = "—" if s["integrity_score"] is None else f"{s['integrity_score']:.1f}"
    head = html.Div([html.Div(name, className="cc-shop-name"),
                     html.Span(t(f"shop.rating.{grade}" if grade else "shop.rating.none", lang),
                               className=f"cc-shop-grade cc-shop-grade-{grade or 'none'}",
                               style={"color": COLORS.get(grade, COLORS[None])})])
    facts = html.Table(html.Tbody([
        html.Tr([html.Th(t("shop.integrity", lang)), html.Td(score)]),
        html.Tr([html.Th(t("shop.category", lang)), html.Td(category_label(s["category"], lang))]),
        html.Tr([html.Th(t("shop.address", lang)), html.Td(s["address"])]),
        html.Tr([html.Th(t("shop.contact", lang)), html.Td(s["contact"])]),
    ]), className="cc-shop-facts")
    qr = html.Img(src=d["qr"], alt=t("shop.qr", lang), title=s["qr_payload"], className="cc-shop-qr",
                  style={"width": "8rem", "height": "8rem", "imageRendering": "pixelated"})
    hist = html.Table([
        html.Thead(html.Tr([html.Th(t(k, lang)) for k in ("shop.date", "shop.rating", "shop.score",
                                                             "shop.inspector", "shop.notes")])),
        html.Tbody([html.Tr([html.Td(h["date"]), html.Td(h["rating"]), html.Td(f"{h['score']:.0f}"),
                             html.Td(h["inspector"]), html.Td(h["notes"])]) for h in d["history"]]),
    ], className="cc-shop-history")
    return html.Div([head, html.Div([facts, qr], className="cc-shop-body"),
                     html.Div(t("shop.history", lang), className="cc-shop-subtitle"), hist],
                    className="cc-shop-popup", **{"data-shop": s["id"]})


def legend(lang: str) -> list[LegendItem]:
    """One row per grade plus "not inspected" (CSS classes ``cc-sym-shop-<A..D|none>``)."""
    items = [LegendItem(f"cc-sym cc-sym-shop cc-sym-shop-{g}", t(f"shop.rating.{g}", lang)) for g in SHOP_RATINGS]
    items.append(LegendItem("cc-sym cc-sym-shop cc-sym-shop-none", t("shop.rating.none", lang)))
    return items


def component(ctx: LayerContext, scope: Scope, lang: str, geojson: dict | None = None, url: str | None = None) -> Any:
    """Clustered ``dl.GeoJSON`` (``cc.draw.cityPoint`` / ``cityCluster``); a click gives ``clickData``
    with the shop id — the callback then shows :func:`popup_component`. With ``url`` (e.g.
    ``/api/layers/shops?scope=city:310100&lang=zh`` serving :func:`data_text`) the browser loads the features itself
    and the layout stays small."""
    import dash_leaflet as dl  # noqa: PLC0415

    if url is not None:
        return dl.GeoJSON(id=COMPONENT_ID, url=url, cluster=True, zoomToBoundsOnClick=True,
                          superClusterOptions={"radius": 60, "maxZoom": 16},
                          pointToLayer=DRAW("cityPoint"),
                          clusterToLayer=DRAW("cityCluster"),
                          hideout={"lang": lang}, bubblingMouseEvents=False)
    return dl.GeoJSON(id=COMPONENT_ID, data=geojson if geojson is not None else data(scope, ctx, lang),
                      cluster=True, zoomToBoundsOnClick=True, superClusterOptions={"radius": 60, "maxZoom": 16},
                      pointToLayer=DRAW("cityPoint"),
                      clusterToLayer=DRAW("cityCluster"),
                      hideout={"lang": lang, "colors": {k or "none": v for k, v in COLORS.items()}},
                      bubblingMouseEvents=False)


# --------------------------------------------------------------------------- the registered layer


def shop_panel(ctx: LayerContext, shop_id: str, lang: str):
    """Feature panel of a shop: :func:`popup_component` under its name, category and id."""
    from dash import html  # noqa: PLC0415

    detail = shop_detail(ctx, shop_id)
    if detail is None:
        return ("cc-fp", t("fpanel.shop", lang), shop_id, "", [html.Div(t("shop.not_found", lang),
                                                                        className="cc-empty")])
    s = detail["shop"]
    name = s["name_en"] if lang == "en" and s["name_en"] else s["name"]
    sub = " · ".join(x for x in (category_label(s["category"], lang), s["id"]) if x)
    return ("cc-fp cc-fp-shop", t("fpanel.shop", lang), name, sub, [popup_component(ctx, shop_id, lang)])


@register
class ShopsLayer(Layer):
    """Street shops of a city by inspection grade, loaded by the browser from ``/api/layers/shops``."""

    key = "shops"
    order = 40
    default_on = True
    title_key = "legend.shops"
    api_key = "shops"
    pane = "cc-points"
    by_url = True
    click_kind = "shop"
    popup_fields = popup_fields
    import_spec = SHOPS

    def data(self, scope: Scope, ctx: LayerContext, lang: str = "zh") -> dict:
        return data(scope, ctx, lang)

    def api_text(self, scope: Scope, ctx: LayerContext, lang: str = "zh") -> str:
        """:func:`data_text` when no display shift applies (the common case: no copy of 10,000 features)."""
        from layers import display  # noqa: PLC0415

        if not display.shifted():
            return data_text(scope, ctx, lang)
        return super().api_text(scope, ctx, lang)

    def legend(self, lang: str, opts=None) -> list[LegendItem]:
        return legend(lang)

    def hideout(self, lang: str) -> dict:
        return {"lang": lang, "kind": "shop"}

    def component_props(self) -> dict:
        return {"cluster": True, "zoomToBoundsOnClick": True, "superClusterOptions": {"radius": 60, "maxZoom": 16},
                "pointToLayer": DRAW("cityPoint"),
                "clusterToLayer": DRAW("cityCluster"), "bubblingMouseEvents": False}

    def panel(self, ctx: LayerContext, kind: str, feature_id: str, lang: str):
        return shop_panel(ctx, feature_id, lang)
