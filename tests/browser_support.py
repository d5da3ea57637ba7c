"""Fixtures and helpers for the web and browser tests: a small hand-built fleet, bus readings, the real web process
and a Playwright Chromium page.

Use from a test module::

    from tests.browser_support import cc_browser, cc_page, fleet, web_stack  # noqa: F401  (pytest fixtures)

    def test_something(web_stack, cc_page):
        web_stack.publish([reading_for(spec) for spec in web_stack.built()])
        cc_page.goto(web_stack.url)

Logins: the stack seeds the demo users (:data:`DEMO_PASSWORDS`); ``cc_page`` is signed in as the duty officer (a
module may define a ``cc_user`` fixture naming another demo user); a second session: ``new_page(cc_browser, web_stack.url, "engineer")``,
or ``login(page, user)`` on any page.

Overriding: a module that defines its own ``fleet`` fixture (a list of :class:`StationSpec`) gets a stack with that
fleet; ``web_stack_env`` (a dict) adds environment variables to the web process. ``WebStack.env`` is the environment
(``REDIS_URL``, ``DATABASE_URL``, ``CC_DATA_DIR``) to hand to extra processes — e.g. the Modbus simulator and
poller — so they share the stack's bus and database. :func:`start_web_stack` / :meth:`WebStack.stop` do the same
outside pytest.

Screenshots: ``python -m tests.browser_support screenshots [--stations 200]`` starts a stack with a live feeder and
writes ``screenshots/command_center_{1920x1080,3840x2160}.png``.
"""
from __future__ import annotations

import math
import os
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from dashboard.auth.core import seed_demo_users
from datasources.bus.messages import DeviceReading, StationReading, now_ms, write_cycle
from datasources.sql.db import make_engine, migrate
from datasources.sql.fleet_spec import DeviceSpec, StationSpec
from datasources.bus.redis_server import EmbeddedRedis, free_port
from datasources.sql.repository import save_fleet
from ops.station_state import summarise

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

# (city adcode, province adcode, name_zh, name_en, lon, lat) — WGS-84, approximate city centres
CITIES = [
    ("110100", "110000", "北京", "Beijing", 116.40, 39.90), ("120100", "120000", "天津", "Tianjin", 117.20, 39.08),
    ("310100", "310000", "上海", "Shanghai", 121.47, 31.23), ("500100", "500000", "重庆", "Chongqing", 106.55, 29.56),
    ("130100", "130000", "石家庄", "Shijiazhuang", 114.51, 38.04), ("130200", "130000", "唐山", "Tangshan", 118.18, 39.63),
    ("140100", "140000", "太原", "Taiyuan", 112.55, 37.87), ("150200", "150000", "包头", "Baotou", 109.84, 40.66),
    ("210100", "210000", "沈阳", "Shenyang", 123.43, 41.80), ("210200", "210000", "大连", "Dalian", 121.61, 38.91),
    ("220100", "220000", "长春", "Changchun", 125.32, 43.82), ("230100", "230000", "哈尔滨", "Harbin", 126.53, 45.80),
    ("320100", "320000", "南京", "Nanjing", 118.80, 32.06), ("320500", "320000", "苏州", "Suzhou", 120.58, 31.30),
    ("320200", "320000", "无锡", "Wuxi", 120.31, 31.49), ("330100", "330000", "杭州", "Hangzhou", 120.16, 30.27),
    ("330200", "330000", "宁波", "Ningbo", 121.55, 29.87), ("340100", "340000", "合肥", "Hefei", 117.23, 31.82),
    ("350100", "350000", "福州", "Fuzhou", 119.30, 26.08), ("350200", "350000", "厦门", "Xiamen", 118.09, 24.48),
    ("360100", "360000", "南昌", "Nanchang", 115.86, 28.68), ("370100", "370000", "济南", "Jinan", 117.12, 36.65),
    ("370200", "370000", "青岛", "Qingdao", 120.38, 36.07), ("410100", "410000", "郑州", "Zhengzhou", 113.63, 34.75),
    ("420100", "420000", "武汉", "Wuhan", 114.31, 30.59), ("430100", "430000", "长沙", "Changsha", 112.94, 28.23),
    ("440100", "440000", "广州", "Guangzhou", 113.26, 23.13), ("440300", "440000", "深圳", "Shenzhen", 114.06, 22.54),
    ("441900", "440000", "东莞", "Dongguan", 113.75, 23.02), ("450100", "450000", "南宁", "Nanning", 108.37, 22.82),
    ("460100", "460000", "海口", "Haikou", 110.20, 20.04), ("510100", "510000", "成都", "Chengdu", 104.07, 30.57),
    ("520100", "520000", "贵阳", "Guiyang", 106.63, 26.65), ("530100", "530000", "昆明", "Kunming", 102.83, 24.88),
    ("610100", "610000", "西安", "Xi'an", 108.94, 34.34), ("620100", "620000", "兰州", "Lanzhou", 103.83, 36.06),
    ("630100", "630000", "西宁", "Xining", 101.78, 36.62), ("640100", "640000", "银川", "Yinchuan", 106.23, 38.49),
    ("540100", "540000", "拉萨", "Lhasa", 91.14, 29.65), ("650100", "650000", "乌鲁木齐", "Urumqi", 87.62, 43.83),
]
#: cities that get exactly one station, far from the others: always drawn as a single marker at national zoom
LONE_CITIES = ("540100", "650100")
PARTNERS = ("华东动力服务", "中联气体", "申能节能", "北方压缩机服务", "粤海能源", "西部机电运维")
KIND_CYCLE = ("smart_station", "smart_station", "standalone_module", "central_station", "smart_station")


def build_fleet(n: int = 24, seed: int = 7, port_base: int = 30000) -> list[StationSpec]:
    """``n`` stations across China (WGS-84), ids ``ST0001``…; most ``built`` with 2–3 compressors, a dryer,
    flow and power meters and a station I/O; the rest under construction / idle / maintenance (no devices).

    The stations of :data:`LONE_CITIES` come first (``ST0001`` Lhasa, ``ST0002`` Urumqi), one each.
    """
    rng = random.Random(seed)
    others = [c for c in CITIES if c[0] not in LONE_CITIES]
    lone = [c for c in CITIES if c[0] in LONE_CITIES]
    stations: list[StationSpec] = []
    port = port_base
    per_city: dict[str, int] = {}
    for i in range(n):
        city = lone[i] if i < len(lone) else others[(i - len(lone)) % len(others)]
        cadc, padc, cname, cname_en, lon, lat = city
        k = per_city[cadc] = per_city.get(cadc, 0) + 1
        if cadc in LONE_CITIES or i < len(lone):
            dlon = dlat = 0.0
        else:
            ang, rad = rng.uniform(0, 2 * math.pi), rng.uniform(0.05, 0.45)
            dlon, dlat = rad * math.cos(ang), rad * math.sin(ang) * 0.8
        sid = f"ST{i + 1:04d}"
        roll = rng.random() if i >= len(lone) else 0.0
        lifecycle = ("built" if roll < 0.8 else "under_construction" if roll < 0.88
                     else "idle" if roll < 0.94 else "maintenance")
        kind = KIND_CYCLE[i % len(KIND_CYCLE)]
        devices: list[DeviceSpec] = []
        if lifecycle == "built":
            n_comp = 3 if kind == "central_station" else 2
            for c in range(1, n_comp + 1):
                variable = c == 1 and kind != "standalone_module"
                devices.append(DeviceSpec(f"{sid}-C{c}", sid, "compressor",
                                          "cc-variable-speed-compressor" if variable else "cc-fixed-speed-compressor",
                                          "127.0.0.1", port, 1, rated_flow_m3_min=20.0 if variable else 16.0,
                                          rated_power_kw=110.0 if variable else 90.0,
                                          specific_power_kw_per_m3_min=5.5 if variable else 5.6))
                port += 1
            for suffix, dkind, model in (("D1", "dryer", "cc-refrigerated-dryer"),
                                         ("F1", "flow_meter", "cc-station-flow-meter"),
                                         ("P1", "power_meter", "cc-station-power-meter"),
                                         ("IO1", "station_io", "cc-station-io")):
                devices.append(DeviceSpec(f"{sid}-{suffix}", sid, dkind, model, "127.0.0.1", port, 1))
                port += 1
        stations.append(StationSpec(
            station_id=sid, name=f"{cname}{k}号空压站", name_en=f"{cname_en} Station {k}", kind=kind,
            lifecycle=lifecycle, lon=round(lon + dlon, 5), lat=round(lat + dlat, 5), province_adcode=padc,
            city_adcode=cadc, capacity_m3_min=float(sum(d.rated_flow_m3_min for d in devices) or 40.0),
            partner=PARTNERS[i % len(PARTNERS)], devices=tuple(devices)))
    return stations


def reading_for(spec: StationSpec, *, state: str = "running", ts_ms: int | None = None, seq: int = 0,
                values: dict[str, dict] | None = None, rng: random.Random | None = None) -> StationReading:
    """A plausible poll cycle of a built station, summarised by :func:`ops.station_state.summarise`.

    Args:
        state: ``running`` (first compressor loaded), ``idle`` (all unloaded), ``alarm`` (fire input on) or
            ``offline`` (no device answers).
        values: ``{device_id: {name: value}}`` overrides.
        rng: adds noise when given (live feeder); deterministic otherwise.
    """
    ts = ts_ms or now_ms()
    noise = (lambda a: rng.uniform(-a, a)) if rng else (lambda a: 0.0)
    devs: list[DeviceReading] = []
    flow_total = power_total = 0.0
    for d in spec.devices:
        online = state != "offline"
        v: dict = {}
        if online and d.kind == "compressor":
            loaded = state in ("running", "alarm") and (d.device_id.endswith("C1") or bool(rng and rng.random() < 0.5))
            flow = round(d.rated_flow_m3_min * (0.85 + noise(0.1)), 2) if loaded else 0.0
            power = round(d.rated_power_kw * (0.92 + noise(0.05)) if loaded else d.rated_power_kw * 0.25, 1)
            flow_total += flow
            power_total += power
            v = {"discharge_pressure_mpa": round(0.68 + noise(0.02), 3), "discharge_temp_c": round(82.0 + noise(4), 1),
                 "flow_m3_min": flow, "power_kw": power, "energy_kwh": 152340.5, "air_volume_m3": 9876543,
                 "run_state": 2 if loaded else 1, "running_hours_h": 12034.5, "loaded_hours_h": 10112.0,
                 "fault_code": 0, "remote_mode": 1, "run_command": 1, "load_enable": 1}
            if d.model == "cc-variable-speed-compressor":
                v["speed_pct"] = round(78.0 + noise(8), 1) if loaded else 0.0
                v["target_pressure_mpa"] = 0.7
            else:
                v["load_pressure_mpa"], v["unload_pressure_mpa"] = 0.65, 0.75
        elif online and d.kind == "dryer":
            v = {"dew_point_c": round(3.2 + noise(0.5), 1), "inlet_temp_c": round(38.0 + noise(2), 1),
                 "power_kw": 4.2, "run_state": 2, "fault_code": 0}
        elif online and d.kind == "flow_meter":
            v = {"flow_m3_min": None, "total_m3": 45678901, "pressure_mpa": round(0.65 + noise(0.01), 3),
                 "temperature_c": round(35.0 + noise(1), 1)}
        elif online and d.kind == "power_meter":
            v = {"power_kw": None, "energy_kwh": 2345678.9, "voltage_v": round(380.0 + noise(3), 1),
                 "current_a": 180.0, "power_factor": 0.93, "reactive_power_kvar": 32.5}
        elif online and d.kind == "station_io":
            v = {"fire": 1 if state == "alarm" else 0, "flood": 0, "intrusion": 0, "door_open": 0, "occupancy": 0,
                 "room_temp_c": round(26.0 + noise(2), 1)}
        devs.append(DeviceReading(device_id=d.device_id, kind=d.kind, model=d.model, online=online, ts_ms=ts,
                                  values=v, error=None if online else "timeout"))
    # meters read what the compressors deliver / draw (plus the dryer)
    for dev in devs:
        if dev.online and dev.kind == "flow_meter":
            dev.values["flow_m3_min"] = round(flow_total, 2)
        if dev.online and dev.kind == "power_meter":
            dev.values["power_kw"] = round(power_total + 4.2, 1)
    for dev in devs:
        for name, val in (values or {}).get(dev.device_id, {}).items():
            dev.values[name] = val
    summary = summarise(spec.lifecycle, devs, ts)
    return StationReading(station_id=spec.station_id, ts_ms=ts, devices=devs, summary=summary, seq=seq)


# ---------------------------------------------------------------------------------------------- the web process
@dataclass
class WebStack:
    """A running web process with its private Redis and SQLite database."""

    url: str
    port: int
    redis_url: str
    database_url: str
    data_dir: Path
    fleet: list[StationSpec]
    env: dict[str, str]
    proc: subprocess.Popen | None = None
    redis_server: EmbeddedRedis | None = None
    log_path: Path | None = None
    extra: list[subprocess.Popen] = field(default_factory=list)

    @property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url)

    def built(self) -> list[StationSpec]:
        return [s for s in self.fleet if s.lifecycle == "built"]

    def station(self, station_id: str) -> StationSpec:
        return next(s for s in self.fleet if s.station_id == station_id)

    def publish(self, readings) -> int:
        """Write poll-cycle results through the real bus (:func:`datasources.bus.messages.write_cycle`)."""
        client = self.redis
        try:
            return write_cycle(client, list(readings))
        finally:
            client.close()

    def get_json(self, path: str, timeout: float = 5.0):
        import json  # noqa: PLC0415

        with urllib.request.urlopen(self.url.rstrip("/") + path, timeout=timeout) as resp:
            return json.loads(resp.read())

    def spawn(self, args: list[str], **kwargs) -> subprocess.Popen:
        """Start an extra process (e.g. simulator, poller) with the stack's environment; stopped with the stack."""
        proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, **self.env}, **kwargs)
        self.extra.append(proc)
        return proc

    def stop_web(self) -> None:
        """Stop only the web process (Redis, database and extra processes keep running)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def start_web(self) -> None:
        """(Re)start the web process on the same port with the same environment and wait for health."""
        self.stop_web()
        self.proc = _spawn_web(self.env, self.log_path)
        wait_for_health(self.url, proc=self.proc)

    def log_tail(self, n: int = 60) -> str:
        if self.log_path and self.log_path.exists():
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        return ""

    def stop(self) -> None:
        for proc in [*self.extra, self.proc]:
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self.redis_server is not None:
            self.redis_server.stop()


def wait_for_health(url: str, timeout_s: float = 30.0, proc: subprocess.Popen | None = None) -> dict:
    """Poll ``/api/health`` until it answers 200; raise with the last error otherwise."""
    import json  # noqa: PLC0415

    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"web process exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url.rstrip("/") + "/api/health", timeout=2) as resp:
                if resp.status == 200:
                    return json.loads(resp.read())
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url}/api/health not healthy after {timeout_s} s: {last}")


def _spawn_web(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    code = "import logging; logging.basicConfig(level=logging.INFO); from dashboard.web.server import serve; serve()"
    with open(log_path, "ab") as log_file:
        return subprocess.Popen([PYTHON, "-c", code], cwd=ROOT, env={**os.environ, **env}, stdout=log_file,
                                stderr=subprocess.STDOUT)


def start_web_stack(fleet: list[StationSpec], workdir: Path, *, redis_url: str | None = None,
                    extra_env: dict[str, str] | None = None, port: int | None = None) -> WebStack:
    """Migrate a SQLite database under ``workdir``, save ``fleet``, start a private Redis (unless ``redis_url``)
    and the web process (``dashboard.web.server.serve``) on a free port; wait for ``/api/health``."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    database_url = f"sqlite:///{workdir / 'cc.db'}"
    migrate(database_url)
    engine = make_engine(database_url)
    save_fleet(engine, fleet, replace=True)
    seed_demo_users(engine)  # one login per role (tests log in with DEMO_PASSWORDS)
    engine.dispose()
    server = None
    if redis_url is None:
        server = EmbeddedRedis().start()
        redis_url = server.url
    port = port or free_port()
    # CC_DATA_DIR holds geo.regions' disk cache (~20 s to build once): share the project's data dir by default
    data_dir = os.environ.get("CC_TEST_DATA_DIR") or str(ROOT / "data")
    env = {"REDIS_URL": redis_url, "DATABASE_URL": database_url, "CC_DATA_DIR": data_dir, "PORT": str(port),
           "CC_HOST": "127.0.0.1", "CC_FLUSH_MS": "250", "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    log_path = workdir / "web.log"
    proc = _spawn_web(env, log_path)
    url = f"http://127.0.0.1:{port}"
    stack = WebStack(url=url, port=port, redis_url=redis_url, database_url=database_url, data_dir=workdir,
                     fleet=list(fleet), env=env, proc=proc, redis_server=server, log_path=log_path)
    try:
        wait_for_health(url, proc=proc)
    except Exception:
        tail = stack.log_tail()
        stack.stop()
        raise RuntimeError(f"web process did not come up; log tail:\n{tail}") from None
    return stack


class LiveFeeder:
    """Publishes a poll cycle for every built station every ``interval_s`` (noisy values) until stopped."""

    def __init__(self, stack: WebStack, interval_s: float = 1.0, seed: int = 1, states: dict[str, str] | None = None,
                 churn: float = 0.0):
        self.stack, self.interval_s = stack, interval_s
        self.rng = random.Random(seed)
        self.states = dict(states or {})
        self.churn = churn  # per cycle: probability that one station changes state (screenshots, demos)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "LiveFeeder":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        seq = 0
        client = self.stack.redis
        while not self._stop.is_set():
            seq += 1
            ts = now_ms()
            if self.churn and self.rng.random() < self.churn:
                sid = self.rng.choice(self.stack.built()).station_id
                self.states[sid] = self.rng.choices(["running", "idle", "alarm", "offline"], [60, 20, 10, 10])[0]
            write_cycle(client, [reading_for(s, state=self.states.get(s.station_id, "running"), ts_ms=ts, seq=seq,
                                             rng=self.rng) for s in self.stack.built()])
            self._stop.wait(self.interval_s)


# ---------------------------------------------------------------------------------------------- pytest fixtures
@pytest.fixture(scope="module")
def fleet() -> list[StationSpec]:
    """The stack's fleet; override in a test module for another one."""
    return build_fleet(24)


@pytest.fixture(scope="module")
def web_stack_env() -> dict[str, str]:
    """Extra environment of the web process; override in a test module."""
    return {}


@pytest.fixture(scope="module")
def web_stack(fleet, web_stack_env, tmp_path_factory):
    stack = start_web_stack(fleet, tmp_path_factory.mktemp("web"), extra_env=web_stack_env)
    yield stack
    stack.stop()


_CHROMIUM: dict = {}  # the Playwright + Chromium of the browser test module that runs now


def _shared_chromium():
    """The process's Chromium, started on first use; :func:`_stop_chromium` stops it. While a sync Playwright is
    alive it marks its asyncio loop as running in this thread, so ``asyncio.run`` (poller, simulator and bus tests)
    fails until it is stopped: :func:`cc_browser` therefore lives for one module only."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    if "browser" not in _CHROMIUM or not _CHROMIUM["browser"].is_connected():
        if "pw" not in _CHROMIUM:
            _CHROMIUM["pw"] = sync_playwright().start()
        _CHROMIUM["browser"] = _CHROMIUM["pw"].chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                                               headless=True)
    return _CHROMIUM["browser"]


def _stop_chromium() -> None:
    browser, pw = _CHROMIUM.pop("browser", None), _CHROMIUM.pop("pw", None)
    try:
        if browser is not None and browser.is_connected():
            browser.close()
    finally:
        if pw is not None:
            pw.stop()


@pytest.fixture(scope="module")
def cc_browser():
    """Headless Chromium for one test module; stopped at the module's end (see :func:`_shared_chromium`)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make test`, which installs Debian's chromium")
    yield _shared_chromium()
    _stop_chromium()


#: the demo logins of :data:`dashboard.auth.core.DEMO_USERS` (README "Demo users")
DEMO_PASSWORDS = {"leader": "Leader#2026", "duty": "Duty#2026", "engineer": "Field#2026", "admin": "Admin#2026"}


def login(page, user: str = "duty", password: str | None = None, base_url: str | None = None) -> dict:
    """Sign ``page``'s browser context in (``POST /auth/login`` through the context's request API, so the session
    cookie lands in the context). ``base_url`` defaults to the stack the page was made for (``page.cc_base_url``).
    Returns the user dict."""
    import json  # noqa: PLC0415

    from tests.http_support import context_post  # noqa: PLC0415

    base = (base_url or getattr(page, "cc_base_url", "")).rstrip("/")
    resp = context_post(page.context, base, "/auth/login", headers={"Content-Type": "application/json"},
                        data=json.dumps({"username": user, "password": password or DEMO_PASSWORDS[user]}))
    assert resp.ok, f"login of {user} failed: {resp.status} {resp.text()}"
    return resp.json()["user"]


def new_page(browser, base_url: str, user: str | None = "duty", *, width: int = 1920, height: int = 1080,
             locale: str = "zh-CN", **context_kw):
    """A page in a fresh browser context, signed in as ``user`` (``None``: anonymous); console errors are collected
    in ``page.cc_errors``; ``page.cc_base_url`` is ``base_url``. Close it with ``page.context.close()``."""
    context = browser.new_context(viewport={"width": width, "height": height}, locale=locale, **context_kw)
    page = context.new_page()
    page.cc_base_url = base_url
    page.cc_errors = []
    page.on("console", lambda m: page.cc_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.cc_errors.append(str(e)))
    if user:
        login(page, user)
    return page


@pytest.fixture
def cc_page(cc_browser, web_stack, request):
    """A fresh 1920×1080 page signed in to ``web_stack`` as the duty officer — or as the demo user a test module's
    ``cc_user`` fixture names; console errors are collected in ``page.cc_errors``."""
    try:
        user = request.getfixturevalue("cc_user")
    except pytest.FixtureLookupError:
        user = "duty"
    page = new_page(cc_browser, web_stack.url, user)
    yield page
    page.context.close()


COUNT_JS = """() => {
    const markers = document.querySelectorAll('.leaflet-marker-pane .cc-st').length;
    let clustered = 0;
    document.querySelectorAll('.leaflet-marker-pane .cc-cl').forEach(el => { clustered += Number(el.dataset.count); });
    return {markers, clustered, total: markers + clustered};
}"""


def wait_map_ready(page, n_expected: int | None = None, timeout_ms: int = 20_000) -> None:
    """Wait until markers / clusters are drawn and, if given, account for exactly ``n_expected`` stations."""
    page.wait_for_selector(".cc-st, .cc-cl", timeout=timeout_ms)
    if n_expected is not None:
        page.wait_for_function(f"() => ({COUNT_JS})().total === {n_expected}", timeout=timeout_ms)


# ---------------------------------------------------------------------------------------------- screenshots
def take_screenshots(n_stations: int = 200, out_dir: Path | None = None) -> list[Path]:
    """Start a stack with ``n_stations``, feed it live, and screenshot 1920×1080 and 3840×2160 (with a site panel
    open on the second); returns the files."""
    import tempfile  # noqa: PLC0415

    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    out_dir = out_dir or ROOT / "screenshots"
    out_dir.mkdir(parents=True, exist_ok=True)
    fleet = build_fleet(n_stations, seed=11)
    built = [s for s in fleet if s.lifecycle == "built"]
    rng = random.Random(5)
    states = {s.station_id: rng.choices(["running", "idle", "alarm", "offline"], [80, 12, 3, 5])[0] for s in built}
    states[built[0].station_id] = "alarm"
    files = []
    with tempfile.TemporaryDirectory(prefix="cc-shots-") as tmp:
        stack = start_web_stack(fleet, Path(tmp))
        feeder = LiveFeeder(stack, states=states, churn=0.9).start()
        try:
            time.sleep(1.5)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for (w, h), lang, panel in (((1920, 1080), "zh", False), ((3840, 2160), "zh", True),
                                            ((1920, 1080), "en", True)):
                    page = new_page(browser, stack.url, "duty", width=w, height=h)
                    page.goto(f"{stack.url}/?lang={lang}")
                    page.wait_for_selector(".cc-conn-live, .cc-conn-stale", timeout=20_000)
                    page.wait_for_selector(".cc-st, .cc-cl", timeout=20_000)
                    if panel:
                        page.locator(".cc-attn-row").first.click()
                        page.wait_for_selector("#site-panel:not(.cc-hidden)")
                        page.wait_for_function("() => document.querySelectorAll('[data-dv]').length > 0 && "
                                               "[...document.querySelectorAll('[data-dv]')].some(e => e.textContent !== '—')")
                    time.sleep(6)  # let a few live events arrive
                    path = out_dir / f"command_center_{w}x{h}_{lang}{'_panel' if panel else ''}.png"
                    page.screenshot(path=str(path), animations="disabled", timeout=90_000)
                    files.append(path)
                    page.context.close()
                browser.close()
        finally:
            feeder.stop()
            stack.stop()
    return files


if __name__ == "__main__":  # pragma: no cover
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["screenshots", "serve"])
    ap.add_argument("--stations", type=int, default=200)
    args = ap.parse_args()
    if args.what == "screenshots":
        for f in take_screenshots(args.stations):
            print(f)
    else:
        import tempfile

        tmp = Path(tempfile.mkdtemp(prefix="cc-serve-"))
        stk = start_web_stack(build_fleet(args.stations, seed=11), tmp)
        LiveFeeder(stk).start()
        print(stk.url, flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            stk.stop()
