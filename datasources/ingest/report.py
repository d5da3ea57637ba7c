"""The outcome of a file import: :class:`ImportIssue` (one problem) and :class:`ImportReport` (the whole file).

Row numbers are what the user sees: the line number in a CSV file (header = line 1), the row number in the worksheet,
the feature number (1-based) in a GeoJSON file; 0 = the file as a whole.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

#: errors kept in a report: the first ones in row order (the count, ``n_errors``, is always complete)
MAX_ERRORS = 500


class ImportIssue(NamedTuple):
    """One problem: ``row`` as the user sees it (0 = the whole file), ``field`` (column name, may be ``""``),
    ``message`` (English, names the offending value)."""

    row: int
    field: str
    message: str


@dataclass
class ImportReport:
    """The outcome of :func:`import_file`.

    Attributes:
        layer, filename, fmt, crs, region_adcode: what was imported, from where, declared how.
        rows_read: data rows found (blank rows not counted).
        rows_ok: rows that passed validation.
        errors: the first problems in row order (at most :data:`MAX_ERRORS`; ``n_errors`` counts all).
        written: rows inserted (0 unless the whole file was accepted).
    """

    layer: str
    filename: str
    fmt: str = ""
    crs: str = ""
    region_adcode: str | None = None
    rows_read: int = 0
    rows_ok: int = 0
    errors: list[ImportIssue] = field(default_factory=list)
    n_errors: int = 0
    written: int = 0
    #: the import's own path wrote the audit entry (the stations path: the registry's writer)
    audited: bool = field(default=False, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True when the file was accepted and written."""
        return self.n_errors == 0 and not self.errors

    @property
    def result(self) -> str:
        """``"ok"`` or ``"rejected"`` (the audit result)."""
        return "ok" if self.ok else "rejected"

    def add(self, row: int, field_name: str, message: str) -> None:
        """Record one problem (counted always; kept while fewer than :data:`MAX_ERRORS` are — a problem of the
        whole file, row 0, is always kept, in place of the last row's)."""
        self.n_errors += 1
        issue = ImportIssue(int(row), field_name, message)
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(issue)
        elif issue.row == 0:
            self.errors.sort(key=lambda e: (e.row, e.field))
            self.errors[-1] = issue

    def summary(self) -> str:
        """One line for logs and the UI, e.g. ``"shops: 120 rows read, 119 ok, 1 error — nothing written"``."""
        s = f"{self.layer}: {self.rows_read} rows read, {self.rows_ok} ok"
        if self.ok:
            return s + f", {self.written} written"
        return s + f", {self.n_errors} error{'s' if self.n_errors != 1 else ''} — nothing written"

    def to_dict(self) -> dict:
        """JSON-ready form: scalars plus ``errors`` as ``[[row, field, message], …]``."""
        return {"layer": self.layer, "filename": self.filename, "format": self.fmt, "crs": self.crs,
                "region_adcode": self.region_adcode, "rows_read": self.rows_read, "rows_ok": self.rows_ok,
                "n_errors": self.n_errors, "written": self.written, "result": self.result,
                "errors": [list(e) for e in self.errors]}

