"""The git boundary: which commit the recipes are at and whether the tree has changes."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GitState:
    commit: str | None
    dirty: bool


def git_state(root: Path) -> GitState:
    """Return the commit of HEAD and whether the work tree differs; no repository gives None."""
    git = shutil.which("git")
    if git is None:
        return GitState(None, False)
    head = subprocess.run(
        [git, "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=False
    )
    if head.returncode != 0:
        return GitState(None, False)
    status = subprocess.run(
        [git, "status", "--porcelain", "--untracked-files=normal"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    return GitState(head.stdout.strip(), bool(status.stdout.strip()))
