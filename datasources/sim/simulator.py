"""The simulated fleet on the wire: real pymodbus Modbus TCP servers serving :mod:`datasources.sim.physics`.

One pymodbus :class:`~pymodbus.server.ModbusTcpServer` per ``(host, port)`` found in the fleet's devices; every
device is a :class:`~pymodbus.simulator.SimDevice` (the SimData/SimDevice API pymodbus 3.16 recommends over the
deprecated ``ModbusServerContext``) at its own unit id, so several stations share a port, as behind a gateway.
The four register types are kept apart (non-shared blocks), as on a real controller: ``coil 0`` and ``holding 0``
are different cells. Each block spans its profile's addresses (gaps read 0); other addresses answer exception 2
(ILLEGAL DATA ADDRESS). The block layout and the register encoding of reads and writes are
:mod:`datasources.sim.register_blocks`; this module runs the servers, the tick loop, overrides, faults and control.

How values reach the wire: the physics steps all devices at once (numpy, one call per tick); a SimDevice *action*
callback — called by pymodbus with the live register list before every read or write of a block — re-encodes that
block with :func:`datasources.modbus.codec.encode` from the device's current engineering values when the physics has
stepped since the block was last encoded. So a client decoding with the same profile reads the physics values, and
a fleet of 10,000 stations costs encoding only for the devices actually polled.

How client writes reach the physics: the same action sees every write (coils ``run_command`` / ``load_enable``,
holding set points) before pymodbus stores it, decodes it with the profile and applies it to the physics
(:meth:`~datasources.sim.physics.FleetPhysics.command_many`); the result shows in ``run_state`` after the next
tick. Writes to read-only registers answer exception 2, set points out of range exception 3 (ILLEGAL DATA VALUE).

``comm_loss`` on the wire (``comm_loss_mode``):

* ``"timeout"`` (default; a dead gateway or a cut line): the station's devices do not answer at all — the request is
  dropped (pymodbus's ``ignore_missing_devices`` path), the client times out (``ModbusIOException``); other stations
  on the same port and connection keep answering. Unit ids not in the fleet are silent as well.
* ``"exception"``: the devices answer exception 0x0B (GATEWAY TARGET DEVICE FAILED TO RESPOND), unknown unit ids
  0x0A (GATEWAY PATH UNAVAILABLE) — what a live Modbus gateway with a dead serial line reports.

Control over Redis (:meth:`FleetSimulator.listen_control`): JSON commands on ``cc:sim:control``
(:data:`datasources.bus.messages.SIM_CONTROL_CHANNEL`), schema version 1::

    {"v": 1, "cmd": "fault", "station_id": "ST00001", "fault": "overheat", "on": true}
    {"v": 1, "cmd": "set",   "device_id": "ST00001-C1", "name": "discharge_temp_c", "value": 118}
    {"v": 1, "cmd": "clear", "device_id": "ST00001-C1", "name": "discharge_temp_c"}   # name omitted: all

A malformed or unknown command is logged and ignored.
"""
from __future__ import annotations

import asyncio
import copy
import json
import logging
import math
import signal
import time
from typing import Any, Sequence

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import SimDevice

from datasources.bus.messages import SIM_CONTROL_CHANNEL
from datasources.sql.fleet_spec import StationSpec
from datasources.modbus.codec import DecodeError, encode
from datasources.modbus.profiles import DeviceProfile, default_profiles
from datasources.sim.physics import FleetPhysics
from datasources.sim.physics_constants import CONTROLS, FAULTS
from datasources.sim.register_blocks import (CATCH_ALL_SPAN, FC_REGISTER_TYPE, RegisterBlock, ServedDevice,
                                             block_layout, block_simdata, decode_write, encode_block)

log = logging.getLogger(__name__)

COMM_LOSS_MODES = ("timeout", "exception")
CONTROL_SCHEMA_VERSION = 1


class FleetSimulator:
    """The simulated fleet: physics plus one pymodbus TCP server per ``(host, port)`` of the devices.

    Args:
        stations: the fleet; only ``lifecycle == 'built'`` stations (and their devices) are served.
        profiles: ``{model: DeviceProfile}``; default :func:`datasources.modbus.profiles.default_profiles`.
        seed: physics seed (:class:`~datasources.sim.physics.FleetPhysics`); same seed + same start time + same
            ticks → same values.
        tick_s: real seconds between physics steps when started (default 1 s, the 1 Hz of the spec);
            ``None``: no automatic ticking, the caller steps with :meth:`advance`.
        time_scale: simulated seconds per real second (each tick steps ``tick_s × time_scale``); 1 = real time.
        start_time_s: simulated epoch seconds UTC at start (default: the wall clock); drives the shift pattern.
        warmup_s: simulated seconds stepped before ``start_time_s`` so that pressures and run states have settled.
        comm_loss_mode: ``"timeout"`` (no reply) or ``"exception"`` (exception 0x0B); see the module docstring.

    Raises:
        ValueError: a device model without profile, two devices on the same host/port/unit id, bad mode.

    Attributes:
        physics: the :class:`~datasources.sim.physics.FleetPhysics`.
        ports: sorted TCP ports served (one server per host/port pair).
    """

    def __init__(self, stations: Sequence[StationSpec], profiles: dict[str, DeviceProfile] | None = None,
                 seed: int = 42, tick_s: float | None = 1.0, *, time_scale: float = 1.0,
                 start_time_s: float | None = None, warmup_s: float = 120.0,
                 comm_loss_mode: str = "timeout") -> None:
        if comm_loss_mode not in COMM_LOSS_MODES:
            raise ValueError(f"comm_loss_mode {comm_loss_mode!r} is not one of {list(COMM_LOSS_MODES)}")
        if tick_s is not None and tick_s <= 0:
            raise ValueError(f"tick_s must be > 0 or None, got {tick_s}")
        if time_scale <= 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale}")
        self.profiles = default_profiles() if profiles is None else profiles
        self.tick_s = tick_s
        self.time_scale = float(time_scale)
        self.comm_loss_mode = comm_loss_mode
        start = time.time() if start_time_s is None else float(start_time_s)
        self._devices: dict[str, ServedDevice] = {}
        self._endpoints: dict[tuple[str, int], dict[int, ServedDevice]] = {}
        built = [s for s in stations if s.lifecycle == "built"]
        layouts: dict[str, dict[str, RegisterBlock]] = {}  # per model; blocks are read-only, shared by its devices
        for st in built:
            for dev in st.devices:
                profile = self.profiles.get(dev.model)
                if profile is None:
                    raise ValueError(f"device {dev.device_id}: no profile for model {dev.model!r}")
                if profile.kind != dev.kind:
                    raise ValueError(f"device {dev.device_id}: kind {dev.kind!r} does not match profile "
                                     f"{dev.model!r} of kind {profile.kind!r}")
                units = self._endpoints.setdefault((dev.host, dev.port), {})
                if dev.unit_id in units:
                    raise ValueError(f"devices {units[dev.unit_id].spec.device_id} and {dev.device_id} share "
                                     f"{dev.host}:{dev.port} unit {dev.unit_id}")
                if not 0 <= dev.unit_id <= 247:
                    raise ValueError(f"device {dev.device_id}: unit id {dev.unit_id} is outside 0..247")
                if dev.model not in layouts:
                    layouts[dev.model] = block_layout(profile)
                d = ServedDevice(dev, profile, layouts[dev.model])
                units[dev.unit_id] = d
                self._devices[dev.device_id] = d
        vsd_models = {m for m, p in self.profiles.items() if p.kind == "compressor"
                      and "target_pressure_mpa" in p.by_name}
        self.physics = FleetPhysics(built, seed=seed, now_s=start - warmup_s, vsd_models=vsd_models)
        if warmup_s > 0:
            self.physics.step(warmup_s, start)
        self._version = 0
        self._servers: list[ModbusTcpServer] = []
        self._templates: dict[str, SimDevice] = {}
        self._tick_task: asyncio.Task | None = None
        self._control_task: asyncio.Task | None = None
        self._control_ready: asyncio.Event | None = None
        self._warned: set[tuple[str, str]] = set()
        self.ticks = 0

    # ------------------------------------------------------------------------------------------------ properties
    @property
    def ports(self) -> list[int]:
        """TCP ports served, sorted."""
        return sorted({port for _host, port in self._endpoints})

    @property
    def endpoints(self) -> list[tuple[str, int]]:
        """``(host, port)`` pairs served, sorted; one pymodbus server each."""
        return sorted(self._endpoints)

    @property
    def now_s(self) -> float:
        """Simulated time of the served values, epoch seconds UTC."""
        return self.physics.t_s

    @property
    def device_ids(self) -> list[str]:
        """Ids of every served device."""
        return list(self._devices)

    # ------------------------------------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Start every Modbus server (listening when this returns) and, if ``tick_s`` is set, the physics ticker.

        Raises:
            OSError: a host/port cannot be bound (servers started so far are stopped again).
        """
        if self._servers:
            raise RuntimeError("simulator already started")
        try:
            for (host, port), units in sorted(self._endpoints.items()):
                devices = [self._sim_device(d) for d in units.values()]
                if 0 not in units:
                    devices.append(self._catch_all_device())
                server = ModbusTcpServer(devices, address=(host, port), ignore_missing_devices=True)
                try:
                    await server.serve_forever(background=True)
                except RuntimeError as exc:
                    raise OSError(f"simulator cannot listen on {host}:{port}: {exc}") from exc
                self._servers.append(server)
        except BaseException:
            await self._close_servers()
            raise
        if self.tick_s is not None:
            self._tick_task = asyncio.create_task(self._tick_loop(), name="sim-tick")
        log.info("simulator serving %d devices of %d stations on %d endpoints (%s), tick %s s × %g",
                 len(self._devices), self.physics.n_stations, len(self._servers),
                 ", ".join(f"{h}:{p}" for h, p in self.endpoints[:4]) + (" …" if len(self._servers) > 4 else ""),
                 self.tick_s, self.time_scale)

    async def stop(self) -> None:
        """Stop the ticker, the control listener and every server (client connections are closed). Idempotent."""
        for task in (self._tick_task, self._control_task):
            if task is not None and not task.done():
                task.cancel()
        for task in (self._tick_task, self._control_task):
            if task is not None:
                try:
                    await task
                except asyncio.CancelledError:
                    pass
                except Exception:  # noqa: BLE001 — already logged by the task
                    pass
        self._tick_task = self._control_task = None
        await self._close_servers()

    async def _close_servers(self) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            try:
                await server.shutdown()
            except Exception as exc:  # noqa: BLE001 — keep stopping the others
                log.warning("stopping a Modbus server failed: %s", exc)

    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        assert self.tick_s is not None
        next_at = loop.time()
        last_overrun_log = -math.inf
        while True:
            next_at += self.tick_s
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            late = loop.time() - next_at
            if late > 5 * self.tick_s:  # the loop was blocked: do not try to catch up tick by tick
                if loop.time() - last_overrun_log > 60:
                    log.warning("simulator tick %.2f s late; skipping ahead", late)
                    last_overrun_log = loop.time()
                next_at = loop.time()
            try:
                self.advance(self.tick_s * self.time_scale)
            except Exception:  # noqa: BLE001 — the simulator must keep serving
                log.exception("physics step failed")

    def advance(self, dt_s: float) -> None:
        """Step the physics by ``dt_s`` simulated seconds now; the next Modbus read serves the new values."""
        self.physics.step(dt_s)
        self._version += 1
        self.ticks += 1

    # ------------------------------------------------------------------------------------------------ pymodbus glue
    def _sim_device(self, dev: ServedDevice) -> SimDevice:
        async def action(function_code: int, start_address: int, address: int, count: int,
                         current_registers: list[int], set_values: list[int] | list[bool] | None,
                         ) -> ExcCodes | None:
            return self._on_access(dev, function_code, address, current_registers, set_values)

        template = self._templates.get(dev.spec.model)
        if template is None:  # pymodbus validates a SimDevice on construction: once per model, then copies
            template = self._templates[dev.spec.model] = SimDevice(id=1, simdata=block_simdata(dev.blocks))
        sim_device = copy.copy(template)
        sim_device.id = dev.spec.unit_id
        sim_device.action = action
        return sim_device

    def _catch_all_device(self) -> SimDevice:
        async def action(function_code: int, start_address: int, address: int, count: int,
                         current_registers: list[int], set_values: list[int] | list[bool] | None,
                         ) -> ExcCodes | None:
            if self.comm_loss_mode == "timeout":
                raise NoSuchIdException("unit id not served by the simulator")
            return ExcCodes.GATEWAY_PATH_UNAVIABLE

        return SimDevice(id=0, simdata=block_simdata({}, span=CATCH_ALL_SPAN), action=action)

    def _on_access(self, dev: ServedDevice, function_code: int, address: int, registers: list[int],
                   set_values: list[int] | list[bool] | None) -> ExcCodes | None:
        """pymodbus action: refresh the block from the physics before a read; apply a write to the physics."""
        if self.physics.fault_active(dev.spec.station_id, "comm_loss"):
            if self.comm_loss_mode == "timeout":
                raise NoSuchIdException(f"{dev.spec.device_id}: comm_loss (simulated, no reply)")
            return ExcCodes.GATEWAY_NO_RESPONSE
        rtype = FC_REGISTER_TYPE.get(function_code)
        block = dev.blocks.get(rtype) if rtype else None
        if block is None:
            return ExcCodes.ILLEGAL_ADDRESS
        self._refresh(dev, block, registers)
        if set_values is None:
            return None
        return self._apply_write(dev, block, address, list(set_values), registers)

    def _refresh(self, dev: ServedDevice, block: RegisterBlock, registers: list[int]) -> None:
        if dev.encoded_at.get(block.rtype) == self._version:
            return
        encode_block(dev.spec.device_id, block, self._current(dev), registers, self._warned)
        dev.encoded_at[block.rtype] = self._version

    def _apply_write(self, dev: ServedDevice, block: RegisterBlock, address: int, values: list, registers: list[int],
                     ) -> ExcCodes | None:
        changes = decode_write(block, address, values, registers)
        if isinstance(changes, ExcCodes):
            return changes
        controls = {k: v for k, v in changes.items() if k in CONTROLS}
        if controls:
            try:
                self.physics.command_many(dev.spec.device_id, controls)
            except ValueError as exc:
                log.info("rejected write %s: %s", dev.spec.device_id, exc)
                return ExcCodes.ILLEGAL_VALUE
            except KeyError as exc:
                log.info("rejected write %s: %s", dev.spec.device_id, exc)
                return ExcCodes.ILLEGAL_ADDRESS
        for k, v in changes.items():
            if k not in CONTROLS:
                dev.memory[k] = v
        if changes:
            log.info("Modbus write %s %s", dev.spec.device_id, changes)
            dev.encoded_at.clear()
        return None

    # ------------------------------------------------------------------------------------------------ public API
    def _device(self, device_id: str) -> ServedDevice:
        try:
            return self._devices[device_id]
        except KeyError:
            raise KeyError(f"device {device_id!r} is not served by the simulator") from None

    def _current(self, dev: ServedDevice) -> dict[str, float | int]:
        values = self.physics.device_values(dev.spec.device_id)
        if dev.memory:
            values.update(dev.memory)
        if dev.overrides:
            values.update(dev.overrides)
        return values

    def values(self, device_id: str) -> dict[str, float | int]:
        """Current engineering values of a device, one entry per register of its profile (units in the names).

        What a client reads (before quantisation to the register's scale): physics values, then registers written by
        clients that the physics does not model, then :meth:`set_value` overrides.

        Raises:
            KeyError: unknown device.
        """
        dev = self._device(device_id)
        current = self._current(dev)
        return {s.name: current.get(s.name, 0) for s in dev.profile.registers}

    def set_value(self, device_id: str, name: str, value: float | int | bool) -> None:
        """Pin register ``name`` of a device to ``value`` (engineering units) until :meth:`clear_value`.

        Only what is served changes (e.g. pin ``discharge_temp_c`` to 118 for a browser test); the physics runs on.

        Raises:
            KeyError: unknown device or register name.  ValueError: the value does not fit the register.
        """
        dev = self._device(device_id)
        spec = dev.profile.register(name)
        if spec.is_bit:
            value = int(bool(value))
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{device_id}.{name}: {value!r} is not a finite number")
        try:
            encode(spec, value)
        except DecodeError as exc:
            raise ValueError(str(exc)) from None
        dev.overrides[name] = value
        dev.encoded_at.clear()
        log.info("override %s.%s = %r", device_id, name, value)

    def clear_value(self, device_id: str, name: str | None = None) -> None:
        """Release the override of ``name`` (``None``: every override of the device). No error if none was set.

        Raises:
            KeyError: unknown device.
        """
        dev = self._device(device_id)
        if name is None:
            dev.overrides.clear()
        else:
            dev.overrides.pop(name, None)
        dev.encoded_at.clear()
        log.info("override cleared %s.%s", device_id, name or "*")

    def set_pipe_setpoints(self, setpoints: dict[str, tuple[float, float | None]]) -> int:
        """Give served pipe sensors their pipe's ``(nominal_pressure_mpa, low_pressure_mpa)`` (MPa gauge; e.g.
        :func:`datasources.sim.pipe_sensors.pipe_sensor_setpoints`); ids the simulator does not serve are skipped.

        Returns:
            number of sensors configured.
        Raises:
            ValueError: a served device is not a pipe sensor, or its pressures are not 0 < low < nominal.
        """
        n = 0
        for device_id, (nominal, low) in setpoints.items():
            if device_id in self._devices:
                self.physics.set_pipe(device_id, nominal, low)
                n += 1
        return n

    def inject_fault(self, station_id: str, fault: str, on: bool = True) -> None:
        """Switch a station fault on/off; names and effects in :data:`datasources.sim.physics_constants.FAULTS` and
        :meth:`~datasources.sim.physics.FleetPhysics.set_fault`. ``comm_loss`` takes effect on the wire at once.

        Raises:
            KeyError: unknown / not built station.  ValueError: unknown fault.
        """
        self.physics.set_fault(station_id, fault, on)
        for dev in self._devices.values():
            if dev.spec.station_id == station_id:
                dev.encoded_at.clear()
        log.info("fault %s %s at %s", fault, "on" if on else "off", station_id)

    # ------------------------------------------------------------------------------------------------ Redis control
    def apply_command(self, raw: str | bytes | dict) -> bool:
        """Apply one control command (JSON text or dict, schema in the module docstring).

        Returns:
            True when applied; False when malformed or rejected (logged as a warning, never raised).
        """
        try:
            obj = json.loads(raw) if isinstance(raw, (str, bytes, bytearray)) else raw
            if not isinstance(obj, dict):
                raise ValueError("command must be a JSON object")
            if obj.get("v") != CONTROL_SCHEMA_VERSION:
                raise ValueError(f"version {obj.get('v')!r} is not {CONTROL_SCHEMA_VERSION}")
            cmd = obj.get("cmd")
            if cmd == "fault":
                station_id, fault, on = obj.get("station_id"), obj.get("fault"), obj.get("on", True)
                if not isinstance(station_id, str) or fault not in FAULTS or not isinstance(on, bool):
                    raise ValueError("fault needs station_id (str), fault (one of FAULTS), on (bool)")
                self.inject_fault(station_id, fault, on)
            elif cmd == "set":
                device_id, name, value = obj.get("device_id"), obj.get("name"), obj.get("value")
                if not isinstance(device_id, str) or not isinstance(name, str):
                    raise ValueError("set needs device_id (str), name (str), value (number)")
                self.set_value(device_id, name, value)
            elif cmd == "clear":
                device_id, name = obj.get("device_id"), obj.get("name")
                if not isinstance(device_id, str) or not (name is None or isinstance(name, str)):
                    raise ValueError("clear needs device_id (str) and optionally name (str)")
                self.clear_value(device_id, name)
            else:
                raise ValueError(f"unknown cmd {cmd!r} (fault, set, clear)")
            return True
        except (ValueError, KeyError, TypeError) as exc:
            text = raw if isinstance(raw, str) else repr(raw)
            log.warning("ignored control command %.200s: %s", text, exc)
            return False

    async def listen_control(self, redis_url: str, *, ready_timeout_s: float = 5.0) -> None:
        """Subscribe to ``cc:sim:control`` and apply its commands in the background until :meth:`stop`.

        Returns once subscribed (or after ``ready_timeout_s`` with a warning while it keeps trying). A lost
        connection (Redis restarted) is retried with back-off 0.2 → 5 s and the subscription renewed; a malformed
        command is logged and ignored.

        Raises:
            RuntimeError: already listening.
        """
        if self._control_task is not None and not self._control_task.done():
            raise RuntimeError("already listening to the control channel")
        self._control_ready = asyncio.Event()
        self._control_task = asyncio.create_task(self._control_loop(redis_url), name="sim-control")
        try:
            await asyncio.wait_for(self._control_ready.wait(), ready_timeout_s)
        except asyncio.TimeoutError:
            log.warning("control channel not subscribed within %.1f s; still trying", ready_timeout_s)

    async def _control_loop(self, redis_url: str) -> None:
        import redis.asyncio as aioredis  # noqa: PLC0415 — only needed when listening
        from redis.exceptions import RedisError  # noqa: PLC0415

        backoff = 0.2
        while True:
            client = aioredis.Redis.from_url(redis_url, socket_connect_timeout=2.0, health_check_interval=10)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(SIM_CONTROL_CHANNEL)
                log.info("listening for control commands on %s", SIM_CONTROL_CHANNEL)
                assert self._control_ready is not None
                self._control_ready.set()
                backoff = 0.2
                while True:
                    msg = await pubsub.get_message(timeout=1.0)
                    if msg and msg.get("type") == "message":
                        self.apply_command(msg["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("control channel lost (%s); reconnecting in %.1f s", exc, backoff)
            except Exception:  # noqa: BLE001 — never let the listener die
                log.exception("control listener error; reconnecting in %.1f s", backoff)
            finally:
                for closer in (pubsub.aclose, client.aclose):
                    try:
                        await closer()
                    except Exception:  # noqa: BLE001 — the connection is gone anyway
                        pass
            await asyncio.sleep(backoff)
            backoff = min(5.0, backoff * 2)


async def run_simulator(stations: Sequence[StationSpec], seed: int = 42, tick_s: float = 1.0,
                        redis_url: str | None = None, profiles: dict[str, DeviceProfile] | None = None,
                        pipe_setpoints: dict[str, tuple[float, float | None]] | None = None,
                        **kwargs: Any) -> None:
    """Serve the fleet until cancelled (or SIGTERM/SIGINT when run in the main thread), then stop cleanly.

    Args:
        stations, seed, tick_s, profiles: as :class:`FleetSimulator`; further keyword arguments go to it too.
        redis_url: when given, also apply commands of ``cc:sim:control`` (:meth:`FleetSimulator.listen_control`).
        pipe_setpoints: ``{sensor: (nominal MPa, low MPa)}`` for the served pipe sensors
            (:meth:`FleetSimulator.set_pipe_setpoints`; e.g. :func:`datasources.sim.pipe_sensors.pipe_sensor_setpoints`).
    """
    sim = FleetSimulator(stations, profiles=profiles, seed=seed, tick_s=tick_s, **kwargs)
    if pipe_setpoints:
        sim.set_pipe_setpoints(pipe_setpoints)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    await sim.start()
    try:
        if redis_url:
            await sim.listen_control(redis_url)
        await stop.wait()
        log.info("simulator stopping (signal)")
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await sim.stop()
