"""A running operations stack for browser tests, the latency benchmark, screenshots and a manual demo: the web
process (``dashboard.web.server.serve``, subprocess) plus the live simulated fleet with poller and alarm engine
(:class:`tests.ops_support.LiveFleet`, threads of this process), sharing one private Redis and one SQLite file;
the stations' cameras are seeded so the video panel has streams.

::

    python -m tests.ops_demo serve [--stations 24]     # prints the URL; Ctrl-C stops (log in as duty / Duty#2026)
    python -m tests.ops_demo screenshots                # writes screenshots/ops_*.png
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from sqlalchemy.orm import Session

from datasources.sql.city_models import Camera
from datasources.sql.db import make_engine
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, ROOT, WebStack, build_fleet, new_page, start_web_stack
from tests.http_support import context_post
from tests.ops_support import LiveFleet, single_port_fleet, wait_for

INTERVAL_S = 0.5


def seed_cameras(database_url: str, fleet) -> int:
    """Two MJPEG cameras per built station (machine room, yard), served by ``/cameras/<id>/stream.mjpg``."""
    engine = make_engine(database_url)
    n = 0
    try:
        with Session(engine) as s, s.begin():
            for st in fleet:
                if st.lifecycle != "built":
                    continue
                for k, (zh, en) in enumerate((("机房", "machine room"), ("站区", "yard")), start=1):
                    cid = f"CAM-{st.station_id}-{k}"
                    if s.get(Camera, cid) is None:
                        s.add(Camera(camera_id=cid, station_id=st.station_id, name=f"{st.name}{zh}",
                                     name_en=f"{st.name_en} {en}", lon=st.lon + 0.0002 * k, lat=st.lat,
                                     province_adcode=st.province_adcode, city_adcode=st.city_adcode,
                                     status="online", kind="mjpeg", stream_url=f"/cameras/{cid}/stream.mjpg"))
                        n += 1
    finally:
        engine.dispose()
    return n


class OpsStack:
    """:class:`tests.browser_support.WebStack` + :class:`tests.ops_support.LiveFleet` (``live``)."""

    def __init__(self, stack: WebStack, live: LiveFleet):
        self.stack, self.live = stack, live
        self.url = stack.url

    def stop(self) -> None:
        try:
            self.live.stop()
        finally:
            self.stack.stop()


def start_ops_stack(workdir: Path, n_stations: int = 24, seed: int = 7, interval_s: float = INTERVAL_S,
                    extra_env: dict | None = None) -> OpsStack:
    """Web process + simulated fleet (one Modbus endpoint) + poller + alarm engine; waits until every built
    station's station I/O has been polled once."""
    fleet = single_port_fleet(build_fleet(n_stations, seed=seed))
    stack = start_web_stack(fleet, workdir, extra_env=extra_env)
    seed_cameras(stack.database_url, fleet)
    try:
        live = LiveFleet(fleet, stack.redis_url, stack.database_url, interval_s=interval_s).start()
    except Exception:
        stack.stop()
        raise
    ops = OpsStack(stack, live)
    try:
        for st in stack.built():
            io = next(d for d in st.devices if d.kind == "station_io")
            live.wait_latest(io.device_id, lambda v: "fire" in v, timeout_s=30)
    except Exception:
        ops.stop()
        raise
    return ops


def _login_json(page, user: str, password: str) -> None:
    resp = context_post(page.context, page.cc_base_url, "/auth/login", headers={"Content-Type": "application/json"},
                        data=json.dumps({"username": user, "password": password}))
    assert resp.ok


def take_screenshots(out_dir: Path | None = None) -> list[Path]:
    """Officer view with alarms (1920×1080, 3840×2160), the dispatch dialog, the field page (390×844)."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    out = out_dir or ROOT / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="cc-ops-shots-") as tmp:
        ops = start_ops_stack(Path(tmp), n_stations=60, seed=11)
        live, stack = ops.live, ops.stack
        try:
            built = stack.built()
            # a mix of live alarms
            live.inject(built[2].station_id, "fire")
            live.inject(built[5].station_id, "overheat")
            live.set_value(f"{built[7].station_id}-D1", "dew_point_c", 14.5)
            live.inject(built[9].station_id, "intrusion")
            live.inject(built[11].station_id, "comm_loss")
            live.set_value(f"{built[13].station_id}-C1", "run_state", 3)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                # field engineer's phone first: an order arrives
                page = new_page(browser, stack.url, "duty")
                page.goto(stack.url)
                page.wait_for_selector(".cc-conn-live, .cc-conn-stale", timeout=20_000)
                wait_for(lambda: page.locator(".cc-al-row[data-alarm-id]").count() >= 5, 40, "alarms on screen")
                # dispatch two orders so the work-order tab and the field page have content
                for _ in range(2):
                    page.locator(".cc-al-btn-disp").first.click()
                    page.wait_for_selector("#dispatch-dialog:not(.cc-modal-hidden) .cc-cand", timeout=10_000)
                    page.locator("#dispatch-confirm").click()
                    page.wait_for_selector("#dispatch-msg .cc-msg-ok", timeout=10_000)
                    page.locator("#dispatch-cancel").click()
                    page.wait_for_selector("#dispatch-dialog.cc-modal-hidden", state="attached")
                # and two for the field engineer's phone: one assigned to E01 (engineer), one in the grab pool
                for body in ({"station_id": built[1].station_id, "engineer_id": "E01"},
                             {"station_id": built[3].station_id, "engineer_id": None}):
                    resp = context_post(page.context, stack.url, "/api/workorders", data=json.dumps(body),
                                        headers={"Content-Type": "application/json"})
                    assert resp.ok, resp.text()
                time.sleep(2)
                page.screenshot(path=str(out / "ops_officer_1920x1080.png"))
                files.append(out / "ops_officer_1920x1080.png")
                page.locator(".cc-al-btn-disp").first.click()
                page.wait_for_selector("#dispatch-dialog:not(.cc-modal-hidden) .cc-cand", timeout=10_000)
                time.sleep(0.6)
                page.screenshot(path=str(out / "ops_dispatch_dialog_1920x1080.png"))
                files.append(out / "ops_dispatch_dialog_1920x1080.png")
                page.context.close()

                wall = new_page(browser, stack.url, "duty", width=3840, height=2160)
                wall.goto(stack.url)
                wall.wait_for_selector(".cc-conn-live, .cc-conn-stale", timeout=20_000)
                wait_for(lambda: wall.locator(".cc-al-row[data-alarm-id]").count() >= 5, 40, "alarms on the wall")
                wall.locator("#dock-tab-orders").click()
                time.sleep(1.5)
                wall.locator("#dock-tab-alarms").click()
                wall.locator(".cc-al-main").first.click()
                wall.wait_for_selector("#site-panel:not(.cc-hidden)")
                wall.locator("#site-video").click()
                wall.wait_for_selector("#cam-panel:not(.cc-cam-hidden) img", timeout=10_000)
                time.sleep(3)
                wall.screenshot(path=str(out / "ops_officer_3840x2160.png"))
                files.append(out / "ops_officer_3840x2160.png")
                wall.context.close()

                phone = new_page(browser, stack.url, "engineer", width=390, height=844, is_mobile=True,
                                 has_touch=True, device_scale_factor=2)
                phone.goto(stack.url + "/field/")
                phone.wait_for_selector(".cc-fc, .cc-f-empty", timeout=20_000)
                time.sleep(1.5)
                phone.screenshot(path=str(out / "ops_field_390x844.png"))
                files.append(out / "ops_field_390x844.png")
                phone.context.close()
                browser.close()
        finally:
            ops.stop()
    return files


if __name__ == "__main__":  # pragma: no cover
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["serve", "screenshots"])
    ap.add_argument("--stations", type=int, default=24)
    args = ap.parse_args()
    if args.what == "screenshots":
        for f in take_screenshots():
            print(f)
    else:
        import shutil  # noqa: PLC0415
        import signal  # noqa: PLC0415

        signal.signal(signal.SIGTERM, lambda *_a: (_ for _ in ()).throw(KeyboardInterrupt()))
        tmp_dir = Path(tempfile.mkdtemp(prefix="cc-ops-"))
        running = start_ops_stack(tmp_dir, n_stations=args.stations)
        print(running.url, flush=True)
        print(f"REDIS_URL={running.stack.redis_url}  (python -m dashboard fault <station> fire)", flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            running.stop()
            shutil.rmtree(tmp_dir, ignore_errors=True)
