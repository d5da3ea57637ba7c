"""Benchmark: one dead unit behind a gateway must not slow the other stations on that gateway.

20 live stations × 3 compressor units and 1 unit that dies after warm-up, all behind ONE host:port (a Modbus TCP
gateway: tests/modbus_testserver.RawModbusServer, raw asyncio sockets, one request at a time per connection). The
poller's ``run()`` polls every station each ``--interval`` s; each live station's poll period is measured from the
``ts_ms`` of its readings on the Redis stream over ``--seconds`` after the unit died, and printed as p50 / p95 / max,
for the poller of ``git show PEER_REV:datasources/modbus/poller.py`` (the commit before the change: the per-endpoint lock
held across a whole device read and
its retries; loaded as a module from a temp file in this run) and for the working tree's poller (lock per request,
timed-out unit in per-device backoff), then the ratio old / new.

Usage::

    .venv/bin/python bench/bench_gateway.py
    .venv/bin/python bench/bench_gateway.py --stations 20 --seconds 15 --timeout 0.2 --retries 3
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis.asyncio  # noqa: E402

from datasources.bus import messages as bus  # noqa: E402
from datasources.sql.fleet_spec import DeviceSpec, StationSpec  # noqa: E402
from datasources.modbus.profiles import default_profiles  # noqa: E402
from datasources.bus.redis_server import EmbeddedRedis  # noqa: E402
from tests.modbus_testserver import RawModbusServer, RawUnit  # noqa: E402

MODEL = "cc-fixed-speed-compressor"
#: the last commit with the poller before the per-request lock (the peer of this benchmark)
PEER_REV = "7246c791a90beef6c154a17310e6f295054b904b"


def load_old_poller():
    """``datasources/modbus/poller.py`` of :data:`PEER_REV` as a module (from a temp file), or None outside a git checkout."""
    try:
        src = subprocess.run(["git", "show", f"{PEER_REV}:datasources/modbus/poller.py"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    tmp = Path(tempfile.mkdtemp(prefix="cc_bench_")) / "poller_head.py"
    tmp.write_text(src, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("poller_head", tmp)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["poller_head"] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def comp_unit() -> RawUnit:
    prof = default_profiles()[MODEL]
    maps: dict[str, dict[int, int]] = {"holding": {}, "input": {}, "coil": {}, "discrete_input": {}}
    for s in prof.registers:
        for a in range(s.address, s.address + s.count):
            maps[s.register_type][a] = 0
    maps["input"][prof.register("run_state").address] = 2
    return RawUnit(**maps)


def stations(port: int, n: int, per: int) -> tuple[list[StationSpec], int]:
    out = []
    for k in range(n + 1):
        sid = f"GW{k:02d}" if k < n else "GWDEAD"
        units = range(per * k + 1, per * k + 1 + (per if k < n else 1))
        devs = tuple(DeviceSpec(device_id=f"{sid}-C{u}", station_id=sid, kind="compressor", model=MODEL,
                                host="127.0.0.1", port=port, unit_id=u) for u in units)
        out.append(StationSpec(station_id=sid, name=sid, name_en=sid, kind="smart_station", lifecycle="built",
                               lon=116.4, lat=39.9, province_adcode="110000", city_adcode="110100",
                               capacity_m3_min=20.0, partner="bench", devices=devs))
    return out, per * n + 1


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


async def measure(poller_cls, redis_url: str, args) -> list[float]:
    """Poll periods (s) of the live stations over ``args.seconds`` after the dead unit died."""
    units = {u: comp_unit() for u in range(1, args.per_station * args.stations + 2)}
    async with RawModbusServer(units) as server:
        fleet, dead = stations(server.port, args.stations, args.per_station)
        poller = poller_cls(fleet, default_profiles(), redis_url, interval_s=args.interval, timeout_s=args.timeout,
                            retries=args.retries, offline_after=3, backoff_max_s=args.backoff_max)
        r = redis.asyncio.Redis.from_url(redis_url)
        await r.flushall()
        task = asyncio.create_task(poller.run())
        try:
            deadline = time.monotonic() + 10
            while not poller.device_state(f"GWDEAD-C{dead}")["online"]:
                if time.monotonic() > deadline:
                    raise RuntimeError("the dead-to-be unit never came online")
                await asyncio.sleep(0.02)
            units[dead].mode = "dead"
            mark = (await r.xinfo_stream(bus.READINGS_STREAM))["last-generated-id"].decode()
            t_end = time.monotonic() + args.seconds
            while time.monotonic() < t_end:  # the measurement window itself (a benchmark, not a test)
                await asyncio.sleep(0.1)
            entries = await r.xrange(bus.READINGS_STREAM, min=f"({mark}", max="+")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await r.aclose()
    ts: dict[str, list[int]] = {}
    for _id, fields in entries:
        msg = json.loads(fields[b"data"])
        if msg["station_id"] != "GWDEAD":
            ts.setdefault(msg["station_id"], []).append(msg["ts_ms"])
    return [(b - a) / 1000 for v in ts.values() for a, b in zip(v, v[1:])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stations", type=int, default=20)
    ap.add_argument("--per-station", type=int, default=3, help="live units per station")
    ap.add_argument("--seconds", type=float, default=12.0, help="measurement window after the unit died, s")
    ap.add_argument("--interval", type=float, default=0.5, help="interval_s, s")
    ap.add_argument("--timeout", type=float, default=0.2, help="timeout_s, s")
    ap.add_argument("--retries", type=int, default=3)
    ap.add_argument("--backoff-max", type=float, default=2.0, help="backoff_max_s: how often the dead unit is retried")
    args = ap.parse_args()
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    from datasources.modbus.poller import Poller as NewPoller
    old = load_old_poller()
    print(f"{args.stations} live stations × {args.per_station} units + 1 dead unit on one gateway; interval "
          f"{args.interval} s, timeout {args.timeout} s, retries {args.retries}, backoff cap {args.backoff_max} s, "
          f"window {args.seconds} s")
    results = {}
    with EmbeddedRedis() as server:
        for label, cls in (("before", old.Poller if old else None), ("new", NewPoller)):
            if cls is None:
                print(f"  {label:<11} skipped (no git HEAD)")
                continue
            periods = asyncio.run(measure(cls, server.url, args))
            results[label] = periods
            print(f"  {label:<11} poll period per live station: p50 {pct(periods, .5):.3f} s  "
                  f"p95 {pct(periods, .95):.3f} s  max {max(periods):.3f} s  ({len(periods)} periods)")
    if len(results) == 2:
        o, n = results["before"], results["new"]
        print(f"  ratio old/new: p50 {pct(o, .5) / pct(n, .5):.2f}  p95 {pct(o, .95) / pct(n, .95):.2f}  "
              f"max {max(o) / max(n):.2f}")


if __name__ == "__main__":
    main()
