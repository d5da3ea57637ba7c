"""The admin pages in Chromium on the real web process (:mod:`dashboard.admin.users`): an administrator creates a
login with the form and that person signs in on the sign-in page; the audit log filter; the duty roster; the main
page's import button is there for a duty officer and absent for a leader. Screenshots (1920×1080) go to
``/tmp/admin_*.png``."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from datasources.sql import workorders as wo
from datasources.sql.db import make_engine
from tests.browser_support import build_fleet, cc_browser, new_page, start_web_stack  # noqa: F401

pytestmark = pytest.mark.browser

SHOTS = "/tmp"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    st = start_web_stack(build_fleet(8, seed=5), tmp_path_factory.mktemp("admin"))
    yield st
    st.stop()


def _errors(page) -> list[str]:
    return [e for e in page.cc_errors if "favicon" not in e]


def test_admin_creates_a_login_with_the_form_and_it_signs_in(stack, cc_browser):
    page = new_page(cc_browser, stack.url, "admin")
    try:
        page.goto(stack.url + "/admin/users")
        expect(page.locator("#adm-title")).to_have_text("用户管理")
        expect(page.locator('tr[data-user="admin"]')).to_be_visible()
        # a weak password first: the policy error is shown, nothing is created
        page.fill("#cu-username", "li.duty")
        page.fill("#cu-display", "李值班")
        page.select_option("#cu-role", "duty_officer")
        page.fill("#cu-password", "weakpass")
        page.fill("#cu-password2", "weakpass")
        page.click("#cu-submit")
        expect(page.locator("#adm-error")).to_contain_text("3 类")
        expect(page.locator('tr[data-user="li.duty"]')).to_have_count(0)
        expect(page.locator("#cu-username")).to_have_value("li.duty")
        page.cc_errors.clear()  # the refused form answered 400 on purpose
        page.fill("#cu-password", "Li#Duty2026")
        page.fill("#cu-password2", "Li#Duty2026")
        page.click("#cu-submit")
        expect(page.locator("#adm-ok")).to_contain_text("li.duty")
        expect(page.locator('tr[data-user="li.duty"]')).to_have_attribute("data-status", "active")
        page.screenshot(path=f"{SHOTS}/admin_users.png", full_page=False)
        assert not _errors(page), page.cc_errors
    finally:
        page.context.close()

    person = new_page(cc_browser, stack.url, None)
    try:
        person.goto(stack.url + "/admin/roster")  # → the sign-in page, back here after it
        person.fill("#cc-user", "li.duty")
        person.fill("#cc-pass", "Li#Duty2026")
        person.click("#cc-submit")
        expect(person.locator("#adm-title")).to_have_text("值班表", timeout=15_000)
        expect(person.locator("#adm-user")).to_contain_text("李值班")
        expect(person.locator("#nav-users")).to_have_count(0)  # a duty officer: no user management
        me = person.request.get(stack.url + "/auth/me").json()
        assert me["user"]["username"] == "li.duty" and me["user"]["role"] == "duty_officer"
    finally:
        person.context.close()


def test_audit_log_filter_and_export_link(stack, cc_browser):
    page = new_page(cc_browser, stack.url, "admin")
    try:
        page.goto(stack.url + "/admin/audit")
        expect(page.locator("#adm-audit tr.a-row").first).to_be_visible()
        page.fill("#af-action", "auth.login")
        page.select_option("#af-result", "ok")
        page.fill("#af-actor", "admin")
        page.click("#af-submit")
        expect(page).to_have_url(re.compile(r"action=auth\.login"))
        rows = page.locator("#adm-audit tr.a-row")
        expect(rows.first).to_be_visible()
        actions = rows.evaluate_all("rs => rs.map(r => [r.dataset.action, r.dataset.result])")
        assert actions and all(a == ["auth.login", "ok"] for a in actions), actions
        expect(page.locator("#af-export")).to_have_attribute("href", re.compile(r"action=auth\.login.*result=ok"))
        with page.expect_download() as dl:
            page.click("#af-export")
        data = open(dl.value.path(), "rb").read()
        assert data.startswith(b"\xef\xbb\xbf") and data.count(b"auth.login") == len(actions)
        page.screenshot(path=f"{SHOTS}/admin_audit.png")
        page.goto(stack.url + "/admin/audit?lang=en")
        expect(page.locator("#adm-title")).to_have_text("Audit log")
        expect(page.locator('#adm-audit tr.a-row[data-action="audit.export"]').first).to_be_visible()
        page.screenshot(path=f"{SHOTS}/admin_audit_en.png")
        page.goto(stack.url + "/admin/roster")
        expect(page.locator('tr[data-engineer="E01"] .r-login')).to_contain_text("engineer")
        page.screenshot(path=f"{SHOTS}/admin_roster.png")
        assert not _errors(page), page.cc_errors
    finally:
        page.context.close()


def test_login_created_from_the_roster_row_shows_that_engineers_orders_on_the_field_page(stack, cc_browser):
    engine = make_engine(stack.database_url)
    try:
        order = wo.create_order(engine, actor="duty", station_id=stack.built()[0].station_id, engineer_id="E05",
                                title="排气压力低 / low discharge pressure")
        other = wo.create_order(engine, actor="duty", station_id=stack.built()[0].station_id, engineer_id="E02",
                                title="干燥机 / dryer")
    finally:
        engine.dispose()
    page = new_page(cc_browser, stack.url, "admin")
    try:
        page.goto(stack.url + "/admin/roster")
        row = page.locator('tr[data-engineer="E05"]')
        expect(row.locator(".r-login")).to_contain_text("未开通")
        row.locator("button[data-open]").click()  # "create login" on the row picks the engineer in the form
        expect(page.locator("#rl-engineer")).to_have_value("E05")
        expect(page.locator("#rl-username")).to_be_focused()
        page.fill("#rl-username", "chen.jing")
        page.fill("#rl-password", "Chen#Jing2026")
        page.click("#rl-submit")
        expect(page.locator("#adm-ok")).to_contain_text("chen.jing")
        expect(row.locator(".r-login")).to_have_text("chen.jing")
    finally:
        page.context.close()
    field = new_page(cc_browser, stack.url, None, width=390, height=844)
    try:
        field.goto(stack.url + "/field/")
        field.fill("#cc-user", "chen.jing")
        field.fill("#cc-pass", "Chen#Jing2026")
        field.click("#cc-submit")
        expect(field.locator("#f-eid")).to_have_text("E05", timeout=20_000)
        expect(field.locator(f'[data-order="{order["id"]}"]')).to_be_visible(timeout=20_000)
        expect(field.locator(f'[data-order="{other["id"]}"]')).to_have_count(0)
    finally:
        field.context.close()


@pytest.mark.parametrize("who, shown", [("leader", False), ("duty", True)])
def test_import_button_for_duty_officer_not_for_leader(stack, cc_browser, who, shown):
    page = new_page(cc_browser, stack.url, who)
    try:
        page.goto(stack.url + "/")
        expect(page.locator("#layer-control")).to_be_visible(timeout=30_000)
        expect(page.locator("#layer-toggles")).to_be_visible()
        if shown:
            expect(page.locator("#import-open")).to_be_visible()
        else:
            expect(page.locator("#import-open")).to_have_count(0)
        page.screenshot(path=f"{SHOTS}/admin_map_{who}.png")
        assert not _errors(page), page.cc_errors
    finally:
        page.context.close()


@pytest.mark.parametrize("who, links", [("leader", ["大屏", "周报", "值班表"]),
                                        ("duty", ["大屏", "周报", "值班表", "站点设备"]),
                                        ("admin", ["周报", "站点设备", "系统管理"])])
def test_the_map_header_links_each_role_to_the_pages_it_may_open(stack, cc_browser, who, links):
    page = new_page(cc_browser, stack.url, who)
    try:
        page.goto(stack.url)
        nav = page.locator("#cc-nav a")
        expect(nav).to_have_text(links, timeout=30_000)
        for i in range(nav.count()):  # every link the header offers opens for that role (no 403 behind a link)
            href = nav.nth(i).get_attribute("href")
            assert page.context.request.get(stack.url + href).status == 200, (who, href)
    finally:
        page.context.close()
