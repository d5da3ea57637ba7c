"""The alarm engine across a Redis restart that loses the stream and its consumer group (a Redis without
persistence, as the bus runs by default): it must recreate the group and go on judging, not loop on NOGROUP."""
from __future__ import annotations

import redis

from datasources.workers.alarm_engine import AlarmEngine
from datasources.bus.messages import READINGS_STREAM, write_cycle
from datasources.bus.redis_server import EmbeddedRedis
from ops.alarm_rules import load_rules
from tests.test_alarm_engine import Running, alarms_of, db, station_reading, wait_for  # noqa: F401  (fixture)


def test_engine_recreates_its_group_after_redis_lost_it_and_keeps_judging(db):  # noqa: F811
    server = EmbeddedRedis().start()
    client = redis.Redis.from_url(server.url, socket_timeout=5)
    running = Running(AlarmEngine(db, client, load_rules(), consumer="restart-1"))
    try:
        write_cycle(client, [station_reading(0, fire=1)])
        wait_for(lambda: [(a.rule_id, a.state) for a in alarms_of(db)] == [("fire_alarm", "active")],
                 what="fire alarm raised")
        port = server.port
        server.stop()  # the stream, the group and every pending entry are gone with it
        server = EmbeddedRedis(port=port).start()
        assert not client.exists(READINGS_STREAM)
        wait_for(lambda: client.exists(READINGS_STREAM) and client.xinfo_groups(READINGS_STREAM), timeout=30,
                 what="consumer group recreated after the restart")
        write_cycle(client, [station_reading(3, fire=0)])  # the fire is out: judged by the same engine
        wait_for(lambda: running.engine.stats["readings"] >= 2, timeout=30, what=f"reading evaluated {running.engine.stats}")
        wait_for(lambda: [(a.rule_id, a.state) for a in alarms_of(db)] == [("fire_alarm", "cleared_unacknowledged")],
                 timeout=30, what="fire alarm cleared after the Redis restart")
        assert client.xpending(READINGS_STREAM, running.engine.group)["pending"] == 0
        heartbeat = client.hget("cc:heartbeats", f"alarms:{running.engine.group}")
        assert heartbeat is not None and int(heartbeat) > 0
    finally:
        running.stop()
        client.close()
        server.stop()
