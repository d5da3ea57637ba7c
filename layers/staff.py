"""Service staff and experts online (在线服务, seed 001 table 7: 服务人员 / 厂家专家 在线数量, 省级分布, 市级分布): the people
on duty right now, by province (national view) and by city (province and city views), one circle per region.

Sources, read on every request (live: a duty flag changed in the roster publishes ``cc:roster``, relayed to the
page as the Socket.IO ``roster`` event, after which the layer reloads — :attr:`StaffLayer.live_events`; no timer):

* the dispatch roster (``engineers``, :mod:`datasources.sql.workorders`): active field engineers with ``on_duty``;
  their province is the province of their ``city_adcode`` (:meth:`geo.regions.RegionIndex.province_of`);
* the service population (``service_people``, :class:`datasources.sql.city_models.ServicePerson`): service staff
  (any role but ``expert``) and manufacturers' experts (role ``expert``) with ``online`` set — the people the
  national tooltip counts (:mod:`layers.region_stats`).

``data(scope, ctx, lang)`` — a FeatureCollection of Point features, WGS-84 ``[lon, lat]`` at each region's label
point (inside the region, :class:`geo.regions.Region` ``lon, lat``), one per region with anyone on duty:
``nation`` → provinces; ``province:<adcode>`` → its cities; ``city:<adcode>`` → that city. Properties:
``id`` (= ``adcode``), ``name``, ``level``, ``roster_on_duty``, ``staff_online``, ``experts_online``, ``on_duty``
(their sum), ``engineers`` (names of the on-duty roster engineers, at most :data:`MAX_NAMES`), ``tooltip`` (HTML in
``lang``) and the drawing hints ``_color`` (experts among them or not) and ``_r`` (px: :func:`radius_px`).

Drawing: ``cc.draw.cityPoint`` (a circle marker from ``_color`` / ``_r``; dash-leaflet binds the tooltip from
``properties.tooltip``). A registry layer (:mod:`layers.registry`): this module, its catalog (``i18n/catalog_staff.py``)
and its tests are all of it.
"""
from __future__ import annotations

import html
import math
from typing import Any

from sqlalchemy import func, select

from datasources.sql.alarm_models import Engineer
from datasources.sql.city_models import ServicePerson
from i18n import t
from layers.base import Layer, LayerContext, LegendItem, Scope, feature_collection
from layers.registry import register

#: circle colours: people on duty, and people on duty with at least one expert online among them
COLOR_STAFF = "#b18cff"
COLOR_EXPERTS = "#ffc94d"
#: circle radius, px: ``R_MIN + R_PER_SQRT · √(on duty)`` capped at ``R_MAX`` (area grows with the head count)
R_MIN, R_PER_SQRT, R_MAX = 6.0, 3.0, 26.0
#: roster engineers named in a tooltip
MAX_NAMES = 6


def radius_px(on_duty: int) -> float:
    """Circle radius in px for ``on_duty`` people (area ∝ head count, between :data:`R_MIN` and :data:`R_MAX`)."""
    return round(min(R_MAX, R_MIN + R_PER_SQRT * math.sqrt(max(0, on_duty))), 1)


def _regions():
    from geo.regions import get_region_index  # noqa: PLC0415 — heavy, loaded once per process

    return get_region_index()


def _group_of(idx, scope: Scope, city_adcode: str) -> str | None:
    """The adcode a person of ``city_adcode`` is counted under at ``scope`` (``None``: outside the scope)."""
    try:
        province = idx.province_of(city_adcode).adcode
    except KeyError:
        return None
    if scope.level == "nation":
        return province
    if scope.level == "province":
        return city_adcode if province == scope.code else None
    return city_adcode if city_adcode == scope.code else None


def counts(ctx: LayerContext, scope: Scope) -> dict[str, dict[str, Any]]:
    """``{adcode: {"roster_on_duty", "staff_online", "experts_online", "engineers": [names]}}`` of the regions of
    ``scope`` with anyone on duty (station scope → ``{}``).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: database errors.
    """
    if scope.level not in ("nation", "province", "city"):
        return {}
    idx = _regions()
    out: dict[str, dict[str, Any]] = {}

    def row(code: str) -> dict[str, Any]:
        return out.setdefault(code, {"roster_on_duty": 0, "staff_online": 0, "experts_online": 0, "engineers": []})

    col = ServicePerson.province_adcode if scope.level == "nation" else ServicePerson.city_adcode
    people = (select(col, ServicePerson.role, func.count()).where(ServicePerson.online.is_(True))
              .group_by(col, ServicePerson.role))
    if scope.level == "province":
        people = people.where(ServicePerson.province_adcode == scope.code)
    elif scope.level == "city":
        people = people.where(ServicePerson.city_adcode == scope.code)
    roster = (select(Engineer.city_adcode, Engineer.name, Engineer.name_en)
              .where(Engineer.on_duty.is_(True), Engineer.active.is_(True)).order_by(Engineer.engineer_id))
    with ctx.engine.connect() as conn:
        for code, role, n in conn.execute(people):
            if code:
                row(code)["experts_online" if role == "expert" else "staff_online"] += int(n)
        for city, name, name_en in conn.execute(roster):
            code = _group_of(idx, scope, city) if city else None
            if code is not None:
                r = row(code)
                r["roster_on_duty"] += 1
                r["engineers"].append((name, name_en))
    return out


def _tooltip(name: str, c: dict, lang: str) -> str:
    names = [en if lang == "en" and en else zh for zh, en in c["engineers"]]
    shown = "、".join(names[:MAX_NAMES]) + (" …" if len(names) > MAX_NAMES else "") if lang != "en" else \
        ", ".join(names[:MAX_NAMES]) + (" …" if len(names) > MAX_NAMES else "")
    lines = [(t("staff.roster_on_duty", lang), c["roster_on_duty"]), (t("staff.staff_online", lang), c["staff_online"]),
             (t("staff.experts_online", lang), c["experts_online"])]
    body = "".join(f'<div class="cc-tip-sub">{html.escape(label)}: <b>{n}</b></div>' for label, n in lines)
    who = f'<div class="cc-tip-sub">{html.escape(shown)}</div>' if names else ""
    total = c["roster_on_duty"] + c["staff_online"] + c["experts_online"]
    return (f'<div class="cc-tip-name">{html.escape(name)} · {html.escape(t("staff.on_duty", lang, n=total))}</div>'
            + body + who)


@register
class StaffLayer(Layer):
    """People on duty by region (see the module docstring)."""

    key = "staff"
    order = 60
    scopes = ("nation", "province", "city")
    title_key = "legend.staff"
    api_key = "staff"
    pane = "cc-points"
    #: reloaded while on when the roster changes (``roster``, :func:`datasources.sql.workorders.set_on_duty`) and
    #: after the ops bridge's Redis reconnect (``ops_resync``: roster events may have been missed)
    live_events = ("roster", "ops_resync")
    popup_fields = (("name", "staff.region"), ("roster_on_duty", "staff.roster_on_duty"),
                    ("staff_online", "staff.staff_online"), ("experts_online", "staff.experts_online"))
    swatch = {"background": COLOR_STAFF, "borderRadius": "50%"}

    def data(self, scope: Scope, ctx: LayerContext, lang: str = "zh") -> dict:
        """People on duty per region of ``scope`` as GeoJSON (WGS-84; see the module docstring).

        Raises:
            sqlalchemy.exc.SQLAlchemyError: database errors.
        """
        idx = _regions()
        feats = []
        for code, c in sorted(counts(ctx, scope).items()):
            try:
                region = idx.region(code)
            except KeyError:
                continue
            name = region.name_en if lang == "en" and region.name_en else region.name_zh
            total = c["roster_on_duty"] + c["staff_online"] + c["experts_online"]
            feats.append({"type": "Feature", "id": code,
                          "geometry": {"type": "Point", "coordinates": [region.lon, region.lat]},
                          "properties": {"id": code, "adcode": code, "name": name, "level": region.level,
                                         "roster_on_duty": c["roster_on_duty"], "staff_online": c["staff_online"],
                                         "experts_online": c["experts_online"], "on_duty": total,
                                         "engineers": [zh for zh, _en in c["engineers"][:MAX_NAMES]],
                                         "tooltip": _tooltip(name, c, lang),
                                         "_color": COLOR_EXPERTS if c["experts_online"] else COLOR_STAFF,
                                         "_r": radius_px(total)}})
        return feature_collection(feats)

    def legend(self, lang: str, opts=None) -> list[LegendItem]:
        """A circle per region (size ∝ people on duty); gold when experts are online there."""
        circle = {"borderRadius": "50%", "display": "inline-block", "width": "0.8rem", "height": "0.8rem"}
        return [LegendItem("cc-sym cc-sym-staff", t("staff.legend.staff", lang), key="staff.legend.staff",
                           style={**circle, "background": COLOR_STAFF}),
                LegendItem("cc-sym cc-sym-staff-experts", t("staff.legend.experts", lang), key="staff.legend.experts",
                           style={**circle, "background": COLOR_EXPERTS})]

    def hideout(self, lang: str) -> dict:
        return {"lang": lang, "kind": "staff"}

    def component_props(self) -> dict:
        from layers.draw import DRAW  # noqa: PLC0415

        return {"pointToLayer": DRAW("cityPoint"), "bubblingMouseEvents": False}
