"""Benchmark: publish → browser latency of a live value, p50 / p95, with a polling peer in the same run.

A real web process (``dashboard.web.server.serve``) with a private Redis; a headless Chromium page signed in as the duty
officer opens a station's site panel. This process publishes poll cycles through the real bus
(:func:`datasources.bus.messages.write_cycle`) with a new discharge pressure each time and notes the publish time (epoch ms);
in the page a MutationObserver notes when the cell shows that value (``Date.now()``, same machine clock).

Peer approach, same run: the page polls ``GET /api/stations/<id>`` every 250 ms (what a dashboard without a push
channel does) and notes when each value first appears. The ratio push/peer is printed.

Usage::

    .venv/bin/python -m bench bench_live_latency
    .venv/bin/python bench/bench_live_latency.py --samples 60
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser_support import (CHROMIUM, CHROMIUM_ARGS, build_fleet, new_page, reading_for,  # noqa: E402
                                   start_web_stack, wait_map_ready)

OBSERVE_JS = """([sel, sid, dev]) => {
    window.__seen = {}; window.__polled = {};
    const cell = document.querySelector(sel);
    new MutationObserver(() => { const v = cell.textContent.trim();
        if (!(v in window.__seen)) window.__seen[v] = Date.now(); })
      .observe(cell, {childList: true, characterData: true, subtree: true});
    window.__poll = setInterval(async () => {
        try {
            const r = await fetch('/api/stations/' + sid, {cache: 'no-store'});
            const j = await r.json();
            const d = (j.devices || []).find(x => x.device_id === dev);
            const v = d && d.values && d.values.discharge_pressure_mpa;
            if (v != null) { const k = Number(v).toFixed(3); if (!(k in window.__polled)) window.__polled[k] = Date.now(); }
        } catch (e) {}
    }, 250);
}"""


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=60)
    ap.add_argument("--interval", type=float, default=0.5, help="seconds between publishes (> the 250 ms flush)")
    args = ap.parse_args(argv if argv is not None else [])
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    fleet = build_fleet(80, seed=7)
    spec = fleet[0]  # Lhasa: a single marker at national zoom
    dev = f"{spec.station_id}-C1"
    with tempfile.TemporaryDirectory(prefix="cc-bench-") as tmp:
        stack = start_web_stack(fleet, Path(tmp))
        try:
            stack.publish([reading_for(s) for s in stack.built()])
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                page = new_page(browser, stack.url, "duty")
                page.goto(stack.url)
                wait_map_ready(page, len(fleet))
                page.locator(f'.cc-st[data-sid="{spec.station_id}"]').click()
                sel = f'[data-dv="{dev}|discharge_pressure_mpa"]'
                page.wait_for_selector(sel)
                page.evaluate(OBSERVE_JS, [sel, spec.station_id, dev])
                published: dict[str, int] = {}
                for i in range(args.samples):
                    value = round(0.500 + (i % 200) / 1000, 3)
                    reading = reading_for(spec, values={dev: {"discharge_pressure_mpa": value}})
                    published[f"{value:.3f}"] = int(time.time() * 1000)
                    stack.publish([reading])
                    time.sleep(args.interval)
                time.sleep(1.0)
                seen = page.evaluate("window.__seen")
                polled = page.evaluate("window.__polled")
                browser.close()
        finally:
            stack.stop()
    push = [seen[k] - t for k, t in published.items() if k in seen]
    poll = [polled[k] - t for k, t in published.items() if k in polled]
    print(f"samples published {len(published)}, seen by push {len(push)}, by polling peer {len(poll)}")
    print(f"push (Socket.IO)       p50 {_pct(push, .5):6.0f} ms   p95 {_pct(push, .95):6.0f} ms   "
          f"mean {statistics.mean(push):6.0f} ms")
    if poll:
        print(f"peer (HTTP poll 250ms) p50 {_pct(poll, .5):6.0f} ms   p95 {_pct(poll, .95):6.0f} ms   "
              f"mean {statistics.mean(poll):6.0f} ms")
        print(f"ratio push/peer p50 {_pct(push, .5) / _pct(poll, .5):.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
