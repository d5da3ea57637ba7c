"""Reliability drills on the whole stack of ``make run`` (``python -m dashboard run``), with real processes: the
supervisor, its private Redis (append-only file), the simulator, poller, alarm engine, recorder and web process,
on SQLite and on a private PostgreSQL cluster started for the test.

Every drill breaks one thing and proves that the stack recovers **by itself** and that **nothing is lost**:

* ``kill -9`` of the poller, the recorder, the alarm engine → the supervisor restarts it (new PID in
  ``<data dir>/supervisor.json``), readings resume for every station after a gap no longer than the outage, alarms
  are still raised (a ``fire`` fault injected after the restart becomes an active alarm in SQL);
* ``kill -9`` of the private Redis → restarted on the same port, every child reconnects, ``/api/health`` is ok
  again, both consumer groups (``alarms``, ``recorder``) exist, alarms are raised again;
* SQLite locked (another connection holds ``BEGIN EXCLUSIVE`` past the recorder's 30 s busy timeout), SQLite
  read-only (the database and its WAL made immutable — chmod does not stop root), PostgreSQL stopped → health is
  degraded (HTTP 503) meanwhile, the recorder fails, retries and catches up once the database is back;
* after each drill: for every station, the samples in the minute rollups (``energy_station_minute``, from the
  stack's start) equal the readings on the ``cc:readings`` stream up to the recorder's watermark — read in one
  database snapshot — so no reading the bus carried is missing or counted twice.

The alarm engine's own Redis-restart test (stream and group lost, no persistence) is
``tests/test_alarm_engine_restart.py``; here the supervised Redis keeps them (AOF) and the drill is the stack's.
No fixed sleeps: every wait is a condition with a generous deadline (a loaded 2-core machine).
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis

from datasources.bus.messages import READINGS_STREAM
from datasources.bus.redis_server import free_port

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
START_TIMEOUT_S = 240
RECOVER_TIMEOUT_S = 120
CHILDREN = ("redis", "sim", "poll", "alarms", "record", "web")

pytestmark = pytest.mark.timeout(900)


def wait_for(cond, timeout: float = RECOVER_TIMEOUT_S, what: str = "condition", every: float = 0.2):
    """Poll ``cond()`` until truthy (returned) or fail after ``timeout`` s with ``what`` in the message."""
    deadline = time.monotonic() + timeout
    while True:
        val = cond()
        if val:
            return val
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


class Stack:
    """``python -m dashboard run`` in its own session, with a small simulated fleet, in ``workdir``."""

    def __init__(self, workdir: Path, database_url: str | None = None):
        self.workdir = workdir
        self.data = workdir / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.database_url = database_url or f"sqlite:///{self.data / 'cc.db'}"
        self.db_path = self.data / "cc.db"
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
        env.update(CC_DATA_DIR=str(self.data), PORT=str(self.port), CC_SIM_BASE_PORT=str(free_port()),
                   CC_STATIONS="6", CC_SEED="42", CC_RUN_ENTERPRISES="300", CC_RUN_SHOPS="50",
                   CC_POLL_INTERVAL_S="1", CC_RECORDER_FLUSH_S="1", CC_SNAPSHOT_SCHEDULE="0",
                   CC_SUPERVISOR_HEALTHY_S="5", CC_SUPERVISOR_BACKOFF_S="0.5", CC_SUPERVISOR_BACKOFF_MAX_S="5",
                   CC_SUPERVISOR_GRACE_S="15", CC_RECORDER_CONSUMER="drill", PYTHONUNBUFFERED="1")
        if database_url:
            env["DATABASE_URL"] = database_url
        self.env = env
        self.log_path = workdir / "stack.log"
        self.proc: subprocess.Popen | None = None
        self._redis: redis.Redis | None = None
        self.since_ms = 0

    # ------------------------------------------------------------------------------------------ lifecycle
    def start(self) -> "Stack":
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([PY, "-m", "dashboard", "run"], cwd=ROOT, env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: self._alive() and self.all_running(), START_TIMEOUT_S, "every child of `run` running")
        wait_for(lambda: self._alive() and self.health()[0] == 200, START_TIMEOUT_S, "health ok after start")
        wait_for(lambda: self._alive() and self.status()["history"]["done"], START_TIMEOUT_S,
                 "demo history written")
        # the demo history ends at the current hour: compare the live minutes from the next minute on
        self.since_ms = (int(time.time() * 1000) // 60000 + 1) * 60000
        wait_for(self._every_station_read_since_start, 180, "readings of every built station after the start")
        return self

    def _every_station_read_since_start(self) -> bool:
        """True once at least two built stations are on the stream and each has a reading after :attr:`since_ms`
        (no built station yet is not "every station read": the poller may not have connected when health is up)."""
        entries = self.stream()
        built = {sid for sid, _ts, sample in entries if sample}
        read = {sid for sid, ts, _sample in entries if ts > self.since_ms}
        return len(built) >= 2 and built <= read

    def _alive(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"`run` exited with {self.proc.returncode}:\n{self.log_tail()}")
        return True

    def close(self) -> int | None:
        """SIGTERM the supervisor, wait for its clean exit, then SIGKILL whatever is left in its session."""
        code = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
            try:
                code = self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait(timeout=30)
        if self._redis is not None:
            self._redis.close()
        self._log.close()
        return code

    def session_pids(self) -> list[int]:
        """PIDs of live processes in the supervisor's session (its children; zombies excluded)."""
        out = []
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                with open(stat) as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z" and int(fields[3]) == self.proc.pid:  # field 6 of stat: session id
                out.append(int(stat.split("/")[2]))
        return out

    # ------------------------------------------------------------------------------------------- probes
    def log_tail(self, n: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def log_since(self, offset: int) -> str:
        with open(self.log_path, "rb") as fh:
            fh.seek(offset)
            return fh.read().decode(errors="replace")

    def status(self) -> dict:
        for _ in range(50):
            try:
                return json.loads((self.data / "supervisor.json").read_text())["children"]
            except (OSError, ValueError, KeyError):
                time.sleep(0.05)
        raise AssertionError("supervisor.json unreadable")

    def all_running(self) -> bool:
        try:
            st = self.status()
        except AssertionError:
            return False
        return all(st.get(n, {}).get("running") for n in CHILDREN)

    def pid(self, name: str) -> int | None:
        return self.status()[name]["pid"]

    def health(self) -> tuple[int | None, dict]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/health", timeout=15) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            try:
                return exc.code, json.loads(exc.read())
            except ValueError:
                return exc.code, {}
        except (OSError, ValueError):
            return None, {}

    @property
    def redis(self) -> redis.Redis:
        if self._redis is None:
            url = (self.data / "redis.url").read_text().strip()
            self._redis = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=2)
        return self._redis

    def stream(self) -> list[tuple[str, int, bool]]:
        """Every reading on ``cc:readings``: ``(station_id, ts_ms, counts_as_sample)`` (the recorder's rule)."""
        out, start = [], "-"
        while True:
            page = self.redis.xrange(READINGS_STREAM, min=start, max="+", count=5000)
            for entry_id, fields in page:
                r = json.loads(fields[b"data"])
                s = r["summary"]
                sample = s.get("devices_online", 0) > 0 and s.get("state") not in ("offline", "not_built")
                out.append((r["station_id"], int(r["ts_ms"]), sample))
            if len(page) < 5000:
                return out
            start = "(" + page[-1][0].decode()

    def newest_ts(self) -> int:
        try:
            last = self.redis.xrevrange(READINGS_STREAM, count=1)
        except redis.RedisError:
            return 0
        return json.loads(last[0][1][b"data"])["ts_ms"] if last else 0

    def built_stations(self) -> list[str]:
        return sorted({sid for sid, _ts, sample in self.stream() if sample})

    # ------------------------------------------------------------------------------------------ database
    def sql_snapshot(self) -> tuple[dict[str, int], dict[str, int]]:
        """``(watermarks, samples)`` per station read in ONE snapshot: the recorder's ``last_ts_ms`` and the sum
        of ``samples`` of the minute rows from :attr:`since_ms`."""
        q_w = "SELECT station_id, last_ts_ms FROM recorder_station_state"
        q_s = ("SELECT station_id, SUM(samples) FROM energy_station_minute WHERE bucket_ts >= {} "
               "GROUP BY station_id").format(self.since_ms // 1000)
        if self.database_url.startswith("sqlite"):
            conn = sqlite3.connect(self.db_path, timeout=60, isolation_level=None)
            try:
                conn.execute("BEGIN")
                w = {s: int(t) for s, t in conn.execute(q_w)}
                n = {s: int(c) for s, c in conn.execute(q_s)}
                conn.execute("ROLLBACK")
            finally:
                conn.close()
            return w, n
        import psycopg  # noqa: PLC0415

        with psycopg.connect(self.database_url, connect_timeout=5) as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            with conn.cursor() as cur:
                cur.execute(q_w)
                w = {s: int(t) for s, t in cur.fetchall()}
                cur.execute(q_s)
                n = {s: int(c) for s, c in cur.fetchall()}
            conn.rollback()
        return w, n

    def assert_nothing_lost(self, slack: int = 0) -> None:
        """Wait until the recorder has caught up with every reading on the stream now, then check per station
        that the committed minute samples equal the stream's readings from :attr:`since_ms` to the watermark.

        Args:
            slack: readings per station the SQL may hold beyond the stream (a Redis killed with SIGKILL may lose
                its last second of writes; the recorder may have committed them already).
        """
        target = {}
        for sid, ts, sample in self.stream():
            if sample and ts >= self.since_ms:
                target[sid] = max(target.get(sid, 0), ts)
        assert target, "no readings on the stream"

        def caught_up():
            try:
                w, _ = self.sql_snapshot()
            except Exception:  # noqa: BLE001 — the database may still be coming back
                return False
            return all(w.get(sid, 0) >= ts for sid, ts in target.items())

        wait_for(caught_up, RECOVER_TIMEOUT_S, f"recorder caught up with the stream ({len(target)} stations)")
        w, samples = self.sql_snapshot()
        stream = self.stream()
        for sid in target:
            expected = sum(1 for s, ts, sample in stream if s == sid and sample and self.since_ms <= ts <= w[sid])
            got = samples.get(sid, 0)
            assert expected <= got <= expected + slack, (
                f"{sid}: {got} samples recorded in SQL, {expected} readings on the stream up to the watermark")

    # ----------------------------------------------------------------------------------------------- ops
    def fire(self, station_id: str, on: bool = True) -> None:
        argv = [PY, "-m", "dashboard", "fault", station_id, "fire"] + ([] if on else ["--off"])
        wait_for(lambda: subprocess.run(argv, cwd=ROOT, env=self.env, capture_output=True, timeout=60).returncode
                 == 0, 60, f"fault command accepted by the simulator ({station_id})", every=1.0)

    def alarm_states(self, station_id: str) -> list[str]:
        q = f"SELECT state FROM alarms WHERE station_id = '{station_id}' AND rule_id = 'fire_alarm' ORDER BY id"
        if self.database_url.startswith("sqlite"):
            conn = sqlite3.connect(self.db_path, timeout=60)
            try:
                return [s for (s,) in conn.execute(q)]
            finally:
                conn.close()
        import psycopg  # noqa: PLC0415

        with psycopg.connect(self.database_url, connect_timeout=5) as conn:
            return [s for (s,) in conn.execute(q).fetchall()]

    def assert_alarms_judged(self, station_id: str) -> None:
        """A fire fault on ``station_id`` becomes an active ``fire_alarm`` in SQL, and clears when it ends."""
        before = len(self.alarm_states(station_id))
        self.fire(station_id, True)
        try:
            wait_for(lambda: self.alarm_states(station_id)[before:] == ["active"], RECOVER_TIMEOUT_S,
                     f"fire alarm of {station_id} raised")
        finally:
            self.fire(station_id, False)
        wait_for(lambda: self.alarm_states(station_id)[before:] == ["cleared_unacknowledged"], RECOVER_TIMEOUT_S,
                 f"fire alarm of {station_id} cleared")

    def kill_child(self, name: str) -> tuple[int, float]:
        """SIGKILL child ``name``; wait for the supervisor to run a new one. Returns ``(new pid, kill time)``."""
        old = self.pid(name)
        assert old, f"{name} not running: {self.status()[name]}"
        starts = self.status()[name]["starts"]
        t_kill = time.time()
        os.kill(old, signal.SIGKILL)
        new = wait_for(lambda: self.status()[name]["starts"] > starts and self.pid(name), RECOVER_TIMEOUT_S,
                       f"{name} restarted by the supervisor")
        assert new != old
        st = self.status()[name]
        assert st["last_exit"] == -signal.SIGKILL, st
        return new, t_kill

    def wait_healthy(self) -> dict:
        return wait_for(lambda: (h := self.health())[0] == 200 and h[1], RECOVER_TIMEOUT_S,
                        f"/api/health ok again (last: {self.health()})", every=0.5)

    def wait_degraded(self) -> dict:
        return wait_for(lambda: (h := self.health())[0] == 503 and h[1].get("status") == "degraded" and h[1],
                        RECOVER_TIMEOUT_S, "/api/health degraded (503)", every=0.3)

    def wait_new_readings(self, after_ms: int, per_station: int = 3) -> None:
        """Each built station has ``per_station`` readings on the stream newer than ``after_ms``."""
        stations = self.built_stations()

        def enough():
            counts = {s: 0 for s in stations}
            for sid, ts, _ in self.stream():
                if ts > after_ms and sid in counts:
                    counts[sid] += 1
            return all(c >= per_station for c in counts.values())

        wait_for(enough, RECOVER_TIMEOUT_S, f"{per_station} new readings per station", every=0.5)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("drills"))
    try:
        yield s.start()
    finally:
        code = s.close()
        left = s.session_pids()
        assert not left, f"processes left behind by `run`: {left}"
        assert code == 0, f"`run` did not exit cleanly on SIGTERM (exit {code}):\n{s.log_tail()}"


# -------------------------------------------------------------------------------------------- SQLite stack
def test_run_supervises_every_child_including_redis(stack):
    st = stack.status()
    assert all(st[n]["running"] and st[n]["restarts"] == 0 for n in CHILDREN), st
    body = stack.health()[1]
    assert body["redis"]["ok"] and body["database"]["writable"] and body["components"]["alarms:alarms"]["ok"]
    assert len(stack.built_stations()) >= 2, "the drills need two built stations"
    stack.assert_nothing_lost()


def test_poller_killed_is_restarted_and_readings_resume_for_every_station(stack):
    _, t_kill = stack.kill_child("poll")
    t_kill_ms = int(t_kill * 1000)
    stack.wait_new_readings(t_kill_ms, per_station=3)
    t_first_back = min(ts for _s, ts, _ in stack.stream() if ts > t_kill_ms)
    outage_ms = t_first_back - t_kill_ms
    for sid in stack.built_stations():
        ts = sorted(t for s, t, _ in stack.stream() if s == sid and t >= t_kill_ms - 10_000)
        gap = max(b - a for a, b in zip(ts, ts[1:]))
        assert gap <= outage_ms + 3000, f"{sid}: a {gap} ms gap, the poller was out {outage_ms} ms"
    stack.wait_healthy()
    stack.assert_nothing_lost()


def test_recorder_killed_is_restarted_and_records_what_it_missed(stack):
    offset = stack.log_size()
    stack.kill_child("record")
    stack.wait_new_readings(int(time.time() * 1000), per_station=3)
    stack.assert_nothing_lost()
    assert "supervisor: record" in stack.log_since(offset) and "killed by SIGKILL (-9)" in stack.log_since(offset)


def test_alarm_engine_killed_is_restarted_and_still_raises_alarms(stack):
    stack.kill_child("alarms")
    stack.assert_alarms_judged(stack.built_stations()[0])
    wait_for(lambda: stack.health()[1].get("components", {}).get("alarms:alarms", {}).get("ok"),
             RECOVER_TIMEOUT_S, "alarm engine heartbeat fresh")
    stack.assert_nothing_lost()


def test_redis_killed_is_restarted_on_the_same_port_and_everyone_reconnects(stack):
    url_before = (stack.data / "redis.url").read_text()
    stack.kill_child("redis")
    assert (stack.data / "redis.url").read_text() == url_before, "same URL after the restart"
    body = stack.wait_healthy()
    assert body["redis"]["ok"], body
    wait_for(lambda: stack.health()[1].get("bridge", {}).get("redis_connected"), RECOVER_TIMEOUT_S,
             "the web process's live bridge reconnected", every=0.5)
    stack.wait_new_readings(int(time.time() * 1000), per_station=3)  # the poller writes again
    groups = wait_for(lambda: {g["name"].decode() for g in stack.redis.xinfo_groups(READINGS_STREAM)}
                      >= {"alarms", "recorder"} and stack.redis.xinfo_groups(READINGS_STREAM),
                      RECOVER_TIMEOUT_S, "consumer groups alarms and recorder on the stream")
    assert all(g["consumers"] >= 1 for g in groups), groups
    stack.assert_alarms_judged(stack.built_stations()[1])
    st = stack.status()
    assert all(st[n]["running"] for n in CHILDREN), st
    stack.assert_nothing_lost(slack=3)


def test_sqlite_locked_degrades_health_and_the_recorder_catches_up(stack):
    offset = stack.log_size()
    conn = sqlite3.connect(stack.db_path, timeout=60, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")  # held past the recorder's 30 s busy timeout
        t_lock = int(time.time() * 1000)
        body = stack.wait_degraded()
        assert body["database"]["ok"] and not body["database"]["writable"], body
        wait_for(lambda: "recorder: database error" in stack.log_since(offset), RECOVER_TIMEOUT_S,
                 "the recorder's commit failing on the lock (busy timeout 30 s)", every=0.5)
        stack.wait_new_readings(t_lock, per_station=3)
    finally:
        conn.execute("ROLLBACK")
        conn.close()
    stack.wait_healthy()
    stack.assert_nothing_lost()


def _immutable(paths: list[Path], on: bool) -> None:
    for p in paths:
        if p.exists():
            subprocess.run(["chattr", "+i" if on else "-i", str(p)], check=True, capture_output=True)


def _make_read_only_tool(tmp: Path):
    """How this machine makes a file read-only for the stack: ``chattr +i`` for root (chmod does not stop root),
    ``chmod`` otherwise; ``None`` with the reason when neither works."""
    if os.geteuid() != 0:
        return (lambda paths, on: [os.chmod(p, 0o444 if on else 0o644) for p in paths if p.exists()]), None
    probe = tmp / "probe"
    probe.write_text("x")
    try:
        _immutable([probe], True)
    except (OSError, subprocess.CalledProcessError) as exc:
        return None, f"chattr +i does not work here ({exc})"
    _immutable([probe], False)
    return _immutable, None


def test_sqlite_read_only_degrades_health_and_the_recorder_catches_up(stack):
    tool, why = _make_read_only_tool(stack.workdir)
    if tool is None:
        pytest.skip(why)
    # the database and its WAL (not the -shm index: the processes map it, an immutable map would SIGBUS them)
    files = [stack.db_path, Path(str(stack.db_path) + "-wal")]
    offset = stack.log_size()
    tool(files, True)
    try:
        t_ro = int(time.time() * 1000)
        body = stack.wait_degraded()
        assert not body["database"]["writable"], body
        wait_for(lambda: "recorder: database error" in stack.log_since(offset), RECOVER_TIMEOUT_S,
                 "the recorder's commit failing on the read-only file", every=0.5)
        stack.wait_new_readings(t_ro, per_station=3)
    finally:
        tool(files, False)
    stack.wait_healthy()
    stack.assert_nothing_lost()


# ------------------------------------------------------------------------------------ PostgreSQL stack
class PrivatePostgres:
    """A throw-away PostgreSQL cluster (Debian's ``initdb`` / ``pg_ctl``) on a free loopback port, trust auth,
    run as the ``postgres`` user when the tests run as root."""

    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not bins:
            pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/pg_ctl): PostgreSQL drill skipped")
        self.bindir = Path(bins[-1]).parent
        self.dir = Path(tempfile.mkdtemp(prefix="cc-pg-drill-"))
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.pgdata = self.dir / "pgdata"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/cc"

    def _run(self, *argv: str, timeout: float = 120) -> None:
        res = subprocess.run(self.as_user + list(argv), capture_output=True, text=True, timeout=timeout)
        if res.returncode != 0:
            raise AssertionError(f"{argv[0]} failed: {res.stdout}\n{res.stderr}")

    def init(self) -> "PrivatePostgres":
        self._run(str(self.bindir / "initdb"), "-D", str(self.pgdata), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync")
        self.start()
        import psycopg  # noqa: PLC0415

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE cc")
        return self

    def start(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.pgdata), "-l", str(self.dir / "pg.log"), "-w",
                  "-t", "90", "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
                  "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.pgdata), "-m", mode, "-w", "-t", "90", "stop")

    def destroy(self) -> None:
        if (self.pgdata / "postmaster.pid").exists():
            try:
                self.stop("immediate")
            except AssertionError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def pg_stack(tmp_path_factory):
    pg = PrivatePostgres()
    s = None
    try:
        pg.init()
        s = Stack(tmp_path_factory.mktemp("drills-pg"), database_url=pg.url)
        s.pg = pg
        yield s.start()
    finally:
        code = s.close() if s is not None else 0
        left = s.session_pids() if s is not None else []
        pg.destroy()
        assert not left, f"processes left behind by `run`: {left}"
        assert code == 0, f"`run` did not exit cleanly on SIGTERM (exit {code})"


def test_postgres_stopped_degrades_health_and_the_recorder_catches_up(pg_stack):
    stack = pg_stack
    stack.assert_nothing_lost()
    offset = stack.log_size()
    stack.pg.stop("fast")
    try:
        t_down = int(time.time() * 1000)
        body = stack.wait_degraded()
        assert not body["database"]["ok"], body
        wait_for(lambda: "recorder: database error" in stack.log_since(offset), RECOVER_TIMEOUT_S,
                 "the recorder's commit failing with PostgreSQL down", every=0.5)
        stack.wait_new_readings(t_down, per_station=3)
    finally:
        stack.pg.start()
    stack.wait_healthy()
    stack.assert_nothing_lost()
    stack.assert_alarms_judged(stack.built_stations()[0])
