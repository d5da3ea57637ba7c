"""The video wall ``/wall`` in Chromium on the live simulated fleet (:func:`tests.ops_demo.start_ops_stack`: web
process, pymodbus simulator, poller, alarm engine).

Covers: token sign-in without a login prompt (and a wrong token refused, both audited), the layout at 3840×2160 and
1920×1080 (screenshots in ``/tmp/wall_*.png``), split screens showing complementary parts, the scene playlist
advancing, a severity I alarm (station fire, injected into the simulator) switching every screen to the emergency
command layout with the station, its camera and the work order's state, the return to the daily playlist when it
clears, and the wall session refused (HTTP 403, Socket.IO ``status: 403``) on every acting endpoint / event.
No fixed sleeps: every wait is on a condition in the page or the stack.
"""
from __future__ import annotations

import json
import re

import pytest
import socketio
from playwright.sync_api import expect

from datasources.sql.audit import read_audit
from datasources.sql import alarm_store
from datasources.sql.db import make_engine
from tests.browser_support import cc_browser, new_page  # noqa: F401  (pytest fixture)
from tests.ops_demo import start_ops_stack
from tests.ops_support import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

UI_TIMEOUT_MS = 60_000  # a loaded 2-core machine; every wait ends as soon as the page shows it
TOKEN = "wall-test-token-8f3a1c2e9b7d4a60"


@pytest.fixture(scope="module")
def ops(tmp_path_factory):
    stack = start_ops_stack(tmp_path_factory.mktemp("wall"), n_stations=9, seed=7, interval_s=1.0,
                            extra_env={"CC_WALL_TOKEN": TOKEN, "CC_WALL_DWELL_S": "30"})
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def db(ops):
    engine = make_engine(ops.stack.database_url)
    yield engine
    engine.dispose()


def _wall(browser, ops, query: str = "", width: int = 3840, height: int = 2160):
    """An anonymous browser context opening the wall with the token (no login first)."""
    page = new_page(browser, ops.url, None, width=width, height=height)
    page.goto(f"{ops.url}/wall?token={TOKEN}{'&' + query if query else ''}")
    root = page.locator("#wall-root")
    expect(root).to_have_attribute("data-map-ready", "1", timeout=UI_TIMEOUT_MS)
    expect(page.locator("#wall-conn")).to_have_class(re.compile(r"cc-w-conn-live"), timeout=UI_TIMEOUT_MS)
    return page


def _fits(page) -> bool:
    """Nothing scrolls: the wall fits its screen."""
    return page.evaluate("() => document.documentElement.scrollHeight <= window.innerHeight + 1 && "
                         "document.documentElement.scrollWidth <= window.innerWidth + 1")


def _csrf(page) -> dict:
    cookie = next((c["value"] for c in page.context.cookies() if c["name"] == "_csrf_token"), "")
    return {"Content-Type": "application/json", "X-CSRFToken": cookie}


def test_token_sign_in_without_prompt_and_wrong_token_refused(cc_browser, ops, db):
    # anonymous without a token: the normal login
    anon = new_page(cc_browser, ops.url, None)
    anon.goto(ops.url + "/wall")
    expect(anon).to_have_url(re.compile(r"/auth/login\?next=/wall"))
    # a wrong token: refused, no session
    resp = anon.goto(ops.url + "/wall?token=not-the-token-000000")
    assert resp.status == 401
    expect(anon.locator("#wall-refused")).to_be_visible()
    assert anon.context.request.get(ops.url + "/auth/me").status == 401
    anon.context.close()

    page = _wall(cc_browser, ops, "scenes=nation")
    expect(page).to_have_url(re.compile(r"/wall\?token="))  # no login page on the way
    assert page.locator("#cc-user").count() == 0
    me = page.context.request.get(ops.url + "/auth/me").json()["user"]
    assert me["role"] == "wall" and me["permissions"] == ["view"]
    entries = read_audit(db, actor="wall", action="auth.wall_login")
    assert {e["result"] for e in entries} >= {"ok", "failed"}
    # KPIs are live, the title and header are there, nothing scrolls
    expect(page.locator("#wall-k-online")).not_to_have_text("—", timeout=UI_TIMEOUT_MS)
    expect(page.locator(".cc-w-title")).to_have_text("智慧空压站运营指挥中心")
    expect(page.locator("#wall-clock")).to_have_text(re.compile(r"\d\d:\d\d:\d\d"))
    expect(page.locator("#wall-rank-rows .cc-w-tr").first).to_be_visible(timeout=UI_TIMEOUT_MS)
    assert _fits(page)
    # no button that changes state (read-only), no form
    assert page.locator("#wall-root button, #wall-root form, #wall-root input").count() == 0
    # readable at 5 m: the smallest visible wall text is ≥ 24 px on the 3840-px wall
    smallest = page.evaluate("""() => Math.min(...[...document.querySelectorAll('#wall-root *')]
        .filter(e => e.childElementCount === 0 && e.textContent.trim() && e.offsetParent !== null
                 && !e.closest('.leaflet-container'))
        .map(e => parseFloat(getComputedStyle(e).fontSize)))""")
    assert smallest >= 24, smallest
    page.screenshot(path="/tmp/wall_3840_daily.png")
    # a wall session browsing elsewhere is sent back to the wall
    page.goto(ops.url + "/")
    expect(page).to_have_url(re.compile(r"/wall$"))
    page.context.close()


def test_1920_and_english(cc_browser, ops):
    page = _wall(cc_browser, ops, "lang=en", width=1920, height=1080)
    expect(page.locator(".cc-w-title")).to_have_text("Compressed-Air Operations Command Center")
    expect(page.locator("#wall-conn-text")).to_have_text("Live")
    expect(page.locator("#wall-k-online")).not_to_have_text("—", timeout=UI_TIMEOUT_MS)
    assert _fits(page)
    smallest = page.evaluate("""() => Math.min(...[...document.querySelectorAll('#wall-root *')]
        .filter(e => e.childElementCount === 0 && e.textContent.trim() && e.offsetParent !== null
                 && !e.closest('.leaflet-container'))
        .map(e => parseFloat(getComputedStyle(e).fontSize)))""")
    assert smallest >= 12, smallest
    page.screenshot(path="/tmp/wall_1920_daily.png")
    page.context.close()


def test_split_screens_show_complementary_parts(cc_browser, ops):
    left = _wall(cc_browser, ops, "screen=1&of=2", width=1920, height=1080)
    right = new_page(cc_browser, ops.url, None, width=1920, height=1080)
    right.goto(f"{ops.url}/wall?token={TOKEN}&tile=right")
    expect(right.locator("#wall-root")).to_have_attribute("data-map-ready", "1", timeout=UI_TIMEOUT_MS)
    expect(left.locator("#wall-root")).to_have_attribute("data-part", "map")
    expect(right.locator("#wall-root")).to_have_attribute("data-part", "panel")
    expect(left.locator("#wall-mapbox")).to_be_visible()
    expect(left.locator("#wall-panel")).to_be_hidden()
    expect(right.locator("#wall-mapbox")).to_be_hidden()
    expect(right.locator("#wall-panel")).to_be_visible()
    expect(right.locator("#wall-p-nation")).to_be_visible()
    expect(left.locator(".cc-w-screen")).to_have_text("屏 1/2")
    expect(right.locator(".cc-w-screen")).to_have_text("屏 2/2")
    # both follow one playlist clock: the same scene at the same time
    wait_for(lambda: left.locator("#wall-root").get_attribute("data-step")
             == right.locator("#wall-root").get_attribute("data-step"), 30, "both screens on one step")
    right.screenshot(path="/tmp/wall_1920_split_right.png")
    left.context.close()
    right.context.close()


def test_playlist_advances_and_shows_current_and_next(cc_browser, ops):
    page = _wall(cc_browser, ops, "dwell=3&scenes=nation,alarms,energy", width=1920, height=1080)
    root = page.locator("#wall-root")
    expect(page.locator("#wall-scene-chips .cc-w-chip")).to_have_count(3)
    # one atomic check per scene (the step may change between separate reads): the root's scene, the current and
    # next names in the header, the highlighted chip and the scene's card shown
    shown = """([scene, name, next]) => {
        const root = document.getElementById('wall-root');
        const on = document.querySelector('#wall-scene-chips .cc-w-chip-on');
        const card = document.getElementById('wall-p-' + scene);
        return root.dataset.scene === scene && document.getElementById('wall-scene-name').textContent === name
            && document.getElementById('wall-scene-next').textContent === next
            && !!on && on.dataset.step === scene && card.offsetParent !== null;
    }"""
    for scene, name, nxt in (("alarms", "实时报警", "能效分析"), ("energy", "能效分析", "全国总览"),
                             ("nation", "全国总览", "实时报警"), ("alarms", "实时报警", "能效分析")):
        page.wait_for_function(shown, arg=[scene, name, nxt], timeout=UI_TIMEOUT_MS)
    # the provinces scene expands into the configured number of steps
    page.goto(f"{ops.url}/wall?token={TOKEN}&dwell=2&scenes=provinces")
    expect(page.locator("#wall-scene-chips .cc-w-chip")).to_have_count(3, timeout=UI_TIMEOUT_MS)
    expect(root).to_have_attribute("data-scene", "province", timeout=UI_TIMEOUT_MS)
    expect(page.locator("#wall-prov-name")).not_to_have_text("—", timeout=UI_TIMEOUT_MS)
    page.context.close()


def test_severity_one_alarm_switches_to_emergency_and_back(cc_browser, ops, db):
    station = ops.stack.built()[3]
    sid = station.station_id
    big = _wall(cc_browser, ops)
    small = _wall(cc_browser, ops, width=1920, height=1080)
    for page in (big, small):
        expect(page.locator("#wall-root")).to_have_attribute("data-mode", "daily")

    ops.live.inject(sid, "fire")
    try:
        for page in (big, small):
            root = page.locator("#wall-root")
            expect(root).to_have_attribute("data-mode", "emergency", timeout=UI_TIMEOUT_MS)
            expect(page.locator("#wall-mode")).to_have_text("应急指挥模式")
            expect(page.locator("#wall-p-emg")).to_be_visible()
            expect(page.locator("#wall-emg-what")).to_have_text("站房火警")
            expect(page.locator("#wall-emg-station")).to_contain_text(station.name)
            expect(page.locator("#wall-emg-cam")).to_have_attribute("src", re.compile(rf"/cameras/CAM-{sid}-\d"),
                                                                    timeout=UI_TIMEOUT_MS)
            expect(page.locator("#wall-emg-order-id")).to_have_text("尚未派单")
            expect(page.locator(f'#wall-map .cc-st-selected[data-sid="{sid}"]')).to_be_visible(
                timeout=UI_TIMEOUT_MS)
        alarm = wait_for(lambda: next((a for a in alarm_store.list_alarms(db, station_id=sid)
                                       if a["rule"] == "fire_alarm" and a["active"]), None), 20, "fire alarm")

        # the wall cannot act: HTTP 403 on acknowledge / dispatch / control, Socket.IO refusals
        req = big.context.request
        assert req.get(f"{ops.url}/api/alarms/{alarm['id']}").status == 200  # it may view
        for path, body in ((f"/api/alarms/{alarm['id']}/acknowledge", {}),
                           ("/api/workorders", {"alarm_id": alarm["id"]}),
                           ("/api/control", {"device_id": f"{sid}-C1", "command": "stop", "confirmed": True})):
            resp = req.post(ops.url + path, headers=_csrf(big), data=json.dumps(body))
            assert resp.status == 403, (path, resp.status, resp.text())
        cookie = "; ".join(f"{c['name']}={c['value']}" for c in big.context.cookies())
        client = socketio.Client(reconnection=False)
        client.connect(ops.url, headers={"Cookie": cookie}, transports=["polling"], wait_timeout=20)
        try:
            for event, data in (("ops:acknowledge", {"alarm_id": alarm["id"]}),
                                ("ops:close_alarm", {"alarm_id": alarm["id"]}),
                                ("ops:dispatch", {"alarm_id": alarm["id"]}),
                                ("ops:control", {"device_id": f"{sid}-C1", "command": "stop", "confirmed": True})):
                ack = client.call(event, data, timeout=20)
                assert ack["ok"] is False and ack["status"] == 403, (event, ack)
        finally:
            client.disconnect()
        assert not alarm_store.get_alarm(db, alarm["id"])["acknowledged"]
        refused = [e for e in read_audit(db, actor="wall", limit=50) if e["result"] == "refused"]
        assert len(refused) >= 7

        # the duty officer dispatches: the wall shows the work order's state live
        officer = new_page(cc_browser, ops.url, "duty")
        officer.goto(ops.url + "/auth/me")
        resp = officer.context.request.post(ops.url + "/api/workorders", headers=_csrf(officer),
                                            data=json.dumps({"alarm_id": alarm["id"]}))
        assert resp.status == 201, resp.text()
        order = resp.json()["order"]
        for page in (big, small):
            expect(page.locator("#wall-emg-order-id")).to_contain_text(f"#{order['id']}", timeout=UI_TIMEOUT_MS)
            expect(page.locator('#wall-emg-steps .cc-w-step-now[data-step="assigned"]')).to_have_count(1)
        officer.context.close()
        big.screenshot(path="/tmp/wall_3840_emergency.png")
        small.screenshot(path="/tmp/wall_1920_emergency.png")
    finally:
        ops.live.inject(sid, "fire", on=False)

    for page in (big, small):
        expect(page.locator("#wall-root")).to_have_attribute("data-mode", "daily", timeout=UI_TIMEOUT_MS)
        expect(page.locator("#wall-p-emg")).to_be_hidden()
        expect(page.locator("#wall-mode")).to_have_text("日常监测")
        assert page.locator("#wall-emg-cam").get_attribute("src") is None  # the stream is closed
    big.context.close()
    small.context.close()


def test_resync_after_reconnect(cc_browser, ops):
    """A web-process restart: the socket reconnects by itself and the wall resynchronises (a fresh snapshot)."""
    page = _wall(cc_browser, ops, width=1920, height=1080)
    before = page.evaluate("cc.wall.snapshots")
    ops.stack.start_web()  # stops and restarts the web process on the same port
    expect(page.locator("#wall-conn")).to_have_class(re.compile(r"cc-w-conn-live"), timeout=UI_TIMEOUT_MS)
    page.wait_for_function(f"cc.wall.snapshots > {before} && cc.wall.connected", timeout=UI_TIMEOUT_MS)
    expect(page.locator("#wall-k-online")).not_to_have_text("—")
    page.context.close()
