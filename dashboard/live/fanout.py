"""The base of the live fan-outs of a web process: Redis or SQL in, Socket.IO rooms out.

Three fan-outs derive from it — :class:`dashboard.live.bridge.LiveBridge` (readings → ``station_states`` /
``kpis`` / ``station_values``), :class:`dashboard.live.ops_bridge.OpsBridge` (alarms, work orders, engineer
positions) and :class:`dashboard.live.city_live.PipeEmitter` (pipe pressures of the occupied city rooms). What they
share lives here:

* the background task, started with ``socketio.start_background_task`` (Flask-SocketIO picks the primitive of its
  ``async_mode``: a daemon thread in ``threading`` mode), stopped with :meth:`Fanout.stop`;
* emits to **this process's** clients only (``ignore_queue=True``): with a Socket.IO message queue every web
  process runs its own fan-outs, so a message must not be relayed to the others a second time;
* who is listening: :meth:`Fanout.has_members`, :meth:`Fanout.occupied_rooms` (rooms of namespace ``/`` with at
  least one member in this process);
* :class:`BusFanout` — a Redis pub/sub subscription that survives Redis restarts
  (:func:`dashboard.live.subscription.run_subscription`: reconnect with backoff, resubscribe, then the subclass
  resynchronises);
* :class:`PeriodicFanout` — a tick every ``interval_s``, errors logged and retried on the next tick.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from dashboard.live.subscription import run_subscription

log = logging.getLogger(__name__)

#: the Socket.IO namespace every live event goes to
NAMESPACE = "/"


class Fanout:
    """A background task of the web process that emits to Socket.IO rooms.

    Subclasses implement :meth:`_run` (loop until :attr:`_stop` is set) and may override :meth:`_before_start`.

    Args:
        socketio: the app's ``flask_socketio.SocketIO``.
    Attributes:
        name: the task's name (the thread's name in ``threading`` mode). log_name: prefix of its log lines.
    """

    name = "cc-fanout"
    log_name = "fan-out"

    def __init__(self, socketio) -> None:
        self.socketio = socketio
        self._stop = threading.Event()
        self._task: Any = None
        self._alive = False

    # ------------------------------------------------------------------ lifecycle
    def start(self):
        """Start the background task (no-op while it runs); returns ``self``."""
        if self.running:
            return self
        self._stop.clear()
        self._before_start()
        self._alive = True
        self._task = self.socketio.start_background_task(self._task_main)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the task to end and wait up to ``timeout`` seconds for it."""
        self._stop.set()
        if self._task is not None:
            self._task.join(timeout)

    @property
    def running(self) -> bool:
        """True while the background task runs."""
        return self._alive

    def _before_start(self) -> None:
        """Hook: runs in the caller's thread before the task starts."""

    def _task_main(self) -> None:
        current = threading.current_thread()
        if isinstance(current, threading.Thread) and current is not threading.main_thread():
            current.name = self.name
        try:
            self._run()
        finally:
            self._alive = False

    def _run(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ rooms and emits
    def _rooms(self) -> dict:
        try:
            return self.socketio.server.manager.rooms.get(NAMESPACE, {})
        except AttributeError:  # the Socket.IO server is not set up (yet)
            return {}

    def has_members(self, room: str) -> bool:
        """True when ``room`` has a member connected to this process."""
        return bool(self._rooms().get(room))

    def occupied_rooms(self, prefix: str) -> list[str]:
        """The rooms named ``<prefix>…`` with a member connected to this process."""
        return [r for r, members in list(self._rooms().items())
                if isinstance(r, str) and r.startswith(prefix) and members]

    def emit(self, event: str, payload: Any, to: str | list[str] | None = None) -> None:
        """Emit ``event`` to room(s) ``to`` (``None``: every client) of this process only (``ignore_queue``)."""
        if to is None:
            self.socketio.emit(event, payload, namespace=NAMESPACE, ignore_queue=True)
        else:
            self.socketio.emit(event, payload, to=to, namespace=NAMESPACE, ignore_queue=True)


class BusFanout(Fanout):
    """A :class:`Fanout` fed by a Redis pub/sub subscription that survives Redis restarts.

    Subclasses implement :meth:`subscribe` (``pubsub.subscribe`` / ``psubscribe``) and :meth:`serve` (read
    messages until :attr:`_stop` or until the connection breaks; ``reconnected`` is True after a lost connection:
    resynchronise, messages may have been missed).

    Args:
        socketio: the app's ``flask_socketio.SocketIO``.
        redis_url: the bus.
    Attributes:
        connected: the subscription is up. reconnects: lost connections so far.
    """

    def __init__(self, socketio, redis_url: str) -> None:
        super().__init__(socketio)
        self.redis_url = redis_url
        self.connected = False
        self.reconnects = 0

    def _run(self) -> None:
        run_subscription(self, self.log_name, self.redis_url, self._stop, subscribe=self.subscribe,
                         serve=self.serve)

    def subscribe(self, pubsub) -> None:
        raise NotImplementedError

    def serve(self, client, pubsub, reconnected: bool) -> None:
        raise NotImplementedError


class PeriodicFanout(Fanout):
    """A :class:`Fanout` that calls :meth:`tick` every ``interval_s`` seconds; an exception is logged and the next
    tick tries again (a Redis or SQL hiccup must not end the task)."""

    def __init__(self, socketio, interval_s: float) -> None:
        super().__init__(socketio)
        self.interval_s = interval_s

    def tick(self) -> int:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001 — Redis/SQL hiccup: try again next tick
                log.warning("%s: %s", self.log_name, exc)
