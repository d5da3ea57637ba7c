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

``--against REV`` also measures the code of git revision ``REV`` in the same process, in alternating slices (so both
see the same machine load — a shared machine's load moves the absolute figures several-fold): the bus module
``datasources/bus/messages.py`` of ``REV`` is loaded under a private name, the recorder's ``parse_entry`` of ``REV``
is taken from its source, and the bridge's ``_ingest``/``flush`` run with ``REV``'s ``StationReading``. It prints
the ratio current / ``REV`` for both paths.

Usage::

    .venv/bin/python -m bench bench_schemas
    .venv/bin/python bench/bench_schemas.py --stations 40 --cycles 8 --repeat 7
    .venv/bin/python bench/bench_schemas.py --against 6d4af5a
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


def _rev_source(rev: str, path: str) -> str:
    import subprocess  # noqa: PLC0415

    root = Path(__file__).resolve().parents[1]
    return subprocess.run(["git", "-C", str(root), "show", f"{rev}:{path}"], check=True, capture_output=True,
                          text=True).stdout


def load_revision(rev: str):
    """``(parse_entry, StationReading, SchemaError)`` of git revision ``rev`` (its bus module under a private name;
    its recorder's ``parse_entry`` function from the recorder's source, with the names it uses)."""
    import types  # noqa: PLC0415

    mod = types.ModuleType(f"_bench_messages_{rev}")
    sys.modules[mod.__name__] = mod  # dataclasses look their module up
    exec(compile(_rev_source(rev, "datasources/bus/messages.py"), f"{rev}:messages.py", "exec"), mod.__dict__)
    rec = _rev_source(rev, "datasources/workers/recorder.py")
    fn_src = rec[rec.index("def parse_entry("):]
    fn_src = fn_src[:fn_src.index("\n\n\n")]
    from orjson import loads  # noqa: PLC0415

    ns = {"_json_loads": loads, "SchemaError": mod.SchemaError, "SCHEMA_VERSION": mod.SCHEMA_VERSION,
          "RELEVANT_KINDS": frozenset(("compressor", "flow_meter", "power_meter")), "__name__": mod.__name__}
    exec(compile("from __future__ import annotations\n" + fn_src, f"{rev}:recorder.py", "exec"), ns)
    return ns["parse_entry"], mod.StationReading, mod.SchemaError


def against(cycles: list[list[bytes]], built, rev: str, rounds: int = 120, slice_s: float = 0.06) -> dict:
    """Current code vs ``rev`` in alternating slices; returns best messages/s of each and the ratios."""
    from flask import Flask  # noqa: PLC0415
    from flask_socketio import SocketIO  # noqa: PLC0415

    import dashboard.live.bridge as bridge_mod  # noqa: PLC0415
    from datasources.workers.recorder import parse_entry  # noqa: PLC0415
    from layers.live import build_index  # noqa: PLC0415

    old_parse, old_reading, old_error = load_revision(rev)
    flat = [raw for cycle in cycles for raw in cycle]
    n_msgs = len(flat)
    socketio = SocketIO(Flask(__name__), async_mode="threading")
    names = {"new": (bridge_mod.StationReading, bridge_mod.SchemaError), "old": (old_reading, old_error)}
    bridges = {}
    for key in ("new", "old"):
        bridge_mod.StationReading, bridge_mod.SchemaError = names[key]
        b = bridge_mod.LiveBridge(socketio, "redis://unused", build_index(built), stale_after_s=0)
        b._load_index()
        bridges[key] = b

    def rec(fn):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < slice_s:
            for raw in flat:
                fn(raw)
            n += n_msgs
        return n / (time.perf_counter() - t0)

    def brg(key):
        bridge_mod.StationReading, bridge_mod.SchemaError = names[key]
        b = bridges[key]
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < slice_s:
            for cycle in cycles:
                for raw in cycle:
                    b._ingest(raw)
                b.flush()
            n += n_msgs
        return n / (time.perf_counter() - t0)

    best = {k: 0.0 for k in ("rec_old", "rec_new", "brg_old", "brg_new")}
    try:
        for _ in range(rounds):
            best["rec_old"] = max(best["rec_old"], rec(old_parse))
            best["rec_new"] = max(best["rec_new"], rec(parse_entry))
            best["brg_old"] = max(best["brg_old"], brg("old"))
            best["brg_new"] = max(best["brg_new"], brg("new"))
    finally:
        bridge_mod.StationReading, bridge_mod.SchemaError = names["new"]
    if bridges["old"].dropped or bridges["new"].dropped:
        raise RuntimeError("a bridge dropped real messages")
    print(f"  against {rev} (alternating {slice_s:g} s slices, best of {rounds}):")
    print(f"  (a) recorder  {rev}: {best['rec_old']:8.0f}/s   now: {best['rec_new']:8.0f}/s   "
          f"ratio {best['rec_new'] / best['rec_old']:.3f}")
    print(f"  (b) bridge    {rev}: {best['brg_old']:8.0f}/s   now: {best['brg_new']:8.0f}/s   "
          f"ratio {best['brg_new'] / best['brg_old']:.3f}")
    return best


def run(n_stations: int, n_cycles: int, repeat: int, rev: str | None = None, rounds: int = 120) -> dict:
    cycles, built = collect(n_stations, n_cycles)
    n_dev = sum(len(s.devices) for s in built)
    size = sum(len(r) for c in cycles for r in c) / max(1, sum(len(c) for c in cycles))
    rec = bench_recorder(cycles, repeat)
    brg = bench_bridge(cycles, built, repeat)
    print(f"stations {len(built)} built ({n_dev / max(1, len(built)):.1f} devices each), {len(cycles)} cycles, "
          f"message {size:.0f} bytes on average")
    print(f"  (a) recorder parse_entry            {rec:10.0f} messages/s")
    print(f"  (b) bridge _ingest + flush per cycle {brg:10.0f} messages/s")
    out = {"recorder": rec, "bridge": brg}
    if rev:
        out["against"] = against(cycles, built, rev, rounds)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stations", type=int, default=40, help="fleet size (about 60 %% are built and polled; 247 devices per simulator port)")
    ap.add_argument("--cycles", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=7, help="timed runs; the best is reported")
    ap.add_argument("--against", metavar="REV", help="also compare with git revision REV in alternating slices")
    ap.add_argument("--rounds", type=int, default=120, help="alternating rounds of --against")
    args = ap.parse_args(argv if argv is not None else [])
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    run(args.stations, args.cycles, args.repeat, args.against, args.rounds)


if __name__ == "__main__":
    main(sys.argv[1:])
