"""Codes and constants of the simulated fleet's physics (:mod:`datasources.sim.physics`), each with its source.

Codes are those of the ``run_state`` / ``fault_code`` registers of the packaged profiles; pressures are gauge MPa,
flows m³/min of free air, powers kW, temperatures °C, times s. Pure data: no I/O, no imports.
"""
from __future__ import annotations

# --- codes (same as the ``run_state`` / ``fault_code`` registers of the packaged profiles) -------------------------
RUN_STOP, RUN_UNLOAD, RUN_LOAD, RUN_FAULT = 0, 1, 2, 3
FAULT_NONE = 0
#: compressor tripped on discharge over-temperature (≥ :data:`TRIP_TEMP_C`)
FAULT_DISCHARGE_OVERTEMP = 101
#: dryer warning: pressure dew point above :data:`HIGH_DEW_POINT_WARN_C` (dryer keeps running, run_state 2)
FAULT_DRYER_HIGH_DEW_POINT = 201

#: remote controls of a compressor accepted by :meth:`datasources.sim.physics.FleetPhysics.command_many`
CONTROLS = ("run_command", "load_enable", "load_pressure_mpa", "unload_pressure_mpa", "target_pressure_mpa")
#: injectable station faults (same names as ``python -m dashboard fault``)
FAULTS = ("overheat", "high_dew_point", "comm_loss", "fire", "flood", "intrusion", "pressure_drop", "occupancy",
          "pipe_leak")

# --- constants and the source of each ------------------------------------------------------------------------------
P_ATM_MPA = 0.101325                 # standard atmosphere
LOAD_PRESSURE_MPA = 0.62             # pressure band of issue 2: load at 0.62 MPa …
UNLOAD_PRESSURE_MPA = 0.72           # … unload at 0.72 MPa
TARGET_PRESSURE_MPA = 0.67           # VSD set point: middle of the band
STAGGER_MPA = 0.01                   # set-point stagger per fixed-speed unit (cascade sequencing)
MAX_STAGGER_STEPS = 4                # lowest stagger 0.58/0.68 MPa
RATED_PRESSURE_MPA = 0.70            # pressure at which the rated specific power holds
POWER_PER_MPA = 0.6                  # +6 % power per 0.1 MPa (rule of thumb: ~7 % per bar)
UNLOADED_POWER_FRACTION = 0.30       # unloaded screw compressor draws 25–35 % of full-load power
VSD_FIXED_POWER_FRACTION = 0.05      # VSD: small fixed part (drive, fan) + part proportional to speed
VSD_MIN_SPEED = 0.30                 # typical turndown of screw VSDs: 25–35 % minimum speed
VSD_UNLOAD_MARGIN_MPA = 0.03         # VSD unloads at target + 0.03 MPa when at minimum speed
VSD_RELOAD_MARGIN_MPA = 0.02         # … and reloads at target − 0.02 MPa
VSD_LOOP_TAU_S = 8.0                 # closed-loop time constant of the VSD pressure loop
VSD_INTEGRAL_TIME_S = 30.0
FIXED_RUN_ON_S = 300.0               # run-on timer before standby (controllers: 3–10 min)
VSD_RUN_ON_S = 60.0
RECEIVER_M3_PER_M3_MIN = 0.3         # receiver + piping volume per m³/min of capacity
MIN_RECEIVER_M3 = 1.0
SAFETY_VALVE_MPA = 0.80
LEAK_FRACTION = 1.5                  # pressure_drop: a burst line drawing 1.5 × capacity at 0.67 MPa
DEFAULT_SPECIFIC_POWER = 7.0         # kW/(m³/min) when a spec does not say
DEFAULT_RATED_FLOW = 10.0            # m³/min when a spec does not say
TRIP_TEMP_C = 110.0                  # discharge over-temperature trip (screw controllers: 105–115 °C)
OVERHEAT_TARGET_C = 135.0            # where a failed cooler drives the discharge temperature
DISCHARGE_TAU_S = 90.0
OVERHEAT_TAU_S = 40.0
DEW_POINT_NORMAL_C = 3.0             # refrigerated dryer, ISO 8573-1 class 4 (≤ +3 °C)
DEW_POINT_FAULT_C = 15.0             # high_dew_point fault: dryer refrigerant circuit failed
HIGH_DEW_POINT_WARN_C = 10.0
DEW_TAU_S = 60.0
DRYER_KW_PER_M3_MIN = 0.10           # refrigerated dryer: ≈ 0.1 kW per m³/min
DRYER_NO_LOAD_FRACTION = 0.35
ROOM_TAU_S = 900.0
FIRE_ROOM_RISE_C = 45.0
FIRE_TAU_S = 120.0
DOOR_OPEN_AFTER_ENTRY_S = 30.0       # occupancy: the door reads open for 30 s after someone enters
LINE_VOLTAGE_V = 380.0               # LV feeder, line-to-line
CST_OFFSET_S = 8 * 3600              # China Standard Time = UTC+8 (shift pattern)
MAX_SUBSTEP_S = 1.0                  # step() integrates in sub-steps of at most 1 s
SHIFT_TYPES = (1, 2, 3)

PIPE_NOMINAL_MPA = 0.7                # pipe sensor default nominal: the demo compressed-air lines' 0.7 MPa
PIPE_LOW_RATIO = 0.8                  # default low-pressure set point = 0.8 × nominal (layers/pipelines.py LOW_RATIO)
PIPE_NOISE_RATIO = 0.015              # ± 1.5 % of nominal: transmitter noise and demand swings
PIPE_LEAK_RATIO = 0.6                 # pipe_leak: the segment falls to 0.6 × nominal, well below the set point
PIPE_TEMP_C = 15.0                    # medium temperature in a buried line
