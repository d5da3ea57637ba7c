"""A live simulated fleet for the operations tests and the alarm-latency benchmark: the Modbus simulator
(:class:`datasources.sim.simulator.FleetSimulator`, real pymodbus TCP servers), the poller (:class:`datasources.modbus.poller
.Poller`, real Modbus reads → real Redis) and the alarm engine (:class:`datasources.workers.alarm_engine.AlarmEngine`, real
stream consumer → real SQL), all in background threads of the calling process.

Usage::

    stations = single_port_fleet(build_fleet(6, seed=5))          # every device behind one free port
    with LiveFleet(stations, redis_url, database_url, interval_s=0.5) as live:
        live.inject("ST0003", "fire")                              # simulator fault (thread-safe)
        live.wait_latest("ST0003-IO1", lambda v: v.get("fire") == 1)
"""
from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from typing import Any, Callable

import redis

from datasources.workers.alarm_engine import AlarmEngine
from datasources.bus.messages import latest_key, parse_latest
from datasources.sql.db import make_engine
from datasources.sql.fleet_spec import StationSpec
from datasources.modbus.poller import Poller
from datasources.modbus.profiles import default_profiles
from datasources.bus.redis_server import free_port
from datasources.sim.simulator import FleetSimulator


def single_port_fleet(stations: list[StationSpec], port: int | None = None, host: str = "127.0.0.1",
                      units_per_port: int = 240) -> list[StationSpec]:
    """The same fleet behind Modbus TCP gateways: ``host:port`` with unit ids 1…``units_per_port``, then the next
    free port (one endpoint for up to 240 devices)."""
    port = port or free_port()
    unit = 0
    out = []
    for st in stations:
        devs = []
        for d in st.devices:
            if unit == units_per_port:
                port, unit = free_port(), 0
            unit += 1
            devs.append(dataclasses.replace(d, host=host, port=port, unit_id=unit))
        out.append(dataclasses.replace(st, devices=tuple(devs)))
    return out


def wait_for(predicate: Callable[[], Any], timeout_s: float = 10.0, what: str = "condition",
             interval_s: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy (returned) or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


class LiveFleet:
    """Simulator + poller (one asyncio loop thread) and, optionally, the alarm engine (one thread).

    Args:
        stations: the fleet (as stored in SQL).
        redis_url / database_url: the stack's bus and database.
        interval_s: poll cycle, s. tick_s: simulator physics tick, s.
        alarm_engine: also run the alarm engine (consumer group created at the stream's end on start).
    """

    def __init__(self, stations: list[StationSpec], redis_url: str, database_url: str, *, interval_s: float = 0.5,
                 tick_s: float = 0.5, alarm_engine: bool = True, seed: int = 3):
        self.stations, self.redis_url, self.database_url = stations, redis_url, database_url
        self.interval_s, self.tick_s, self.with_engine, self.seed = interval_s, tick_s, alarm_engine, seed
        self.sim: FleetSimulator | None = None
        self.poller: Poller | None = None
        self.engine: AlarmEngine | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.redis = redis.Redis.from_url(redis_url)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "LiveFleet":
        t = threading.Thread(target=self._run_loop, name="live-fleet", daemon=True)
        t.start()
        self._threads.append(t)
        if not self._ready.wait(30) or self._error:
            raise RuntimeError(f"simulated fleet did not start: {self._error!r}")
        if self.with_engine:
            db = make_engine(self.database_url)
            self.engine = AlarmEngine(db, redis.Redis.from_url(self.redis_url), consumer="test-alarms", batch=500)
            self.engine.start()  # group at the end of the stream, active alarms restored
            e = threading.Thread(target=self.engine.run, args=(self._stop,), kwargs={"block_ms": 100},
                                 name="live-alarms", daemon=True)
            e.start()
            self._threads.append(e)
        return self

    def _run_loop(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def main():
            self.sim = FleetSimulator(self.stations, seed=self.seed, tick_s=self.tick_s)
            await self.sim.start()
            await self.sim.listen_control(self.redis_url)  # `python -m dashboard fault …` works on this bus too
            self.poller = Poller(self.stations, default_profiles(), self.redis_url, interval_s=self.interval_s,
                                 timeout_s=0.5)
            task = asyncio.create_task(self.poller.run())
            self._ready.set()
            try:
                while not self._stop.is_set():
                    await asyncio.sleep(0.05)
            finally:
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):  # noqa: BLE001
                    pass
                await self.poller.aclose()
                await self.sim.stop()

        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # noqa: BLE001 — reported by start()
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(15)
        if self.engine is not None:
            self.engine.db.dispose()
        self.redis.close()

    def __enter__(self) -> "LiveFleet":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ simulator control (thread-safe)
    def _call(self, fn: Callable, *args) -> Any:
        async def run():
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def inject(self, station_id: str, fault: str, on: bool = True) -> None:
        """Switch a simulator fault (``fire``, ``occupancy``, ``overheat`` …) on or off."""
        self._call(self.sim.inject_fault, station_id, fault, on)

    def set_value(self, device_id: str, name: str, value: float) -> None:
        """Pin a simulated register (engineering units) until :meth:`clear_value`."""
        self._call(self.sim.set_value, device_id, name, value)

    def clear_value(self, device_id: str, name: str | None = None) -> None:
        self._call(self.sim.clear_value, device_id, name)

    def values(self, device_id: str) -> dict[str, Any]:
        """What the simulator serves for a device right now."""
        return self._call(self.sim.values, device_id)

    # ------------------------------------------------------------------ the bus
    def latest(self, device_id: str) -> dict[str, Any]:
        raw = self.redis.hgetall(latest_key(device_id))
        return parse_latest(raw) if raw else {"values": {}}

    def wait_latest(self, device_id: str, predicate: Callable[[dict], bool], timeout_s: float = 10.0) -> dict:
        """Wait until the poller has written a ``cc:latest`` of ``device_id`` (online) whose values satisfy
        ``predicate``."""
        def ok():
            d = self.latest(device_id)
            return d if d.get("online") and predicate(d["values"]) else None

        return wait_for(ok, timeout_s, f"cc:latest:{device_id}")


__all__ = ["LiveFleet", "single_port_fleet", "wait_for"]
