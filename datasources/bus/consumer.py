"""A consumer of a Redis stream consumer group: the delivery mechanics the recorder and the alarm engine share.

Redis semantics (https://redis.io/docs/latest/develop/data-types/streams/):

* :meth:`ConsumerGroup.ensure` — ``XGROUP CREATE <stream> <group> <start_id> MKSTREAM``; an existing group
  (``BUSYGROUP``) is left as it is.
* :meth:`ConsumerGroup.read` — this consumer's own pending entries first (``XREADGROUP … <cursor>``, page by page
  from ``0``: entries delivered to it before a crash, a restart or a failed database commit, never acknowledged),
  then new entries (``XREADGROUP … >``). :meth:`ConsumerGroup.rewind` starts the pending pass again (after an error
  the worker abandoned what it had read).
* :meth:`ConsumerGroup.ack` — ``XACK`` in chunks, after the worker committed.
* :meth:`ConsumerGroup.claim` — ``XAUTOCLAIM``: entries pending longer than ``claim_idle_ms`` at another (dead)
  consumer are taken over, page by page.
* :meth:`ConsumerGroup.beat` — ``HSET cc:heartbeats <name> <epoch ms>`` after a healthy loop; ``/api/health``
  reports a stale heartbeat; :meth:`ConsumerGroup.clear_beat` removes it on a clean stop.

Entries are redis-py's ``[(entry_id, {field: value})]`` (bytes or str, depending on ``decode_responses``). A worker
keeps one active consumer per group and names it stably across restarts (:func:`default_consumer`), so a
restarted worker finds its own pending entries.
"""
from __future__ import annotations

import socket
import time
from typing import Any, Iterable

import redis

#: hash ``{component: epoch ms of its last healthy loop}``; ``/api/health`` reports their age
HEARTBEATS_HASH = "cc:heartbeats"


def default_consumer(role: str | None = None, index: int | None = None) -> str:
    """A consumer name stable across restarts of one instance: the host name, or ``<host>-<role>-<index>``."""
    host = socket.gethostname()
    return host if role is None else f"{host}-{role}-{index if index is not None else 0}"


def is_nogroup(exc: BaseException) -> bool:
    """True for Redis's ``NOGROUP`` error: the stream or the group is gone (Redis restarted without persistence, or
    the group was destroyed)."""
    return isinstance(exc, redis.exceptions.ResponseError) and "NOGROUP" in str(exc)


def _entries(resp) -> list:
    return resp[0][1] if resp else []


class ConsumerGroup:
    """One consumer (``consumer``) of group ``group`` on stream ``stream``. Not thread-safe.

    Args:
        client: ``redis.Redis`` (sync; ``decode_responses`` either way).
        stream, group, consumer: the stream key, the group name and this consumer's name.
        start_id: id a group created by :meth:`ensure` starts at (``"0"``: every entry in the stream, ``"$"``: new
            entries only).
        count: most entries per ``XREADGROUP`` / ``XAUTOCLAIM`` page.
        claim_idle_ms: :meth:`claim` takes entries idle (delivered, not acknowledged) longer than this, ms.
        heartbeat: field of :data:`HEARTBEATS_HASH` written by :meth:`beat` (``None``: no heartbeat).
    Attributes:
        pending_cursor: where the next pass over this consumer's own pending entries continues (``"0"`` = from the
            start, ``None`` = pass done: :meth:`read` reads new entries).
    """

    def __init__(self, client: redis.Redis, stream: str, group: str, consumer: str, *, start_id: str = "0",
                 count: int = 500, claim_idle_ms: int = 60_000, heartbeat: str | None = None) -> None:
        self.redis = client
        self.stream, self.group, self.consumer = stream, group, consumer
        self.start_id, self.count, self.claim_idle_ms = start_id, int(count), int(claim_idle_ms)
        self.heartbeat = heartbeat
        self.pending_cursor: Any = "0"

    # ------------------------------------------------------------------ group
    def ensure(self, start_id: str | None = None) -> bool:
        """``XGROUP CREATE … MKSTREAM`` at ``start_id`` (default :attr:`start_id`) unless the group exists.

        Returns:
            True when this call created the group.
        Raises:
            redis.exceptions.ResponseError: any error but ``BUSYGROUP``.
        """
        try:
            self.redis.xgroup_create(self.stream, self.group, id=start_id or self.start_id, mkstream=True)
            return True
        except redis.exceptions.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
            return False

    def recreate(self, start_id: str) -> bool:
        """After ``NOGROUP``: create the group again at ``start_id`` and restart the pending pass (the new group has
        no pending entries; ids pending in the old group cannot be acknowledged any more). Returns :meth:`ensure`'s
        answer."""
        created = self.ensure(start_id)
        self.rewind()
        return created

    # ------------------------------------------------------------------ reading
    def rewind(self) -> None:
        """Read this consumer's pending entries again from the start on the next :meth:`read`."""
        self.pending_cursor = "0"

    @property
    def in_pending_pass(self) -> bool:
        """True while :meth:`read` still serves this consumer's own pending entries."""
        return self.pending_cursor is not None

    def read_pending(self, count: int | None = None) -> list:
        """The next page of this consumer's own pending entries (from :attr:`pending_cursor`); ``[]`` and the pass
        marked done when none are left. Never blocks."""
        if self.pending_cursor is None:
            return []
        entries = _entries(self.redis.xreadgroup(self.group, self.consumer, {self.stream: self.pending_cursor},
                                                 count=count or self.count))
        if entries:
            self.pending_cursor = entries[-1][0]
        else:
            self.pending_cursor = None
        return entries

    def read_new(self, block_ms: int | None = None, count: int | None = None) -> list:
        """New entries (``XREADGROUP … >``), waiting up to ``block_ms`` (``None``: do not block)."""
        return _entries(self.redis.xreadgroup(self.group, self.consumer, {self.stream: ">"},
                                              count=count or self.count, block=block_ms))

    def read(self, block_ms: int | None = None, count: int | None = None) -> list:
        """Own pending entries first (:meth:`read_pending`), then new ones (:meth:`read_new`)."""
        if self.pending_cursor is not None:
            entries = self.read_pending(count)
            if entries:
                return entries
        return self.read_new(block_ms, count)

    def claim(self, start_id: str = "0-0", count: int | None = None, *,
              ack_deleted: bool = True) -> tuple[list, str]:
        """One ``XAUTOCLAIM`` page: entries other consumers left pending longer than :attr:`claim_idle_ms` become
        this consumer's.

        Args:
            start_id: where the scan of the group's pending list continues (``"0-0"``: from the start).
            ack_deleted: acknowledge the ids the page reports as deleted from the stream (trimmed while pending),
                so they leave the pending list.
        Returns:
            ``(entries, next_start_id)``; ``next_start_id`` is ``"0-0"`` after the last page. Before Redis 7 a
            deleted entry comes back with fields ``None``.
        """
        res = self.redis.xautoclaim(self.stream, self.group, self.consumer, min_idle_time=self.claim_idle_ms,
                                    start_id=start_id, count=count or self.count)
        if not res:
            return [], "0-0"
        nxt = res[0].decode() if isinstance(res[0], bytes) else str(res[0])
        entries = res[1] if len(res) > 1 else []
        deleted = res[2] if len(res) > 2 else []
        if deleted and ack_deleted:
            self.redis.xack(self.stream, self.group, *deleted)
        return entries, nxt

    def ack(self, ids: Iterable, chunk: int = 10_000) -> int:
        """``XACK`` ``ids`` (in chunks of ``chunk``); returns how many were sent."""
        ids = list(ids)
        for i in range(0, len(ids), chunk):
            self.redis.xack(self.stream, self.group, *ids[i:i + chunk])
        return len(ids)

    # ------------------------------------------------------------------ heartbeat
    def beat(self) -> None:
        """``HSET cc:heartbeats <heartbeat> <epoch ms now>`` (no-op without a heartbeat name)."""
        if self.heartbeat:
            self.redis.hset(HEARTBEATS_HASH, self.heartbeat, int(time.time() * 1000))

    def clear_beat(self) -> None:
        """Remove the heartbeat (a clean stop is not a dead worker); Redis errors are ignored."""
        if self.heartbeat:
            try:
                self.redis.hdel(HEARTBEATS_HASH, self.heartbeat)
            except redis.exceptions.RedisError:
                pass
