"""Energy tab of the site panel in Chromium (issue 5): open a station → 能耗分析 → the air-to-power ratio chart with
this period, the previous period and the same period a year before, whose values equal the SQL rollups.

The stack's SQLite gets 400 days of demo history (:func:`datasources.sim.history.generate_history`) before the page
opens; expected values are computed here with plain SQL (Σair_m3 / Σenergy_kwh per bucket of
``energy_station_day``), independently of :mod:`datasources.sql.energy_store`.
"""
from __future__ import annotations

import re
from datetime import datetime

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from datasources.sql.db import make_engine
from datasources.sim.history import generate_history
from ops.energy import CST
from tests.browser_support import (build_fleet, cc_browser, cc_page, reading_for, start_web_stack,  # noqa: F401
                                   wait_map_ready)

pytestmark = pytest.mark.browser

STATION = "ST0001"  # Lhasa: always a single marker
FIGURE_JS = """() => {
    const el = document.querySelector('#energy-graph .js-plotly-plot');
    if (!el || !el.data || el.data.length !== 3) { return null; }
    return el.data.map(t => ({meta: t.meta, name: t.name, x: t.x, y: t.y, customdata: t.customdata}));
}"""


@pytest.fixture(scope="module")
def fleet():
    return build_fleet(8, seed=7)


@pytest.fixture(scope="module")
def web_stack(fleet, tmp_path_factory):
    stack = start_web_stack(fleet, tmp_path_factory.mktemp("web-energy"))
    engine = make_engine(stack.database_url)
    try:
        rep = generate_history(engine, fleet, seed=5, days=400)
        assert rep.stations and not rep.skipped
    finally:
        engine.dispose()
    yield stack
    stack.stop()


def _sql_day_ratios(stack, station_id: str) -> dict[str, float]:
    """``{"YYYY-MM-DD" (CST day): Σair/Σenergy}`` straight from ``energy_station_day``."""
    engine = make_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT bucket_ts, SUM(air_m3), SUM(energy_kwh) FROM energy_station_day "
                                     "WHERE station_id = :s GROUP BY bucket_ts"), {"s": station_id}).all()
    finally:
        engine.dispose()
    return {datetime.fromtimestamp(ts, CST).strftime("%Y-%m-%d"): air / energy for ts, air, energy in rows if energy}


def _sql_week_ratios(stack, station_id: str) -> dict[str, float]:
    engine = make_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT week_ts, SUM(air_m3), SUM(energy_kwh) FROM energy_station_day "
                                     "WHERE station_id = :s GROUP BY week_ts"), {"s": station_id}).all()
    finally:
        engine.dispose()
    return {datetime.fromtimestamp(ts, CST).strftime("%Y-%m-%d"): air / energy for ts, air, energy in rows if energy}


def _open_energy_tab(page, stack):
    spec = stack.station(STATION)
    stack.publish([reading_for(s) for s in stack.built()])
    page.goto(stack.url)
    wait_map_ready(page, len(stack.fleet))
    page.locator(f'.cc-st[data-sid="{STATION}"]').click()
    expect(page.locator("#site-panel")).not_to_have_class(re.compile(r"cc-hidden"))
    expect(page.locator("#site-name")).to_have_text(spec.name)
    expect(page.locator("#site-pane-energy")).to_have_class(re.compile(r"cc-off"))
    page.locator("#site-tab-energy").click()
    expect(page.locator("#site-pane-energy")).not_to_have_class(re.compile(r"cc-off"))
    expect(page.locator("#site-pane-devices")).to_have_class(re.compile(r"cc-off"))


def _figure(page, n_points: int | None = None) -> dict[str, dict]:
    cond = "d && d[0].x.length > 0" + (f" && d[0].x.length === {n_points}" if n_points else "")
    page.wait_for_function(f"() => {{ const d = ({FIGURE_JS})(); return {cond}; }}", timeout=15_000)
    return {tr["meta"]: tr for tr in page.evaluate(FIGURE_JS)}


def test_energy_tab_chart_equals_sql_rollups(web_stack, cc_page):
    _open_energy_tab(cc_page, web_stack)
    fig = _figure(cc_page, 30)  # default: last 30 days, daily
    assert set(fig) == {"current", "prev", "yoy"}
    assert [fig[k]["name"] for k in ("current", "prev", "yoy")] == ["本期", "上期(环比)", "去年同期(同比)"]
    sql = _sql_day_ratios(web_stack, STATION)
    cur = fig["current"]
    days = [x[:10] for x in cur["x"]]
    assert days[-1] == datetime.now(CST).strftime("%Y-%m-%d")  # ends with today (partial)
    checked = {"current": 0, "prev": 0, "yoy": 0}
    for meta in checked:
        tr = fig[meta]
        keys = days if meta == "current" else tr["customdata"]
        assert len(tr["y"]) == 30
        for day, y in zip(keys, tr["y"]):
            if day in sql:
                assert y == pytest.approx(sql[day], rel=1e-9), (meta, day)
                checked[meta] += 1
            else:  # a gap stays a gap
                assert y is None, (meta, day)
    assert checked["current"] >= 25 and checked["prev"] >= 25 and checked["yoy"] >= 25, checked
    # the comparison periods are the 30 days before and the same days a year before
    assert fig["prev"]["customdata"][-1] < days[0]
    assert fig["yoy"]["customdata"][0][:4] == str(int(days[0][:4]) - 1)
    # the period's headline ratio is Σair/Σenergy of the same rows
    assert float(cc_page.locator("#energy-kpi-ratio").inner_text()) > 0
    expect(cc_page.locator("#energy-comp [data-energy-dev]").first).to_be_visible()
    assert not [e for e in cc_page.cc_errors if "favicon" not in e], cc_page.cc_errors


def test_weekly_granularity_equals_sql_rollups(web_stack, cc_page):
    _open_energy_tab(cc_page, web_stack)
    _figure(cc_page, 30)
    cc_page.locator("#energy-range label", has_text="近90天").click()
    cc_page.locator("#energy-gran label", has_text="周").click()
    cc_page.wait_for_function(f"() => {{ const d = ({FIGURE_JS})(); return d && d[0].x.length < 20; }}",
                              timeout=15_000)
    fig = {tr["meta"]: tr for tr in cc_page.evaluate(FIGURE_JS)}
    sql = _sql_week_ratios(web_stack, STATION)
    weeks = [x[:10] for x in fig["current"]["x"]]
    assert all(datetime.strptime(w, "%Y-%m-%d").weekday() == 0 for w in weeks)  # ISO weeks start on Monday
    n = 0
    for meta in ("current", "prev", "yoy"):
        keys = weeks if meta == "current" else fig[meta]["customdata"]
        for wk, y in zip(keys, fig[meta]["y"]):
            if wk in sql:
                assert y == pytest.approx(sql[wk], rel=1e-9), (meta, wk)
                n += 1
    assert n >= 30


DEV_JS = """() => {
    const el = document.querySelector('#energy-dev-graph .js-plotly-plot');
    if (!el || !el.data || el.data.length !== 5) { return null; }
    return el.data.map(t => ({meta: t.meta, x: t.x, y: t.y}));
}"""


def test_device_panel_equals_sql_rollups(web_stack, cc_page):
    _open_energy_tab(cc_page, web_stack)
    _figure(cc_page, 30)
    dev = f"{STATION}-C2"
    cc_page.locator(f'[data-energy-dev="{dev}"]').click()
    expect(cc_page.locator("#energy-dev-name")).to_contain_text(dev)
    cc_page.wait_for_function(f"() => {{ const d = ({DEV_JS})(); return d && d[0].x.length > 20; }}", timeout=15_000)
    fig = {tr["meta"]: tr for tr in cc_page.evaluate(DEV_JS)}
    assert set(fig) == {"power_kw", "flow_m3_min", "pressure_max", "pressure_min", "temp_max"}
    engine = make_engine(web_stack.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT bucket_ts, power_sum / samples, flow_sum / samples FROM energy_device_day "
                                     "WHERE device_id = :d AND samples > 0"), {"d": dev}).all()
    finally:
        engine.dispose()
    sql = {datetime.fromtimestamp(ts, CST).strftime("%Y-%m-%d"): (p, f) for ts, p, f in rows}
    n = 0
    for x, p, f in zip(fig["power_kw"]["x"], fig["power_kw"]["y"], fig["flow_m3_min"]["y"]):
        assert (p, f) == pytest.approx(sql[x[:10]], rel=1e-9)
        n += 1
    assert n >= 25
