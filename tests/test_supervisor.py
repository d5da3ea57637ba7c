"""The supervisor of ``make run`` (:mod:`dashboard.cli.supervisor`) with real child processes (small Python programs):
every child watched at once, per-child exponential backoff reset after a healthy interval, one-shot children, clean
stop (SIGTERM, then SIGKILL after the grace period, the ``stop_last`` child after the others).

No fixed sleeps: every wait is a condition with a generous deadline (:func:`wait_for`)."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from dashboard.cli.supervisor import ChildSpec, Supervisor, describe_exit, timings_from_env

PY = sys.executable
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def wait_for(cond, timeout: float = 30.0, what: str = "condition"):
    """Poll ``cond()`` every 50 ms until truthy (returned) or ``timeout`` s (AssertionError naming ``what``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        val = cond()
        if val:
            return val
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def sleeper(name: str, **kw) -> ChildSpec:
    return ChildSpec(name, [PY, "-c", "import time\nwhile True: time.sleep(1)"], **kw)


class Running:
    """A supervisor looping in a thread; :meth:`close` stops it (and every child)."""

    def __init__(self, sup: Supervisor):
        self.sup = sup
        self.stop = threading.Event()
        self.thread = threading.Thread(target=sup.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=60)
        self.sup.stop()


@pytest.fixture
def running():
    made: list[Running] = []

    def make(sup: Supervisor) -> Running:
        r = Running(sup)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def test_a_child_waiting_for_its_restart_does_not_stop_the_watch_of_the_others(running, tmp_path):
    sup = Supervisor(backoff_initial_s=0.5, healthy_s=60, status_file=tmp_path / "s.json")
    sup.add(ChildSpec("crasher", [PY, "-c", "import sys; sys.exit(3)"], backoff_initial_s=120))
    sup.add(sleeper("worker"))
    r = running(sup)
    wait_for(lambda: sup.status()["crasher"]["next_start_in_s"], what="crasher scheduled for restart in 120 s")
    old = sup.pid("worker")
    os.kill(old, signal.SIGKILL)
    new = wait_for(lambda: (p := sup.pid("worker")) and p != old and p, timeout=30,
                   what="worker restarted while the crasher waits")
    st = sup.status()
    assert st["worker"]["restarts"] == 1 and st["worker"]["last_exit"] == -signal.SIGKILL
    assert st["crasher"]["starts"] == 1 and st["crasher"]["next_start_in_s"] > 60, st["crasher"]
    assert st["crasher"]["last_exit"] == 3
    import json

    on_disk = json.loads((tmp_path / "s.json").read_text())
    assert on_disk["pid"] == os.getpid() and on_disk["children"]["worker"]["pid"] == new
    r.close()
    assert sup.pid("worker") is None


def test_backoff_doubles_per_quick_death_and_resets_after_a_healthy_interval(running, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="dashboard.cli.supervisor")
    counter = tmp_path / "starts"
    # dies at once (exit 7) for its first three starts, then stays up
    prog = ("import pathlib, sys, time\n"
            f"p = pathlib.Path({str(counter)!r})\n"
            "n = int(p.read_text()) + 1 if p.exists() else 1\n"
            "p.write_text(str(n))\n"
            "if n <= 3: sys.exit(7)\n"
            "while True: time.sleep(1)\n")
    sup = Supervisor(backoff_initial_s=0.2, backoff_max_s=10, healthy_s=2.0)
    sup.add(ChildSpec("flaky", [PY, "-c", prog]))
    running(sup)
    wait_for(lambda: sup.status()["flaky"]["starts"] == 4 and sup.pid("flaky"), timeout=60,
             what="fourth start of the flaky child")
    child = sup._children["flaky"]
    assert [d for _c, d in child.history] == [0.2, 0.4, 0.8]
    assert all(c == 7 for c, _d in child.history)
    assert sup.status()["flaky"]["failures"] == 3
    wait_for(lambda: sup.status()["flaky"]["failures"] == 0, timeout=60, what="backoff reset after 2 s up")
    os.kill(sup.pid("flaky"), signal.SIGKILL)
    wait_for(lambda: len(child.history) == 4, timeout=30, what="the kill noticed")
    assert child.history[-1] == (-signal.SIGKILL, 0.2), "a death after a healthy interval starts the backoff over"
    wait_for(lambda: sup.pid("flaky"), timeout=30, what="restart after the reset")
    text = caplog.text
    assert "flaky" in text and "exit code 7" in text and "restart #1 in 0.2 s" in text and "in 0.8 s" in text
    assert "killed by SIGKILL (-9)" in text and "backoff reset" in text


def test_a_one_shot_child_is_restarted_only_after_a_failure(running, tmp_path):
    marker = tmp_path / "tries"
    prog = ("import pathlib, sys\n"
            f"p = pathlib.Path({str(marker)!r})\n"
            "n = int(p.read_text()) + 1 if p.exists() else 1\n"
            "p.write_text(str(n))\n"
            "sys.exit(1 if n == 1 else 0)\n")
    sup = Supervisor(backoff_initial_s=0.2)
    sup.add(ChildSpec("history", [PY, "-c", prog], oneshot=True))
    running(sup)
    wait_for(lambda: sup.status()["history"]["done"], timeout=60, what="one-shot child finished")
    st = sup.status()["history"]
    assert st["starts"] == 2 and st["last_exit"] == 0 and marker.read_text() == "2"
    assert st["next_start_in_s"] is None and not st["running"]


def test_stop_terminates_all_then_kills_the_stubborn_and_stops_the_bus_last(tmp_path):
    first_done = tmp_path / "first-done"
    verdict = tmp_path / "verdict"
    polite = ("import pathlib, signal, sys, time\n"
              "def bye(*_):\n"
              f"    pathlib.Path({str(first_done)!r}).write_text('x'); sys.exit(0)\n"
              "signal.signal(signal.SIGTERM, bye)\n"
              "while True: time.sleep(1)\n")
    bus = ("import pathlib, signal, sys, time\n"
           "def bye(*_):\n"
           f"    ok = pathlib.Path({str(first_done)!r}).exists()\n"
           f"    pathlib.Path({str(verdict)!r}).write_text('after' if ok else 'before'); sys.exit(0)\n"
           "signal.signal(signal.SIGTERM, bye)\n"
           "while True: time.sleep(1)\n")
    stubborn = ("import signal, time\n"
                "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                "while True: time.sleep(1)\n")
    sup = Supervisor(grace_s=1.0)
    try:
        sup.add(ChildSpec("bus", [PY, "-c", bus], stop_last=True))
        sup.add(ChildSpec("polite", [PY, "-c", polite]))
        sup.add(ChildSpec("stubborn", [PY, "-c", stubborn]))
        sup.add(sleeper("plain"))
        # the stop is meaningful once the children's SIGTERM handlers are in place
        wait_for(lambda: all(_sigterm_handled(sup.pid(n)) for n in ("bus", "polite", "stubborn")),
                 what="SIGTERM handlers installed")
    finally:
        codes = sup.stop()
    assert codes["polite"] == 0 and codes["plain"] == -signal.SIGTERM
    assert codes["stubborn"] == -signal.SIGKILL, "ignored SIGTERM: killed after the grace period"
    assert codes["bus"] == 0 and verdict.read_text() == "after", "the stop_last child stops after the others"
    assert all(sup.pid(n) is None for n in sup.names())
    sup.poll_once()  # nothing is restarted after a stop
    assert all(sup.pid(n) is None for n in sup.names())


def _sigterm_handled(pid: int | None) -> bool:
    """True once process ``pid`` catches or ignores SIGTERM (``SigCgt`` / ``SigIgn`` of ``/proc/<pid>/status``)."""
    if pid is None:
        return False
    try:
        with open(f"/proc/{pid}/status") as fh:
            fields = dict(line.split(":", 1) for line in fh if ":" in line)
    except OSError:
        return False
    bit = 1 << (signal.SIGTERM - 1)
    return bool((int(fields["SigCgt"], 16) | int(fields["SigIgn"], 16)) & bit)


def test_timings_and_exit_descriptions(monkeypatch):
    monkeypatch.setenv("CC_SUPERVISOR_HEALTHY_S", "5")
    monkeypatch.setenv("CC_SUPERVISOR_GRACE_S", "")
    t = timings_from_env()
    assert t["healthy_s"] == 5.0 and t["grace_s"] == 10.0 and t["backoff_max_s"] == 30.0
    monkeypatch.setenv("CC_SUPERVISOR_HEALTHY_S", "soon")
    with pytest.raises(ValueError, match="CC_SUPERVISOR_HEALTHY_S"):
        timings_from_env()
    with pytest.raises(ValueError, match="healthy_s"):
        Supervisor(healthy_s=0)
    assert describe_exit(3) == "exit code 3" and describe_exit(-9) == "killed by SIGKILL (-9)"
    sup = Supervisor(backoff_initial_s=1, backoff_max_s=30)
    assert [sup.delay_for(k) for k in (1, 2, 3, 5, 6, 9)] == [1, 2, 4, 16, 30, 30]


def test_a_supervisor_killed_with_sigkill_leaves_no_orphans(tmp_path):
    status = tmp_path / "status.json"
    prog = ("import threading\n"
            "from dashboard.cli.supervisor import ChildSpec, Supervisor\n"
            f"sup = Supervisor(status_file={str(status)!r})\n"
            f"sup.add(ChildSpec('worker', [{PY!r}, '-c', 'import time\\nwhile True: time.sleep(1)']))\n"
            "sup.run(threading.Event())\n")
    proc = subprocess.Popen([PY, "-c", prog], cwd=ROOT, start_new_session=True)
    try:
        import json

        child = wait_for(lambda: status.exists() and json.loads(status.read_text())["children"]["worker"]["pid"],
                         timeout=60, what="supervised worker started")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        wait_for(lambda: not _alive(child), timeout=30, what="the orphaned worker gone (PR_SET_PDEATHSIG)")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
