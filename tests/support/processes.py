"""Whether a process still runs, as the tests of stopping things need to know."""

from __future__ import annotations

import os
from pathlib import Path


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
