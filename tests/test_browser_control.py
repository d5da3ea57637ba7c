"""Browser: a duty officer writes a set-point from the site panel (confirmation dialog → poller → device → read-back)
and sees the new value; the panel shows only the commands the device's profile supports. Real Chromium, real web
process, simulated fleet over Modbus TCP, real poller and Redis (tests/ops_demo.start_ops_stack)."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from datasources.modbus.profiles import default_profiles
from tests.browser_support import cc_browser, new_page  # noqa: F401  (pytest fixture)
from tests.ops_demo import start_ops_stack
from tests.ops_support import wait_for
from tests.test_browser_alarms import UI_TIMEOUT_MS, tap

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def ops(tmp_path_factory):
    stack = start_ops_stack(tmp_path_factory.mktemp("ops_ctl"), n_stations=9, seed=7, interval_s=1.0)
    yield stack
    stack.stop()


def test_setpoint_written_through_the_dialog_shows_the_new_value(cc_browser, ops):
    page = new_page(cc_browser, ops.url, "duty")
    page.goto(ops.url)
    expect(page.locator("#conn")).to_have_class(re.compile(r"cc-conn-(live|stale)"), timeout=UI_TIMEOUT_MS)
    station = ops.stack.built()[3]
    sid = station.station_id
    # open the site panel from an alarm (compressor fault on C1)
    ops.live.set_value(f"{sid}-C1", "run_state", 3)
    fault = page.locator(".cc-al-row[data-alarm-id]", has_text=station.name).filter(has_text="空压机故障停机")
    tap(fault.locator(".cc-al-main"))
    expect(page.locator("#site-name")).to_have_text(station.name, timeout=UI_TIMEOUT_MS)
    expect(page.locator("#site-occupancy")).to_have_class(re.compile(r"cc-occ-off"), timeout=UI_TIMEOUT_MS)
    comp = next(d for d in station.devices if d.device_id == f"{sid}-C2")
    sp = next(r for r in default_profiles()[comp.model].registers if r.register_type == "holding" and r.writable)
    row = page.locator(f'[data-setpoint="{comp.device_id}.{sp.name}"]')
    expect(row).to_contain_text("MPa", timeout=UI_TIMEOUT_MS)
    row.locator("input").fill("0.655")
    button = row.locator("button.cc-ctl-sp")
    expect(button).to_be_enabled(timeout=UI_TIMEOUT_MS)
    tap(button)
    expect(page.locator("#ctl-dialog")).not_to_have_class(re.compile(r"cc-modal-hidden"), timeout=UI_TIMEOUT_MS)
    expect(page.locator("#ctl-text")).to_contain_text("0.655", timeout=UI_TIMEOUT_MS)
    tap(page.locator("#ctl-confirm"))
    expect(page.locator("#ctl-msg")).to_contain_text(re.compile(r"已写入.*0\.655 MPa"), timeout=UI_TIMEOUT_MS)
    wait_for(lambda: abs(ops.live.values(comp.device_id)[sp.name] - 0.655) < 0.001, 10, "set-point on the device")
    ops.live.clear_value(f"{sid}-C1", "run_state")
    page.context.close()
