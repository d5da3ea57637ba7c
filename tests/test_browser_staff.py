"""The staff-on-duty layer in Chromium: off by default; switched on it draws one circle per province with people on
duty (the numbers of :mod:`layers.staff`); an engineer coming on duty in the roster shows without a reload, pushed
by the ``roster`` Socket.IO event (``cc:roster`` → ops bridge → the page's rooms), and there is no polling timer for
it; off duty again, the circle goes back; its legend appears. Real web process, Redis and database
(:mod:`tests.city_support`); every wait is on a condition, no fixed sleeps."""
from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from datasources.sql.workorders import set_on_duty
from layers import registry
from layers.base import LayerContext, Scope
from tests.browser_support import cc_browser, cc_page  # noqa: F401
from tests.city_support import city_stack, engine_of, web_stack  # noqa: F401

pytestmark = pytest.mark.browser

TIMEOUT = 15_000
#: the staff features drawn on the map: their regions and the roster engineers on duty in them
DRAWN_JS = """() => {
    const map = window.cc && window.cc.city && window.cc.city.map;
    const out = {regions: 0, roster: 0};
    if (!map) { return out; }
    map.eachLayer(l => {
        const p = l.feature && l.feature.properties;
        if (p && p.roster_on_duty !== undefined && l._path) { out.regions += 1; out.roster += p.roster_on_duty; }
    });
    return out;
}"""


def _expected(stack) -> dict:
    engine = engine_of(stack)
    try:
        fc = registry.get("staff").data(Scope.parse("nation"), LayerContext(engine=engine, redis=None))
    finally:
        engine.dispose()
    return {"regions": len(fc["features"]), "roster": sum(f["properties"]["roster_on_duty"] for f in fc["features"])}


def _ids_of_type(node, kind: str) -> list[dict]:
    """The ids ``{"type": kind, …}`` of a Dash layout (JSON of ``/_dash-layout``)."""
    out = []
    if isinstance(node, dict):
        ident = (node.get("props") or {}).get("id")
        if isinstance(ident, dict) and ident.get("type") == kind:
            out.append(ident)
        for v in node.values():
            out += _ids_of_type(v, kind)
    elif isinstance(node, list):
        for v in node:
            out += _ids_of_type(v, kind)
    return out


def test_staff_layer_toggles_and_follows_the_roster(web_stack, cc_page):
    page = cc_page
    page.goto(f"{web_stack.url}/?scope=nation")
    # live by events, not by a timer: no refresh interval, and the registry callback takes the live token
    layout = page.request.get(f"{web_stack.url}/_dash-layout").json()
    assert _ids_of_type(layout, "cc-layer-tick") == []
    assert {"type": "cc-layer-live", "key": "staff"} in _ids_of_type(layout, "cc-layer-live")
    deps = json.dumps(page.request.get(f"{web_stack.url}/_dash-dependencies").json())
    assert "cc-layer-tick" not in deps
    assert '"property": "data-roster"' in deps
    expect(page.locator("#conn")).to_have_class(re.compile(r"cc-conn-(live|stale)"), timeout=TIMEOUT)
    page.wait_for_function("() => window.cc && window.cc.city && window.cc.city.map", timeout=TIMEOUT)
    assert page.evaluate(DRAWN_JS)["regions"] == 0  # off by default
    before = _expected(web_stack)
    assert before["regions"] > 0
    page.locator("#lc-row-staff").click()
    page.wait_for_function(f"() => JSON.stringify(({DRAWN_JS})()) === '{_json(before)}'", timeout=TIMEOUT)
    expect(page.locator("#legend-extra .cc-legend-staff")).to_be_visible()
    engine, bus = engine_of(web_stack), web_stack.redis
    try:
        set_on_duty(engine, "E16", True, redis_client=bus)  # Guo Peng, Xi'an: off duty in the demo roster
        after = _expected(web_stack)
        assert after["roster"] == before["roster"] + 1
        page.wait_for_function(f"() => JSON.stringify(({DRAWN_JS})()) === '{_json(after)}'", timeout=TIMEOUT)
        set_on_duty(engine, "E16", False, redis_client=bus)  # and back
        page.wait_for_function(f"() => JSON.stringify(({DRAWN_JS})()) === '{_json(before)}'", timeout=TIMEOUT)
    finally:
        set_on_duty(engine, "E16", False, redis_client=bus)
        engine.dispose()
        bus.close()
    page.locator("#lc-row-staff").click()
    page.wait_for_function(f"() => ({DRAWN_JS})().regions === 0", timeout=TIMEOUT)
    expect(page.locator("#legend-extra .cc-legend-staff")).to_have_count(0)


def _json(d: dict) -> str:
    return '{"regions":%d,"roster":%d}' % (d["regions"], d["roster"])
