"""The guard of one Packer process tree: `python -m bakery.packer.guard --log F --grace S -- ARGS`.

bakery never starts Packer itself: it starts a guard (in a session of its own, so a signal to
bakery's process group does not reach it) and the guard starts Packer (in another session, so
Packer's own children are one process group the guard can always signal). The guard

- copies each line of Packer's output to the build log, flushed line by line (a running build
  can be followed; a killed one keeps everything up to the kill), and to its stdout, to bakery;
- on `stop` from bakery (its stdin), signals Packer's group SIGINT, so Packer removes its
  instance, key pair and security group; SIGTERM follows after the grace period, SIGKILL after
  another; on `kill`, SIGKILL at once;
- when bakery is gone, however it ended (its stdin reaches end of file, or its stdout breaks),
  stops Packer the same way: Packer's tree never outlives the bake that started it, and still
  cleans up what it made;
- when Packer exits, ends whatever it left in its group, then exits with Packer's status, or
  128+N when signal N ended it.

Only the standard library: it starts in milliseconds. A parent-death signal (Linux's
PR_SET_PDEATHSIG) was the other choice; it reaches only the direct child, fires when the thread
that started it ends (bakery starts builds from worker threads), and cannot let Packer clean up
after a SIGKILL of bakery, because Packer's output pipe dies with bakery.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import BinaryIO

STOP, KILL = "stop", "kill"
SETTLE = 10.0  # seconds the rest of Packer's tree has to end after Packer itself
LOG_FAILED = "bakery-guard,log-failed,"  # the line that tells bakery the log cannot be written


def group_runs(group: int) -> bool:
    """Tell whether a process of GROUP still runs; a zombie does not (orphans may stay ones)."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return True  # no /proc (macOS): trust kill(2), which counts zombies too
    for stat in proc.glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # it ended meanwhile
        # state and process group follow the command name, which may hold spaces or ")"
        state, _, pgrp = text[text.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == group and state != "Z":
            return True
    return False


class Guard:
    """One Packer tree, the orders given to it, and the escalation of its signals."""

    def __init__(self, process: subprocess.Popen[bytes], grace: float) -> None:
        self.process = process
        self.grace = grace
        self.stopping = threading.Event()
        self.killing = threading.Event()
        self._lock = threading.Lock()
        self._escalation: threading.Thread | None = None

    def order(self, what: str) -> None:
        """Take an order: `stop` (clean up, then escalate) or `kill` (at once)."""
        if what == KILL:
            self.killing.set()
            self.stopping.set()
            self._signal(signal.SIGKILL)
        elif what == STOP and not self.stopping.is_set():
            self.stopping.set()
            self._escalation = threading.Thread(target=self._escalate, daemon=True)
            self._escalation.start()

    def _escalate(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if self.killing.is_set():
                return
            self._signal(sig)
            if self.killing.wait(0) or self._ended_within(self.grace):
                return

    def _ended_within(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while self.process.poll() is None or group_runs(self.process.pid):
            if self.killing.is_set() or time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def _signal(self, sig: int) -> None:
        with self._lock, contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    def end_leftovers(self) -> None:
        """Packer has exited: end what it left running in its group (it holds no instance).

        While a stop is escalating, that goes on to its end. Otherwise the rest of the tree
        has a moment to end by itself (plugins exit with Packer), then SIGTERM, then SIGKILL.
        """
        escalation = self._escalation
        if escalation is not None:
            escalation.join()
        if not group_runs(self.process.pid) or self._ended_within(min(self.grace, SETTLE)):
            return
        self._signal(signal.SIGTERM)
        if not self._ended_within(self.grace):
            self._signal(signal.SIGKILL)


def _read_orders(guard: Guard) -> None:
    """bakery's orders, one per line; end of file means bakery is gone.

    Read with os.read, not sys.stdin: a thread blocked inside a buffered reader would stop
    the interpreter from exiting cleanly.
    """
    pending = b""
    while chunk := os.read(0, 1024):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            guard.order(line.decode("ascii", "replace").strip())
    guard.order(STOP)  # bakery ended without saying `done`: Packer's tree goes with it


def _copy_output(process: subprocess.Popen[bytes], log: Path, guard: Guard) -> None:
    """Each line to the log and to bakery; neither a full disk nor a gone bakery stops it."""
    assert process.stdout is not None
    out = sys.stdout.buffer
    bakery_reads = True
    problem = b""
    try:
        sink: BinaryIO | None = log.open("ab")
    except OSError as error:
        sink, problem = None, f"{error}".encode()
    for line in process.stdout:
        if sink is not None:
            try:
                sink.write(line)
                sink.flush()
            except OSError as error:
                sink, problem = None, f"{error}".encode()
        if problem:
            line = LOG_FAILED.encode() + problem.replace(b"\n", b" ") + b"\n" + line
            problem = b""
        if bakery_reads:
            try:
                out.write(line)
                out.flush()
            except (BrokenPipeError, OSError, ValueError):
                bakery_reads = False  # bakery is gone: keep the log, stop the tree
                guard.order(STOP)
    if sink is not None:
        with contextlib.suppress(OSError):
            sink.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bakery-packer-guard")
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--grace", type=float, required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    stop_asked: list[int] = []
    guard: Guard | None = None

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if guard is None:
            stop_asked.append(signum)  # before Packer started: ordered once it has
        else:
            guard.order(STOP)

    # bakery orders the stop; a signal for the guard itself (it is in no terminal's
    # foreground group, so only one sent to it) stops Packer the same way, never orphaning it.
    # (Handlers, never SIG_IGN: an ignored signal would stay ignored in Packer after exec.)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        # Packer inherits the signal mask bakery's thread had; the guard itself takes signals.
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as error:
        print(f"bakery: cannot run {command[0]}: {error}", file=sys.stderr)
        return 127
    guard = Guard(process, args.grace)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
    if stop_asked:
        guard.order(STOP)
    threading.Thread(target=_read_orders, args=(guard,), daemon=True).start()
    copier = threading.Thread(target=_copy_output, args=(process, args.log, guard))
    copier.start()
    code = process.wait()
    guard.end_leftovers()
    copier.join()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
