"""What an importable layer's file holds: :class:`Field` (a column), :class:`LayerSpec` (a layer's columns, id,
geometry, target table, cross-field rules and references) and the built-in specs (:data:`LAYERS`).

A spec is data; the map layer that owns it (:mod:`layers`) points to it (``Layer.import_spec``), and a layer of
its own module may define a new spec with these classes and hand it to :func:`datasources.ingest.importers.import_file`.
Column names are matched case-insensitively, with English and Chinese aliases.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field as dc_field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping

from datasources.sql.city_models import (CAMERA_KINDS, CAMERA_STATUSES, PIPE_MEDIA, PIPELINE_KINDS, SHOP_CATEGORIES,
                                         SHOP_RATINGS, Building, Camera, Enterprise, Pipeline, Shop, shop_qr_payload)
from datasources.sql.fleet_spec import LIFECYCLES, STATION_KINDS
from datasources.sql.models import Station

@dataclass(frozen=True)
class Field:
    """A column of an import file.

    Attributes:
        name: the stored column name (also the canonical header).
        kind: ``"id"`` (letters, digits, ``_ . -``, at most ``max_len``), ``"text"``, ``"float"``, ``"enum"``.
        required: missing/empty is an error (else ``default``).
        aliases: other accepted headers (case-insensitive; Chinese allowed).
        max_len: text length limit (characters).
        min, max: inclusive numeric range.
        choices: for enums, accepted spelling (case-insensitive) → stored value.
        default: value when optional and empty.
    """

    name: str
    kind: str = "text"
    required: bool = False
    aliases: tuple[str, ...] = ()
    max_len: int = 128
    min: float | None = None
    max: float | None = None
    choices: Mapping[str, str] | None = None
    default: Any = None


@dataclass(frozen=True)
class LayerSpec:
    """How one layer is imported.

    Attributes:
        key: the import's name (``/api/import/<key>``, the audit target ``<key>:<file name>``).
        model: the mapped class written (its table is the target).
        id_field: the primary-key column (unique in the file and against the table).
        fields: the columns (:class:`Field`), besides the geometry columns.
        geometry: ``point`` | ``line`` | ``two_points`` (an enterprise's registered and operating addresses).
        references: ``{name: (column that must hold the value, (fields holding it, …))}`` — e.g. a camera's
            ``station_id`` must be a station; the set of existing values is handed to ``rules`` as ``refs[name]``.
        rules: ``rules(vals, refs, err) -> None``: cross-field rules and derived defaults of one valid row (``vals``
            the parsed, positioned column dict, changed in place; ``err(field, message)`` records a problem).
        path: an import path of its own, ``path(engine, spec, table, report, region_index, region, audit)``, in place
            of the streamed staging (the stations: the registry's, :mod:`datasources.ingest.stations`); it writes the
            audit entry itself (``report.audited``).
    """

    key: str
    model: Any
    id_field: str
    fields: tuple[Field, ...]
    geometry: str = "point"
    references: Mapping[str, tuple[Any, tuple[str, ...]]] = dc_field(default_factory=dict)
    rules: Callable[[dict, Mapping[str, set], Callable[[str, str], None]], None] | None = None
    path: Callable[..., None] | None = None


def _enum(values: Iterable[str], labels: Mapping[str, str] | None = None) -> dict[str, str]:
    out = {v.lower(): v for v in values}
    for label, value in (labels or {}).items():
        out[label.lower()] = value
    return out


_LON = ("lon", "lng", "long", "longitude", "x", "经度")
_LAT = ("lat", "latitude", "y", "纬度")

_STATION_FIELDS = (
    Field("station_id", "id", True, ("id", "站点编号", "编号"), max_len=32),
    Field("name", "text", True, ("名称", "站点名称")),
    Field("name_en", "text", False, ("english_name", "英文名称"), default=""),
    Field("kind", "enum", True, ("类型", "站点类型"),
          choices=_enum(STATION_KINDS, {"单机模块": "standalone_module", "智慧空压站": "smart_station",
                                        "集中空压站": "central_station"})),
    Field("lifecycle", "enum", True, ("status", "状态", "建设状态"),
          choices=_enum(LIFECYCLES, {"已建": "built", "在建": "under_construction", "空闲": "idle", "维护": "maintenance"})),
    Field("capacity_m3_min", "float", False, ("capacity", "产气量", "装机容量"), min=0, max=100_000, default=0.0),
    Field("partner", "text", False, ("合作伙伴", "运维单位"), default=""),
)
_CAMERA_FIELDS = (
    Field("camera_id", "id", True, ("id", "摄像机编号", "编号"), max_len=32),
    Field("name", "text", True, ("名称", "摄像机名称", "点位名称")),
    Field("name_en", "text", False, ("english_name", "英文名称"), default=""),
    Field("station_id", "id", False, ("station", "所属站点"), max_len=32),
    Field("status", "enum", False, ("状态",), choices=_enum(CAMERA_STATUSES, {"在线": "online", "离线": "offline"}),
          default="online"),
    Field("kind", "enum", False, ("stream_kind", "流类型"), choices=_enum(CAMERA_KINDS), default="mjpeg"),
    Field("stream_url", "text", False, ("url", "视频地址", "流地址"), max_len=512, default=""),
)
_PIPELINE_FIELDS = (
    Field("pipeline_id", "id", True, ("id", "segment_id", "管段编号", "编号"), max_len=32),
    Field("kind", "enum", True, ("类型", "管线类型"),
          choices=_enum(PIPELINE_KINDS, {"压缩空气": "compressed_air", "供气管线": "compressed_air",
                                         "地下管线": "underground"})),
    Field("medium", "enum", False, ("介质",),
          choices=_enum(PIPE_MEDIA, {"压缩空气": "compressed_air", "燃气": "gas", "供水": "water", "水": "water",
                                     "供热": "heat", "排水": "drainage"})),
    Field("name", "text", True, ("名称", "管段名称")),
    Field("name_en", "text", False, ("english_name", "英文名称"), default=""),
    Field("nominal_pressure_mpa", "float", True, ("nominal_pressure", "pressure_mpa", "额定压力", "设计压力"),
          min=0.001, max=10.0),
    Field("low_pressure_mpa", "float", False, ("low_pressure", "低压阈值", "报警压力"), min=0.0, max=10.0),
    Field("sensor_device_id", "text", False, ("sensor", "sensor_id", "传感器编号"), max_len=48),
    Field("station_id", "id", False, ("station", "所属站点"), max_len=32),
    Field("enterprise_id", "text", False, ("enterprise", "用气企业"), max_len=24),
)
_SHOP_FIELDS = (
    Field("shop_id", "id", True, ("id", "商户编号", "编号"), max_len=32),
    Field("name", "text", True, ("名称", "商户名称", "店名")),
    Field("name_en", "text", False, ("english_name", "英文名称"), max_len=160, default=""),
    Field("address", "text", True, ("地址", "商户地址"), max_len=256),
    Field("contact", "text", False, ("负责人", "联系人"), max_len=64, default=""),
    Field("category", "enum", True, ("类别", "分类", "行业"),
          choices=_enum(SHOP_CATEGORIES, {zh: key for key, (zh, _en, _a, _b) in SHOP_CATEGORIES.items()})),
    Field("rating", "enum", False, ("评级", "等级"), choices=_enum(SHOP_RATINGS)),
    Field("integrity_score", "float", False, ("诚信评分", "诚信分"), min=0, max=100),
    Field("qr_payload", "text", False, ("二维码", "二维码内容"), max_len=2000),
)
_ENTERPRISE_FIELDS = (
    Field("enterprise_id", "id", True, ("id", "credit_code", "uscc", "统一社会信用代码", "企业编号"), max_len=24),
    Field("name", "text", True, ("名称", "企业名称")),
    Field("name_en", "text", False, ("english_name", "英文名称"), max_len=160, default=""),
    Field("industry", "text", False, ("行业",), max_len=32, default=""),
    Field("registered_capital_wan", "float", True, ("registered_capital", "capital", "注册资本", "注册资本（万元）"),
          min=0, max=1e9),
    Field("tax_wan", "float", False, ("tax", "tax_output", "税收", "纳税额", "税收（万元）"), min=0, max=1e9, default=0.0),
    Field("reg_building_id", "id", False, ("registered_building", "注册楼宇"), max_len=32),
    Field("op_building_id", "id", False, ("operating_building", "经营楼宇"), max_len=32),
)


_GEOMETRY_FIELDS = {
    "point": (Field("lon", "float", True, _LON), Field("lat", "float", True, _LAT)),
    "line": (Field("geometry", "text", False, ("wkt", "geojson", "geom", "几何", "坐标串"), max_len=1_000_000),
             Field("coords", "text", False, ("coordinates", "path", "坐标"), max_len=1_000_000)),
    "two_points": (Field("reg_lon", "float", True, ("lon", "lng", "longitude", "注册地经度", "经度")),
                   Field("reg_lat", "float", True, ("lat", "latitude", "注册地纬度", "纬度")),
                   Field("op_lon", "float", False, ("operating_lon", "经营地经度")),
                   Field("op_lat", "float", False, ("operating_lat", "经营地纬度"))),
}


def _norm_header(h: Any) -> str:
    return re.sub(r"[\s\-]+", "_", str(h if h is not None else "").strip().lower()).strip("_")


# --------------------------------------------------------------------------- cross-field rules of the built-in layers


def _station_rules(vals: dict, refs: Mapping[str, set], err) -> None:
    vals["created_at"] = datetime.now(timezone.utc)


def _camera_rules(vals: dict, refs: Mapping[str, set], err) -> None:
    if vals.get("station_id") and vals["station_id"] not in refs["station_id"]:
        err("station_id", f"unknown station {vals['station_id']!r}")
    url = vals.get("stream_url") or ""
    if vals["kind"] == "hls" and not url:
        err("stream_url", "an hls camera needs a stream_url (.m3u8)")
    elif url and not (url.startswith("/") or re.match(r"^(https?|rtsp)://", url)):
        err("stream_url", f"{url[:60]!r} is neither an http(s)/rtsp URL nor a path of this site")
    if not url and vals["kind"] == "mjpeg":
        vals["stream_url"] = f"/cameras/{vals['camera_id']}/stream.mjpg"
    vals["station_id"] = vals.get("station_id") or None


#: a pipe's default low-pressure alarm threshold, as a share of its nominal pressure
#: (the pipelines layer's :data:`layers.pipelines.LOW_RATIO`)
DEFAULT_LOW_RATIO = 0.8


def _pipeline_rules(vals: dict, refs: Mapping[str, set], err) -> None:
    if vals.get("station_id") and vals["station_id"] not in refs["station_id"]:
        err("station_id", f"unknown station {vals['station_id']!r}")
    if not vals.get("medium"):
        if vals["kind"] == "compressed_air":
            vals["medium"] = "compressed_air"
        else:
            err("medium", "an underground pipe needs its medium (gas, water, heat, drainage, compressed_air)")
    low = vals.get("low_pressure_mpa")
    if low is not None and low >= vals["nominal_pressure_mpa"]:
        err("low_pressure_mpa", f"alarm threshold {low:g} MPa must be below the nominal "
                                f"{vals['nominal_pressure_mpa']:g} MPa")
    if low is None:
        vals["low_pressure_mpa"] = round(vals["nominal_pressure_mpa"] * DEFAULT_LOW_RATIO, 4)
    if vals.get("enterprise_id") and vals["enterprise_id"] not in refs["enterprise_id"]:
        err("enterprise_id", f"unknown enterprise {vals['enterprise_id']!r}")
    vals["sensor_device_id"] = vals.get("sensor_device_id") or None
    vals["station_id"] = vals.get("station_id") or None
    vals["enterprise_id"] = vals.get("enterprise_id") or None


def _shop_rules(vals: dict, refs: Mapping[str, set], err) -> None:
    if not vals.get("qr_payload"):
        vals["qr_payload"] = shop_qr_payload(vals["shop_id"], vals["name"], vals["address"], vals.get("contact") or "")


def _enterprise_rules(vals: dict, refs: Mapping[str, set], err) -> None:
    for name in ("reg_building_id", "op_building_id"):
        if vals.get(name) and vals[name] not in refs["building_id"]:
            err(name, f"unknown building {vals[name]!r}")
        vals[name] = vals.get(name) or None


_STATION_REF = {"station_id": (Station.station_id, ("station_id",))}

def _station_path(*args, **kwargs) -> None:
    from datasources.ingest.stations import import_station_table  # noqa: PLC0415 — it imports this module

    import_station_table(*args, **kwargs)


STATIONS = LayerSpec("stations", Station, "station_id", _STATION_FIELDS, rules=_station_rules, path=_station_path)
CAMERAS = LayerSpec("cameras", Camera, "camera_id", _CAMERA_FIELDS, references=_STATION_REF, rules=_camera_rules)
PIPELINES = LayerSpec("pipelines", Pipeline, "pipeline_id", _PIPELINE_FIELDS, geometry="line",
                      references={**_STATION_REF, "enterprise_id": (Enterprise.enterprise_id, ("enterprise_id",))},
                      rules=_pipeline_rules)
SHOPS = LayerSpec("shops", Shop, "shop_id", _SHOP_FIELDS, rules=_shop_rules)
ENTERPRISES = LayerSpec("enterprises", Enterprise, "enterprise_id", _ENTERPRISE_FIELDS, geometry="two_points",
                        references={"building_id": (Building.building_id, ("reg_building_id", "op_building_id"))},
                        rules=_enterprise_rules)

#: the built-in imports by name (what ``import_file(engine, "<name>", …)`` resolves; a layer with a spec of its own
#: passes the spec itself)
LAYERS: dict[str, LayerSpec] = {s.key: s for s in (STATIONS, CAMERAS, PIPELINES, SHOPS, ENTERPRISES)}
