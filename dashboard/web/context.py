"""The web process's services, created once by :func:`dashboard.web.app.create_app` and reachable as
``flask_app.extensions["cc"]``: settings, SQL engine, Redis client, station index, the live bridge and room joins.

Callbacks receive this object at registration (they never import :mod:`dashboard`).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from datasources.bus.messages import now_ms
from layers import regions as regions_layer
from layers.base import LayerContext, Scope
from layers.live import StationInfo, load_index, read_summaries, snapshot

log = logging.getLogger(__name__)

#: a view holds one "region" room (nation / province / city) and at most one station room at a time
REGION_LEVELS = ("nation", "province", "city")


def slot_of(room: str) -> str:
    """``'station'`` for ``station:<id>`` rooms, ``'region'`` for the others."""
    return "station" if room.startswith("station:") else "region"


def is_scope_room(room: str) -> bool:
    return room == "nation" or room.startswith(("province:", "city:", "station:"))


@dataclass
class AppContext:
    """Services of one web process."""

    settings: Any
    engine: Any
    redis_url: str
    redis: Any
    socketio: Any = None
    bridge: Any = None
    embedded_redis: Any = None
    stale_after_s: float = 30.0
    index_ttl_s: float = 10.0
    _index: dict[str, StationInfo] = field(default_factory=dict)
    _index_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def layer_ctx(self) -> LayerContext:
        return LayerContext(engine=self.engine, redis=self.redis, stale_after_s=self.stale_after_s)

    # ------------------------------------------------------------------ station index (SQL, cached)
    def station_index(self, refresh: bool = False) -> dict[str, StationInfo]:
        """``{station_id: StationInfo}`` from SQL, cached for ``index_ttl_s`` seconds."""
        with self._lock:
            if refresh or not self._index_at or time.monotonic() - self._index_at > self.index_ttl_s:
                self._index = load_index(self.engine)  # one query: 10,000 stations in ~0.1 s
                self._index_at = time.monotonic()
            return self._index

    def station_exists(self, station_id: str) -> bool:
        if station_id in self.station_index():
            return True
        return station_id in self.station_index(refresh=True)

    def parse_scope(self, raw: Any) -> Scope:
        """Validate a scope string; ``station:<id>`` must name a station in SQL. Raises :class:`ScopeError`."""
        return Scope.parse(raw, station_exists=self.station_exists)

    # ------------------------------------------------------------------ snapshots (first paint / resync)
    def scope_snapshot(self, scope: Scope) -> dict:
        """``{"scope", "states": {id: state}, "kpis", "ts_ms"}`` of a region scope, computed from ``cc:summary``."""
        taken = now_ms()  # before reading: a delta stamped later than this is newer than the snapshot
        index = self.station_index()
        summaries = read_summaries(self.redis, [sid for sid, i in index.items() if i.in_scope(scope)])
        snap = snapshot(index, summaries, scope, taken, self.stale_after_s)
        snap["ts_ms"] = taken
        snap["names"] = self.region_names([c["scope"] for c in (snap["kpis"] or {}).get("children", [])])
        return snap

    @staticmethod
    def region_names(rooms: list[str]) -> dict[str, list[str]]:
        """``{room: [name_zh, name_en]}`` of region rooms (adcodes while the region index is still loading)."""
        out = {}
        for room in rooms:
            code = room.partition(":")[2]
            out[room] = [regions_layer.region_name(code, "zh"), regions_layer.region_name(code, "en")]
        return out

    # ------------------------------------------------------------------ rooms
    def enter_scope(self, sid: str, raw_scope: Any, previous: str | None = None) -> Scope | None:
        """Put Socket.IO client ``sid`` into the room of ``raw_scope`` and take it out of its previous room of the
        same slot (region or station): ``previous`` when given (works across web processes through the message
        queue), plus any such room this process knows the client is in.

        Returns:
            the parsed scope, or ``None`` when ``sid`` is not (or no longer) connected to this process — a page
            that reconnects fires its join with the id of a socket that is gone; its new socket id joins again.
        Raises:
            ScopeError: the scope is invalid; nothing changes.
        """
        scope = self.parse_scope(raw_scope)
        room = scope.room
        server = self.socketio.server
        to_leave = set()
        if previous and previous != room and is_scope_room(previous) and slot_of(previous) == slot_of(room):
            to_leave.add(previous)
        try:
            local = server.rooms(sid, namespace="/")
        except (KeyError, ValueError):
            local = []
        to_leave.update(r for r in local if r != room and r != sid and is_scope_room(r)
                        and slot_of(r) == slot_of(room))
        try:
            for r in to_leave:
                server.leave_room(sid, r, namespace="/")
            server.enter_room(sid, room, namespace="/")
        except (KeyError, ValueError) as exc:  # python-socketio: "sid is not connected to requested namespace"
            log.info("socket %s is gone, not joining %s (%s)", sid, room, exc)
            return None
        return scope

    def leave_scope(self, sid: str, room: str) -> None:
        """Take ``sid`` out of ``room`` (a no-op for a room it is not in)."""
        if is_scope_room(room):
            try:
                self.socketio.server.leave_room(sid, room, namespace="/")
            except (KeyError, ValueError):  # the socket is gone: so is its membership
                pass

    def rooms_of(self, sid: str) -> list[str]:
        try:
            return [r for r in self.socketio.server.rooms(sid, namespace="/") if r != sid]
        except (KeyError, ValueError):
            return []


def index_provider(ctx: AppContext) -> Callable[[], dict[str, StationInfo]]:
    """A callable the bridge uses to (re)load the station index."""
    return lambda: ctx.station_index(refresh=True)
