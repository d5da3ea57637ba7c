"""The connection indicator tells *live* from *frozen* (issue 10): a socket can be up while nothing flows.

Real web process, real Redis, real Chromium. Readings come through the real bus (``write_cycle``) from a feeder
thread; the test stops it (polling stopped) and stops Redis (bus down), and waits on the indicator each time.
"""
from __future__ import annotations

import re
import threading

import pytest
from playwright.sync_api import expect

from tests.browser_support import build_fleet, cc_browser, new_page, reading_for, start_web_stack  # noqa: F401

pytestmark = pytest.mark.browser

STALE_S = 4  # CC_STALE_S of the stack: a reading older than this is stale
TIMEOUT_MS = 30_000


class Feeder:
    """Publishes one poll cycle of every built station every 0.5 s while ``running`` is set."""

    def __init__(self, stack):
        self.stack, self.running, self.stop = stack, threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            if self.running.is_set():
                try:
                    self.stack.publish([reading_for(s) for s in self.stack.built()])
                except Exception:  # noqa: BLE001 — Redis stopped on purpose
                    pass
            self.stop.wait(0.5)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = start_web_stack(build_fleet(6, seed=21), tmp_path_factory.mktemp("feed"),
                        extra_env={"CC_STALE_S": str(STALE_S), "CC_FEED_HEARTBEAT_S": "1"})
    yield s
    s.stop()


def test_the_indicator_shows_stale_when_polling_stops_or_the_bus_is_down_and_live_again_after(cc_browser, stack):
    feeder = Feeder(stack)
    page = new_page(cc_browser, stack.url, "duty")
    conn = page.locator("#conn")
    try:
        feeder.running.set()
        page.goto(stack.url)
        expect(conn).to_have_class(re.compile(r"cc-conn-live"), timeout=TIMEOUT_MS)

        # 1. the poller stops: the socket stays up, the data freezes
        feeder.running.clear()
        expect(conn).to_have_class(re.compile(r"cc-conn-stale"), timeout=TIMEOUT_MS)
        expect(page.locator("#conn-text")).to_have_text(re.compile(r"^数据停滞 \d+ s$"))
        assert "最新数据" in conn.get_attribute("title")
        feeder.running.set()
        expect(conn).to_have_class(re.compile(r"cc-conn-live"), timeout=TIMEOUT_MS)

        # 2. Redis goes down: the bridge loses its subscription, the heartbeat says so
        stack.redis_server.stop()
        expect(conn).to_have_class(re.compile(r"cc-conn-stale"), timeout=TIMEOUT_MS)
        expect(conn).to_have_attribute("title", re.compile(r"Redis"), timeout=TIMEOUT_MS)
        stack.redis_server.start()
        expect(conn).to_have_class(re.compile(r"cc-conn-live"), timeout=TIMEOUT_MS)

        # English
        page.locator("#lang-toggle").click()
        feeder.running.clear()
        expect(page.locator("#conn-text")).to_have_text(re.compile(r"^STALE \d+ s$"), timeout=TIMEOUT_MS)
    finally:
        feeder.stop.set()
        page.context.close()
