"""Configuration from environment variables, with embedded defaults (DESIGN.md "Interfaces").

Every process of the stack (simulator, poller, web, recorder) reads the same variables:

================  ==============================================================  =========================
variable          meaning                                                         default
================  ==============================================================  =========================
REDIS_URL         Redis for the bus; unset: a private redis-server on loopback    (embedded)
DATABASE_URL      SQLAlchemy URL                                                  sqlite:///<data>/cc.db
CC_DATA_DIR       data directory (SQLite file, embedded Redis socket, caches)     ./data
PORT              HTTP port of the web process                                    8050
CC_POLL_INTERVAL_S  poll cycle of the Modbus poller, seconds                      1.0
CC_SEED           seed of the simulated fleet                                     42
CC_STATIONS       number of stations of the simulated fleet                       240
CC_SIM_HOST       host the simulator binds and the fleet's devices point to       127.0.0.1
CC_SIM_BASE_PORT  first TCP port of the simulator's Modbus servers                15020
CC_STREAM_MAXLEN  approximate bound of the ``cc:readings`` stream, entries        200000
CC_SIMULATOR      1: ``run`` starts the simulator and seeds the demo fleet; 0: a    1
                  real-sites-only deployment (no simulator, no demo pipe sensors,
                  no demo fleet; the city demo layers may still be seeded)
CC_PROFILES_DIR   folder of device profile files (``datasources.modbus.profiles``)       packaged profiles
================  ==============================================================  =========================
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:  # clear error naming the variable
        raise ValueError(f"environment variable {name}={raw!r} is not a number") from exc


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    key = raw.strip().lower()
    if key in ("1", "true", "yes", "on"):
        return True
    if key in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"environment variable {name}={raw!r} is not a boolean (1/0, true/false, yes/no, on/off)")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name}={raw!r} is not an integer") from exc


@dataclass(frozen=True)
class Settings:
    """Resolved configuration of one process. Build with :func:`load_settings`."""

    data_dir: Path
    redis_url: str | None
    database_url: str
    port: int = 8050
    poll_interval_s: float = 1.0
    seed: int = 42
    stations: int = 240
    sim_host: str = "127.0.0.1"
    sim_base_port: int = 15020
    stream_maxlen: int = 200_000
    #: ``CC_SIMULATOR``: run the simulator and seed the demo fleet (``run``)
    simulator: bool = True
    #: ``CC_PROFILES_DIR``: device profile folder, ``None`` = the packaged one
    profiles_dir: Path | None = None
    extra: dict = field(default_factory=dict)


def load_settings() -> Settings:
    """Read the environment into a :class:`Settings`.

    Raises:
        ValueError: a numeric or boolean variable does not parse; the message names the variable.
    """
    data_dir = Path(os.environ.get("CC_DATA_DIR") or "data").resolve()
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{data_dir / 'cc.db'}"
    return Settings(
        data_dir=data_dir,
        redis_url=os.environ.get("REDIS_URL") or None,
        database_url=database_url,
        port=_env_int("PORT", 8050),
        poll_interval_s=_env_float("CC_POLL_INTERVAL_S", 1.0),
        seed=_env_int("CC_SEED", 42),
        stations=_env_int("CC_STATIONS", 240),
        sim_host=os.environ.get("CC_SIM_HOST") or "127.0.0.1",
        sim_base_port=_env_int("CC_SIM_BASE_PORT", 15020),
        stream_maxlen=_env_int("CC_STREAM_MAXLEN", 200_000),
        simulator=_env_bool("CC_SIMULATOR", True),
        profiles_dir=Path(os.environ["CC_PROFILES_DIR"]).resolve() if os.environ.get("CC_PROFILES_DIR", "").strip()
        else None,
    )
