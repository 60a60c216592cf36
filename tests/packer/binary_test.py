"""`packer build` and how it is stopped: SIGINT to Packer's process group, then SIGTERM, SIGKILL.

The `packer` here is a stand-in written per test: a small Python program that records each
signal it gets (and whether it is a grandchild that got it) and exits on it or ignores it.
Signals are held while `build` starts it (a child inherits the signal mask), and the stand-in
lets them in once its handlers are set: so no signal is lost to start-up, whatever the load.
"""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from bakery.errors import PackerError
from bakery.packer.binary import BuildRun, build
from tests.support.processes import running

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc for process state")

HELD = {signal.SIGINT, signal.SIGTERM}
GRACE = 0.2  # seconds between SIGINT, SIGTERM and SIGKILL; the tests never compare times
HANG_GUARD = 120.0  # only so a broken watchdog fails the test instead of hanging the suite

STAND_IN = textwrap.dedent(
    """\
    import os, signal, sys, time

    LOG = os.environ["STANDIN_LOG"]
    HELD = {signal.SIGINT, signal.SIGTERM}


    def record(text):
        fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, (text + "\\n").encode())
        os.close(fd)


    def react(who, ignores):
        def handle(signum, frame):
            name = signal.Signals(signum).name
            record(f"{who} {name}")
            if name not in ignores:
                os._exit(128 + signum)

        for sig in HELD:
            signal.signal(sig, handle)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD)


    def ignored(variable):
        return {name for name in os.environ.get(variable, "").split(",") if name}


    signal.pthread_sigmask(signal.SIG_BLOCK, HELD)
    record(f"leader pid {os.getpid()}")
    if "STANDIN_CHILD_IGNORES" in os.environ:
        ready, told = os.pipe()
        if os.fork() == 0:  # the grandchild keeps Packer's stdout open, as a plugin does
            record(f"child pid {os.getpid()}")
            react("child", ignored("STANDIN_CHILD_IGNORES"))
            os.write(told, b"x")
            while True:
                time.sleep(60)
        os.read(ready, 1)
    print("ready", flush=True)
    react("leader", ignored("STANDIN_LEADER_IGNORES"))
    if "STANDIN_EXIT" in os.environ:
        print("done", flush=True)
        sys.exit(int(os.environ["STANDIN_EXIT"]))
    while True:
        time.sleep(60)
    """
)


@dataclass(frozen=True)
class Stopped:
    run: BuildRun
    lines: list[str]
    signals: dict[str, list[str]]  # leader | child → the signals it recorded, in order
    pids: dict[str, int]


def ends(pid: int) -> bool:
    """Whether PID ends soon; generous, so a loaded machine has time to finish a SIGKILL."""
    deadline = time.monotonic() + HANG_GUARD
    while running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@contextmanager
def signals_held() -> Iterator[None]:
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def stand_in(folder: Path) -> Path:
    path = folder / "packer"
    path.write_text(f"#!{sys.executable}\n{STAND_IN}")
    path.chmod(0o755)
    return path


def run_stand_in(
    tmp_path: Path,
    *,
    leader_ignores: str = "",
    child_ignores: str | None = None,
    exit_code: int | None = None,
    cancel_when_ready: bool = True,
    timeout: float = 3600,
) -> Stopped:
    log = tmp_path / "signals.log"
    env = {**os.environ, "STANDIN_LOG": str(log), "STANDIN_LEADER_IGNORES": leader_ignores}
    if child_ignores is not None:
        env["STANDIN_CHILD_IGNORES"] = child_ignores
    if exit_code is not None:
        env["STANDIN_EXIT"] = str(exit_code)
    template = tmp_path / "x.pkr.hcl"
    template.write_text("")
    cancel = threading.Event()
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        if line == "ready" and cancel_when_ready:
            cancel.set()  # the grandchild exists and every handler is set

    result: list[BuildRun] = []

    def work() -> None:
        with signals_held():  # per thread: the stand-in inherits this thread's mask
            result.append(
                build(
                    str(stand_in(tmp_path)),
                    template,
                    {"source_ami": "ami-1"},
                    env=env,
                    log=tmp_path / "build.log",
                    on_line=on_line,
                    cancel=cancel,
                    timeout=timeout,
                    grace=GRACE,
                )
            )

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(HANG_GUARD)
    signals: dict[str, list[str]] = {"leader": [], "child": []}
    pids: dict[str, int] = {}
    for entry in log.read_text().splitlines() if log.exists() else []:
        who, what, *rest = entry.split()
        if what == "pid":
            pids[who] = int(rest[0])
        else:
            signals[who].append(what)
    if worker.is_alive():
        for pid in pids.values():
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        pytest.fail(f"build did not return: {signals}")
    return Stopped(result[0], lines, signals, pids)


def test_cancel_sends_sigint_to_the_whole_process_group_first(tmp_path: Path) -> None:
    stopped = run_stand_in(tmp_path, child_ignores="")
    assert stopped.signals == {"leader": ["SIGINT"], "child": ["SIGINT"]}
    assert (stopped.run.cancelled, stopped.run.timed_out) == (True, False)
    assert stopped.run.returncode == 128 + signal.SIGINT
    assert ends(stopped.pids["child"])


def test_a_packer_that_ignores_sigint_gets_sigterm_after_the_grace(tmp_path: Path) -> None:
    stopped = run_stand_in(tmp_path, leader_ignores="SIGINT")
    assert stopped.signals == {"leader": ["SIGINT", "SIGTERM"], "child": []}
    assert stopped.run.returncode == 128 + signal.SIGTERM
    assert (stopped.run.cancelled, stopped.run.timed_out) == (True, False)


def test_a_packer_that_ignores_sigint_and_sigterm_is_killed(tmp_path: Path) -> None:
    stopped = run_stand_in(tmp_path, leader_ignores="SIGINT,SIGTERM")
    assert stopped.signals == {"leader": ["SIGINT", "SIGTERM"], "child": []}
    assert stopped.run.returncode == 128 + signal.SIGKILL
    assert (stopped.run.cancelled, stopped.run.timed_out) == (True, False)


def test_a_grandchild_that_ignores_both_is_killed_with_its_parent(tmp_path: Path) -> None:
    stopped = run_stand_in(
        tmp_path, leader_ignores="SIGINT,SIGTERM", child_ignores="SIGINT,SIGTERM"
    )
    assert stopped.signals == {"leader": ["SIGINT", "SIGTERM"], "child": ["SIGINT", "SIGTERM"]}
    assert stopped.run.returncode == 128 + signal.SIGKILL
    assert ends(stopped.pids["child"])  # it ignored the others: SIGKILL ended it


def test_a_grandchild_left_behind_by_a_cleanly_cancelled_packer_is_stopped_too(
    tmp_path: Path,
) -> None:
    # Packer ends on SIGINT; a process it started ignores SIGINT and holds its stdout open.
    stopped = run_stand_in(tmp_path, child_ignores="SIGINT")
    assert stopped.signals == {"leader": ["SIGINT"], "child": ["SIGINT", "SIGTERM"]}
    assert stopped.run.returncode == 128 + signal.SIGINT
    assert stopped.run.cancelled
    assert ends(stopped.pids["child"])


def test_over_the_timeout_packer_gets_sigint_and_the_run_says_timed_out(tmp_path: Path) -> None:
    stopped = run_stand_in(tmp_path, cancel_when_ready=False, timeout=0)
    assert stopped.signals == {"leader": ["SIGINT"], "child": []}
    assert (stopped.run.cancelled, stopped.run.timed_out) == (False, True)
    assert stopped.run.returncode == 128 + signal.SIGINT


def test_a_build_that_ends_by_itself_is_not_signalled(tmp_path: Path) -> None:
    stopped = run_stand_in(tmp_path, cancel_when_ready=False, exit_code=3)
    assert stopped.lines == ["ready", "done"]
    assert stopped.signals == {"leader": [], "child": []}
    assert (stopped.run.returncode, stopped.run.cancelled, stopped.run.timed_out) == (
        3,
        False,
        False,
    )


def test_a_missing_packer_is_a_packer_error(tmp_path: Path) -> None:
    with pytest.raises(PackerError, match=r"no-such-packer: not found on PATH; install it"):
        build(
            str(tmp_path / "no-such-packer"),
            tmp_path / "x.pkr.hcl",
            {},
            env={},
            log=tmp_path / "build.log",
            on_line=lambda line: None,
            cancel=threading.Event(),
            timeout=60,
            grace=GRACE,
        )


def test_the_log_holds_each_line_as_packer_writes_it(tmp_path: Path) -> None:
    seen: list[str] = []
    log = tmp_path / "build.log"

    def on_line(line: str) -> None:
        seen.append(log.read_text())  # read while the build still runs

    env = {**os.environ, "STANDIN_LOG": str(tmp_path / "signals.log"), "STANDIN_EXIT": "0"}
    template = tmp_path / "x.pkr.hcl"
    template.write_text("")
    with signals_held():
        run = build(
            str(stand_in(tmp_path)),
            template,
            {},
            env=env,
            log=log,
            on_line=on_line,
            cancel=threading.Event(),
            timeout=3600,
            grace=GRACE,
        )
    assert run.returncode == 0
    # each line is in the log before bakery reads it (the next may be there already)
    assert seen[0].startswith("ready\n") and seen[1] == "ready\ndone\n"


def test_a_second_signal_kills_at_once(tmp_path: Path) -> None:
    # Packer ignores SIGINT and SIGTERM, and the grace is an hour: only `abort` can end it.
    log = tmp_path / "signals.log"
    env = {
        **os.environ,
        "STANDIN_LOG": str(log),
        "STANDIN_LEADER_IGNORES": "SIGINT,SIGTERM",
    }
    template = tmp_path / "x.pkr.hcl"
    template.write_text("")
    cancel, abort = threading.Event(), threading.Event()

    def on_line(line: str) -> None:
        cancel.set()
        while "leader SIGINT" not in log.read_text():  # the first order arrived
            time.sleep(0.02)
        abort.set()

    result: list[BuildRun] = []

    def work() -> None:
        with signals_held():
            result.append(
                build(
                    str(stand_in(tmp_path)),
                    template,
                    {},
                    env=env,
                    log=tmp_path / "build.log",
                    on_line=on_line,
                    cancel=cancel,
                    abort=abort,
                    timeout=3600,
                    grace=3600,
                )
            )

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(HANG_GUARD)
    assert not worker.is_alive(), "abort did not end the build"
    assert result[0].returncode == 128 + signal.SIGKILL
    assert "leader SIGTERM" not in log.read_text()


BAKERY_STAND_IN = textwrap.dedent(
    """\
    import sys, threading
    from pathlib import Path
    from bakery.packer.binary import build

    folder = Path(sys.argv[1])
    build(
        str(folder / "packer"), folder / "x.pkr.hcl", {}, env=dict(__import__("os").environ),
        log=folder / "build.log", on_line=lambda line: print(line, flush=True),
        cancel=threading.Event(), timeout=3600, grace=60,
    )
    """
)


def test_packer_dies_with_a_killed_bakery_after_cleaning_up(tmp_path: Path) -> None:
    import subprocess

    stand_in(tmp_path)
    (tmp_path / "x.pkr.hcl").write_text("")
    signals = tmp_path / "signals.log"
    env = {**os.environ, "STANDIN_LOG": str(signals), "STANDIN_CHILD_IGNORES": ""}
    bakery = subprocess.Popen(
        [sys.executable, "-c", BAKERY_STAND_IN, str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    assert bakery.stdout is not None
    assert bakery.stdout.readline() == "ready\n"
    bakery.kill()  # SIGKILL: nothing of bakery runs to clean up
    bakery.wait()
    pids = {
        who: int(rest[0])
        for who, what, *rest in (line.split() for line in signals.read_text().splitlines())
        if what == "pid"
    }
    assert ends(pids["leader"]) and ends(pids["child"])
    got = [line for line in signals.read_text().splitlines() if "pid" not in line]
    assert sorted(got) == ["child SIGINT", "leader SIGINT"]  # asked to clean up, not killed
    assert (tmp_path / "build.log").read_text() == "ready\n"
