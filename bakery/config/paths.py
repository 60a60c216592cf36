"""What a path from untrusted input may be: no control characters, inside the project, a file.

Recipes and bakery.yaml arrive by pull request, so a path they name (or a file name they bring)
is checked before bakery reads, writes or prints it.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

# C0, DEL, C1 and the Unicode line and paragraph separators: characters that end or rewrite a
# line in a template, a comment, a shell word or a terminal.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def has_control(text: str) -> bool:
    """Say whether `text` holds a control character (C0, DEL, C1, U+2028, U+2029)."""
    return _CONTROL.search(text) is not None


def shown(text: str) -> str:
    """Return `text` with every control character written as an escape, for one-line messages."""
    return _CONTROL.sub(lambda m: ascii(m.group())[1:-1], text)


def inside(path: Path, root: Path) -> bool:
    """Say whether `path`, its symbolic links resolved, lies in `root` (itself resolved).

    A loop of symbolic links leads nowhere, so not inside.
    """
    try:
        return path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):
        return False


def is_regular_file(path: Path) -> bool:
    """Say whether `path` is a regular file (symbolic links followed), without opening it."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False
