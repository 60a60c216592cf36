"""Fixtures of the render tests: what the real Packer reads from HCL strings bakery writes."""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from bakery.render.hcl import escape_string
from tests.support.packer_reading import PackerReads


@pytest.fixture
def packer_reads(packer_binary: str, tmp_path: Path) -> PackerReads:
    """Return a function giving the strings Packer reads back from `escape_string` of each value.

    One `packer console` run per call: each value becomes a variable's default, and Packer
    prints them all as JSON.
    """
    counter = itertools.count()

    def read(values: Sequence[str]) -> list[str]:
        if not values:
            return []
        folder = tmp_path / f"packer-reads-{next(counter)}"
        folder.mkdir()
        template = folder / "values.pkr.hcl"
        template.write_text(
            "".join(
                f'variable "v{i}" {{\n  type    = string\n  default = {escape_string(v)}\n}}\n'
                for i, v in enumerate(values)
            ),
            encoding="utf-8",
        )
        expression = "jsonencode([" + ", ".join(f"var.v{i}" for i in range(len(values))) + "])"
        done = subprocess.run(
            [packer_binary, "console", str(template)],
            input=expression + "\n",
            capture_output=True,
            text=True,
            encoding="utf-8",
            check=False,
            cwd=folder,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return list(json.loads(done.stdout.strip()))

    return read
