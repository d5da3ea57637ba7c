"""The fan-out base (dashboard/live/fanout.py) with a real Flask-SocketIO server, its test client and a private
Redis that is restarted: the task is a Socket.IO background task, emits reach the rooms of this process, a lost
Redis is reconnected and the subclass is told to resynchronise."""
from __future__ import annotations

import threading
import time

import redis
from flask import Flask
from flask_socketio import SocketIO, join_room

from dashboard.live.fanout import BusFanout, PeriodicFanout
from datasources.bus.redis_server import EmbeddedRedis

CHANNEL = "test:fanout"


def wait_until(cond, timeout: float = 10.0, every: float = 0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = cond()
        if got:
            return got
        time.sleep(every)
    return cond()


def _app() -> tuple[Flask, SocketIO]:
    app = Flask("fanout-test")
    socketio = SocketIO(app, async_mode="threading", logger=False, engineio_logger=False)

    @socketio.on("join")
    def on_join(room):
        join_room(room)
        return {"ok": True}

    return app, socketio


class Echo(BusFanout):
    """Emits every message of CHANNEL to room ``r1`` as ``echo``; ``resync`` after each reconnect."""

    name = "cc-test-echo"
    log_name = "echo"

    def __init__(self, socketio, redis_url):
        super().__init__(socketio, redis_url)
        self.threads: list[str] = []
        self.serves: list[bool] = []

    def subscribe(self, pubsub):
        pubsub.subscribe(CHANNEL)

    def serve(self, client, pubsub, reconnected):
        self.threads.append(threading.current_thread().name)
        self.serves.append(reconnected)
        if reconnected:
            self.emit("resync", {"n": len(self.serves)})
        while not self._stop.is_set():
            m = pubsub.get_message(timeout=0.2)
            if m and m.get("type") == "message":
                self.emit("echo", {"data": m["data"].decode()}, to="r1")


def _events(client, name):
    return [e["args"][0] for e in client.get_received() if e["name"] == name]


def test_bus_fanout_emits_to_rooms_and_recovers_after_a_redis_restart():
    server = EmbeddedRedis().start()
    port = server.port
    app, socketio = _app()
    fan = Echo(socketio, server.url).start()
    try:
        assert wait_until(lambda: fan.connected)
        assert fan.running and fan.threads == ["cc-test-echo"] and fan.serves == [False]
        inside, outside = socketio.test_client(app), socketio.test_client(app)
        assert inside.emit("join", "r1", callback=True)["ok"]
        assert fan.has_members("r1") and not fan.has_members("r2") and fan.occupied_rooms("r") == ["r1"]
        bus = redis.Redis.from_url(server.url)
        bus.publish(CHANNEL, "one")
        assert wait_until(lambda: inside.get_received() or None)[0]["args"][0] == {"data": "one"}
        assert _events(outside, "echo") == []  # not in the room

        server.stop()
        assert wait_until(lambda: not fan.connected)
        server = EmbeddedRedis(port=port).start()
        assert wait_until(lambda: fan.connected, 15)
        assert fan.reconnects >= 1 and fan.serves[-1] is True
        got: list = []
        assert wait_until(lambda: got.extend(_events(outside, "resync")) or got)  # to every client
        bus = redis.Redis.from_url(server.url)
        bus.publish(CHANNEL, "two")
        got = []
        assert wait_until(lambda: got.extend(_events(inside, "echo")) or got) == [{"data": "two"}]
        inside.disconnect()
        outside.disconnect()
    finally:
        fan.stop()
        server.stop()
    assert wait_until(lambda: not fan.running)


class Ticker(PeriodicFanout):
    name = "cc-test-ticker"

    def __init__(self, socketio):
        super().__init__(socketio, interval_s=0.05)
        self.ticks = 0

    def tick(self):
        self.ticks += 1
        if self.ticks == 2:
            raise RuntimeError("a hiccup")  # logged; the next tick runs
        self.emit("tick", {"n": self.ticks})
        return 1


def test_periodic_fanout_keeps_ticking_after_an_error():
    app, socketio = _app()
    client = socketio.test_client(app)
    tick = Ticker(socketio).start()
    try:
        got: list = []
        assert wait_until(lambda: got.extend(_events(client, "tick")) or len(got) >= 3)
        assert [g["n"] for g in got[:2]] == [1, 3]
        assert tick.start() is tick  # already running: no second task
    finally:
        tick.stop()
        client.disconnect()
    assert wait_until(lambda: not tick.running)
