"""The process supervisor of ``python -m dashboard run`` (``make run``): start children, watch all of them at once,
restart a dead one with per-child exponential backoff, stop them all cleanly.

One loop, no blocking wait on any single child: every ``poll_s`` (0.2 s) :meth:`Supervisor.poll_once` looks at
every child (``Popen.poll``), schedules the restart of each one that died (``backoff_initial_s`` × 2^k, capped at
``backoff_max_s``; ``k`` counts the child's consecutive quick deaths), starts the children whose restart time has
come, and resets a child's backoff once it has stayed up ``healthy_s`` seconds (``CC_SUPERVISOR_HEALTHY_S``,
default 60). While one child waits for its restart the others are still watched and restarted.

Each restart is logged with the child's name, its exit code (or the signal that killed it) and the next delay.
A one-shot child (the demo ``history`` writer) is not restarted once it exits 0. The supervisor's state is written
to a JSON status file (``<data dir>/supervisor.json`` under ``run``) on every change, for operators and for the
drills of ``tests/test_drills.py``::

    {"pid": 123, "updated_ms": 1764680000000,
     "children": {"poll": {"pid": 456, "running": true, "starts": 2, "restarts": 1, "failures": 1,
                           "last_exit": -9, "next_start_in_s": null, "up_s": 12.3}, …}}

Stopping (:meth:`Supervisor.stop`): SIGTERM to every running child at once, SIGKILL to those still alive after
``grace_s`` (``CC_SUPERVISOR_GRACE_S``, default 10 s); children marked ``stop_last`` (the private Redis) are stopped
after the others, so those can flush to it. Children also get ``PR_SET_PDEATHSIG`` = SIGTERM (Linux): a supervisor
killed with SIGKILL leaves no orphans behind. (The death signal follows the *thread* that started the child: call
:meth:`Supervisor.add` and :meth:`Supervisor.run` from one long-lived thread, as ``run`` does from its main thread.)
"""
from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from datasources.settings import get_settings

log = logging.getLogger("dashboard.cli.supervisor")

#: defaults, seconds (environment overrides in :func:`timings_from_env`)
HEALTHY_S = 60.0
BACKOFF_INITIAL_S = 1.0
BACKOFF_MAX_S = 30.0
GRACE_S = 10.0
POLL_S = 0.2


@dataclass
class ChildSpec:
    """What to run.

    Attributes:
        name: unique name in logs and the status file (``poll``, ``redis``, …).
        argv: command line (``argv[0]`` an executable path or name on ``PATH``).
        oneshot: not restarted after exit code 0 (restarted with backoff after a failure).
        stop_last: stopped after every other child (the bus they flush to on SIGTERM).
        env: environment of the child (default: the supervisor's, read at each start).
        on_start: called with the new :class:`subprocess.Popen` after every start (e.g. wait for readiness).
        backoff_initial_s: this child's first restart delay, s (default: the supervisor's).
    """

    name: str
    argv: list[str]
    oneshot: bool = False
    stop_last: bool = False
    env: dict[str, str] | None = None
    on_start: Callable[[subprocess.Popen], None] | None = None
    backoff_initial_s: float | None = None


@dataclass
class _Child:
    spec: ChildSpec
    proc: subprocess.Popen | None = None
    started_at: float = 0.0          # monotonic s of the last start
    starts: int = 0
    failures: int = 0                # consecutive deaths before a healthy interval (the backoff exponent)
    last_exit: int | None = None
    restart_at: float | None = None  # monotonic s of the scheduled restart, None = none scheduled
    done: bool = False               # a one-shot child that finished
    history: list = field(default_factory=list)  # (exit code, delay s) of each restart, newest last


try:  # loaded once in the parent: the child between fork and exec only makes one system call
    _PRCTL = ctypes.CDLL("libc.so.6", use_errno=True).prctl if sys.platform.startswith("linux") else None
except (OSError, AttributeError):  # pragma: no cover - not glibc
    _PRCTL = None


def _set_pdeathsig() -> None:  # runs in the child between fork and exec
    _PRCTL(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG: SIGTERM when the spawning thread's process dies


def describe_exit(code: int | None) -> str:
    """``"exit code 3"``, ``"killed by SIGKILL (-9)"`` or ``"running"`` for a ``Popen.returncode``."""
    if code is None:
        return "running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name} ({code})"
        except ValueError:
            return f"killed by signal {-code} ({code})"
    return f"exit code {code}"


class Supervisor:
    """Start, watch and restart child processes (see the module docstring).

    Args:
        healthy_s: a child up this long has its backoff reset, s.
        backoff_initial_s, backoff_max_s: first restart delay and its cap, s; the delay doubles per consecutive
            quick death.
        grace_s: time between SIGTERM and SIGKILL at :meth:`stop`, s.
        poll_s: period of the watch loop, s (the longest a death goes unnoticed).
        status_file: JSON status file rewritten on every change (``None``: none).
    Raises:
        ValueError: a non-positive timing.
    """

    def __init__(self, *, healthy_s: float = HEALTHY_S, backoff_initial_s: float = BACKOFF_INITIAL_S,
                 backoff_max_s: float = BACKOFF_MAX_S, grace_s: float = GRACE_S, poll_s: float = POLL_S,
                 status_file: str | Path | None = None) -> None:
        for name, val in (("healthy_s", healthy_s), ("backoff_initial_s", backoff_initial_s),
                          ("backoff_max_s", backoff_max_s), ("poll_s", poll_s)):
            if not val > 0:
                raise ValueError(f"{name} must be > 0, got {val!r}")
        if grace_s < 0:
            raise ValueError(f"grace_s must be >= 0, got {grace_s!r}")
        self.healthy_s = healthy_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.grace_s = grace_s
        self.poll_s = poll_s
        self.status_file = Path(status_file) if status_file else None
        self._children: dict[str, _Child] = {}
        self._lock = threading.RLock()

    # ------------------------------------------------------------------------------------------ children
    def add(self, spec: ChildSpec) -> subprocess.Popen:
        """Register ``spec`` and start it now.

        Returns:
            the started process.
        Raises:
            ValueError: a child of that name exists.
            OSError: the executable cannot be started (nothing is registered then).
        """
        with self._lock:
            if spec.name in self._children:
                raise ValueError(f"a child named {spec.name!r} is already supervised")
            child = _Child(spec)
            self._spawn(child)
            self._children[spec.name] = child
            self._write_status()
            return child.proc

    def _spawn(self, child: _Child) -> None:
        spec = child.spec
        preexec = _set_pdeathsig if _PRCTL is not None else None
        child.proc = subprocess.Popen(spec.argv, env=spec.env, preexec_fn=preexec)  # noqa: PLW1509
        child.started_at = time.monotonic()
        child.starts += 1
        child.restart_at = None
        log.info("supervisor: started %s (pid %d)%s", spec.name, child.proc.pid,
                 f", start #{child.starts}" if child.starts > 1 else "")
        if spec.on_start is not None:
            spec.on_start(child.proc)

    def discard(self, name: str) -> int | None:
        """Stop child ``name`` (SIGTERM, SIGKILL after ``grace_s``) and forget it; no-op for an unknown name.

        Returns:
            its exit code, or ``None`` when it was not running.
        """
        with self._lock:
            child = self._children.pop(name, None)
            code = None
            if child is not None and child.proc is not None:
                code = self._terminate([child]).get(name)
            self._write_status()
            return code

    def pid(self, name: str) -> int | None:
        """PID of child ``name`` while it runs, else ``None``.

        Raises:
            KeyError: no such child.
        """
        with self._lock:
            proc = self._children[name].proc
            return proc.pid if proc is not None and proc.poll() is None else None

    def names(self) -> list[str]:
        """Names of the supervised children, in start order."""
        with self._lock:
            return list(self._children)

    def delay_for(self, failures: int, spec: ChildSpec | None = None) -> float:
        """Restart delay after the ``failures``-th consecutive quick death (1-based) of child ``spec``, s."""
        first = self.backoff_initial_s if spec is None or spec.backoff_initial_s is None else spec.backoff_initial_s
        return min(max(self.backoff_max_s, first), first * 2 ** max(0, failures - 1))

    # ---------------------------------------------------------------------------------------------- loop
    def poll_once(self) -> None:
        """One round over every child: note deaths (and schedule their restarts), start children whose restart is
        due, reset the backoff of children up for ``healthy_s``. Never blocks on a child (except the optional
        ``on_start`` hook of a restarted one)."""
        changed = False
        with self._lock:
            now = time.monotonic()
            for child in self._children.values():
                if child.done:
                    continue
                proc = child.proc
                if proc is not None:
                    code = proc.poll()
                    up = now - child.started_at
                    if code is None:
                        if child.failures and up >= self.healthy_s:
                            log.info("supervisor: %s has stayed up %.0f s: backoff reset", child.spec.name, up)
                            child.failures = 0
                            changed = True
                        continue
                    child.proc = None
                    child.last_exit = code
                    changed = True
                    if child.spec.oneshot and code == 0:
                        child.done = True
                        log.info("supervisor: %s finished (exit code 0)", child.spec.name)
                        continue
                    if up >= self.healthy_s:
                        child.failures = 0
                    child.failures += 1
                    delay = self.delay_for(child.failures, child.spec)
                    child.restart_at = now + delay
                    child.history.append((code, delay))
                    log.warning("supervisor: %s (pid %d) died after %.1f s: %s; restart #%d in %.1f s",
                                child.spec.name, proc.pid, up, describe_exit(code), child.starts, delay)
                if child.proc is None and child.restart_at is not None and now >= child.restart_at:
                    try:
                        self._spawn(child)
                    except OSError as exc:
                        child.failures += 1
                        delay = self.delay_for(child.failures, child.spec)
                        child.restart_at = time.monotonic() + delay
                        log.error("supervisor: cannot start %s: %s; next try in %.1f s", child.spec.name, exc, delay)
                    changed = True
            if changed:
                self._write_status()

    def run(self, stop: threading.Event) -> None:
        """Watch until ``stop`` is set (a signal handler sets it), then :meth:`stop` every child."""
        try:
            while not stop.is_set():
                self.poll_once()
                stop.wait(self.poll_s)
        finally:
            self.stop()

    # ---------------------------------------------------------------------------------------------- stop
    def stop(self) -> dict[str, int | None]:
        """Stop every child: SIGTERM all (``stop_last`` ones after the others have exited), SIGKILL what is still
        alive after ``grace_s``. Idempotent; no restart is scheduled afterwards.

        Returns:
            ``{name: exit code}`` of the children that were running (negative = killed by that signal).
        """
        with self._lock:
            children = list(self._children.values())
            for child in children:
                child.restart_at = None
                child.done = True
            codes: dict[str, int | None] = {}
            first = [c for c in children if not c.spec.stop_last]
            last = [c for c in children if c.spec.stop_last]
            for group in (first, last):
                codes.update(self._terminate([c for c in group if c.proc is not None]))
            self._write_status()
            return codes

    def _terminate(self, children: list[_Child]) -> dict[str, int | None]:
        for child in reversed(children):
            if child.proc.poll() is None:
                try:
                    child.proc.terminate()
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + self.grace_s
        alive = [c for c in children if c.proc.poll() is None]
        while alive and time.monotonic() < deadline:
            time.sleep(0.05)
            alive = [c for c in alive if c.proc.poll() is None]
        for child in alive:
            log.warning("supervisor: %s (pid %d) did not stop within %.0f s: killed", child.spec.name,
                        child.proc.pid, self.grace_s)
            try:
                child.proc.kill()
            except ProcessLookupError:
                pass
        codes = {}
        for child in children:
            try:
                codes[child.spec.name] = child.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                codes[child.spec.name] = None
            child.last_exit = codes[child.spec.name]
            child.proc = None
        return codes

    # -------------------------------------------------------------------------------------------- status
    def status(self) -> dict:
        """The state of every child (the status file's ``children`` object, see the module docstring)."""
        with self._lock:
            now = time.monotonic()
            out = {}
            for name, c in self._children.items():
                running = c.proc is not None and c.proc.poll() is None
                out[name] = {
                    "pid": c.proc.pid if running else None,
                    "running": running,
                    "starts": c.starts,
                    "restarts": max(0, c.starts - 1),
                    "failures": c.failures,
                    "last_exit": c.last_exit,
                    "next_start_in_s": round(max(0.0, c.restart_at - now), 2) if c.restart_at is not None else None,
                    "up_s": round(now - c.started_at, 1) if running else None,
                    "done": c.done,
                }
            return out

    def _write_status(self) -> None:
        if self.status_file is None:
            return
        body = {"pid": os.getpid(), "updated_ms": int(time.time() * 1000), "children": self.status()}
        tmp = self.status_file.with_name(self.status_file.name + ".tmp")
        try:
            tmp.write_text(json.dumps(body, indent=1))
            os.replace(tmp, self.status_file)
        except OSError as exc:  # a full or read-only disk must not stop the supervision
            log.warning("supervisor: status file %s not written: %s", self.status_file, exc)


def timings_from_env() -> dict[str, float]:
    """Supervisor keyword arguments from the environment: ``CC_SUPERVISOR_HEALTHY_S`` (60),
    ``CC_SUPERVISOR_BACKOFF_S`` (first delay, 1), ``CC_SUPERVISOR_BACKOFF_MAX_S`` (30), ``CC_SUPERVISOR_GRACE_S``
    (10), all seconds.

    Raises:
        datasources.settings.SettingsError: a variable is not a number (the message names it).
    """
    s = get_settings()
    return {"healthy_s": s.supervisor_healthy_s, "backoff_initial_s": s.supervisor_backoff_s,
            "backoff_max_s": s.supervisor_backoff_max_s, "grace_s": s.supervisor_grace_s}


def redis_child(port: int, workdir: Path, binary: str | None = None) -> ChildSpec:
    """The private Redis of ``run`` as a supervised child: ``redis-server`` on 127.0.0.1:``port`` with an
    append-only file in ``workdir`` (``appendfsync everysec``), so a restarted server comes back on the same port
    with the streams, consumer groups and pending entries it had (at most about a second of writes lost).

    Args:
        port: TCP port on 127.0.0.1 (keep it across restarts: every other child has the URL).
        workdir: folder of the append-only files (created).
        binary: ``redis-server`` path (default :func:`datasources.bus.redis_server.find_redis_server`).
    Raises:
        datasources.bus.redis_server.RedisUnavailable: no ``redis-server`` binary.
    """
    from datasources.bus.redis_server import find_redis_server  # noqa: PLC0415

    workdir.mkdir(parents=True, exist_ok=True)
    argv = [binary or find_redis_server(), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(workdir),
            "--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--daemonize", "no",
            "--loglevel", "warning", "--protected-mode", "yes", "--maxclients", "4000"]
    return ChildSpec("redis", argv, stop_last=True)


def wait_redis(url: str, proc: subprocess.Popen | None = None, timeout_s: float = 30.0) -> None:
    """Wait until the Redis at ``url`` answers PING (loading an append-only file counts as not ready).

    Raises:
        RuntimeError: ``proc`` exited, or no PONG within ``timeout_s`` s.
    """
    import redis  # noqa: PLC0415

    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=1.0)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"redis-server exited ({describe_exit(proc.returncode)}) before answering")
            try:
                if client.ping():
                    return
            except (redis.exceptions.RedisError, OSError):
                pass
            time.sleep(0.05)
    finally:
        client.close()
    raise RuntimeError(f"Redis at {url} did not answer PING within {timeout_s:.0f} s")
