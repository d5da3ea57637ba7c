"""Benchmark: heat surfaces of 1,000,000 enterprises — national view and one city (Shanghai), cold and cached.

The enterprises are the demo generator's (:func:`datasources.sim.demo_enterprises.generate_enterprises`: clustered in cities,
weighted by city size) — or, with ``--db URL``, loaded from a seeded database the way the web layer loads them
(:func:`layers.enterprise_heat.load_points`). Printed: load / index build times, and per view the time to render a
surface (histogram + smoothing + colour + PNG) cold and from the memo, image size and PNG bytes.

Usage::

    .venv/bin/python bench/bench_heat.py                      # 1,000,000 generated enterprises
    .venv/bin/python bench/bench_heat.py --n 200000
    .venv/bin/python bench/bench_heat.py --db sqlite:///data/cc.db
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from geo.heat import HeatIndex, fit_zoom  # noqa: E402

NATION = (73.0, 17.5, 135.2, 53.8)
SHANGHAI = "310100"


def _points(args):
    t0 = time.perf_counter()
    if args.db:
        from datasources.sql.db import make_engine  # noqa: PLC0415
        from layers.enterprise_heat import load_points  # noqa: PLC0415

        pts = load_points(make_engine(args.db))
        reg, op, cap, tax, reg_city, op_city = pts.reg, pts.op, pts.capital, pts.tax, pts.reg_city, pts.op_city
        src = f"loaded from {args.db}"
    else:
        from datasources.sim.demo_enterprises import generate_enterprises  # noqa: PLC0415

        e = generate_enterprises(args.n, seed=42)
        reg, op, cap, tax = e.reg, e.op, e.capital, e.tax
        reg_city = e.reg_city.astype("U6").astype(np.int32)
        op_city = e.op_city.astype("U6").astype(np.int32)
        src = "generated (demo_city)"
    print(f"{len(reg):,} enterprises {src} in {time.perf_counter() - t0:.1f} s")
    return reg, op, cap, tax, reg_city, op_city


def _time(label, fn, repeat=1):
    best = None
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return out, best


def _view(idx: HeatIndex, label: str, bbox, zoom: float, weight: str) -> None:
    s, cold = _time(label, lambda: idx.surface(bbox, zoom, weight, cell_px=4, sigma_px=10))
    _, warm = _time(label, lambda: idx.surface(bbox, zoom, weight, cell_px=4, sigma_px=10), repeat=3)
    print(f"  {label:<44} {cold * 1000:7.1f} ms cold {warm * 1000:6.2f} ms cached  "
          f"{s.grid.nx}x{s.grid.ny} cells, {len(s.png) / 1024:6.1f} kB PNG, {s.points:,} pts, total {s.total:,.0f}")


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark (``python -m bench heat`` calls it without arguments: 1,000,000 generated enterprises)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="enterprises to generate (default 1,000,000)")
    ap.add_argument("--db", help="load the enterprises from this database URL instead")
    args = ap.parse_args(argv if argv is not None else [])
    reg, op, cap, tax, reg_city, op_city = _points(args)

    nation_idx, t = _time("index", lambda: HeatIndex(reg, {"capital": cap, "tax": tax}))
    print(f"national index (registered address, {len(reg):,} pts): built in {t:.2f} s")
    z = fit_zoom(NATION, 1600, 900)
    _view(nation_idx, f"nation z{z} count", NATION, z, "count")
    _view(nation_idx, f"nation z{z} registered capital", NATION, z, "capital")
    _view(nation_idx, f"nation z{z} tax", NATION, z, "tax")
    _view(nation_idx, f"nation z{z + 1} count (3840x2160 wall)", NATION, z + 1, "count")
    op_idx, t = _time("index", lambda: HeatIndex(op, {"capital": cap, "tax": tax}))
    print(f"national index (operating address): built in {t:.2f} s")
    _view(op_idx, f"nation z{z} count, operating", NATION, z, "count")

    from geo.regions import get_region_index  # noqa: PLC0415

    region = get_region_index().region(SHANGHAI)
    sel = reg_city == int(SHANGHAI)
    city_idx, t = _time("index", lambda: HeatIndex(reg[sel], {"capital": cap[sel], "tax": tax[sel]}))
    print(f"Shanghai index ({int(sel.sum()):,} pts, filtered from the national arrays): built in {t * 1000:.0f} ms")
    zc = fit_zoom(region.bbox, 1600, 900)
    _view(city_idx, f"Shanghai z{zc} count", region.bbox, zc, "count")
    _view(city_idx, f"Shanghai z{zc} tax", region.bbox, zc, "tax")
    centre = (121.4737, 31.2304)
    for zz in (12, 14):
        half = 1600 / 2 * 360 / (256 * 2 ** zz)
        bbox = (centre[0] - half, centre[1] - half * 0.55, centre[0] + half, centre[1] + half * 0.55)
        _view(city_idx, f"Shanghai downtown viewport z{zz} count", bbox, zz, "count")
    # a viewport of the national index at city zoom (what a pan at z11 costs without a per-city index)
    half = 1600 / 2 * 360 / (256 * 2 ** 11)
    bbox = (centre[0] - half, centre[1] - half * 0.55, centre[0] + half, centre[1] + half * 0.55)
    _view(nation_idx, "national index, Shanghai viewport z11", bbox, 11, "count")


if __name__ == "__main__":
    main(sys.argv[1:])
