"""Benchmark: polls per second of ONE poller process against the real simulated fleet.

The fleet comes from :func:`datasources.sim.fleet.generate_fleet` (the ``make run`` fleet), served by
:class:`datasources.sim.simulator.FleetSimulator` in a separate process (its own core); the poller runs back-to-back
``poll_once`` cycles in this process and writes every cycle to a private Redis, as in production.

Peer approach in the same run: the same poller with one Modbus request per register (``max_gap=-1``: no block
reads), the naive way of reading a register map. The ratio shows what block planning buys.

Usage::

    .venv/bin/python -m bench bench_fleet_poll
    .venv/bin/python bench/bench_fleet_poll.py --stations 240 1000 --cycles 5
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasources.sim.fleet import generate_fleet  # noqa: E402
from datasources.modbus.poller import Poller  # noqa: E402
from datasources.modbus.profiles import default_profiles  # noqa: E402
from datasources.bus.redis_server import EmbeddedRedis, free_port  # noqa: E402


def _simulate(stations, ready, stop) -> None:
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    from datasources.sim.simulator import FleetSimulator  # noqa: PLC0415

    async def main():
        sim = FleetSimulator(stations, seed=1, tick_s=1.0)
        await sim.start()
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.2)
        await sim.stop()

    asyncio.run(main())


async def _cycles(stations, redis_url: str, cycles: int, max_gap: int) -> dict:
    poller = Poller(stations, default_profiles(), redis_url, timeout_s=2.0, max_gap=max_gap)
    try:
        await poller.poll_once()  # connect + warm up
        times = []
        req0, polls0 = poller.stats.requests, poller.stats.polls
        for _ in range(cycles):
            t0 = time.perf_counter()
            readings = await poller.poll_once()
            times.append(time.perf_counter() - t0)
        online = sum(d.online for r in readings for d in r.devices)
        total = sum(times)
        return {"cycle_s": statistics.median(times), "device_reads_per_s": (poller.stats.polls - polls0) / total,
                "requests_per_s": (poller.stats.requests - req0) / total, "online": online,
                "devices": poller.devices_total, "failures": poller.stats.failures}
    finally:
        await poller.aclose()


def run(n_stations: int, cycles: int) -> None:
    fleet = generate_fleet(n_stations, seed=42, base_port=free_port())
    built = [s for s in fleet if s.devices]
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_simulate, args=(fleet, ready, stop), daemon=True)
    proc.start()
    if not ready.wait(120):
        raise RuntimeError("simulator did not start")
    try:
        with EmbeddedRedis() as redis_server:
            block = asyncio.run(_cycles(fleet, redis_server.url, cycles, max_gap=16))
            naive = asyncio.run(_cycles(fleet, redis_server.url, max(1, cycles // 2), max_gap=-1))
    finally:
        stop.set()
        proc.join(30)
    print(f"stations {n_stations} ({len(built)} built, {block['devices']} devices)")
    for name, r in (("block reads (poller)", block), ("one request per register (peer)", naive)):
        print(f"  {name:34s} cycle {r['cycle_s'] * 1000:7.0f} ms   device reads/s {r['device_reads_per_s']:7.0f}"
              f"   Modbus requests/s {r['requests_per_s']:7.0f}   online {r['online']}/{r['devices']}"
              f"   failures {r['failures']}")
    print(f"  ratio block/peer device reads/s: {block['device_reads_per_s'] / naive['device_reads_per_s']:.1f}×;"
          f" station polls/s at 1 Hz capacity ≈ {len(built) / block['cycle_s']:.0f}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stations", type=int, nargs="+", default=[240, 1000])
    ap.add_argument("--cycles", type=int, default=5)
    args = ap.parse_args(argv if argv is not None else [])
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    for n in args.stations:
        run(n, args.cycles)


if __name__ == "__main__":
    main(sys.argv[1:])
