"""Energy rollup tables, write side: the bulk writes of the recorder (live minute/hour/day rollups) and of the demo
history loader, as one driver ``executemany`` of plain SQL text that is the same on SQLite and PostgreSQL.

Tables are described in :mod:`datasources.sql.energy_models`; the queries that read them are
:mod:`datasources.sql.energy_store`. Bucket keys (``bucket_ts``, ``week_ts``, ``month``) are computed by the caller
(China Standard Time buckets, :mod:`ops.energy`).
"""
from __future__ import annotations

from typing import Sequence

#: measure columns of station rollups, in the recorder's accumulator order
STATION_MEASURES = ("samples", "flow_sum", "power_sum", "air_m3", "energy_kwh", "covered_s", "loaded_s",
                    "unloaded_s", "stopped_s", "fault_s", "unloaded_kwh", "pressure_min", "pressure_max", "gaps",
                    "resets", "comp_air_m3", "comp_energy_kwh")
#: measure columns of device rollups, in the recorder's accumulator order
DEVICE_MEASURES = STATION_MEASURES[:15] + ("temp_max", "running_hours_h")
_MIN_COLS = ("pressure_min",)
_MAX_COLS = ("pressure_max", "temp_max", "running_hours_h")


def rollup_columns(level: str, granularity: str) -> tuple[str, ...]:
    """Column order of the row tuples :func:`rollup_write_sql` expects.

    ``level="station"``: ``station_id, bucket_ts, [week_ts, month,] *STATION_MEASURES``;
    ``level="device"``: ``device_id, bucket_ts, station_id, kind, [week_ts, month,] *DEVICE_MEASURES``
    (``week_ts``/``month`` only for ``granularity="day"``).

    Raises:
        ValueError: unknown level or granularity.
    """
    if granularity not in ("minute", "hour", "day"):
        raise ValueError(f"rollup granularity must be minute, hour or day, not {granularity!r}")
    day = ("week_ts", "month") if granularity == "day" else ()
    if level == "station":
        return ("station_id", "bucket_ts") + day + STATION_MEASURES
    if level == "device":
        return ("device_id", "bucket_ts", "station_id", "kind") + day + DEVICE_MEASURES
    raise ValueError(f"level must be station or device, not {level!r}")


def rollup_write_sql(dialect_name: str, level: str, granularity: str, upsert: bool = True) -> str:
    """SQL writing rollup row tuples (:func:`rollup_columns` order) on SQLite or PostgreSQL.

    ``upsert=True`` merges into an existing bucket row (``INSERT … ON CONFLICT (key, bucket_ts) DO UPDATE``): sums
    add, ``pressure_min`` takes the minimum, ``*_max``/``running_hours_h`` the maximum (NULL-aware; the same text
    on both databases). ``upsert=False`` is a plain ``INSERT`` (bulk history load).

    Raises:
        ValueError: unknown dialect, level or granularity.
    """
    if dialect_name not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database dialect {dialect_name!r}")
    cols = rollup_columns(level, granularity)
    table = f"energy_{level}_{granularity}"
    ph = "?" if dialect_name == "sqlite" else "%s"
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join([ph] * len(cols))})"
    if not upsert:
        return sql
    key = "station_id" if level == "station" else "device_id"
    measures = STATION_MEASURES if level == "station" else DEVICE_MEASURES
    sets = []
    for c in measures:
        cur, new = f"{table}.{c}", f"excluded.{c}"
        if c in _MIN_COLS or c in _MAX_COLS:
            op = "<" if c in _MIN_COLS else ">"
            sets.append(f"{c} = CASE WHEN {new} IS NULL THEN {cur} WHEN {cur} IS NULL THEN {new} "
                        f"WHEN {new} {op} {cur} THEN {new} ELSE {cur} END")
        else:
            sets.append(f"{c} = {cur} + {new}")
    return f"{sql} ON CONFLICT ({key}, bucket_ts) DO UPDATE SET {', '.join(sets)}"


def write_rollups(conn, level: str, granularity: str, rows: Sequence[tuple], upsert: bool = True) -> int:
    """Write rollup row tuples (:func:`rollup_columns` order) on an open SQLAlchemy connection with one driver
    ``executemany`` (sqlite3: in-process loop; psycopg 3: pipelined prepared statements, no ``COPY``); the caller
    owns the transaction.

    Rows must have distinct keys within one call.

    Returns:
        number of rows written.
    Raises:
        sqlalchemy.exc.IntegrityError: ``upsert=False`` and a row exists already.
    """
    if not rows:
        return 0
    conn.exec_driver_sql(rollup_write_sql(conn.dialect.name, level, granularity, upsert), list(rows))
    return len(rows)
