"""Screenshots of the drill-down map with the city layers on: national (choropleth, stations; and with the enterprise
heat map), province, city (cameras, pipelines, shops, parks and buildings, heat) with a camera's live view and a
shop's card, at 1920×1080 and 3840×2160.

Usage::

    .venv/bin/python -m tests.city_screenshots [--stations 600] [--enterprises 200000] [--out screenshots]

Starts its own stack (temporary SQLite database with :func:`datasources.sim.fleet.generate_fleet` stations and the city
layers' demo data, private Redis, the real web process), feeds live readings and pipe sensors, and writes
``<out>/drill_<view>_<w>x<h>.png``.
"""
from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

from datasources.bus.messages import write_cycle
from datasources.sql.db import make_engine, migrate
from datasources.sim.demo_city import seed_city_layers
from datasources.sim.pipe_sensors import publish_pipe_sensors
from datasources.sim.fleet import generate_fleet
from datasources.sql.repository import save_fleet
from tests.browser_support import ROOT, COUNT_JS, _shared_chromium, new_page, reading_for, start_web_stack

SIZES = ((1920, 1080), (3840, 2160))


def _feed(stack, fleet, stop: threading.Event) -> None:
    rng = random.Random(5)
    built = [s for s in fleet if s.lifecycle == "built"]
    states = {s.station_id: rng.choices(["running", "idle", "alarm", "offline"], [84, 10, 2, 4])[0] for s in built}
    client = stack.redis
    engine = make_engine(stack.database_url)
    while not stop.is_set():
        for i in range(0, len(built), 300):
            write_cycle(client, [reading_for(s, state=states[s.station_id], rng=rng) for s in built[i:i + 300]])
        publish_pipe_sensors(client, engine)
        stop.wait(2.0)


def _settle(page, seconds: float = 2.5) -> None:
    page.wait_for_timeout(seconds * 1000)  # screenshots only: let fly animations and tiles finish


def shoot(out_dir: Path, n_stations: int, n_enterprises: int) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="cc-drill-shots-") as tmp:
        fleet = generate_fleet(n_stations, seed=42)
        url = f"sqlite:///{Path(tmp) / 'cc.db'}"
        migrate(url)
        engine = make_engine(url)
        save_fleet(engine, fleet)
        seed_city_layers(engine, fleet, seed=42, n_enterprises=n_enterprises, today=date(2026, 11, 1))
        engine.dispose()
        stack = start_web_stack(fleet, Path(tmp))
        stop = threading.Event()
        feeder = threading.Thread(target=_feed, args=(stack, fleet, stop), daemon=True)
        feeder.start()
        try:
            time.sleep(3)
            browser = _shared_chromium()
            for w, h in SIZES:
                page = new_page(browser, stack.url, "duty", width=w, height=h)
                try:
                    # national: choropleth + stations
                    page.goto(stack.url + "/")
                    page.wait_for_selector(".cc-conn-live, .cc-conn-stale", timeout=30_000)
                    page.wait_for_selector(".cc-rl-has", timeout=30_000)
                    page.wait_for_function(f"() => ({COUNT_JS})().total > 0", timeout=30_000)
                    _settle(page, 4)
                    files.append(_shot(page, out_dir, "national", w, h))
                    # national with the enterprise heat map
                    page.locator("#lc-row-heat").click()
                    page.wait_for_function("() => document.querySelector('.leaflet-cc-heat-pane img').src.length"
                                           " > 2000", timeout=30_000)
                    _settle(page)
                    files.append(_shot(page, out_dir, "national_heat", w, h))
                    page.locator("#lc-row-heat").click()
                    # province: Jiangsu, its cities with their figures, a tooltip
                    page.goto(stack.url + "/?scope=province:320000")
                    page.wait_for_selector(".cc-rl-has", timeout=30_000)
                    _settle(page, 3)
                    from tests.city_support import hover_region  # noqa: PLC0415

                    hover_region(page, "320500")
                    _settle(page, 1)
                    files.append(_shot(page, out_dir, "province", w, h))
                    # city: Shanghai with every layer on, zoomed onto Jiuting; a camera's live view
                    page.goto(stack.url + "/?scope=city:310100")
                    page.wait_for_selector(".cc-cpin", timeout=30_000)
                    page.locator("#lc-row-heat").click()
                    _settle(page, 3)
                    files.append(_shot(page, out_dir, "city", w, h))
                    page.evaluate("() => window.cc.city.map.setView([31.1335, 121.3245], 16)")
                    _settle(page, 3)
                    pin = page.evaluate("""() => {
                        for (const el of document.querySelectorAll('.cc-cpin[data-status="online"]')) {
                            const r = el.getBoundingClientRect(), x = r.left + r.width / 2, y = r.top + r.height / 2;
                            const t = document.elementFromPoint(x, y);
                            if (t && el.contains(t)) { return {x, y}; }
                        } return null; }""")
                    if pin:
                        page.mouse.click(pin["x"], pin["y"])
                        page.wait_for_function("() => { const i = document.querySelector('#feature-body img');"
                                               " return i && i.naturalWidth > 0; }", timeout=30_000)
                    _settle(page, 2)
                    files.append(_shot(page, out_dir, "city_street_camera", w, h))
                    # a shop's card
                    page.locator("#search-input").fill("便利店")
                    page.wait_for_selector('.cc-hit[data-kind="shop"]', timeout=30_000)
                    page.locator('.cc-hit[data-kind="shop"]').first.click()
                    page.wait_for_selector("#feature-body .cc-shop-qr", timeout=30_000)
                    _settle(page, 3)
                    files.append(_shot(page, out_dir, "city_shop", w, h))
                finally:
                    page.context.close()
        finally:
            stop.set()
            feeder.join(5)
            stack.stop()
    return files


def _shot(page, out_dir: Path, view: str, w: int, h: int) -> Path:
    path = out_dir / f"drill_{view}_{w}x{h}.png"
    page.screenshot(path=str(path), animations="disabled", timeout=120_000)
    print(path, flush=True)
    return path


if __name__ == "__main__":  # pragma: no cover
    ap = argparse.ArgumentParser()
    ap.add_argument("--stations", type=int, default=600)
    ap.add_argument("--enterprises", type=int, default=200_000)
    ap.add_argument("--out", default=str(ROOT / "screenshots"))
    args = ap.parse_args()
    shoot(Path(args.out), args.stations, args.enterprises)
