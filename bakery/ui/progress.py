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

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.clock = clock
        self._lock = threading.Lock()
        self._started: dict[str, float] = {}
        self._steps: dict[str, str] = {}
        self._shown: dict[str, float] = {}

    def started(self, name: str, detail: str) -> None:
        with self._lock:
            self._started[name] = self.clock()
            self._steps[name] = "starting"
            self._emit(name, f"started {detail}")

    def step(self, name: str, text: str) -> None:
        text = " ".join(text.split())[:120]
        with self._lock:
            if not text or self._steps.get(name) == text:
                return
            self._steps[name] = text
            now = self.clock()
            if now - self._shown.get(name, -self.step_interval) >= self.step_interval:
                self._shown[name] = now
                self._emit(name, text)

    def finished(self, name: str, result: str) -> None:
        with self._lock:
            elapsed = self.clock() - self._started.pop(name, self.clock())
            self._steps.pop(name, None)
            self._shown.pop(name, None)
            self._emit(name, f"{result} after {format_duration(elapsed)}")

    def note(self, text: str) -> None:
        with self._lock:
            self._write(f"{_now()} {text}")

    def close(self) -> None:
        return None

    def _emit(self, name: str, text: str) -> None:
        self._write(f"{_now()} {name}: {text}")

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()


class LiveProgress(Progress):
    """One live line per running build with its step and elapsed time, redrawn in place."""

    step_interval = 0.0

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(stream, clock)
        self._drawn = 0
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, daemon=True, name="progress")
        self._ticker.start()

    def _emit(self, name: str, text: str) -> None:
        if text.startswith(("started", "succeeded", "failed", "cancelled", "skipped")):
            self._clear()
            self.stream.write(f"{_now()} {name}: {text}\n")
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
        while not self._stop.wait(0.5):
            with self._lock:
                self._clear()
                self._draw()

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
