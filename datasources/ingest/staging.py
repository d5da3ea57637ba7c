"""Writing imports: fast bulk inserts, the private staging table of a streamed import, the audit entry (the job
"staging / write" of the importer).

:func:`bulk_insert` / :func:`insert_rows` write many rows in the caller's transaction (PostgreSQL ``COPY``, else
``executemany``); :class:`_Stage` holds the validated rows of an import in a ``TEMPORARY`` table until the whole file
has passed. The import's one audit entry is written by :mod:`datasources.sql.audit`.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import Column, Integer, MetaData, Table, select

from datasources.ingest.specs import LayerSpec

#: rows per ``executemany`` call of :func:`bulk_insert` (the demo seeding's bulk path)
BATCH_ROWS = 50_000


def bulk_insert(conn, table, rows: Iterable[Sequence], columns: Sequence[str], batch: int = BATCH_ROWS) -> int:
    """Insert many rows fast inside the caller's transaction.

    PostgreSQL with psycopg 3: ``COPY table (columns) FROM STDIN``; other databases: the DB-API ``executemany`` with
    ``batch`` rows per call (SQLite: ~50,000 rows/s with the enterprises' seven indexes).

    Args:
        conn: a SQLAlchemy ``Connection`` in a transaction.
        table: a ``Table`` or a mapped class.
        rows: sequences in ``columns`` order (str, float, int, bool, date, datetime, None).
        columns: column names.
    Returns:
        the number of rows written.
    Raises:
        sqlalchemy.exc.DBAPIError or the driver's errors (constraint violations …); the caller's transaction
        must then be rolled back (``engine.begin()`` does it).
    """
    table = getattr(table, "__table__", table)
    cols = list(columns)
    quoted = ", ".join(cols)
    n = 0
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        raw = conn.connection.driver_connection
        with raw.cursor() as cur:
            with cur.copy(f"COPY {table.name} ({quoted}) FROM STDIN") as cp:
                for row in rows:
                    cp.write_row(row)
                    n += 1
        return n
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table.name} ({quoted}) VALUES ({', '.join(mark for _ in cols)})"
    chunk: list = []
    for row in rows:
        chunk.append(tuple(row))
        if len(chunk) >= batch:
            conn.exec_driver_sql(sql, chunk)
            n += len(chunk)
            chunk = []
    if chunk:
        conn.exec_driver_sql(sql, chunk)
        n += len(chunk)
    return n


def insert_rows(conn, model, dicts: Sequence[Mapping[str, Any]]) -> int:
    """:func:`bulk_insert` of column dicts into a mapped class's table, filling the columns' Python-side defaults
    (``created_at``, empty strings …) that a bulk path would otherwise skip.

    Returns:
        rows written.
    """
    if not dicts:
        return 0
    table = model.__table__
    defaults = {}
    for c in table.columns:
        if c.default is not None and not c.primary_key:
            arg = c.default.arg
            defaults[c.name] = arg
    cols = [c.name for c in table.columns if c.name in dicts[0] or c.name in defaults]

    def rows():
        for d in dicts:
            out = []
            for c in cols:
                if c in d:
                    out.append(d[c])
                else:
                    arg = defaults[c]
                    out.append(arg(None) if callable(arg) else arg)
            yield out

    return bulk_insert(conn, table, rows(), cols)


# --------------------------------------------------------------------------- the import


def existing_ids(conn, column, ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    ids = list(ids)
    for i in range(0, len(ids), 500):
        found.update(conn.execute(select(column).where(column.in_(ids[i:i + 500]))).scalars())
    return found



class _Stage:
    """A private scratch table (``TEMPORARY``: this connection only) holding the validated rows of an import until
    the whole file has passed; then one ``INSERT … SELECT`` moves them into the layer's table in the final
    transaction.

    Why not insert into the layer's table batch by batch in one long transaction: on SQLite that transaction would
    hold the database's only write lock while the rest of the file is read and validated (minutes for a million
    rows; the recorder and the alarm engine would wait on it), and a WAL read snapshot taken at its start could not
    be upgraded to a write once another process has written. The scratch table lives in SQLite's separate temp
    database (PostgreSQL: the session's temp schema) — writing it locks nothing others use; each batch commits, so
    no snapshot is held. It also answers "which row had this id first" for the duplicate check without keeping
    the file's ids in memory.

    Rows that were read but failed a later check are staged with their id and row number only (the duplicate
    check counts them, as before); nothing is copied when any row failed.
    """

    NAME = "cc_import_stage"
    ROW = "import_row"

    def __init__(self, conn, spec: LayerSpec):
        self.target = spec.model.__table__
        self.id_name = spec.id_field
        self._qualified = ("temp." if conn.dialect.name == "sqlite" else "pg_temp.") + self.NAME
        cols = [Column(self.ROW, Integer, nullable=False)]
        cols += [Column(c.name, c.type, primary_key=c.name == spec.id_field) for c in self.target.columns]
        self.table = Table(self.NAME, MetaData(), *cols, prefixes=["TEMPORARY"])
        self._defaults = {c.name: c.default.arg for c in self.target.columns
                          if c.default is not None and not c.primary_key}
        self.columns: list[str] | None = None  # the target columns written (from the first valid row)
        self.n_full = self.n_ids = 0
        self._analyzed = 1000  # rows in the table at the last ANALYZE (PostgreSQL), first one at 2,000
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self._qualified}")
        self.table.create(conn)
        conn.commit()

    def first_rows(self, conn, ids: Sequence[str]) -> dict[str, int]:
        """``{id: row number}`` of the ids already staged (earlier batches)."""
        col, row = self.table.c[self.id_name], self.table.c[self.ROW]
        found: dict[str, int] = {}
        ids = list(ids)
        for i in range(0, len(ids), 500):
            found.update((k, n) for k, n in conn.execute(select(col, row).where(col.in_(ids[i:i + 500]))))
        return found

    def add(self, conn, full: Sequence[tuple[int, dict]], ids_only: Sequence[tuple[int, str]]) -> None:
        """Stage valid rows (``(row, column dict)``, Python-side column defaults filled as :func:`insert_rows`
        does) and the ids of the other rows read (``(row, id)``)."""
        if full:
            if self.columns is None:
                self.columns = [c.name for c in self.target.columns if c.name in full[0][1] or c.name in self._defaults]

            def values(row_no, d):
                out = [row_no]
                for c in self.columns:
                    if c in d:
                        out.append(d[c])
                    else:
                        arg = self._defaults[c]
                        out.append(arg(None) if callable(arg) else arg)
                return out

            self.n_full += bulk_insert(conn, self.table, (values(n, d) for n, d in full), [self.ROW, *self.columns])
        if ids_only:
            self.n_ids += bulk_insert(conn, self.table, ids_only, [self.ROW, self.id_name])
        n = self.n_full + self.n_ids
        if conn.dialect.name == "postgresql" and n >= 2 * self._analyzed:
            # autovacuum never analyses temp tables; without statistics (and with psycopg's prepared statements
            # keeping a plan made while the table was small) the id look-ups of first_rows() turn into sequential
            # scans (~1 s per query at 200,000 rows). ANALYZE when the table has doubled: a handful per import.
            conn.exec_driver_sql(f"ANALYZE {self._qualified}")
            self._analyzed = n

    def copy(self, conn) -> int:
        """``INSERT INTO <layer> SELECT … FROM`` the stage, in file order, in the caller's transaction; returns the
        rows written."""
        if not self.columns:
            return 0
        sel = select(*[self.table.c[c] for c in self.columns]).order_by(self.table.c[self.ROW])
        n = conn.execute(self.target.insert().from_select(self.columns, sel)).rowcount
        return n if n is not None and n >= 0 else self.n_full

    def drop(self, conn) -> None:
        """Remove the scratch table (errors ignored: a lost connection takes it along)."""
        try:
            conn.rollback()
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self._qualified}")
            conn.commit()
        except Exception:  # noqa: BLE001 — best effort; a temp table dies with its connection
            conn.invalidate()

