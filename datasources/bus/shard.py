"""Station sharding: which of ``n`` processes (pollers, recorders, alarm engines) owns a station.

Every worker that splits the fleet uses :func:`shard_of`, so station ``S`` is polled, recorded and evaluated by
processes of the same index ``i`` when they run with the same ``n``. The hash is ``zlib.crc32`` of the station id's
UTF-8 bytes (ISO 3309 / ITU-T V.42 CRC-32): stable across processes, hosts and Python versions — unlike ``hash()``,
which is salted per process.
"""
from __future__ import annotations

import zlib


def shard_of(station_id: str, n: int) -> int:
    """Shard index ``0..n-1`` of a station: ``zlib.crc32(station_id as UTF-8) % n``.

    Args:
        station_id: the station's id (any string; ``""`` maps to shard 0).
        n: number of shards, >= 1.
    Raises:
        ValueError: ``n < 1``.
    """
    if n < 1:
        raise ValueError(f"shard count must be >= 1, got {n}")
    return zlib.crc32(station_id.encode("utf-8")) % n


def in_shard(station_id: str, shard: tuple[int, int]) -> bool:
    """True when ``station_id`` belongs to ``shard = (i, n)``, i.e. ``shard_of(station_id, n) == i``; always true
    for ``n == 1``."""
    i, n = shard
    return n == 1 or shard_of(station_id, n) == i


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``"i/n"`` (e.g. ``"1/4"``) into ``(i, n)`` with ``0 <= i < n``.

    Raises:
        ValueError: not of the form ``i/n`` with integers, ``n < 1`` or ``i`` outside ``0..n-1``; the message quotes
            the input.
    """
    parts = str(text).strip().split("/")
    if len(parts) != 2:
        raise ValueError(f"shard {text!r} must look like 'i/n', e.g. '0/4'")
    try:
        i, n = int(parts[0]), int(parts[1])
    except ValueError:
        raise ValueError(f"shard {text!r}: i and n must be integers, e.g. '0/4'") from None
    if n < 1:
        raise ValueError(f"shard {text!r}: n must be >= 1")
    if not 0 <= i < n:
        raise ValueError(f"shard {text!r}: i must be in 0..{n - 1}")
    return i, n


def check_shard(shard: tuple[int, int]) -> tuple[int, int]:
    """``shard`` as ``(int i, int n)`` after checking ``0 <= i < n``.

    Raises:
        ValueError: ``n < 1`` or ``i`` outside ``0..n-1`` (the message quotes the shard).
    """
    i, n = shard
    if n < 1 or not 0 <= i < n:
        raise ValueError(f"shard must be (i, n) with 0 <= i < n, got {shard!r}")
    return int(i), int(n)
