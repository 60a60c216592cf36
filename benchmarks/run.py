"""`python -m benchmarks.run [--quick] [--only NAME] [--out FILE]`: run, print, write JSON."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bakery
from bakery.config.project import BakeSettings
from bakery.errors import BakeryError
from benchmarks import overhead, plan, report, scheduling, uploads

SEED = 7
BENCHMARKS = ("scheduling", "overhead", "plan", "uploads")
DEFAULT_JOBS = BakeSettings().jobs


@dataclass(frozen=True)
class Parameters:
    quick: bool
    seed: int
    scale: float  # multiplies the duration ranges of scheduling.SHAPE
    repeats: int  # bakes of the tree per worker count; the median (upper) run is shown
    overhead_runs: int  # bakery/packer pairs, after one warm-up pair


def parameters(quick: bool) -> Parameters:
    if quick:
        return Parameters(quick, SEED, scale=0.3, repeats=1, overhead_runs=3)
    return Parameters(quick, SEED, scale=1.0, repeats=2, overhead_runs=5)


def machine() -> dict[str, Any]:
    """Describe where the numbers come from."""
    affinity = getattr(os, "sched_getaffinity", None)
    return {
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(affinity(0)) if affinity else os.cpu_count(),
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packer": _packer_version(),
        "bakery": bakery.__version__,
    }


def _packer_version() -> str | None:
    if shutil.which("packer") is None:
        return None
    done = subprocess.run(["packer", "version"], capture_output=True, text=True, check=False)
    return done.stdout.splitlines()[0].strip() if done.stdout else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter builds, fewer runs")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results.json"))
    parser.add_argument(
        "--only", choices=BENCHMARKS, action="append", help="run this one (repeatable; default all)"
    )
    args = parser.parse_args(argv)
    chosen = args.only or BENCHMARKS
    params = parameters(args.quick)
    results: dict[str, Any] = {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "parameters": vars(params) | {"goal_ratio": report.GOAL},
    }
    try:
        if "scheduling" in chosen:
            results["scheduling"] = run_scheduling(params)
        if "overhead" in chosen:
            results["overhead"] = run_overhead(params, results["machine"]["packer"])
        if "plan" in chosen:
            results["plan"] = run_plan(params)
        if "uploads" in chosen:
            results["uploads"] = run_uploads(params)
    except (BakeryError, RuntimeError) as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nresults written to {args.out}")
    return 0


def run_scheduling(params: Parameters) -> dict[str, Any]:
    nodes = scheduling.make_tree(params.seed, params.scale)
    width = scheduling.width(nodes)
    jobs = (width, DEFAULT_JOBS)
    startup = scheduling.fake_packer_startup()
    idle = scheduling.idle_handoff(params.repeats)
    runs = scheduling.benchmark(nodes, jobs, params.repeats)
    shown = [scheduling.median_run(runs[count]) for count in jobs]
    layers = {layer: sum(1 for n in nodes if n.layer == layer) for layer, *_ in scheduling.SHAPE}
    print(
        f"Scheduling: {len(nodes)} recipes "
        f"({', '.join(f'{count} {layer}' for layer, count in layers.items())}), width {width}, "
        f"fake packer, seed {params.seed}, scale {params.scale}, "
        f"median (upper) of {params.repeats} run(s)"
    )
    print(report.scheduling_table(shown))
    print(
        f"idle machine: parent end to child start {report.seconds(idle)} "
        f"(3-recipe chain, jobs=1); fake packer start-up alone {report.seconds(startup)}"
    )
    return {
        "recipes": len(nodes),
        "width": width,
        "fake_packer_startup": round(startup, 4),
        "idle_handoff": round(idle, 4),
        "durations": {node.name: node.duration for node in nodes},
        "median": {str(run.jobs): report.scheduling_run_json(run) for run in shown},
        "runs": report.scheduling_json(runs),
    }


def run_overhead(params: Parameters, packer_version: str | None) -> dict[str, Any]:
    print()
    if packer_version is None:
        print("Orchestration overhead: skipped, packer is not on PATH (`make packer`)")
        return {"skipped": "packer is not on PATH"}
    result = overhead.benchmark(params.overhead_runs)
    print(
        f"Orchestration overhead: {result.recipe} against the local emulator, "
        f"{packer_version}, {params.overhead_runs} runs after one warm-up"
    )
    print(report.overhead_table(result))
    return report.overhead_json(result)


def run_plan(params: Parameters) -> dict[str, Any]:
    print()
    shape = plan.QUICK if params.quick else plan.FULL
    result = plan.benchmark(shape)
    print(
        f"Plan: {shape.recipes} recipes ({shape.bases} bases over {len(plan.REGIONS)} regions), "
        f"{result.images} images, {result.records} builds in the store, moto in-process"
    )
    print(report.plan_table(result))
    print("AWS calls per region, against the fewest the answers need (SSM batches of 10, pages)")
    print(report.plan_calls_table(result))
    return report.plan_json(result)


def run_uploads(params: Parameters) -> dict[str, Any]:
    print()
    result = uploads.benchmark(1 if params.quick else 3)
    validate = (
        "no packer on PATH"
        if result.validate_seconds is None
        else (report.seconds(result.validate_seconds))
    )
    print(
        f"Folder upload: {result.files} files ({result.bytes // 1024} KiB) in one file step, "
        f"median of {1 if params.quick else 3}"
    )
    print(f"  provisioners in the template   {result.provisioners}")
    print(f"  load_catalog (hash, scan)      {report.seconds(result.load_seconds)}")
    print(f"  render (pack the archive)      {report.seconds(result.render_seconds)}")
    print(f"  packer validate                {validate}")
    return {
        "files": result.files,
        "bytes": result.bytes,
        "provisioners": result.provisioners,
        "load_seconds": round(result.load_seconds, 3),
        "render_seconds": round(result.render_seconds, 3),
        "validate_seconds": None
        if result.validate_seconds is None
        else round(result.validate_seconds, 3),
    }


if __name__ == "__main__":
    raise SystemExit(main())
