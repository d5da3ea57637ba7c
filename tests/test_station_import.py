"""One station importer: a stations file imported as a map layer (:func:`datasources.ingest.importers.import_file`,
``"stations"``) is validated, written and audited by the station registry's path (:mod:`datasources.ingest.stations`,
:func:`datasources.ingest.registry.validate_station` / ``commit_stations``), on real SQLite and PostgreSQL."""
from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from datasources.ingest import registry
from datasources.ingest.importers import import_file
from datasources.sql.db import make_engine, migrate
from datasources.sql.models import AuditEntry, Station
from datasources.sql.repository import save_fleet
from datasources.sim.fleet import generate_fleet

HEADER = ["站点编号", "名称", "类型", "状态", "经度", "纬度", "装机容量"]
JIUTING = (121.3136, 31.1355)  # Songjiang, Shanghai (WGS-84)


@pytest.fixture
def engine(database_url):
    migrate(database_url)
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


def _csv(rows) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(HEADER)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _audits(engine) -> list[AuditEntry]:
    with Session(engine) as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == "import").order_by(AuditEntry.id)))


def test_the_layer_import_uses_the_registrys_validation(engine):
    # "-X1" passes a plain id pattern but not the registry's (an id starts with a letter or digit); a point in the sea
    # is outside China for both
    rows = [["-X1", "甲站", "智慧空压站", "已建", *JIUTING, 10], ["ST9002", "乙站", "智慧空压站", "已建", 125.5, 28.0, 10]]
    rep = import_file(engine, "stations", _csv(rows), filename="st.csv", actor="alice", role="admin")
    assert not rep.ok and rep.written == 0
    by_row = {(e.row, e.field) for e in rep.errors}
    assert (2, "station_id") in by_row and (3, "lon") in by_row
    assert "starting with a letter or digit" in next(e.message for e in rep.errors if e.row == 2)
    for row in rows:  # the registry's own validation says the same of each row
        issues: list = []
        raw = dict(zip(("station_id", "name", "kind", "lifecycle", "lon", "lat", "capacity_m3_min"), row))
        assert registry.validate_station(raw, row=1, issues=issues) is None and issues
    audit = _audits(engine)[-1]
    assert (audit.result, audit.target) == ("rejected", "stations:st.csv")
    assert json.loads(audit.detail)["n_errors"] == len(rep.errors)  # the registry's rejection entry


def test_a_good_file_is_one_registry_write_with_its_audit_entry(engine):
    rows = [["ST9001", "九亭智慧空压站", "智慧空压站", "已建", *JIUTING, 120],
            ["ST9003", "九亭二号站", "集中空压站", "在建", JIUTING[0] + 0.01, JIUTING[1], ""]]
    rep = import_file(engine, "stations", _csv(rows), filename="st.csv", actor="alice", role="admin")
    assert rep.ok and rep.written == 2 and rep.rows_ok == 2, rep.errors
    with Session(engine) as s:
        got = {r.station_id: r for r in s.scalars(select(Station))}
    assert set(got) == {"ST9001", "ST9003"} and not any(r.simulated for r in got.values())
    assert got["ST9003"].lifecycle == "under_construction" and got["ST9001"].city_adcode == "310100"
    assert registry.list_stations(engine, simulated=False)[0].station_id == "ST9001"  # a registered, real site
    audit = _audits(engine)[-1]
    assert (audit.result, audit.actor) == ("ok", "alice")
    assert json.loads(audit.detail)["stations"] == ["ST9001", "ST9003"]
    # again: the ids exist now → rejected, nothing written, audited
    rep = import_file(engine, "stations", _csv(rows[:1]), filename="again.csv", actor="alice", role="admin")
    assert not rep.ok and "already exists" in rep.errors[0].message and _audits(engine)[-1].result == "rejected"


def test_a_simulated_demo_station_is_never_overwritten_and_the_region_is_checked(engine):
    fleet = generate_fleet(3, seed=2)
    save_fleet(engine, fleet)
    demo = fleet[0]
    rep = import_file(engine, "stations", _csv([[demo.station_id, "冒名", "智慧空压站", "已建", *JIUTING, 1]]),
                      filename="d.csv", actor="a", role="admin")
    assert not rep.ok and rep.errors[0].field == "station_id"
    rep = import_file(engine, "stations", _csv([["ST9100", "九亭", "智慧空压站", "已建", *JIUTING, 1]]),
                      filename="r.csv", actor="a", role="admin", region_adcode="320500")
    assert not rep.ok and "not in" in rep.errors[0].message
    rep = import_file(engine, "stations", _csv([["ST9100", "九亭", "智慧空压站", "已建", *JIUTING, 1],
                                                ["ST9100", "九亭", "智慧空压站", "已建", *JIUTING, 1]]),
                      filename="dup.csv", actor="a", role="admin", region_adcode="310100")
    assert [(e.row, e.field) for e in rep.errors] == [(3, "station_id")] and "duplicate" in rep.errors[0].message
