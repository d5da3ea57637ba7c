"""One rule, one place (issue 13) for what the browser draws: colours and the rules once copied into ``assets/``.

* no colour of the vocabulary (:func:`ops.vocab_css.vocab_colours`: station states, severities, work orders, pipes,
  shop grades) appears literally in ``assets/*.css`` — neither as ``#rrggbb`` / ``#rgb`` nor as an ``rgb[a](r, g, b``
  triple; the stylesheets use ``var(--cc-…)``, and every ``--cc-…`` they use is one the server emits;
* every page (officer, field, admin) carries ``<style id="cc-vocab-css">`` with the custom properties;
* the rules the JS once held are server flags or vocabulary data: ``emergency`` / ``opens_camera`` on alarm payloads,
  ``station_attention_states`` in the vocabulary, ``lost_after_s`` (3 × ``CC_FEED_HEARTBEAT_S``) on the feed
  heartbeat — and their JS copies are gone.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from ops import vocab
from ops.vocab_css import hex_rgb, vocab_colours, vocab_css, vocab_style_tag

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets"
T0 = 1_763_700_000_000


def _css_files() -> dict[str, str]:
    files = {p.name: re.sub(r"/\*.*?\*/", "", p.read_text(encoding="utf-8"), flags=re.S)
             for p in sorted(ASSETS.glob("*.css"))}
    assert files, "no stylesheet in assets/"
    return files


def _literal_patterns(colour: str) -> list[re.Pattern]:
    r, g, b = hex_rgb(colour)
    h = colour.lower().lstrip("#")
    pats = [re.compile(rf"#{h}(?![0-9a-f])", re.I),
            re.compile(rf"rgba?\(\s*{r}\s*,\s*{g}\s*,\s*{b}\s*[,)]")]
    if h[0] == h[1] and h[2] == h[3] and h[4] == h[5]:
        pats.append(re.compile(rf"#{h[0]}{h[2]}{h[4]}(?![0-9a-f])", re.I))
    return pats


def test_no_vocabulary_colour_is_copied_into_css():
    colours = sorted(set(vocab_colours().values()))
    found = []
    for name, src in _css_files().items():
        for colour in colours:
            for pat in _literal_patterns(colour):
                found += [f"{name}: {m.group(0)} (ops/vocab.py {colour})" for m in pat.finditer(src)]
    assert not found, "vocabulary colours copied into CSS (use var(--cc-…)):\n" + "\n".join(found)


def test_the_literal_check_catches_a_copy():
    sample = ".x { color: #FF3B4E; } .y { background: rgba(34, 211, 122, 0.3); } .z { color: #ff3b4e80; }"
    hits = [m.group(0) for c in ("#ff3b4e", "#22d37a") for p in _literal_patterns(c) for m in p.finditer(sample)]
    assert hits == ["#FF3B4E", "rgba(34, 211, 122,"]


def test_every_vocabulary_property_the_css_uses_is_emitted():
    emitted = set(vocab_colours()) | {f"{k}-rgb" for k in vocab_colours()}
    used = {(name, m.group(1)) for name, src in _css_files().items()
            for m in re.finditer(r"var\(\s*(--cc-[\w-]+)", src)}
    assert used, "the stylesheets use no vocabulary colour"
    unknown = sorted(f"{name}: {prop}" for name, prop in used if prop not in emitted)
    assert not unknown, "custom properties no server emits:\n" + "\n".join(unknown)


def test_the_emitted_properties_are_the_vocabulary_colours():
    css = vocab_css()
    assert css.startswith(":root{") and css.endswith("}") and "<" not in css
    decls = dict(d.split(":", 1) for d in css[len(":root{"):-1].split(";"))
    for state, s in vocab.STATION_STATE_DEFS.items():
        assert decls[f"--cc-state-{state}"] == s.colour
        assert decls[f"--cc-state-{state}-rgb"] == ", ".join(map(str, hex_rgb(s.colour)))
    for s in vocab.SEVERITIES.values():
        assert decls[f"--cc-sev-{s.roman}"] == s.colour
    for status, style in vocab.PIPE_STYLES.items():
        assert decls[f"--cc-pipe-{status}"] == style["color"]
    assert decls["--cc-shop-none"] == vocab.SHOP_GRADE_COLOURS[None]
    assert decls["--cc-order-overdue"] == vocab.ORDER_OVERDUE_COLOUR
    assert hex_rgb("#fa0") == (255, 170, 0)
    with pytest.raises(ValueError):
        hex_rgb("red")


def test_index_with_vocab_places_the_style_next_to_the_script():
    out = vocab.index_with_vocab("<html><body>{%app_entry%}</body></html>")
    assert out.count('id="cc-vocab-css"') == 1
    assert out.index('id="cc-vocab"') < out.index('id="cc-vocab-css"') < out.index("{%app_entry%}")
    assert vocab_style_tag() in out


def test_pages_carry_the_vocabulary_css(database_url, redis_url, tmp_path):
    from dashboard.auth.core import seed_demo_users
    from dashboard.web.app import create_app
    from datasources.settings import Settings
    from datasources.sql.db import make_engine, migrate

    migrate(database_url)
    engine = make_engine(database_url)
    seed_demo_users(engine)
    settings = Settings(data_dir=tmp_path, redis_url=redis_url, database_url=database_url)
    app, _socketio = create_app(settings, engine=engine, redis_url=redis_url, start_bridge=False)
    tag = vocab_style_tag()
    assert "--cc-state-running:#22d37a" in tag and "--cc-sev-I:#ff3b4e" in tag
    http = app.server.test_client()
    assert http.post("/auth/login", json={"username": "duty", "password": "Duty#2026"}).status_code == 200
    for path in ("/", "/admin/devices"):
        page = http.get(path, headers={"Accept": "text/html"})
        assert page.status_code in (200, 403), path
        assert tag in page.get_data(as_text=True), f"{path} lacks <style id=cc-vocab-css>"
    field = app.server.test_client()
    assert field.post("/auth/login", json={"username": "engineer", "password": "Field#2026"}).status_code == 200
    fpage = field.get("/field/", headers={"Accept": "text/html"})
    assert fpage.status_code == 200 and tag in fpage.get_data(as_text=True)
    engine.dispose()


# ---------------------------------------------------------------- rules: server flags, not JS copies


def _alarm(**kw):
    base = {"severity": 1, "active": True, "acknowledged": False, "shelved": False, "state": "active",
            "rule": "fire_alarm"}
    return {**base, **kw}


@pytest.mark.parametrize("alarm, expected", [
    (_alarm(), True),
    (_alarm(acknowledged=True, state="acknowledged"), True),   # acknowledged or not
    (_alarm(severity=2), False),
    (_alarm(active=False, state="cleared_unacknowledged"), False),
    (_alarm(shelved=True), False),
    (_alarm(state="closed"), False),
    (_alarm(severity=None), False),
])
def test_emergency_rule(alarm, expected):
    assert vocab.emergency(alarm) is expected


@pytest.mark.parametrize("rule, expected", [("fire_alarm", True), ("flood_alarm", True), ("intrusion_alarm", True),
                                            ("compressor_discharge_temp_high", False), (None, False)])
def test_camera_rule(rule, expected):
    assert vocab.opens_camera({"rule": rule}) is expected


def test_the_camera_rules_exist_in_the_rule_file():
    from ops.alarm_rules import load_rules

    ids = set(load_rules().by_id)
    assert set(vocab.CAMERA_OPEN_RULES) <= ids


def test_alarm_payloads_carry_emergency_and_camera_flags(database_url):
    from datasources.bus.messages import DeviceReading, StationReading, StationSummary
    from datasources.sql import alarm_store
    from datasources.sql.db import make_engine, migrate
    from datasources.sql.fleet_spec import StationSpec
    from datasources.sql.repository import save_fleet
    from ops.alarm_rules import Evaluator, load_rules

    migrate(database_url)
    engine = make_engine(database_url)
    save_fleet(engine, [StationSpec("ST00001", "苏州工业园空压站", "Suzhou SIP", "smart_station", "built", 120.62,
                                    31.32, "320000", "320500", 40.0, "华东压缩机服务")])
    io = DeviceReading(device_id="ST00001-IO", kind="station_io", model="cc-station-io", online=True, ts_ms=T0,
                       values={"fire": 1, "flood": 0, "intrusion": 0, "occupancy": 0})
    rd = StationReading(station_id="ST00001", ts_ms=T0, devices=[io],
                        summary=StationSummary(state="alarm", devices_online=1, devices_total=1, ts_ms=T0))
    alarm_store.apply_transitions(engine, Evaluator(load_rules()).evaluate(rd))
    fire = next(a for a in alarm_store.list_alarms(engine, station_id="ST00001", now=T0) if a["rule"] == "fire_alarm")
    assert fire["emergency"] is (fire["severity"] == 1) and fire["opens_camera"] is True
    shelved = alarm_store.shelve(engine, fire["id"], "duty", 3600, now=T0 + 1000)["alarm"]
    assert shelved["emergency"] is False and shelved["opens_camera"] is True
    engine.dispose()


def test_the_vocabulary_names_the_attention_states():
    v = vocab.browser_vocab()
    assert v["station_attention_states"] == ["alarm", "offline"]
    assert set(v["station_attention_states"]) <= set(v["station_states"])


def test_the_feed_heartbeat_carries_the_lost_limit():
    from dashboard.live.bridge import LiveBridge
    from datasources.settings import Settings

    bridge = LiveBridge.__new__(LiveBridge)  # feed_status only reads these attributes
    bridge.heartbeat_s = Settings().feed_heartbeat_s  # CC_FEED_HEARTBEAT_S, default 5 s
    bridge.connected, bridge.last_message_ms, bridge.stale_after_s = True, None, 30.0
    assert bridge.feed_status()["lost_after_s"] == 3 * bridge.heartbeat_s


def test_no_rule_copy_is_left_in_js():
    src = "\n".join(p.read_text(encoding="utf-8") for p in sorted(ASSETS.glob("*.js")))
    code = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    code = re.sub(r"(?m)(^|[^:\"'\\])//.*$", r"\1", code)
    for rule in vocab.CAMERA_OPEN_RULES:
        assert rule not in code, f"camera rule {rule} copied into JS"
    assert "HEARTBEAT_LOST_S" not in code
    assert not re.search(r'===\s*"alarm"\s*\|\|\s*\w+\s*===\s*"offline"', code), "attention states copied into JS"
    assert not re.search(r"severity\s*===\s*1\s*&&", code), "emergency rule copied into JS"
