from __future__ import annotations

import io

from bakery.ui.progress import LiveProgress, Progress, format_duration


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_progress_writes_start_steps_now_and_then_and_the_end() -> None:
    out, clock = io.StringIO(), Clock()
    progress = Progress(out, clock)
    progress.started("web", "01ABC from ami-1")
    progress.step("web", "Launching a source AWS instance...")
    clock.now = 1
    progress.step("web", "Adding tag")  # within the interval: kept for the live view only
    clock.now = 12
    progress.step("web", "Creating AMI")
    progress.finished("web", "succeeded")
    lines = [line.split(" ", 1)[1] for line in out.getvalue().splitlines()]
    assert lines == [
        "web: started 01ABC from ami-1",
        "web: Launching a source AWS instance...",
        "web: Creating AMI",
        "web: succeeded after 12s",
    ]


def test_live_progress_redraws_one_line_per_running_build() -> None:
    out, clock = io.StringIO(), Clock()
    progress = LiveProgress(out, clock)
    progress.started("a", "x")
    progress.started("b", "y")
    progress.step("a", "building")
    progress.close()
    text = out.getvalue()
    assert "\x1b[" in text and "building" in text


def test_format_duration() -> None:
    assert format_duration(0.42) == "0.4s"
    assert format_duration(75) == "1m15s"
    assert format_duration(3725) == "1h02m"
