"""The alarm engine against a real Redis stream and real SQL (SQLite and PostgreSQL)."""
from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from datasources.sql import alarm_store
from datasources.bus.shard import in_shard
from datasources.workers.alarm_engine import AlarmEngine, group_name
from datasources.sql.alarm_models import Alarm
from datasources.bus.messages import ALARMS_CHANNEL, READINGS_STREAM, DeviceReading, StationReading, StationSummary, write_cycle
from datasources.sql.db import make_engine, migrate
from ops.alarm_rules import load_rules

T0 = 1_763_700_000_000
SID = "ST00042"


def wait_for(predicate, timeout: float = 10.0, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def station_reading(t_s: float, temp_c: float = 85.0, fire: int = 0, seq: int = 0) -> StationReading:
    ts = T0 + int(t_s * 1000)
    devices = [
        DeviceReading(device_id=f"{SID}-C1", kind="compressor", model="cc-fixed-speed-compressor", online=True,
                      ts_ms=ts, values={"discharge_temp_c": temp_c, "discharge_pressure_mpa": 0.71, "run_state": 2,
                                        "fault_code": 0, "flow_m3_min": 20.0, "power_kw": 125.0}),
        DeviceReading(device_id=f"{SID}-F", kind="flow_meter", model="cc-station-flow-meter", online=True, ts_ms=ts,
                      values={"flow_m3_min": 20.0, "pressure_mpa": 0.68}),
        DeviceReading(device_id=f"{SID}-IO", kind="station_io", model="cc-station-io", online=True, ts_ms=ts,
                      values={"fire": fire, "flood": 0, "intrusion": 0, "door_open": 0, "occupancy": 0}),
    ]
    summary = StationSummary(state="alarm" if fire else "running", devices_online=3, devices_total=3,
                             compressors_loaded=1, compressors_total=1, flow_m3_min=20.0, power_kw=125.0,
                             discharge_pressure_mpa=0.68, alarm_inputs=["fire"] if fire else [], ts_ms=ts)
    return StationReading(station_id=SID, ts_ms=ts, devices=devices, summary=summary, seq=seq)


class Listener:
    """Collects ``cc:alarms`` messages from a real subscription."""

    def __init__(self, client):
        self.pubsub = client.pubsub()
        self.pubsub.subscribe(ALARMS_CHANNEL)
        # the server's confirmation proves the subscription is active before anything is published
        wait_for(lambda: (m := self.pubsub.get_message(timeout=0.1)) is not None and m["type"] == "subscribe", 5,
                 "subscription confirmed")
        self.messages: list[dict] = []

    def until(self, predicate, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while not predicate(self.messages):
            if time.monotonic() > deadline:
                raise AssertionError(f"no matching cc:alarms message; got {[m['event'] for m in self.messages]}")
            m = self.pubsub.get_message(timeout=0.1)
            if m and m["type"] == "message":
                self.messages.append(json.loads(m["data"]))
        return self.messages

    def close(self):
        self.pubsub.close()


@pytest.fixture
def db(database_url):
    migrate(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def listener(redis_client):
    lis = Listener(redis_client)
    yield lis
    lis.close()


class Running:
    """An engine running in a thread until ``stop()``."""

    def __init__(self, engine: AlarmEngine):
        self.engine, self.stop_event = engine, threading.Event()
        engine.start()
        self.thread = threading.Thread(target=engine.run, args=(self.stop_event,), kwargs={"block_ms": 100},
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.stop_event.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()


def alarms_of(db, rule_id: str | None = None) -> list[Alarm]:
    with Session(db) as s:
        stmt = select(Alarm).order_by(Alarm.id)
        if rule_id:
            stmt = stmt.where(Alarm.rule_id == rule_id)
        return list(s.scalars(stmt))


def test_raise_on_first_reading_past_the_delay_persist_and_publish(db, redis_client, listener):
    running = Running(AlarmEngine(db, redis_client, load_rules(), consumer="t1", batch=50))
    try:
        write_cycle(redis_client, [station_reading(0, temp_c=90)])
        for t in range(1, 5):  # 110 °C from t=1; delay 5 s → due with the reading at t=6
            write_cycle(redis_client, [station_reading(t, temp_c=110)])
        wait_for(lambda: running.engine.stats["readings"] >= 5, what="5 readings evaluated")
        assert alarms_of(db) == []  # still pending
        write_cycle(redis_client, [station_reading(5, temp_c=110)])
        wait_for(lambda: running.engine.stats["readings"] >= 6, what="6th reading evaluated")
        assert alarms_of(db) == []
        write_cycle(redis_client, [station_reading(6, temp_c=110)])
        msgs = listener.until(lambda ms: any(m["event"] == "raised" for m in ms))
        write_cycle(redis_client, [station_reading(t, temp_c=111) for t in range(7, 12)])
        wait_for(lambda: running.engine.stats["readings"] >= 12, what="all readings evaluated")
    finally:
        running.stop()
    rows = alarms_of(db)
    assert len(rows) == 1, "one alarm for the source and rule, not one per reading"
    row = rows[0]
    assert (row.rule_id, row.source, row.station_id, row.device_id, row.severity, row.state) == (
        "compressor_discharge_temp_high", f"{SID}-C1", SID, f"{SID}-C1", 2, "active")
    assert row.raised_ts_ms == T0 + 6000 and row.value == 110 and row.threshold == 105
    assert json.loads(row.detail)["discharge_pressure_mpa"] == 0.71
    raised = [m for m in msgs if m["event"] == "raised"]
    assert len(raised) == 1
    m = raised[0]
    assert (m["v"], m["type"], m["actor"], m["annunciate"]) == (1, "alarm", "engine", True)
    assert {k: m["alarm"][k] for k in ("id", "station_id", "device_id", "rule", "severity", "state", "value",
                                       "threshold", "raised_ts_ms")} == {
        "id": row.id, "station_id": SID, "device_id": f"{SID}-C1", "rule": "compressor_discharge_temp_high",
        "severity": 2, "state": "active", "value": 110.0, "threshold": 105.0, "raised_ts_ms": T0 + 6000}
    assert [e["event"] for e in alarm_store.alarm_events(db, row.id)] == ["raised"]
    # every entry was acknowledged on the stream after the commit
    assert redis_client.xpending(READINGS_STREAM, "alarms")["pending"] == 0


def test_acknowledge_clear_close_persisted_and_published(db, redis_client, listener):
    running = Running(AlarmEngine(db, redis_client, load_rules(), consumer="t2"))
    try:
        write_cycle(redis_client, [station_reading(0, fire=1)])  # fire: severity I, no delay
        msgs = listener.until(lambda ms: any(m["event"] == "raised" for m in ms))
        alarm_id = msgs[-1]["alarm"]["id"]
        assert msgs[-1]["alarm"]["severity"] == 1 and msgs[-1]["alarm"]["rule"] == "fire_alarm"
        with pytest.raises(alarm_store.IllegalTransition):
            alarm_store.close(db, alarm_id, "duty", redis_client=redis_client)  # active: cannot close
        ack = alarm_store.acknowledge(db, alarm_id, "duty", now=T0 + 2000, redis_client=redis_client)
        assert ack["alarm"]["state"] == "acknowledged" and ack["alarm"]["acknowledged_by"] == "duty"
        with pytest.raises(alarm_store.IllegalTransition):
            alarm_store.acknowledge(db, alarm_id, "duty", redis_client=redis_client)
        write_cycle(redis_client, [station_reading(3, fire=0)])
        listener.until(lambda ms: any(m["event"] == "cleared" for m in ms))
        closed = alarm_store.close(db, alarm_id, "duty", now=T0 + 5000, redis_client=redis_client,
                                   note="fire brigade confirmed")
        assert closed["alarm"]["state"] == "closed"
        msgs = listener.until(lambda ms: any(m["event"] == "closed" for m in ms))
    finally:
        running.stop()
    assert [m["event"] for m in msgs] == ["raised", "acknowledged", "cleared", "closed"]
    assert [m["alarm"]["state"] for m in msgs] == ["active", "acknowledged", "cleared", "closed"]
    events = alarm_store.alarm_events(db, alarm_id)
    assert [(e["event"], e["actor"], e["state_after"]) for e in events] == [
        ("raised", "engine", "active"), ("acknowledged", "duty", "acknowledged"), ("cleared", "engine", "cleared"),
        ("closed", "duty", "closed")]
    row = alarms_of(db)[0]
    assert (row.state, row.open_key, row.closed_by, row.acknowledged_ts_ms, row.cleared_ts_ms) == (
        "closed", None, "duty", T0 + 2000, T0 + 3000)
    assert alarm_store.list_alarms(db, open_only=True) == []
    assert alarm_store.alarm_statistics(db, T0 - 1) == {"1": 1}


def test_reraise_after_clear_reuses_the_open_record_and_shelving_silences(db, redis_client, listener):
    engine = AlarmEngine(db, redis_client, load_rules(), consumer="t3")
    engine.start()
    write_cycle(redis_client, [station_reading(0, fire=1)])
    engine.poll_once(block_ms=2000)
    alarm_id = alarms_of(db)[0].id
    shelved = alarm_store.shelve(db, alarm_id, "duty", duration_s=600, now=T0 + 500, redis_client=redis_client)
    assert shelved["event"] == "shelved" and shelved["annunciate"] is False
    write_cycle(redis_client, [station_reading(1, fire=0), station_reading(2, fire=1)])
    while engine.poll_once(block_ms=500):
        pass
    rows = alarms_of(db)
    assert len(rows) == 1 and rows[0].occurrences == 2 and rows[0].state == "active"
    msgs = listener.until(lambda ms: len(ms) >= 4)
    assert [(m["event"], m["annunciate"]) for m in msgs] == [("raised", True), ("shelved", False),
                                                             ("cleared", False), ("raised", False)]


def test_restart_keeps_active_alarms_without_duplicates(db, redis_client, listener):
    rules = load_rules()
    first = AlarmEngine(db, redis_client, rules, consumer="host-a")
    first.start()
    write_cycle(redis_client, [station_reading(0, temp_c=112, fire=1)] +
                [station_reading(t, temp_c=112, fire=1) for t in range(1, 7)])
    while first.poll_once(block_ms=500):
        pass
    assert sorted(a.rule_id for a in alarms_of(db)) == ["compressor_discharge_temp_high", "fire_alarm"]
    # crash: the next readings are delivered to host-a and committed, but never XACKed
    write_cycle(redis_client, [station_reading(t, temp_c=112, fire=1) for t in range(7, 10)])
    entries = first._read(500)  # noqa: SLF001 — simulate the crash between commit and XACK
    assert len(entries) == 3
    alarm_store.apply_transitions(db, first.process(entries))
    assert redis_client.xpending(READINGS_STREAM, "alarms")["pending"] == 3
    del first

    second = AlarmEngine(db, redis_client, rules, consumer="host-a")  # same instance restarted
    assert second.restore() == 2
    write_cycle(redis_client, [station_reading(t, temp_c=112, fire=1) for t in range(10, 15)])
    while second.poll_once(block_ms=500):
        pass
    assert redis_client.xpending(READINGS_STREAM, "alarms")["pending"] == 0
    rows = alarms_of(db)
    assert len(rows) == 2 and all(r.occurrences == 1 and r.state == "active" for r in rows)
    with Session(db) as s:
        assert s.scalar(select(func.count()).select_from(Alarm).where(Alarm.open_key.is_not(None))) == 2
    # the restarted engine still clears what the first one raised
    write_cycle(redis_client, [station_reading(t, temp_c=90, fire=0) for t in range(15, 22)])
    while second.poll_once(block_ms=500):
        pass
    assert sorted((a.rule_id, a.state) for a in alarms_of(db)) == [
        ("compressor_discharge_temp_high", "cleared_unacknowledged"), ("fire_alarm", "cleared_unacknowledged")]
    events = [m["event"] for m in listener.until(lambda ms: sum(m["event"] == "cleared" for m in ms) >= 2)]
    assert events.count("raised") == 2 and events.count("cleared") == 2


def test_malformed_messages_are_skipped_and_acknowledged(db, redis_client):
    engine = AlarmEngine(db, redis_client, load_rules(), consumer="t5")
    engine.start()
    redis_client.xadd(READINGS_STREAM, {"data": "{not json"})
    redis_client.xadd(READINGS_STREAM, {"data": json.dumps({"v": 99, "type": "station_reading"})})
    write_cycle(redis_client, [station_reading(0, fire=1)])
    while engine.poll_once(block_ms=500):
        pass
    assert engine.stats["bad_messages"] == 2 and engine.stats["raised"] == 1
    assert redis_client.xpending(READINGS_STREAM, "alarms")["pending"] == 0


def test_shards_split_stations_not_messages():
    assert group_name((0, 1)) == "alarms" and group_name((1, 4)) == "alarms.1of4"
    ids = [f"ST{i:05d}" for i in range(200)]
    for n in (2, 3):
        owners = [[i for i in range(n) if in_shard(sid, (i, n))] for sid in ids]
        assert all(len(o) == 1 for o in owners)  # each station belongs to exactly one shard


def test_run_alarm_engine_entry_point(tmp_path, database_url, redis_client, redis_url, listener):
    from datasources.workers.alarm_engine import run_alarm_engine
    from datasources.settings import Settings

    settings = Settings(data_dir=tmp_path, redis_url=redis_url, database_url=database_url)
    stop = threading.Event()
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(run_alarm_engine(settings, stop=stop, sla_interval_s=1)),
                              daemon=True)
    thread.start()
    try:
        wait_for(lambda: redis_client.exists(READINGS_STREAM) and any(
            g["name"] in (b"alarms", "alarms") for g in redis_client.xinfo_groups(READINGS_STREAM)),
            timeout=30, what="consumer group created")
        write_cycle(redis_client, [station_reading(0, fire=1)])
        msgs = listener.until(lambda ms: any(m["event"] == "raised" for m in ms), timeout=15)
        assert msgs[-1]["alarm"]["rule"] == "fire_alarm"
    finally:
        stop.set()
        thread.join(timeout=15)
    assert not thread.is_alive() and result == [0]


def test_database_outage_keeps_readings_pending_and_retries(db, redis_client):
    from sqlalchemy.exc import OperationalError

    engine = AlarmEngine(db, redis_client, load_rules(), consumer="t6")
    engine.start()
    engine.db = make_engine("postgresql://postgres@127.0.0.1:1/nowhere", connect_args={"connect_timeout": 1})
    write_cycle(redis_client, [station_reading(0, fire=1)])
    with pytest.raises(OperationalError):
        engine.poll_once(block_ms=2000)
    assert redis_client.xpending(READINGS_STREAM, "alarms")["pending"] == 1  # not acknowledged
    assert engine.stats["db_errors"] == 1 and alarms_of(db) == []
    engine.db.dispose()
    engine.db = db  # the database is back
    engine.poll_once(block_ms=100)
    assert [a.rule_id for a in alarms_of(db)] == ["fire_alarm"]
    assert redis_client.xpending(READINGS_STREAM, "alarms")["pending"] == 0
