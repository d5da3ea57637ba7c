"""The city layers in Chromium: each layer toggles on and off (stations, cameras, pipelines, shops, enterprise heat),
a camera's live view shows moving frames, a shop shows its QR code and inspections, a park its figures, a pipe's
pressure drop turns its segment red live (Socket.IO ``pipe_states``), the heat metric switch redraws the surface.

Real web process, database seeded with the city layers (:mod:`tests.city_support`); no fixed sleeps.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from datasources.bus.messages import latest_key, now_ms
from datasources.sql.city_models import Camera, Park, Pipeline, Shop
from tests.browser_support import COUNT_JS, cc_browser, cc_page  # noqa: F401
from tests.city_support import SHOP_CITY, city_stack, engine_of, publish_all, web_stack  # noqa: F401

pytestmark = pytest.mark.browser

TIMEOUT = 15_000
CITY = SHOP_CITY  # Shanghai: cameras, pipelines, shops, parks and buildings

#: shops drawn: single points plus the counts of the clusters
SHOPS_DRAWN_JS = """() => {
    let n = document.querySelectorAll('path.cc-city-pt').length;
    document.querySelectorAll('.cc-city-cl').forEach(el => { n += Number(el.dataset.count); });
    return n;
}"""
#: a frame of the live camera <img> as a data URL (same-origin MJPEG: the canvas is not tainted)
FRAME_JS = """() => {
    const img = document.querySelector('#feature-body img.cc-fp-cam');
    if (!img || !img.complete || !img.naturalWidth) { return null; }
    const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    c.getContext('2d').drawImage(img, 0, 0);
    return c.toDataURL('image/png');
}"""


def _count(stack, stmt) -> int:
    engine = engine_of(stack)
    try:
        with Session(engine) as s:
            return int(s.scalar(stmt))
    finally:
        engine.dispose()


def _open_city(page, stack, city: str = CITY):
    page.goto(f"{stack.url}/?scope=city:{city}")
    expect(page.locator("#conn")).to_have_class(re.compile(r"cc-conn-(live|stale)"), timeout=TIMEOUT)
    page.wait_for_function("() => window.cc && window.cc.city && window.cc.city.map", timeout=TIMEOUT)


def _toggle(page, key: str):
    page.locator(f"#lc-row-{key}").click()


def test_each_layer_toggles_on_and_off(web_stack, cc_page):
    page = cc_page
    n_cams = _count(web_stack, select(func.count()).select_from(Camera).where(Camera.city_adcode == CITY))
    n_pipes = _count(web_stack, select(func.count()).select_from(Pipeline).where(Pipeline.city_adcode == CITY))
    n_shops = _count(web_stack, select(func.count()).select_from(Shop).where(Shop.city_adcode == CITY))
    n_stations = sum(1 for s in web_stack.fleet if s.city_adcode == CITY)
    assert n_cams and n_pipes and n_shops and n_stations
    _open_city(page, web_stack)

    # on by default at city scope: every feature of the city is drawn
    page.wait_for_function(f"() => document.querySelectorAll('.cc-cpin').length === {n_cams}", timeout=TIMEOUT)
    page.wait_for_function(f"() => document.querySelectorAll('path.cc-pipe').length === {n_pipes}", timeout=TIMEOUT)
    page.wait_for_function(f"() => ({SHOPS_DRAWN_JS})() === {n_shops}", timeout=TIMEOUT)
    page.wait_for_function(f"() => ({COUNT_JS})().total === {n_stations}", timeout=TIMEOUT)
    legend = page.locator("#legend-extra")
    expect(legend.locator(".cc-legend-cameras")).to_be_visible()

    for key, gone, back in (
            ("cameras", "document.querySelectorAll('.cc-cpin').length === 0",
             f"document.querySelectorAll('.cc-cpin').length === {n_cams}"),
            ("pipelines", "document.querySelectorAll('path.cc-pipe').length === 0",
             f"document.querySelectorAll('path.cc-pipe').length === {n_pipes}"),
            ("shops", f"({SHOPS_DRAWN_JS})() === 0", f"({SHOPS_DRAWN_JS})() === {n_shops}")):
        _toggle(page, key)
        page.wait_for_function(f"() => {gone}", timeout=TIMEOUT)
        expect(legend.locator(f".cc-legend-{key}")).to_have_count(0)
        _toggle(page, key)
        page.wait_for_function(f"() => {back}", timeout=TIMEOUT)
        expect(legend.locator(f".cc-legend-{key}")).to_have_count(1)

    # stations: hidden and shown again (their live states keep flowing meanwhile)
    marker = page.locator(".cc-st, .cc-cl").first
    expect(marker).to_be_visible()
    _toggle(page, "stations")
    expect(page.locator(".cc-st, .cc-cl").first).to_be_hidden(timeout=TIMEOUT)
    _toggle(page, "stations")
    expect(page.locator(".cc-st, .cc-cl").first).to_be_visible(timeout=TIMEOUT)

    # enterprise heat: off by default; on → a surface and the parks / buildings; off → gone
    heat = page.locator(".leaflet-cc-heat-pane img").first
    assert float(heat.evaluate("e => getComputedStyle(e).opacity")) == 0
    _toggle(page, "heat")
    page.wait_for_function(
        """() => { const i = document.querySelector('.leaflet-cc-heat-pane img');
                   return i && +getComputedStyle(i).opacity > 0.5 && i.src.length > 2000; }""", timeout=TIMEOUT)
    page.wait_for_function("() => document.querySelectorAll('path.cc-place').length > 0", timeout=TIMEOUT)
    expect(page.locator("#heat-total-n")).to_be_visible()
    first = heat.get_attribute("src")
    page.locator("#heat-metric label", has_text="税收产出").click()
    page.wait_for_function(
        "(old) => document.querySelector('.leaflet-cc-heat-pane img').src !== old", arg=first, timeout=TIMEOUT)
    expect(legend.locator(".cc-legend-heat")).to_contain_text("税收产出")
    _toggle(page, "heat")
    page.wait_for_function(
        "() => +getComputedStyle(document.querySelector('.leaflet-cc-heat-pane img')).opacity === 0", timeout=TIMEOUT)
    page.wait_for_function("() => document.querySelectorAll('path.cc-place').length === 0", timeout=TIMEOUT)
    assert not [e for e in page.cc_errors if "favicon" not in e], page.cc_errors


def test_heat_map_at_the_national_view(web_stack, cc_page):
    page = cc_page
    page.goto(web_stack.url)
    page.wait_for_function("() => window.cc && window.cc.city && window.cc.city.map", timeout=TIMEOUT)
    _toggle(page, "heat")
    page.wait_for_function(
        """() => { const i = document.querySelector('.leaflet-cc-heat-pane img');
                   return i && +getComputedStyle(i).opacity > 0.5 && i.src.length > 2000; }""", timeout=TIMEOUT)
    # the total in view counts the country's enterprises (the padded view holds all of them)
    total = float(page.locator("#heat-total-n").get_attribute("data-total"))
    assert total > 0.9 * 20_000
    expect(page.locator("path.cc-place")).to_have_count(0)  # parks and buildings are city features
    _toggle(page, "heat")


def test_camera_live_view_shows_moving_frames(web_stack, cc_page):
    page = cc_page
    _open_city(page, web_stack)
    page.wait_for_selector('.cc-cpin[data-status="online"]', timeout=TIMEOUT)
    # an online camera whose pin is not covered by another one
    free = page.wait_for_function("""() => {
        for (const el of document.querySelectorAll('.cc-cpin[data-status="online"]')) {
            const r = el.getBoundingClientRect(), x = r.left + r.width / 2, y = r.top + r.height / 2;
            const top = document.elementFromPoint(x, y);
            if (top && el.contains(top)) { return {cam: el.dataset.cam, x: x, y: y}; }
        }
        return null; }""", timeout=TIMEOUT).json_value()
    cam_id = free["cam"]
    page.mouse.click(free["x"], free["y"])
    panel = page.locator("#feature-panel")
    expect(panel).not_to_have_class(re.compile(r"cc-hidden"), timeout=TIMEOUT)
    img = page.locator("#feature-body img.cc-fp-cam")
    expect(img).to_have_attribute("src", f"/cameras/{cam_id}/stream.mjpg")
    page.wait_for_function(f"() => ({FRAME_JS})() !== null", timeout=TIMEOUT)
    first = page.evaluate(FRAME_JS)
    # the stream keeps delivering: a different frame arrives (3 fps, clock and scan bar move)
    page.wait_for_function(f"(first) => {{ const f = ({FRAME_JS})(); return f && f !== first; }}", arg=first,
                           timeout=TIMEOUT)
    page.locator("#feature-close").click()
    expect(panel).to_have_class(re.compile(r"cc-hidden"), timeout=TIMEOUT)
    expect(img).to_have_count(0)  # closing ends the stream


def test_shop_and_park_cards(web_stack, cc_page):
    page = cc_page
    engine = engine_of(web_stack)
    try:
        with Session(engine) as s:
            shop = s.scalars(select(Shop).where(Shop.city_adcode == CITY).order_by(Shop.shop_id)).first()
            park = s.scalars(select(Park).where(Park.city_adcode == CITY).order_by(Park.park_id)).first()
            shop_id, shop_name, shop_lat, shop_lon = shop.shop_id, shop.name, shop.lat, shop.lon
            park_id, park_name, park_lat, park_lon = park.park_id, park.name, park.lat, park.lon
    finally:
        engine.dispose()
    _open_city(page, web_stack)
    page.wait_for_function(f"() => ({SHOPS_DRAWN_JS})() > 0", timeout=TIMEOUT)
    # zoom onto the shop until it is drawn as a single point, then click it
    page.evaluate(f"() => window.cc.city.map.setView([{shop_lat}, {shop_lon}], 18, {{animate: false}})")
    found = page.wait_for_function(
        f"""() => {{ let hit = null; window.cc.city.map.eachLayer(l => {{
                    if (l.feature && l.feature.properties && l.feature.properties.id === {shop_id!r} && l._path)
                        hit = l; }});
                    if (!hit) return null; const p = window.cc.city.map.latLngToContainerPoint(hit.getLatLng());
                    const r = window.cc.city.map.getContainer().getBoundingClientRect();
                    return {{x: r.left + p.x, y: r.top + p.y}}; }}""", timeout=TIMEOUT).json_value()
    page.mouse.click(found["x"], found["y"])
    expect(page.locator("#feature-title")).to_have_text(shop_name, timeout=TIMEOUT)
    card = page.locator(f'#feature-body .cc-shop-popup[data-shop="{shop_id}"]')
    expect(card.locator("img.cc-shop-qr")).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    expect(card.locator(".cc-shop-history tbody tr").first).to_be_visible()

    # a park of the heat layer: its figures
    page.locator("#lc-row-heat").click()
    page.evaluate(f"() => window.cc.city.map.setView([{park_lat}, {park_lon}], 15, {{animate: false}})")
    page.wait_for_function("() => document.querySelectorAll('path.cc-place-park').length > 0", timeout=TIMEOUT)
    pt = page.evaluate(
        f"""() => {{ let hit = null; window.cc.city.map.eachLayer(l => {{
                    if (l.feature && l.feature.properties && l.feature.properties.id === {park_id!r}) hit = l; }});
                    const m = window.cc.city.map, r = m.getContainer().getBoundingClientRect();
                    const b = hit.getBounds(), sw = m.latLngToContainerPoint(b.getSouthWest()),
                          ne = m.latLngToContainerPoint(b.getNorthEast());
                    for (let i = 1; i < 10; i++) for (let j = 1; j < 10; j++) {{
                        const x = r.left + sw.x + (ne.x - sw.x) * i / 10, y = r.top + ne.y + (sw.y - ne.y) * j / 10;
                        if (document.elementFromPoint(x, y) === hit._path) return {{x, y}};
                    }} return null; }}""")
    assert pt is not None
    page.mouse.move(pt["x"], pt["y"])
    page.mouse.down()
    page.mouse.up()
    expect(page.locator("#feature-title")).to_have_text(park_name, timeout=TIMEOUT)
    expect(page.locator('#feature-body [data-k="reg-count"]')).to_have_text(re.compile(r"^[\d,]+$"))
    page.locator("#lc-row-heat").click()


def test_pressure_drop_turns_the_pipe_red_live(web_stack, cc_page):
    page = cc_page
    engine = engine_of(web_stack)
    try:
        with Session(engine) as s:
            pipe = s.scalars(select(Pipeline).where(Pipeline.city_adcode == CITY, Pipeline.kind == "underground",
                                                    Pipeline.sensor_device_id.is_not(None))
                             .order_by(Pipeline.pipeline_id)).first()
            pid, sensor, nominal = pipe.pipeline_id, pipe.sensor_device_id, pipe.nominal_pressure_mpa
    finally:
        engine.dispose()
    publish_all(web_stack)
    client = web_stack.redis

    def write(p: float):
        client.hset(latest_key(sensor), mapping={"pressure_mpa": f"{p:.3f}", "_ts_ms": str(now_ms()),
                                                 "_online": "1", "_station_id": "", "_error": ""})

    write(nominal)
    _open_city(page, web_stack)
    page.wait_for_function("() => document.querySelectorAll('path.cc-pipe').length > 0", timeout=TIMEOUT)
    page.evaluate("window.__noReload = 1")
    seg = f"""() => {{ let hit = null; window.cc.city.map.eachLayer(l => {{
                if (l.feature && l.feature.properties && l.feature.properties.id === {pid!r} && l._path) hit = l; }});
                return hit ? hit._path.getAttribute('class') : ''; }}"""
    page.wait_for_function(f"() => ({seg})().includes('cc-pipe-ok')", timeout=TIMEOUT)
    write(nominal * 0.5)  # a leak: below the 80 % alarm threshold
    page.wait_for_function(f"() => ({seg})().includes('cc-pipe-low')", timeout=TIMEOUT)
    write(nominal)
    page.wait_for_function(f"() => ({seg})().includes('cc-pipe-ok')", timeout=TIMEOUT)
    assert page.evaluate("window.__noReload") == 1
    client.close()


def test_import_dialog_reports_the_bad_row_and_writes_nothing(web_stack, cc_page, tmp_path):
    page = cc_page
    before = _count(web_stack, select(func.count()).select_from(Shop))
    lines = ["shop_id,name,address,category,lon,lat,rating,integrity_score"]
    for i in range(5):
        lat = "31.2x" if i == 2 else f"{31.2304 + i * 1e-4:.7f}"  # line 4 of the file is bad
        lines.append(f"UI{i:03d},界面导入{i},上海市黄浦区人民大道{i}号,retail,{121.4737 + i * 1e-4:.7f},{lat},B,80")
    csv = tmp_path / "shops_ui.csv"
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    page.goto(web_stack.url)
    page.wait_for_function("() => window.cc && window.cc.city && window.cc.city.map", timeout=TIMEOUT)
    page.locator("#import-open").click()
    dialog = page.locator("#import-dialog")
    expect(dialog).not_to_have_class(re.compile(r"cc-imp-hidden"))
    page.locator("#import-layer label", has_text="商铺").click()
    page.locator("#import-upload input[type=file]").set_input_files(str(csv))
    expect(page.locator("#import-file-name")).to_have_text("shops_ui.csv")
    page.locator("#import-submit").click()
    summary = page.locator("#import-result .cc-imp-summary")
    expect(summary).to_have_attribute("data-result", "rejected", timeout=TIMEOUT)
    row = page.locator('#import-result tr[data-row="4"]')
    expect(row).to_contain_text("lat")
    expect(row).to_contain_text("31.2x")
    expect(page.locator("#import-result tbody tr")).to_have_count(1)
    assert _count(web_stack, select(func.count()).select_from(Shop)) == before
    page.locator("#import-close").click()
    expect(dialog).to_have_class(re.compile(r"cc-imp-hidden"))
