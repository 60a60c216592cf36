"""Hostile projects: what a pull request could send, and exactly what bakery answers.

Each case is a folder tests/fixtures/hostile/CLASS/CASE/ holding a project (`bakery.yaml`,
`recipes/`, ...) and `expected.txt`: the first line `exit N`, then the exact lines bakery writes
to stderr, the project folder written as `<root>`. An optional `args` file holds the command
line, one argument a line (default: `validate`); an optional `stdout.txt` the exact stdout.
Cases that git cannot hold (a file name with a newline, a FIFO, a symlink out of the project)
are made by `make.py` in the case folder: `make(root)` runs on the copy before bakery does.

Commands run in this process (tests/support/project.py: call_bakery), so an internal error
fails here with its traceback instead of exit 3. After an intended change of wording, rewrite
the expectations with BAKERY_UPDATE_FIXTURES=1.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

from tests.support.project import REPO, call_bakery

HOSTILE = REPO / "tests" / "fixtures" / "hostile"
CASES = sorted(p.parent for p in HOSTILE.glob("*/*/expected.txt"))
# One folder per class of issue "Hostile input"; each holds at least one case.
CLASSES: set[str] = {
    "injection",
    "file-system",
    "secrets",
    "whole-strings",
    "control-characters",
    "templates",
    "yaml-keys",
    "exhaustion",
    "aws-limits",
    "sharing",
    "exit-codes",
}
SKIP = {"expected.txt", "stdout.txt", "args", "make.py", "__pycache__"}


def prepare(case: Path, root: Path) -> list[str]:
    """Copy the case's project to `root`, run its make.py there; return the command line."""
    root.mkdir()
    for item in case.iterdir():
        if item.name in SKIP:
            continue
        if item.is_dir():
            shutil.copytree(item, root / item.name, symlinks=True)
        else:
            shutil.copy2(item, root / item.name, follow_symlinks=False)
    maker = case / "make.py"
    if maker.exists():
        spec = importlib.util.spec_from_file_location(f"hostile_{case.name}", maker)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.make(root)
    args = case / "args"
    return args.read_text().splitlines() if args.exists() else ["validate"]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES])
def test_hostile_project_gets_exactly_its_answer(case: Path, tmp_path: Path) -> None:
    root = tmp_path / "project"
    args = prepare(case, root)
    done = call_bakery(root, *args, check=False)
    stderr = done.stderr.replace(str(root), "<root>")
    got = f"exit {done.returncode}\n{stderr}"
    expected = case / "expected.txt"
    stdout = case / "stdout.txt"
    if os.environ.get("BAKERY_UPDATE_FIXTURES") == "1":
        expected.write_text(got)
        if stdout.exists():
            stdout.write_text(done.stdout.replace(str(root), "<root>"))
        pytest.skip(f"rewrote {expected.relative_to(REPO)}")
    assert got == expected.read_text()
    if stdout.exists():
        assert done.stdout.replace(str(root), "<root>") == stdout.read_text()
    assert done.returncode in (0, 1, 2), "a hostile input is a clear error, never an internal one"
    assert "\x1b" not in done.stdout + done.stderr, "no raw escape sequence reaches a terminal"


def test_every_class_of_the_issue_has_cases() -> None:
    classes = {case.parent.name for case in CASES}
    assert classes >= CLASSES, f"no case yet for {sorted(CLASSES - classes)}"
