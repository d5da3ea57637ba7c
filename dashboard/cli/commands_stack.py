"""The stack's processes: ``sim``, ``poll`` (with the registry watcher), ``alarms``, ``record``, ``web``,
``snapshot``, and ``run``, which supervises them all (:mod:`dashboard.cli.supervisor`).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys

from dashboard.cli.commands_seed import HISTORY_DAYS, _engine, _ensure_seeded

log = logging.getLogger("dashboard")


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


def cmd_web(settings, args) -> int:
    from dashboard.web.server import serve  # noqa: PLC0415

    serve(settings)
    return 0


def cmd_snapshot(settings, args) -> int:
    """The leaders' weekly snapshot (HTML + PDF) of one ISO week (:func:`dashboard.pages.snapshot.main`)."""
    from dashboard.pages.snapshot import main as snapshot_main  # noqa: PLC0415

    argv = ["--lang", args.lang] + (["--week", args.week] if args.week else []) + (["--out", args.out] if args.out
                                                                                  else [])
    return snapshot_main(argv)


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
