"""CSRF: a page the officer opens on another origin must not act as the officer (issue 10).

Real app, real SQLite and Redis; a plain ``FlaskClient`` (not the tests' :class:`tests.http_support.CsrfClient`)
plays the forged request, and a real Chromium carries the officer's session to an attacker page on another port of
the same host — the same *site* for the browser, so ``SameSite=Lax`` alone does not stop it.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import expect

from dashboard.auth.csrf import COOKIE, HEADER
from datasources.sql import alarm_store
from datasources.sql.db import make_engine
from datasources.bus.redis_server import free_port
from tests.browser_support import build_fleet, cc_browser, new_page, web_stack  # noqa: F401
from tests.ops_support import wait_for
from tests.test_ops_api import PASSWORDS, ack_callback, audit, database_url, db, raise_fire, web  # noqa: F401
from tests.test_ops_api import fleet as ops_fleet  # noqa: F401


@pytest.fixture
def fleet(ops_fleet):  # noqa: F811 — the ops fixtures' fleet, under the name their fixtures ask for
    return ops_fleet


def _plain(app) -> FlaskClient:
    """A client that does not send the token back (what a forged cross-origin request looks like)."""
    return FlaskClient(app.server, app.server.response_class, use_cookies=True)


def _token(client: FlaskClient) -> str | None:
    cookie = client.get_cookie(COOKIE)
    return cookie.value if cookie else None


def _signed_in_plain(app, user: str = "duty") -> FlaskClient:
    http = _plain(app)
    assert http.get("/auth/login").status_code == 200 and _token(http)
    r = http.post("/auth/login", json={"username": user, "password": PASSWORDS[user]},
                  headers={HEADER: _token(http)})
    assert r.status_code == 200, r.get_json()
    return http


def _state(db, alarm_id: int) -> str:
    return next(a["state"] for a in alarm_store.list_alarms(db, open_only=False) if a["id"] == alarm_id)


def test_a_request_without_the_token_changes_nothing_and_is_audited(web, db, fleet):
    app, _ = web
    station = next(s for s in fleet if s.lifecycle == "built")
    alarm_id = raise_fire(db, station.station_id, 1_763_700_000_000)

    # signing in is state-changing too (login CSRF): no token, no session
    anon = _plain(app)
    anon.get("/auth/login")
    r = anon.post("/auth/login", json={"username": "duty", "password": PASSWORDS["duty"]})
    assert r.status_code == 400 and r.get_json()["error"].startswith("csrf")
    assert anon.get("/auth/me").status_code == 401

    http = _signed_in_plain(app)
    token = _token(http)
    forged = [
        http.post(f"/api/alarms/{alarm_id}/acknowledge", json={"comment": "forged"}),
        http.post(f"/api/alarms/{alarm_id}/acknowledge", json={"comment": "forged"}, headers={HEADER: "x" + token}),
        http.post(f"/api/alarms/{alarm_id}/acknowledge", data={"comment": "forged", "csrf_token": "nope"}),
        http.post("/api/workorders", json={"alarm_id": alarm_id, "engineer_id": "E01"}),
        ack_callback(http, alarm_id),  # a Dash callback request without the header the renderer adds
    ]
    assert [r.status_code for r in forged] == [400] * 5, [(r.status_code, r.get_data(as_text=True)[:80]) for r in forged]
    assert _state(db, alarm_id) == "active"
    refused = audit(db, action="security.csrf_refused")
    assert len(refused) >= 6 and {e["result"] for e in refused} == {"refused"}
    assert any(e["actor"] == "duty" and e["target"] == f"POST /api/alarms/{alarm_id}/acknowledge" for e in refused)

    # the same request with the session's token acts
    r = http.post(f"/api/alarms/{alarm_id}/acknowledge", json={"comment": "real"}, headers={HEADER: token})
    assert r.status_code == 200, r.get_json()
    assert _state(db, alarm_id) == "acknowledged"


def test_the_token_changes_at_login_and_logout(web, db):
    app, _ = web
    http = _plain(app)
    http.get("/auth/login")
    before = _token(http)
    http.post("/auth/login", json={"username": "duty", "password": PASSWORDS["duty"]}, headers={HEADER: before})
    during = _token(http)
    assert during and during != before
    # a token planted before the login (login fixation of the token) no longer works
    assert http.post("/auth/logout", headers={HEADER: before}).status_code == 400
    assert http.get("/auth/me").status_code == 200
    assert http.post("/auth/logout", headers={HEADER: during}).status_code == 200
    assert http.get("/auth/me").status_code == 401
    http.get("/auth/login")
    assert _token(http) not in (None, during)


# ---------------------------------------------------------------------------------------------- a real browser
ATTACK_PAGE = """<!doctype html><html><body>
<form id="f" method="post" action="{target}/api/alarms/{alarm_id}/acknowledge">
<input name="comment" value="forged by another page"></form>
<script>
fetch("{target}/api/alarms/{alarm_id}/acknowledge", {{method: "POST", credentials: "include", mode: "no-cors",
  headers: {{"Content-Type": "text/plain"}}, body: JSON.stringify({{comment: "forged fetch"}})}})
  .finally(function () {{ document.title = "fetch sent"; document.getElementById("f").submit(); }});
</script></body></html>"""


@pytest.fixture(scope="module")
def fleet_for_browser():
    return build_fleet(6, seed=11)


@pytest.mark.browser
def test_a_page_on_another_port_cannot_acknowledge_as_the_signed_in_officer(cc_browser, tmp_path_factory,  # noqa: F811
                                                                            fleet_for_browser):
    from tests.browser_support import start_web_stack  # noqa: PLC0415

    stack = start_web_stack(fleet_for_browser, tmp_path_factory.mktemp("csrf"))
    attacker = None
    try:
        engine = make_engine(stack.database_url)
        station = next(s for s in fleet_for_browser if s.lifecycle == "built")
        alarm_id = raise_fire(engine, station.station_id, 1_763_700_000_000)
        page = new_page(cc_browser, stack.url, "duty")
        page.goto(stack.url)  # the officer's own page works: Dash callbacks carry the token
        expect(page.locator("#conn")).to_be_visible(timeout=30_000)

        body = ATTACK_PAGE.format(target=stack.url, alarm_id=alarm_id).encode()
        hits: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_a):
                pass

        attacker = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=attacker.serve_forever, daemon=True).start()
        evil = page.context.new_page()
        evil.goto(f"http://127.0.0.1:{attacker.server_address[1]}/")
        evil.wait_for_url(f"{stack.url}/api/alarms/**", timeout=30_000)  # the form posts itself after the fetch
        assert hits
        assert "csrf" in evil.content()
        wait_for(lambda: len(audit(engine, action="security.csrf_refused")) >= 2, 20, "both forged requests refused")
        assert _state(engine, alarm_id) == "active"
        # and the officer's session still acts from the officer's own page (token from the cookie)
        resp = page.evaluate("""async (id) => {
            const r = await fetch(`/api/alarms/${id}/acknowledge`, {method: "POST", credentials: "same-origin",
                headers: window.cc.csrfHeaders({"Content-Type": "application/json"}), body: JSON.stringify({comment: "ok"})});
            return r.status; }""", alarm_id)
        assert resp == 200
        assert _state(engine, alarm_id) == "acknowledged"
        page.context.close()
        engine.dispose()
    finally:
        if attacker is not None:
            attacker.shutdown()
        stack.stop()
