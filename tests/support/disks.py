"""A small file system to fill up: a tmpfs mounted over a folder of a project (root only)."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_disk(folder: Path, size: str = "1m") -> Iterator[Path]:
    """Mount a tmpfs of `size` at `folder` for the test; skip where mounting is not allowed."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("filling a file system needs root, to mount a small tmpfs")
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Write a file in `folder` until its file system has no space left; return the file."""
    filler = folder / "filler"
    chunk = b"\0" * 4096
    try:
        with filler.open("wb", buffering=0) as out:
            while True:
                out.write(chunk)
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
    return filler
