"""Underground pipe pressure sensors of the demo city layers: their simulated values (written to Redis for first
paint) and their attachment as Modbus devices (``pipe_sensor`` profile) of the nearest demo station, so the
simulator serves them, the poller reads them and the alarm engine judges low pressure."""
from __future__ import annotations

import logging
import math
import time
import zlib
from typing import Sequence

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from datasources.sql.city_models import Pipeline
from geo.crs import haversine_m

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- live values of the pipe sensors


def pipe_sensor_values(sensor_ids: Sequence[str], nominal_mpa: Sequence[float], now_ms: int,
                       seed: int = 42) -> dict[str, float]:
    """Simulated ``pressure_mpa`` of underground pipe sensors at ``now_ms`` (epoch ms).

    Each sensor reads nominal × (0.97 … 1.03) with a slow drift; every 10 minutes one sensor in 25 (a different set
    each period, by hash) shows a leak: 55–75 % of nominal — below the 80 % alarm threshold.
    Returns:
        ``{sensor_id: MPa}`` rounded to 3 decimals (the flow meter's register resolution).
    """
    period = now_ms // 600_000
    out = {}
    for sid, nominal in zip(sensor_ids, nominal_mpa):
        h = _stable_hash(f"{seed}:{sid}")
        phase = (h % 1000) / 1000.0 * 2 * math.pi
        val = nominal * (1.0 + 0.03 * math.sin(now_ms / 90_000.0 + phase))
        if _stable_hash(f"{seed}:{sid}:{period}") % 25 == 0:
            val = nominal * (0.55 + 0.2 * ((h >> 10) % 100) / 100.0)
        out[sid] = round(val, 3)
    return out


def _stable_hash(s: str) -> int:
    """CRC-32 of a string: a hash that is the same in every process (``hash()`` is salted per process)."""
    return zlib.crc32(s.encode("utf-8"))


def publish_pipe_sensors(redis_client, engine: Engine, now_ms: int | None = None, seed: int = 42) -> int:
    """Write the simulated values of every underground pipe sensor to Redis ``cc:latest:<sensor>`` hashes, in the
    bus format (``pressure_mpa``, ``_ts_ms``, ``_online`` = ``"1"``, ``_station_id`` = ``""``, ``_error`` = ``""``;
    see :func:`datasources.bus.messages.parse_latest`). Call it from the simulator loop (e.g. every 5 s).

    Returns:
        number of sensors written.
    Raises:
        redis.exceptions.RedisError, sqlalchemy.exc.SQLAlchemyError.
    """
    from datasources.bus.messages import latest_key  # noqa: PLC0415

    now_ms = int(time.time() * 1000) if now_ms is None else int(now_ms)
    with Session(engine) as s:
        rows = s.execute(select(Pipeline.sensor_device_id, Pipeline.nominal_pressure_mpa)
                         .where(Pipeline.kind == "underground", Pipeline.sensor_device_id.is_not(None))).all()
    values = pipe_sensor_values([r[0] for r in rows], [r[1] for r in rows], now_ms, seed)
    pipe = redis_client.pipeline(transaction=False)
    for sid, v in values.items():
        pipe.hset(latest_key(sid), mapping={"pressure_mpa": f"{v:.3f}", "_ts_ms": str(now_ms), "_online": "1",
                                            "_station_id": "", "_error": ""})
    if values:
        pipe.execute()
    return len(values)


# ---------------------------------------------------------------- pipe sensors as Modbus devices

#: profile model of the pipe sensors (``datasources/modbus/profiles/pipe_sensor.yaml``)
PIPE_SENSOR_MODEL = "cc-pipe-sensor"
#: unit ids per simulator port for the pipe sensors (as :data:`datasources.sim.fleet.UNITS_PER_PORT`)
PIPE_SENSOR_UNITS_PER_PORT = 48


def pipe_sensor_setpoints(engine: Engine) -> dict[str, tuple[float, float]]:
    """``{sensor_device_id: (nominal_pressure_mpa, low_pressure_mpa)}`` of every monitored pipe segment whose sensor
    is a ``PS-…`` pipe sensor (MPa gauge; ``low_pressure_mpa`` ``NULL`` in SQL = 0.8 × nominal, layers/pipelines.py).
    For the simulator (:meth:`datasources.sim.physics.FleetPhysics.set_pipe`) and the seed."""
    out: dict[str, tuple[float, float]] = {}
    with Session(engine) as s:
        rows = s.execute(select(Pipeline.sensor_device_id, Pipeline.nominal_pressure_mpa, Pipeline.low_pressure_mpa)
                         .where(Pipeline.sensor_device_id.like("PS-%"))).all()
    for sensor, nominal, low in rows:
        nominal = float(nominal)
        out[sensor] = (nominal, float(low) if low is not None else round(0.8 * nominal, 4))
    return out


def attach_pipe_sensors(engine: Engine, units_per_port: int = PIPE_SENSOR_UNITS_PER_PORT) -> int:
    """Make every ``PS-<city>-<n>`` pipe sensor of the ``pipelines`` table a Modbus device (kind ``pipe_sensor``,
    model :data:`PIPE_SENSOR_MODEL`, ``device_id`` = the sensor id, so ``cc:latest:<sensor>`` keeps feeding the
    pipelines layer) of a station, addressed on the simulator. Call it after :func:`seed_city_layers`; idempotent
    (sensors that already are devices are skipped).

    Station: the pipe's own ``station_id`` when that station is built and simulated, else the built, simulated
    station of the pipe's city nearest (great circle) to the segment's bounding-box centre; a sensor of a city
    without such a station stays unattached (logged). Air-line sensors ``<station>-FM`` already are their station's
    flow meter and are left alone. Address: the host of the station's devices, ports after the highest port used
    by any simulated device, ``units_per_port`` unit ids per port.

    Returns:
        number of devices created.
    Raises:
        ValueError: ``units_per_port`` not in 1..247.
    """
    from datasources.sql.models import Device, Station  # noqa: PLC0415

    if not 1 <= units_per_port <= 247:
        raise ValueError(f"units_per_port must be 1..247 (Modbus unit ids), got {units_per_port}")
    created = 0
    with Session(engine) as s:
        existing = set(s.scalars(select(Device.device_id).where(Device.device_id.like("PS-%"))))
        pipes = s.execute(select(Pipeline.sensor_device_id, Pipeline.station_id, Pipeline.city_adcode,
                                 Pipeline.min_lon, Pipeline.min_lat, Pipeline.max_lon, Pipeline.max_lat)
                          .where(Pipeline.sensor_device_id.like("PS-%"))
                          .order_by(Pipeline.sensor_device_id)).all()
        pipes = [p for p in pipes if p.sensor_device_id not in existing]
        if not pipes:
            return 0
        stations = s.execute(select(Station.station_id, Station.city_adcode, Station.lon, Station.lat)
                             .where(Station.lifecycle == "built", Station.simulated.is_(True))).all()
        by_city: dict[str, list] = {}
        for st in stations:
            by_city.setdefault(st.city_adcode, []).append(st)
        known = {st.station_id for st in stations}
        hosts = dict(s.execute(select(Device.station_id, func.min(Device.host)).group_by(Device.station_id)).all())
        top = s.scalar(select(func.max(Device.port)).join(Station, Station.station_id == Device.station_id)
                       .where(Station.simulated.is_(True)))
        base_port = int(top or 15019) + 1
        seen: set[str] = set()
        for p in pipes:
            if p.sensor_device_id in seen:
                continue
            seen.add(p.sensor_device_id)
            sid = p.station_id if p.station_id in known else None
            if sid is None:
                cands = by_city.get(p.city_adcode) or []
                if not cands:
                    log.warning("pipe sensor %s: no built simulated station in city %s; not attached",
                                p.sensor_device_id, p.city_adcode)
                    continue
                lon, lat = (p.min_lon + p.max_lon) / 2.0, (p.min_lat + p.max_lat) / 2.0
                sid = min(cands, key=lambda st: (haversine_m(lon, lat, st.lon, st.lat), st.station_id)).station_id
            port, unit = base_port + created // units_per_port, created % units_per_port + 1
            s.add(Device(device_id=p.sensor_device_id, station_id=sid, kind="pipe_sensor", model=PIPE_SENSOR_MODEL,
                         host=hosts.get(sid) or "127.0.0.1", port=port, unit_id=unit))
            created += 1
        s.commit()
    log.info("attached %d pipe sensor(s) as devices", created)
    return created
