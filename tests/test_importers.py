"""Importers (datasources.ingest.importers) on real SQLite and PostgreSQL databases: formats × CRS, row-level validation,
all-or-nothing writes (also when the database fails mid-insert), duplicates, regions, roles and the audit log."""
from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from datasources.sql.city_models import Camera, Enterprise, Pipeline, Shop
from datasources.sql.db import make_engine, migrate
from datasources.ingest.importers import ImportIssue, import_file
from datasources.sql.models import AuditEntry, Station
from geo.crs import haversine_m, transform

# WGS-84 truth positions
PEOPLES_SQUARE = (121.4737, 31.2304)   # Shanghai 310100
JIUTING = (121.3250, 31.1350)          # Shanghai 310100
SUZHOU = (120.5853, 31.2989)           # Suzhou 320500
HANGZHOU = (120.1551, 30.2741)         # Hangzhou 330100
TOKYO = (139.6917, 35.6895)            # abroad


@pytest.fixture
def engine(database_url):
    migrate(database_url)
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


def _csv(rows: list[list], header: list[str]) -> bytes:
    out = io.StringIO()
    out.write(",".join(header) + "\n")
    for r in rows:
        out.write(",".join("" if v is None else str(v) for v in r) + "\n")
    return out.getvalue().encode("utf-8")


def _xlsx(rows: list[list], header: list[str]) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "data"
    ws.append(header)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _src(pt, crs):
    return transform(pt[0], pt[1], "WGS84", crs)


def _count(engine, model) -> int:
    with Session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(model)))


def _audits(engine) -> list[AuditEntry]:
    with Session(engine) as s:
        rows = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "import").order_by(AuditEntry.id)))
        s.expunge_all()
        return rows


SHOP_HEADER = ["shop_id", "name", "address", "category", "lon", "lat", "rating", "integrity_score"]
ENT_HEADER = ["统一社会信用代码", "企业名称", "注册资本", "税收", "注册地经度", "注册地纬度", "经营地经度", "经营地纬度"]


@pytest.mark.parametrize("crs", ["WGS84", "GCJ02", "BD09"])
def test_formats_and_crs_land_at_the_right_wgs84_position(engine, crs):
    """CSV shops, XLSX enterprises (two addresses), GeoJSON pipelines and cameras, in the declared CRS: each stored
    position is within 1 m of the WGS-84 truth, with the right adcodes."""
    tag = crs[:2]
    # CSV: shops
    rows = [[f"{tag}S1", "老王面馆", "上海市黄浦区人民大道1号", "catering", *_src(PEOPLES_SQUARE, crs), "A", 95],
            [f"{tag}S2", "佳美便利店", "上海市松江区沪亭北路2号", "便利店", *_src(JIUTING, crs), "", ""]]
    rep = import_file(engine, "shops", _csv(rows, SHOP_HEADER), filename="shops.csv", crs=crs,
                      region_adcode="310100", actor="ops", role="duty_officer")
    assert rep.ok, rep.errors
    assert (rep.rows_read, rep.rows_ok, rep.written) == (2, 2, 2)
    # XLSX: enterprises registered in Shanghai, one operating in Hangzhou (Chinese headers)
    rows = [[f"91310100MA1{tag}00001X", "上海华信科技有限公司", 500, 12.5, *_src(PEOPLES_SQUARE, crs),
             *_src(HANGZHOU, crs)],
            [f"91310100MA1{tag}00002X", "上海恒达贸易有限公司", "1,200", None, *_src(JIUTING, crs), None, None]]
    rep = import_file(engine, "enterprises", _xlsx(rows, ENT_HEADER), filename="ent.xlsx", crs=crs,
                      region_adcode="310000", actor="ops", role="admin")
    assert rep.ok, rep.errors
    # GeoJSON: a pipeline (LineString) and a camera (Point)
    line = [_src(PEOPLES_SQUARE, crs), _src((121.48, 31.2304), crs), _src((121.48, 31.235), crs)]
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [list(p) for p in line]},
         "properties": {"pipeline_id": f"{tag}P1", "kind": "地下管线", "medium": "燃气", "name": "人民广场燃气管段",
                        "nominal_pressure_mpa": 0.4, "sensor_device_id": "PS-T-1"}}]}
    rep = import_file(engine, "pipelines", json.dumps(fc).encode(), filename="pipes.geojson", crs=crs,
                      actor="ops", role="admin")
    assert rep.ok, rep.errors
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(_src(JIUTING, crs))},
         "properties": {"camera_id": f"{tag}C1", "name": "九亭路口", "status": "在线"}}]}
    rep = import_file(engine, "cameras", json.dumps(fc).encode(), filename="cams.geojson", crs=crs,
                      region_adcode="310100", actor="ops", role="admin")
    assert rep.ok, rep.errors

    with Session(engine) as s:
        s1 = s.get(Shop, f"{tag}S1")
        s2 = s.get(Shop, f"{tag}S2")
        e1 = s.get(Enterprise, f"91310100MA1{tag}00001X")
        e2 = s.get(Enterprise, f"91310100MA1{tag}00002X")
        p1 = s.get(Pipeline, f"{tag}P1")
        c1 = s.get(Camera, f"{tag}C1")
        assert haversine_m(s1.lon, s1.lat, *PEOPLES_SQUARE) < 1.0
        assert haversine_m(s2.lon, s2.lat, *JIUTING) < 1.0
        assert (s1.province_adcode, s1.city_adcode, s1.rating, s1.integrity_score) == ("310000", "310100", "A", 95)
        assert s2.category == "convenience" and s2.rating is None and s2.qr_payload.endswith(f"编号:{tag}S2")
        assert haversine_m(e1.reg_lon, e1.reg_lat, *PEOPLES_SQUARE) < 1.0
        assert haversine_m(e1.op_lon, e1.op_lat, *HANGZHOU) < 1.0
        assert (e1.reg_city_adcode, e1.op_city_adcode) == ("310100", "330100")
        assert e2.registered_capital_wan == 1200 and e2.tax_wan == 0
        assert (e2.op_lon, e2.op_lat, e2.op_city_adcode) == (e2.reg_lon, e2.reg_lat, "310100")
        coords = json.loads(p1.geometry)["coordinates"]
        assert haversine_m(coords[0][0], coords[0][1], *PEOPLES_SQUARE) < 1.0
        assert haversine_m(coords[2][0], coords[2][1], 121.48, 31.235) < 1.0
        assert (p1.kind, p1.medium, p1.city_adcode, p1.low_pressure_mpa) == ("underground", "gas", "310100", 0.32)
        assert 1100 < p1.length_m < 1200  # 0.0063° of longitude at 31.2° N + 0.0046° of latitude ≈ 600 + 510 m
        assert haversine_m(c1.lon, c1.lat, *JIUTING) < 1.0
        assert (c1.status, c1.kind, c1.stream_url) == ("online", "mjpeg", f"/cameras/{tag}C1/stream.mjpg")
    audits = _audits(engine)
    assert [a.result for a in audits] == ["ok"] * 4
    assert audits[0].target == "shops:shops.csv" and audits[0].actor == "ops" and audits[0].role == "duty_officer"
    assert json.loads(audits[0].detail)["crs"] == crs


def test_one_bad_row_writes_nothing_and_names_row_and_field(engine):
    rows = [[f"S{i}", f"店{i}", "上海市某路1号", "retail", *PEOPLES_SQUARE, "B", 80] for i in range(1, 6)]
    rows[2][5] = "31.2x"  # 4th line of the file (header = line 1)
    rep = import_file(engine, "shops", _csv(rows, SHOP_HEADER), filename="bad.csv", actor="ops", role="admin")
    assert not rep.ok and rep.written == 0
    assert (rep.rows_read, rep.rows_ok) == (5, 4)
    assert len(rep.errors) == 1
    err = rep.errors[0]
    assert isinstance(err, ImportIssue) and (err.row, err.field) == (4, "lat")
    assert "31.2x" in err.message
    assert _count(engine, Shop) == 0
    audit = _audits(engine)[-1]
    assert audit.result == "rejected" and audit.target == "shops:bad.csv"
    assert json.loads(audit.detail)["errors"][0][:2] == [4, "lat"]
    assert "1 error" in rep.summary() and "nothing written" in rep.summary()


def test_xlsx_and_geojson_errors_use_the_row_the_user_sees(engine):
    rows = [["91310100000000001A", "甲公司", 100, 1, *JIUTING, None, None],
            ["91310100000000002A", "乙公司", None, 1, *JIUTING, None, None],       # sheet row 3: capital missing
            ["91310100000000003A", "丙公司", -5, 1, *JIUTING, 121.3, None]]       # row 4: negative, half op address
    rep = import_file(engine, "enterprises", _xlsx(rows, ENT_HEADER), filename="e.xlsx", actor="a", role="admin")
    assert not rep.ok
    assert {(e.row, e.field) for e in rep.errors} == {(3, "registered_capital_wan"), (4, "registered_capital_wan"),
                                                      (4, "op_lat")}
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(JIUTING)},
         "properties": {"camera_id": "C1", "name": "ok"}},
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [list(JIUTING), list(JIUTING)]},
         "properties": {"camera_id": "C2", "name": "wrong geometry"}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(JIUTING)},
         "properties": {"camera_id": "C3", "name": "bad enum", "kind": "rtsp"}}]}
    rep = import_file(engine, "cameras", json.dumps(fc).encode(), filename="c.geojson", actor="a", role="admin")
    assert {(e.row, e.field) for e in rep.errors} == {(2, "geometry"), (3, "kind")}
    assert "mjpeg" in next(e.message for e in rep.errors if e.field == "kind")
    assert _count(engine, Enterprise) == 0 and _count(engine, Camera) == 0


def test_point_outside_the_declared_region_or_china_is_rejected(engine):
    rows = [["S1", "店一", "上海", "retail", *PEOPLES_SQUARE, "", ""],
            ["S2", "店二", "苏州", "retail", *SUZHOU, "", ""],
            ["S3", "店三", "东京", "retail", *TOKYO, "", ""]]
    rep = import_file(engine, "shops", _csv(rows, SHOP_HEADER), filename="r.csv", region_adcode="310100",
                      actor="a", role="admin")
    assert not rep.ok and _count(engine, Shop) == 0
    by_row = {e.row: e for e in rep.errors}
    assert set(by_row) == {3, 4}
    assert by_row[3].field == "lon" and "320500" in by_row[3].message and "苏州" in by_row[3].message
    assert "outside China" in by_row[4].message
    # the same Suzhou point is fine for a Jiangsu import
    rep = import_file(engine, "shops", _csv(rows[1:2], SHOP_HEADER), filename="r2.csv", region_adcode="320000",
                      actor="a", role="admin")
    assert rep.ok, rep.errors
    with Session(engine) as s:
        assert s.get(Shop, "S2").city_adcode == "320500"


def test_duplicates_in_file_and_in_database_are_rejected(engine):
    rows = [["S1", "店一", "地址", "retail", *JIUTING, "", ""], ["S2", "店二", "地址", "retail", *JIUTING, "", ""],
            ["S1", "店一again", "地址", "retail", *JIUTING, "", ""]]
    rep = import_file(engine, "shops", _csv(rows, SHOP_HEADER), filename="d.csv", actor="a", role="admin")
    assert [(e.row, e.field) for e in rep.errors] == [(4, "shop_id")]
    assert "row 2" in rep.errors[0].message
    assert _count(engine, Shop) == 0
    rep = import_file(engine, "shops", _csv(rows[:2], SHOP_HEADER), filename="d1.csv", actor="a", role="admin")
    assert rep.ok and rep.written == 2
    rep = import_file(engine, "shops", _csv(rows[1:2] + [["S9", "新店", "地址", "retail", *JIUTING, "", ""]],
                                            SHOP_HEADER), filename="d2.csv", actor="a", role="admin")
    assert [(e.row, e.field) for e in rep.errors] == [(2, "shop_id")]
    assert "already exists" in rep.errors[0].message
    assert _count(engine, Shop) == 2


def test_enum_values_and_references_are_checked(engine):
    rows = [["S1", "店一", "地址", "spaceship", *JIUTING, "E", 101]]
    rep = import_file(engine, "shops", _csv(rows, SHOP_HEADER), filename="e.csv", actor="a", role="admin")
    assert {e.field for e in rep.errors} == {"category", "rating", "integrity_score"}
    cams = _csv([["C1", "cam", *JIUTING, "ST-NOPE", "hls", ""]],
                ["camera_id", "name", "lon", "lat", "station_id", "kind", "stream_url"])
    rep = import_file(engine, "cameras", cams, filename="c.csv", actor="a", role="admin")
    assert {(e.row, e.field) for e in rep.errors} == {(2, "station_id"), (2, "stream_url")}


def test_unknown_crs_is_rejected_and_audited(engine):
    rows = [["S1", "店一", "地址", "retail", *JIUTING, "", ""]]
    rep = import_file(engine, "shops", _csv(rows, SHOP_HEADER), filename="x.csv", crs="EPSG:3857",
                      actor="a", role="admin")
    assert not rep.ok and rep.errors[0].row == 0 and rep.errors[0].field == "crs"
    assert "EPSG:3857" in rep.errors[0].message
    assert _count(engine, Shop) == 0
    assert _audits(engine)[-1].result == "rejected"


def test_leader_role_is_refused_and_audited(engine):
    rows = [["S1", "店一", "地址", "retail", *JIUTING, "", ""]]
    with pytest.raises(PermissionError):
        import_file(engine, "shops", _csv(rows, SHOP_HEADER), filename="l.csv", actor="boss", role="leader")
    assert _count(engine, Shop) == 0
    audit = _audits(engine)[-1]
    assert (audit.actor, audit.role, audit.action, audit.target, audit.result) == \
        ("boss", "leader", "import", "shops:l.csv", "refused")


def test_a_failure_during_insert_rolls_back_everything(engine):
    """A database trigger refuses the last row while it is being inserted: the rows before it, already inserted in
    the same transaction, are rolled back too, and the report and the audit say so."""
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(text("CREATE TRIGGER boom BEFORE INSERT ON shops WHEN NEW.name = 'BOOM' "
                              "BEGIN SELECT RAISE(ABORT, 'boom: refused by trigger'); END"))
        else:
            conn.execute(text("CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN IF NEW.name = 'BOOM' THEN "
                              "RAISE EXCEPTION 'boom: refused by trigger'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"))
            conn.execute(text("CREATE TRIGGER boom BEFORE INSERT ON shops FOR EACH ROW EXECUTE FUNCTION boom()"))
    rows = [[f"S{i}", f"店{i}", "地址", "retail", *JIUTING, "", ""] for i in range(1, 50)]
    rows.append(["S99", "BOOM", "地址", "retail", *JIUTING, "", ""])
    rep = import_file(engine, "shops", _csv(rows, SHOP_HEADER), filename="boom.csv", actor="a", role="admin")
    assert not rep.ok and rep.written == 0 and rep.rows_ok == 50
    assert rep.errors[0].row == 0 and "boom: refused by trigger" in rep.errors[0].message
    assert _count(engine, Shop) == 0
    assert _audits(engine)[-1].result == "rejected"


def test_stations_import_and_unreadable_files(engine):
    st = _csv([["ST9001", "九亭智慧空压站", "智慧空压站", "已建", *_src(JIUTING, "GCJ02"), 120]],
              ["站点编号", "名称", "类型", "状态", "经度", "纬度", "装机容量"])
    rep = import_file(engine, "stations", st, filename="st.csv", crs="gcj02", actor="a", role="admin")
    assert rep.ok, rep.errors
    with Session(engine) as s:
        row = s.get(Station, "ST9001")
        assert (row.kind, row.lifecycle, row.city_adcode) == ("smart_station", "built", "310100")
        assert haversine_m(row.lon, row.lat, *JIUTING) < 1.0
    rep = import_file(engine, "stations", b"\x00\x01not a workbook", filename="st.xlsx", actor="a", role="admin")
    assert not rep.ok and rep.errors[0].row == 0 and "XLSX" in rep.errors[0].message
    rep = import_file(engine, "stations", b"station_id,name\nX,Y\n", filename="st.csv", actor="a", role="admin")
    assert {e.field for e in rep.errors} >= {"kind", "lifecycle", "lon", "lat"}
    assert all(e.row == 0 for e in rep.errors)


def test_pipelines_from_csv_with_wkt_or_coordinate_lists(engine):
    a, b, c = _src(PEOPLES_SQUARE, "GCJ02"), _src((121.48, 31.2304), "GCJ02"), _src((121.48, 31.235), "GCJ02")
    wkt = f'"LINESTRING ({a[0]} {a[1]}, {b[0]} {b[1]})"'
    coords = f'"{b[0]},{b[1]};{c[0]},{c[1]}"'
    body = ("pipeline_id,kind,medium,name,nominal_pressure_mpa,low_pressure_mpa,geometry,coords\n"
            f"W1,underground,water,供水管段1,0.35,,{wkt},\n"
            f"W2,地下管线,供水,供水管段2,0.35,0.2,,{coords}\n"
            f"W3,underground,water,供水管段3,0.35,0.5,,{coords}\n").encode()
    rep = import_file(engine, "pipelines", body, filename="p.csv", crs="GCJ02", region_adcode="310100",
                      actor="a", role="admin")
    assert [(e.row, e.field) for e in rep.errors] == [(4, "low_pressure_mpa")]  # threshold above nominal
    rep = import_file(engine, "pipelines", body.rsplit(b"W3", 1)[0], filename="p.csv", crs="GCJ02",
                      region_adcode="310100", actor="a", role="admin")
    assert rep.ok, rep.errors
    with Session(engine) as s:
        w1, w2 = s.get(Pipeline, "W1"), s.get(Pipeline, "W2")
        p0 = json.loads(w1.geometry)["coordinates"][0]
        p1 = json.loads(w2.geometry)["coordinates"][1]
        assert haversine_m(p0[0], p0[1], *PEOPLES_SQUARE) < 1.0
        assert haversine_m(p1[0], p1[1], 121.48, 31.235) < 1.0
        assert (w1.low_pressure_mpa, w2.low_pressure_mpa, w2.kind, w2.medium) == (0.28, 0.2, "underground", "water")
        assert w1.min_lon < w1.max_lon and w2.min_lat < w2.max_lat


@pytest.mark.parametrize("fmt", ["geojson", "wkt", "coords"])
def test_a_pipeline_with_too_many_vertices_is_a_row_error_and_nothing_is_written(engine, fmt):
    """A million-vertex line would take the web process's memory and every browser drawing the city."""
    from datasources.ingest.importers import MAX_LINE_VERTICES

    n = MAX_LINE_VERTICES + 1
    pts = [(121.47 + i * 1e-7, 31.23) for i in range(n)]
    ok_line = [(121.47, 31.23), (121.48, 31.2304)]
    if fmt == "geojson":
        fc = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "LineString", "coordinates": line},
             "properties": {"pipeline_id": pid, "kind": "underground", "medium": "water", "name": pid,
                            "nominal_pressure_mpa": 0.35}}
            for pid, line in (("V1", ok_line), ("V2", pts))]}
        body, name = json.dumps(fc).encode(), "p.geojson"
    else:
        def text_of(line):
            if fmt == "wkt":
                return '"LINESTRING (' + ", ".join(f"{x} {y}" for x, y in line) + ')",'
            return ',"' + ";".join(f"{x},{y}" for x, y in line) + '"'
        body = ("pipeline_id,kind,medium,name,nominal_pressure_mpa,low_pressure_mpa,geometry,coords\n"
                + "".join(f"{pid},underground,water,{pid},0.35,,{text_of(line)}\n"
                          for pid, line in (("V1", ok_line), ("V2", pts)))).encode()
        name = "p.csv"
    before = _count(engine, Pipeline)
    rep = import_file(engine, "pipelines", body, filename=name, crs="WGS84", actor="a", role="admin")
    assert not rep.ok
    assert [e.row for e in rep.errors] == [3 if name == "p.csv" else 2], rep.errors
    assert f"at most {MAX_LINE_VERTICES}" in rep.errors[0].message
    assert _count(engine, Pipeline) == before
