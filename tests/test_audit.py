"""The one audit log writer (datasources/sql/audit.py) on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy.exc import DBAPIError

from datasources.sql.audit import audit_row, insert_audit, read_audit, write_audit, write_audit_row
from datasources.sql.db import make_engine, migrate


@pytest.fixture
def db(database_url):
    migrate(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def test_audit_row_cuts_to_the_columns_and_stores_dicts_as_json():
    row = audit_row("", "r" * 40, "a" * 70, "t" * 200, "refused", {"why": "角色不符", "n": 2},
                    ts=datetime(2026, 1, 5, tzinfo=timezone.utc))
    assert row["actor"] == "anonymous" and len(row["role"]) == 32 and len(row["action"]) == 64
    assert len(row["target"]) == 128 and row["result"] == "refused"
    assert row["detail"] == '{"why": "角色不符", "n": 2}' and row["ts"].year == 2026
    assert audit_row("u", "", "x", detail="")["detail"] == ""
    assert audit_row("u", "", "x", detail=None)["detail"] == "null"


def test_insert_audit_commits_or_rolls_back_with_the_change_and_write_audit_stands_alone(db):
    with db.connect() as conn:
        insert_audit(conn, audit_row("duty", "duty_officer", "registry.update", "station:S1", "ok", {"k": 1}))
        conn.rollback()  # the change failed: its audit entry goes with it
    assert read_audit(db) == []
    with db.begin() as conn:
        insert_audit(conn, audit_row("duty", "duty_officer", "registry.update", "station:S1", "ok", {"k": 1}))
    write_audit(db, "admin", "admin", "user.create", "user:eve", "ok", "created")
    write_audit_row(db, audit_row("leader", "leader", "import", "layer:shops", "rejected", {"n_errors": 3}))
    got = read_audit(db)
    assert [(e["actor"], e["action"], e["result"]) for e in got] == [
        ("leader", "import", "rejected"), ("admin", "user.create", "ok"), ("duty", "registry.update", "ok")]
    assert got[2]["detail"] == '{"k": 1}' and got[1]["detail"] == "created"
    assert [e["action"] for e in read_audit(db, actor="admin")] == ["user.create"]
    assert [e["actor"] for e in read_audit(db, action="import", limit=1)] == ["leader"]


def test_the_log_stays_append_only(db):
    write_audit(db, "duty", "duty_officer", "alarm.acknowledge", "alarm:1")
    with db.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
        conn.exec_driver_sql("UPDATE audit_log SET result = 'x'")
