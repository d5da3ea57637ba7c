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
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time

log = logging.getLogger("dashboard")

FAULTS = ("overheat", "high_dew_point", "comm_loss", "fire", "flood", "intrusion", "pressure_drop", "occupancy")


def _setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("pymodbus", "werkzeug", "engineio", "socketio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _engine(settings):
    from datasources.db import make_engine, migrate  # noqa: PLC0415

    migrate(settings.database_url)
    return make_engine(settings.database_url)


def cmd_seed(settings, args) -> int:
    from datasources.fleet import generate_fleet  # noqa: PLC0415
    from datasources.repository import save_fleet  # noqa: PLC0415

    engine = _engine(settings)
    n = args.stations or settings.stations
    seed = settings.seed if args.seed is None else args.seed
    t0 = time.monotonic()
    fleet = generate_fleet(n, seed=seed, host=settings.sim_host, base_port=settings.sim_base_port)
    save_fleet(engine, fleet, replace=True)
    log.info("seeded %d stations (%d devices) in %.1f s", len(fleet), sum(len(s.devices) for s in fleet),
             time.monotonic() - t0)
    _seed_city(engine, fleet, seed, getattr(args, "enterprises", None), getattr(args, "shops", None))
    _seed_users(engine)
    _seed_history(engine, fleet, seed, getattr(args, "history_days", 0))
    return 0


#: days of demo energy history: 400 covers a year plus the year-ago comparison of the last weeks
HISTORY_DAYS = 400


def _seed_history(engine, fleet, seed: int, days: int) -> None:
    """Demo energy history (:func:`datasources.history.generate_history`) of the freshly seeded fleet, replacing
    the rollups of its stations in the range; ``days <= 0`` skips it."""
    if not days or days <= 0:
        return
    from datasources.history import generate_history  # noqa: PLC0415

    rep = generate_history(engine, fleet, seed=seed, days=days, replace=True)
    log.info("energy history: %d stations, %d days, %s rows in %.1f s", rep.stations, days, rep.rows, rep.seconds)


def _seed_users(engine) -> None:
    """Demo logins (one per role) and the engineers' duty roster (:func:`dashboard.auth.seed_demo_users`, which
    calls :func:`datasources.workorders.seed_demo_roster`); existing users are kept."""
    from dashboard.auth import seed_demo_users  # noqa: PLC0415

    users = seed_demo_users(engine)
    log.info("demo users: %s", ", ".join(f"{u['username']} ({u['role']})" for u in users))


#: enterprises seeded by `run` on first start (a quick first start); `seed` defaults to the full 1,000,000
RUN_ENTERPRISES = 200_000


def _seed_city(engine, fleet, seed: int, enterprises: int | None, shops: int | None) -> None:
    """Demo data of the city layers (cameras, pipelines, shops, parks, buildings, enterprises, staff, partners);
    groups already in the database are kept (:func:`datasources.demo_city.seed_city_layers`)."""
    from datasources.demo_city import DEFAULT_ENTERPRISES, N_SHOPS, seed_city_layers  # noqa: PLC0415

    t0 = time.monotonic()
    written = seed_city_layers(engine, fleet, seed=seed,
                               n_enterprises=DEFAULT_ENTERPRISES if enterprises is None else enterprises,
                               n_shops=N_SHOPS if shops is None else shops)
    log.info("city layers: %s in %.1f s", {k: v for k, v in written.items() if v} or "already seeded",
             time.monotonic() - t0)


def _ensure_seeded(settings) -> None:
    from datasources.repository import count_stations, load_fleet  # noqa: PLC0415

    engine = _engine(settings)
    if count_stations(engine) == 0:
        cmd_seed(settings, argparse.Namespace(stations=None, seed=None, enterprises=RUN_ENTERPRISES, shops=None))
    else:  # a database from before the city layers: fill what is missing
        _seed_city(engine, load_fleet(engine), settings.seed, RUN_ENTERPRISES, None)
    _seed_users(engine)
    engine.dispose()


def _publish_pipe_sensors_forever(settings, interval_s: float = 5.0) -> None:
    """Simulated underground pipe pressure sensors → ``cc:latest:<sensor>`` every ``interval_s`` (a thread of the
    ``sim`` process; :func:`datasources.demo_city.publish_pipe_sensors`)."""
    import redis  # noqa: PLC0415

    from datasources.demo_city import publish_pipe_sensors  # noqa: PLC0415

    engine = _engine(settings)
    client = redis.Redis.from_url(settings.redis_url)
    while True:
        try:
            publish_pipe_sensors(client, engine)
        except Exception as exc:  # noqa: BLE001 — Redis / SQL hiccup: next round
            log.warning("pipe sensors: %s", exc)
        time.sleep(interval_s)


def cmd_sim(settings, args) -> int:
    from datasources.repository import load_fleet  # noqa: PLC0415
    from datasources.simulator import run_simulator  # noqa: PLC0415

    stations = load_fleet(_engine(settings))
    log.info("simulating %d stations", len(stations))
    if settings.redis_url:
        import threading  # noqa: PLC0415

        threading.Thread(target=_publish_pipe_sensors_forever, args=(settings,), name="cc-pipe-sensors",
                         daemon=True).start()
    asyncio.run(run_simulator(stations, seed=settings.seed, tick_s=args.tick, redis_url=settings.redis_url))
    return 0


def cmd_poll(settings, args) -> int:
    from datasources.poller import parse_shard, run_poller  # noqa: PLC0415
    from datasources.profiles import default_profiles  # noqa: PLC0415
    from datasources.repository import load_fleet  # noqa: PLC0415

    stations = load_fleet(_engine(settings))
    asyncio.run(run_poller(stations, default_profiles(), settings.redis_url, interval_s=settings.poll_interval_s,
                           shard=parse_shard(args.shard), stream_maxlen=settings.stream_maxlen))
    return 0


def cmd_alarms(settings, args) -> int:
    from datasources.alarm_engine import run_alarm_engine  # noqa: PLC0415
    from datasources.poller import parse_shard  # noqa: PLC0415

    return run_alarm_engine(settings, shard=parse_shard(args.shard))


def cmd_record(settings, args) -> int:
    from datasources.recorder import run_recorder  # noqa: PLC0415

    run_recorder(settings)
    return 0


def cmd_history(settings, args) -> int:
    from datasources.history import run_history  # noqa: PLC0415

    rep = run_history(settings, days=args.days, replace=args.replace)
    log.info("energy history: %s", "already present, skipped" if rep.skipped else
             f"{rep.stations} stations, {rep.rows} rows in {rep.seconds:.1f} s")
    return 0


def cmd_web(settings, args) -> int:
    from dashboard.web import serve  # noqa: PLC0415

    serve(settings)
    return 0


def _publish_control(settings, command: dict) -> int:
    import redis  # noqa: PLC0415

    from datasources.bus import SIM_CONTROL_CHANNEL  # noqa: PLC0415

    url = settings.redis_url or _running_stack_redis_url(settings)
    if not url:
        print("REDIS_URL is not set and no stack started by `make run` is running", file=sys.stderr)
        return 2
    receivers = redis.Redis.from_url(url).publish(SIM_CONTROL_CHANNEL, json.dumps({"v": 1, **command}))
    if not receivers:
        print("no simulator is listening on this bus", file=sys.stderr)
        return 1
    print(f"sent {command}")
    return 0


def _running_stack_redis_url(settings) -> str | None:
    """The bus URL that ``run`` wrote to ``<data dir>/redis.url`` (for its private Redis), if any."""
    path = settings.data_dir / "redis.url"
    return path.read_text().strip() if path.exists() else None


def _station_error(settings, station_id: str) -> str | None:
    """Why ``station_id`` cannot take a simulated fault (unknown, or not built: the simulator runs built stations
    only), or ``None``. An unreachable database is not an error here: the simulator still validates."""
    from sqlalchemy import select  # noqa: PLC0415
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

    from datasources.db import make_engine  # noqa: PLC0415
    from datasources.models import Station  # noqa: PLC0415

    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            lifecycle = conn.scalar(select(Station.lifecycle).where(Station.station_id == station_id))
    except SQLAlchemyError:
        return None
    finally:
        engine.dispose()
    if lifecycle is None:
        return f"no station {station_id} in the database"
    if lifecycle != "built":
        return f"station {station_id} is {lifecycle}, not built: the simulator runs built stations only"
    return None


def cmd_fault(settings, args) -> int:
    error = _station_error(settings, args.station_id)
    if error:
        print(error, file=sys.stderr)
        return 2
    return _publish_control(settings, {"cmd": "fault", "station_id": args.station_id, "fault": args.fault,
                                       "on": not args.off})


def cmd_set(settings, args) -> int:
    return _publish_control(settings, {"cmd": "set", "device_id": args.device_id, "name": args.name,
                                       "value": float(args.value)})


def cmd_clear(settings, args) -> int:
    return _publish_control(settings, {"cmd": "clear", "device_id": args.device_id, "name": args.name})


def cmd_run(settings, args) -> int:
    """Start the whole stack and supervise it until Ctrl-C / SIGTERM. A child that dies is restarted (backoff)."""
    from datasources.redis_server import ensure_redis, redis_reachable  # noqa: PLC0415

    url = settings.redis_url
    if url and not redis_reachable(url):
        log.error("REDIS_URL=%s does not answer; unset it to use a private Redis", url)
        return 2
    url, server = ensure_redis(url)
    if server:
        log.info("started a private Redis at %s", url)
    os.environ["REDIS_URL"] = url
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url_file = settings.data_dir / "redis.url"
    url_file.write_text(url + "\n")
    os.environ.setdefault("CC_DATA_DIR", str(settings.data_dir))
    from datasources.settings import load_settings  # noqa: PLC0415

    settings = load_settings()
    _ensure_seeded(settings)
    children: dict[str, list[str]] = {
        "sim": [sys.executable, "-m", "dashboard", "sim"],
        "poll": [sys.executable, "-m", "dashboard", "poll"],
        "alarms": [sys.executable, "-m", "dashboard", "alarms"],
        "record": [sys.executable, "-m", "dashboard", "record"],
        "web": [sys.executable, "-m", "dashboard", "web"],
        # one-shot, in the background so the first start stays quick (~40 s for 240 stations × 400 days)
        "history": [sys.executable, "-m", "dashboard", "history", "--days", str(HISTORY_DAYS)],
    }
    oneshot = {"history"}  # not restarted once it exits 0
    procs: dict[str, subprocess.Popen] = {}
    restarts: dict[str, float] = {}
    stopping = False

    def _stop(_sig, _frm):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    for name, argv in children.items():
        procs[name] = subprocess.Popen(argv)
    log.info("command center on http://127.0.0.1:%d/  (Ctrl-C stops)", settings.port)
    try:
        while not stopping:
            time.sleep(0.5)
            for name, proc in list(procs.items()):
                if proc.poll() is not None and not stopping:
                    if name in oneshot and proc.returncode == 0:
                        del procs[name]
                        continue
                    delay = min(30.0, restarts.get(name, 0.5) * 2)
                    restarts[name] = delay
                    log.warning("%s exited with %s; restarting in %.0f s", name, proc.returncode, delay)
                    time.sleep(delay)
                    procs[name] = subprocess.Popen(children[name])
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if server:
            server.stop()
            url_file.unlink(missing_ok=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dashboard", description="Compressed-air command center")
    p.add_argument("--log-level", default=os.environ.get("CC_LOG_LEVEL", "INFO"))
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
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.log_level)
    from datasources.settings import load_settings  # noqa: PLC0415

    return args.func(load_settings(), args)
