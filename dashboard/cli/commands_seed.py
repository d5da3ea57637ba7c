"""Demo data commands: ``seed`` (fleet, city layers, users, history), ``history``, and the first-start
seeding of ``run`` (:func:`_ensure_seeded`).
"""
from __future__ import annotations

import argparse
import logging
import sys
import time

log = logging.getLogger("dashboard")


def _engine(settings):
    from datasources.sql.db import make_engine, migrate  # noqa: PLC0415

    migrate(settings.database_url)
    return make_engine(settings.database_url)


def cmd_seed(settings, args) -> int:
    from datasources.sim.fleet import generate_fleet  # noqa: PLC0415
    from datasources.sql.repository import save_fleet  # noqa: PLC0415

    engine = _engine(settings)
    n = args.stations or settings.stations
    seed = settings.seed if args.seed is None else args.seed
    t0 = time.monotonic()
    from datasources.sql.repository import FleetConflict  # noqa: PLC0415

    fleet = generate_fleet(n, seed=seed, host=settings.sim_host, base_port=settings.sim_base_port)
    try:
        save_fleet(engine, fleet, replace=True)  # replaces simulated stations only: registered sites are kept
    except FleetConflict as exc:
        for line in exc.conflicts:
            print(f"seed: conflict: {line}", file=sys.stderr)
        print("seed: nothing written", file=sys.stderr)
        return 2
    log.info("seeded %d stations (%d devices) in %.1f s", len(fleet), sum(len(s.devices) for s in fleet),
             time.monotonic() - t0)
    _seed_city(engine, fleet, seed, getattr(args, "enterprises", None), getattr(args, "shops", None))
    _seed_users(engine)
    _seed_history(engine, fleet, seed, getattr(args, "history_days", 0))
    return 0


#: days of demo energy history: 400 covers a year plus the year-ago comparison of the last weeks
HISTORY_DAYS = 400


def _seed_history(engine, fleet, seed: int, days: int) -> None:
    """Demo energy history (:func:`datasources.sim.history.generate_history`) of the freshly seeded fleet, replacing
    the rollups of its stations in the range; ``days <= 0`` skips it."""
    if not days or days <= 0:
        return
    from datasources.sim.history import generate_history  # noqa: PLC0415

    rep = generate_history(engine, fleet, seed=seed, days=days, replace=True)
    log.info("energy history: %d stations, %d days, %s rows in %.1f s", rep.stations, days, rep.rows, rep.seconds)


def _seed_users(engine) -> None:
    """Demo logins (one per role) and the engineers' duty roster (:func:`dashboard.auth.core.seed_demo_users`, which
    calls :func:`datasources.sql.workorders.seed_demo_roster`); existing users are kept."""
    from dashboard.auth.core import seed_demo_users  # noqa: PLC0415

    users = seed_demo_users(engine)
    log.info("demo users: %s", ", ".join(f"{u['username']} ({u['role']})" for u in users))


#: enterprises seeded by `run` on first start (a quick first start); `seed` defaults to the full 1,000,000
RUN_ENTERPRISES = 200_000


def _seed_city(engine, fleet, seed: int, enterprises: int | None, shops: int | None) -> None:
    """Demo data of the city layers (cameras, pipelines, shops, parks, buildings, enterprises, staff, partners);
    groups already in the database are kept (:func:`datasources.sim.demo_city.seed_city_layers`)."""
    from datasources.sim.demo_city import DEFAULT_ENTERPRISES, N_SHOPS, seed_city_layers  # noqa: PLC0415
    from datasources.sim.pipe_sensors import attach_pipe_sensors  # noqa: PLC0415

    t0 = time.monotonic()
    written = seed_city_layers(engine, fleet, seed=seed,
                               n_enterprises=DEFAULT_ENTERPRISES if enterprises is None else enterprises,
                               n_shops=N_SHOPS if shops is None else shops)
    log.info("city layers: %s in %.1f s", {k: v for k, v in written.items() if v} or "already seeded",
             time.monotonic() - t0)
    if fleet:  # the demo pipes' sensors become Modbus devices of demo stations, read by the poller like any device
        attached = attach_pipe_sensors(engine)
        if attached:
            log.info("pipe sensors: %d attached to demo stations as Modbus devices", attached)


def _ensure_seeded(settings) -> None:
    from datasources.sql.repository import load_fleet  # noqa: PLC0415

    engine = _engine(settings)
    # demo cameras / pipes are attached to demo (simulated) stations only, never to registered sites
    demo = [s for s in load_fleet(engine) if s.simulated]
    if not settings.simulator:  # CC_SIMULATOR=0: real sites only; the city demo layers may still be seeded
        _seed_city(engine, demo, settings.seed, _run_enterprises(settings), _run_shops(settings))
    elif not demo:
        if cmd_seed(settings, argparse.Namespace(stations=None, seed=None, enterprises=_run_enterprises(settings),
                                                 shops=_run_shops(settings))) != 0:
            log.error("the demo fleet was not seeded (conflict with registered sites, see above)")
    else:  # a database from before the city layers: fill what is missing
        _seed_city(engine, demo, settings.seed, _run_enterprises(settings), _run_shops(settings))
    _seed_users(engine)
    engine.dispose()


def _run_enterprises(settings) -> int:
    """Enterprises ``run`` seeds on first start: ``CC_RUN_ENTERPRISES`` (default :data:`RUN_ENTERPRISES`)."""
    return RUN_ENTERPRISES if settings.run_enterprises is None else settings.run_enterprises


def _run_shops(settings) -> int | None:
    """Street shops ``run`` seeds on first start: ``CC_RUN_SHOPS`` (default ``None``: the demo's 10,000)."""
    return settings.run_shops


def cmd_history(settings, args) -> int:
    from datasources.sim.history import run_history  # noqa: PLC0415

    rep = run_history(settings, days=args.days, replace=args.replace)
    log.info("energy history: %s", "already present, skipped" if rep.skipped else
             f"{rep.stations} stations, {rep.rows} rows in {rep.seconds:.1f} s")
    return 0
