"""Benchmark: alarm latency from a register change on the device to the alarm on the duty officer's screen,
p50 / p95, with the simulated fleet running.

The whole chain is real: the pymodbus simulator of the fleet, the Modbus poller (1 s cycle, the default), Redis
(stream + pub/sub), the alarm engine (consumer group → SQL → ``cc:alarms``), the web process (ops bridge →
Socket.IO) and a headless Chromium page of the command centre signed in as the duty officer
(:func:`tests.ops_demo.start_ops_stack`).

Each sample pins one compressor's ``run_state`` register to 3 (fault) in the simulator (``set_value``) and notes the
time; in the page a MutationObserver notes when the alarm's row first appears in the alarm list (``Date.now()``,
same machine clock). The register is released afterwards (the alarm clears) and the next sample uses another
compressor, so every sample is a new alarm. Reported: total (register → row), and its parts: register → the poll
cycle that read it (``raised_ts_ms`` of the alarm is that reading's time), reading → the ``raised`` message on
``cc:alarms`` (stream, alarm engine, SQL commit, publish; a subscriber in this process notes it) and bus → row on
screen (ops bridge, Socket.IO, clientside render).

Usage::

    .venv/bin/python -m bench bench_alarm_latency
    .venv/bin/python bench/bench_alarm_latency.py --samples 40 --stations 40
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasources.sql import alarm_store  # noqa: E402
from datasources.bus.messages import ALARMS_CHANNEL  # noqa: E402
from datasources.sql.db import make_engine  # noqa: E402
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, new_page  # noqa: E402
from tests.ops_demo import start_ops_stack  # noqa: E402
from tests.ops_support import wait_for  # noqa: E402

OBSERVE_JS = """() => {
    window.__rows = {};
    const list = document.querySelector('#alarm-list');
    const note = () => list.querySelectorAll('[data-alarm-id]').forEach(r => {
        const id = r.getAttribute('data-alarm-id'); if (!(id in window.__rows)) window.__rows[id] = Date.now(); });
    note();
    new MutationObserver(note).observe(list, {childList: true, subtree: true});
}"""


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def _line(name: str, values: list[float]) -> str:
    return (f"{name:<28} p50 {_pct(values, 0.5):7.0f} ms   p95 {_pct(values, 0.95):7.0f} ms   "
            f"mean {statistics.fmean(values):7.0f} ms   max {max(values):7.0f} ms")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--stations", type=int, default=40, help="size of the simulated fleet (about 80 %% built)")
    ap.add_argument("--interval", type=float, default=1.0, help="poll cycle, s (production default 1 s)")
    args = ap.parse_args(argv if argv is not None else [])
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="cc-bench-alarms-") as tmp:
        ops = start_ops_stack(Path(tmp), n_stations=args.stations, seed=11, interval_s=args.interval)
        db = make_engine(ops.stack.database_url)
        try:
            compressors = [d for st in ops.stack.built() for d in st.devices if d.kind == "compressor"]
            published: dict[int, float] = {}  # alarm id → wall time the engine's "raised" reached the bus
            sub = ops.live.redis.pubsub(ignore_subscribe_messages=True)
            sub.subscribe(ALARMS_CHANNEL)
            stop = threading.Event()

            def listen() -> None:
                while not stop.is_set():
                    m = sub.get_message(timeout=0.2)
                    if m and m.get("type") == "message":
                        msg = json.loads(m["data"])
                        if msg.get("event") == "raised":
                            published.setdefault(msg["alarm"]["id"], time.time() * 1000)

            listener = threading.Thread(target=listen, daemon=True)
            listener.start()
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                page = new_page(browser, ops.url, "duty")
                page.goto(ops.url)
                page.wait_for_selector(".cc-conn-live", timeout=60_000)
                page.wait_for_selector("#alarm-list", timeout=60_000)
                page.evaluate(OBSERVE_JS)
                total, to_poll, to_bus, to_screen = [], [], [], []
                for i in range(args.samples):
                    dev = compressors[i % len(compressors)]
                    ops.live.set_value(dev.device_id, "run_state", 3)
                    t0 = time.time() * 1000

                    def raised():
                        return next((a for a in alarm_store.list_alarms(db, station_id=dev.station_id)
                                     if a["rule"] == "compressor_fault" and a["source"] == dev.device_id
                                     and a["active"] and a["raised_ts_ms"] >= t0 - 1500), None)

                    alarm = wait_for(raised, 30, f"alarm of {dev.device_id}")
                    seen = wait_for(lambda: page.evaluate(f"window.__rows['{alarm['id']}'] || 0"), 30,
                                    f"row of alarm {alarm['id']}")
                    if alarm["occurrences"] > 1:  # a re-raise of an open record: its row was already there
                        print(f"  sample {i}: {dev.device_id} re-raised an open alarm; skipped")
                    else:
                        pub = wait_for(lambda: published.get(alarm["id"]), 10, "raised message on the bus")
                        total.append(seen - t0)
                        to_poll.append(max(0.0, alarm["raised_ts_ms"] - t0))
                        to_bus.append(pub - alarm["raised_ts_ms"])
                        to_screen.append(seen - pub)
                    ops.live.clear_value(dev.device_id, "run_state")
                    wait_for(lambda: not alarm_store.get_alarm(db, alarm["id"])["active"], 30, "alarm cleared")
                browser.close()
            stop.set()
            listener.join(2)
            sub.close()
        finally:
            db.dispose()
            ops.stop()
    if not total:
        print("no samples")
        return
    print(f"alarm latency, register change → row on the officer's screen ({len(total)} samples, "
          f"{args.stations} stations, poll cycle {args.interval:g} s)")
    print(_line("total", total))
    print(_line("  register → poll reading", to_poll))
    print(_line("  reading → alarm on the bus", to_bus))
    print(_line("  bus → row on screen", to_screen))


if __name__ == "__main__":
    main(sys.argv[1:])
