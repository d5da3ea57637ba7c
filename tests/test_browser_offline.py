"""Drill: the duty officer's browser loses its network for 60 s (issue 10) — nothing is lost.

While the page is offline the live fleet keeps running: a fire breaks out at one station (simulator fault → poller →
alarm engine → SQL) and a work order is dispatched for another station from a second session. Pub/sub does not
replay what the page missed; on reconnect the page must resynchronise from the database and ``cc:summary`` by
itself — without a reload — and show the alarm (list, map, KPI) and the order.

Real parts: the web process, pymodbus simulator, poller, alarm engine, Redis, SQLite, Chromium
(:func:`tests.ops_demo.start_ops_stack`). The outage lasts 60 s of wall time on purpose (longer than Socket.IO's
ping interval + timeout, so the server really drops the connection); every other wait is on a condition.
"""
from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from datasources.sql import alarm_store
from datasources.sql import workorders as wo
from datasources.sql.db import make_engine
from tests.browser_support import cc_browser, new_page  # noqa: F401  (pytest fixture)
from tests.ops_demo import start_ops_stack
from tests.ops_support import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

OUTAGE_S = 60.0
UI_TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def ops(tmp_path_factory):
    stack = start_ops_stack(tmp_path_factory.mktemp("offline"), n_stations=8, seed=13, interval_s=1.0)
    yield stack
    stack.stop()


def test_sixty_seconds_offline_then_everything_that_happened_is_on_the_page_without_a_reload(cc_browser, ops):
    db = make_engine(ops.stack.database_url)
    built = ops.stack.built()
    fire_st, order_st = built[0], built[1]
    page = new_page(cc_browser, ops.url, "duty")
    try:
        page.goto(ops.url)
        expect(page.locator("#conn")).to_have_class(re.compile(r"cc-conn-live"), timeout=UI_TIMEOUT_MS)
        expect(page.locator("#kpi-stations_alarm")).to_have_text("0", timeout=UI_TIMEOUT_MS)
        page.evaluate("window.__noReload = 'still here'")

        page.context.set_offline(True)
        t_off = time.monotonic()
        expect(page.locator("#conn")).to_have_class(re.compile(r"cc-conn-down"), timeout=UI_TIMEOUT_MS)
        # what happens meanwhile, each through the application's own path
        ops.live.inject(fire_st.station_id, "fire")
        alarm = wait_for(lambda: next((a for a in alarm_store.list_alarms(db, station_id=fire_st.station_id)
                                       if a["rule"] == "fire_alarm"), None), 60, "fire alarm raised in SQL")
        order = wo.create_order(db, actor="duty", station_id=order_st.station_id, engineer_id=None,
                                title="断网期间派发的工单", redis_client=ops.stack.redis)
        remaining = OUTAGE_S - (time.monotonic() - t_off)
        if remaining > 0:
            time.sleep(remaining)  # the drill's outage itself, not a wait for a result
        page.context.set_offline(False)

        expect(page.locator("#conn")).to_have_class(re.compile(r"cc-conn-live"), timeout=UI_TIMEOUT_MS)
        row = page.locator(f'.cc-al-row[data-alarm-id="{alarm["id"]}"]')
        expect(row).to_be_visible(timeout=UI_TIMEOUT_MS)
        expect(row).to_contain_text("站房火警")
        expect(page.locator(f'.cc-st[data-sid="{fire_st.station_id}"], .cc-cl-alarm').first).to_be_visible(
            timeout=UI_TIMEOUT_MS)
        expect(page.locator("#kpi-stations_alarm")).to_have_text("1", timeout=UI_TIMEOUT_MS)
        expect(page.locator(f"#order-list .cc-wo-row:has(.cc-wo-c-id:text-is('#{order['id']}'))")).to_have_count(
            1, timeout=UI_TIMEOUT_MS)
        assert page.evaluate("window.__noReload") == "still here"  # resynchronised in place, not reloaded
    finally:
        ops.live.inject(fire_st.station_id, "fire", on=False)
        page.context.close()
        db.dispose()
