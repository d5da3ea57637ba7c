"""Scale-out on one machine: several processes of every tier sharing one Redis, one database and one data dir.

The stack (all real processes, see docs/deployment.md): one private Redis, one SQLite file, the Modbus simulator
(``python -m dashboard sim``), TWO pollers (``poll --shard 0/2`` and ``--shard 1/2``), one alarm engine
(``alarms``) and TWO web processes (A, B) on different ports sharing Redis, database, ``CC_DATA_DIR`` (so the
session key) and ``CC_SOCKETIO_MQ``. One Chromium page is connected to web A; it counts every Socket.IO event
packet it receives on the wire (WebSocket frames and long-polling responses), wrapped in an init script.

Shown:
(a) the page on A receives live messages of stations of BOTH poller shards (an alarm of a station of each shard,
    raised by the alarm engine from the readings of its shard's poller, and a stream of ``kpis`` events);
(b) an acknowledgement done over HTTP on web B (duty officer signed in on B) reaches the page on A;
(c) each live message arrives once: every ``alarm`` event (alarm id, event) is received exactly once — a
    duplicate would mean the message queue and the bridges both deliver.

No fixed sleeps: every wait is on a condition (Playwright ``expect`` or :func:`tests.ops_support.wait_for`).
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess

import pytest
import redis
from playwright.sync_api import expect

from datasources.sql import alarm_store
from datasources.bus.messages import latest_key, parse_latest
from datasources.sql.db import make_engine
from datasources.bus.shard import shard_of
from datasources.bus.redis_server import EmbeddedRedis, free_port
from tests.browser_support import (PYTHON, ROOT, _spawn_web, build_fleet, cc_browser, new_page,  # noqa: F401
                                   start_web_stack, wait_for_health)
from tests.http_support import context_post
from tests.ops_support import single_port_fleet, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

UI_TIMEOUT_MS = 60_000  # a loaded 2-core machine running ~8 processes: generous, every wait ends on its condition
N_SHARDS = 2

#: counts Socket.IO event packets (engine.io "4" message + socket.io "2" event: ``42[name, payload]``) received
#: over WebSocket frames and XHR long-polling responses (packets separated by \x1e); window.__ccWire = [[name, payload]]
WIRE_JS = r"""
(() => {
  const wire = window.__ccWire = [];
  const take = (data) => {
    if (typeof data !== 'string') return;
    for (const pkt of data.split('\x1e')) {
      if (!pkt.startsWith('42')) continue;
      try { const arr = JSON.parse(pkt.slice(2)); wire.push([arr[0], arr[1]]); } catch (e) { /* not JSON */ }
    }
  };
  const WS = window.WebSocket;
  class CountingWebSocket extends WS {
    constructor(...args) { super(...args); this.addEventListener('message', (e) => take(e.data)); }
  }
  window.WebSocket = CountingWebSocket;
  const open = XMLHttpRequest.prototype.open;
  XMLHttpRequest.prototype.open = function (method, url, ...rest) {
    if (String(url).indexOf('/socket.io/') >= 0 && String(method).toUpperCase() === 'GET') {
      this.addEventListener('load', () => take(this.responseText));
    }
    return open.call(this, method, url, ...rest);
  };
})();
"""


class ScaleStack:
    """Redis + web A (``stack``) + web B + simulator + 2 pollers + alarm engine; :meth:`stop` stops everything."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.redis_server = EmbeddedRedis().start()
        self.procs: list[subprocess.Popen] = []
        self.logs: list = []
        self.stack = None
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        fleet = [dataclasses.replace(s, simulated=True) for s in single_port_fleet(build_fleet(10, seed=7))]
        built = [s for s in fleet if s.lifecycle == "built" and s.devices]
        self.by_shard = {i: [s for s in built if shard_of(s.station_id, N_SHARDS) == i] for i in range(N_SHARDS)}
        assert all(self.by_shard.values()), f"a shard without built stations: {self.by_shard}"
        url = self.redis_server.url
        env = {"CC_SOCKETIO_MQ": url, "CC_POLL_INTERVAL_S": "1.0", "CC_SNAPSHOT_SCHEDULE": "0"}
        self.stack = start_web_stack(fleet, self.workdir, redis_url=url, extra_env=env)  # web A
        self.env = {**self.stack.env}
        self.url_a = self.stack.url
        port_b = free_port()
        self.url_b = f"http://127.0.0.1:{port_b}"
        web_b = _spawn_web({**self.env, "PORT": str(port_b)}, self.workdir / "web_b.log")
        self.procs.append(web_b)
        wait_for_health(self.url_b, timeout_s=60, proc=web_b)
        self.spawn("sim", ["sim", "--tick", "0.5"])
        self.spawn("poll0", ["poll", "--shard", f"0/{N_SHARDS}"])
        self.spawn("poll1", ["poll", "--shard", f"1/{N_SHARDS}"])
        self.spawn("alarms", ["alarms"])
        client = redis.Redis.from_url(url)
        try:
            for st in built:  # every station polled once (by its shard's poller)
                io = next(d for d in st.devices if d.kind == "station_io")

                def polled(dev=io.device_id):
                    raw = client.hgetall(latest_key(dev))
                    return raw and parse_latest(raw).get("online")

                wait_for(polled, 90, f"{io.device_id} polled")
            wait_for(lambda: client.hexists("cc:heartbeats", "alarms:alarms"), 60, "alarm engine heartbeat")
        finally:
            client.close()

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 — closed in stop()
        self.logs.append(log)
        proc = subprocess.Popen([PYTHON, "-m", "dashboard", *args], cwd=ROOT, env={**os.environ, **self.env},
                                stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([PYTHON, "-m", "dashboard", *args], cwd=ROOT, env={**os.environ, **self.env},
                              capture_output=True, text=True, timeout=60)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.stack is not None:
            self.stack.stop()
        for log in self.logs:
            log.close()
        self.redis_server.stop()


@pytest.fixture(scope="module")
def scale(tmp_path_factory):
    stack = ScaleStack(tmp_path_factory.mktemp("scaleout"))
    yield stack
    stack.stop()


def _wire(page, event: str) -> list:
    return page.evaluate(f"() => window.__ccWire.filter(e => e[0] === {json.dumps(event)}).map(e => e[1])")


def test_two_web_processes_two_pollers_one_browser(cc_browser, scale):
    db = make_engine(scale.stack.database_url)
    page = new_page(cc_browser, scale.url_a, "duty")
    page.add_init_script(WIRE_JS)
    officer_b = new_page(cc_browser, scale.url_b, "duty")  # signed in on B (same session key: shared data dir)
    try:
        page.goto(scale.url_a)
        expect(page.locator("#conn")).to_have_class(re.compile(r"cc-conn-(live|stale)"), timeout=UI_TIMEOUT_MS)

        # (a) live messages of stations of both poller shards reach the page on A
        picked = [scale.by_shard[0][0], scale.by_shard[1][0]]
        for st in picked:
            res = scale.cli("fault", st.station_id, "fire")
            assert res.returncode == 0, res.stderr
        rows = {}
        for st in picked:
            rows[st.station_id] = page.locator(".cc-al-row[data-alarm-id]", has_text=st.name).filter(
                has_text="站房火警")
            expect(rows[st.station_id]).to_be_visible(timeout=UI_TIMEOUT_MS)
            expect(rows[st.station_id]).to_have_class(re.compile(r"cc-al-unack"))
        kpis_before = len(_wire(page, "kpis"))
        wait_for(lambda: len(_wire(page, "kpis")) >= kpis_before + 3, 60, "national KPIs keep updating on A")
        alarms = {st.station_id: wait_for(lambda sid=st.station_id: next(
            (a for a in alarm_store.list_alarms(db, station_id=sid) if a["rule"] == "fire_alarm"), None), 30,
            f"fire alarm of {st.station_id} in SQL") for st in picked}

        # (b) an acknowledgement over HTTP on web B reaches the page on A
        first, second = (alarms[st.station_id] for st in picked)
        resp = context_post(officer_b.context, scale.url_b, f"/api/alarms/{first['id']}/acknowledge",
                            headers={"Content-Type": "application/json"}, data=json.dumps({"comment": "ack via web B"}))
        assert resp.ok, resp.text()
        expect(rows[picked[0].station_id]).not_to_have_class(re.compile(r"cc-al-unack"), timeout=UI_TIMEOUT_MS)
        # a second acknowledgement is the barrier: once it is on A, a duplicate of the first would be too
        resp = context_post(officer_b.context, scale.url_b, f"/api/alarms/{second['id']}/acknowledge",
                            headers={"Content-Type": "application/json"}, data="{}")
        assert resp.ok, resp.text()
        expect(rows[picked[1].station_id]).not_to_have_class(re.compile(r"cc-al-unack"), timeout=UI_TIMEOUT_MS)

        # (c) every alarm message arrived exactly once on the page's socket
        events = [((m.get("alarm") or {}).get("id"), m.get("event")) for m in _wire(page, "alarm")]
        for alarm in (first, second):
            assert events.count((alarm["id"], "raised")) <= 1, events  # raised before the page connected: 0
            assert events.count((alarm["id"], "acknowledged")) == 1, events
        assert len(events) == len(set(events)), f"duplicate alarm events: {events}"
        states = [json.dumps(s, sort_keys=True) for s in _wire(page, "station_states")]
        assert len(states) == len(set(states)), "a station_states event arrived twice"
    finally:
        for st in (scale.by_shard[0][0], scale.by_shard[1][0]):
            scale.cli("fault", st.station_id, "fire", "--off")
        page.context.close()
        officer_b.context.close()
        db.dispose()
