"""The audit log writer: every row of ``audit_log`` (:class:`datasources.sql.models.AuditEntry`) is made here.

Who writes: sign-in, authorisation and user administration (:mod:`dashboard.auth.core`, the admin pages), the
station / device registry (:mod:`datasources.ingest.registry`, in the transaction of the change) and the layer
importer (:mod:`datasources.ingest.importers`, one row per import). Seed 002 asks to keep it six months; migration
0003 makes the table append-only in the database itself.

A row: ``ts`` (UTC, timezone-aware), ``actor`` (user name, ``anonymous`` when unknown, ≤ 64 characters), ``role``
(≤ 32), ``action`` (≤ 64, e.g. ``alarm.acknowledge``, ``login``, ``import``), ``target`` (≤ 128), ``result`` (≤ 32:
``ok`` | ``refused`` | ``failed`` | ``locked`` | ``error`` | ``expired`` | ``rejected``) and ``detail`` (text, or a
dict stored as JSON). Longer values are cut to the column widths.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from datasources.sql.models import AuditEntry


def audit_row(actor: str, role: str, action: str, target: str = "", result: str = "ok", detail: str | dict = "",
              ts: datetime | None = None) -> dict[str, Any]:
    """The column values of one audit entry (cut to the column widths; a non-text ``detail`` as JSON, non-ASCII
    kept, unknown types by ``str``); ``ts`` defaults to now (UTC)."""
    if not isinstance(detail, str):
        detail = json.dumps(detail, ensure_ascii=False, default=str)
    return dict(ts=ts or datetime.now(timezone.utc), actor=(actor or "anonymous")[:64], role=(role or "")[:32],
                action=action[:64], target=(target or "")[:128], result=result[:32], detail=detail or "")


def insert_audit(conn, row: dict[str, Any]) -> None:
    """Insert ``row`` (an :func:`audit_row`) inside the caller's transaction: ``conn`` is a SQLAlchemy
    ``Connection`` or ``Session``; the entry commits or rolls back with the change it records."""
    conn.execute(insert(AuditEntry.__table__).values(**row))


def write_audit_row(engine: Engine, row: dict[str, Any]) -> None:
    """Insert ``row`` in a transaction of its own (kept even when the caller's work rolls back).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database is down — an action that cannot be audited must not proceed.
    """
    with engine.begin() as conn:
        insert_audit(conn, row)


def write_audit(engine: Engine, actor: str, role: str, action: str, target: str = "", result: str = "ok",
                detail: str | dict = "", ts: datetime | None = None) -> None:
    """Append one audit entry in its own transaction (so refusals are kept even when the caller rolls back).

    Args:
        result: ``ok`` | ``refused`` | ``failed`` | ``locked`` | ``error`` | ``expired``.
        detail: text or a dict (stored as JSON).
    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database is down — an action that cannot be audited must not proceed.
    """
    write_audit_row(engine, audit_row(actor, role, action, target, result, detail, ts))


def read_audit(engine: Engine, *, actor: str | None = None, action: str | None = None,
               limit: int = 200) -> list[dict[str, Any]]:
    """Newest audit entries first, at most ``limit``, optionally of one actor / action: ``[{id, ts (ISO 8601), actor,
    role, action, target, result, detail}]`` (authorise ``audit.read`` before calling)."""
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    with Session(engine) as s:
        return [{"id": e.id, "ts": e.ts.isoformat() if e.ts else None, "actor": e.actor, "role": e.role,
                 "action": e.action, "target": e.target, "result": e.result, "detail": e.detail}
                for e in s.scalars(stmt)]
