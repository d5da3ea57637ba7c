"""Pure energy KPIs (ops.energy): hand-computed cases, counters (rollover, reset, gaps), grades, CST buckets."""
from __future__ import annotations

from datetime import datetime

import pytest

from ops.energy import (CST, ENERGY_KWH_MODULUS, ILLUSTRATIVE_GB19153_TABLE, VOLUME_M3_MODULUS, GradeLimits,
                        RatioTotals, aggregate_ratio, aggregate_ratio_by, air_to_power_ratio, bucket_start,
                        counter_delta, efficiency_grade, find_grade_limits, grade_compressor, load_ratio, month_key,
                        next_bucket, ratio_degradation, ratio_from_specific_power, running_hours, shift_years,
                        specific_power, specific_power_from_ratio, unloaded_energy_kwh)


def ts(*args) -> int:
    return int(datetime(*args, tzinfo=CST).timestamp())


# ----------------------------------------------------------------------------------------------------- ratios

def test_ratio_and_specific_power():
    assert air_to_power_ratio(1000.0, 125.0) == 8.0
    assert specific_power(75.0, 10.0) == 7.5                    # 75 kW at 10 m³/min
    assert specific_power_from_ratio(8.0) == 7.5                # 60 / 8
    assert ratio_from_specific_power(7.5) == 8.0
    # the same period seen both ways: 10 m³/min for 1 h at 75 kW = 600 m³ / 75 kWh = 8.0 m³/kWh
    assert air_to_power_ratio(10.0 * 60, 75.0 * 1) == ratio_from_specific_power(specific_power(75.0, 10.0))


def test_undefined_ratios_are_none():
    assert air_to_power_ratio(100.0, 0.0) is None
    assert air_to_power_ratio(None, 10.0) is None
    assert specific_power(10.0, 0.0) is None
    assert specific_power_from_ratio(0.0) is None and ratio_from_specific_power(None) is None


def test_aggregation_is_sum_over_sum_not_mean_of_ratios():
    a, b = (1000.0, 100.0), (300.0, 50.0)                       # 10.0 and 6.0 m³/kWh
    total = aggregate_ratio([a, b])
    assert (total.air_m3, total.energy_kwh, total.members) == (1300.0, 150.0, 2)
    assert total.ratio == pytest.approx(1300 / 150)             # 8.667, not (10 + 6) / 2 = 8.0
    assert total.specific_power == pytest.approx(60 / (1300 / 150))
    assert (RatioTotals(1000, 100) + RatioTotals(300, 50)).ratio == pytest.approx(8.6667, rel=1e-4)


def test_aggregation_by_region():
    rows = [{"station_id": s, "city_adcode": c, "province_adcode": p, "air_m3": a, "energy_kwh": e}
            for s, c, p, a, e in (("S1", "320100", "320000", 800.0, 100.0), ("S2", "320100", "320000", 900.0, 100.0),
                                  ("S3", "320200", "320000", 1400.0, 200.0), ("S4", "440100", "440000", 600.0, 100.0))]
    city = aggregate_ratio_by(rows, "city_adcode")
    assert city["320100"].ratio == pytest.approx(1700 / 200)
    prov = aggregate_ratio_by(rows, "province_adcode")
    assert prov["320000"].ratio == pytest.approx(3100 / 400)
    assert aggregate_ratio_by(rows, "nation")["nation"].ratio == pytest.approx(3700 / 500)


# ---------------------------------------------------------------------------------------------- operation

def test_load_ratio_unloaded_energy_running_hours():
    assert load_ratio(2700, 3600) == 0.75
    assert load_ratio(0, 0) is None
    with pytest.raises(ValueError):
        load_ratio(4000, 3600)
    assert unloaded_energy_kwh(900, 20.0) == 5.0                 # 15 min at 20 kW
    assert running_hours(2700, 900) == 1.0


# ----------------------------------------------------------------------------------------------- counters

def test_counter_normal_and_stale():
    assert counter_delta(100.0, 112.5).delta == 12.5
    assert counter_delta(100.0, 112.5, dt_s=0).kind == "stale"


def test_counter_rollover_across_uint32_limits():
    # uint32 × 0.1 kWh: 429,496,729.0 → wraps after 429,496,729.5 → 0.4 : +1.0 kWh
    d = counter_delta(429_496_729.0, 0.4, ENERGY_KWH_MODULUS, dt_s=60, max_rate_per_s=20_000 / 3600)
    assert (d.kind, d.delta) == ("rollover", pytest.approx(1.0))
    # uint32 m³: 4,294,967,290 → 5 : +11 m³
    d = counter_delta(4_294_967_290, 5, VOLUME_M3_MODULUS, dt_s=60)
    assert (d.kind, d.delta) == ("rollover", 11)
    # without a rate limit the wrap must be within 1 % of the modulus to be a rollover
    assert counter_delta(4_294_967_290, 5, VOLUME_M3_MODULUS).kind == "rollover"


def test_counter_reset_counts_new_value_or_nothing():
    d = counter_delta(5_000.0, 3.5, ENERGY_KWH_MODULUS, dt_s=60, max_rate_per_s=20_000 / 3600)
    assert (d.kind, d.delta) == ("reset", 3.5)                  # counted from 0 within the interval
    # a replaced meter starting at a large reading: not plausible within 60 s → nothing attributed
    d = counter_delta(5_000.0, 4_000.0, ENERGY_KWH_MODULUS, dt_s=60, max_rate_per_s=20_000 / 3600)
    assert (d.kind, d.delta) == ("reset", None)
    # a jump up beyond the plausible rate is dropped too
    d = counter_delta(5_000.0, 9_000.0, ENERGY_KWH_MODULUS, dt_s=60, max_rate_per_s=20_000 / 3600)
    assert (d.kind, d.delta) == ("implausible", None)


def test_counter_gap_is_not_attributed():
    d = counter_delta(100.0, 160.0, dt_s=600, max_gap_s=300)
    assert (d.kind, d.delta) == ("gap", None)
    assert counter_delta(100.0, 160.0, dt_s=300, max_gap_s=300).delta == 60.0


# ------------------------------------------------------------------------------------------------- grades

def test_efficiency_grade_from_given_limits():
    limits = (6.0, 6.6, 7.3)
    assert [efficiency_grade(sp, limits) for sp in (5.5, 6.0, 6.5, 7.3, 7.31)] == [1, 1, 2, 3, None]
    assert efficiency_grade(None, limits) is None
    with pytest.raises(ValueError):
        efficiency_grade(6.0, (7.0, 6.0, 8.0))


def test_grade_lookup_uses_user_table_and_flags_illustrative_default():
    table = [GradeLimits(10, 20, 0.8, 6.2, 6.8, 7.5), GradeLimits(10, 20, 1.0, 6.9, 7.6, 8.4)]
    assert find_grade_limits(15, 0.75, table).pressure_mpa == 0.8      # next higher rated pressure
    assert find_grade_limits(15, 0.9, table).pressure_mpa == 1.0
    assert find_grade_limits(25, 0.8, table) is None
    res = grade_compressor(6.5, 15, 0.8, rated_sp_kw_per_m3_min=6.25, table=table, table_note="GB 19153-2019 表 2")
    assert (res.grade, res.note) == (2, "GB 19153-2019 表 2")
    assert res.vs_rated_pct == pytest.approx(4.0)
    default = grade_compressor(6.5, 15, 0.8)
    assert "illustrative" in default.note and default.limits in ILLUSTRATIVE_GB19153_TABLE


# ---------------------------------------------------------------------------------------------- baselines

def test_ratio_degradation():
    d = ratio_degradation(7.0, 8.0, threshold_pct=10)
    assert d.drop_pct == pytest.approx(12.5) and d.flagged
    assert not ratio_degradation(7.5, 8.0, threshold_pct=10).flagged          # 6.25 % drop
    assert ratio_degradation(None, 8.0).drop_pct is None


# ------------------------------------------------------------------------------------------- CST buckets

def test_buckets_are_china_standard_time():
    t = ts(2026, 3, 18, 7, 59, 30)                                             # Wednesday 07:59:30 CST
    assert bucket_start(t, "minute") == ts(2026, 3, 18, 7, 59)
    assert bucket_start(t, "hour") == ts(2026, 3, 18, 7)
    assert bucket_start(t, "day") == ts(2026, 3, 18)                           # = 2026-03-17T16:00Z
    assert bucket_start(ts(2026, 3, 18, 0, 30), "day") == ts(2026, 3, 18)      # 16:30 UTC the day before
    assert bucket_start(t, "week") == ts(2026, 3, 16)                          # Monday
    assert bucket_start(t, "month") == ts(2026, 3, 1)
    assert month_key(ts(2026, 3, 1)) == 202603 and month_key(ts(2026, 3, 1) - 1) == 202602
    assert next_bucket(ts(2026, 1, 1), "month", 2) == ts(2026, 3, 1)
    assert next_bucket(ts(2026, 1, 1), "month", -1) == ts(2025, 12, 1)
    assert shift_years(ts(2028, 2, 29, 10), -1) == ts(2027, 2, 28, 10)
    with pytest.raises(ValueError):
        bucket_start(t, "fortnight")
