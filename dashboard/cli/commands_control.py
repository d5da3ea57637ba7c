"""Commands to the running simulator over the bus (``cc:sim:control``): ``fault``, ``set``, ``clear``.
"""
from __future__ import annotations

import json
import logging
import sys

log = logging.getLogger("dashboard")


FAULTS = ("overheat", "high_dew_point", "comm_loss", "fire", "flood", "intrusion", "pressure_drop", "occupancy",
          "pipe_leak")


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
