"""Benchmark: is the duty officer's page responsive around a fire alarm? Long tasks and timer lateness, before and
after the alarm, on the live operations stack.

The stack is :func:`tests.ops_demo.start_ops_stack` (web process, pymodbus simulator, poller, alarm engine; 24
stations polled every second). A headless Chromium page (1920×1080, signed in as ``duty``) opens the command centre;
in the page a ``PerformanceObserver({type: "longtask", buffered: true})`` records every task over 50 ms and 20
``setInterval(…, 100)`` timers record how late each tick fires. After ``--before`` seconds a fire alarm is injected
into the simulator (the alarm list, beep, flash and the camera panel follow by themselves); the page is watched for
``--after`` more seconds. Printed for each window: the longest task, the total long-task time, and the p50 / p95 /
max lateness of the 100 ms timers (a blocked main thread makes them all late together).

Peer: ``--peer REV`` runs the same probe against a ``git worktree`` of ``REV`` (e.g. ``HEAD``: the code before an
uncommitted change) in a subprocess and prints its figures beside this tree's; the worktree is removed afterwards.
The machine is shared: repeat (``--runs``) and compare ranges, not single figures.

Usage::

    .venv/bin/python -m bench bench_officer_responsiveness
    .venv/bin/python bench/bench_officer_responsiveness.py --before 30 --after 60 [--runs 2] [--peer HEAD]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

PROBE_JS = """() => {
    window.__ccLong = [];
    new PerformanceObserver(list => { for (const e of list.getEntries()) window.__ccLong.push([e.startTime, e.duration]); })
        .observe({type: 'longtask', buffered: true});
    window.__ccLate = [];
    for (let i = 0; i < 20; i++) {
        let last = performance.now();
        setInterval(() => { const now = performance.now(); window.__ccLate.push([now, now - last - 100]); last = now; }, 100);
    }
}"""


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def window_stats(page, t0: float, t1: float) -> dict:
    """Long tasks that started in [t0, t1) (page ms) and the lateness of the timer ticks in that window."""
    long_tasks = page.evaluate(f"window.__ccLong.filter(x => x[0] >= {t0} && x[0] < {t1}).map(x => x[1])")
    late = page.evaluate(f"window.__ccLate.filter(x => x[0] >= {t0} && x[0] < {t1}).map(x => x[1])")
    return {"seconds": round((t1 - t0) / 1000, 1), "long_tasks": len(long_tasks),
            "longest_ms": round(max(long_tasks, default=0.0)), "long_total_ms": round(sum(long_tasks)),
            "late_p50_ms": round(_pct(late, .5)), "late_p95_ms": round(_pct(late, .95)),
            "late_max_ms": round(max(late, default=0.0)), "ticks": len(late)}


def probe(before_s: float, after_s: float) -> dict:
    """One run on a fresh stack: ``{"before": stats, "after": stats, "alarm_on_page_s", "camera_frames"}``."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, new_page  # noqa: PLC0415
    from tests.ops_demo import start_ops_stack  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="cc-bench-resp-") as tmp:
        ops = start_ops_stack(Path(tmp), n_stations=24, seed=7, interval_s=1.0)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                page = new_page(browser, ops.url, "duty")
                page.goto(ops.url)
                page.wait_for_selector(".cc-conn-live, .cc-conn-stale", timeout=60_000)
                page.wait_for_selector(".cc-st, .cc-cl", timeout=60_000)
                page.evaluate(PROBE_JS)
                t_start = page.evaluate("performance.now()")
                time.sleep(before_s)
                t_alarm = page.evaluate("performance.now()")
                station = ops.stack.built()[2]
                ops.live.inject(station.station_id, "fire")
                t0, seen = time.monotonic(), None
                row = page.locator(".cc-al-row[data-alarm-id]", has_text=station.name).filter(has_text="站房火警")
                while time.monotonic() - t0 < after_s:
                    if seen is None and row.count():
                        seen = time.monotonic() - t0
                    time.sleep(0.5)
                t_end = page.evaluate("performance.now()")
                out = {"before": window_stats(page, t_start, t_alarm), "after": window_stats(page, t_alarm, t_end),
                       "alarm_on_page_s": None if seen is None else round(seen, 1),
                       "camera_frames": page.evaluate("(window.cc && window.cc.ops && cc.ops.cameraFrames) || 0"),
                       "beeps": page.evaluate("(window.cc && window.cc.ops && cc.ops.beeps) || 0")}
                browser.close()
        finally:
            ops.stop()
    return out


def _line(label: str, s: dict) -> str:
    return (f"{label:<28} longest task {s['longest_ms']:6d} ms   long tasks total {s['long_total_ms']:6d} ms "
            f"({s['long_tasks']:3d} in {s['seconds']:4.0f} s)   timer lateness p50 {s['late_p50_ms']:5d} "
            f"p95 {s['late_p95_ms']:6d} max {s['late_max_ms']:6d} ms")


def report(name: str, runs: list[dict]) -> None:
    for i, r in enumerate(runs, start=1):
        print(f"[{name}] run {i}: fire alarm on the page after {r['alarm_on_page_s']} s, "
              f"camera frames {r['camera_frames']}, beeps {r['beeps']}")
        print("  " + _line("before alarm", r["before"]))
        print("  " + _line("after alarm", r["after"]))


def _peer(rev: str, args) -> list[dict]:
    wt = Path(tempfile.mkdtemp(prefix="cc-peer-")) / "tree"
    subprocess.run(["git", "-C", str(HERE), "worktree", "add", "--detach", str(wt), rev], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        env = {**os.environ, "PYTHONPATH": str(wt)}
        res = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--root", str(wt), "--json",
                              "--before", str(args.before), "--after", str(args.after), "--runs", str(args.runs)],
                             cwd=wt, env=env, check=True, capture_output=True, text=True)
        return json.loads(res.stdout.strip().splitlines()[-1])
    finally:
        subprocess.run(["git", "-C", str(HERE), "worktree", "remove", "--force", str(wt)], check=False)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=float, default=30.0, help="seconds watched before the alarm")
    ap.add_argument("--after", type=float, default=60.0, help="seconds watched after the alarm")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--peer", metavar="REV", help="also run against a git worktree of REV (e.g. HEAD)")
    ap.add_argument("--root", help=argparse.SUPPRESS)  # the tree to import (peer subprocess)
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv if argv is not None else [])
    root = Path(args.root).resolve() if args.root else HERE
    sys.path.insert(0, str(root))
    runs = [probe(args.before, args.after) for _ in range(args.runs)]
    if args.json:
        print(json.dumps(runs))
        return
    report("this tree", runs)
    if args.peer:
        report(f"peer {args.peer}", _peer(args.peer, args))


if __name__ == "__main__":
    main(sys.argv[1:])
