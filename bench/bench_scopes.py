"""Benchmark: what each scope of the drill-down map costs with a fleet of 10,000 stations — server time and payload
bytes per request and per scope (nation / province / city / station), and the browser's time to first render of the
national view.

Setup (temporary directory, removed at the end): a SQLite database with :func:`datasources.sim.fleet.generate_fleet`
(10,000 stations, seed 42), the city layers (:func:`datasources.sim.demo_city.seed_city_layers`, 100,000 enterprises,
10,000 shops in Shanghai), a private Redis holding one poll cycle's summary of every built station.

Server: the real app (:func:`dashboard.web.app.create_app`) through Flask's test client, logged in; for each scope the
requests its page makes — the Dash layout of a page opened on the scope (bookmark: ``?scope=…``), the map data a
scope change loads (the ``load_scope`` callback's stations, region boundaries and labels by URL, the choropleth
figures, the live snapshot) and, at city / station scope, the city layers. Each request: median of ``--repeat``
runs after one warm-up (region boundaries and heat arrays are memoised per process — what a running server does).

Browser: the web process (``dashboard.web.server.serve``) on the same database; headless Chromium (1920×1080) signed in,
from navigation start until all 10,000 stations are accounted for on the map (markers + cluster counts), median of
``--browser-runs`` page loads.

Usage::

    .venv/bin/python bench/bench_scopes.py                 # 10,000 stations
    .venv/bin/python bench/bench_scopes.py --stations 2000 --repeat 3 --browser-runs 1
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _kb(n: int) -> str:
    return f"{n / 1024:,.1f} kB" if n < 1024 * 1024 else f"{n / 1024 / 1024:,.2f} MB"


def _dash_update(http, output: str, outputs: list[dict], inputs: list[dict], state: list | None = None) -> tuple:
    body = {"output": output, "outputs": outputs, "inputs": inputs, "state": state or [], "changedPropIds": [
        f"{i['id']}.{i['property']}" for i in inputs[:1]]}
    t0 = time.perf_counter()
    r = http.post("/_dash-update-component", json=body)
    dt = time.perf_counter() - t0
    assert r.status_code in (200, 204), (output, r.status_code, r.data[:300])
    return dt, len(r.data)


def _requests_of(scope: str, station: str | None) -> list[tuple[str, callable]]:
    """(label, fn(http) → (seconds, bytes)) of the requests a page makes at ``scope``."""
    def get(path, headers=None):
        def fn(http):
            t0 = time.perf_counter()
            r = http.get(path, headers=headers or {})
            dt = time.perf_counter() - t0
            assert r.status_code == 200, (path, r.status_code, r.data[:200])
            return dt, len(r.data)
        return fn

    def load_scope(http):  # the map callback a scope change runs: stations, boundaries' URLs, viewport, crumbs
        outs = [{"id": "stations", "property": "data"}, {"id": "regions", "property": "url"},
                {"id": "region-labels", "property": "url"}, {"id": "map", "property": "viewport"},
                {"id": "crumb-rest", "property": "children"}, {"id": "crumb-nation", "property": "className"},
                {"id": "kpi-scope", "property": "children"}, {"id": "map-scope-name", "property": "children"}]
        return _dash_update(http, ".." + "...".join(f"{o['id']}.{o['property']}" for o in outs) + "..", outs,
                            [{"id": "scope", "property": "data", "value": scope},
                             {"id": "lang", "property": "data", "value": "zh"}])

    region = scope if scope != f"station:{station}" else None
    out = [("page layout (bookmark)", get("/_dash-layout", {"Referer": f"http://bench/?scope={scope}"}))] if region else []
    if region:
        out += [("stations (scope change)", load_scope),
                ("region boundaries", get(f"/api/regions?scope={region}")),
                ("region labels", get(f"/api/regions?scope={region}&part=labels")),
                ("choropleth figures", get(f"/api/regions/figures?scope={region}")),
                ("live snapshot", get(f"/api/states?scope={region}"))]
    if scope.startswith(("city:", "station:")):
        for layer in ("cameras", "pipelines", "shops", "places"):
            if layer in ("shops", "places") and scope.startswith("station:"):
                continue
            out.append((f"layer {layer}", get(f"/api/layers/{layer}?scope={scope}")))
    if station and scope == f"station:{station}":
        out.append(("station detail", get(f"/api/stations/{station}")))
    return out


def server_figures(app, scopes: list[tuple[str, str]], station: str, repeat: int) -> dict:
    http = app.server.test_client()
    r = http.post("/auth/login", json={"username": "duty", "password": "Duty#2026"})
    assert r.status_code == 200, r.get_json()
    results = {}
    for name, scope in scopes:
        rows = []
        for label, fn in _requests_of(scope, station):
            fn(http)  # warm-up (memoised boundaries, heat arrays: what a running server holds)
            times, size = [], 0
            for _ in range(repeat):
                dt, size = fn(http)
                times.append(dt)
            rows.append((label, statistics.median(times), size))
        results[name] = (scope, rows)
    return results


#: every station inside the map's view is drawn (as a marker or counted in a cluster); arg: [[lat, lon], …]
ALL_IN_VIEW_JS = """(pts) => {
    const m = window.cc && window.cc.city && window.cc.city.map;
    if (!m) { return false; }
    const b = m.getBounds();
    let want = 0;
    for (const p of pts) { if (b.contains(p)) { want++; } }
    return want > 0 && (COUNT)().total === want;
}"""


def browser_first_render(url: str, points: list, runs: int) -> list[float]:
    from tests.browser_support import COUNT_JS, _shared_chromium, login  # noqa: PLC0415

    browser = _shared_chromium()
    out = []
    for _ in range(runs):
        ctx = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
        page = ctx.new_page()
        login(page, "duty", base_url=url)
        t0 = time.perf_counter()
        page.goto(url + "/", wait_until="commit")
        try:
            page.wait_for_function(ALL_IN_VIEW_JS.replace("(COUNT)", f"({COUNT_JS})"), arg=points,
                                   timeout=180_000, polling=50)
        except Exception:
            print("  drawn:", page.evaluate(COUNT_JS), page.evaluate(
                "() => { const m = window.cc.city.map; return [m.getBounds().toBBoxString(), m.getZoom()]; }"))
            raise
        out.append(time.perf_counter() - t0)
        drawn = page.evaluate(COUNT_JS)["total"]
        print(f"  first render: {out[-1]:.2f} s ({drawn:,} stations in the national view)", flush=True)
        ctx.close()
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stations", type=int, default=10_000)
    ap.add_argument("--enterprises", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--browser-runs", type=int, default=3)
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args(argv if argv is not None else [])

    import random  # noqa: PLC0415

    from dashboard.web.app import create_app  # noqa: PLC0415
    from dashboard.auth.core import seed_demo_users  # noqa: PLC0415
    from datasources.bus.messages import write_cycle  # noqa: PLC0415
    from datasources.sql.db import make_engine, migrate  # noqa: PLC0415
    from datasources.sim.demo_city import seed_city_layers  # noqa: PLC0415
    from datasources.sim.fleet import generate_fleet  # noqa: PLC0415
    from datasources.bus.redis_server import EmbeddedRedis  # noqa: PLC0415
    from datasources.sql.repository import save_fleet  # noqa: PLC0415
    from datasources.settings import Settings  # noqa: PLC0415
    from layers import regions as regions_layer  # noqa: PLC0415
    from datasources.bus.redis_server import free_port  # noqa: PLC0415
    from tests.browser_support import ROOT, _spawn_web, reading_for, wait_for_health  # noqa: PLC0415

    tmp = Path(tempfile.mkdtemp(prefix="cc-bench-scopes-"))
    redis_srv = EmbeddedRedis().start()
    try:
        t0 = time.perf_counter()
        fleet = generate_fleet(args.stations, seed=42)
        url = f"sqlite:///{tmp / 'cc.db'}"
        migrate(url)
        engine = make_engine(url)
        save_fleet(engine, fleet)
        seed_city_layers(engine, fleet, seed=42, n_enterprises=args.enterprises)
        seed_demo_users(engine)
        built = [s for s in fleet if s.lifecycle == "built"]
        rng = random.Random(1)
        import redis  # noqa: PLC0415

        client = redis.Redis.from_url(redis_srv.url)
        for i in range(0, len(built), 500):
            write_cycle(client, [reading_for(s, rng=rng) for s in built[i:i + 500]])
        print(f"setup: {len(fleet):,} stations ({len(built):,} built, live), city layers, "
              f"{args.enterprises:,} enterprises in {time.perf_counter() - t0:.1f} s", flush=True)

        from collections import Counter  # noqa: PLC0415

        by_prov = Counter(s.province_adcode for s in fleet)
        by_city = Counter(s.city_adcode for s in fleet)
        province = by_prov.most_common(1)[0][0]
        city = "310100" if by_city["310100"] else by_city.most_common(1)[0][0]
        station = next(s.station_id for s in built if s.city_adcode == city)
        scopes = [("nation", "nation"), ("province", f"province:{province}"), ("city", f"city:{city}"),
                  ("station", f"station:{station}")]
        app, _ = create_app(Settings(data_dir=tmp, redis_url=redis_srv.url, database_url=url), engine=engine,
                            redis_url=redis_srv.url, start_bridge=False)
        regions_layer.warm_up()
        results = server_figures(app, scopes, station, args.repeat)
        print(f"\nserver, {len(fleet):,} stations; median of {args.repeat} (ms, bytes):")
        for name, (scope, rows) in results.items():
            n = sum(1 for s in fleet if (scope == "nation" or s.province_adcode == scope[9:]
                                         or s.city_adcode == scope[5:] or s.station_id == scope[8:]))
            print(f"  {name:<8} {scope:<22} ({n:,} stations)")
            for label, dt, size in rows:
                print(f"      {label:<26} {dt * 1000:8.1f} ms  {_kb(size):>11}")
            print(f"      {'total':<26} {sum(r[1] for r in rows) * 1000:8.1f} ms  "
                  f"{_kb(sum(r[2] for r in rows)):>11}", flush=True)

        if not args.no_browser:
            print(f"\nbrowser: first render of the national view, {len(fleet):,} stations", flush=True)
            engine.dispose()
            port = free_port()
            env = {"REDIS_URL": redis_srv.url, "DATABASE_URL": url, "PORT": str(port), "CC_HOST": "127.0.0.1",
                   "CC_DATA_DIR": str(ROOT / "data"), "PYTHONUNBUFFERED": "1"}
            web = _spawn_web(env, tmp / "web.log")
            try:
                wait_for_health(f"http://127.0.0.1:{port}", timeout_s=120, proc=web)
                times = browser_first_render(f"http://127.0.0.1:{port}", [[s.lat, s.lon] for s in fleet],
                                             args.browser_runs)
                print(f"  median {statistics.median(times):.2f} s, best {min(times):.2f} s "
                      f"({len(times)} runs)")
            finally:
                web.terminate()
                web.wait(10)
    finally:
        redis_srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
