"""SQL models of the city layers (issue 3): cameras, pipelines, street shops and their inspections, enterprises,
parks and buildings, service staff / experts and partners. Schema: Alembic migration ``0004``.

Conventions (as :mod:`datasources.sql.models`):

* Coordinates are WGS-84 (EPSG:4326) degrees. Line and polygon geometries are stored as compact GeoJSON geometry
  text (``geometry`` columns, ``[lon, lat]`` WGS-84) with a bounding box in ``min_lon … max_lat`` where a viewport
  query may need it (PostGIS is optional, so nothing here needs it).
* ``province_adcode`` / ``city_adcode`` are 6-digit strings from :meth:`geo.regions.RegionIndex.locate` of the
  stored point (for a line: its first vertex). Enterprises carry only city adcodes (one per address); a province is
  then the range ``city_adcode >= 'xx0000' AND city_adcode <= 'xx9999'`` (see :func:`province_range`), which an
  index on the city adcode serves — a city adcode always starts with its province's two digits.
* Money: 万元 CNY (10,000 yuan). Pressures: MPa (gauge). Lengths: metres. Dates: ``date`` (local calendar day).

Sources: seed 003 (上海 九里亭街道 城运中心: 楼宇经济 rows 66–73 — enterprise heat maps by count, registered capital and
tax output, by registered vs operating address, by park and building; 沿街商铺 rows 85–97 — one QR code per shop,
inspection ratings, integrity score, ~10,000 shops; underground pipeline monitoring items 21/24; 16 video front ends
item 27) and seed 001 table 7 (service staff and experts by province and city; partners).
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from datasources.sql.models import Base, utcnow

__all__ = [
    "CAMERA_KINDS", "CAMERA_STATUSES", "PIPELINE_KINDS", "PIPE_MEDIA", "SHOP_RATINGS", "PERSON_ROLES",
    "SHOP_CATEGORIES",
    "Camera", "Pipeline", "Shop", "ShopInspection", "Park", "Building", "Enterprise", "Partner", "ServicePerson",
    "province_range", "RATING_THRESHOLDS", "rating_for_score", "integrity_score", "shop_qr_payload",
]

#: camera link state
CAMERA_STATUSES = ("online", "offline")
#: how the browser plays the stream: ``mjpeg`` (an ``<img>`` on ``multipart/x-mixed-replace``) or ``hls`` (video.js)
CAMERA_KINDS = ("mjpeg", "hls")
#: ``compressed_air``: a delivery line from a station to an enterprise it supplies; ``underground``: a monitored
#: underground pipe segment of the city (seed 003 地下管线监测)
PIPELINE_KINDS = ("compressed_air", "underground")
#: what a pipe carries
PIPE_MEDIA = ("compressed_air", "gas", "water", "heat", "drainage")
#: shop inspection grades, best first (seed 003 row 97 商户诚信: 评价结果)
SHOP_RATINGS = ("A", "B", "C", "D")
#: seed 001 table 7: 服务人员 / 专家
PERSON_ROLES = ("staff", "expert")
#: shop categories: key → (zh, en, name suffixes zh, name suffixes en)
SHOP_CATEGORIES: dict[str, tuple[str, str, tuple[str, ...], tuple[str, ...]]] = {
    "catering": ("餐饮", "Catering", ("面馆", "餐厅", "小吃", "饭店", "烧烤", "茶餐厅"),
                 ("Noodles", "Restaurant", "Snacks", "Eatery", "BBQ", "Cafe")),
    "retail": ("零售", "Retail", ("百货", "商行", "杂货店"), ("Store", "Trading", "Grocery")),
    "convenience": ("便利店", "Convenience store", ("便利店", "超市"), ("Mart", "Supermarket")),
    "fresh_food": ("生鲜果蔬", "Fresh food", ("水果店", "生鲜", "菜店"), ("Fruits", "Fresh", "Greens")),
    "beauty": ("美容美发", "Beauty & hair", ("美发", "美容院", "理发店"), ("Hair Salon", "Beauty", "Barber")),
    "pharmacy": ("药店", "Pharmacy", ("大药房", "药店"), ("Pharmacy", "Drugstore")),
    "repair": ("维修服务", "Repair", ("维修部", "修车铺", "家电维修"), ("Repairs", "Auto Repair", "Appliance Repair")),
    "clothing": ("服装鞋帽", "Clothing", ("服饰", "鞋店", "裁缝铺"), ("Fashion", "Shoes", "Tailor")),
    "hardware": ("五金建材", "Hardware", ("五金店", "建材"), ("Hardware", "Building Supplies")),
    "education": ("教育培训", "Education", ("培训中心", "书店"), ("Training Center", "Bookshop")),
}



def province_range(province_adcode: str) -> tuple[str, str]:
    """``("320000", "329999")`` for ``"320000"``: the city-adcode range of a province (inclusive bounds).

    Raises:
        ValueError: not a 6-digit province adcode (``xx0000``).
    """
    code = str(province_adcode)
    if len(code) != 6 or not code.isdigit() or not code.endswith("0000"):
        raise ValueError(f"not a province adcode: {province_adcode!r}")
    return code, code[:2] + "9999"


class Camera(Base):
    """A video camera. ``station_id`` set: a camera of that station (room, yard); else a street camera.

    ``stream_url``: for ``mjpeg`` cameras served by this app, ``/cameras/<id>/stream.mjpg``
    (:func:`dashboard.web.cameras.cameras_blueprint`); for ``hls`` an external ``.m3u8`` URL.
    """

    __tablename__ = "cameras"

    camera_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    station_id: Mapped[str | None] = mapped_column(ForeignKey("stations.station_id", ondelete="SET NULL"),
                                                   nullable=True, index=True)
    name: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128), default="")
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    province_adcode: Mapped[str] = mapped_column(String(6), index=True)
    city_adcode: Mapped[str] = mapped_column(String(6), index=True)
    status: Mapped[str] = mapped_column(String(16), default="online")
    kind: Mapped[str] = mapped_column(String(8), default="mjpeg")
    stream_url: Mapped[str] = mapped_column(String(512), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Pipeline(Base):
    """A pipe: a compressed-air delivery line (station → enterprise) or a monitored underground segment.

    ``geometry``: GeoJSON LineString text, WGS-84. ``sensor_device_id``: the device whose ``pressure_mpa`` value
    (``cc:latest:<device_id>``, same value name as the station flow meter's header pressure) is the live pressure
    of the segment; ``None`` = not monitored. ``low_pressure_mpa``: alarm threshold; ``None`` = 0.8 × nominal.
    """

    __tablename__ = "pipelines"

    pipeline_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    medium: Mapped[str] = mapped_column(String(16), default="compressed_air")
    name: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128), default="")
    geometry: Mapped[str] = mapped_column(Text)
    min_lon: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    max_lon: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)
    length_m: Mapped[float] = mapped_column(Float, default=0.0)
    province_adcode: Mapped[str] = mapped_column(String(6), index=True)
    city_adcode: Mapped[str] = mapped_column(String(6), index=True)
    nominal_pressure_mpa: Mapped[float] = mapped_column(Float)
    low_pressure_mpa: Mapped[float | None] = mapped_column(Float, nullable=True)
    sensor_device_id: Mapped[str | None] = mapped_column(String(48), nullable=True, index=True)
    station_id: Mapped[str | None] = mapped_column(ForeignKey("stations.station_id", ondelete="SET NULL"),
                                                   nullable=True, index=True)
    enterprise_id: Mapped[str | None] = mapped_column(String(24), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Shop(Base):
    """A street shop (沿街商铺). ``rating`` / ``integrity_score`` (0–100) are the latest figures derived from
    :class:`ShopInspection` (``None`` until the first inspection). ``qr_payload``: the text of the shop's QR code
    (一户一码: name, address, person in charge, id — readable by any phone without network)."""

    __tablename__ = "shops"

    shop_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    name_en: Mapped[str] = mapped_column(String(160), default="")
    address: Mapped[str] = mapped_column(String(256), default="")
    contact: Mapped[str] = mapped_column(String(64), default="")
    category: Mapped[str] = mapped_column(String(32), default="", index=True)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    province_adcode: Mapped[str] = mapped_column(String(6), index=True)
    city_adcode: Mapped[str] = mapped_column(String(6), index=True)
    rating: Mapped[str | None] = mapped_column(String(1), nullable=True, index=True)
    integrity_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    qr_payload: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ShopInspection(Base):
    """One inspection of a shop: grade A–D and score 0–100 (seed 003 row 97)."""

    __tablename__ = "shop_inspections"
    __table_args__ = (Index("ix_shop_inspections_shop_date", "shop_id", "inspected_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.shop_id", ondelete="CASCADE"))
    inspected_on: Mapped[date] = mapped_column(Date)
    rating: Mapped[str] = mapped_column(String(1))
    score: Mapped[float] = mapped_column(Float)
    inspector: Mapped[str] = mapped_column(String(64), default="")
    notes: Mapped[str] = mapped_column(Text, default="")


class Park(Base):
    """An industrial / business park (园区). ``geometry``: GeoJSON Polygon or Point text (WGS-84); ``lon/lat``: a
    label point inside it."""

    __tablename__ = "parks"

    park_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(160), default="")
    geometry: Mapped[str] = mapped_column(Text)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    province_adcode: Mapped[str] = mapped_column(String(6), index=True)
    city_adcode: Mapped[str] = mapped_column(String(6), index=True)


class Building(Base):
    """An office building (楼宇), optionally in a park. ``geometry``: GeoJSON Polygon footprint or Point text."""

    __tablename__ = "buildings"

    building_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    park_id: Mapped[str | None] = mapped_column(ForeignKey("parks.park_id", ondelete="SET NULL"), nullable=True,
                                                index=True)
    name: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(160), default="")
    geometry: Mapped[str] = mapped_column(Text)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    province_adcode: Mapped[str] = mapped_column(String(6), index=True)
    city_adcode: Mapped[str] = mapped_column(String(6), index=True)
    floor_area_m2: Mapped[float | None] = mapped_column(Float, nullable=True)


class Enterprise(Base):
    """An enterprise with its registered (注册地) and operating (经营地) address — they differ for 注经分离 firms.

    ``registered_capital_wan``: 万元 CNY. ``tax_wan``: tax paid, 万元 per year. ``reg_building_id`` /
    ``op_building_id``: the building of each address, if known. ``enterprise_id``: the 18-character unified social
    credit code (统一社会信用代码) or the importer's id.

    Indexes: name (prefix search; ``text_pattern_ops`` on PostgreSQL), ``lower(name_en)`` (prefix search), the two
    city adcodes (scope queries; provinces by range, :func:`province_range`) and the two building ids.
    """

    __tablename__ = "enterprises"
    __table_args__ = (Index("ix_enterprises_name", "name", postgresql_ops={"name": "text_pattern_ops"}),)

    enterprise_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(160), default="")
    industry: Mapped[str] = mapped_column(String(32), default="")
    reg_lon: Mapped[float] = mapped_column(Float)
    reg_lat: Mapped[float] = mapped_column(Float)
    reg_city_adcode: Mapped[str] = mapped_column(String(6), index=True)
    op_lon: Mapped[float] = mapped_column(Float)
    op_lat: Mapped[float] = mapped_column(Float)
    op_city_adcode: Mapped[str] = mapped_column(String(6), index=True)
    registered_capital_wan: Mapped[float] = mapped_column(Float, default=0.0)
    tax_wan: Mapped[float] = mapped_column(Float, default=0.0)
    reg_building_id: Mapped[str | None] = mapped_column(ForeignKey("buildings.building_id", ondelete="SET NULL"),
                                                        nullable=True, index=True)
    op_building_id: Mapped[str | None] = mapped_column(ForeignKey("buildings.building_id", ondelete="SET NULL"),
                                                       nullable=True, index=True)


Index("ix_enterprises_name_en_lower", func.lower(Enterprise.name_en).label("name_en_lower"),
      postgresql_ops={"name_en_lower": "text_pattern_ops"})


class Partner(Base):
    """A service partner company (合作伙伴, seed 001 table 7). ``name`` matches ``stations.partner``."""

    __tablename__ = "partners"

    partner_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    name_en: Mapped[str] = mapped_column(String(160), default="")
    province_adcode: Mapped[str] = mapped_column(String(6), index=True)
    city_adcode: Mapped[str] = mapped_column(String(6), index=True)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    contact: Mapped[str] = mapped_column(String(64), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")


class ServicePerson(Base):
    """A service staff member (服务人员) or an expert (专家) counted on the big screen by province and city (seed 001
    table 7: 服务人员在线数量 / 省级分布 / 市级分布). The dispatch roster of field engineers is ``engineers``
    (migration 0003); this table is the wider, statistical population."""

    __tablename__ = "service_people"

    person_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64), default="")
    role: Mapped[str] = mapped_column(String(16), index=True)
    specialty: Mapped[str] = mapped_column(String(64), default="")
    province_adcode: Mapped[str] = mapped_column(String(6), index=True)
    city_adcode: Mapped[str] = mapped_column(String(6), index=True)
    partner: Mapped[str] = mapped_column(String(128), default="", index=True)
    phone: Mapped[str] = mapped_column(String(32), default="")
    online: Mapped[bool] = mapped_column(Boolean, default=False)


# --------------------------------------------------------------------------- shop figures (pure functions)

#: score thresholds of the grades: A ≥ 90, B ≥ 75, C ≥ 60, else D (0–100 scale)
RATING_THRESHOLDS = (("A", 90.0), ("B", 75.0), ("C", 60.0))
#: half-life of an inspection's weight in the integrity score, days
INTEGRITY_HALF_LIFE_DAYS = 180.0
#: points taken off the integrity score per D grade in the last 365 days
INTEGRITY_D_PENALTY = 5.0


def rating_for_score(score: float) -> str:
    """Grade ``"A"``–``"D"`` of an inspection score 0–100 (:data:`RATING_THRESHOLDS`)."""
    for grade, minimum in RATING_THRESHOLDS:
        if score >= minimum:
            return grade
    return "D"


def integrity_score(history, today: date) -> float | None:
    """Integrity score 0–100 of a shop (seed 003 row 97: "根据历史评价数据计算商户诚信评分").

    A recency-weighted mean of its inspection scores (weight halves every :data:`INTEGRITY_HALF_LIFE_DAYS`), minus
    :data:`INTEGRITY_D_PENALTY` per D grade (score < 60) in the last 365 days, clipped to 0–100, one decimal.

    Args:
        history: iterable of ``(date, score)``.
        today: reference day.
    Returns:
        the score, or ``None`` without inspections.
    """
    total = weight = 0.0
    penalty = 0.0
    for day, score in history:
        age = max(0, (today - day).days)
        w = 0.5 ** (age / INTEGRITY_HALF_LIFE_DAYS)
        total += w * float(score)
        weight += w
        if age <= 365 and rating_for_score(float(score)) == "D":
            penalty += INTEGRITY_D_PENALTY
    if weight == 0:
        return None
    return round(min(100.0, max(0.0, total / weight - penalty)), 1)


def shop_qr_payload(shop_id: str, name: str, address: str, contact: str = "") -> str:
    """Text of a shop's QR code (一户一码, seed 003 row 96: scanning shows name, address, person in charge).

    Plain text, one field per line, so any phone's scanner shows it without network::

        商户:老王面馆（沪亭北路店）
        地址:上海市松江区沪亭北路12号
        负责人:王伟
        编号:SH000001
    """
    lines = [f"商户:{name}", f"地址:{address}"]
    if contact:
        lines.append(f"负责人:{contact}")
    lines.append(f"编号:{shop_id}")
    return "\n".join(lines)
