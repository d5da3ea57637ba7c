"""Command-line entry point.

``python -m dashboard run``   the whole stack on embedded defaults: private Redis (when ``REDIS_URL`` is unset),
                              SQLite migrated by Alembic, the simulated fleet seeded, and three supervised child
                              processes — simulator, poller, web.
``python -m dashboard web``   the web process only (Dash + Flask-SocketIO + live bridge).
``python -m dashboard sim``   the Modbus simulator of the fleet stored in SQL.
``python -m dashboard poll [--shard i/n]``  the Modbus poller.
``python -m dashboard alarms [--shard i/n]``  the alarm engine (rules → alarms in SQL, ``cc:alarms``; SLA escalation).
``python -m dashboard record``  the energy recorder (consumer group on ``cc:readings`` → minute/hour/day rollups).
``python -m dashboard history [--days N] [--replace]``  demo energy history for the stored fleet (skips what exists).
``python -m dashboard seed [--stations N] [--seed S] [--enterprises N] [--shops N]``  (re)generate the demo fleet
                              into SQL, and the city layers' demo data where missing.
``python -m dashboard fault <station_id> <fault> [--off]``  inject a fault into the running simulator
                              (overheat, high_dew_point, comm_loss, fire, flood, intrusion, pressure_drop, occupancy).
``python -m dashboard set <device_id> <name> <value>`` / ``clear <device_id> <name>``  override a simulated register.
``python -m dashboard devices add|import|list|remove|template``  the registry of real stations and devices
                              (:mod:`datasources.ingest.registry`); changes are audited (actor ``cli:<os user>``) and
                              announced on ``cc:registry``, which a running poller reloads without a restart.

``CC_SIMULATOR=0``: ``run`` starts no simulator (and no demo pipe sensors) and seeds no demo fleet.

This module holds the parser and the dispatch; the command bodies are in :mod:`dashboard.cli.commands_stack`
(processes and ``run``), :mod:`dashboard.cli.commands_seed` (demo data), :mod:`dashboard.cli.commands_control`
(simulator faults and overrides) and :mod:`dashboard.cli.commands_devices` (the registry). Configuration:
:func:`datasources.settings.load_settings`, once per process.
"""
from __future__ import annotations

import argparse
import logging
import sys

from dashboard.cli.commands_control import FAULTS, cmd_clear, cmd_fault, cmd_set
from dashboard.cli.commands_devices import _devices_parser
from dashboard.cli.commands_seed import HISTORY_DAYS, cmd_history, cmd_seed
from dashboard.cli.commands_stack import cmd_alarms, cmd_poll, cmd_record, cmd_run, cmd_sim, cmd_snapshot, cmd_web

log = logging.getLogger("dashboard")


def _setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("pymodbus", "werkzeug", "engineio", "socketio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dashboard", description="Compressed-air command center")
    p.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING … (default $CC_LOG_LEVEL, INFO)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="whole stack on embedded defaults").set_defaults(func=cmd_run)
    sub.add_parser("web", help="web process").set_defaults(func=cmd_web)
    sp = sub.add_parser("sim", help="Modbus simulator of the stored fleet")
    sp.add_argument("--tick", type=float, default=1.0, help="physics tick, seconds")
    sp.set_defaults(func=cmd_sim)
    pp = sub.add_parser("poll", help="Modbus poller")
    pp.add_argument("--shard", default="0/1", help="i/n: poll the stations whose stable hash mod n is i")
    pp.set_defaults(func=cmd_poll)
    ap = sub.add_parser("alarms", help="alarm engine (consumer group on the readings stream)")
    ap.add_argument("--shard", default="0/1", help="i/n: evaluate the stations whose stable hash mod n is i")
    ap.set_defaults(func=cmd_alarms)
    sd = sub.add_parser("seed", help="(re)generate the demo fleet into SQL")
    sd.add_argument("--stations", type=int, default=None)
    sd.add_argument("--seed", type=int, default=None)
    sd.add_argument("--enterprises", type=int, default=1_000_000,
                    help="enterprises of the heat map (seeded once; default 1,000,000)")
    sd.add_argument("--shops", type=int, default=None, help="street shops in Shanghai (default 10,000)")
    sd.add_argument("--history-days", type=int, default=HISTORY_DAYS,
                    help=f"days of demo energy history (default {HISTORY_DAYS}; 0 skips it)")
    sd.set_defaults(func=cmd_seed)
    snp = sub.add_parser("snapshot", help="leaders' weekly snapshot (HTML + PDF)")
    snp.add_argument("--week", default=None, help="ISO week, e.g. 2026-W47 (default: last week)")
    snp.add_argument("--lang", default="zh", choices=("zh", "en"))
    snp.add_argument("--out", default=None, help="folder (default: <CC_DATA_DIR>/snapshots)")
    snp.set_defaults(func=cmd_snapshot)
    rc = sub.add_parser("record", help="energy recorder (stream → SQL rollups)")
    rc.set_defaults(func=cmd_record)
    hi = sub.add_parser("history", help="demo energy history for the stored fleet")
    hi.add_argument("--days", type=int, default=HISTORY_DAYS)
    hi.add_argument("--replace", action="store_true", help="rewrite the history in the range")
    hi.set_defaults(func=cmd_history)
    f = sub.add_parser("fault", help="inject a fault into the running simulator")
    f.add_argument("station_id")
    f.add_argument("fault", choices=FAULTS)
    f.add_argument("--off", action="store_true", help="clear the fault")
    f.set_defaults(func=cmd_fault)
    s = sub.add_parser("set", help="override a simulated register value")
    s.add_argument("device_id")
    s.add_argument("name")
    s.add_argument("value")
    s.set_defaults(func=cmd_set)
    c = sub.add_parser("clear", help="release an override")
    c.add_argument("device_id")
    c.add_argument("name")
    c.set_defaults(func=cmd_clear)
    _devices_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, read the settings, set up logging and run the command. Returns the process exit code (2 when
    a variable of the environment does not parse: its ``VARIABLE: reason`` is printed)."""
    args = build_parser().parse_args(argv)
    from datasources.settings import SettingsError, load_settings  # noqa: PLC0415
    from geo.regions import set_cache_dir  # noqa: PLC0415

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 2
    _setup_logging(args.log_level or settings.log_level)
    set_cache_dir(settings.data_dir / "cache")  # the region index's disk cache: <CC_DATA_DIR>/cache
    return args.func(settings, args)
