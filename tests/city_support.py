"""A web stack with the city layers seeded (cameras, pipelines, shops, parks, buildings, enterprises, service staff,
partners), shared by the drill-down and city-layer browser tests, plus map helpers for Playwright.

Use from a test module::

    from tests.browser_support import cc_browser, cc_page  # noqa: F401
    from tests.city_support import city_stack, web_stack  # noqa: F401  (web_stack = the seeded city stack)

The stack is session-scoped (seeding takes ~10 s): tests must leave it as they found it (or restore it).
"""
from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path

import pytest

from datasources.bus.messages import now_ms
from datasources.sql.db import make_engine, migrate
from datasources.sim.demo_city import seed_city_layers
from datasources.sim.pipe_sensors import publish_pipe_sensors
from datasources.sql.repository import save_fleet
from tests.browser_support import build_fleet, reading_for, start_web_stack

N_STATIONS = 48
N_ENTERPRISES = 20_000
N_SHOPS = 3_000
SHOP_CITY = "310100"
CITY_SEED = 7


def start_city_stack(workdir: Path, n_stations: int = N_STATIONS, n_enterprises: int = N_ENTERPRISES,
                     n_shops: int = N_SHOPS, extra_env: dict | None = None):
    """Seed a SQLite database under ``workdir`` with a fleet (:func:`tests.browser_support.build_fleet`) and the
    city layers, then start the web process on it (:func:`tests.browser_support.start_web_stack`), publish one poll
    cycle of every built station and the pipe sensors."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    fleet = build_fleet(n_stations, seed=7)
    url = f"sqlite:///{workdir / 'cc.db'}"
    migrate(url)
    engine = make_engine(url)
    save_fleet(engine, fleet, replace=True)
    seed_city_layers(engine, fleet, seed=CITY_SEED, n_enterprises=n_enterprises, n_shops=n_shops,
                     today=date(2026, 11, 1))
    engine.dispose()
    stack = start_web_stack(fleet, workdir, extra_env={"CC_PIPE_EMIT_S": "0.5", **(extra_env or {})})
    publish_all(stack)
    return stack


def publish_all(stack, states: dict | None = None) -> None:
    rng = random.Random(3)
    stack.publish([reading_for(s, state=(states or {}).get(s.station_id, "running"), rng=rng) for s in stack.built()])
    engine = make_engine(stack.database_url)
    try:
        publish_pipe_sensors(stack.redis, engine, now_ms=now_ms())
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def city_stack(tmp_path_factory):
    stack = start_city_stack(tmp_path_factory.mktemp("city"))
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def web_stack(city_stack):
    """``tests.browser_support``'s pages (``cc_page``) sign in to this stack."""
    publish_all(city_stack)
    return city_stack


def engine_of(stack):
    return make_engine(stack.database_url)


# ---------------------------------------------------------------------------------------------- map helpers (JS)
#: a point (page pixels) inside the drawn region ``adcode`` that is not covered by a marker, or null
REGION_POINT_JS = """(adcode) => {
    const map = window.cc && window.cc.city && window.cc.city.map;
    if (!map) { return null; }
    let layer = null;
    map.eachLayer(l => { if (l.feature && l.feature.properties && l.feature.properties.adcode === adcode && l._path
                                && !l.feature.properties.kind) { layer = l; } });
    if (!layer) { return null; }
    const rect = map.getContainer().getBoundingClientRect();
    const b = layer.getBounds();
    const sw = map.latLngToContainerPoint(b.getSouthWest()), ne = map.latLngToContainerPoint(b.getNorthEast());
    const pts = [];
    const lbl = document.querySelector('.cc-rl[data-adcode="' + adcode + '"]');
    if (lbl) { const r = lbl.getBoundingClientRect(); pts.push([r.left + r.width / 2, r.bottom + 14]); }
    for (let i = 1; i < 12; i++) {
        for (let j = 1; j < 12; j++) {
            pts.push([rect.left + sw.x + (ne.x - sw.x) * i / 12, rect.top + ne.y + (sw.y - ne.y) * j / 12]);
        }
    }
    for (const [x, y] of pts) {
        if (x < rect.left + 5 || y < rect.top + 5 || x > rect.right - 5 || y > rect.bottom - 5) { continue; }
        if (document.elementFromPoint(x, y) === layer._path) { return {x: x, y: y}; }
    }
    return null;
}"""

#: ``{adcode: {stations, built, …}}`` from the data-* attributes of the region labels on the map
LABEL_FIGURES_JS = """() => {
    const out = {};
    document.querySelectorAll('.cc-rl[data-stations]').forEach(el => {
        const d = el.dataset;
        out[d.adcode] = {stations: +d.stations, built: +d.built, under_construction: +d.underConstruction,
                         idle: +d.idle, maintenance: +d.maintenance, staff: +d.staff, experts: +d.experts,
                         partners: +d.partners};
    });
    return out;
}"""

MAP_VIEW_JS = """() => { const m = window.cc.city.map; const c = m.getCenter();
                         return {lat: c.lat, lon: c.lng, zoom: m.getZoom()}; }"""


def click_region(page, adcode: str, timeout_ms: int = 15_000) -> None:
    """Click the map's polygon of ``adcode`` (Leaflet paths need a real mouse move, down and up)."""
    page.wait_for_function(f"() => ({REGION_POINT_JS})({json.dumps(adcode)}) !== null", timeout=timeout_ms)
    pt = page.evaluate(REGION_POINT_JS, adcode)
    page.mouse.move(pt["x"], pt["y"])
    page.mouse.down()
    page.mouse.up()


def hover_region(page, adcode: str, timeout_ms: int = 15_000) -> None:
    page.wait_for_function(f"() => ({REGION_POINT_JS})({json.dumps(adcode)}) !== null", timeout=timeout_ms)
    pt = page.evaluate(REGION_POINT_JS, adcode)
    page.mouse.move(pt["x"] - 3, pt["y"] - 3)
    page.mouse.move(pt["x"], pt["y"])
