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
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time

log = logging.getLogger("dashboard")

FAULTS = ("overheat", "high_dew_point", "comm_loss", "fire", "flood", "intrusion", "pressure_drop", "occupancy",
          "pipe_leak")


def _setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("pymodbus", "werkzeug", "engineio", "socketio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


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
        _seed_city(engine, demo, settings.seed, _run_enterprises(), _run_shops())
    elif not demo:
        if cmd_seed(settings, argparse.Namespace(stations=None, seed=None, enterprises=_run_enterprises(),
                                                 shops=_run_shops())) != 0:
            log.error("the demo fleet was not seeded (conflict with registered sites, see above)")
    else:  # a database from before the city layers: fill what is missing
        _seed_city(engine, demo, settings.seed, _run_enterprises(), _run_shops())
    _seed_users(engine)
    engine.dispose()


def cmd_sim(settings, args) -> int:
    from datasources.sql.repository import load_fleet  # noqa: PLC0415
    from datasources.sim.simulator import run_simulator  # noqa: PLC0415

    fleet = load_fleet(_engine(settings))
    stations = [s for s in fleet if s.simulated]  # a registered (real) site is never simulated
    log.info("simulating %d stations (%d registered sites left to the field)", len(stations),
             len(fleet) - len(stations))
    from datasources.sim.pipe_sensors import pipe_sensor_setpoints  # noqa: PLC0415

    setpoints = pipe_sensor_setpoints(_engine(settings))  # each demo pipe's nominal and alarm threshold, MPa
    asyncio.run(run_simulator(stations, seed=settings.seed, tick_s=args.tick, redis_url=settings.redis_url,
                              pipe_setpoints=setpoints))
    return 0


#: seconds between the poller's safety-net reloads of the fleet from SQL (a lost ``cc:registry`` message)
REGISTRY_RECHECK_S = 30.0


def _load_profiles(settings=None) -> dict:
    """Device profiles: ``CC_PROFILES_DIR`` loaded leniently when set (:func:`datasources.ingest.registry.current_profiles`),
    else the packaged ones."""
    from datasources.ingest.registry import current_profiles  # noqa: PLC0415

    return current_profiles()


async def watch_registry(poller, engine, redis_url: str, *, recheck_s: float = REGISTRY_RECHECK_S,
                         load=None) -> None:
    """Keep ``poller``'s fleet equal to SQL until cancelled: on every ``cc:registry`` message (and every
    ``recheck_s`` s as a safety net) reload the fleet and call ``poller.update_stations`` — on the poller's own event
    loop, as it requires. Profiles of models new since start are added to ``poller.profiles``. Redis or SQL errors
    are logged and retried at the next round.

    Args:
        load: ``() -> list[StationSpec]`` (default: :func:`datasources.sql.repository.load_fleet` of ``engine``).
    """
    import redis.asyncio as aioredis  # noqa: PLC0415

    from datasources.ingest.registry import REGISTRY_CHANNEL  # noqa: PLC0415
    from datasources.sql.repository import load_fleet  # noqa: PLC0415

    load = load or (lambda: load_fleet(engine))
    last = None

    def reload(reason: str) -> None:
        nonlocal last
        stations = load()
        if stations == last:
            return
        last = stations
        models = {d.model for s in stations for d in s.devices} - set(poller.profiles)
        if models:
            fresh = _load_profiles()
            poller.profiles = {**fresh, **poller.profiles}
        change = poller.update_stations(stations)
        if any(change.values()):
            log.info("registry (%s): %s", reason, {k: v for k, v in change.items() if v})

    last = load()
    client = aioredis.Redis.from_url(redis_url)
    pubsub = None
    try:
        while True:
            try:
                if pubsub is None:
                    pubsub = client.pubsub()
                    await pubsub.subscribe(REGISTRY_CHANNEL)
                    reload("subscribed")  # changes made while we were not listening
                deadline = asyncio.get_running_loop().time() + recheck_s
                while True:
                    timeout = deadline - asyncio.get_running_loop().time()
                    if timeout <= 0:
                        reload("periodic re-check")
                        break
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=min(timeout, 1.0))
                    if msg and msg.get("type") == "message":
                        reload("cc:registry")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 — Redis / SQL hiccup: retry with a fresh subscription
                log.warning("registry watcher: %s", exc)
                if pubsub is not None:
                    try:
                        await pubsub.aclose()
                    except Exception:  # noqa: BLE001
                        pass
                    pubsub = None
                await asyncio.sleep(min(recheck_s, 2.0))
    finally:
        if pubsub is not None:
            try:
                await pubsub.aclose()
            except Exception:  # noqa: BLE001
                pass
        await client.aclose()


def cmd_poll(settings, args) -> int:
    from datasources.bus.shard import parse_shard  # noqa: PLC0415
    from datasources.modbus.poller import Poller  # noqa: PLC0415
    from datasources.sql.repository import load_fleet  # noqa: PLC0415

    engine = _engine(settings)
    stations = load_fleet(engine)

    async def main() -> None:
        poller = Poller(stations, _load_profiles(settings), settings.redis_url, interval_s=settings.poll_interval_s,
                        shard=parse_shard(args.shard), stream_maxlen=settings.stream_maxlen)
        watcher = None
        if settings.redis_url:
            watcher = asyncio.create_task(watch_registry(poller, engine, settings.redis_url), name="registry watcher")
        try:
            await poller.run()
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await watcher

    asyncio.run(main())
    return 0


def cmd_alarms(settings, args) -> int:
    from datasources.workers.alarm_engine import run_alarm_engine  # noqa: PLC0415
    from datasources.bus.shard import parse_shard  # noqa: PLC0415

    return run_alarm_engine(settings, shard=parse_shard(args.shard))


def cmd_record(settings, args) -> int:
    from datasources.workers.recorder import run_recorder  # noqa: PLC0415

    run_recorder(settings)
    return 0


def cmd_history(settings, args) -> int:
    from datasources.sim.history import run_history  # noqa: PLC0415

    rep = run_history(settings, days=args.days, replace=args.replace)
    log.info("energy history: %s", "already present, skipped" if rep.skipped else
             f"{rep.stations} stations, {rep.rows} rows in {rep.seconds:.1f} s")
    return 0


def cmd_web(settings, args) -> int:
    from dashboard.web.server import serve  # noqa: PLC0415

    serve(settings)
    return 0


def _publish_control(settings, command: dict) -> int:
    import redis  # noqa: PLC0415

    from datasources.bus.messages import SIM_CONTROL_CHANNEL  # noqa: PLC0415

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

    from datasources.sql.db import make_engine  # noqa: PLC0415
    from datasources.sql.models import Station  # noqa: PLC0415

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


def _run_enterprises() -> int:
    """Enterprises ``run`` seeds on first start: ``CC_RUN_ENTERPRISES`` (default :data:`RUN_ENTERPRISES`)."""
    raw = os.environ.get("CC_RUN_ENTERPRISES", "").strip()
    try:
        return int(raw) if raw else RUN_ENTERPRISES
    except ValueError as exc:
        raise ValueError(f"environment variable CC_RUN_ENTERPRISES={raw!r} is not an integer") from exc


def _run_shops() -> int | None:
    """Street shops ``run`` seeds on first start: ``CC_RUN_SHOPS`` (default ``None``: the demo's 10,000)."""
    raw = os.environ.get("CC_RUN_SHOPS", "").strip()
    try:
        return int(raw) if raw else None
    except ValueError as exc:
        raise ValueError(f"environment variable CC_RUN_SHOPS={raw!r} is not an integer") from exc


def _stack_children(settings) -> dict[str, list[str]]:
    """Command lines of the supervised children of ``run`` (name → argv), in start order."""
    py = [sys.executable, "-m", "dashboard"]
    children: dict[str, list[str]] = {
        **({"sim": py + ["sim"]} if settings.simulator else {}),
        "poll": py + ["poll"],
        "alarms": py + ["alarms"],
        "record": py + ["record"],
        "web": py + ["web"],
    }
    if settings.simulator:  # demo history is for the demo fleet; a real-sites deployment records its own
        # one-shot, in the background so the first start stays quick (~40 s for 240 stations × 400 days)
        children["history"] = py + ["history", "--days", str(HISTORY_DAYS)]
    return children


def cmd_run(settings, args) -> int:
    """Start the whole stack and supervise it until Ctrl-C / SIGTERM (:class:`dashboard.cli.supervisor.Supervisor`).

    With ``REDIS_URL`` unset the private ``redis-server`` is a supervised child too (append-only file under
    ``<data dir>/redis``, same port on restart, URL in ``<data dir>/redis.url``). Every child is watched at once and
    restarted with its own exponential backoff, reset after ``CC_SUPERVISOR_HEALTHY_S`` s up; the supervisor's
    state is in ``<data dir>/supervisor.json``.

    Returns:
        0 after a clean stop; 2 when ``REDIS_URL`` does not answer or the private Redis does not start.
    """
    import shutil  # noqa: PLC0415
    import threading  # noqa: PLC0415

    from datasources.bus.redis_server import RedisUnavailable, free_port, redis_reachable  # noqa: PLC0415
    from dashboard.cli.supervisor import ChildSpec, Supervisor, redis_child, timings_from_env, wait_redis  # noqa: PLC0415

    stop = threading.Event()

    def _stop(_sig, _frm):
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    sup = Supervisor(status_file=settings.data_dir / "supervisor.json", **timings_from_env())
    url = settings.redis_url
    url_file = settings.data_dir / "redis.url"
    private = not url
    try:
        if url and not redis_reachable(url):
            log.error("REDIS_URL=%s does not answer; unset it to use a private Redis", url)
            return 2
        if private:
            workdir = settings.data_dir / "redis"
            shutil.rmtree(workdir, ignore_errors=True)  # the private bus lives as long as this stack
            for attempt in range(5):  # a free port may be taken before redis-server binds it: try another
                port = free_port()
                url = f"redis://127.0.0.1:{port}/0"
                try:
                    wait_redis(url, sup.add(redis_child(port, workdir)))
                    break
                except (RedisUnavailable, RuntimeError, OSError) as exc:
                    sup.discard("redis")
                    if isinstance(exc, RedisUnavailable) or attempt == 4:
                        log.error("the private Redis did not start: %s", exc)
                        return 2
            log.info("started a private Redis at %s (supervised, restarted on the same port)", url)
            url_file.write_text(url + "\n")
        os.environ["REDIS_URL"] = url
        os.environ.setdefault("CC_DATA_DIR", str(settings.data_dir))
        from datasources.settings import load_settings  # noqa: PLC0415

        settings = load_settings()
        _ensure_seeded(settings)
        if stop.is_set():
            return 0
        for name, argv in _stack_children(settings).items():
            sup.add(ChildSpec(name, argv, oneshot=name == "history"))
        log.info("command center on http://127.0.0.1:%d/  (Ctrl-C stops)", settings.port)
        sup.run(stop)
    finally:
        sup.stop()
        if private:
            url_file.unlink(missing_ok=True)
    return 0


# ---------------------------------------------------------------- devices: the registry of real sites

_STATION_OPTS = (("name", "name"), ("name_en", "name_en"), ("kind", "kind"), ("lifecycle", "lifecycle"),
                 ("lon", "lon"), ("lat", "lat"), ("province", "province_adcode"), ("city", "city_adcode"),
                 ("capacity", "capacity_m3_min"), ("partner", "partner"))
_DEVICE_OPTS = (("device_id", "device_id"), ("device_kind", "kind"), ("model", "model"), ("host", "host"),
                ("port", "port"), ("unit_id", "unit_id"), ("transport", "transport"), ("baudrate", "baudrate"),
                ("parity", "parity"), ("stopbits", "stopbits"), ("bytesize", "bytesize"),
                ("rated_flow", "rated_flow_m3_min"), ("rated_power", "rated_power_kw"),
                ("specific_power", "specific_power_kw_per_m3_min"), ("timeout_s", "timeout_s"),
                ("retries", "retries"), ("offline_after", "offline_after"), ("poll_interval_s", "poll_interval_s"),
                ("max_gap", "max_gap"), ("max_registers_per_read", "max_registers_per_read"))


def _cli_actor() -> str:
    import getpass  # noqa: PLC0415

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 — no user name in this environment
        return "cli"


def _registry_redis(settings):
    """A Redis client for the ``cc:registry`` notification, or ``None`` when no bus is known (the poller's periodic
    re-check then picks the change up)."""
    import redis  # noqa: PLC0415

    url = settings.redis_url or _running_stack_redis_url(settings)
    return redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0) if url else None


def _print_issues(issues) -> None:
    for i in issues:
        where = f"row {i.row}, " if i.row else ""
        print(f"error: {where}{i.field or '-'}: {i.message}", file=sys.stderr)


def _fmt_table(header: list[str], rows: list[list]) -> str:
    cells = [header] + [["" if v is None else str(v) for v in r] for r in rows]
    width = [max(len(r[k]) for r in cells) for k in range(len(header))]
    return "\n".join("  ".join(v.ljust(width[k]) for k, v in enumerate(r)).rstrip() for r in cells)


def cmd_devices(settings, args) -> int:
    """``devices add|import|list|remove|template`` (see :func:`build_parser`). Exit 0 ok, 1 rejected (errors
    printed, nothing written), 2 bad usage."""
    from datasources.ingest import registry  # noqa: PLC0415

    if args.action == "template":
        data = registry.write_template(args.format)
        if args.output in (None, "-"):
            if args.format == "xlsx":
                print("an XLSX template needs --output FILE", file=sys.stderr)
                return 2
            sys.stdout.write(data.decode("utf-8-sig"))
        else:
            with open(args.output, "wb") as fh:
                fh.write(data)
            print(f"template written to {args.output}")
        return 0
    engine = _engine(settings)
    actor, role = _cli_actor(), "cli"
    if args.action == "list":
        stations = registry.list_stations(engine, simulated=None if args.all else False)
        if args.json:
            import dataclasses  # noqa: PLC0415

            print(json.dumps([dataclasses.asdict(s) for s in stations], ensure_ascii=False, indent=1))
            return 0
        rows = []
        for st in stations:
            rows.append([st.station_id, "yes" if st.simulated else "no", st.lifecycle, st.city_adcode, st.name,
                         "", "", "", ""])
            for d in st.devices:
                addr = d.host if d.transport == "rtu" else f"{d.host}:{d.port}"
                rows.append(["", "", "", "", "", d.device_id, d.model, f"{d.transport} {addr}", d.unit_id])
        print(_fmt_table(["station", "simulated", "lifecycle", "city", "name", "device", "model", "endpoint",
                          "unit"], rows))
        print(f"{len(stations)} station(s), {sum(len(s.devices) for s in stations)} device(s)"
              + ("" if args.all else " registered (--all adds the simulated demo fleet)"))
        return 0
    client = _registry_redis(settings)
    try:
        if args.action == "import":
            with open(args.file, "rb") as fh:
                data = fh.read()
            res = registry.import_devices(engine, data, os.path.basename(args.file), actor=actor, role=role,
                                          dry_run=args.dry_run, crs=args.crs, redis_client=client)
            if not res.ok:
                _print_issues(res.errors)
                print(f"{len(res.errors)} error(s) in {res.rows_read} row(s): nothing written", file=sys.stderr)
                return 1
            verb = "would import" if args.dry_run else "imported"
            print(f"{verb} {len(res.stations)} station(s), {len(res.devices)} device(s) from {res.rows_read} row(s)")
            return 0
        if args.action == "remove":
            if args.station:
                st = registry.remove_station(engine, args.station, actor=actor, role=role, redis_client=client)
                print(f"removed station {st.station_id} and {len(st.devices)} device(s)")
            elif args.device:
                registry.remove_device(engine, args.device, actor=actor, role=role, redis_client=client)
                print(f"removed device {args.device}")
            else:
                print("remove needs --device ID or --station ID", file=sys.stderr)
                return 2
            return 0
        # add
        station = {dst: getattr(args, src) for src, dst in _STATION_OPTS if getattr(args, src) is not None}
        device = {dst: getattr(args, src) for src, dst in _DEVICE_OPTS if getattr(args, src) is not None}
        from datasources.sql.repository import load_station  # noqa: PLC0415

        existing = load_station(engine, args.station)
        if existing is None:
            st = registry.add_station(engine, {"station_id": args.station, **station}, actor=actor, role=role,
                                      devices=[device] if device else [], crs=args.crs, redis_client=client)
            print(f"registered station {st.station_id} ({st.province_adcode}/{st.city_adcode}, "
                  f"{st.lon:.6f},{st.lat:.6f} WGS-84) with {len(st.devices)} device(s)")
        elif device:
            if station:
                print(f"station {args.station} exists: station options are ignored when adding a device",
                      file=sys.stderr)
            d = registry.add_device(engine, args.station, device, actor=actor, role=role, redis_client=client)
            print(f"added device {d.device_id} ({d.model}, {d.transport} {d.host}:{d.port} unit {d.unit_id})")
        else:
            print(f"station {args.station} exists; give device options to add a device", file=sys.stderr)
            return 1
        return 0
    except registry.RegistryError as err:
        _print_issues(err.issues)
        print("nothing written", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if client is not None:
            client.close()


def _devices_parser(sub) -> None:
    dv = sub.add_parser("devices", help="registry of real stations and devices (add, import, list, remove, template)")
    dsub = dv.add_subparsers(dest="action", required=True)
    add = dsub.add_parser("add", help="register a station (with one device) or add a device to a station")
    add.add_argument("--station", required=True, help="station id (new: give --name --kind --lifecycle --lon --lat)")
    add.add_argument("--name")
    add.add_argument("--name-en", dest="name_en")
    add.add_argument("--kind", help="standalone_module | smart_station | central_station")
    add.add_argument("--lifecycle", help="built | under_construction | idle | maintenance")
    add.add_argument("--lon", type=float)
    add.add_argument("--lat", type=float)
    add.add_argument("--crs", default="WGS84", help="datum of --lon/--lat: WGS84 | GCJ02 | BD09 (default WGS84)")
    add.add_argument("--province", help="province adcode (default: from the point)")
    add.add_argument("--city", help="city adcode (default: from the point)")
    add.add_argument("--capacity", type=float, help="installed capacity, m³/min")
    add.add_argument("--partner")
    add.add_argument("--device-id", dest="device_id", help="<station>-<suffix>, e.g. SZ0001-C1")
    add.add_argument("--device-kind", dest="device_kind",
                     help="compressor | dryer | flow_meter | power_meter | station_io | pipe_sensor")
    add.add_argument("--model", help="profile model, e.g. cc-fixed-speed-compressor")
    add.add_argument("--host")
    add.add_argument("--port", type=int)
    add.add_argument("--unit-id", dest="unit_id", type=int)
    add.add_argument("--transport", help="tcp | rtu_over_tcp | rtu (default tcp)")
    add.add_argument("--baudrate", type=int)
    add.add_argument("--parity", help="N | E | O")
    add.add_argument("--stopbits", type=int)
    add.add_argument("--bytesize", type=int)
    add.add_argument("--rated-flow", dest="rated_flow", type=float, help="compressor rated flow, m³/min")
    add.add_argument("--rated-power", dest="rated_power", type=float, help="compressor rated power, kW")
    add.add_argument("--specific-power", dest="specific_power", type=float, help="kW/(m³/min)")
    add.add_argument("--timeout-s", dest="timeout_s", type=float)
    add.add_argument("--retries", type=int)
    add.add_argument("--offline-after", dest="offline_after", type=int)
    add.add_argument("--poll-interval-s", dest="poll_interval_s", type=float)
    add.add_argument("--max-gap", dest="max_gap", type=int)
    add.add_argument("--max-registers-per-read", dest="max_registers_per_read", type=int)
    imp = dsub.add_parser("import", help="import a CSV / XLSX file (one row per device), all or nothing")
    imp.add_argument("file")
    imp.add_argument("--dry-run", action="store_true", help="validate only, write nothing")
    imp.add_argument("--crs", default="WGS84", help="datum of lon/lat where the crs column is empty")
    ls = dsub.add_parser("list", help="registered stations and devices")
    ls.add_argument("--all", action="store_true", help="include the simulated demo fleet")
    ls.add_argument("--json", action="store_true")
    rm = dsub.add_parser("remove", help="remove a device, or a whole station with --station")
    rm.add_argument("--device")
    rm.add_argument("--station")
    tp = dsub.add_parser("template", help="an example import file")
    tp.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    tp.add_argument("--output", "-o", help="file to write (default: CSV to stdout)")
    dv.set_defaults(func=cmd_devices)


def cmd_snapshot(settings, args) -> int:
    """The leaders' weekly snapshot (HTML + PDF) of one ISO week (:func:`dashboard.pages.snapshot.main`)."""
    from dashboard.pages.snapshot import main as snapshot_main  # noqa: PLC0415

    argv = ["--lang", args.lang] + (["--week", args.week] if args.week else []) + (["--out", args.out] if args.out
                                                                                  else [])
    return snapshot_main(argv)


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
    args = build_parser().parse_args(argv)
    _setup_logging(args.log_level)
    from datasources.settings import load_settings  # noqa: PLC0415

    return args.func(load_settings(), args)
