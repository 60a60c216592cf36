"""Tables for the terminal and plain dicts for results.json."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

from benchmarks.overhead import OverheadResult
from benchmarks.plan import PlanBenchResult
from benchmarks.scheduling import SchedulingResult

GOAL = 1.05


def table(rows: Sequence[Sequence[str]]) -> str:
    """Align ROWS: the first column to the left, the others to the right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def seconds(value: float) -> str:
    return f"{value:.3f} s"


def scheduling_table(results: Sequence[SchedulingResult]) -> str:
    """Return one row per measure and one column per worker count."""
    measures: list[tuple[str, Callable[[SchedulingResult], str]]] = [
        ("makespan (first start to last end)", lambda r: seconds(r.makespan)),
        ("critical path (longest chain)", lambda r: seconds(r.critical_path)),
        (f"makespan / critical path (goal <= {GOAL})", lambda r: f"{r.ratio:.3f}"),
        ("best possible with these jobs", lambda r: seconds(r.lower_bound)),
        ("makespan / best possible", lambda r: f"{r.bound_ratio:.3f}"),
        ("zero-overhead schedule, bakery's order", lambda r: seconds(r.simulated)),
        ("zero-overhead schedule, longest first", lambda r: seconds(r.simulated_longest_first)),
        ("sequential (Makefile, one at a time)", lambda r: seconds(r.sequential)),
        ("speedup over sequential", lambda r: f"{r.speedup:.2f}x"),
        ("overhead per build (over the chain)", lambda r: seconds(r.overhead_per_build)),
        ("parent end to child start, median", lambda r: seconds(r.handoff_median)),
        ("parent end to child start, max", lambda r: seconds(r.handoff_max)),
        ("peak builds at once", lambda r: str(r.peak_parallel)),
        ("execute() wall time", lambda r: seconds(r.wall)),
        ("bakery CPU per build", lambda r: seconds(r.bakery_cpu_per_build)),
        ("fake packer CPU per build", lambda r: seconds(r.packer_cpu_per_build)),
    ]
    header = ["", *(f"jobs={r.jobs}" for r in results)]
    return table([header, *([name, *(show(r) for r in results)] for name, show in measures)])


def overhead_table(result: OverheadResult) -> str:
    """Return medians and every run of bakery against plain Packer."""

    def runs(values: Sequence[float]) -> str:
        return " ".join(f"{value:.2f}" for value in values)

    return table(
        [
            ["", "median", "runs (s)"],
            ["bakery bake --force (CLI, wall)", seconds(result.bakery_median), runs(result.bakery)],
            [
                "  of which the build (Packer, tagging)",
                seconds(result.bakery_build_median),
                runs(result.bakery_build),
            ],
            ["packer build (plain)", seconds(result.packer_median), runs(result.packer)],
            ["ratio bakery / packer (median of pairs)", f"{result.ratio:.2f}", ""],
            ["overhead per bake (bakery - packer)", seconds(result.overhead), ""],
        ]
    )


def plan_table(result: PlanBenchResult) -> str:
    """Return the seconds of each step of the plan, and what it found."""
    baseline_calls, baseline_seconds = result.per_recipe
    rows = [
        ["", "seconds"],
        ["set-up (not part of the plan): images, parameters, store", seconds(result.setup_seconds)],
        ["load_catalog of the same recipes from files (one region)", seconds(result.load_seconds)],
        [
            "load_catalog of as many instances from family files (250 each)",
            seconds(result.family_load_seconds),
        ],
        *([f"plan: {name}", seconds(value)] for name, value in result.phases.items()),
        ["plan: total (without loading the catalog)", seconds(result.plan_total)],
        [
            f"instead: resolve_external per external recipe ({baseline_calls} calls)",
            seconds(baseline_seconds),
        ],
    ]
    reasons = ", ".join(f"{count} {kind}" for kind, count in result.reasons.items())
    found = f"would rebuild {result.stale} of {result.shape.recipes} in {result.waves} waves"
    return f"{table(rows)}\n{found}; reasons given: {reasons}"


def plan_calls_table(result: PlanBenchResult) -> str:
    """Return per region the calls the plan made against the calls its answers need at least."""
    rows = [["region", "GetParameters", "fewest", "DescribeImages", "fewest", "HTTP requests"]]
    for region, needed in result.pages.items():
        made = result.calls.get(region, {})
        rows.append(
            [
                region,
                str(made.get("ssm:GetParameters", 0)),
                str(needed["ssm:GetParameters"]),
                str(made.get("ec2:DescribeImages", 0)),
                str(needed["ec2:DescribeImages"]),
                str(result.requests.get(region, 0)),
            ]
        )
    return table(rows)


def plan_json(result: PlanBenchResult) -> dict[str, Any]:
    """Return the plan benchmark's shape, seconds, calls and findings."""
    data = asdict(result)
    data["recipes"] = result.shape.recipes
    data["plan_total"] = result.plan_total
    data["phases"] = _rounded(result.phases)
    calls, elapsed = result.per_recipe
    data["per_recipe"] = {"calls": calls, "seconds": round(elapsed, 4)}
    return _rounded(data)


def scheduling_run_json(run: SchedulingResult) -> dict[str, Any]:
    """Return one run's measures with the derived ratios."""
    derived = {
        "ratio": run.ratio,
        "bound_ratio": run.bound_ratio,
        "speedup": run.speedup,
        "overhead_per_build": run.overhead_per_build,
    }
    return _rounded({**asdict(run), **derived})


def scheduling_json(runs: Mapping[int, Sequence[SchedulingResult]]) -> dict[str, Any]:
    """Return every run of every worker count."""
    return {
        str(jobs): [scheduling_run_json(run) for run in results] for jobs, results in runs.items()
    }


def overhead_json(result: OverheadResult) -> dict[str, Any]:
    derived = {
        "bakery_median": result.bakery_median,
        "bakery_build_median": result.bakery_build_median,
        "packer_median": result.packer_median,
        "ratio": result.ratio,
        "overhead": result.overhead,
    }
    return _rounded({**asdict(result), **derived})


def _rounded(values: Mapping[str, Any]) -> dict[str, Any]:
    """Round the floats of VALUES, and of lists in it, to 4 places: enough for seconds."""

    def one(value: Any) -> Any:
        if isinstance(value, float):
            return round(value, 4)
        if isinstance(value, list | tuple):
            return [one(item) for item in value]
        return value

    return {key: one(value) for key, value in values.items()}
