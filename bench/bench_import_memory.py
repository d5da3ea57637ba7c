"""Benchmark: peak memory and speed of a large city-layer import (issue 10: "a 1 M-row import takes the web process
to 2.7 GB").

Generates realistic enterprises (the heat layer's volume: ~1,000,000 nationwide;
:func:`datasources.sim.demo_enterprises.generate_enterprises`) as a CSV of ``--rows`` rows and an XLSX of ``--xlsx-rows`` rows,
then imports each file into a fresh database **in a child process** through the code path of
``POST /api/import/<layer>``, and prints per run: the child's RSS before the import, its peak during the import
(``VmHWM`` after resetting it, Linux; else ``ru_maxrss``) and the process's overall ``ru_maxrss``, wall time and
rows/s.

Two implementations are compared in the same run:

* ``old``: ``datasources/ingest/importers.py`` as of ``git HEAD`` (copied at runtime into a temp dir, ``git show``), fed the
  whole upload as bytes as the old endpoint did (``upload.read()``); its 50 MB ``MAX_BYTES`` is lifted in the child
  so that the 1 M-row file is actually imported (the issue's situation) instead of being refused.
* ``new``: the working tree's importer, fed the spooled upload file object (what the endpoint now passes on).

``--impl new`` skips the old one (e.g. when HEAD already has the streaming importer).

Usage::

    .venv/bin/python bench/bench_import_memory.py                        # 1,000,000 CSV rows, 200,000 XLSX rows
    .venv/bin/python bench/bench_import_memory.py --rows 200000 --xlsx-rows 50000
    .venv/bin/python bench/bench_import_memory.py --db postgresql://postgres@127.0.0.1:5432/postgres  # see --db
"""
from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADER = ["enterprise_id", "name", "name_en", "industry", "registered_capital_wan", "tax_wan",
          "reg_lon", "reg_lat", "op_lon", "op_lat"]


def _rows(n: int):
    from datasources.sim.demo_enterprises import generate_enterprises  # noqa: PLC0415

    e = generate_enterprises(n, seed=42)
    reg = e.reg.round(6).tolist()
    op = e.op.round(6).tolist()
    for i, (eid, name, name_en, ind, cap, tax) in enumerate(zip(e.enterprise_id.tolist(), e.name.tolist(),
                                                                  e.name_en.tolist(), e.industry.tolist(),
                                                                  e.capital.round(2).tolist(),
                                                                  e.tax.round(2).tolist())):
        yield [eid, name, name_en, ind, cap, tax, reg[i][0], reg[i][1], op[i][0], op[i][1]]


def write_csv(path: Path, n: int) -> None:
    """``n`` enterprise rows (header + UTF-8) at ``path``."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows(_rows(n))


def write_xlsx(path: Path, n: int) -> None:
    """``n`` enterprise rows in the first worksheet of an XLSX at ``path`` (openpyxl write-only mode)."""
    import openpyxl  # noqa: PLC0415

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("enterprises")
    ws.append(HEADER)
    for r in _rows(n):
        ws.append(r)
    wb.save(path)


def _old_module(tmp: Path):
    """``datasources/ingest/importers.py`` of git HEAD, importable as ``importers_head``."""
    src = subprocess.run(["git", "show", "HEAD:datasources/ingest/importers.py"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    (tmp / "importers_head.py").write_text(src, encoding="utf-8")
    sys.path.insert(0, str(tmp))
    import importers_head  # noqa: PLC0415

    return importers_head


def _maxrss_mb() -> float:
    """Peak RSS of this process so far, MB (``ru_maxrss``; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _status_mb(key: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (``VmHWM``; Linux ≥ 4.0) so that the import's own peak is measured, not
    the start-up's (migrations, region index)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def child(args) -> None:
    """One import in this process; prints one JSON line."""
    from datasources.sql.db import make_engine, migrate  # noqa: PLC0415
    from geo.regions import get_region_index  # noqa: PLC0415

    migrate(args.db)
    engine = make_engine(args.db)
    idx = get_region_index()
    path = Path(args.file)
    if args.impl == "old":
        mod = _old_module(Path(args.tmp))
        mod.MAX_BYTES = 1 << 40  # measure the old code on the big file instead of its 50 MB refusal
    else:
        from datasources.ingest import importers as mod  # noqa: PLC0415
    gc.collect()
    base = _status_mb("VmRSS") or _maxrss_mb()
    reset = _reset_peak()
    t0 = time.perf_counter()
    if args.impl == "old":
        source = path.read_bytes()  # the old endpoint: upload.read(MAX_BYTES + 1)
        rep = mod.import_file(engine, "enterprises", source, filename=path.name, actor="bench", role="admin",
                              region_index=idx)
    else:
        with path.open("rb") as fh:  # the endpoint now passes the spooled upload stream on
            rep = mod.import_file(engine, "enterprises", fh, filename=path.name, actor="bench", role="admin",
                                  region_index=idx)
    wall = time.perf_counter() - t0
    print(json.dumps({"impl": args.impl, "file": path.name, "rows": rep.rows_read, "written": rep.written,
                      "ok": rep.ok, "errors": [list(e) for e in rep.errors[:3]], "wall_s": round(wall, 2),
                      "rows_per_s": round(rep.rows_read / wall) if wall else 0,
                      "baseline_mb": round(base, 1),
                      "peak_mb": round((_status_mb("VmHWM") if reset else None) or _maxrss_mb(), 1),
                      "process_peak_mb": round(_maxrss_mb(), 1)}), flush=True)
    engine.dispose()


def _fresh_db(args, tmp: Path, tag: str) -> str:
    if not args.db:
        return f"sqlite:///{tmp / (tag + '.db')}"
    # PostgreSQL: a scratch database per run on the given server (dropped afterwards by _drop_db)
    from sqlalchemy import create_engine, text  # noqa: PLC0415

    url = args.db.replace("postgresql://", "postgresql+psycopg://", 1)
    name = f"cc_bench_import_{tag}_{os.getpid()}"
    with create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return args.db.rsplit("/", 1)[0] + "/" + name


def _drop_db(args, url: str) -> None:
    if not args.db:
        return
    from sqlalchemy import create_engine, text  # noqa: PLC0415

    admin = args.db.replace("postgresql://", "postgresql+psycopg://", 1)
    with create_engine(admin, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))


def run(args) -> list[dict]:
    """Generate the files, run every (file, implementation) in a child, print a table; returns the results."""
    impls = ["old", "new"] if args.impl == "both" else [args.impl]
    results = []
    with tempfile.TemporaryDirectory(prefix="cc_bench_import_") as tmp_s:
        tmp = Path(tmp_s)
        files = []
        if args.rows:
            p = tmp / "enterprises.csv"
            t0 = time.perf_counter()
            write_csv(p, args.rows)
            print(f"CSV: {args.rows:,} rows, {p.stat().st_size / 1e6:.1f} MB, written in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
            files.append(p)
        if args.xlsx_rows:
            p = tmp / "enterprises.xlsx"
            t0 = time.perf_counter()
            write_xlsx(p, args.xlsx_rows)
            print(f"XLSX: {args.xlsx_rows:,} rows, {p.stat().st_size / 1e6:.1f} MB, written in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
            files.append(p)
        for f in files:
            for impl in impls:
                url = _fresh_db(args, tmp, f"{impl}_{f.suffix[1:]}")
                cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--impl", impl, "--file", str(f),
                       "--db", url, "--tmp", str(tmp)]
                out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
                _drop_db(args, url)
                line = (out.stdout.strip().splitlines() or [""])[-1]
                try:
                    res = json.loads(line)
                except json.JSONDecodeError:
                    print(f"!!! {impl} {f.name} failed (rc {out.returncode}): {out.stderr[-2000:]}", flush=True)
                    continue
                results.append(res)
                print(f"{impl:>4} {f.name:<16} rows {res['rows']:>9,}  written {res['written']:>9,}  "
                      f"peak RSS {res['peak_mb']:>7.1f} MB (+{res['peak_mb'] - res['baseline_mb']:.1f} over "
                      f"{res['baseline_mb']:.1f} MB before; process peak {res['process_peak_mb']:.0f} MB)  {res['wall_s']:>7.1f} s  "
                      f"{res['rows_per_s']:>7,} rows/s  ok={res['ok']} {res['errors'] or ''}", flush=True)
    by = {(r["impl"], r["file"]): r for r in results}
    for name in sorted({r["file"] for r in results}):
        old, new = by.get(("old", name)), by.get(("new", name))
        if old and new:
            g_old = old["peak_mb"] - old["baseline_mb"]
            g_new = new["peak_mb"] - new["baseline_mb"]
            print(f"{name}: peak RSS old/new {old['peak_mb'] / new['peak_mb']:.1f}x "
                  f"(growth {g_old:.0f} → {g_new:.0f} MB, {g_old / max(g_new, 1):.1f}x); "
                  f"speed new/old {new['rows_per_s'] / max(old['rows_per_s'], 1):.2f}x", flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="CSV rows (0 = no CSV)")
    ap.add_argument("--xlsx-rows", type=int, default=200_000, help="XLSX rows (0 = no XLSX)")
    ap.add_argument("--impl", choices=("both", "old", "new"), default="both")
    ap.add_argument("--db", default="", help="PostgreSQL admin URL to run on scratch databases (default: SQLite "
                                             "files in a temp dir)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    ap.add_argument("--tmp", help=argparse.SUPPRESS)
    args = ap.parse_args(argv or [])  # `python -m bench`: defaults
    if args.child:
        child(args)
    else:
        run(args)


if __name__ == "__main__":
    main(sys.argv[1:])
