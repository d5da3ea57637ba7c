"""Commissioning real sites on the running stack, without restarting anything.

Real parts: the web process (``dashboard.web.server.serve``) and the poller (``python -m dashboard poll``) as subprocesses,
a private Redis, SQLite, and a pymodbus Modbus TCP server started by this test (:mod:`tests.modbus_testserver`,
NOT the simulator) standing in for the field gateway of two real stations. One station is registered with the CLI
(``devices add``), the other by importing a CSV file (``devices import``); the running poller picks both up from
``cc:registry`` and the admin page in Chromium shows their devices online with the server's values.
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading

import pytest
from playwright.sync_api import expect

from datasources.bus.messages import latest_key, parse_latest
from datasources.sim.fleet import generate_fleet
from datasources.modbus.profiles import default_profiles
from datasources.bus.redis_server import free_port
from datasources.ingest.registry import IMPORT_COLUMNS
from tests.browser_support import ROOT, cc_browser, new_page, start_web_stack  # noqa: F401
from tests.modbus_testserver import sim_device, start_modbus_server
from tests.ops_support import wait_for

pytestmark = pytest.mark.browser

PRESSURE_A_MPA = 0.712
PRESSURE_B_MPA = 0.655


class FieldGateway:
    """A pymodbus TCP server (own asyncio loop thread) serving one compressor per unit id."""

    def __init__(self, port: int, pressures: dict[int, float]):
        self.port, self.pressures = port, pressures
        self.loop = asyncio.new_event_loop()
        self.server = None
        self.thread = threading.Thread(target=self.loop.run_forever, name="field-gateway", daemon=True)

    def start(self) -> "FieldGateway":
        self.thread.start()
        prof = default_profiles()["cc-fixed-speed-compressor"]
        devices = [sim_device(prof, unit, values={"discharge_pressure_mpa": p, "discharge_temp_c": 81.5})
                   for unit, p in self.pressures.items()]
        self.server = asyncio.run_coroutine_threadsafe(start_modbus_server(devices, port=self.port),
                                                       self.loop).result(10)
        return self

    def stop(self) -> None:
        if self.server is not None:
            asyncio.run_coroutine_threadsafe(self.server.shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("registry-live")
    demo = generate_fleet(2, seed=4, base_port=free_port())  # a demo fleet no simulator serves: offline
    st = start_web_stack(demo, workdir)
    gateway = FieldGateway(free_port(), {1: PRESSURE_A_MPA, 2: PRESSURE_B_MPA}).start()
    try:
        st.spawn([sys.executable, "-m", "dashboard", "poll"], stdout=subprocess.DEVNULL,
                 stderr=open(workdir / "poll.log", "wb"))
        st.gateway = gateway
        yield st
    finally:
        st.stop()
        gateway.stop()


def _cli(stack, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dashboard", "--log-level", "WARNING", "devices", *args], cwd=ROOT,
                          env={**os.environ, **stack.env}, capture_output=True, text=True, timeout=90)


def _latest(stack, device_id: str) -> dict:
    raw = stack.redis.hgetall(latest_key(device_id))
    return parse_latest(raw) if raw else {}


def test_register_by_cli_and_import_then_see_values_live(stack, cc_browser, tmp_path):
    port = stack.gateway.port
    r = _cli(stack, "add", "--station", "RS0001", "--name", "苏州实站一号", "--name-en", "Suzhou Real 1",
             "--kind", "smart_station", "--lifecycle", "built", "--lon", "120.7325", "--lat", "31.3162",
             "--device-id", "RS0001-C1", "--device-kind", "compressor", "--model", "cc-fixed-speed-compressor",
             "--host", "127.0.0.1", "--port", str(port), "--unit-id", "1", "--rated-flow", "20",
             "--timeout-s", "0.5")
    assert r.returncode == 0, r.stderr
    row = {"station_id": "RS0002", "station_name": "无锡实站二号", "station_kind": "standalone_module",
           "lifecycle": "built", "lon": "120.3119", "lat": "31.4912", "device_id": "RS0002-C1",
           "device_kind": "compressor", "model": "cc-fixed-speed-compressor", "host": "127.0.0.1",
           "port": str(port), "unit_id": "2", "rated_flow_m3_min": "13.5"}
    path = tmp_path / "sites.csv"
    path.write_text(",".join(IMPORT_COLUMNS) + "\n" + ",".join(row.get(c, "") for c in IMPORT_COLUMNS) + "\n",
                    encoding="utf-8")
    r = _cli(stack, "import", str(path))
    assert r.returncode == 0, r.stderr

    # the running poller (never restarted) reads both real devices from the test's Modbus server
    for dev, p in (("RS0001-C1", PRESSURE_A_MPA), ("RS0002-C1", PRESSURE_B_MPA)):
        got = wait_for(lambda d=dev: (lambda v: v if v.get("online") else None)(_latest(stack, d)), 20,
                       f"{dev} online")
        assert got["values"]["discharge_pressure_mpa"] == pytest.approx(p, abs=1e-3)

    page = new_page(cc_browser, stack.url, "admin")
    try:
        page.goto(stack.url + "/admin/devices")
        for dev, p in (("RS0001-C1", PRESSURE_A_MPA), ("RS0002-C1", PRESSURE_B_MPA)):
            cell = page.locator(f'td[data-live="{dev}"]')
            expect(cell).to_have_class("live live-online", timeout=10_000)
            expect(cell.locator(".lv-text")).to_have_text("在线")
            expect(page.locator(f'tr[data-device="{dev}"] .lv-values')).to_contain_text(
                f"discharge_pressure_mpa={p:.3g}")
        # removed by CLI: the poller stops reading it, the page drops it
        r = _cli(stack, "remove", "--station", "RS0002")
        assert r.returncode == 0, r.stderr
        page.goto(stack.url + "/admin/devices?lang=en")
        expect(page.locator('tr[data-device="RS0002-C1"]')).to_have_count(0)
        expect(page.locator('td[data-live="RS0001-C1"] .lv-text')).to_have_text("online", timeout=10_000)
        assert not [e for e in page.cc_errors if "favicon" not in e], page.cc_errors
    finally:
        page.context.close()
