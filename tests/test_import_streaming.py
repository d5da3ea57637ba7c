"""Streaming imports (issue 10) on real SQLite and PostgreSQL: files larger than one batch stay all-or-nothing (a bad
row or a refusing database near the end writes nothing), duplicates are found across batches, the report keeps the
first ``MAX_ERRORS`` problems in row order and counts all, and uploads are read as streams (spooled, non-seekable,
GB 18030). Memory and speed figures are in ``bench/bench_import_memory.py``, not here."""
from __future__ import annotations

import io
import json
import tempfile

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from datasources.ingest import importers, readers
from datasources.sql.city_models import Pipeline, Shop
from datasources.sql.db import make_engine, migrate
from datasources.ingest.importers import IMPORT_BATCH_ROWS, MAX_ERRORS, import_file
from datasources.sql.models import AuditEntry

HEADER = "shop_id,name,address,category,lon,lat,rating,integrity_score\n"
LON, LAT = 121.4737, 31.2304  # People's Square, Shanghai (WGS-84)


@pytest.fixture
def engine(database_url):
    migrate(database_url)
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


def _shops(n: int, bad: dict[int, str] | None = None, dup: dict[int, int] | None = None) -> bytes:
    """``n`` valid shop rows; ``bad``: line number → bad latitude text; ``dup``: line number → the line whose id it
    repeats. Line numbers as the user sees them (header = line 1)."""
    bad, dup = bad or {}, dup or {}
    out = io.StringIO()
    out.write(HEADER)
    for i in range(n):
        line = i + 2
        sid = f"ST{(dup[line] - 2) if line in dup else i:06d}"
        lat = bad.get(line, f"{LAT + (i % 100) * 1e-4:.7f}")
        out.write(f"{sid},店{i},上海市黄浦区人民大道{i}号,retail,{LON + (i % 100) * 1e-4:.7f},{lat},B,80\n")
    return out.getvalue().encode("utf-8")


def _count(engine, model) -> int:
    with Session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(model)))


def _last_audit(engine) -> AuditEntry:
    with Session(engine) as s:
        a = s.scalars(select(AuditEntry).where(AuditEntry.action == "import").order_by(AuditEntry.id.desc())).first()
        s.expunge_all()
        return a


def _spooled(data: bytes):
    """What Werkzeug hands the endpoint: a spooled temporary file (on disk above its threshold)."""
    f = tempfile.SpooledTemporaryFile(max_size=500 * 1024, mode="w+b")
    f.write(data)
    f.seek(0)
    return f


def test_a_bad_row_near_the_end_of_a_multi_batch_file_writes_nothing(engine):
    n = 2 * IMPORT_BATCH_ROWS + 50
    bad_line = n  # the second-to-last data row (the last line is n + 1)
    body = _shops(n, bad={bad_line: "31.2x"})
    with _spooled(body) as upload:
        rep = import_file(engine, "shops", upload, filename="big.csv", actor="ops", role="admin")
    assert not rep.ok and rep.written == 0
    assert (rep.rows_read, rep.rows_ok, rep.n_errors) == (n, n - 1, 1)
    assert [(e.row, e.field) for e in rep.errors] == [(bad_line, "lat")] and "31.2x" in rep.errors[0].message
    assert _count(engine, Shop) == 0  # the earlier, valid batches were not written either
    audit = _last_audit(engine)
    assert audit.result == "rejected" and json.loads(audit.detail)["errors"][0][:2] == [bad_line, "lat"]
    # the same file without the bad row is written whole, in file order
    rep = import_file(engine, "shops", _shops(n), filename="big.csv", actor="ops", role="admin")
    assert rep.ok and rep.written == n, rep.errors[:3]
    assert _count(engine, Shop) == n
    assert _last_audit(engine).result == "ok"


def test_a_database_refusal_near_the_end_rolls_back_every_batch(engine):
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(text("CREATE TRIGGER boom BEFORE INSERT ON shops WHEN NEW.name = 'BOOM' "
                              "BEGIN SELECT RAISE(ABORT, 'boom: refused by trigger'); END"))
        else:
            conn.execute(text("CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN IF NEW.name = 'BOOM' THEN "
                              "RAISE EXCEPTION 'boom: refused by trigger'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"))
            conn.execute(text("CREATE TRIGGER boom BEFORE INSERT ON shops FOR EACH ROW EXECUTE FUNCTION boom()"))
    n = IMPORT_BATCH_ROWS + 20
    body = _shops(n) + f"ST{n:06d},BOOM,地址,retail,{LON},{LAT},B,80\n".encode()
    rep = import_file(engine, "shops", body, filename="boom.csv", actor="ops", role="admin")
    assert not rep.ok and rep.written == 0 and rep.rows_ok == n + 1
    assert rep.errors[0].row == 0 and "boom: refused by trigger" in rep.errors[0].message
    assert _count(engine, Shop) == 0
    assert _last_audit(engine).result == "rejected"


def test_duplicates_are_found_across_batches_with_the_first_row(engine):
    n = IMPORT_BATCH_ROWS + 10
    dup_line = n + 1  # last line repeats the id of line 3 (first batch)
    rep = import_file(engine, "shops", _shops(n, dup={dup_line: 3}), filename="d.csv", actor="a", role="admin")
    assert [(e.row, e.field) for e in rep.errors] == [(dup_line, "shop_id")]
    assert "first in row 3" in rep.errors[0].message
    assert _count(engine, Shop) == 0


def test_many_bad_rows_report_the_first_max_errors_in_row_order_and_the_total(engine, monkeypatch):
    monkeypatch.setattr(importers, "IMPORT_BATCH_ROWS", 97)  # many batches, errors split across them
    n_bad = MAX_ERRORS + 300
    n = n_bad + 200
    bad_lines = list(range(3, 3 + 2 * n_bad, 2))[:n_bad]  # every other line from line 3
    n = max(n, bad_lines[-1])
    rep = import_file(engine, "shops", _shops(n, bad={ln: "north" for ln in bad_lines}), filename="m.csv",
                      actor="a", role="admin")
    assert not rep.ok and rep.written == 0
    assert rep.n_errors == n_bad and len(rep.errors) == MAX_ERRORS
    assert [e.row for e in rep.errors] == bad_lines[:MAX_ERRORS]
    assert all(e.field == "lat" and "north" in e.message for e in rep.errors)
    assert rep.rows_read == n and rep.rows_ok == n - n_bad
    assert f"{n_bad} errors" in rep.summary()
    d = rep.to_dict()
    assert d["n_errors"] == n_bad and len(d["errors"]) == MAX_ERRORS
    assert _count(engine, Shop) == 0


def test_a_file_level_error_is_kept_when_the_error_list_is_full(engine, monkeypatch):
    monkeypatch.setattr(readers, "MAX_ROWS", MAX_ERRORS + 10)
    monkeypatch.setattr(importers, "IMPORT_BATCH_ROWS", 50)
    n = MAX_ERRORS + 20
    rep = import_file(engine, "shops", _shops(n, bad={ln: "x" for ln in range(2, n + 2)}), filename="f.csv",
                      actor="a", role="admin")
    assert len(rep.errors) == MAX_ERRORS and rep.errors[0].row == 0
    assert f"more than {MAX_ERRORS + 10} rows" in rep.errors[0].message
    assert _count(engine, Shop) == 0


def test_uploads_are_read_as_streams_gb18030_and_non_seekable(engine):
    body = ("商户编号,名称,地址,类别,经度,纬度\n"
            f"G1,老王面馆,上海市黄浦区人民大道1号,餐饮,{LON},{LAT}\n").encode("gb18030")

    class Pipe(io.RawIOBase):  # a socket-like stream: read only, no seek
        def __init__(self, data):
            self._buf = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, b):
            chunk = self._buf.read(min(len(b), 7))
            b[:len(chunk)] = chunk
            return len(chunk)

    rep = import_file(engine, "shops", Pipe(body), filename="gb.csv", actor="a", role="admin")
    assert rep.ok, rep.errors
    with Session(engine) as s:
        shop = s.get(Shop, "G1")
        assert (shop.name, shop.category) == ("老王面馆", "catering")
    # an XLSX as a spooled upload (openpyxl reads the zip from the stream)
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["shop_id", "name", "address", "category", "lon", "lat"])
    for i in range(3):
        ws.append([f"X{i}", f"店{i}", "地址", "retail", LON, LAT])
    buf = io.BytesIO()
    wb.save(buf)
    with _spooled(buf.getvalue()) as upload:
        rep = import_file(engine, "shops", upload, filename="s.xlsx", actor="a", role="admin")
    assert rep.ok and rep.written == 3, rep.errors


def test_geojson_keeps_its_own_size_limit_and_file_limits_are_row_zero(engine, monkeypatch):
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[LON, LAT], [LON + 0.01, LAT]]},
         "properties": {"pipeline_id": "P1", "kind": "underground", "medium": "water", "name": "P1",
                        "nominal_pressure_mpa": 0.35}}]}
    body = json.dumps(fc).encode()
    monkeypatch.setattr(readers, "MAX_GEOJSON_BYTES", len(body) - 1)
    rep = import_file(engine, "pipelines", body, filename="p.geojson", actor="a", role="admin")
    assert not rep.ok and rep.errors[0].row == 0 and "GeoJSON" in rep.errors[0].message
    monkeypatch.setattr(readers, "MAX_GEOJSON_BYTES", len(body))
    rep = import_file(engine, "pipelines", body, filename="p.geojson", actor="a", role="admin")
    assert rep.ok, rep.errors
    monkeypatch.setattr(importers, "MAX_BYTES", 100)
    rep = import_file(engine, "shops", _shops(5), filename="s.csv", actor="a", role="admin")
    assert [e.row for e in rep.errors] == [0] and rep.errors[0].message.startswith("file larger than")
    assert _count(engine, Pipeline) == 1 and _count(engine, Shop) == 0
