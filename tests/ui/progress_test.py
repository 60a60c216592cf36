from __future__ import annotations

import io

from bakery.ui.progress import LiveProgress, Progress, for_stream, format_duration

STAMP = "10:00:00Z"
UP_ONE, UP_TWO = "\x1b[1F\x1b[J", "\x1b[2F\x1b[J"  # cursor up N lines, erase to the end


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def stamp() -> str:
    return STAMP


def test_plain_progress_writes_start_steps_now_and_then_and_the_end() -> None:
    out, clock = io.StringIO(), Clock()
    progress = Progress(out, clock, stamp=stamp)
    progress.started("web", "01ABC from ami-1")
    progress.step("web", "Launching a source AWS instance...")
    clock.now = 1
    progress.step("web", "Adding tag")  # within the interval: kept for the live view only
    progress.started("db", "01DEF from ami-2")
    clock.now = 10
    progress.step("web", "Adding tag")  # the same step again: nothing new to say
    progress.step("db", "  Waiting \n for   SSH  ")
    clock.now = 12
    progress.step("web", "Creating AMI " + "x" * 200)
    progress.note("interrupted: asking running builds to clean up")
    progress.finished("web", "succeeded")
    clock.now = 75
    progress.finished("db", "failed: boom")
    progress.close()
    assert out.getvalue() == (
        "10:00:00Z web: started 01ABC from ami-1\n"
        "10:00:00Z web: Launching a source AWS instance...\n"
        "10:00:00Z db: started 01DEF from ami-2\n"
        "10:00:00Z db: Waiting for SSH\n"
        f"10:00:00Z web: Creating AMI {'x' * 107}\n"
        "10:00:00Z interrupted: asking running builds to clean up\n"
        "10:00:00Z web: succeeded after 12s\n"
        "10:00:00Z db: failed: boom after 1m14s\n"
    )


def test_live_progress_keeps_starts_and_ends_and_redraws_one_line_per_running_build() -> None:
    out, clock = io.StringIO(), Clock()
    progress = LiveProgress(out, clock, stamp=stamp, tick=None)
    progress.started("a", "x")
    clock.now = 1
    progress.started("b", "y")
    clock.now = 2
    progress.step("a", "building")
    clock.now = 3
    progress.redraw()  # what the ticker does every half second
    clock.now = 4
    progress.note("a note")
    clock.now = 13
    progress.finished("a", "succeeded")
    progress.close()
    assert out.getvalue() == "".join(
        [
            # a starts: its lasting line, then the live area of one build
            "10:00:00Z a: started x\n",
            "  ⠿ a                           0.0s  starting\n",
            # b starts: the live area is erased, b's line written, both builds redrawn
            UP_ONE,
            "10:00:00Z b: started y\n",
            "  ⠿ a                           1.0s  starting\n",
            "  ⠿ b                           0.0s  starting\n",
            # a step only redraws the live area, in place
            UP_TWO,
            "  ⠿ a                           2.0s  building\n",
            "  ⠿ b                           1.0s  starting\n",
            # the ticker: new elapsed times, in place
            UP_TWO,
            "  ⠿ a                           3.0s  building\n",
            "  ⠿ b                           2.0s  starting\n",
            # a note is written above the live area
            UP_TWO,
            "10:00:00Z a note\n",
            "  ⠿ a                           4.0s  building\n",
            "  ⠿ b                           3.0s  starting\n",
            # a ends: its lasting line, and only b is left live
            UP_TWO,
            "10:00:00Z a: succeeded after 13s\n",
            "  ⠿ b                            12s  starting\n",
            # close erases the live area
            UP_ONE,
        ]
    )


def test_live_line_is_cut_at_the_terminal_width() -> None:
    out = io.StringIO()
    progress = LiveProgress(out, Clock(), stamp=stamp, tick=None)
    progress.started("web", "x")
    progress.step("web", "y" * 119)
    progress.close()
    live = out.getvalue().split(UP_ONE)[1]
    assert live == "  ⠿ web                         0.0s  " + "y" * 82 + "\n"
    assert len(live) == 121


def test_a_terminal_gets_the_live_view_and_a_pipe_or_file_the_timestamped_lines() -> None:
    live = for_stream(Terminal())
    try:
        assert type(live) is LiveProgress
    finally:
        live.close()
    assert type(for_stream(io.StringIO())) is Progress


def test_format_duration() -> None:
    assert format_duration(-1) == "0.0s"
    assert format_duration(0.42) == "0.4s"
    assert format_duration(42.9) == "42s"
    assert format_duration(75) == "1m15s"
    assert format_duration(3725) == "1h02m"
