"""Benchmark: what the bus message schema costs on the two hot paths that parse every reading.

(a) recorder: :func:`datasources.workers.recorder.parse_entry` — decode + validate the ``data`` field of one
    ``cc:readings`` stream entry (the recorder's per-entry cost before it accumulates rollups);
(b) bridge: :meth:`dashboard.live.bridge.LiveBridge._ingest` of every pub/sub message of a poll cycle, then its
    coalescing step :meth:`~dashboard.live.bridge.LiveBridge.flush` (one per cycle, as on the bus: a cycle arrives
    as one pipelined burst).

The messages are real: a fleet from :func:`datasources.sim.fleet.generate_fleet` (built stations have 6–10 devices,
~8 on average) served by :class:`datasources.sim.simulator.FleetSimulator`, polled by the real
:class:`datasources.modbus.poller.Poller`, which writes them to a private Redis through the bus encoder; the bench
reads the stream entries back (``XRANGE``) and feeds the exact bytes to both paths. The functions are imported,
not copied, so the figure follows the code.

Figures are messages per second (best of ``--repeat`` runs, single thread). Compare a run before and after a schema
change on the same machine; ``bench/RESULTS.md`` keeps them.

Usage::

    .venv/bin/python -m bench bench_schemas
    .venv/bin/python bench/bench_schemas.py --stations 40 --cycles 8 --repeat 7
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasources.bus.messages import READINGS_STREAM  # noqa: E402
from datasources.bus.redis_server import EmbeddedRedis, free_port  # noqa: E402
from datasources.modbus.poller import Poller  # noqa: E402
from datasources.modbus.profiles import default_profiles  # noqa: E402
from datasources.sim.fleet import generate_fleet  # noqa: E402


async def _poll(fleet, redis_url: str, cycles: int) -> None:
    """Serve ``fleet`` from the simulator and poll it ``cycles`` times; the poller writes each cycle to Redis."""
    from datasources.sim.simulator import FleetSimulator  # noqa: PLC0415 — pymodbus servers, only here

    sim = FleetSimulator(fleet, seed=1, tick_s=None)
    await sim.start()
    poller = Poller(fleet, default_profiles(), redis_url, timeout_s=2.0)
    try:
        for _ in range(cycles):
            sim.advance(1.0)
            await poller.poll_once()
            await asyncio.sleep(0.01)  # distinct ts_ms per cycle
    finally:
        await poller.aclose()
        await sim.stop()


def collect(n_stations: int, cycles: int) -> tuple[list[list[bytes]], list]:
    """Real stream entries: ``(cycles_of_raw_messages, built_station_specs)``; one inner list per poll cycle."""
    import redis  # noqa: PLC0415

    with EmbeddedRedis() as server:  # started first: free_port() must not hand the simulator Redis's port
        fleet = generate_fleet(n_stations, seed=42, base_port=free_port(), units_per_port=247)
        built = [s for s in fleet if s.devices]
        asyncio.run(_poll(built, server.url, cycles))
        client = redis.Redis.from_url(server.url)
        entries = client.xrange(READINGS_STREAM)
        client.close()
    per_cycle = len(built)
    raws = [fields[b"data"] for _id, fields in entries]
    return [raws[i:i + per_cycle] for i in range(0, len(raws), per_cycle)], built


def bench_recorder(cycles: list[list[bytes]], repeat: int, min_s: float = 0.5) -> float:
    """Messages per second of :func:`datasources.workers.recorder.parse_entry`."""
    from datasources.workers.recorder import parse_entry  # noqa: PLC0415

    flat = [raw for cycle in cycles for raw in cycle]
    for raw in flat:  # every message must pass: a bench of rejections would measure the wrong path
        parse_entry(raw)
    best = 0.0
    for _ in range(repeat):
        n, t0 = 0, time.perf_counter()
        while True:
            for raw in flat:
                parse_entry(raw)
            n += len(flat)
            dt = time.perf_counter() - t0
            if dt >= min_s:
                break
        best = max(best, n / dt)
    return best


def bench_bridge(cycles: list[list[bytes]], built, repeat: int, min_s: float = 0.5) -> float:
    """Messages per second of the bridge's ``_ingest`` of each message plus one ``flush`` per poll cycle."""
    from flask import Flask  # noqa: PLC0415
    from flask_socketio import SocketIO  # noqa: PLC0415

    from dashboard.live.bridge import LiveBridge  # noqa: PLC0415
    from layers.live import build_index  # noqa: PLC0415

    socketio = SocketIO(Flask(__name__), async_mode="threading")
    bridge = LiveBridge(socketio, "redis://unused", build_index(built), stale_after_s=0)
    bridge._load_index()  # what start() does, without the Redis thread
    n_msgs = sum(len(c) for c in cycles)
    for cycle in cycles:  # warm up and check every message is taken
        for raw in cycle:
            bridge._ingest(raw)
        bridge.flush()
    if bridge.dropped:
        raise RuntimeError(f"bridge dropped {bridge.dropped} real messages")
    best = 0.0
    for _ in range(repeat):
        n, t0 = 0, time.perf_counter()
        while True:
            for cycle in cycles:
                for raw in cycle:
                    bridge._ingest(raw)
                bridge.flush()
            n += n_msgs
            dt = time.perf_counter() - t0
            if dt >= min_s:
                break
        best = max(best, n / dt)
    return best


def run(n_stations: int, n_cycles: int, repeat: int) -> dict:
    cycles, built = collect(n_stations, n_cycles)
    n_dev = sum(len(s.devices) for s in built)
    size = sum(len(r) for c in cycles for r in c) / max(1, sum(len(c) for c in cycles))
    rec = bench_recorder(cycles, repeat)
    brg = bench_bridge(cycles, built, repeat)
    print(f"stations {len(built)} built ({n_dev / max(1, len(built)):.1f} devices each), {len(cycles)} cycles, "
          f"message {size:.0f} bytes on average")
    print(f"  (a) recorder parse_entry            {rec:10.0f} messages/s")
    print(f"  (b) bridge _ingest + flush per cycle {brg:10.0f} messages/s")
    return {"recorder": rec, "bridge": brg}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stations", type=int, default=40, help="fleet size (about 60 %% are built and polled; 247 devices per simulator port)")
    ap.add_argument("--cycles", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=7, help="timed runs; the best is reported")
    args = ap.parse_args(argv if argv is not None else [])
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    run(args.stations, args.cycles, args.repeat)


if __name__ == "__main__":
    main(sys.argv[1:])
