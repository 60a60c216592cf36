"""Projects on disk and the bakery command line, as a user runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

BASE_RECIPE = """\
name: base
layer: base
version: 1.0.0
source:
  ssm_parameter: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64
"""

FAKE_PACKER = REPO / "tests" / "support" / "fake_packer"  # scheduling tests and benchmarks only

ProjectFactory = Callable[..., Path]


def packer_available() -> bool:
    return shutil.which("packer") is not None


def bakery_environment(**extra: str) -> dict[str, str]:
    """The environment a user's `python -m bakery` gets here: this checkout, local mode."""
    return {**os.environ, "PYTHONPATH": str(REPO), "BAKERY_LOCAL": "1", **extra}


def start_bakery(root: Path, *args: str, **extra_env: str) -> subprocess.Popen[str]:
    """Start the bakery command line in local mode, as a user does, without waiting for it."""
    return subprocess.Popen(
        [sys.executable, "-m", "bakery", *args],
        cwd=root,
        env=bakery_environment(**extra_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_bakery(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the bakery command line in local mode, the way a user does."""
    done = subprocess.run(
        [sys.executable, "-m", "bakery", *args],
        cwd=root,
        env=bakery_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def call_bakery(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the bakery command line in this process, in local mode, as `run_bakery` would.

    For the quick commands around a bake (plan, history, lineage, promote, ...): a process of
    their own costs about a second of imports each. Bakes and rebuilds, which start Packer and
    handle signals, go through `run_bakery`. A bug raises here instead of printing one line.
    """
    import contextlib
    import io

    from bakery.cli import main

    out, err = io.StringIO(), io.StringIO()
    # COLUMNS: argparse wraps usage lines to the terminal; tests compare them at 80 columns.
    saved = {key: os.environ.get(key) for key in ("BAKERY_LOCAL", "BAKERY_DEBUG", "COLUMNS")}
    os.environ.update(BAKERY_LOCAL="1", BAKERY_DEBUG="1", COLUMNS="80")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["-C", str(root), *args])
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    done = subprocess.CompletedProcess(["bakery", *args], code, out.getvalue(), err.getvalue())
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def commit_all(root: Path, message: str) -> None:
    """Make `root` a git repository with everything in it committed (provenance reads it)."""
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", message], cwd=root, check=True)
