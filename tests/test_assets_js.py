"""The browser module's structure (issue 13 item 3), checked on the text of ``assets/*.js`` — no browser.

* every shared helper (``tr``, ``pad``, ``hms``, ``num``, ``esc``, ``age``, ``beep``, ``triggered``, ``noUpdate``) is
  defined in one file only (the core, ``assets/cc.js``);
* no file assigns a ``window.<name>`` global other than ``window.cc`` and Dash's ``window.dash_clientside``
  (and those only in the core);
* no colour literal of the vocabulary (:func:`ops.vocab.browser_vocab`) appears in a JS file: colours reach the
  browser as data (``<script id="cc-vocab">``);
* the core sorts first (Dash serves assets in name order) and the field app loads it;
* every ``cc.draw`` function Python names (:data:`layers.draw.DRAW`) is defined in ``assets/``.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from ops.vocab import browser_vocab

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets"
CORE = "cc.js"
HELPERS = ("tr", "pad", "hms", "num", "esc", "age", "beep", "triggered", "noUpdate")
ALLOWED_GLOBALS = {"cc", "dash_clientside"}


def _js_files() -> dict[str, str]:
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted(ASSETS.glob("*.js"))}
    assert CORE in files, "assets/cc.js (the browser core) is missing"
    return files


def _strip_comments(src: str) -> str:
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    return re.sub(r"(?m)(^|[^:\"'\\])//.*$", r"\1", src)


def _definitions(src: str, name: str) -> int:
    """How often ``name`` is defined as a function or a variable (``function x(``, ``var/let/const x =``)."""
    pat = rf"\bfunction\s+{name}\s*\(|\b(?:var|let|const)\s+{name}\s*=|(?:^|[,{{]\s*)\b(?:var|let|const)?\s*{name}\s*=\s*function"
    return len(re.findall(pat, src, flags=re.M))


@pytest.mark.parametrize("name", HELPERS)
def test_each_helper_is_defined_in_one_file(name):
    where = [f for f, src in _js_files().items() if _definitions(_strip_comments(src), name)]
    assert len(where) <= 1, f"{name}() is defined in {where}: define it once in assets/{CORE}, use cc.{name}"
    for f, src in _js_files().items():
        assert _definitions(_strip_comments(src), name) <= 1, f"{name} defined more than once in {f}"


def test_only_the_allowed_window_globals_are_assigned():
    for f, src in _js_files().items():
        code = _strip_comments(src)
        assigned = set(re.findall(r"\bwindow\.(\w+)\s*=(?!=)", code))
        assigned |= set(re.findall(r"\bwindow\[\s*[\"'](\w+)[\"']\s*\]\s*=(?!=)", code))
        if re.search(r"Object\.assign\(\s*window\s*,", code):
            assigned.add("<Object.assign(window, …)>")
        bad = assigned - ALLOWED_GLOBALS
        assert not bad, f"{f} assigns window globals {sorted(bad)}: put them under window.cc"
        if f != CORE:
            assert not assigned, f"{f} assigns {sorted(assigned)}: only assets/{CORE} creates globals"


def _vocab_colours() -> set[str]:
    colours: set[str] = set()

    def walk(v):
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, str) and re.fullmatch(r"#[0-9a-fA-F]{3,8}", v):
            colours.add(v.lower())

    walk(browser_vocab())
    return colours


def test_no_vocabulary_colour_is_copied_into_js():
    colours = _vocab_colours()
    assert len(colours) >= 5, "the vocabulary names its colours"
    for f, src in _js_files().items():
        found = {c.lower() for c in re.findall(r"#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b", src)} & colours
        assert not found, f"{f} copies vocabulary colours {sorted(found)}: read them from cc.vocab"


def test_core_loads_first_and_on_the_field_page():
    assert sorted(_js_files())[0] == CORE  # Dash serves assets/ in name order
    from dashboard.pages import field

    pattern = re.search(r'assets_ignore=r"([^"]+)"', Path(field.__file__).read_text(encoding="utf-8")).group(1)
    ignore = re.compile(pattern)
    assert not ignore.search(CORE) and not ignore.search("cc_field.js")
    assert ignore.search("cc_alarms.js") and ignore.search("cc_theme.css")


def test_every_drawing_function_named_from_python_exists():
    from layers.draw import DRAW

    assert DRAW("stationPoint") == {"variable": "cc.draw.stationPoint"}
    defined: set[str] = set()
    for src in _js_files().values():
        for block in re.findall(r"Object\.assign\(cc\.draw,\s*\{(.*?)\}\)", src, flags=re.S):
            defined |= set(re.findall(r"(\w+)\s*:", block))
    used: set[str] = set()
    for py in [*ROOT.glob("layers/*.py"), *ROOT.glob("dashboard/pages/*.py"), *ROOT.glob("callbacks/*.py")]:
        used |= set(re.findall(r'\bDRAW\("(\w+)"\)', py.read_text(encoding="utf-8")))
    assert used, "Python names drawing functions through layers.draw.DRAW"
    assert used <= defined, f"cc.draw functions used from Python but not defined in assets/: {sorted(used - defined)}"


def _node_eval(expr_js: str, catalog: dict | None = None):
    """Evaluate ``expr_js`` (a JSON-able expression over ``cc``) after loading ``assets/cc.js`` in Node with a
    minimal page: the vocabulary script element holding :func:`browser_vocab` and an i18n catalog."""
    import json
    import shutil
    import subprocess

    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        pytest.skip("node is not installed")
    page = f"""
        globalThis.window = globalThis;
        const vocabText = {json.dumps(json.dumps(browser_vocab()))};
        globalThis.document = {{documentElement: {{lang: "zh-CN"}}, addEventListener() {{}},
            getElementById: (id) => id === "cc-vocab" ? {{textContent: vocabText}} : null}};
        window.ccI18n = {{catalog: {json.dumps(catalog or {})}}};
        require({json.dumps(str(ASSETS / CORE))});
        process.stdout.write(JSON.stringify({expr_js}));
    """
    out = subprocess.run([node, "-e", page], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_core_draws_the_vocabulary_as_python_defines_it():
    """cc.countdown is ops.vocab.format_countdown; colours, numerals and labels come from cc.vocab."""
    from ops.vocab import SEVERITY_ROMAN, format_countdown, station_colour

    cases = [0, 59_999, 60_000, 3_599_000, 3_600_000, 5_400_000, -1, -5_400_000, -59_000, 86_400_000 * 2 + 61_000]
    js = _node_eval("[" + ",".join(f"cc.countdown({ms}, 'zh')" for ms in cases) + "]")
    assert js == [format_countdown(ms, "zh") for ms in cases]
    got = _node_eval("[['running', 'alarm', 'not_built', 'no-such'].map(cc.stateColour), [1, 2, 3, 4].map(cc.sevRoman),"
                     " cc.stateLabel('alarm', 'en'), cc.orderStateLabel('on_site', 'zh'), cc.alarmOpen('closed'),"
                     " cc.alarmOpen('active')]",
                     catalog={"zh": {"wo.state.on_site": "已到场"}, "en": {"state.alarm": "Alarm"}})
    assert got[0] == [station_colour(s) for s in ("running", "alarm", "not_built", "no-such")]
    assert got[1] == [SEVERITY_ROMAN[k] for k in (1, 2, 3, 4)]
    assert got[2:] == ["Alarm", "已到场", False, True]
