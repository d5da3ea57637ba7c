"""Benchmark: how many device reads per second one Poller process sustains.

Simulated Modbus devices run in separate processes (pymodbus servers, one port per station like a station gateway,
seven unit ids behind it: 2 fixed-speed + 1 variable-speed compressor, dryer, flow meter, power meter, station I/O
= 17 block reads per station cycle). The poller runs back-to-back ``poll_once`` cycles in this process against a
private Redis and prints device reads/s, Modbus requests/s, station cycles/s and the cycle time; then it compares
writing one cycle to Redis as ONE pipeline vs one pipeline per station.

Usage::

    .venv/bin/python bench/bench_poller.py                 # 200 and 1000 stations
    .venv/bin/python bench/bench_poller.py --stations 500 --cycles 5 --server-procs 2

The server side is :func:`serve_fleet` only; switch it to ``datasources.sim.simulator`` later without touching the rest.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasources.bus import messages as bus  # noqa: E402
from datasources.sql.fleet_spec import DeviceSpec, StationSpec  # noqa: E402
from datasources.modbus.poller import Poller  # noqa: E402
from datasources.modbus.profiles import default_profiles  # noqa: E402
from datasources.bus.redis_server import EmbeddedRedis  # noqa: E402

#: (suffix, model) of the devices of one simulated station, unit ids 1..7 in this order
STATION_LAYOUT = [("C1", "cc-fixed-speed-compressor"), ("C2", "cc-fixed-speed-compressor"),
                  ("C3", "cc-variable-speed-compressor"), ("D1", "cc-refrigerated-dryer"),
                  ("F1", "cc-station-flow-meter"), ("P1", "cc-station-power-meter"), ("IO", "cc-station-io")]
_VALUES = {"discharge_pressure_mpa": 0.68, "flow_m3_min": 10.5, "power_kw": 60.0, "run_state": 2,
           "energy_kwh": 12345.6, "dew_point_c": 3.0, "pressure_mpa": 0.66, "voltage_v": 380.0, "room_temp_c": 22.0}


def _server_proc(n_stations: int, ports_q, stop_ev) -> None:
    """Worker process: serve ``n_stations`` station gateways on loopback; report their ports; run until stop_ev."""
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    from tests.modbus_testserver import server_port, sim_device, start_modbus_server

    async def main():
        profs = default_profiles()
        servers = []
        for _ in range(n_stations):
            devices = [sim_device(profs[model], unit, values={k: v for k, v in _VALUES.items()
                                                             if k in profs[model].by_name})
                       for unit, (_suffix, model) in enumerate(STATION_LAYOUT, start=1)]
            servers.append(await start_modbus_server(devices))
        ports_q.put([server_port(s) for s in servers])
        while not stop_ev.is_set():
            await asyncio.sleep(0.2)
        for s in servers:
            await s.shutdown()

    asyncio.run(main())


@contextlib.contextmanager
def serve_fleet(n_stations: int, server_procs: int):
    """Start simulated stations in ``server_procs`` processes; yield their :class:`StationSpec` list; stop them.

    This is the only function that knows how the fleet is simulated.
    """
    ctx = mp.get_context("spawn")
    ports_q, stop_ev = ctx.Queue(), ctx.Event()
    share = [n_stations // server_procs + (1 if i < n_stations % server_procs else 0) for i in range(server_procs)]
    procs = [ctx.Process(target=_server_proc, args=(k, ports_q, stop_ev), daemon=True) for k in share if k]
    for p in procs:
        p.start()
    try:
        ports: list[int] = []
        for _ in procs:
            ports.extend(ports_q.get(timeout=300))
        profs = default_profiles()
        stations = []
        for i, port in enumerate(ports):
            sid = f"BS{i:05d}"
            devs = tuple(DeviceSpec(device_id=f"{sid}-{suffix}", station_id=sid, kind=profs[model].kind, model=model,
                                    host="127.0.0.1", port=port, unit_id=unit)
                         for unit, (suffix, model) in enumerate(STATION_LAYOUT, start=1))
            stations.append(StationSpec(station_id=sid, name=sid, name_en=sid, kind="smart_station",
                                        lifecycle="built", lon=116.0, lat=39.0, province_adcode="110000",
                                        city_adcode="110100", capacity_m3_min=30.0, partner="bench", devices=devs))
        yield stations
    finally:
        stop_ev.set()
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
        ports_q.close()
        ports_q.join_thread()


async def bench_poll(stations, redis_url: str, cycles: int) -> dict:
    poller = Poller(stations, default_profiles(), redis_url, interval_s=1.0, timeout_s=5.0, retries=0)
    try:
        t0 = time.perf_counter()
        first = await poller.poll_once()  # connects every endpoint
        connect_s = time.perf_counter() - t0
        bad = sum(1 for r in first for d in r.devices if not d.online)
        if bad:
            raise RuntimeError(f"{bad} devices offline in the warm-up cycle")
        s0 = poller.stats.as_dict()
        t0, c0 = time.perf_counter(), time.process_time()
        if os.environ.get("BENCH_PROFILE"):
            import cProfile
            import pstats
            prof = cProfile.Profile()
            prof.enable()
        for _ in range(cycles):
            await poller.poll_once()
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        if os.environ.get("BENCH_PROFILE"):
            prof.disable()
            pstats.Stats(prof).sort_stats(os.environ.get("BENCH_PROFILE")).print_stats(40)
        s1 = poller.stats.as_dict()
        return {"stations": len(stations), "devices": poller.devices_total, "first_cycle_s": connect_s,
                "cycle_s": dt / cycles, "cpu_share": cpu / dt,
                "device_reads_per_cpu_s": (s1["polls"] - s0["polls"]) / max(cpu, 1e-9), "device_reads_per_s": (s1["polls"] - s0["polls"]) / dt,
                "requests_per_s": (s1["requests"] - s0["requests"]) / dt,
                "station_cycles_per_s": len(stations) * cycles / dt, "failures": s1["failures"] - s0["failures"],
                "write_s": s1["last_write_s"], "readings": first}
    finally:
        await poller.aclose()


async def bench_run(stations, redis_url: str, seconds: float, interval_s: float) -> dict:
    """``Poller.run()`` for ``seconds``: station readings written per second at the given interval."""
    poller = Poller(stations, default_profiles(), redis_url, interval_s=interval_s, timeout_s=5.0, retries=0)
    await poller.poll_once()  # connect first, as bench_poll does
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(interval_s)  # run() spreads station starts over the first interval: measure after it
    w0, c0 = poller.stats.stations_written, poller.stats.cycles
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    dt = time.perf_counter() - t0
    return {"written_per_s": (poller.stats.stations_written - w0) / dt,
            "ticks_per_s": (poller.stats.cycles - c0) / dt, "failures": poller.stats.failures}


async def bench_write(readings, redis_url: str, rounds: int = 5) -> dict:
    """One pipeline for the whole cycle vs one pipeline per station (sequential and concurrent)."""
    import redis.asyncio as aioredis

    client = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(redis_url, max_connections=64))
    out = {}
    try:
        await bus.write_cycle_async(client, readings[:1])
        for name in ("one_pipeline", "per_station_sequential", "per_station_gather"):
            t0 = time.perf_counter()
            for _ in range(rounds):
                if name == "one_pipeline":
                    await bus.write_cycle_async(client, readings)
                elif name == "per_station_sequential":
                    for r in readings:
                        await bus.write_cycle_async(client, [r])
                else:
                    await asyncio.gather(*(bus.write_cycle_async(client, [r]) for r in readings))
            out[name] = (time.perf_counter() - t0) / rounds
        t0 = time.perf_counter()
        for _ in range(rounds):
            for r in readings:
                r.to_json()
        out["to_json"] = (time.perf_counter() - t0) / rounds
        t0 = time.perf_counter()
        for _ in range(rounds):
            for r in readings:
                bus.reading_json(r)
        out["reading_json"] = (time.perf_counter() - t0) / rounds
    finally:
        await client.aclose()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stations", type=int, nargs="+", default=[200, 1000])
    ap.add_argument("--cycles", type=int, default=5)
    ap.add_argument("--run-seconds", type=float, default=5.0, help="also run Poller.run() this long (0: skip)")
    ap.add_argument("--interval", type=float, default=1.0, help="interval_s for the run() measurement")
    ap.add_argument("--server-procs", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    print(f"cpus={os.cpu_count()} server processes={args.server_procs} (poller: 1 process, 1 event loop)")
    with EmbeddedRedis() as rds:
        for n in args.stations:
            with serve_fleet(n, args.server_procs) as stations:
                res = asyncio.run(bench_poll(stations, rds.url, args.cycles))
                w = asyncio.run(bench_write(res.pop("readings"), rds.url))
                rr = (asyncio.run(bench_run(stations, rds.url, args.run_seconds, args.interval))
                      if args.run_seconds > 0 else None)
            print(f"\n{res['stations']} stations, {res['devices']} devices, {args.cycles} cycles "
                  f"(first cycle incl. connects {res['first_cycle_s']:.2f} s)")
            print(f"  cycle time            {res['cycle_s'] * 1000:8.1f} ms   (Redis pipeline {res['write_s'] * 1000:.1f} ms; poller CPU {res['cpu_share']:.0%} of wall)")
            print(f"  device reads / s      {res['device_reads_per_s']:8.0f}   "
                  f"(per CPU-second of the poller: {res['device_reads_per_cpu_s']:.0f})")
            print(f"  Modbus requests / s   {res['requests_per_s']:8.0f}")
            print(f"  station cycles / s    {res['station_cycles_per_s']:8.0f}   failures: {res['failures']}")
            print(f"  write one cycle: one pipeline {w['one_pipeline'] * 1000:.1f} ms | per-station pipelines "
                  f"sequential {w['per_station_sequential'] * 1000:.1f} ms, gathered "
                  f"{w['per_station_gather'] * 1000:.1f} ms")
            if rr:
                print(f"  run() at interval {args.interval:g} s: {rr['written_per_s']:.0f} station readings written/s "
                      f"({rr['written_per_s'] / res['stations']:.2f} per station per s, {rr['ticks_per_s']:.2f} ticks/s)")
            print(f"  JSON of one cycle: StationReading.to_json {w['to_json'] * 1000:.1f} ms, "
                  f"bus.reading_json {w['reading_json'] * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
