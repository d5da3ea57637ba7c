"""The one code path of a layer import, shared by the import dialog (:mod:`callbacks.importer`) and
``POST /api/import/<layer>`` (:mod:`dashboard.web.api_city`): which imports exist (the registry's layers with an
``import_spec``), who may import, and :func:`run_import` (validate and write all or nothing with
:func:`datasources.ingest.importers.import_file`, then drop what the import invalidates).
"""
from __future__ import annotations

import logging
from typing import Any

from datasources.ingest.importers import ALLOWED_ROLES, ImportReport, import_file
from layers import registry

log = logging.getLogger(__name__)

#: coordinate systems a file may declare (:func:`geo.crs.normalize_crs`)
CRS_CHOICES = ("WGS84", "GCJ02", "BD09")


def import_layers() -> tuple[str, ...]:
    """Names of the imports, in layer order (``stations, cameras, pipelines, shops, enterprises``): each
    registered layer's ``import_spec.key``."""
    return tuple(layer.import_spec.key for layer in registry.importable())


def current_user() -> tuple[str, str] | None:
    """``(username, role)`` of the session's user, or ``None`` (nobody logged in, or logins not installed)."""
    try:
        from flask_login import current_user as cu  # noqa: PLC0415

        if getattr(cu, "is_authenticated", False) and getattr(cu, "is_active", True):
            return cu.username, cu.role
    except Exception:  # noqa: BLE001 — no LoginManager on this app, outside a request …
        return None
    return None


def may_import() -> bool:
    """True when the session's user may import data (role in :data:`datasources.ingest.importers.ALLOWED_ROLES`, the
    permission ``data.import``). The page shows the import button only then; the import itself is refused on the
    server for other roles whatever the page showed (:func:`datasources.ingest.importers.import_file`, audited)."""
    user = current_user()
    return user is not None and user[1] in ALLOWED_ROLES


def run_import(engine, layer: str, data: Any, *, filename: str, actor: str, role: str, crs: str = "WGS84",
               region_adcode: str | None = None, on_stations=None) -> ImportReport:
    """Import one file (all or nothing) into a layer and refresh the caches it invalidates.

    Args:
        layer: an import name of :func:`import_layers`.
        data: the file's bytes or a binary file object. filename: its name (the format comes from the extension).
        actor, role: the logged-in user (audited; ``role`` must be allowed — else :class:`PermissionError`).
        crs: the file's coordinate system (``WGS84`` | ``GCJ02`` | ``BD09``).
        region_adcode: every position must lie in this region (optional).
        on_stations: called after a successful stations import (e.g. reload the web process's station index).
    Raises:
        PermissionError: role not allowed (audited by the importer). ValueError: unknown layer.
    """
    try:
        target = registry.by_import_key(layer)
    except KeyError:
        raise ValueError(f"unknown layer {layer!r}; expected one of {', '.join(import_layers())}") from None
    report = import_file(engine, target.import_spec, data, actor=actor, role=role, crs=crs,
                         region_adcode=region_adcode or None, filename=filename)
    if report.ok and report.written:
        target.after_import(engine)
        if target.key == "stations" and on_stations is not None:
            on_stations()
    log.info("import by %s (%s): %s", actor, role, report.summary())
    return report
