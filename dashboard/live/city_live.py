"""Live pipe pressures for the city rooms: a small background thread of the web process.

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

import logging
import threading
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from datasources.bus.messages import now_ms
from datasources.sql.city_models import Pipeline
from layers.pipelines import alarmed_sensors, live_pressures, pressure_status

log = logging.getLogger(__name__)

NAMESPACE = "/"


class PipeEmitter:
    """Emit ``pipe_states`` deltas to the occupied city rooms (see the module docstring)."""

    def __init__(self, socketio, ctx, interval_s: float = 2.0, rows_ttl_s: float = 60.0) -> None:
        self.socketio = socketio
        self.ctx = ctx
        self.interval_s = interval_s
        self.rows_ttl_s = rows_ttl_s
        self._rows: dict[str, tuple[float, list[tuple]]] = {}
        self._last: dict[str, dict[str, list]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "PipeEmitter":
        self._thread = threading.Thread(target=self._run, name="cc-pipe-emitter", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _city_rooms(self) -> list[str]:
        try:
            rooms = self.socketio.server.manager.rooms.get(NAMESPACE, {})
        except AttributeError:
            return []
        return [r for r, members in list(rooms.items()) if isinstance(r, str) and r.startswith("city:") and members]

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
        rooms = self._city_rooms()
        for room in rooms:
            now = self.states(room.partition(":")[2])
            last = self._last.get(room, {})
            changed = {k: v for k, v in now.items() if last.get(k) != v}
            self._last[room] = now
            if changed:
                self.socketio.emit("pipe_states", {"scope": room, "ts_ms": now_ms(), "pipes": changed}, to=room,
                                   namespace=NAMESPACE, ignore_queue=True)
                emitted += len(changed)
        for room in [r for r in self._last if r not in rooms]:
            self._last.pop(room, None)
        return emitted

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001 — Redis/SQL hiccup: try again next tick
                log.warning("pipe emitter: %s", exc)
