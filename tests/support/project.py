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


def run_bakery(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the bakery command line in local mode, the way a user does."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "BAKERY_LOCAL": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "bakery", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done
