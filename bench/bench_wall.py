"""Benchmark: the video wall ``/wall`` — page load (navigation → map ready) and JS heap over accelerated hours.

A real web process (``dashboard.web.server.serve``) with a private Redis and a SQLite database (240 stations, two MJPEG
cameras per built station); headless Chromium at 3840×2160 signs in with the wall token.

1. Load: ``--loads`` fresh navigations of ``/wall?token=…``; time from the navigation's start
   (``performance.timeOrigin``) to map ready (the first station marker drawn: ``cc.wall.mapReadyAt``). Median and max.
2. Soak: for ``--minutes`` the bus gets a poll cycle of every built station each ``--cycle-s`` (default 0.2 s: five
   times the 1 s production cycle, so 12 minutes ≈ one wall hour of readings) with ``--churn`` of the stations
   changing state per cycle, an alarm raised every ``--alarm-s`` (severities II–IV; beyond 150 open the oldest is
   cleared, acknowledged and closed) and every ``--emergency-s`` a severity I alarm active for a third of
   that, so the wall enters and leaves emergency mode with its camera stream; the playlist dwell is 2 s. Every ``--sample-s`` the page's garbage is collected (CDP
   ``HeapProfiler.collectGarbage``) and ``Runtime.getHeapUsage`` / ``Performance.getMetrics`` (DOM nodes, JS event
   listeners) are sampled. Printed: start / end / max heap, growth, nodes and listeners at start and end.

Alarms are written as the alarm engine writes them (:class:`AlarmFeed`: SQL, then ``cc:alarms``), so the wall's
resync snapshot and its live feed agree; readings go through :func:`datasources.bus.messages.write_cycle`.

Usage::

    .venv/bin/python -m bench bench_wall                       # 12 min soak (≈ 1 h of wall time at 5×)
    .venv/bin/python bench/bench_wall.py --minutes 2 --loads 3  # a quick check
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasources.sql import alarm_store  # noqa: E402
from datasources.bus.messages import now_ms, write_cycle  # noqa: E402
from datasources.sql.db import make_engine  # noqa: E402
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, build_fleet, reading_for, start_web_stack  # noqa: E402
from tests.ops_demo import seed_cameras  # noqa: E402

TOKEN = "bench-wall-token-5d1e0c7a93b24f68"
RULE_IDS_MINOR = ("compressor_discharge_temp_high", "dryer_dew_point_high", "station_comm_loss")
OPEN_MINOR = 150  # minor alarms open at a time (raised, then cleared + acknowledged + closed in turn)


class AlarmFeed:
    """Raises and clears alarms as the alarm engine does (:func:`datasources.sql.alarm_store.apply_transitions` into SQL,
    then ``PUBLISH cc:alarms``); operator steps (acknowledge, close) through :func:`alarm_store.operator_action`.
    So the wall's resync snapshot (SQL) and its live feed agree, as in production."""

    def __init__(self, engine, client, built, rng):
        from ops.alarm_rules import load_rules  # noqa: PLC0415

        by_id = load_rules().by_id
        self.fire = by_id["fire_alarm"]
        self.minor = [by_id[r] for r in RULE_IDS_MINOR if r in by_id] or [r for r in by_id.values() if r.severity > 1]
        self.engine, self.client, self.built, self.rng = engine, client, built, rng
        self.open: list[tuple] = []  # (rule, station_id, source) raised, oldest first
        self.messages = 0

    def _transition(self, event, rule, sid, source, ts):
        from ops.alarm_rules import Transition  # noqa: PLC0415

        return Transition(event=event, rule=rule, station_id=sid, source=source, device_id=source,
                          device_kind="station_io", ts_ms=ts, value=1.0, threshold=None)

    def _apply(self, transitions) -> list[dict]:
        msgs = alarm_store.apply_transitions(self.engine, transitions)
        alarm_store.publish(self.client, msgs)
        self.messages += len(msgs)
        return msgs

    def step(self) -> None:
        """One raise; once OPEN_MINOR are open, the oldest is cleared, acknowledged and closed."""
        from ops.alarm_rules import RAISE  # noqa: PLC0415

        ts = now_ms()
        rule = self.rng.choice(self.minor)
        st = self.rng.choice(self.built).station_id
        key = (rule, st, f"{st}-IO")
        if key not in self.open:
            self._apply([self._transition(RAISE, rule, st, key[2], ts)])
            self.open.append(key)
        if len(self.open) > OPEN_MINOR:
            self.close(*self.open.pop(0), ts=ts)

    def close(self, rule, sid, source, ts=None) -> None:
        from ops.alarm_rules import CLEAR  # noqa: PLC0415

        ts = ts or now_ms()
        for msg in self._apply([self._transition(CLEAR, rule, sid, source, ts)]):
            aid = msg["alarm"]["id"]
            for action in ("acknowledge", "close"):
                alarm_store.operator_action(self.engine, aid, action, "bench", redis_client=self.client)
                self.messages += 1

    def fire_on(self, sid: str) -> None:
        from ops.alarm_rules import RAISE  # noqa: PLC0415

        self._apply([self._transition(RAISE, self.fire, sid, f"{sid}-IO", now_ms())])

    def fire_off(self, sid: str) -> None:
        self.close(self.fire, sid, f"{sid}-IO")


def _heap(cdp) -> dict:
    cdp.send("HeapProfiler.collectGarbage")
    usage = cdp.send("Runtime.getHeapUsage")
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return {"used_mb": usage["usedSize"] / 2 ** 20, "nodes": int(metrics.get("Nodes", 0)),
            "listeners": int(metrics.get("JSEventListeners", 0))}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stations", type=int, default=240)
    ap.add_argument("--loads", type=int, default=5, help="page loads timed")
    ap.add_argument("--minutes", type=float, default=12.0, help="soak duration (12 min ≈ 1 h of 1 s cycles)")
    ap.add_argument("--cycle-s", type=float, default=0.2, help="seconds between poll cycles of the whole fleet")
    ap.add_argument("--churn", type=float, default=0.05, help="share of stations changing state per cycle")
    ap.add_argument("--alarm-s", type=float, default=1.0, help="seconds between alarm messages")
    ap.add_argument("--sample-s", type=float, default=30.0, help="seconds between heap samples")
    ap.add_argument("--emergency-s", type=float, default=60.0, help="period of the severity I alarm, s")
    args = ap.parse_args(argv if argv is not None else [])
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    fleet = build_fleet(args.stations, seed=7)
    rng = random.Random(3)
    with tempfile.TemporaryDirectory(prefix="cc-bench-wall-") as tmp:
        stack = start_web_stack(fleet, Path(tmp), extra_env={"CC_WALL_TOKEN": TOKEN})
        seed_cameras(stack.database_url, fleet)
        built = stack.built()
        states = {s.station_id: "running" for s in built}
        client = stack.redis
        engine = make_engine(stack.database_url)
        try:
            write_cycle(client, [reading_for(s) for s in built])
            url = f"{stack.url}/wall?token={TOKEN}&dwell=2"
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                context = browser.new_context(viewport={"width": 3840, "height": 2160})
                page = context.new_page()
                loads = []
                for _ in range(max(1, args.loads)):
                    page.goto(url)
                    page.wait_for_selector('#wall-root[data-map-ready="1"]', timeout=120_000)
                    loads.append(page.evaluate("cc.wall.mapReadyAt - performance.timeOrigin"))
                page.wait_for_selector("#wall-conn.cc-w-conn-live", timeout=60_000)
                cdp = context.new_cdp_session(page)
                cdp.send("Performance.enable")
                samples = [(0.0, _heap(cdp))]
                t0 = time.monotonic()
                end = t0 + args.minutes * 60
                next_sample = t0 + args.sample_s
                next_alarm = t0
                seq, published = 0, 0
                emg_state = None
                switches: list[tuple[str, float]] = []  # (mode the wall must switch to, publish epoch ms)
                feed = AlarmFeed(engine, client, built, rng)
                while time.monotonic() < end:
                    seq += 1
                    for _ in range(max(1, int(len(built) * args.churn))):
                        sid = rng.choice(built).station_id
                        states[sid] = rng.choices(["running", "idle", "alarm", "offline"], [60, 20, 10, 10])[0]
                    ts = now_ms()
                    write_cycle(client, [reading_for(s, state=states[s.station_id], ts_ms=ts, seq=seq, rng=rng)
                                         for s in built])
                    published += len(built)
                    now = time.monotonic()
                    while now >= next_alarm:
                        feed.step()
                        next_alarm += args.alarm_s
                    # a severity I every --emergency-s, cleared after a third of it: emergency mode in and out
                    k, into = divmod(now - t0, args.emergency_s)
                    want = (int(k), into < args.emergency_s / 3)
                    if want != emg_state:
                        fire_sid = built[(int(k) * 7) % len(built)].station_id
                        if want[1]:
                            feed.fire_on(fire_sid)
                            switches.append(("emergency", time.time() * 1000))
                        elif emg_state is not None and emg_state[1]:
                            feed.fire_off(fire_sid)
                            switches.append(("daily", time.time() * 1000))
                        emg_state = want
                    if now >= next_sample:
                        samples.append((now - t0, _heap(cdp)))
                        print(f"  t={now - t0:6.0f} s  heap {samples[-1][1]['used_mb']:6.1f} MB  "
                              f"nodes {samples[-1][1]['nodes']:6d}  listeners {samples[-1][1]['listeners']:5d}  "
                              f"mode {page.evaluate('cc.wall.mode')}", flush=True)
                        next_sample += args.sample_s
                    time.sleep(max(0.0, args.cycle_s - (time.monotonic() - now)))
                samples.append((time.monotonic() - t0, _heap(cdp)))
                stats = page.evaluate("({renders: cc.wall.renders, alarms: cc.wall.alarmEvents, "
                                      "emergencies: cc.wall.emergencies, open: Object.keys(cc.wall.alarms).length, "
                                      "orders: Object.keys(cc.wall.orders).length, alarmTs: Object.keys(cc.wall.alarmTs).length})")
                changes = page.evaluate("cc.wall.modeChanges")
                browser.close()
        finally:
            client.close()
            engine.dispose()
            stack.stop()
    first, last = samples[0][1], samples[-1][1]
    peak = max(s[1]["used_mb"] for s in samples)
    print(f"page load /wall 3840×2160 (navigation → map ready), {len(loads)} loads: "
          f"median {statistics.median(loads):.0f} ms, first {loads[0]:.0f} ms, max {max(loads):.0f} ms")
    print(f"soak {samples[-1][0] / 60:.1f} min: {published} station readings "
          f"({published / max(samples[-1][0], 1):.0f}/s), {feed.messages} alarm messages, dwell 2 s; page: {stats}")
    print(f"JS heap after GC: start {first['used_mb']:.1f} MB, end {last['used_mb']:.1f} MB, peak {peak:.1f} MB, "
          f"growth {last['used_mb'] - first['used_mb']:+.1f} MB")
    third = max(1, len(samples) // 3)  # single samples swing with the scene shown: compare thirds too
    head = statistics.median(s[1]["used_mb"] for s in samples[:third])
    tail = statistics.median(s[1]["used_mb"] for s in samples[-third:])
    print(f"JS heap median of the first third {head:.1f} MB, of the last third {tail:.1f} MB "
          f"({tail - head:+.1f} MB over {samples[-1][0] / 60:.1f} min)")
    lat = []
    for mode, t_pub in switches:
        seen = [c["at"] for c in changes if c["mode"] == mode and c["at"] >= t_pub]
        if seen:
            lat.append(min(seen) - t_pub)
    if lat:
        print(f"mode switch (publish → wall layout changed), {len(lat)} of {len(switches)} seen: "
              f"median {statistics.median(lat):.0f} ms, max {max(lat):.0f} ms")
    print(f"DOM nodes start {first['nodes']} end {last['nodes']}; JS listeners start {first['listeners']} "
          f"end {last['listeners']}")


if __name__ == "__main__":
    main(sys.argv[1:])
