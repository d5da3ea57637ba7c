"""The drill-down map in Chromium: national choropleth figures equal the database's, national → province → city by
clicking on the map, back by the breadcrumb, the "‹" button and the browser's back button, the URL carries the scope
(a bookmarked link opens the same view), each scope loads only its own data, Hong Kong drills to its own city, and
search flies to the hit.

The web process is the real one (``dashboard.web.server.serve``) on a database seeded with the city layers
(:mod:`tests.city_support`). No fixed sleeps: every wait is on a condition in the page.
"""
from __future__ import annotations

import re
from collections import defaultdict

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from geo.crs import haversine_m
from geo.regions import get_region_index
from tests.browser_support import COUNT_JS, cc_browser, cc_page  # noqa: F401
from tests.city_support import (LABEL_FIGURES_JS, MAP_VIEW_JS, city_stack, click_region, engine_of,  # noqa: F401
                                hover_region, web_stack)

pytestmark = pytest.mark.browser

TIMEOUT = 15_000
LIFECYCLES = ("built", "under_construction", "idle", "maintenance")


def expected_figures(stack, level: str, province: str | None = None) -> dict[str, dict[str, int]]:
    """The choropleth figures straight from SQL: per province (``level="province"``) or per city of ``province``."""
    col = f"{level}_adcode"
    where = "WHERE province_adcode = :p" if province else ""
    args = {"p": province} if province else {}
    out: dict[str, dict[str, int]] = defaultdict(lambda: {k: 0 for k in ("stations", *LIFECYCLES, "staff",
                                                                        "experts", "partners")})
    partners: dict[str, set] = defaultdict(set)
    engine = engine_of(stack)
    try:
        with engine.connect() as c:
            for code, lifecycle, n in c.execute(text(
                    f"SELECT {col}, lifecycle, COUNT(*) FROM stations {where} GROUP BY {col}, lifecycle"), args):
                out[code]["stations"] += n
                out[code][lifecycle] += n
            for code, role, n in c.execute(text(
                    f"SELECT {col}, role, COUNT(*) FROM service_people {where} GROUP BY {col}, role"), args):
                out[code]["experts" if role == "expert" else "staff"] += n
            for code, name in c.execute(text(f"SELECT DISTINCT {col}, partner FROM stations {where}"), args):
                if name:
                    partners[code].add(name)
            for code, name in c.execute(text(f"SELECT {col}, name FROM partners {where}"), args):
                partners[code].add(name)
    finally:
        engine.dispose()
    for code, names in partners.items():
        out[code]["partners"] = len(names)
    return {k: v for k, v in out.items() if v["stations"]}


def _open(page, stack, path: str = "/"):
    page.goto(stack.url + path)
    expect(page.locator("#conn")).to_have_class(re.compile(r"cc-conn-(live|stale)"), timeout=TIMEOUT)
    page.wait_for_function("() => window.cc && window.cc.city && window.cc.city.map", timeout=TIMEOUT)


def _label_figures(page, want: dict) -> dict:
    """Wait until the labels of every region of ``want`` carry figures, then read them all."""
    codes = sorted(want)
    page.wait_for_function(
        "(codes) => codes.every(c => document.querySelector('.cc-rl[data-adcode=\"' + c + '\"][data-stations]'))",
        arg=codes, timeout=TIMEOUT)
    return page.evaluate(LABEL_FIGURES_JS)


def _stations_drawn(page) -> int:
    return page.evaluate(COUNT_JS)["total"]


def test_national_choropleth_figures_equal_the_database(web_stack, cc_page):
    _open(cc_page, web_stack)
    want = expected_figures(web_stack, "province")
    assert len(want) >= 20
    got = _label_figures(cc_page, want)
    shown = {k: v for k, v in got.items() if v["stations"]}
    assert shown == want
    # the scope strip shows the national totals
    total = sum(v["stations"] for v in want.values())
    expect(cc_page.locator("#fig-stations")).to_have_text(f"{total:,}")
    for k in LIFECYCLES:
        expect(cc_page.locator(f"#fig-{k}")).to_have_text(f"{sum(v[k] for v in want.values()):,}")
    # hovering a province shows its breakdown
    zj = want["330000"]
    hover_region(cc_page, "330000")
    tip = cc_page.locator('.cc-region-tip .cc-rt[data-adcode="330000"]')
    expect(tip).to_be_visible(timeout=TIMEOUT)
    for k in ("stations", *LIFECYCLES, "staff", "experts", "partners"):
        expect(tip.locator(f'b[data-k="{k}"]')).to_have_text(str(zj[k]))
    # the stations layer holds every station at the national view
    cc_page.wait_for_function(f"() => ({COUNT_JS})().total === {len(web_stack.fleet)}", timeout=TIMEOUT)
    assert not [e for e in cc_page.cc_errors if "favicon" not in e], cc_page.cc_errors


def test_drill_down_by_clicking_and_back_by_breadcrumb(web_stack, cc_page):
    page = cc_page
    _open(page, web_stack)
    _label_figures(page, expected_figures(web_stack, "province"))
    page.evaluate("window.__noReload = 1")
    zj_stations = sum(1 for s in web_stack.fleet if s.province_adcode == "330000")
    hz_stations = sum(1 for s in web_stack.fleet if s.city_adcode == "330100")

    # nation → province: click Zhejiang on the map
    click_region(page, "330000")
    expect(page).to_have_url(re.compile(r"scope=province:330000"), timeout=TIMEOUT)
    expect(page.locator("#crumb-rest .cc-crumb-active")).to_have_text("浙江省", timeout=TIMEOUT)
    want = expected_figures(web_stack, "city", "330000")
    got = {k: v for k, v in _label_figures(page, want).items() if v["stations"]}
    assert got == want  # the province's cities, with the same figures
    page.wait_for_function(f"() => ({COUNT_JS})().total === {zj_stations}", timeout=TIMEOUT)
    expect(page.locator("#fig-stations")).to_have_text(str(zj_stations))

    # province → city: click Hangzhou; the city layers appear (its cameras), only its stations
    click_region(page, "330100")
    expect(page).to_have_url(re.compile(r"scope=city:330100"), timeout=TIMEOUT)
    expect(page.locator("#crumb-rest .cc-crumb-active")).to_have_text("杭州市", timeout=TIMEOUT)
    page.wait_for_function(f"() => ({COUNT_JS})().total === {hz_stations}", timeout=TIMEOUT)
    page.wait_for_selector(".cc-cpin", timeout=TIMEOUT)

    # back by the breadcrumb: the province, then the nation
    page.locator("#crumb-rest .cc-crumb", has_text="浙江省").click()
    expect(page).to_have_url(re.compile(r"scope=province:330000"), timeout=TIMEOUT)
    page.wait_for_function(f"() => ({COUNT_JS})().total === {zj_stations}", timeout=TIMEOUT)
    expect(page.locator(".cc-cpin")).to_have_count(0, timeout=TIMEOUT)
    page.locator("#crumb-nation").click()
    expect(page).not_to_have_url(re.compile(r"scope="), timeout=TIMEOUT)
    page.wait_for_function(f"() => ({COUNT_JS})().total === {len(web_stack.fleet)}", timeout=TIMEOUT)
    expect(page.locator("#crumb-nation")).to_have_class(re.compile(r"cc-crumb-active"))

    # the browser's back button returns to the province; "‹" goes up one level
    page.go_back()
    expect(page).to_have_url(re.compile(r"scope=province:330000"), timeout=TIMEOUT)
    expect(page.locator("#crumb-rest .cc-crumb-active")).to_have_text("浙江省", timeout=TIMEOUT)
    page.locator("#crumb-back").click()
    expect(page).not_to_have_url(re.compile(r"scope="), timeout=TIMEOUT)
    expect(page.locator("#crumb-back")).to_have_class(re.compile(r"cc-crumb-disabled"))
    assert page.evaluate("window.__noReload") == 1  # all of it without reloading the page
    assert not [e for e in page.cc_errors if "favicon" not in e], page.cc_errors


def test_bookmarked_city_link_opens_that_view_with_only_its_data(web_stack, cc_page):
    page = cc_page
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    with page.expect_response(lambda r: "/_dash-layout" in r.url) as layout:
        _open(page, web_stack, "/?scope=city:310100")
    # the first paint already is the city's: the page layout carries only Shanghai's stations
    body = layout.value.text()
    in_layout = {s.station_id for s in web_stack.fleet if f'"id":"{s.station_id}"' in body.replace(" ", "")}
    assert in_layout == {s.station_id for s in web_stack.fleet if s.city_adcode == "310100"}
    expect(page.locator("#crumb-rest .cc-crumb-active")).to_have_text("上海市", timeout=TIMEOUT)
    sh = [s for s in web_stack.fleet if s.city_adcode == "310100"]
    page.wait_for_function(f"() => ({COUNT_JS})().total === {len(sh)}", timeout=TIMEOUT)
    # the map is on Shanghai, not on China
    view = page.evaluate(MAP_VIEW_JS)
    assert view["zoom"] >= 7 and haversine_m(view["lon"], view["lat"], 121.47, 31.23) < 80_000
    # its own layers only: the shops of Shanghai by URL, no national or other-city layer data
    page.wait_for_function("() => document.querySelectorAll('.cc-city-cl, path.cc-city-pt').length > 0",
                           timeout=TIMEOUT)
    shop_urls = [u for u in requests if "/api/layers/shops" in u]
    assert shop_urls and all("scope=city:310100" in u for u in shop_urls)
    assert not any("/api/regions?scope=nation" in u for u in requests)
    # a province link
    _open(page, web_stack, "/?scope=province:320000")
    expect(page.locator("#crumb-rest .cc-crumb-active")).to_have_text("江苏省", timeout=TIMEOUT)
    js = [s for s in web_stack.fleet if s.province_adcode == "320000"]
    page.wait_for_function(f"() => ({COUNT_JS})().total === {len(js)}", timeout=TIMEOUT)
    expect(page.locator(".cc-cpin")).to_have_count(0)  # cameras are a city layer


def test_hong_kong_is_its_own_city(web_stack, cc_page):
    page = cc_page
    _open(page, web_stack, "/?scope=province:810000")
    expect(page.locator("#crumb-rest .cc-crumb-active")).to_have_text(re.compile("香港"), timeout=TIMEOUT)
    click_region(page, "810000")
    expect(page).to_have_url(re.compile(r"scope=city:810000"), timeout=TIMEOUT)
    expect(page.locator("#crumb-rest .cc-crumb-active")).to_have_text(re.compile("香港"), timeout=TIMEOUT)
    page.locator("#crumb-back").click()
    expect(page).to_have_url(re.compile(r"scope=province:810000"), timeout=TIMEOUT)


def _search(page, query: str):
    box = page.locator("#search-input")
    box.fill(query)
    page.wait_for_selector(".cc-hit", timeout=TIMEOUT)


def test_search_flies_to_the_hit(web_stack, cc_page):
    page = cc_page
    engine = engine_of(web_stack)
    try:
        with engine.connect() as c:
            shop_id, shop_name, shop_lon, shop_lat = c.execute(text(
                "SELECT shop_id, name, lon, lat FROM shops ORDER BY shop_id LIMIT 1 OFFSET 123")).one()
    finally:
        engine.dispose()
    _open(page, web_stack)
    _search(page, shop_name)
    hit = page.locator(f'.cc-hit[data-kind="shop"][data-id="{shop_id}"]')
    expect(hit).to_be_visible()
    hit.click()
    expect(page).to_have_url(re.compile(r"scope=city:310100"), timeout=TIMEOUT)
    page.wait_for_function(
        f"""() => {{ const v = ({MAP_VIEW_JS})(); return v.zoom >= 17 &&
                     Math.abs(v.lat - {shop_lat}) < 0.0005 && Math.abs(v.lon - {shop_lon}) < 0.0005; }}""",
        timeout=TIMEOUT)
    expect(page.locator("#feature-panel")).not_to_have_class(re.compile(r"cc-hidden"), timeout=TIMEOUT)
    expect(page.locator("#feature-title")).to_have_text(shop_name)

    # a station in another city: the scope follows, the map flies there, the site panel opens
    st = next(s for s in web_stack.built() if s.city_adcode == "320500")
    _search(page, st.name)
    page.locator(f'.cc-hit[data-kind="station"][data-id="{st.station_id}"]').click()
    expect(page).to_have_url(re.compile(r"scope=city:320500"), timeout=TIMEOUT)
    page.wait_for_function(
        f"""() => {{ const v = ({MAP_VIEW_JS})(); return v.zoom >= 14.5 &&
                     Math.abs(v.lat - {st.lat}) < 0.001 && Math.abs(v.lon - {st.lon}) < 0.001; }}""",
        timeout=TIMEOUT)
    expect(page.locator("#site-name")).to_have_text(st.name, timeout=TIMEOUT)

    # a region: the province view
    _search(page, "广东")
    page.locator('.cc-hit[data-kind="region"][data-id="440000"]').click()
    expect(page).to_have_url(re.compile(r"scope=province:440000"), timeout=TIMEOUT)
    idx = get_region_index()
    west, south, east, north = idx.region("440000").bbox
    page.wait_for_function(
        f"""() => {{ const v = ({MAP_VIEW_JS})(); return v.lat > {south} && v.lat < {north} &&
                     v.lon > {west} && v.lon < {east}; }}""", timeout=TIMEOUT)
