"""Redis → Socket.IO for operations: alarms, work orders and engineer positions reach the rooms that show them.

A background task of each web process (:class:`dashboard.live.fanout.BusFanout`) subscribes to

=================  ==========================================================================================
channel            message (JSON, ``v: 1``, epoch ms UTC)
=================  ==========================================================================================
``cc:alarms``      :mod:`datasources.sql.alarm_store` (``type: "alarm"``, ``event``, ``alarm: {...}``)
``cc:workorders``  :mod:`datasources.sql.workorders` (``type: "workorder"``, ``event``, ``order: {...}``)
``cc:engineers``   ``{"v": 1, "type": "engineer_position", "engineer_id", "lon", "lat", "ts_ms", "order_id",
                   "station_id"}`` (WGS-84 degrees; :meth:`dashboard.web.operations.OpsService.report_position`)
``cc:roster``      :func:`datasources.sql.workorders.set_on_duty` (``type: "roster"``, ``engineer_id``, ``on_duty``,
                   ``city_adcode``, ``province_adcode``; :mod:`datasources.bus.messages`)
=================  ==========================================================================================

and emits (one emit per message; a client in several of the target rooms receives it once):

==================  =====================================================  =========================================
Socket.IO event     payload                                                rooms
==================  =====================================================  =========================================
``alarm``           the message + ``"scopes": [rooms]``, ``"station"``     ``station:<id>``, ``city:<adcode>``,
                                                                           ``province:<adcode>``, ``nation``
``workorder``       the message + ``"scopes"``, ``"station"``              the station's rooms + ``engineer:<id>``
                                                                           of the assignee
``field_pool``      ``{"event", "order_id", "state", "ts_ms"}``            ``field`` (every field page: the grab pool
                                                                           may have changed)
``engineer_pos``    the position message + ``"scopes"``                    the rooms of the order's station
``roster``          the roster message + ``"scopes"``                      ``nation``, ``province:<adcode>``,
                                                                           ``city:<adcode>`` of the engineer
``ops_resync``      ``{"ts_ms"}``                                          everyone, after a Redis reconnect (pages
                                                                           reload their alarm / order snapshots)
==================  =====================================================  =========================================

``scopes`` lets a page that just changed scope drop a message meant for its previous one. Emits go to this process's
clients only (``ignore_queue``): with a Socket.IO message queue every web process runs its own bridge.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Callable, Mapping

from dashboard.live.fanout import BusFanout
from datasources.bus.messages import ALARMS_CHANNEL, ROSTER_CHANNEL, WORKORDERS_CHANNEL, now_ms
from ops.vocab import alerting, emergency, opens_camera, order_flags

log = logging.getLogger(__name__)

ENGINEERS_CHANNEL = "cc:engineers"
FIELD_ROOM = "field"


def engineer_room(engineer_id: str) -> str:
    return f"engineer:{engineer_id}"


class OpsBridge(BusFanout):
    """Fan ``cc:alarms`` / ``cc:workorders`` / ``cc:engineers`` / ``cc:roster`` out to Socket.IO rooms (see the module docstring).

    Args:
        socketio: the app's ``flask_socketio.SocketIO``.
        redis_url: the bus.
        station_index: zero-argument callable returning ``{station_id: StationInfo}`` (``refresh`` keyword
            accepted), used to find a station's region rooms.
    """

    name = "cc-ops-bridge"
    log_name = "ops bridge"

    def __init__(self, socketio, redis_url: str, station_index: Callable[..., Mapping[str, Any]]):
        super().__init__(socketio, redis_url)
        self._index = station_index
        self.messages = 0
        self.dropped = 0

    def status(self) -> dict:
        """``{running, redis_connected, messages, dropped, reconnects}``."""
        return {"running": self.running, "redis_connected": self.connected,
                "messages": self.messages, "dropped": self.dropped, "reconnects": self.reconnects}

    # ------------------------------------------------------------------ rooms
    def _info(self, station_id: str):
        info = self._index().get(station_id)
        if info is None:
            try:
                info = self._index(refresh=True).get(station_id)
            except TypeError:
                info = None
        return info

    def station_rooms(self, station_id: str | None) -> list[str]:
        """``station:<id>`` and the station's region rooms (``nation`` only when the station is unknown)."""
        if not station_id:
            return []
        info = self._info(station_id)
        return [f"station:{station_id}", *(info.rooms if info is not None else ("nation",))]

    def station_brief(self, station_id: str | None) -> dict | None:
        """``{id, name, name_en, lon, lat, province_adcode, city_adcode}`` of a station (WGS-84), for the page."""
        info = self._info(station_id) if station_id else None
        if info is None:
            return None
        return {"id": station_id, "name": info.name, "name_en": info.name_en or info.name, "lon": info.lon,
                "lat": info.lat, "province_adcode": info.province_adcode, "city_adcode": info.city_adcode}

    # ------------------------------------------------------------------ dispatching
    def handle(self, channel: str, raw: Any) -> int:
        """Route one bus message; returns the number of emits (0 when dropped)."""
        try:
            msg = json.loads(raw)
            if not isinstance(msg, dict) or msg.get("v") != 1:
                raise ValueError("not a version-1 object")
        except (ValueError, TypeError) as exc:
            self.dropped += 1
            log.warning("ops bridge: dropped a malformed message on %s: %s", channel, exc)
            return 0
        self.messages += 1
        if channel == ALARMS_CHANNEL:
            alarm = msg.get("alarm") or {}
            if isinstance(alarm, dict) and not {"alerting", "emergency", "opens_camera"} <= alarm.keys():
                # a producer older than the flags
                msg["alarm"] = alarm = {**alarm, "alerting": alerting(alarm), "emergency": emergency(alarm),
                                        "opens_camera": opens_camera(alarm)}
            rooms = self.station_rooms(alarm.get("station_id"))
            self._emit("alarm", {**msg, "scopes": rooms, "station": self.station_brief(alarm.get("station_id"))},
                       rooms)
            return 1
        if channel == WORKORDERS_CHANNEL:
            order = msg.get("order") or {}
            if isinstance(order, dict) and "open" not in order:  # a producer older than the flags
                msg["order"] = order = {**order, **order_flags(order)}
            rooms = self.station_rooms(order.get("station_id"))
            targets = list(rooms)
            if order.get("assignee_id"):
                targets.append(engineer_room(order["assignee_id"]))
            self._emit("workorder", {**msg, "scopes": rooms, "station": self.station_brief(order.get("station_id"))},
                       targets)
            self._emit("field_pool", {"event": msg.get("event"), "order_id": order.get("id"),
                                      "state": order.get("state"), "ts_ms": msg.get("ts_ms")}, [FIELD_ROOM])
            return 2
        if channel == ENGINEERS_CHANNEL:
            rooms = self.station_rooms(msg.get("station_id"))
            if rooms:
                self._emit("engineer_pos", {**msg, "scopes": rooms}, rooms)
                return 1
            return 0
        if channel == ROSTER_CHANNEL:
            rooms = ["nation", *(f"{level}:{msg[f'{level}_adcode']}" for level in ("province", "city")
                                 if msg.get(f"{level}_adcode"))]
            self._emit("roster", {**msg, "scopes": rooms}, rooms)
            return 1
        return 0

    def _emit(self, event: str, payload: dict, rooms: list[str]) -> None:
        if rooms:
            self.emit(event, payload, to=rooms)

    # ------------------------------------------------------------------ subscription
    def subscribe(self, pubsub) -> None:
        """``SUBSCRIBE cc:alarms cc:workorders cc:engineers cc:roster``."""
        pubsub.subscribe(ALARMS_CHANNEL, WORKORDERS_CHANNEL, ENGINEERS_CHANNEL, ROSTER_CHANNEL)

    def serve(self, _client, pubsub, reconnected: bool) -> None:
        """Route messages until stopped; after a reconnect tell every page to reload (``ops_resync``)."""
        if reconnected:  # events may have been missed: pages reload their snapshots
            self.emit("ops_resync", {"ts_ms": now_ms()})
        while not self._stop.is_set():
            m = pubsub.get_message(timeout=0.5)
            if m is None or m.get("type") != "message":
                continue
            ch = m["channel"].decode() if isinstance(m["channel"], bytes) else m["channel"]
            try:
                self.handle(ch, m["data"])
            except Exception:  # noqa: BLE001 — one bad message never stops the bridge
                log.exception("ops bridge: handling a message on %s failed", ch)
