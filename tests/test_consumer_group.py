"""The stream consumer-group base (datasources/bus/consumer.py) and the shard function (datasources/bus/shard.py),
against the session's private Redis."""
from __future__ import annotations

import collections
import time

import pytest
import redis

from datasources.bus.consumer import HEARTBEATS_HASH, ConsumerGroup, default_consumer, is_nogroup
from datasources.bus.shard import check_shard, in_shard, parse_shard, shard_of

STREAM = "test:stream"


def _add(client, n: int, start: int = 0) -> list[bytes]:
    return [client.xadd(STREAM, {"data": f"m{start + k}"}) for k in range(n)]


def _data(entries) -> list[str]:
    return [e[1][b"data"].decode() for e in entries]


def test_ensure_creates_the_group_once_and_mkstream(redis_client):
    cg = ConsumerGroup(redis_client, STREAM, "g", "c1", start_id="0")
    assert cg.ensure() is True  # MKSTREAM: the stream did not exist
    assert redis_client.exists(STREAM)
    assert cg.ensure() is False  # BUSYGROUP ignored
    assert [g["name"] for g in redis_client.xinfo_groups(STREAM)] == [b"g"]


def test_pending_entries_are_read_again_after_a_crash(redis_client):
    """A consumer that read but never acknowledged (crash before the commit) gets the same entries first when it
    comes back under the same name, page by page, then new entries."""
    ids = _add(redis_client, 7)
    first = ConsumerGroup(redis_client, STREAM, "g", "worker-a", start_id="0", count=3)
    first.ensure()
    assert first.read_pending() == [] and not first.in_pending_pass  # fresh group: nothing pending ...
    got = first.read_new(count=7)  # ... then the 7 new entries, delivered, never acknowledged: the "crash"
    assert _data(got) == [f"m{k}" for k in range(7)]
    del first

    _add(redis_client, 2, start=7)
    again = ConsumerGroup(redis_client, STREAM, "g", "worker-a", start_id="0", count=3)
    again.ensure()
    pages = [_data(again.read()) for _ in range(3)]
    assert pages == [["m0", "m1", "m2"], ["m3", "m4", "m5"], ["m6"]]
    assert again.in_pending_pass
    assert _data(again.read(block_ms=None)) == ["m7", "m8"]  # pending list drained: new entries
    assert not again.in_pending_pass
    assert again.ack(ids) == 7
    again.rewind()
    assert _data(again.read_pending()) == ["m7", "m8"]  # acknowledged entries are not pending any more


def test_claim_takes_over_a_dead_consumers_entries_and_acks_trimmed_ones(redis_client):
    _add(redis_client, 4)
    dead = ConsumerGroup(redis_client, STREAM, "g", "dead", start_id="0")
    dead.ensure()
    assert len(dead.read_new(count=4)) == 4
    heir = ConsumerGroup(redis_client, STREAM, "g", "heir", start_id="0", claim_idle_ms=50)
    deadline = time.monotonic() + 5
    entries: list = []
    while not entries and time.monotonic() < deadline:
        entries, nxt = heir.claim()
        time.sleep(0.02)
    assert _data(entries) == ["m0", "m1", "m2", "m3"] and nxt == "0-0"
    owners = {p["consumer"] for p in redis_client.xpending_range(STREAM, "g", "-", "+", 10)}
    assert owners == {b"heir"}
    # an entry trimmed while pending is reported deleted by XAUTOCLAIM and acknowledged
    redis_client.xdel(STREAM, entries[0][0])
    time.sleep(0.06)
    heir.claim()
    assert redis_client.xpending(STREAM, "g")["pending"] == 3


def test_nogroup_is_recognised_and_recreate_resumes_after_the_last_id(redis_client):
    ids = _add(redis_client, 3)
    cg = ConsumerGroup(redis_client, STREAM, "g", "c", start_id="0")
    cg.ensure()
    redis_client.xgroup_destroy(STREAM, "g")
    with pytest.raises(redis.exceptions.ResponseError) as exc:
        cg.read_new()
    assert is_nogroup(exc.value)
    assert cg.recreate(ids[1].decode()) is True
    assert cg.in_pending_pass
    assert _data(cg.read()) == ["m2"]


def test_heartbeat_written_and_cleared(redis_client):
    cg = ConsumerGroup(redis_client, STREAM, "g", "c", heartbeat="alarms:g")
    cg.beat()
    assert abs(int(redis_client.hget(HEARTBEATS_HASH, "alarms:g")) - time.time() * 1000) < 5000
    cg.clear_beat()
    assert not redis_client.hexists(HEARTBEATS_HASH, "alarms:g")
    silent = ConsumerGroup(redis_client, STREAM, "g", "c")
    silent.beat()
    assert not redis_client.exists(HEARTBEATS_HASH)


def test_default_consumer_is_stable():
    assert default_consumer() == default_consumer()
    assert default_consumer("alarms", 2).endswith("-alarms-2")


# ------------------------------------------------------------------------------------------------------ shards
def test_shard_of_is_stable_across_processes():
    """crc32 of the UTF-8 id: the same in every process and Python version (unlike the salted hash())."""
    assert [shard_of(s, 4) for s in ("ST0001", "ST0002", "苏州-01", "")] == [1, 3, 2, 0]
    assert shard_of("ST0001", 1) == 0
    with pytest.raises(ValueError):
        shard_of("ST0001", 0)


def test_shard_of_spreads_stations_evenly_and_in_shard_agrees():
    ids = [f"ST{k:05d}" for k in range(10_000)]
    counts = collections.Counter(shard_of(s, 8) for s in ids)
    assert set(counts) == set(range(8))
    assert max(counts.values()) / min(counts.values()) < 1.15
    assert all(sum(in_shard(s, (i, 8)) for i in range(8)) == 1 for s in ids[:500])
    assert all(in_shard(s, (0, 1)) for s in ids[:50])


def test_parse_and_check_shard():
    assert parse_shard("1/4") == (1, 4)
    assert check_shard((0, 1)) == (0, 1)
    for bad in ((4, 4), (-1, 2), (0, 0)):
        with pytest.raises(ValueError):
            check_shard(bad)
