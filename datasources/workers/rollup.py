"""Energy rollups of one batch of station readings: the arithmetic of the recorder
(:mod:`datasources.workers.recorder`), which reads the stream, loads and stores the per-station watermarks and
commits what this module accumulates.

What is computed per reading
----------------------------
Each relevant device (``compressor``, ``flow_meter``, ``power_meter``; other kinds are ignored) that is ``online``
contributes

* a **sample** to the minute bucket of its ``ts_ms``: ``samples``, ``flow_sum`` (Σ flow_m3_min), ``power_sum``
  (Σ power_kw), pressure min/max (``discharge_pressure_mpa``, flow meter ``pressure_mpa``), compressor
  ``temp_max`` (``discharge_temp_c``) and ``running_hours_h`` (largest value seen);
* an **interval** ``[previous ts, ts)`` of that device, when the previous online reading is at most ``max_gap_s``
  (default 300 s) old: the interval is split at minute boundaries and each piece gets its share (by time) of the
  counter deltas (``energy_kwh``; ``air_volume_m3`` / flow meter ``total_m3`` → ``air_m3``) and its seconds,
  counted by the ``run_state`` observed at the *start* of the interval (sample-and-hold: 0 stop, 1 unload, 2 load,
  3 fault → ``stopped_s``, ``unloaded_s``, ``loaded_s``, ``fault_s``); ``unloaded_kwh`` = power at the start ×
  unloaded seconds / 3600.

Counters go through :func:`ops.energy.counter_delta`: a uint32 rollover (×0.1 kWh modulus 429,496,729.6, m³
modulus 2³²) is unwrapped; a counter that goes down otherwise is a **reset** (device replaced / counter cleared) and
the new value is the delta (it counted from 0 within the interval), unless that value exceeds the plausibility rate
(``max_energy_rate_kw`` / ``max_air_rate_m3_min`` × interval), then nothing is attributed and the counter is
re-baselined; an increase above the plausibility rate is also dropped (``resets`` counts both).

**Gaps stay gaps.** An interval longer than ``max_gap_s`` (a device offline, the poller or the recorder's input
missing) is not attributed at all: no seconds, no counter delta — the counter is simply re-baselined — and the
bucket where the interval ends gets ``gaps += 1``. A minute without readings has no row (never zeros). Energy and
air over a gap are therefore missing from *both* totals, so the air-to-power ratio stays unbiased.

Station rows: ``samples``/``flow_sum``/``power_sum``/pressures come from the station summary (meter values where
the meters answered, else compressor sums — :func:`ops.station_state.summarise`) when a device was online;
``loaded_s`` … ``unloaded_kwh`` and ``comp_air_m3``/``comp_energy_kwh`` sum the compressors; ``air_m3`` /
``energy_kwh`` are the station **flow meter / power meter** delta for a reading where that meter is *continuous*
(online in this and in the previous reading of the station, interval ≤ ``max_gap_s``), otherwise the **sum over the
compressors** for that reading. A meter returning after an outage is re-baselined instead of back-filling the outage
(whose air/energy were already counted from the compressors), so nothing is counted twice.

Time: all ``ts_ms`` are epoch milliseconds UTC; ``bucket_ts`` epoch seconds UTC; day buckets are CST days (UTC+8).
"""
from __future__ import annotations

from dataclasses import dataclass

from datasources.sql.rollup_writes import DEVICE_MEASURES, STATION_MEASURES
from ops.energy import CST_OFFSET_S, ENERGY_KWH_MODULUS, VOLUME_M3_MODULUS, counter_delta, month_key
from ops.vocab import STATION_ONLINE_STATES

#: device kinds whose readings feed the rollups; other kinds are ignored
RELEVANT_KINDS = frozenset(("compressor", "flow_meter", "power_meter"))

# accumulator layout (lists, for speed), same order as rollup_writes.STATION_MEASURES / DEVICE_MEASURES
SAMPLES, FLOW, POWER, AIR, ENERGY, COVERED, LOADED, UNLOADED, STOPPED, FAULT, UNLOADED_KWH, PMIN, PMAX, GAPS, \
    RESETS = range(15)
COMP_AIR, COMP_ENERGY = 15, 16      # station accumulators
TEMP_MAX, RH_MAX = 15, 16           # device accumulators
assert STATION_MEASURES[COMP_AIR] == "comp_air_m3" and DEVICE_MEASURES[RH_MAX] == "running_hours_h"
_ADDITIVE_STATION = (SAMPLES, FLOW, POWER, AIR, ENERGY, COVERED, LOADED, UNLOADED, STOPPED, FAULT, UNLOADED_KWH,
                     GAPS, RESETS, COMP_AIR, COMP_ENERGY)
_ADDITIVE_DEVICE = _ADDITIVE_STATION[:-2]
_STATE_INDEX = {0: STOPPED, 1: UNLOADED, 2: LOADED, 3: FAULT}  # run_state → accumulator index


def _new_acc() -> list:
    return [0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, None, None, 0, 0, 0.0, 0.0]


def _new_dev_acc() -> list:
    return [0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, None, None, 0, 0, None, None]


def _min(a, b):
    return b if a is None else (a if b is None or a <= b else b)


def _max(a, b):
    return b if a is None else (a if b is None or a >= b else b)


def merge_acc(into: list, other: list, station: bool) -> None:
    """Combine accumulator ``other`` into ``into`` in place (sums add, extremes min/max). Minute → hour → day."""
    for i in (_ADDITIVE_STATION if station else _ADDITIVE_DEVICE):
        into[i] += other[i]
    into[PMIN] = _min(into[PMIN], other[PMIN])
    into[PMAX] = _max(into[PMAX], other[PMAX])
    if not station:
        into[TEMP_MAX] = _max(into[TEMP_MAX], other[TEMP_MAX])
        into[RH_MAX] = _max(into[RH_MAX], other[RH_MAX])


def split_minutes(t0_ms: int, t1_ms: int) -> list[tuple[int, float]]:
    """Split the interval ``[t0_ms, t1_ms)`` (epoch ms UTC) at minute boundaries.

    Returns:
        ``[(minute_start_s, seconds), ...]`` in time order (epoch s UTC, seconds > 0); empty when ``t1_ms <= t0_ms``.
    """
    if t1_ms <= t0_ms:
        return []
    m0 = t0_ms - t0_ms % 60000
    if t1_ms <= m0 + 60000:
        return [(m0 // 1000, (t1_ms - t0_ms) / 1000.0)]
    out = []
    a = t0_ms
    while a < t1_ms:
        m = a - a % 60000
        b = min(m + 60000, t1_ms)
        out.append((m // 1000, (b - a) / 1000.0))
        a = b
    return out


def _day_start(ts_s: int) -> int:
    return (ts_s + CST_OFFSET_S) // 86400 * 86400 - CST_OFFSET_S


def _week_start(day_ts: int) -> int:
    local_day = (day_ts + CST_OFFSET_S) // 86400
    return (local_day - (local_day + 3) % 7) * 86400 - CST_OFFSET_S


@dataclass
class StationState:
    """A station's committed watermark: ``last_ts`` (epoch ms UTC of the newest recorded reading, ``None`` = never),
    ``last_entry`` (its stream id) and, per device, its previous reading's values."""

    last_ts: int | None
    last_entry: str
    devices: dict[str, list]  # device_id → [ts_ms, station_ts_ms, energy_kwh, air_m3, run_state, power_kw]


class RollupBatch:
    """The open batch: per-minute accumulators of stations and devices, the stream ids they came from and the
    watermark each station started from. :class:`datasources.workers.recorder.Recorder` derives from it and
    provides ``_cache`` (``{station_id: StationState}``, loaded before :meth:`_process`), ``stats``
    (``skipped``), ``cfg.max_gap_s`` (s) and the plausibility rates ``_energy_rate`` (kWh/s) and ``_air_rate``
    (m³/s).
    """

    def _reset_batch(self) -> None:
        self._acc_st: dict[str, dict[int, list]] = {}
        self._acc_dev: dict[str, dict[int, list]] = {}
        self._dev_meta: dict[str, tuple[str, str]] = {}
        self._base: dict[str, int | None] = {}          # station → last_ts the batch started from
        self._ids_by_station: dict[str, list] = {}
        self._free_ids: list = []                         # invalid / deleted entries: ack unconditionally
        self._bad_ids: set = set()                        # entries that failed processing (ack, never re-process)
        self._proc_count: dict[str, int] = {}             # readings folded per station (stats, at commit)
        self._batch_n = 0
        self._batch_t0: float | None = None

    def _counter(self, prev: float, curr: float, modulus: float, dt: float, rate: float) -> tuple[float | None, bool]:
        """Counter delta (:func:`ops.energy.counter_delta`) with the common case inlined. Returns (delta, reset?)."""
        d = curr - prev
        if 0 <= d <= rate * dt:
            return round(d, 6), False
        cd = counter_delta(prev, curr, modulus, dt_s=dt, max_gap_s=None, max_rate_per_s=rate)
        return cd.delta, cd.kind in ("reset", "implausible")

    def _process(self, entry_id, r: dict) -> None:
        """Fold one reading (a validated dict) into the open batch; see the module docstring for the rules."""
        sid = r["station_id"]
        ids = self._ids_by_station.get(sid)
        if ids is None:
            ids = self._ids_by_station[sid] = []
        ids.append(entry_id)
        S = self._cache[sid]
        if sid not in self._base:
            self._base[sid] = S.last_ts
        ts = r["ts_ms"]
        if S.last_ts is not None and ts <= S.last_ts:
            self.stats.skipped += 1
            return
        self._proc_count[sid] = self._proc_count.get(sid, 0) + 1
        prev_station_ts = S.last_ts
        max_gap_ms = self.cfg.max_gap_s * 1000.0
        summ = r["summary"]
        st_buckets = self._acc_st.get(sid)
        if st_buckets is None:
            st_buckets = self._acc_st[sid] = {}

        def st_acc(m: int) -> list:
            acc = st_buckets.get(m)
            if acc is None:
                acc = st_buckets[m] = _new_acc()
            return acc

        if summ.get("devices_online", 0) > 0 and summ.get("state") in STATION_ONLINE_STATES:
            sacc = st_acc((ts - ts % 60000) // 1000)
            sacc[SAMPLES] += 1
            sacc[FLOW] += summ.get("flow_m3_min") or 0.0
            sacc[POWER] += summ.get("power_kw") or 0.0
            p = summ.get("discharge_pressure_mpa")
            if p is not None:
                if sacc[PMIN] is None or p < sacc[PMIN]:
                    sacc[PMIN] = p
                if sacc[PMAX] is None or p > sacc[PMAX]:
                    sacc[PMAX] = p
            if prev_station_ts is not None:
                if ts - prev_station_ts <= max_gap_ms:
                    for m, sec in split_minutes(prev_station_ts, ts):
                        st_acc(m)[COVERED] += sec
                else:
                    sacc[GAPS] += 1

        comp_air: list[tuple[int, float]] = []     # (minute, m³) pieces of the compressors in this reading
        comp_energy: list[tuple[int, float]] = []
        meter_air = meter_energy = None             # pieces of a continuous meter, else None
        has_fm = has_pm = False
        devices = S.devices
        acc_dev = self._acc_dev
        e_rate, a_rate = self._energy_rate, self._air_rate
        for d in r["devices"]:
            kind = d.get("kind")
            if kind not in RELEVANT_KINDS:
                continue
            is_comp = kind == "compressor"
            if kind == "flow_meter":
                has_fm = True
            elif kind == "power_meter":
                has_pm = True
            if not d.get("online"):
                continue
            v = d.get("values") or {}
            did = d["device_id"]
            dts = d["ts_ms"]
            prev = devices.get(did)
            if prev is not None and dts <= prev[0]:
                continue  # the device's own timestamp did not advance: no new information
            dev_buckets = acc_dev.get(did)
            if dev_buckets is None:
                dev_buckets = acc_dev[did] = {}
                self._dev_meta[did] = (sid, kind)
            dminute = (dts - dts % 60000) // 1000
            dacc = dev_buckets.get(dminute)
            if dacc is None:
                dacc = dev_buckets[dminute] = _new_dev_acc()
            dacc[SAMPLES] += 1
            power = v.get("power_kw")
            flow = v.get("flow_m3_min")
            if flow is not None:
                dacc[FLOW] += flow
            if power is not None:
                dacc[POWER] += power
            if is_comp:
                p = v.get("discharge_pressure_mpa")
                energy, air, rs = v.get("energy_kwh"), v.get("air_volume_m3"), v.get("run_state")
                t = v.get("discharge_temp_c")
                if t is not None and (dacc[TEMP_MAX] is None or t > dacc[TEMP_MAX]):
                    dacc[TEMP_MAX] = t
                rh = v.get("running_hours_h")
                if rh is not None and (dacc[RH_MAX] is None or rh > dacc[RH_MAX]):
                    dacc[RH_MAX] = rh
            elif kind == "flow_meter":
                p = v.get("pressure_mpa")
                energy, air, rs = None, v.get("total_m3"), None
            else:
                p = None
                energy, air, rs = v.get("energy_kwh"), None, None
            if p is not None:
                if dacc[PMIN] is None or p < dacc[PMIN]:
                    dacc[PMIN] = p
                if dacc[PMAX] is None or p > dacc[PMAX]:
                    dacc[PMAX] = p

            if prev is not None:
                dt_ms = dts - prev[0]
                if dt_ms > max_gap_ms:
                    dacc[GAPS] += 1          # a gap: nothing attributed, counters re-baselined below
                else:
                    dt = dt_ms / 1000.0
                    e_d = a_d = None
                    if energy is not None and prev[2] is not None:
                        e_d, reset = self._counter(prev[2], energy, ENERGY_KWH_MODULUS, dt, e_rate)
                        if reset:
                            dacc[RESETS] += 1
                            st_acc(dminute)[RESETS] += 1
                    if air is not None and prev[3] is not None:
                        a_d, reset = self._counter(prev[3], air, VOLUME_M3_MODULUS, dt, a_rate)
                        if reset:
                            dacc[RESETS] += 1
                            st_acc(dminute)[RESETS] += 1
                    state_idx = _STATE_INDEX.get(prev[4]) if is_comp else None
                    unload_kw = prev[5] if (state_idx == UNLOADED and prev[5] is not None) else None
                    pieces = split_minutes(prev[0], dts)
                    for m, sec in pieces:
                        frac = sec / dt
                        if m == dminute:
                            pacc = dacc
                        else:
                            pacc = dev_buckets.get(m)
                            if pacc is None:
                                pacc = dev_buckets[m] = _new_dev_acc()
                        pacc[COVERED] += sec
                        if e_d is not None:
                            pacc[ENERGY] += e_d * frac
                        if a_d is not None:
                            pacc[AIR] += a_d * frac
                        if is_comp:
                            if state_idx is not None:
                                sp = st_acc(m)
                                pacc[state_idx] += sec
                                sp[state_idx] += sec
                                if unload_kw is not None:
                                    pacc[UNLOADED_KWH] += unload_kw * sec / 3600.0
                                    sp[UNLOADED_KWH] += unload_kw * sec / 3600.0
                            if e_d is not None:
                                comp_energy.append((m, e_d * frac))
                            if a_d is not None:
                                comp_air.append((m, a_d * frac))
                    if not is_comp and prev[1] == prev_station_ts:   # a meter online in the previous reading too
                        if a_d is not None and kind == "flow_meter":
                            meter_air = [(m, a_d * sec / dt) for m, sec in pieces]
                        elif e_d is not None and kind == "power_meter":
                            meter_energy = [(m, e_d * sec / dt) for m, sec in pieces]
            devices[did] = [dts, ts, energy, air, rs, power]

        for m, x in comp_air:
            st_acc(m)[COMP_AIR] += x
        for m, x in comp_energy:
            st_acc(m)[COMP_ENERGY] += x
        for m, x in (meter_air if (has_fm and meter_air is not None) else comp_air):
            st_acc(m)[AIR] += x
        for m, x in (meter_energy if (has_pm and meter_energy is not None) else comp_energy):
            st_acc(m)[ENERGY] += x
        S.last_ts = ts
        S.last_entry = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    def _rows(self, stations: set[str]) -> dict[tuple[str, str], list[tuple]]:
        """Row tuples (``rollup_writes.rollup_columns`` order) per (level, granularity) for the accepted stations:
        the minute accumulators and their merges into hour and CST-day buckets."""
        out: dict[tuple[str, str], list[tuple]] = {(lv, g): [] for lv in ("station", "device")
                                                   for g in ("minute", "hour", "day")}
        week_month: dict[int, tuple[int, int]] = {}

        def day_keys(d: int) -> tuple[int, int]:
            wm = week_month.get(d)
            if wm is None:
                wm = week_month[d] = (_week_start(d), month_key(d))
            return wm

        def emit(level: str, key: tuple, buckets: dict[int, list], station: bool) -> None:
            hours: dict[int, list] = {}
            days: dict[int, list] = {}
            rows_m = out[(level, "minute")]
            for m, acc in buckets.items():
                rows_m.append(key[:1] + (m,) + key[1:] + tuple(acc))
                h = m - m % 3600
                if h in hours:
                    merge_acc(hours[h], acc, station)
                else:
                    hours[h] = list(acc)
            for h, acc in hours.items():
                out[(level, "hour")].append(key[:1] + (h,) + key[1:] + tuple(acc))
                d = _day_start(h)
                if d in days:
                    merge_acc(days[d], acc, station)
                else:
                    days[d] = list(acc)
            for d, acc in days.items():
                out[(level, "day")].append(key[:1] + (d,) + key[1:] + day_keys(d) + tuple(acc))

        for sid in sorted(stations):
            buckets = self._acc_st.get(sid)
            if buckets:
                emit("station", (sid,), buckets, True)
        for did in sorted(self._acc_dev):
            sid, kind = self._dev_meta[did]
            if sid in stations:
                emit("device", (did, sid, kind), self._acc_dev[did], False)
        return out
