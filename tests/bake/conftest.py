"""Fixtures of the bake tests: a sample project of recipes/examples on the shared emulator."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bakery.local import launcher
from tests.support.project import REPO, commit_all

EXAMPLES = REPO / "recipes" / "examples"


@pytest.fixture
def example(tmp_path: Path, shared_emulator: Any) -> Iterator[Callable[[str], Path]]:
    """A copy of one sample project, in a git repository, on the session's emulator."""
    from tests.support.emulator import reset

    def make(name: str) -> Path:
        root = tmp_path / name
        shutil.copytree(EXAMPLES / name, root)
        commit_all(root, "sample")
        reset(shared_emulator)
        launcher.adopt(root, shared_emulator)
        return root

    yield make
