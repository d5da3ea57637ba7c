"""The site panel's record (站点档案) in Chromium on the real stack: a station with alarms and a work order lists them
with the right states and counts, a new alarm appears without reopening the panel, partner details show, an idle
station shows its lease revenue, ``?lang=en`` shows English labels.

Alarms and work orders are written through the application's own writers (:func:`datasources.sql.alarm_store
.apply_transitions` — what the alarm engine calls — operator actions, :func:`datasources.sql.workorders.create_order`)
and published on the real bus, so the page's socket receives them like in production. No fixed sleeps.
"""
from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from datasources.sql import alarm_store, site_queries
from datasources.sql import workorders as wo
from datasources.bus.messages import now_ms
from datasources.sql.db import make_engine
from i18n import t
from ops.alarm_rules import RAISE, CLEAR, Transition, load_rules
from tests.browser_support import (build_fleet, cc_browser, cc_page, reading_for, web_stack,  # noqa: F401
                                   web_stack_env)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

UI_TIMEOUT_MS = 45_000  # a loaded 2-core machine; every wait ends as soon as the page shows it
MIN = 60_000
LEASE, MARKET, IDLE_DAYS = 3650.0, 4380.0, 100  # 120 / 144 CNY a day (× 12 / 365) → 12,000 earned, 2,400 forgone


@pytest.fixture(scope="module")
def fleet():
    stations = build_fleet(12, seed=7)  # ST0001 Lhasa, ST0002 Urumqi: always single markers
    today = site_queries.local_today(now_ms())
    stations[0] = dataclasses.replace(stations[0], partner_contact="周建国", partner_phone="138-0000-0101")
    stations[1] = dataclasses.replace(stations[1], lifecycle="idle", devices=(), partner_contact="梁志文",
                                      partner_phone="138-0000-0202", lease_cny_month=LEASE,
                                      market_lease_cny_month=MARKET,
                                      idle_since=(today - timedelta(days=IDLE_DAYS)).isoformat())
    return stations


@pytest.fixture(scope="module")
def db(web_stack):
    engine = make_engine(web_stack.database_url)
    yield engine
    engine.dispose()


def _raise(db, stack, rule_id: str, spec, device_suffix: str, ts_ms: int, value: float = 1.0, clear_ts: int | None = None):
    """Raise (and optionally clear) an alarm through the store the alarm engine uses; publish on the bus."""
    rule = load_rules().by_id[rule_id]
    dev = next(d for d in spec.devices if d.device_id.endswith(device_suffix))
    base = dict(rule=rule, station_id=spec.station_id, source=dev.device_id, device_id=dev.device_id,
                device_kind=dev.kind, value=value, threshold=rule.threshold)
    msgs = alarm_store.apply_transitions(db, [Transition(event=RAISE, ts_ms=ts_ms, **base)])
    if clear_ts is not None:
        msgs += alarm_store.apply_transitions(db, [Transition(event=CLEAR, ts_ms=clear_ts, **base)])
    client = stack.redis
    try:
        alarm_store.publish(client, msgs)
    finally:
        client.close()
    return next(a for a in alarm_store.list_alarms(db, open_only=False, station_id=spec.station_id)
                if a["rule"] == rule_id and a["raised_ts_ms"] == ts_ms)


def _open(page, stack, sid: str, lang: str = "zh"):
    """Load the page (socket connected, the built stations' live values fresh) and click ``sid``'s marker."""
    stack.publish([reading_for(s) for s in stack.built()])
    page.goto(stack.url + (f"/?lang={lang}" if lang != "zh" else "/"))
    # connected: live, or "stale" when the last reading is older than the page's staleness bar — the record is SQL
    expect(page.locator("#conn")).to_have_class(re.compile(r"cc-conn-(live|stale)"), timeout=UI_TIMEOUT_MS)
    marker = page.locator(f'.cc-st[data-sid="{sid}"]')
    expect(marker).to_be_visible(timeout=UI_TIMEOUT_MS)
    marker.click()
    expect(page.locator("#site-panel")).not_to_have_class(re.compile(r"cc-hidden"), timeout=UI_TIMEOUT_MS)
    expect(page.locator("#site-record")).not_to_have_class(re.compile(r"cc-srec-empty"), timeout=UI_TIMEOUT_MS)


@pytest.fixture(scope="module")
def history(web_stack, db):
    """ST0001: a fire alarm 3 h ago, cleared, acknowledged and closed; a discharge-temperature alarm 20 min ago,
    still active, dispatched as a work order (one click: the best on-duty engineer)."""
    spec = web_stack.station("ST0001")
    wo.seed_demo_roster(db)
    now = now_ms()
    fire = _raise(db, web_stack, "fire_alarm", spec, "IO1", now - 180 * MIN, clear_ts=now - 170 * MIN)
    alarm_store.acknowledge(db, fire["id"], "duty")
    alarm_store.close(db, fire["id"], "duty")
    hot = _raise(db, web_stack, "compressor_discharge_temp_high", spec, "C1", now - 20 * MIN, value=112.0)
    order = wo.create_order(db, actor="duty", alarm_id=hot["id"], engineer_id="auto")
    return {"spec": spec, "fire": alarm_store.get_alarm(db, fire["id"]), "hot": alarm_store.get_alarm(db, hot["id"]),
            "order": order}


def test_station_lists_alarm_history_and_work_orders_live(web_stack, cc_page, db, history):
    spec, fire, hot, order = history["spec"], history["fire"], history["hot"], history["order"]
    _open(cc_page, web_stack, spec.station_id)
    rec = cc_page.locator("#site-record")
    expect(cc_page.locator("#site-name")).to_have_text(spec.name)

    fire_row = rec.locator(f'.cc-srec-al[data-alarm-id="{fire["id"]}"]')
    hot_row = rec.locator(f'.cc-srec-al[data-alarm-id="{hot["id"]}"]')
    expect(fire_row).to_have_attribute("data-state", "closed", timeout=UI_TIMEOUT_MS)
    expect(fire_row).to_contain_text("站房火警")
    expect(fire_row).to_contain_text(t("alarm.state.closed"))
    expect(fire_row.locator(".cc-srec-dur")).to_have_text("10分")  # raised → cleared
    expect(hot_row).to_have_attribute("data-state", hot["state"])
    expect(hot_row).to_contain_text(t(f"alarm.state.{hot['state']}"))
    expect(hot_row).to_contain_text("排气温度过高")
    expect(hot_row.locator(".cc-srec-dur")).to_contain_text(t("site.ongoing"))
    rows = rec.locator(".cc-srec-alarms .cc-srec-rows .cc-srec-al")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("data-alarm-id", str(hot["id"]))  # newest first
    expect(rec.locator('.cc-srec-sevn[data-sev="1"] .cc-srec-sevn-n')).to_have_text("1")
    expect(rec.locator(f'.cc-srec-sevn[data-sev="{hot["severity"]}"] .cc-srec-sevn-n')).to_have_text(
        "2" if hot["severity"] == 1 else "1")

    order_row = rec.locator(f'.cc-srec-wo[data-order-id="{order["id"]}"]')
    expect(order_row).to_have_attribute("data-state", order["state"])
    expect(order_row).to_contain_text(f"#{order['id']}")
    expect(order_row.locator(".cc-srec-wo-state")).to_have_text(t(f"wo.state.{order['state']}"))
    expect(order_row.locator(".cc-srec-who")).to_have_text(order["assignee_name"] or t("site.unassigned"))
    expect(order_row.locator(".cc-srec-sla")).to_contain_text(t("sla.respond"))
    expect(rec.locator(".cc-srec-orders .cc-srec-sec-head")).to_contain_text(t("site.orders_open", n=1))

    expect(cc_page.locator("#site-partner-name")).to_have_text(spec.partner)
    expect(cc_page.locator("#site-partner-contact")).to_have_text("周建国")
    expect(cc_page.locator("#site-partner-phone")).to_have_text("138-0000-0101")

    # live: a new alarm of this station appears on top without reopening the panel
    cc_page.evaluate("window.__noReload = 'still here'")
    intr = _raise(db, web_stack, "intrusion_alarm", spec, "IO1", now_ms())
    expect(rows.first).to_have_attribute("data-alarm-id", str(intr["id"]), timeout=UI_TIMEOUT_MS)
    expect(rows.first).to_have_attribute("data-state", "active")
    expect(rows).to_have_count(3)
    assert cc_page.evaluate("window.__noReload") == "still here"
    assert not [e for e in cc_page.cc_errors if "favicon" not in e], cc_page.cc_errors


def test_idle_station_shows_revenue_and_partner(web_stack, cc_page):
    spec = web_stack.station("ST0002")
    _open(cc_page, web_stack, spec.station_id)
    expect(cc_page.locator("#site-lifecycle")).to_have_text(t("lifecycle.idle"))
    # 100 days (101 if the Asia/Shanghai date turned since the fleet was written) × 120 CNY
    expect(cc_page.locator("#site-rev-to-date")).to_have_text(re.compile(r"^(12,000|12,120)$"), timeout=UI_TIMEOUT_MS)
    expect(cc_page.locator("#site-rev-potential")).to_have_text(re.compile(r"^(14,400|14,544)$"))
    expect(cc_page.locator("#site-rev-forgone")).to_have_text(re.compile(r"^(2,400|2,424)$"))
    expect(cc_page.locator("#site-rev-lease")).to_have_text("3,650 元/月")
    expect(cc_page.locator("#site-rev-let")).to_have_text(t("site.rev_let"))
    expect(cc_page.locator("#site-partner-contact")).to_have_text("梁志文")
    expect(cc_page.locator("#site-record .cc-srec-alarms")).to_contain_text(t("site.alarms_none", days=30))


def test_english_labels(web_stack, cc_page, history):
    spec = history["spec"]
    _open(cc_page, web_stack, spec.station_id, lang="en")
    rec = cc_page.locator("#site-record")
    expect(rec.locator(".cc-srec-head h3")).to_have_text("Site record")
    expect(rec.locator(".cc-srec-alarms h4")).to_have_text("Alarm history")
    expect(rec.locator(".cc-srec-orders h4")).to_have_text("Work orders")
    expect(rec.locator(".cc-srec-partner-sec h4")).to_have_text("Partner")
    fire_row = rec.locator(f'.cc-srec-al[data-alarm-id="{history["fire"]["id"]}"]')
    expect(fire_row).to_contain_text("fire in the station room")
    expect(fire_row).to_contain_text("Closed")
    expect(fire_row.locator(".cc-srec-dur")).to_have_text("10m")
    order_row = rec.locator(f'.cc-srec-wo[data-order-id="{history["order"]["id"]}"]')
    expect(order_row.locator(".cc-srec-wo-state")).to_have_text(t(f"wo.state.{history['order']['state']}", "en"))
    # the language switch goes back to Chinese in place
    cc_page.locator("#lang-toggle").click()
    expect(rec.locator(".cc-srec-alarms h4")).to_have_text("故障历史", timeout=UI_TIMEOUT_MS)
    expect(rec.locator(".cc-srec-head h3")).to_have_text("站点档案")
