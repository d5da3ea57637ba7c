"""The officer opens things while the bus is busy with other stations' alarms.

Dash drops a still-running call of a callback when the same callback is triggered again, and keeps only the newest
answer. A panel callback that took the live socket events as an input and answered an unrelated event with
``no_update`` therefore lost the open's own answer whenever an event arrived during its round trip: in an alarm
storm the site panel opened without its remote-control buttons or station record, and an alarm or work-order dialog
did not open at all (CI caught it once, in ``test_camera_opens_by_itself_on_fire_and_on_remote_operation``).

Here a real alarm message of another station is re-published on ``cc:alarms`` 20 times a second — what the page sees
in an alarm storm elsewhere — while the officer opens a station, its alarm and its work order. Each must show in
full. Waits are on conditions in the page; the storm runs until the checks are done.
"""
from __future__ import annotations

import json
import re
import threading

import pytest
import redis
from playwright.sync_api import expect

from datasources.sql import workorders as wo
from datasources.bus.messages import ALARMS_CHANNEL
from datasources.sql.db import make_engine
from tests.browser_support import cc_browser, new_page  # noqa: F401  (pytest fixture)
from tests.ops_demo import start_ops_stack
from tests.ops_support import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

UI_TIMEOUT_MS = 45_000
STORM_HZ = 20


@pytest.fixture(scope="module")
def ops(tmp_path_factory):
    stack = start_ops_stack(tmp_path_factory.mktemp("storm"), n_stations=9, seed=7, interval_s=1.0)
    yield stack
    stack.stop()


def tap(locator) -> None:
    """DOM click once visible (see ``tests.test_browser_alarms.tap``: the page renders few frames under load)."""
    expect(locator).to_be_visible(timeout=UI_TIMEOUT_MS)
    locator.dispatch_event("click")


class Storm:
    """Re-publishes one alarm message on ``cc:alarms`` ``STORM_HZ`` times a second in a thread; ``sent`` counts."""

    def __init__(self, redis_url: str, message: dict):
        self.client = redis.Redis.from_url(redis_url)
        self.payload = json.dumps(message)
        self.stop_event = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop_event.wait(1 / STORM_HZ):
            self.client.publish(ALARMS_CHANNEL, self.payload)
            self.sent += 1

    def __enter__(self) -> "Storm":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        self.thread.join(timeout=10)
        self.client.close()


def _capture_raised(ops, station_id: str, trigger) -> dict:
    """Subscribe to ``cc:alarms``, run ``trigger()``, return the first ``raised`` message of ``station_id``."""
    client = redis.Redis.from_url(ops.stack.redis_url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(ALARMS_CHANNEL)
    found: list[dict] = []
    try:
        trigger()

        def raised():
            m = pubsub.get_message(timeout=0.5)
            if m and m.get("type") == "message":
                msg = json.loads(m["data"])
                if msg.get("event") == "raised" and (msg.get("alarm") or {}).get("station_id") == station_id:
                    found.append(msg)
            return bool(found)
        wait_for(raised, timeout_s=60, what=f"a raised alarm of {station_id} on cc:alarms")
    finally:
        pubsub.close()
        client.close()
    return found[0]


def test_station_alarm_and_order_open_in_full_while_other_stations_alarms_stream(cc_browser, ops):
    built = ops.stack.built()
    mine, other = built[2], built[3]
    officer = new_page(cc_browser, ops.url, "duty")
    officer.goto(ops.url)
    expect(officer.locator("#conn")).to_have_class(re.compile(r"cc-conn-(live|stale)"), timeout=UI_TIMEOUT_MS)

    storm_msg = _capture_raised(ops, other.station_id,
                                lambda: ops.live.set_value(f"{other.station_id}-C1", "run_state", 3))
    ops.live.set_value(f"{mine.station_id}-C1", "run_state", 3)
    row = officer.locator(".cc-al-row[data-alarm-id]", has_text=mine.name).filter(has_text="空压机故障停机")
    expect(row).to_be_visible(timeout=UI_TIMEOUT_MS)
    alarm_id = int(row.get_attribute("data-alarm-id"))
    db = make_engine(ops.stack.database_url)
    try:
        order = wo.create_order(db, actor="duty", alarm_id=alarm_id, engineer_id=None,
                                title="风暴中打开的工单", redis_client=ops.stack.redis)
    finally:
        db.dispose()
    chip = row.locator(f'[data-pick="order"][data-id="{order["id"]}"]')
    expect(chip).to_be_visible(timeout=UI_TIMEOUT_MS)

    with Storm(ops.stack.redis_url, storm_msg) as storm:
        # the page is receiving the storm before anything is opened
        officer.wait_for_function(
            "n => (window.cc.ops.received || []).filter(r => r.id === n).length >= 10",
            arg=storm_msg["alarm"]["id"], timeout=UI_TIMEOUT_MS)

        # the station: its remote-control rows and its record (alarm history lists this alarm)
        tap(row.locator(".cc-al-main"))
        expect(officer.locator("#site-name")).to_have_text(mine.name, timeout=UI_TIMEOUT_MS)
        expect(officer.locator(f'[id*="{mine.station_id}-C2"][id*="stop"]')).to_be_attached(timeout=UI_TIMEOUT_MS)
        expect(officer.locator("#site-record-body")).to_contain_text("空压机故障停机", timeout=UI_TIMEOUT_MS)
        expect(officer.locator("#site-ops-alarms")).to_contain_text("空压机故障停机", timeout=UI_TIMEOUT_MS)

        # the alarm dialog
        tap(row.locator('[data-pick="ack"]'))
        expect(officer.locator("#alarm-dialog")).not_to_have_class(re.compile(r"cc-modal-hidden"),
                                                                   timeout=UI_TIMEOUT_MS)
        expect(officer.locator("#alarm-dialog-body")).to_contain_text(mine.name, timeout=UI_TIMEOUT_MS)
        tap(officer.locator("#alarm-dialog-x"))
        expect(officer.locator("#alarm-dialog")).to_have_class(re.compile(r"cc-modal-hidden"),
                                                               timeout=UI_TIMEOUT_MS)

        # the work-order dialog
        tap(chip)
        expect(officer.locator("#order-dialog")).not_to_have_class(re.compile(r"cc-modal-hidden"),
                                                                   timeout=UI_TIMEOUT_MS)
        expect(officer.locator("#order-body")).to_contain_text("风暴中打开的工单", timeout=UI_TIMEOUT_MS)
        sent = storm.sent
    # the storm really ran through all of it (2 s at least)
    assert sent >= 2 * STORM_HZ, sent
    officer.context.close()
