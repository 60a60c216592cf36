"""Show builds as they run: live lines on a terminal, timestamped lines otherwise."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO


class Progress:
    """Timestamped lines for logs and CI: a build's start, its end, and its step now and then.

    Packer reports dozens of steps a second; a step line is written at most every
    `step_interval` seconds per build (the full output is in the build's log).
    """

    step_interval = 10.0

    def __init__(
        self,
        stream: TextIO,
        clock: Callable[[], float] = time.monotonic,
        *,
        stamp: Callable[[], str] | None = None,
    ) -> None:
        self.stream = stream
        self.clock = clock
        self.stamp = stamp or _now  # the wall-clock time of a line, HH:MM:SSZ
        self._lock = threading.Lock()
        self._started: dict[str, float] = {}
        self._steps: dict[str, str] = {}
        self._shown: dict[str, float] = {}

    def started(self, name: str, detail: str) -> None:
        with self._lock:
            self._started[name] = self.clock()
            self._steps[name] = "starting"
            self._emit(name, f"started {detail}", lasting=True)

    def step(self, name: str, text: str) -> None:
        text = " ".join(text.split())[:120]
        with self._lock:
            if not text or self._steps.get(name) == text:
                return
            self._steps[name] = text
            now = self.clock()
            if now - self._shown.get(name, -self.step_interval) >= self.step_interval:
                self._shown[name] = now
                self._emit(name, text, lasting=False)

    def finished(self, name: str, result: str) -> None:
        with self._lock:
            elapsed = self.clock() - self._started.pop(name, self.clock())
            self._steps.pop(name, None)
            self._shown.pop(name, None)
            self._emit(name, f"{result} after {format_duration(elapsed)}", lasting=True)

    def note(self, text: str) -> None:
        with self._lock:
            self._write(f"{self.stamp()} {text}")

    def close(self) -> None:
        return None

    def _emit(self, name: str, text: str, *, lasting: bool) -> None:
        """Write a build's line; `lasting` lines (start, end) stay, steps may be redrawn."""
        self._write(f"{self.stamp()} {name}: {text}")

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()


class LiveProgress(Progress):
    """One live line per running build with its step and elapsed time, redrawn in place."""

    step_interval = 0.0

    def __init__(
        self,
        stream: TextIO,
        clock: Callable[[], float] = time.monotonic,
        *,
        stamp: Callable[[], str] | None = None,
        tick: float | None = 0.5,
    ) -> None:
        """`tick`: seconds between redraws of the elapsed times (None: only on events)."""
        super().__init__(stream, clock, stamp=stamp)
        self._drawn = 0
        self._stop = threading.Event()
        self._tick_interval = tick
        if tick is not None:
            threading.Thread(target=self._tick, daemon=True, name="progress").start()

    def _emit(self, name: str, text: str, *, lasting: bool) -> None:
        # The live lines are always redrawn whole, so a step never leaves a stale copy above.
        self._clear()
        if lasting:
            self.stream.write(f"{self.stamp()} {name}: {text}\n")
        self._draw()

    def redraw(self) -> None:
        """Redraw the live lines (their elapsed times), as the ticker does."""
        with self._lock:
            self._clear()
            self._draw()

    def _write(self, line: str) -> None:
        self._clear()
        self.stream.write(line + "\n")
        self._draw()

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0

    def _draw(self) -> None:
        now = self.clock()
        lines = [
            f"  ⠿ {name:<24} {format_duration(now - started):>7}  {self._steps.get(name, '')}"
            for name, started in sorted(self._started.items())
        ]
        width = 120
        for line in lines:
            self.stream.write(line[:width] + "\n")
        self._drawn = len(lines)
        self.stream.flush()

    def _tick(self) -> None:
        assert self._tick_interval is not None
        while not self._stop.wait(self._tick_interval):
            self.redraw()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            self._clear()
            self.stream.flush()


def for_stream(stream: TextIO = sys.stderr) -> Progress:
    """Return live progress on a terminal, timestamped lines otherwise."""
    return LiveProgress(stream) if stream.isatty() else Progress(stream)


def format_duration(seconds: float) -> str:
    if seconds < 10:
        return f"{max(0.0, seconds):.1f}s"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _now() -> str:
    return datetime.now(UTC).strftime("%H:%M:%SZ")
