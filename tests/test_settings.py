"""The one settings model (:mod:`datasources.settings`): defaults, typed parsing, the ``VARIABLE: reason`` error of a
bad value (or the wall's documented fallback), the README's Configuration table generated from the model, and a
scan of the product's source: no module but ``datasources/settings.py`` reads a product variable from the
environment."""
from __future__ import annotations

import ast
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask

from datasources.settings import ENV_NAMES, Settings, SettingsError, get_settings, load_settings, markdown_table

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("datasources", "dashboard", "layers", "callbacks", "ops", "geo", "i18n")
#: names of the product's own configuration (anything else — PATH, HOME, CI … — is not)
PRODUCT_VAR = re.compile(r"^(CC_\w+|REDIS_URL|DATABASE_URL|PORT|MQTT_\w+)$")


@pytest.fixture
def clean_env(monkeypatch):
    """No product variable set (the test process's own ``conftest`` settings removed too)."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_every_variable_is_one_field_with_a_description_and_a_unique_name():
    assert len(ENV_NAMES) >= 57 and all(PRODUCT_VAR.match(v) for v in ENV_NAMES)
    for var, name in ENV_NAMES.items():
        assert Settings.model_fields[name].description, var


def test_defaults(clean_env, tmp_path):
    clean_env.chdir(tmp_path)
    s = load_settings()
    assert s.data_dir == tmp_path.resolve() / "data" and s.database_url == f"sqlite:///{tmp_path.resolve()}/data/cc.db"
    assert s.redis_url is None and s.port == 8050 and s.host == "127.0.0.1" and s.poll_interval_s == 1.0
    assert (s.stations, s.seed, s.sim_host, s.sim_base_port, s.stream_maxlen) == (240, 42, "127.0.0.1", 15020, 200_000)
    assert s.simulator is True and s.secure_cookies is False and s.snapshot_schedule is True
    assert s.csp is None and s.trusted_proxies == 0 and s.recorder_shard == (0, 1) and s.profiles_dir is None
    assert s.tile_url is None and s.tile_crs == "WGS84" and s.tile_subdomains == "1234"


def test_defaults_agree_with_the_modules_that_use_them(clean_env):
    """Defaults also named in the modules that use them (tests and docs refer to those) must be the model's."""
    from dashboard.auth.ratelimit import DEFAULT_LOGIN_RATE
    from dashboard.cli import commands_seed, supervisor
    from dashboard.pages import wall
    from ops.energy import DEFAULT_MAX_GAP_S

    s = load_settings()
    assert s.login_rate_limit == DEFAULT_LOGIN_RATE and s.recorder_max_gap_s == DEFAULT_MAX_GAP_S
    assert (s.supervisor_healthy_s, s.supervisor_backoff_s, s.supervisor_backoff_max_s, s.supervisor_grace_s) == (
        supervisor.HEALTHY_S, supervisor.BACKOFF_INITIAL_S, supervisor.BACKOFF_MAX_S, supervisor.GRACE_S)
    assert s.wall_scenes == wall.DEFAULT_SCENES and s.wall_dwell_s == wall.DEFAULT_DWELL_S
    assert s.run_enterprises is None and f"`{commands_seed.RUN_ENTERPRISES}`" in markdown_table()


def test_typed_parse_and_the_accessor_sees_a_changed_environment(clean_env, tmp_path):
    clean_env.setenv("CC_RECORDER_SHARD", "1/4")
    clean_env.setenv("CC_SIMULATOR", "off")
    clean_env.setenv("CC_FLUSH_MS", "100")
    clean_env.setenv("CC_PROFILES_DIR", str(tmp_path))
    clean_env.setenv("CC_SEED", "")  # blank is unset
    clean_env.setenv("CC_CSP", "")  # … except for the CSP, where empty means "no policy"
    s = get_settings()
    assert s.recorder_shard == (1, 4) and s.simulator is False and s.flush_ms == 100.0 and s.seed == 42
    assert s.profiles_dir == tmp_path.resolve() and s.csp == ""
    assert get_settings() is s  # cached while the environment is the same
    clean_env.setenv("CC_FLUSH_MS", "250")
    assert get_settings().flush_ms == 250.0


def test_a_bad_value_is_a_clear_error_naming_the_variable(clean_env):
    clean_env.setenv("CC_STREAM_MAXLEN", "lots")
    with pytest.raises(SettingsError, match=r"^CC_STREAM_MAXLEN: .*integer.*\(got 'lots'\)$"):
        get_settings()
    clean_env.setenv("CC_TRUSTED_PROXIES", "-1")
    clean_env.setenv("CC_RECORDER_SHARD", "2/2")
    with pytest.raises(SettingsError) as err:
        load_settings()
    lines = str(err.value).splitlines()
    assert sorted(line.split(":")[0] for line in lines) == ["CC_RECORDER_SHARD", "CC_STREAM_MAXLEN",
                                                           "CC_TRUSTED_PROXIES"]
    assert any("0 <= i < n" in line for line in lines)
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("var,value", [("CC_NOTIFY_STYLE", "fax"), ("CC_SECURE_COOKIES", "maybe"),
                                       ("PORT", "70000"), ("CC_POLL_INTERVAL_S", "0")])
def test_out_of_range_or_unknown_values_are_refused(clean_env, var, value):
    clean_env.setenv(var, value)
    with pytest.raises(SettingsError, match=f"^{var}: "):
        load_settings()


def test_the_walls_display_variables_keep_their_default_on_a_bad_value_with_a_log_line(clean_env, caplog):
    from dashboard.pages.wall import wall_config

    clean_env.setenv("CC_WALL_DWELL_S", "soon")
    clean_env.setenv("CC_WALL_TOP_PROVINCES", "many")
    with caplog.at_level(logging.WARNING, logger="datasources.settings"):
        s = load_settings()
    assert s.wall_dwell_s == 20.0 and s.wall_top_provinces == 3
    assert "CC_WALL_DWELL_S" in caplog.text and "CC_WALL_TOP_PROVINCES" in caplog.text
    clean_env.setenv("CC_WALL_DWELL_S", "9999")  # clamped by the wall, as before
    assert wall_config({}).dwell_s == 3600.0


def test_the_csp_variable_unset_default_empty_none(clean_env):
    from dashboard.auth.headers import DEFAULT_CSP, install_security_headers

    def csp_of_a_response():
        server = Flask("t")
        server.add_url_rule("/", "i", lambda: "ok")
        install_security_headers(server)
        return server.test_client().get("/").headers.get("Content-Security-Policy")

    assert csp_of_a_response() == DEFAULT_CSP
    clean_env.setenv("CC_CSP", "default-src 'self'")
    assert csp_of_a_response() == "default-src 'self'"
    clean_env.setenv("CC_CSP", "")
    assert csp_of_a_response() is None


def test_a_process_with_a_bad_variable_stops_with_the_reason(clean_env):
    proc = subprocess.run([sys.executable, "-m", "dashboard", "seed"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={**__import__("os").environ, "CC_SEED": "x"})
    assert proc.returncode == 2 and "CC_SEED: " in proc.stderr and "Traceback" not in proc.stderr


def _readme_table() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Configuration\n"):]
    section = section[:section.index("\n## ", 5)]
    return "".join(line + "\n" for line in section.splitlines() if line.startswith("|"))


def test_the_readme_configuration_table_is_the_generated_one():
    """Regenerate with ``.venv/bin/python -m datasources.settings --markdown`` when this fails."""
    assert _readme_table() == markdown_table()
    out = subprocess.run([sys.executable, "-m", "datasources.settings", "--markdown"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert out == markdown_table()
    assert all(f"`{var}`" in out for var in ENV_NAMES)


def _environment_reads(tree: ast.AST):
    """``(line, key)`` of every read of the environment: ``os.environ.get(k)``, ``os.getenv(k)``, ``os.environ[k]``,
    ``k in os.environ`` (``key`` is the literal name, or ``None`` when it is not a literal). Writes
    (``os.environ[k] = …``, ``setdefault``) and copies handed to child processes are not reads."""
    def is_environ(node) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
            isinstance(node, ast.Name) and node.id == "environ")

    def key(node):
        return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            f = node.func
            if (f.attr in ("get", "pop") and is_environ(f.value)) or (
                    f.attr == "getenv" and isinstance(f.value, ast.Name) and f.value.id == "os"):
                yield node.lineno, key(node.args[0])
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getenv" and node.args:
            yield node.lineno, key(node.args[0])
        elif isinstance(node, ast.Subscript) and is_environ(node.value) and isinstance(node.ctx, ast.Load):
            yield node.lineno, key(node.slice)
        elif isinstance(node, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops) and any(
                is_environ(c) for c in node.comparators):
            yield node.lineno, key(node.left)


def test_only_the_settings_module_reads_product_variables_from_the_environment():
    offenders = []
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel == "datasources/settings.py":
                continue
            for line, name in _environment_reads(ast.parse(path.read_text(encoding="utf-8"), rel)):
                if name is None or PRODUCT_VAR.match(name):
                    offenders.append(f"{rel}:{line}: {name or '<not a literal name>'}")
    assert not offenders, "read these through datasources.settings.get_settings():\n" + "\n".join(offenders)


def test_the_scan_finds_the_reads_it_is_meant_to_find():
    src = ("import os\nfrom os import environ, getenv\na = os.environ.get('CC_X')\nb = os.getenv('PORT')\n"
           "c = os.environ['REDIS_URL']\nd = 'CC_Y' in os.environ\ne = environ.get(name)\nf = getenv('HOME')\n"
           "os.environ['REDIS_URL'] = 'x'\nos.environ.setdefault('CC_DATA_DIR', 'd')\n")
    assert list(_environment_reads(ast.parse(src))) == [(3, "CC_X"), (4, "PORT"), (5, "REDIS_URL"), (6, "CC_Y"),
                                                         (7, None), (8, "HOME")]
