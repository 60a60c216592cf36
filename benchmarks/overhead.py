"""Orchestration overhead: `bakery bake` of a sample against plain `packer build`, both real.

Both run the same rendered template against the local emulator (moto) with Debian's Packer; the
difference is what bakery adds around Packer: start-up, planning (source lookup, existing-image
search), the lineage store, output parsing, tagging and settling of the image.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import boto3

from bakery.config.catalog import load_catalog
from bakery.config.project import load_project
from bakery.local import launcher
from bakery.packer import binary as packer
from bakery.render.build_folder import render, write

REPO = Path(__file__).resolve().parent.parent
RECIPE = "al2023-base"
SSM_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
REGION = "us-east-1"


@dataclass(frozen=True)
class OverheadResult:
    """Wall seconds of each run: bakery through its CLI, and plain Packer."""

    recipe: str
    bakery: Sequence[float]  # `bakery bake RECIPE --force`, the whole command
    bakery_build: Sequence[float]  # the part bakery reports as the build (Packer and tagging)
    packer: Sequence[float]  # `packer build` of the same template

    @property
    def bakery_median(self) -> float:
        return statistics.median(self.bakery)

    @property
    def bakery_build_median(self) -> float:
        return statistics.median(self.bakery_build)

    @property
    def packer_median(self) -> float:
        return statistics.median(self.packer)

    @property
    def ratio(self) -> float:
        """Median of the per-pair ratios bakery / packer (runs alternate, so pairs are close)."""
        return statistics.median(b / p for b, p in zip(self.bakery, self.packer, strict=True))

    @property
    def overhead(self) -> float:
        """Seconds bakery adds to one build: median bakery minus median packer."""
        return self.bakery_median - self.packer_median


def copy_samples(root: Path) -> None:
    """Copy the repository's bakery.yaml and recipes/ into ROOT."""
    shutil.copy(REPO / "bakery.yaml", root / "bakery.yaml")
    shutil.copytree(REPO / "recipes", root / "recipes")


def render_local(root: Path, folder: Path) -> Path:
    """Render RECIPE for the emulator into FOLDER, as bakery would; return the template."""
    project = load_project(root)
    recipe = load_catalog(project).get(RECIPE)
    dialect = packer.resolve_dialect(project.dialect, project.packer_binary)
    rendered = render(
        recipe, project.tags, dialect, lambda path: (root / path).read_bytes(), local=True
    )
    return write(rendered, folder)


def resolve_source(endpoint_url: str) -> str:
    """Return the AMI id the emulator's public SSM parameter names."""
    ssm = boto3.client(
        "ssm",
        region_name=REGION,
        endpoint_url=endpoint_url,
        aws_access_key_id=launcher.DUMMY_KEY,
        aws_secret_access_key=launcher.DUMMY_KEY,
    )
    return str(ssm.get_parameter(Name=SSM_PARAMETER)["Parameter"]["Value"])


def packer_environment() -> dict[str, str]:
    """Return the environment of plain Packer: dummy credentials, no proxy, no version check.

    CHECKPOINT_DISABLE matches what bakery gives its Packer, so neither run waits on the network.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_SESSION_TOKEN")}
    env |= {
        "AWS_ACCESS_KEY_ID": launcher.DUMMY_KEY,
        "AWS_SECRET_ACCESS_KEY": launcher.DUMMY_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "CHECKPOINT_DISABLE": "1",
        **launcher.loopback_proxy_bypass(os.environ),
    }
    return env


def packer_variables(
    index: int, source_ami: str, endpoint_url: str, folder: Path
) -> dict[str, str]:
    """Return the build variables; the timestamp is unique so every AMI name is new."""
    return {
        "source_ami": source_ami,
        "build_id": f"BENCH{index:021d}",
        "build_timestamp": f"20000101{index:06d}",
        "build_date": "2000-01-01T00:00:00Z",
        "input_hash": "0" * 64,
        "source_ref": f"ssm_parameter:{SSM_PARAMETER}",
        "manifest_path": str(folder / "manifest.json"),
        "endpoint_url": endpoint_url,
    }


def time_packer(template: Path, variables: Mapping[str, str], env: Mapping[str, str]) -> float:
    """Run `packer build` of TEMPLATE in its folder; return its wall seconds."""
    args = ["packer", "build", *(f"-var={k}={v}" for k, v in variables.items()), template.name]
    started = time.perf_counter()
    done = subprocess.run(
        args, cwd=template.parent, env=dict(env), capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    _check(done, "packer build")
    return seconds


def time_bakery(root: Path) -> tuple[float, float]:
    """Run `bakery bake RECIPE --force` in local mode; return its wall and build seconds."""
    console = Path(sys.executable).with_name("bakery")
    command = [str(console)] if console.exists() else [sys.executable, "-m", "bakery"]
    env = {**os.environ, "BAKERY_LOCAL": "1"}
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "bake", RECIPE, "--force", "--json"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    _check(done, "bakery bake")
    (outcome,) = json.loads(done.stdout)
    return seconds, float(outcome["seconds"])


def _check(done: subprocess.CompletedProcess[str], what: str) -> None:
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise RuntimeError(f"{what} exited with {done.returncode}:\n{tail}")


def benchmark(runs: int) -> OverheadResult:
    """Start an emulator for a copy of the samples, time RUNS alternating pairs, stop it."""
    with tempfile.TemporaryDirectory(prefix="bakery-bench-") as folder:
        root = Path(folder)
        copy_samples(root)
        emulator = launcher.start(root, fresh=True)
        try:
            template = render_local(root, root / "plain" / RECIPE)
            source_ami = resolve_source(emulator.endpoint_url)
            env = packer_environment()
            bakery_runs: list[tuple[float, float]] = []
            packer_runs: list[float] = []
            for index in range(runs + 1):  # the first pair warms caches and is not counted
                timed = time_bakery(root)
                variables = packer_variables(
                    index, source_ami, emulator.endpoint_url, template.parent
                )
                plain = time_packer(template, variables, env)
                if index:
                    bakery_runs.append(timed)
                    packer_runs.append(plain)
        finally:
            launcher.stop(root)
    return OverheadResult(
        RECIPE,
        [wall for wall, _ in bakery_runs],
        [build for _, build in bakery_runs],
        packer_runs,
    )
