"""Alarm rules as data and their pure evaluation (ops.alarm_rules), and the alarm lifecycle (ops.alarms)."""
from __future__ import annotations

import textwrap

import pytest

from datasources.bus.messages import DeviceReading, StationReading, StationSummary
from ops.alarm_rules import (ACTIVE, CLEAR, CLEARING, INACTIVE, PENDING, RAISE, Evaluator, RuleFileError, load_rules,
                             parse_rules, with_overrides)
from ops.alarms import (ACKNOWLEDGED, CLEARED, CLEARED_UNACKNOWLEDGED, CLOSED, MAX_SHELVE_MS, AlarmStatus,
                        IllegalTransition, allowed_actions, transition)

T0 = 1_763_700_000_000
SID = "ST00001"


def comp(value_c: float | None = None, online: bool = True, run_state: int = 2, dev: str = "ST00001-C1",
         **extra) -> DeviceReading:
    values = {"run_state": run_state, "discharge_pressure_mpa": 0.72, **extra}
    if value_c is not None:
        values["discharge_temp_c"] = value_c
    return DeviceReading(device_id=dev, kind="compressor", model="cc-fixed-speed-compressor", online=online,
                         ts_ms=0, values=values if online else {}, error=None if online else "timeout")


def dev(device_id: str, kind: str, online: bool = True, **values) -> DeviceReading:
    return DeviceReading(device_id=device_id, kind=kind, model=f"cc-{kind}", online=online, ts_ms=0,
                         values=values if online else {}, error=None if online else "timeout")


def reading(t_s: float, devices: list[DeviceReading], **summary) -> StationReading:
    ts = T0 + int(t_s * 1000)
    summ = {"state": "running", "compressors_loaded": 1, "flow_m3_min": 20.0, "power_kw": 130.0,
            "discharge_pressure_mpa": 0.68, **summary}
    return StationReading(station_id=SID, ts_ms=ts, devices=devices, summary=StationSummary(**summ, ts_ms=ts))


def rules_from(yaml_rules: str):
    return parse_rules("version: 1\nrules:\n" + textwrap.indent(textwrap.dedent(yaml_rules), "  "))


TEMP_RULE = """
- id: temp_high
  kind: threshold
  device_kind: compressor
  value: discharge_temp_c
  op: ">"
  threshold: 105
  hysteresis: 3
  on_delay_s: 5
  off_delay_s: 5
  severity: II
  message: discharge temperature high
"""


def run(ev: Evaluator, series: list[tuple[float, list[DeviceReading]]], **summary) -> list[tuple[float, str]]:
    out = []
    for t, devices in series:
        for tr in ev.evaluate(reading(t, devices, **summary)):
            out.append(((tr.ts_ms - T0) / 1000, tr.event))
    return out


# ---------------------------------------------------------------- thresholds


def test_threshold_on_delay_raises_on_first_reading_past_the_delay():
    ev = Evaluator(rules_from(TEMP_RULE))
    series = [(0, [comp(100)])] + [(t, [comp(108)]) for t in range(1, 9)]
    events = run(ev, series)
    assert events == [(6.0, RAISE)]  # bad since t=1, delay 5 s → raised by the reading at t=6
    assert ev.state_of("temp_high", "ST00001-C1") == ACTIVE


def test_threshold_short_excursions_never_raise():
    ev = Evaluator(rules_from(TEMP_RULE))
    series = [(t, [comp(106 if t % 4 < 3 else 104)]) for t in range(0, 40)]  # 3 s above, 1 s below: never 5 s
    assert run(ev, series) == []
    assert ev.state_of("temp_high", "ST00001-C1") in (INACTIVE, PENDING)


def test_hysteresis_no_chatter_around_the_threshold_and_off_delay():
    ev = Evaluator(rules_from(TEMP_RULE))
    series = [(t, [comp(110)]) for t in range(0, 6)]                                   # raise at t=5
    series += [(t, [comp(104.5 if t % 2 else 105.5)]) for t in range(6, 40)]          # chatter within band
    series += [(t, [comp(101.0)]) for t in range(40, 47)]                             # below 105-3: clearing
    events = run(ev, series)
    assert events == [(5.0, RAISE), (45.0, CLEAR)]  # one raise, one clear 5 s after going below 102


def test_clearing_returns_to_active_when_bad_again():
    ev = Evaluator(rules_from(TEMP_RULE))
    run(ev, [(t, [comp(110)]) for t in range(0, 6)])
    assert run(ev, [(6, [comp(100)]), (7, [comp(100)])]) == []
    assert ev.state_of("temp_high", "ST00001-C1") == CLEARING
    assert run(ev, [(8, [comp(104)])]) == []  # 104 > 102: still bad with hysteresis
    assert ev.state_of("temp_high", "ST00001-C1") == ACTIVE
    assert run(ev, [(t, [comp(100)]) for t in range(9, 15)]) == [(14.0, CLEAR)]


def test_zero_delay_hysteresis_only():
    rules = with_overrides(rules_from(TEMP_RULE), temp_high={"on_delay_s": 0, "off_delay_s": 0})
    ev = Evaluator(rules)
    values = [106, 104, 106, 103, 106, 101.9, 104, 106]
    events = run(ev, [(t, [comp(v)]) for t, v in enumerate(values)])
    assert events == [(0.0, RAISE), (5.0, CLEAR), (7.0, RAISE)]  # 104 after the clear is below 105: no raise


def test_offline_device_holds_an_active_alarm_and_redelivery_is_ignored():
    ev = Evaluator(rules_from(TEMP_RULE))
    run(ev, [(t, [comp(110)]) for t in range(0, 6)])
    assert run(ev, [(t, [comp(online=False)]) for t in range(6, 30)]) == []  # no data: hold, never clear
    assert ev.state_of("temp_high", "ST00001-C1") == ACTIVE
    assert run(ev, [(3, [comp(90)]), (29, [comp(90)])]) == []  # old / same-timestamp readings are ignored


def test_one_active_alarm_per_source_and_rule_independent_sources():
    ev = Evaluator(rules_from(TEMP_RULE))
    series = [(t, [comp(110, dev="ST00001-C1"), comp(110 if t >= 3 else 90, dev="ST00001-C2")])
              for t in range(0, 30)]
    raised = [e for e in ev.evaluate(reading(0, series[0][1]))]
    for t, devices in series[1:]:
        raised += ev.evaluate(reading(t, devices))
    assert [(tr.source, tr.event) for tr in raised] == [("ST00001-C1", RAISE), ("ST00001-C2", RAISE)]
    assert ev.active_keys() == {("temp_high", "ST00001-C1"), ("temp_high", "ST00001-C2")}


def test_restore_active_skips_already_applied_readings():
    ev = Evaluator(rules_from(TEMP_RULE))
    ev.restore_active("temp_high", "ST00001-C1", last_ts_ms=T0 + 10_000)
    assert run(ev, [(5, [comp(50)]), (10, [comp(50)])]) == []  # not newer than the restored change
    assert ev.state_of("temp_high", "ST00001-C1") == ACTIVE
    assert run(ev, [(t, [comp(110)]) for t in range(11, 20)]) == []  # already active: no second raise


# ---------------------------------------------------------------- other rule kinds


def test_rate_of_change_pressure_falling():
    rules = rules_from("""
    - id: falling
      kind: rate_of_change
      device_kind: flow_meter
      value: pressure_mpa
      op: "<"
      threshold: -0.01
      hysteresis: 0.005
      window_s: 4
      on_delay_s: 2
      off_delay_s: 3
      severity: II
      unit: MPa/s
      message: header pressure falling fast
    """)
    ev = Evaluator(rules)
    steady = [(t, [dev("ST00001-F", "flow_meter", pressure_mpa=0.70)]) for t in range(0, 10)]
    assert run(ev, steady) == []
    falling = [(10 + t, [dev("ST00001-F", "flow_meter", pressure_mpa=round(0.70 - 0.02 * t, 3))])
               for t in range(1, 12)]
    events = run(ev, falling)
    assert events and events[0][1] == RAISE and len(events) == 1
    first_bad = 11  # the 4 s window sees the fall from t=11 on (rate ≈ -0.004 at 11, -0.02 from 12)
    assert first_bad + 2 <= events[0][0] <= first_bad + 4  # on delay 2 s after the rate crossed
    trs = ev.evaluate(reading(22, [dev("ST00001-F", "flow_meter", pressure_mpa=0.48)]))
    assert trs == [] and ev.state_of("falling", "ST00001-F") in (ACTIVE, CLEARING)
    flat = [(t, [dev("ST00001-F", "flow_meter", pressure_mpa=0.48)]) for t in range(23, 35)]
    assert [e for _t, e in run(ev, flat)] == [CLEAR]


def test_slow_drift_is_not_a_fast_fall():
    rules = rules_from("""
    - id: falling
      kind: rate_of_change
      device_kind: flow_meter
      value: pressure_mpa
      op: "<"
      threshold: -0.01
      window_s: 10
      severity: II
      message: falling
    """)
    ev = Evaluator(rules)
    series = [(t, [dev("F", "flow_meter", pressure_mpa=0.70 - 0.002 * t)]) for t in range(0, 60)]
    assert run(ev, series) == []


def test_digital_fault_fire_and_detail_values():
    rules = rules_from("""
    - id: compressor_fault
      kind: digital
      device_kind: compressor
      value: run_state
      states: [3]
      severity: II
      message: compressor fault
      detail_values: [fault_code]
    - id: fire
      kind: digital
      device_kind: station_io
      value: fire
      states: [1]
      severity: I
      message: fire
    """)
    ev = Evaluator(rules)
    io_ok, io_fire = dev("IO", "station_io", fire=0), dev("IO", "station_io", fire=1)
    assert ev.evaluate(reading(0, [comp(80), io_ok])) == []
    trs = ev.evaluate(reading(1, [comp(80, run_state=3, fault_code=17), io_fire]))
    assert [(t.rule.id, t.event, t.detail) for t in trs] == [("compressor_fault", RAISE, {"fault_code": 17}),
                                                             ("fire", RAISE, {})]
    assert trs[1].rule.severity == 1
    assert ev.evaluate(reading(2, [comp(80, run_state=3, fault_code=17), io_fire])) == []
    trs = ev.evaluate(reading(3, [comp(80, run_state=0), io_ok]))
    assert [(t.rule.id, t.event) for t in trs] == [("compressor_fault", CLEAR), ("fire", CLEAR)]


COMM_RULES = """
- id: device_offline
  kind: comm_loss
  scope: device
  on_delay_s: 3
  severity: III
  message: device offline
- id: station_offline
  kind: comm_loss
  scope: station
  on_delay_s: 3
  severity: II
  message: station offline
"""


def test_comm_loss_device_then_whole_station_without_a_flood():
    ev = Evaluator(rules_from(COMM_RULES))
    both = lambda a, b: [comp(80, online=a, dev="C1"), comp(80, online=b, dev="C2")]  # noqa: E731
    events = []
    for t in range(0, 5):
        events += [(t, x.source, x.event) for x in ev.evaluate(reading(t, both(True, False)))]
    assert events == [(3, "C2", RAISE)]  # C2 offline since t=0, delay 3 s → raised by the reading at t=3
    events = []
    for t in range(5, 12):
        events += [(t, x.source, x.event) for x in ev.evaluate(reading(t, both(False, False), state="offline"))]
    assert events == [(8, SID, RAISE)]  # station alarm; C1 is not raised separately (held), C2 stays active
    assert ev.state_of("device_offline", "C1") == INACTIVE
    assert ev.state_of("device_offline", "C2") == ACTIVE
    events = []
    for t in range(12, 14):
        events += [(t, x.source, x.event) for x in ev.evaluate(reading(t, both(True, True)))]
    assert sorted(events) == [(12, "C2", CLEAR), (12, SID, CLEAR)]


def test_pressure_differential_and_air_power_ratio():
    rules = rules_from("""
    - id: drop
      kind: pressure_differential
      threshold: 0.10
      hysteresis: 0.02
      severity: III
      message: pressure drop
    - id: ratio
      kind: air_power_ratio
      threshold: 6.0
      min_power_kw: 20
      on_delay_s: 60
      severity: IV
      message: ratio low
    """)
    ev = Evaluator(rules)
    meter = lambda p: dev("F", "flow_meter", pressure_mpa=p)  # noqa: E731
    good = ev.evaluate(reading(0, [comp(80, discharge_pressure_mpa=0.75), meter(0.70)], flow_m3_min=20,
                               power_kw=150))  # 8 m³/kWh
    assert good == []
    trs = ev.evaluate(reading(1, [comp(80, discharge_pressure_mpa=0.82), meter(0.70)], flow_m3_min=20,
                              power_kw=150))
    assert [(t.rule.id, t.event, round(t.value, 3)) for t in trs] == [("drop", RAISE, 0.12)]
    # the ratio must stay below 6.0 m³/kWh for 60 s (flow 15 m³/min at 160 kW = 5.625 m³/kWh)
    events = []
    for t in range(2, 70, 5):
        events += [(t, x.rule.id, x.event) for x in ev.evaluate(
            reading(t, [comp(80, discharge_pressure_mpa=0.75), meter(0.70)], flow_m3_min=15, power_kw=160))]
    assert events == [(2, "drop", CLEAR), (62, "ratio", RAISE)]
    # a stopped station (nothing loaded) is not judged: the ratio alarm clears
    trs = ev.evaluate(reading(70, [comp(40, run_state=0), meter(0.5)], compressors_loaded=0, flow_m3_min=0,
                              power_kw=3))
    assert [(t.rule.id, t.event) for t in trs] == [("ratio", CLEAR)]


def test_station_threshold_only_when_running():
    rules = rules_from("""
    - id: low
      kind: threshold
      scope: station
      value: discharge_pressure_mpa
      op: "<"
      threshold: 0.55
      only_when_running: true
      severity: II
      message: low header pressure
    """)
    ev = Evaluator(rules)
    assert ev.evaluate(reading(0, [comp(80, run_state=0)], discharge_pressure_mpa=0.3, compressors_loaded=0)) == []
    trs = ev.evaluate(reading(1, [comp(80)], discharge_pressure_mpa=0.50))
    assert [t.event for t in trs] == [RAISE]


PIPE_RULE = """
- id: pipe_low
  kind: threshold
  device_kind: pipe_sensor
  value: pressure_mpa
  op: "<"
  threshold: 0.56
  threshold_value: low_pressure_threshold_mpa
  hysteresis: 0.01
  severity: II
  message: pipe pressure low
"""


def test_threshold_value_gives_each_device_its_own_threshold():
    ev = Evaluator(rules_from(PIPE_RULE))

    def pipes(p_gas: float, p_air: float, with_thr: bool = True) -> list[DeviceReading]:
        gas = dict(pressure_mpa=p_gas, **({"low_pressure_threshold_mpa": 0.32} if with_thr else {}))
        return [dev("PS-1", "pipe_sensor", **gas), dev("PS-2", "pipe_sensor", pressure_mpa=p_air)]

    # 0.35 MPa is fine for a 0.4 MPa line (own threshold 0.32) but low for PS-2 (rule default 0.56)
    out = ev.evaluate(reading(0, pipes(0.35, 0.50)))
    assert [(tr.event, tr.source, tr.threshold) for tr in out] == [(RAISE, "PS-2", 0.56)]
    out = ev.evaluate(reading(1, pipes(0.30, 0.58)))
    assert {(tr.event, tr.source, tr.threshold) for tr in out} == {(RAISE, "PS-1", 0.32), (CLEAR, "PS-2", 0.56)}
    # hysteresis around the device's own threshold: 0.325 is not past 0.32 + 0.01
    assert ev.evaluate(reading(2, pipes(0.325, 0.60))) == []
    out = ev.evaluate(reading(3, pipes(0.34, 0.60)))
    assert [(tr.event, tr.source) for tr in out] == [(CLEAR, "PS-1")]
    # a reading without the set point falls back to the rule's threshold
    out = ev.evaluate(reading(4, pipes(0.35, 0.60, with_thr=False)))
    assert [(tr.event, tr.source, tr.threshold) for tr in out] == [(RAISE, "PS-1", 0.56)]


def test_threshold_value_is_device_scope_threshold_only():
    with pytest.raises(RuleFileError, match=r"threshold_value"):
        rules_from("""
        - id: bad
          kind: threshold
          scope: station
          value: flow_m3_min
          op: "<"
          threshold: 1
          threshold_value: x
          severity: II
          message: m
        """)
    with pytest.raises(RuleFileError, match=r"threshold_value.*unknown field"):
        rules_from("""
        - id: bad
          kind: rate_of_change
          device_kind: flow_meter
          value: pressure_mpa
          op: "<"
          threshold: 1
          threshold_value: x
          severity: II
          message: m
        """)


def test_packaged_pipe_pressure_rule_takes_the_sensor_threshold():
    rule = load_rules().by_id["pipe_pressure_low"]
    assert (rule.device_kind, rule.value, rule.op, rule.severity, rule.skill) == (
        "pipe_sensor", "pressure_mpa", "<", 2, "pipeline")
    assert rule.threshold_value == "low_pressure_threshold_mpa" and "7.2.5.1" in rule.source


def test_packaged_rules_load_and_cite_sources():
    rules = load_rules()
    by_id = rules.by_id
    assert {"compressor_discharge_temp_high", "dryer_dew_point_high", "header_pressure_low", "compressor_fault",
            "fire_alarm", "flood_alarm", "intrusion_alarm", "device_comm_loss", "station_comm_loss",
            "header_pressure_falling_fast", "pipeline_pressure_drop_high", "air_power_ratio_low"} <= set(by_id)
    assert (by_id["compressor_discharge_temp_high"].threshold, by_id["compressor_discharge_temp_high"].severity,
            by_id["compressor_discharge_temp_high"].on_delay_s) == (105.0, 2, 5.0)
    assert (by_id["dryer_dew_point_high"].threshold, by_id["dryer_dew_point_high"].severity) == (10.0, 3)
    assert (by_id["header_pressure_low"].threshold, by_id["header_pressure_low"].op) == (0.55, "<")
    assert by_id["fire_alarm"].severity == by_id["flood_alarm"].severity == 1
    assert by_id["intrusion_alarm"].severity == 2 and by_id["air_power_ratio_low"].severity == 4
    assert all(r.source for r in rules), "every rule cites where its threshold comes from"


# ---------------------------------------------------------------- bad rule files


@pytest.mark.parametrize("body, field, words", [
    ("rules: []", "version", "must be 1"),
    ("version: 1\nrules: []", "rules", "non-empty"),
    ("version: 1\nrules:\n  - {id: a, kind: threshold, device_kind: compressor, value: x, op: '>', "
     "threshold: high, severity: II, message: m}", "rules[0] (a).threshold", "finite number"),
    ("version: 1\nrules:\n  - {id: a, kind: thresold, severity: II, message: m}", "rules[0] (a).kind", "one of"),
    ("version: 1\nrules:\n  - {id: a, kind: threshold, device_kind: compressor, value: x, op: '>', "
     "threshold: 1, severity: V, message: m}", "rules[0] (a).severity", "I, II, III or IV"),
    ("version: 1\nrules:\n  - {id: a, kind: threshold, device_kind: compressor, value: x, op: '>', "
     "threshold: 1, severity: II, message: m, hysteresis: -1}", "rules[0] (a).hysteresis", "≥ 0"),
    ("version: 1\nrules:\n  - {id: a, kind: threshold, device_kind: compressor, value: x, op: '>', "
     "threshold: 1, severity: II, message: m, treshold: 2}", "rules[0] (a).treshold", "unknown field"),
    ("version: 1\nrules:\n  - {id: a, kind: digital, device_kind: compressor, value: run_state, "
     "severity: II, message: m}", "rules[0] (a).states", "non-empty list"),
    ("version: 1\nrules:\n  - {id: a, kind: threshold, value: x, op: '>', threshold: 1, severity: II, "
     "message: m}", "rules[0] (a).device_kind", "required"),
    ("version: 1\nrules:\n  - {id: a, kind: comm_loss, severity: II, message: m}\n"
     "  - {id: a, kind: comm_loss, severity: II, message: m}", "rules[1] (a).id", "duplicate"),
    ("version: 1\nrules:\n  - {id: Bad-Id, kind: comm_loss, severity: II, message: m}", "rules[0].id", "match"),
    ("version: 1\nrules:\n  - {id: a, kind: threshold, scope: station, value: nonsense, op: '>', "
     "threshold: 1, severity: II, message: m}", "rules[0] (a).value", "summary field"),
    ("version: 1\nrules: [\n", "", "YAML syntax error"),
])
def test_bad_rule_files_name_file_and_field(tmp_path, body, field, words):
    path = tmp_path / "my_rules.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(RuleFileError) as info:
        load_rules(path)
    err = info.value
    assert err.origin == str(path) and str(path) in str(err)
    assert err.field == field
    assert words in str(err)


def test_missing_rules_file(tmp_path):
    with pytest.raises(RuleFileError, match="cannot read"):
        load_rules(tmp_path / "nope.yaml")


# ---------------------------------------------------------------- lifecycle


def test_lifecycle_acknowledge_then_clear_then_close():
    st = AlarmStatus()
    assert st.state == "active"
    st = transition(st, "acknowledge", T0)
    assert st.state == ACKNOWLEDGED
    st = transition(st, "clear", T0)
    assert st.state == CLEARED
    st = transition(st, "close", T0)
    assert st.state == CLOSED


def test_lifecycle_clear_unacknowledged_then_acknowledge_then_close():
    st = transition(AlarmStatus(), "clear", T0)
    assert st.state == CLEARED_UNACKNOWLEDGED
    with pytest.raises(IllegalTransition, match="acknowledged"):
        transition(st, "close", T0)
    st = transition(st, "acknowledge", T0)
    assert st.state == CLEARED and allowed_actions(st, T0) == ("close", "shelve")
    assert transition(st, "close", T0).state == CLOSED


def test_lifecycle_reraise_of_a_cleared_alarm_needs_a_new_acknowledgement():
    st = transition(transition(AlarmStatus(), "acknowledge", T0), "clear", T0)
    st = transition(st, "raise", T0)
    assert st.state == "active" and not st.acknowledged


@pytest.mark.parametrize("start, action", [
    (AlarmStatus(), "close"),                                          # active
    (AlarmStatus(acknowledged=True), "close"),                         # acknowledged but active
    (AlarmStatus(acknowledged=True), "acknowledge"),                   # twice
    (AlarmStatus(), "raise"),                                          # already active
    (AlarmStatus(active=False), "clear"),                              # already cleared
    (AlarmStatus(active=False, acknowledged=True, closed=True), "acknowledge"),
    (AlarmStatus(active=False, acknowledged=True, closed=True), "raise"),
    (AlarmStatus(), "unshelve"),                                       # not shelved
])
def test_illegal_transitions_are_rejected(start, action):
    with pytest.raises(IllegalTransition):
        transition(start, action, T0)


def test_shelving_suppresses_for_a_duration_and_is_bounded():
    st = transition(AlarmStatus(), "shelve", T0, until_ms=T0 + 3_600_000)
    assert st.shelved(T0) and st.shelved(T0 + 3_599_999) and not st.shelved(T0 + 3_600_000)
    assert st.state == "active"  # shelving does not change the state
    assert transition(st, "unshelve", T0 + 1).shelved_until_ms is None
    with pytest.raises(IllegalTransition, match="future"):
        transition(AlarmStatus(), "shelve", T0, until_ms=T0)
    with pytest.raises(IllegalTransition, match="limited"):
        transition(AlarmStatus(), "shelve", T0, until_ms=T0 + MAX_SHELVE_MS + 1)
    with pytest.raises(ValueError, match="unknown"):
        transition(AlarmStatus(), "explode", T0)
