"""A Redis pub/sub subscription that survives Redis restarts: the loop of the bus fan-outs
(:class:`dashboard.live.fanout.BusFanout`: the live bridge and the ops bridge), run in their background task.

:func:`run_subscription` connects, lets the caller subscribe and serve messages, and on a lost connection closes
everything, waits with jittered exponential backoff (0.2 s doubling to 5 s, ±20 %) and starts over, until ``stop`` is
set. No silent retries inside redis-py (``Retry(NoBackoff(), 0)``): a broken connection must surface so that the
caller resubscribes *and* resynchronises what it may have missed while it was away.
"""
from __future__ import annotations

import logging
import random
import threading
from typing import Callable, Protocol

import redis
from redis.backoff import NoBackoff
from redis.client import PubSub
from redis.retry import Retry

log = logging.getLogger(__name__)

#: first and largest wait between two connection attempts, seconds
BACKOFF_FIRST_S = 0.2
BACKOFF_MAX_S = 5.0


class SubscriptionOwner(Protocol):
    """What :func:`run_subscription` reports into: ``connected`` (bool) and ``reconnects`` (count of lost
    connections)."""

    connected: bool
    reconnects: int


def connect(redis_url: str) -> redis.Redis:
    """A client for a long-lived subscription: 2 s connect timeout, keepalive, health check every 15 s, and no
    silent retries."""
    return redis.Redis.from_url(redis_url, socket_connect_timeout=2.0, socket_keepalive=True,
                                health_check_interval=15, retry=Retry(NoBackoff(), 0))


def run_subscription(owner: SubscriptionOwner, name: str, redis_url: str, stop: threading.Event,
                     subscribe: Callable[[PubSub], None],
                     serve: Callable[[redis.Redis, PubSub, bool], None]) -> None:
    """Run until ``stop`` is set: connect, ``subscribe(pubsub)``, then ``serve(client, pubsub, reconnected)``, which
    reads messages until ``stop`` or until it raises. ``reconnected`` is ``False`` on the first connection and
    ``True`` after a lost one (the caller resynchronises: messages may have been missed).

    Connection errors (``redis.ConnectionError``, ``redis.TimeoutError``, ``OSError``) mark ``owner`` disconnected
    and count a reconnect; any other exception is logged and the subscription restarts, so the task never dies.
    ``name`` prefixes the log lines.
    """
    backoff = BACKOFF_FIRST_S
    first = True
    while not stop.is_set():
        client = pubsub = None
        try:
            client = connect(redis_url)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            subscribe(pubsub)  # subscribe first, then resync in serve(): nothing falls in between
            if not owner.connected:
                log.info("%s: subscribed on %s", name, redis_url)
            owner.connected = True
            backoff = BACKOFF_FIRST_S
            reconnected, first = not first, False
            serve(client, pubsub, reconnected)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            if owner.connected:
                log.warning("%s: Redis connection lost (%s); reconnecting", name, exc)
                owner.reconnects += 1
            owner.connected = False
        except Exception:  # noqa: BLE001 — never let the task die
            log.exception("%s: unexpected error; restarting the subscription", name)
            owner.connected = False
        finally:
            for obj in (pubsub, client):
                try:
                    if obj is not None:
                        obj.close()
                except Exception:  # noqa: BLE001 — closing a broken connection may fail; nothing to do
                    pass
        if stop.wait(backoff * (0.8 + 0.4 * random.random())):
            break
        backoff = min(backoff * 2, BACKOFF_MAX_S)
