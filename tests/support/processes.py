"""Whether a process still runs, and waiting for a condition, as the tests of stopping things
need to know."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

DEADLINE = 90.0  # seconds any awaited condition gets; it is polled, never slept for


def running(pid: int) -> bool:
    """Whether PID runs. A zombie does not: in some containers nothing reaps orphans."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    # the state follows the command name, which may hold spaces or ")"
    return text[text.rindex(")") + 2 :].split()[0] != "Z"


def wait_for(condition: Callable[[], object], what: str, within: float = DEADLINE) -> None:
    """Poll `condition` until it holds; fail the test with `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {within:.0f}s")
        time.sleep(0.05)
