"""Live pipe pressures for the city rooms: a small background task of the web process
(:class:`dashboard.live.fanout.PeriodicFanout`).

Every ``interval_s`` (default 2 s, ``CC_PIPE_EMIT_S``) it looks at the Socket.IO rooms ``city:<adcode>`` this
process has members in, reads the pressure sensors of those cities' pipes from ``cc:latest:<sensor>``
(:func:`layers.pipelines.live_pressures`; the underground sensors are written by
:func:`datasources.sim.pipe_sensors.publish_pipe_sensors`, the compressed-air lines read their station's flow meter) and
emits, to each room, the pipes whose status or pressure changed since the last emission:

=================  ===================================================================================  ==========
event              payload                                                                              room
=================  ===================================================================================  ==========
``pipe_states``    ``{"scope": "city:310100", "ts_ms": int, "pipes": {pipe_id: [status, MPa|None]}}``    ``city:…``
=================  ===================================================================================  ==========

``status`` as :func:`layers.pipelines.pressure_status` (``low`` = the alarm highlight: the sensor's active alarm in
SQL, :func:`layers.pipelines.alarmed_sensors`). A page gets the full state
with the layer's data (``/api/layers/pipelines`` or the city-layers callback) and applies these deltas clientside
(no geometry is re-sent). Emits go to this process's clients only (like :class:`dashboard.live.bridge.LiveBridge`).
"""
from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.live.fanout import PeriodicFanout
from datasources.bus.messages import now_ms
from datasources.sql.city_models import Pipeline
from layers.pipelines import alarmed_sensors, live_pressures, pressure_status


class PipeEmitter(PeriodicFanout):
    """Emit ``pipe_states`` deltas to the occupied city rooms every ``interval_s`` seconds (see the module
    docstring). ``ctx``: the app's :class:`dashboard.web.context.AppContext` (engine, redis, stale_after_s);
    ``rows_ttl_s``: how long a city's pipe rows are cached, s."""

    name = "cc-pipe-emitter"
    log_name = "pipe emitter"

    def __init__(self, socketio, ctx, interval_s: float = 2.0, rows_ttl_s: float = 60.0) -> None:
        super().__init__(socketio, interval_s)
        self.ctx = ctx
        self.rows_ttl_s = rows_ttl_s
        self._rows: dict[str, tuple[float, list[tuple]]] = {}
        self._last: dict[str, dict[str, list]] = {}

    def _pipes(self, city: str) -> list[tuple]:
        hit = self._rows.get(city)
        if hit is not None and time.monotonic() - hit[0] < self.rows_ttl_s:
            return hit[1]
        with Session(self.ctx.engine) as s:
            rows = [tuple(r) for r in s.execute(
                select(Pipeline.pipeline_id, Pipeline.sensor_device_id, Pipeline.nominal_pressure_mpa,
                       Pipeline.low_pressure_mpa).where(Pipeline.city_adcode == city))]
        self._rows[city] = (time.monotonic(), rows)
        return rows

    def states(self, city: str) -> dict[str, list]:
        """``{pipe_id: [status, pressure MPa or None]}`` of a city's pipes now."""
        rows = self._pipes(city)
        sensors = sorted({r[1] for r in rows if r[1]})
        live = live_pressures(self.ctx.redis, sensors, self.ctx.stale_after_s)
        in_alarm = alarmed_sensors(self.ctx.engine, sensors)  # the alarm engine judges; None = fall back
        out = {}
        for pid, sensor, nominal, low in rows:
            p = live.get(sensor, (None, None))[0] if sensor else None
            alarmed = (in_alarm or {}).get(sensor) if sensor else None
            out[pid] = [pressure_status(p, nominal, low, sensor is not None, alarmed), p]
        return out

    def tick(self) -> int:
        """One pass over the occupied city rooms; returns the number of pipes emitted."""
        emitted = 0
        rooms = self.occupied_rooms("city:")
        for room in rooms:
            now = self.states(room.partition(":")[2])
            last = self._last.get(room, {})
            changed = {k: v for k, v in now.items() if last.get(k) != v}
            self._last[room] = now
            if changed:
                self.emit("pipe_states", {"scope": room, "ts_ms": now_ms(), "pipes": changed}, to=room)
                emitted += len(changed)
        for room in [r for r in self._last if r not in rooms]:
            self._last.pop(room, None)
        return emitted
