"""Physics of the simulated fleet: pure numpy, no I/O, vectorised over every device of the fleet.

One :class:`FleetPhysics` holds the state of all *built* stations of a fleet (``StationSpec.lifecycle == 'built'``)
as flat arrays — one entry per station, per compressor, per dryer, per meter — and advances them with
:meth:`FleetPhysics.step`. 10,000 stations (≈ 35,000 compressors, ≈ 75,000 devices) step at 1 Hz in a few
milliseconds of one core (see ``tests/test_simulator.py::test_physics_step_timing``).

Model, per station (all pressures gauge, MPa; flows m³/min of free air at reference inlet conditions; powers kW):

* **Air demand** follows a shift pattern in China Standard Time (UTC+8): one-shift (08–17, lunch dip),
  two-shift (08–23:30, lunch/dinner/shift-change dips) or continuous three-shift (night ≈ 85 %, dips at the shift
  changes 00/08/16) plants; Saturdays and Sundays run lower; smooth value noise (periods 2 min and 15 s) on top.
  Demand is a fraction of the station's installed capacity (sum of its compressors' rated flows) and scales with
  absolute header pressure (leaks and open blow-offs draw more at higher pressure).
* **Header pressure** integrates supply minus demand into an equivalent receiver/pipe volume of
  0.3 m³ per m³/min of capacity (the common sizing rule of 0.1–0.3 m³ per m³/min plus piping):
  ``dP/dt = P_atm · (Q_supply − Q_demand) / (60 · V)``.
* **Fixed-speed compressors** load at ``load_pressure_mpa`` and unload at ``unload_pressure_mpa`` — the 0.62–0.72 MPa
  pressure band of the station spec (issue 2), staggered by 0.01 MPa per unit (unit 2: 0.61/0.71 …) so that units
  sequence instead of switching together — and go to standby (run_state 0) after 300 s unloaded (run-on timer).
* **Variable-speed (VSD) compressors** hold ``target_pressure_mpa`` (0.67 MPa, middle of the band) with a PI loop
  on speed (30–100 %), unload when at minimum speed and 0.03 MPa above target, reload 0.02 MPa below target,
  standby after 60 s unloaded.
* **Power**: loaded power = specific power × rated flow (``DeviceSpec.specific_power_kw_per_m3_min``, 6–8
  kW/(m³/min): typical oil-injected screw compressors at 0.7–0.8 MPa; GB 19153 grades compressors by specific
  power), +6 % per 0.1 MPa above 0.7 MPa; unloaded power 30 % of loaded (typical load/unload screw); VSD power
  = specific power × rated flow × (0.05 + 0.95 × speed) (roughly proportional to flow with a small fixed part);
  refrigerated dryer 0.1 kW per m³/min of capacity at full load, 35 % at no load.
* **Temperatures**: discharge held by the oil thermostat at 78 °C + 8 °C × load (+ half the room temperature above
  20 °C; ≈ 75–95 °C loaded), 70 °C unloaded, room + 3 °C stopped, first-order lag 90 s; compressors trip at
  110 °C (run_state 3, fault_code 101); room temperature follows a daily sine plus compressor heat; pressure dew point ≈ 3 °C (+1 °C at full load) after a refrigerated dryer (ISO 8573-1 class 4
  is ≤ +3 °C; dryers are rated 3–5 °C).
* **Counters** (monotonic): compressor ``energy_kwh``, ``air_volume_m3``, ``running_hours_h``, ``loaded_hours_h``;
  station meters ``total_m3`` and ``energy_kwh``. Initial values come from the seed (0.5–8 years of service).
* **Meters**: flow meter = Σ compressor flow (± 0.5 % noise); power meter = Σ compressor + dryer power (± 0.3 %).
* **Faults** per station (:data:`FAULTS`), each switched on and off with :meth:`FleetPhysics.set_fault`.
* **Remote control**: :meth:`FleetPhysics.command` sets ``run_command`` / ``load_enable`` / set points; the effect is
  visible in ``run_state`` after the next :meth:`FleetPhysics.step`.

Determinism: everything random is a hash of (seed, device/station id, channel, time bucket), so the same seed,
start time and sequence of ``step`` calls give bit-identical values, independent of fleet order.
Run-state codes are those of the packaged profiles: 0 stop/standby, 1 unload, 2 load, 3 fault.
Codes and constants (with their sources) are in :mod:`datasources.sim.physics_constants`, the hashing and value
noise in :mod:`datasources.sim.noise`, the shift pattern in :mod:`datasources.sim.shifts`.
"""
from __future__ import annotations

import math
import time
from typing import Iterable, Sequence

import numpy as np

from datasources.sim.noise import ValueNoise, id_key, uniform
from datasources.sim.physics_constants import (RUN_STOP, RUN_UNLOAD, RUN_LOAD, RUN_FAULT, FAULT_NONE,
    FAULT_DISCHARGE_OVERTEMP, FAULT_DRYER_HIGH_DEW_POINT, CONTROLS, FAULTS, P_ATM_MPA, LOAD_PRESSURE_MPA,
    UNLOAD_PRESSURE_MPA, TARGET_PRESSURE_MPA, STAGGER_MPA, MAX_STAGGER_STEPS, RATED_PRESSURE_MPA, POWER_PER_MPA,
    UNLOADED_POWER_FRACTION, VSD_FIXED_POWER_FRACTION, VSD_MIN_SPEED, VSD_UNLOAD_MARGIN_MPA, VSD_RELOAD_MARGIN_MPA,
    VSD_LOOP_TAU_S, VSD_INTEGRAL_TIME_S, FIXED_RUN_ON_S, VSD_RUN_ON_S, RECEIVER_M3_PER_M3_MIN, MIN_RECEIVER_M3,
    SAFETY_VALVE_MPA, LEAK_FRACTION, DEFAULT_SPECIFIC_POWER, DEFAULT_RATED_FLOW, TRIP_TEMP_C, OVERHEAT_TARGET_C,
    DISCHARGE_TAU_S, OVERHEAT_TAU_S, DEW_POINT_NORMAL_C, DEW_POINT_FAULT_C, HIGH_DEW_POINT_WARN_C, DEW_TAU_S,
    DRYER_KW_PER_M3_MIN, DRYER_NO_LOAD_FRACTION, ROOM_TAU_S, FIRE_ROOM_RISE_C, FIRE_TAU_S, DOOR_OPEN_AFTER_ENTRY_S,
    LINE_VOLTAGE_V, CST_OFFSET_S, MAX_SUBSTEP_S, SHIFT_TYPES, PIPE_NOMINAL_MPA, PIPE_LOW_RATIO, PIPE_NOISE_RATIO,
    PIPE_LEAK_RATIO, PIPE_TEMP_C)
from datasources.sim.shifts import plant_demand
from datasources.sql.fleet_spec import StationSpec


_KIND_CODE = {"compressor": 0, "dryer": 1, "flow_meter": 2, "power_meter": 3, "station_io": 4, "pipe_sensor": 5}


class FleetPhysics:
    """State and dynamics of every built station of a fleet.

    Args:
        stations: the fleet; only stations with ``lifecycle == 'built'`` and their devices are simulated.
        seed: seed of every random choice (demand pattern, set points of meters, initial counters, noise).
        now_s: simulated time of the initial state, epoch seconds UTC (default: the wall clock).
        vsd_models: device models that are variable-speed compressors; default: models whose name contains
            ``variable-speed`` or ``vsd``.

    Raises:
        ValueError: a device of unknown kind, or a device id used twice.

    Attributes:
        t_s: simulated time of the current state, epoch seconds UTC.
        station_ids: built station ids, in fleet order (index of every per-station array ``s_*``, ``p_header``).
        compressor_ids: compressor device ids (index of every per-compressor array ``c_*``).

    State arrays (read them, do not write them; shapes ``(n_stations,)`` or ``(n_compressors,)``):
        ``p_header`` header pressure MPa; ``cap`` installed capacity m³/min; ``s_demand`` / ``s_supply`` m³/min;
        ``s_fm_flow`` m³/min and ``s_pm_power`` kW (meter readings); ``s_total_m3``, ``s_energy_kwh`` meter counters;
        ``c_state`` run_state; ``c_flow`` m³/min; ``c_power`` kW; ``c_temp`` °C; ``c_speed`` VSD speed fraction;
        ``c_qr`` rated flow m³/min; ``c_sp`` rated specific power kW/(m³/min); ``c_vsd`` bool.
    """

    def __init__(self, stations: Sequence[StationSpec], seed: int = 42, now_s: float | None = None,
                 vsd_models: Iterable[str] | None = None) -> None:
        self.seed = int(seed)
        self.t_s = float(time.time() if now_s is None else now_s)
        vsd_set = set(vsd_models) if vsd_models is not None else None
        seed_key = id_key(f"seed:{self.seed}")

        built = [s for s in stations if s.lifecycle == "built"]
        self.station_ids: list[str] = [s.station_id for s in built]
        self._st_index = {sid: i for i, sid in enumerate(self.station_ids)}
        if len(self._st_index) != len(self.station_ids):
            raise ValueError("duplicate station_id in the fleet")
        S = self.n_stations = len(built)

        comp_st, comp_vsd, comp_qr, comp_sp, comp_order, comp_ids = [], [], [], [], [], []
        dry_st, dry_ids, fm_st, fm_ids, pm_st, pm_ids, io_st, io_ids = [], [], [], [], [], [], [], []
        ps_st, ps_ids = [], []
        self._devices: dict[str, tuple[int, int]] = {}  # device_id → (kind code, index in its kind's arrays)
        for si, st in enumerate(built):
            n_fixed = 0
            for dev in st.devices:
                if dev.device_id in self._devices:
                    raise ValueError(f"device id {dev.device_id!r} used twice")
                if dev.kind not in _KIND_CODE:
                    raise ValueError(f"device {dev.device_id}: unknown kind {dev.kind!r} "
                                     f"(expected one of {sorted(_KIND_CODE)})")
                if dev.kind == "compressor":
                    is_vsd = (dev.model in vsd_set) if vsd_set is not None else (
                        "variable-speed" in dev.model or "vsd" in dev.model.lower())
                    qr = dev.rated_flow_m3_min if dev.rated_flow_m3_min > 0 else DEFAULT_RATED_FLOW
                    sp = dev.specific_power_kw_per_m3_min
                    if sp <= 0:
                        sp = dev.rated_power_kw / qr if dev.rated_power_kw > 0 else DEFAULT_SPECIFIC_POWER
                    self._devices[dev.device_id] = (0, len(comp_ids))
                    comp_st.append(si), comp_vsd.append(is_vsd), comp_qr.append(qr), comp_sp.append(sp)
                    comp_order.append(0 if is_vsd else n_fixed)
                    n_fixed += 0 if is_vsd else 1
                    comp_ids.append(dev.device_id)
                else:
                    lists = {"dryer": (dry_st, dry_ids), "flow_meter": (fm_st, fm_ids),
                             "power_meter": (pm_st, pm_ids), "station_io": (io_st, io_ids),
                             "pipe_sensor": (ps_st, ps_ids)}[dev.kind]
                    self._devices[dev.device_id] = (_KIND_CODE[dev.kind], len(lists[1]))
                    lists[0].append(si)
                    lists[1].append(dev.device_id)
        self.compressor_ids, self.dryer_ids = comp_ids, dry_ids
        self.flow_meter_ids, self.power_meter_ids, self.station_io_ids = fm_ids, pm_ids, io_ids
        self.pipe_sensor_ids = ps_ids
        self.ps_st = np.array(ps_st, dtype=np.intp)
        self.ps_key = np.array([id_key(i) for i in ps_ids], dtype=np.uint64)
        self.ps_nominal = np.full(len(ps_ids), PIPE_NOMINAL_MPA)
        self.ps_low = PIPE_LOW_RATIO * self.ps_nominal

        def keys(ids: list[str]) -> np.ndarray:
            return np.array([id_key(i) for i in ids], dtype=np.uint64) ^ np.uint64(seed_key)

        # ---- stations
        self.s_key = keys(self.station_ids)
        self.c_st = np.array(comp_st, dtype=np.intp)
        C = self.n_compressors = len(comp_ids)
        self.c_vsd = np.array(comp_vsd, dtype=bool)
        self.c_fixed = ~self.c_vsd
        self.c_qr = np.array(comp_qr, dtype=float)
        self.c_sp = np.array(comp_sp, dtype=float)
        self.cap = np.bincount(self.c_st, weights=self.c_qr, minlength=S).astype(float)
        volume = np.maximum(MIN_RECEIVER_M3, RECEIVER_M3_PER_M3_MIN * self.cap)
        self.s_gain = P_ATM_MPA / (60.0 * volume)               # MPa per (m³/min · s)
        u = [uniform(self.s_key, ch) for ch in range(10)]
        self.s_shift = np.select([u[0] < 0.25, u[0] < 0.65], [1, 2], 3).astype(np.int8)
        self.s_prod = 0.55 + 0.30 * u[1]                         # production-hours demand, fraction of capacity
        self.s_base = 0.08 + 0.12 * u[2]                         # off-hours demand (leaks, base users)
        self._shift_index = tuple(np.flatnonzero(self.s_shift == k) for k in SHIFT_TYPES)
        cont = self.s_shift == 3
        self.s_sat = np.where(cont, 0.80 + 0.15 * u[3], 0.40 + 0.40 * u[3])
        self.s_sun = np.where(cont, 0.70 + 0.20 * u[4], 0.15 + 0.35 * u[4])
        self.s_phase_s = (u[5] - 0.5) * 2400.0                   # ± 20 min per site
        self.s_room_base = 14.0 + 14.0 * u[6]                    # °C
        self.s_meter_age_h = (0.3 + 3.7 * u[7]) * 8760.0
        self._n_dem_slow = ValueNoise(self.s_key, 101, 120.0)
        self._n_dem_fast = ValueNoise(self.s_key, 102, 15.0)
        self._n_fm = ValueNoise(self.s_key, 103, 7.0)
        self._n_pm = ValueNoise(self.s_key, 104, 5.0)
        self._n_dew = ValueNoise(self.s_key, 105, 90.0)
        self._n_volt = ValueNoise(self.s_key, 106, 30.0)
        self.s_fault = {f: np.zeros(S, dtype=bool) for f in FAULTS}
        self.s_occ_since = np.full(S, -np.inf)

        # ---- compressors
        self.c_key = keys(comp_ids)
        cu = [uniform(self.c_key, ch) for ch in range(20, 26)]
        stagger = np.minimum(np.array(comp_order, dtype=float), MAX_STAGGER_STEPS) * STAGGER_MPA
        self.c_load_p = np.round(LOAD_PRESSURE_MPA - stagger, 3)
        self.c_unload_p = np.round(UNLOAD_PRESSURE_MPA - stagger, 3)
        self.c_target = np.full(C, TARGET_PRESSURE_MPA)
        self.c_run_cmd = np.ones(C, dtype=bool)
        self.c_load_en = np.ones(C, dtype=bool)
        g_q = self.s_gain[self.c_st] * self.c_qr
        self.c_kp = 1.0 / (VSD_LOOP_TAU_S * g_q)                 # speed fraction per MPa
        self.c_ki = self.c_kp / VSD_INTEGRAL_TIME_S
        self.c_overheat = np.zeros(C, dtype=bool)
        self.c_fault_code = np.zeros(C, dtype=np.int32)
        self.c_timer = np.zeros(C)
        age_h = (0.5 + 7.5 * cu[0]) * 8760.0
        self.c_run_h = age_h * (0.35 + 0.45 * cu[1])
        self.c_load_h = self.c_run_h * (0.60 + 0.30 * cu[2])
        p_rated = self.c_sp * self.c_qr
        self.c_energy = self.c_load_h * p_rated + (self.c_run_h - self.c_load_h) * UNLOADED_POWER_FRACTION * p_rated
        self.c_air = self.c_load_h * self.c_qr * 60.0
        self._n_comp = ValueNoise(self.c_key, 201, 5.0)
        self._n_ctemp = ValueNoise(self.c_key, 202, 20.0)

        # ---- initial operating point near equilibrium (then a warm-up step settles it)
        self.p_header = np.full(S, TARGET_PRESSURE_MPA - 0.01)
        demand0 = self.demand_fraction(self.t_s) * self.cap
        self.c_state = np.full(C, RUN_STOP, dtype=np.int8)
        self.c_speed = np.zeros(C)
        remaining = demand0.copy()
        for i in np.concatenate([np.flatnonzero(self.c_vsd), np.flatnonzero(self.c_fixed)]):  # VSDs lead
            si = self.c_st[i]
            if self.c_vsd[i]:
                s = float(np.clip(remaining[si] / self.c_qr[i], VSD_MIN_SPEED, 1.0))
                self.c_state[i], self.c_speed[i] = RUN_LOAD, s
                remaining[si] -= s * self.c_qr[i]
            elif remaining[si] > 0.3 * self.c_qr[i]:
                self.c_state[i] = RUN_LOAD
                remaining[si] -= self.c_qr[i]
            else:
                self.c_state[i] = RUN_UNLOAD
        self.c_integ = self.c_speed.copy()
        self.s_room = self._room_target(self.t_s, np.zeros(S))
        room_c = self.s_room[self.c_st] if C else np.zeros(0)
        self.c_temp = np.select([self.c_state == RUN_LOAD, self.c_state == RUN_UNLOAD], [84.0, 72.0], room_c + 3.0)

        # ---- dryers and meters
        self.d_st = np.array(dry_st, dtype=np.intp)
        self.d_rated = np.maximum(0.5, DRYER_KW_PER_M3_MIN * self.cap[self.d_st]) if len(dry_st) else np.zeros(0)
        self.d_dew = np.full(len(dry_st), DEW_POINT_NORMAL_C + 0.5)
        self.fm_st = np.array(fm_st, dtype=np.intp)
        self.pm_st = np.array(pm_st, dtype=np.intp)
        self.io_st = np.array(io_st, dtype=np.intp)
        typical_ratio = 7.5  # m³/kWh, to derive plausible initial energy from the initial volume
        self.s_total_m3 = self.s_meter_age_h * 60.0 * self.cap * (0.25 + 0.25 * u[8])
        self.s_energy_kwh = self.s_total_m3 / typical_ratio

        self._substep(0.0, self.t_s)  # derive flows, powers and meter readings of the initial state

    # ------------------------------------------------------------------------------------------------ demand
    def demand_fraction(self, t_s: float) -> np.ndarray:
        """Air demand of every station at ``t_s`` (epoch s UTC), as a fraction of its installed capacity.

        Shape ``(n_stations,)``, values in [0.03, 0.95]; the leak of a ``pressure_drop`` fault is not included.
        Shift pattern in China Standard Time (UTC+8) with a per-site offset of ± 20 min, see the module docstring.
        """
        frac = plant_demand(t_s + CST_OFFSET_S + self.s_phase_s, self._shift_index, self.s_base, self.s_prod,
                            self.s_sat, self.s_sun)
        frac = frac * (1.0 + 0.06 * self._n_dem_slow(t_s) + 0.03 * self._n_dem_fast(t_s))
        return np.clip(frac, 0.03, 0.95)

    def _room_target(self, t_s: float, load: np.ndarray) -> np.ndarray:
        h = ((t_s + CST_OFFSET_S) % 86400.0) / 3600.0
        return (self.s_room_base + 4.0 * math.sin(2.0 * math.pi * (h - 9.0) / 24.0) + 3.0 * load
                + FIRE_ROOM_RISE_C * self.s_fault["fire"])

    # ------------------------------------------------------------------------------------------------ stepping
    def step(self, dt_s: float, now_s: float | None = None) -> None:
        """Advance the whole fleet by ``dt_s`` simulated seconds to time ``now_s`` (epoch s UTC).

        ``now_s`` defaults to ``t_s + dt_s``; it drives the shift pattern and the noise. Steps longer than 1 s are
        integrated in equal sub-steps of at most 1 s (explicit Euler is stable well within that for the receiver
        sizes used). Cost: O(devices), a few ms per step for 10,000 stations.

        Raises:
            ValueError: ``dt_s`` negative.
        """
        if dt_s < 0:
            raise ValueError(f"dt_s must be ≥ 0, got {dt_s}")
        end = self.t_s + dt_s if now_s is None else float(now_s)
        if dt_s == 0:
            self.t_s = end
            return
        n = max(1, math.ceil(dt_s / MAX_SUBSTEP_S - 1e-9))
        h = dt_s / n
        start = end - dt_s
        for k in range(1, n + 1):
            self._substep(h, start + k * h)
        self.t_s = end

    def _substep(self, h: float, t: float) -> None:
        S = self.n_stations
        P = self.p_header
        frac = self.demand_fraction(t)
        q_ref = (frac + LEAK_FRACTION * self.s_fault["pressure_drop"]) * self.cap
        q_dem = q_ref * (np.maximum(P, 0.0) + P_ATM_MPA) / (TARGET_PRESSURE_MPA + P_ATM_MPA)

        # -- compressor control (run_state transitions)
        st = self.c_state
        p = P[self.c_st]
        running = (st == RUN_LOAD) | (st == RUN_UNLOAD)
        trip = running & (self.c_temp >= TRIP_TEMP_C)
        self.c_fault_code[trip] = FAULT_DISCHARGE_OVERTEMP
        st = np.where(trip, RUN_FAULT, st)
        faulted = st == RUN_FAULT
        avail = self.c_run_cmd & ~faulted
        # fixed speed: hysteresis between the staggered load/unload pressures
        want = np.where(st == RUN_LOAD, p < self.c_unload_p, p <= self.c_load_p) & self.c_load_en
        fx_new = np.where(want, RUN_LOAD, np.where(st == RUN_STOP, RUN_STOP, RUN_UNLOAD))
        # VSD: unload at min speed above target + margin, reload below target − margin
        at_min = self.c_speed <= VSD_MIN_SPEED + 1e-9
        v_unload = (st == RUN_LOAD) & at_min & (p > self.c_target + VSD_UNLOAD_MARGIN_MPA)
        v_reload = (st != RUN_LOAD) & (p < self.c_target - VSD_RELOAD_MARGIN_MPA)
        v_new = np.where(st == RUN_LOAD, np.where(v_unload, RUN_UNLOAD, RUN_LOAD),
                         np.where(v_reload, RUN_LOAD, st))
        v_new = np.where(self.c_load_en, v_new, np.where(st == RUN_STOP, RUN_STOP, RUN_UNLOAD))
        new = np.where(self.c_vsd, v_new, fx_new)
        # run-on timer: unloaded too long → standby (not while forced to unload by load_enable = 0)
        self.c_timer = np.where(new == RUN_UNLOAD, self.c_timer + h, 0.0)
        run_on = np.where(self.c_vsd, VSD_RUN_ON_S, FIXED_RUN_ON_S)
        new = np.where((new == RUN_UNLOAD) & (self.c_timer >= run_on) & self.c_load_en, RUN_STOP, new)
        new = np.where(avail, new, np.where(faulted, RUN_FAULT, RUN_STOP)).astype(np.int8)
        self.c_timer[new != RUN_UNLOAD] = 0.0
        # VSD PI loop on speed
        started = self.c_vsd & (new == RUN_LOAD) & (st != RUN_LOAD)
        self.c_integ = np.where(started, VSD_MIN_SPEED, self.c_integ)
        err = self.c_target - p
        vl = self.c_vsd & (new == RUN_LOAD)
        self.c_integ = np.where(vl, np.clip(self.c_integ + self.c_ki * err * h, VSD_MIN_SPEED, 1.0), self.c_integ)
        self.c_speed = np.where(vl, np.clip(self.c_integ + self.c_kp * err, VSD_MIN_SPEED, 1.0),
                                np.where(self.c_vsd & (new == RUN_UNLOAD), VSD_MIN_SPEED, 0.0))
        self.c_state = new

        # -- flows, powers, pressure
        loaded = new == RUN_LOAD
        unloaded = new == RUN_UNLOAD
        n_c = self._n_comp(t)
        speed_eff = np.where(self.c_vsd, self.c_speed, 1.0)
        self.c_flow = np.where(loaded, self.c_qr * speed_eff * (1.0 + 0.005 * n_c), 0.0)
        pfac = 1.0 + POWER_PER_MPA * (p - RATED_PRESSURE_MPA)
        base_kw = self.c_sp * self.c_qr
        shape = np.where(self.c_vsd, VSD_FIXED_POWER_FRACTION + (1 - VSD_FIXED_POWER_FRACTION) * self.c_speed, 1.0)
        self.c_power = np.where(loaded, base_kw * shape * pfac * (1.0 + 0.004 * n_c),
                                np.where(unloaded, UNLOADED_POWER_FRACTION * base_kw * shape, 0.0))
        supply = np.bincount(self.c_st, weights=self.c_flow, minlength=S)
        P_new = np.clip(P + self.s_gain * (supply - q_dem) * h, 0.0, SAFETY_VALVE_MPA)
        self.p_header = P_new
        self.s_demand = q_dem
        self.s_supply = supply

        # -- counters
        self.c_energy = self.c_energy + self.c_power * (h / 3600.0)
        self.c_air = self.c_air + self.c_flow * (h / 60.0)
        self.c_run_h = self.c_run_h + (loaded | unloaded) * (h / 3600.0)
        self.c_load_h = self.c_load_h + loaded * (h / 3600.0)

        # -- temperatures
        load = np.divide(supply, self.cap, out=np.zeros(S), where=self.cap > 0)
        room_t = self._room_target(t, np.minimum(load, 1.0))
        room_tau = np.where(self.s_fault["fire"], FIRE_TAU_S, ROOM_TAU_S)
        self.s_room = self.s_room + (room_t - self.s_room) * (1.0 - np.exp(-h / room_tau))
        room_c = self.s_room[self.c_st]
        rel = np.divide(self.c_flow, self.c_qr, out=np.zeros(len(self.c_qr)), where=self.c_qr > 0)
        warm = 0.5 * np.maximum(0.0, room_c - 20.0)                # hot rooms push the oil thermostat up
        target = np.select([loaded, unloaded], [78.0 + warm + 8.0 * rel, 70.0 + warm], room_c + 3.0)
        target = target + 1.5 * self._n_ctemp(t) * (loaded | unloaded)
        heat = self.c_overheat & (new != RUN_FAULT)
        target = np.where(heat, OVERHEAT_TARGET_C, target)
        tau = np.where(heat, OVERHEAT_TAU_S, DISCHARGE_TAU_S)
        self.c_temp = self.c_temp + (target - self.c_temp) * (1.0 - np.exp(-h / tau))

        # -- dryers
        if len(self.d_st):
            d_load = np.minimum(load[self.d_st], 1.0)
            dew_t = (DEW_POINT_NORMAL_C + 1.0 * d_load + 0.3 * self._n_dew(t)[self.d_st]
                     + (DEW_POINT_FAULT_C - DEW_POINT_NORMAL_C) * self.s_fault["high_dew_point"][self.d_st])
            self.d_dew = self.d_dew + (dew_t - self.d_dew) * (1.0 - math.exp(-h / DEW_TAU_S))
        self._compute_outputs(t, load, P_new, h)

    def _compute_outputs(self, t: float, load: np.ndarray, P: np.ndarray, h: float = 0.0) -> None:
        """Derived readings (meters, dryer power, discharge pressure) of the state at ``t``; integrates meters."""
        S = self.n_stations
        rel = np.divide(self.c_flow, self.c_qr, out=np.zeros(len(self.c_qr)), where=self.c_qr > 0)
        self.c_dp = P[self.c_st] + 0.015 * rel                   # drop across after-cooler/dryer/filters
        self.d_power = (self.d_rated * (DRYER_NO_LOAD_FRACTION + (1 - DRYER_NO_LOAD_FRACTION)
                                        * np.minimum(load[self.d_st], 1.0))) if len(self.d_st) else np.zeros(0)
        comp_kw = np.bincount(self.c_st, weights=self.c_power, minlength=S)
        dry_kw = np.bincount(self.d_st, weights=self.d_power, minlength=S) if len(self.d_st) else np.zeros(S)
        self.s_fm_flow = np.maximum(0.0, self.s_supply * (1.0 + 0.005 * self._n_fm(t)))
        self.s_pm_power = np.maximum(0.0, (comp_kw + dry_kw) * (1.0 + 0.003 * self._n_pm(t)))
        self.s_pf = np.where(self.s_pm_power > 0, 0.80 + 0.12 * np.minimum(load, 1.0), 1.0)
        self.s_voltage = LINE_VOLTAGE_V * (1.0 + 0.012 * self._n_volt(t))
        if h > 0:
            self.s_total_m3 = self.s_total_m3 + self.s_fm_flow * (h / 60.0)
            self.s_energy_kwh = self.s_energy_kwh + self.s_pm_power * (h / 3600.0)

    # ------------------------------------------------------------------------------------------------ control
    def set_pipe(self, device_id: str, nominal_pressure_mpa: float, low_pressure_mpa: float | None = None) -> None:
        """Give a pipe sensor its pipe's nominal pressure and low-pressure set point (MPa gauge; ``None`` = 0.8 ×
        nominal, layers/pipelines.py). Without a call a sensor reads around 0.7 MPa with a 0.56 MPa set point.

        Raises:
            KeyError: unknown device. ValueError: not a pipe sensor, or pressures not > 0 / set point ≥ nominal.
        """
        kind, i = self._device(device_id)
        if kind != _KIND_CODE["pipe_sensor"]:
            raise ValueError(f"{device_id} is a {self._kind_name(kind)}, not a pipe_sensor")
        nominal = float(nominal_pressure_mpa)
        low = PIPE_LOW_RATIO * nominal if low_pressure_mpa is None else float(low_pressure_mpa)
        if not (math.isfinite(nominal) and nominal > 0 and math.isfinite(low) and 0 < low < nominal):
            raise ValueError(f"{device_id}: need 0 < low_pressure_mpa < nominal_pressure_mpa, got {low!r}, {nominal!r}")
        self.ps_nominal[i], self.ps_low[i] = nominal, low

    def _station(self, station_id: str) -> int:
        try:
            return self._st_index[station_id]
        except KeyError:
            raise KeyError(f"station {station_id!r} is not a built station of this fleet") from None

    def _device(self, device_id: str) -> tuple[int, int]:
        try:
            return self._devices[device_id]
        except KeyError:
            raise KeyError(f"device {device_id!r} is not a device of a built station of this fleet") from None

    def has_device(self, device_id: str) -> bool:
        """True when ``device_id`` belongs to a built station of this fleet."""
        return device_id in self._devices

    def set_fault(self, station_id: str, fault: str, on: bool = True) -> None:
        """Switch a station fault on or off (effect from the next :meth:`step`).

        Faults (:data:`FAULTS`): ``overheat`` — the station's first loaded (else unloaded, else first) compressor's
        discharge temperature heads for 135 °C, passes 110 °C and trips (run_state 3, fault_code 101); switching it
        off resets the trip (run_state 0, then auto restart). ``high_dew_point`` — dew point rises towards 15 °C
        (dryer fault_code 201 above 10 °C). ``pressure_drop`` — a burst line draws 1.5 × capacity: header pressure
        falls below 0.5 MPa. ``fire`` / ``flood`` / ``intrusion`` / ``occupancy`` — station I/O inputs (fire also
        heats the room; intrusion opens the door; occupancy opens the door for 30 s). ``comm_loss`` — only a flag
        here; the Modbus layer stops answering. ``pipe_leak`` — every pipe sensor of the station reads
        :data:`PIPE_LEAK_RATIO` × its pipe's nominal (below the 0.8 × nominal set point); ``pressure_drop`` also
        pulls the station's pipe sensors down with the header.

        Raises:
            KeyError: unknown or not-built station.  ValueError: unknown fault.
        """
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; expected one of {list(FAULTS)}")
        si = self._station(station_id)
        was = bool(self.s_fault[fault][si])
        self.s_fault[fault][si] = bool(on)
        comps = np.flatnonzero(self.c_st == si)
        if fault == "overheat":
            if on and not was and len(comps):
                states = self.c_state[comps]
                pick = next((comps[states == s][0] for s in (RUN_LOAD, RUN_UNLOAD) if (states == s).any()), comps[0])
                self.c_overheat[pick] = True
            elif not on:
                self.c_overheat[comps] = False
                reset = comps[(self.c_state[comps] == RUN_FAULT)
                              & (self.c_fault_code[comps] == FAULT_DISCHARGE_OVERTEMP)]
                self.c_state[reset] = RUN_STOP
                self.c_fault_code[reset] = FAULT_NONE
        elif fault == "occupancy":
            self.s_occ_since[si] = self.t_s if on and not was else (self.s_occ_since[si] if on else -np.inf)

    def faults(self, station_id: str) -> set[str]:
        """Names of the faults currently on at ``station_id``."""
        si = self._station(station_id)
        return {f for f in FAULTS if self.s_fault[f][si]}

    def fault_active(self, station_id: str, fault: str) -> bool:
        """True when ``fault`` is on at ``station_id`` (False for stations not in the fleet)."""
        si = self._st_index.get(station_id)
        return si is not None and bool(self.s_fault[fault][si])

    def command(self, device_id: str, name: str, value: float) -> None:
        """Apply one remote-control write to a compressor; see :meth:`command_many`."""
        self.command_many(device_id, {name: value})

    def command_many(self, device_id: str, changes: dict[str, float]) -> None:
        """Apply remote-control writes to one compressor atomically (all or none); visible after the next step.

        Names (:data:`CONTROLS`): ``run_command`` (0 → stop: run_state 0, power 0; 1 → automatic, the unit restarts
        when pressure asks), ``load_enable`` (0 → forced unload), ``load_pressure_mpa`` / ``unload_pressure_mpa``
        (fixed speed) and ``target_pressure_mpa`` (VSD), set points in MPa within 0.3–1.0 with load < unload.

        Raises:
            KeyError: unknown device, or a name that is not a control of that device (nothing applied).
            ValueError: set point outside 0.3–1.0 MPa or load ≥ unload (nothing applied).
        """
        kind, i = self._device(device_id)
        if kind != 0:
            raise KeyError(f"{device_id}: a {self._kind_name(kind)} has no controls ({sorted(changes)})")
        vsd = bool(self.c_vsd[i])
        lo, hi, target = float(self.c_load_p[i]), float(self.c_unload_p[i]), float(self.c_target[i])
        for name, value in changes.items():
            if name not in CONTROLS:
                raise KeyError(f"{device_id}: {name!r} is not a writable control")
            if (name in ("load_pressure_mpa", "unload_pressure_mpa")) == vsd and name.endswith("_mpa"):
                raise KeyError(f"{device_id}: a {'variable' if vsd else 'fixed'}-speed compressor has no {name!r}")
            if name.endswith("_mpa"):
                v = float(value)
                if not 0.3 <= v <= 1.0:
                    raise ValueError(f"{device_id}.{name}: {v} MPa is outside 0.3–1.0 MPa")
                lo = v if name == "load_pressure_mpa" else lo
                hi = v if name == "unload_pressure_mpa" else hi
                target = v if name == "target_pressure_mpa" else target
        if lo >= hi:
            raise ValueError(f"{device_id}: load pressure {lo} MPa must be below unload pressure {hi} MPa")
        self.c_load_p[i], self.c_unload_p[i], self.c_target[i] = lo, hi, target
        if "run_command" in changes:
            self.c_run_cmd[i] = bool(changes["run_command"])
        if "load_enable" in changes:
            self.c_load_en[i] = bool(changes["load_enable"])

    # ------------------------------------------------------------------------------------------------ readings
    @staticmethod
    def _kind_name(code: int) -> str:
        return next(k for k, v in _KIND_CODE.items() if v == code)

    def device_kind(self, device_id: str) -> str:
        """Kind of a device (``compressor``, ``dryer``, ``flow_meter``, ``power_meter``, ``station_io``)."""
        return self._kind_name(self._device(device_id)[0])

    def device_values(self, device_id: str) -> dict[str, float | int]:
        """Engineering values of one device at :attr:`t_s`, keyed by the value names of the packaged profiles.

        Units are in the names (MPa gauge, °C, m³/min, kW, kWh, m³, h, %, V, A, kvar); ``run_state``,
        ``fault_code`` and bit inputs/coils are ``int``. A compressor also reports every set point and control
        of either compressor model (a profile picks the ones it declares).

        Raises:
            KeyError: unknown device.
        """
        kind, i = self._device(device_id)
        if kind == 0:
            state = int(self.c_state[i])
            vsd = bool(self.c_vsd[i])
            return {
                "discharge_pressure_mpa": float(self.c_dp[i]),
                "discharge_temp_c": float(self.c_temp[i]),
                "flow_m3_min": float(self.c_flow[i]),
                "power_kw": float(self.c_power[i]),
                "energy_kwh": float(self.c_energy[i]),
                "air_volume_m3": float(self.c_air[i]),
                "run_state": state,
                "running_hours_h": float(self.c_run_h[i]),
                "loaded_hours_h": float(self.c_load_h[i]),
                "fault_code": int(self.c_fault_code[i]),
                "speed_pct": float(self.c_speed[i] * 100.0) if vsd else (100.0 if state in (1, 2) else 0.0),
                "load_pressure_mpa": float(self.c_load_p[i]),
                "unload_pressure_mpa": float(self.c_unload_p[i]),
                "target_pressure_mpa": float(self.c_target[i]),
                "run_command": int(self.c_run_cmd[i]),
                "load_enable": int(self.c_load_en[i]),
                "remote_mode": 1,
            }
        if kind == 1:
            si = int(self.d_st[i])
            dew = float(self.d_dew[i])
            return {
                "dew_point_c": dew,
                "inlet_temp_c": float(self.s_room[si] + 10.0 + 5.0 * min(1.0, self._load(si))),
                "power_kw": float(self.d_power[i]),
                "run_state": RUN_LOAD,
                "fault_code": FAULT_DRYER_HIGH_DEW_POINT if dew > HIGH_DEW_POINT_WARN_C else FAULT_NONE,
            }
        if kind == 2:
            si = int(self.fm_st[i])
            return {
                "flow_m3_min": float(self.s_fm_flow[si]),
                "total_m3": float(self.s_total_m3[si]),
                "pressure_mpa": float(self.p_header[si]),
                "temperature_c": float(self.s_room[si] + 6.0),
            }
        if kind == 3:
            si = int(self.pm_st[i])
            pw, pf, u = float(self.s_pm_power[si]), float(self.s_pf[si]), float(self.s_voltage[si])
            return {
                "power_kw": pw,
                "energy_kwh": float(self.s_energy_kwh[si]),
                "voltage_v": u,
                "current_a": pw * 1000.0 / (math.sqrt(3.0) * u * pf),
                "power_factor": pf,
                "reactive_power_kvar": pw * math.tan(math.acos(min(1.0, pf))),
            }
        if kind == 5:
            si = int(self.ps_st[i])
            nominal = float(self.ps_nominal[i])
            if self.s_fault["pipe_leak"][si]:
                ratio = PIPE_LEAK_RATIO
            else:  # deterministic wobble per sensor (two incommensurate periods, phase from the id)
                ph = float(self.ps_key[i] % np.uint64(10_000)) / 10_000.0 * 2 * math.pi
                ratio = 1.0 + PIPE_NOISE_RATIO * (0.6 * math.sin(self.t_s / 37.0 + ph)
                                                  + 0.4 * math.sin(self.t_s / 11.0 + 2 * ph))
                if self.s_fault["pressure_drop"][si]:  # the station's header collapses: its lines follow
                    ratio = min(ratio, float(self.p_header[si]) / TARGET_PRESSURE_MPA)
            return {
                "pressure_mpa": nominal * ratio,
                "temperature_c": PIPE_TEMP_C,
                "low_pressure_threshold_mpa": float(self.ps_low[i]),
                "nominal_pressure_mpa": nominal,
                "sensor_fault": 0,
            }
        si = int(self.io_st[i])
        f = self.s_fault
        entered = f["occupancy"][si] and self.t_s - self.s_occ_since[si] < DOOR_OPEN_AFTER_ENTRY_S
        return {
            "fire": int(f["fire"][si]),
            "flood": int(f["flood"][si]),
            "intrusion": int(f["intrusion"][si]),
            "door_open": int(bool(f["intrusion"][si] or entered)),
            "occupancy": int(f["occupancy"][si]),
            "room_temp_c": float(self.s_room[si]),
        }

    def _load(self, si: int) -> float:
        return float(self.s_supply[si] / self.cap[si]) if self.cap[si] > 0 else 0.0

    def station_state(self, station_id: str) -> dict[str, float]:
        """Internal state of a station: ``pressure_mpa`` (header), ``demand_m3_min``, ``supply_m3_min``,
        ``capacity_m3_min``, ``room_temp_c`` — for tests and debugging (not served over Modbus)."""
        si = self._station(station_id)
        return {"pressure_mpa": float(self.p_header[si]), "demand_m3_min": float(self.s_demand[si]),
                "supply_m3_min": float(self.s_supply[si]), "capacity_m3_min": float(self.cap[si]),
                "room_temp_c": float(self.s_room[si])}

    def fleet_totals(self) -> dict[str, float]:
        """Fleet sums of the station meters: ``flow_m3_min``, ``power_kw``, ``total_m3``, ``energy_kwh``."""
        return {"flow_m3_min": float(self.s_fm_flow.sum()), "power_kw": float(self.s_pm_power.sum()),
                "total_m3": float(self.s_total_m3.sum()), "energy_kwh": float(self.s_energy_kwh.sum())}
