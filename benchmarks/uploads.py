"""Folder uploads: a tree the size of a real build's (3,467 files) through validation, rendering
and the real `packer validate`.

One upload is one archive and two provisioners however many files the tree holds; before, each
file was a provisioner of its own (3,554 for that build) and `packer validate` took 478 s. This
measures what the tree costs now: load_catalog (reading, hashing and secret-scanning every file),
render (packing the archive), and Packer's validation of the template.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bakery.config.catalog import load_catalog
from bakery.config.project import load_project
from bakery.packer import binary as packer
from bakery.render.build_folder import render, write

FILES = 3467
RECIPE = """\
name: tree
layer: base
version: 1.0.0
source: {ami: ami-12345678}
provision:
  - file: {source: tree/, destination: /etc/eks/}
    run_as: root
"""


@dataclass(frozen=True)
class UploadResult:
    files: int
    bytes: int
    provisioners: int
    load_seconds: float
    render_seconds: float
    validate_seconds: float | None  # None: no packer on PATH


def make_tree(root: Path, files: int, seed: int = 7) -> int:
    """Write `files` small files under root/recipes/tree in nested folders; return their bytes."""
    rng = random.Random(seed)
    total = 0
    for index in range(files):
        folder = root / "recipes" / "tree" / f"d{index % 40:02d}" / f"s{index % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        data = "".join(rng.choice("abcdefgh \n") for _ in range(rng.randint(100, 3000)))
        path = folder / f"file{index:04d}.sh"
        path.write_text(f"#!/bin/sh\n# {index}\n{data}\n", encoding="utf-8")
        if index % 5 == 0:
            os.chmod(path, 0o755)
        total += path.stat().st_size
    return total


def benchmark(repeats: int) -> UploadResult:
    with tempfile.TemporaryDirectory(prefix="bakery-bench-uploads-") as folder:
        root = Path(folder)
        (root / "bakery.yaml").write_text("aws: {region: us-east-1}\n", encoding="utf-8")
        (root / "recipes").mkdir()
        (root / "recipes" / "tree.yaml").write_text(RECIPE, encoding="utf-8")
        size = make_tree(root, FILES)
        loads, renders = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            catalog = load_catalog(load_project(root))
            loads.append(time.perf_counter() - started)
            recipe = catalog.recipes["tree"]
            started = time.perf_counter()
            rendered = render(recipe, {}, "1.6", lambda path: (root / path).read_bytes())
            renders.append(time.perf_counter() - started)
        template = write(rendered, root / "build" / "tree")
        text = template.read_text(encoding="utf-8")
        provisioners = text.count('provisioner "')
        validate: float | None = None
        binary = shutil.which("packer")
        if binary is not None:
            started = time.perf_counter()
            packer.validate(binary, template)
            validate = time.perf_counter() - started
        return UploadResult(
            FILES,
            size,
            provisioners,
            statistics.median(loads),
            statistics.median(renders),
            validate,
        )
