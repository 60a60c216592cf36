"""Scheduling makespan: a 30-recipe tree baked in-process with the fake packer.

The fake packer (tests/support/fake_packer) sleeps for each recipe's configured duration and logs
when it started and ended, so the gap between the makespan and the critical path is what the
scheduler and the per-build work (render, store, subprocess, output parsing) cost.
"""

from __future__ import annotations

import io
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bakery.bake.bake_plan import plan_bake as plan
from bakery.bake.context import BakeContext
from bakery.bake.execute import execute
from bakery.config.catalog import load_catalog
from bakery.config.git import GitState
from bakery.config.project import load_project
from bakery.lineage.sqlite.store import SqliteStore
from bakery.ui.progress import Progress
from tests.support.images import FakeBuildImages
from tests.support.project import FAKE_PACKER

REPO = Path(__file__).resolve().parent.parent
# (layer, how many per parent, duration range in seconds before scaling)
SHAPE = (("base", 2, (1.0, 1.5)), ("hardening", 2, (0.8, 1.2)), ("app", 6, (0.3, 1.0)))
PROJECT_FILE = (
    f"packer: {{binary: {FAKE_PACKER}, dialect: '1.6'}}\n"
    "bake: {attempts: 1, retry_delay: 0s, cancel_grace: 5s}\n"
)


@dataclass(frozen=True)
class Node:
    """One recipe of the generated tree and the build time the fake packer plays for it."""

    name: str
    layer: str
    parent: str | None
    duration: float


@dataclass(frozen=True)
class Span:
    """When the fake packer of one recipe started and ended (epoch seconds)."""

    recipe: str
    start: float
    end: float


@dataclass(frozen=True)
class Cost:
    """What one execute() took: wall seconds, and CPU seconds of bakery and of its children."""

    wall: float
    bakery_cpu: float
    packer_cpu: float


@dataclass(frozen=True)
class SchedulingResult:
    """One bake of the tree with `jobs` workers, measured from the fake packer's log."""

    jobs: int
    makespan: float  # first build start → last build end
    wall: float  # the whole execute() call, first spawn and last bookkeeping included
    critical_path: float  # longest chain of configured durations
    chain_length: int  # builds on that chain
    sequential: float  # sum of durations: one build at a time, as a Makefile would
    lower_bound: float  # no schedule with `jobs` workers can beat this
    simulated: float  # bakery's start order (wave by wave, by name) with zero overhead
    simulated_longest_first: float  # longest remaining chain first, zero overhead
    peak_parallel: int  # most builds running at one moment
    handoff_median: float  # parent end → child start, median over children
    handoff_max: float
    bakery_cpu_per_build: float  # CPU seconds of bakery's process during execute()
    packer_cpu_per_build: float  # CPU seconds of the fake packer processes

    @property
    def ratio(self) -> float:
        """Makespan over critical path: 1.0 is a perfect scheduler with enough workers."""
        return self.makespan / self.critical_path

    @property
    def bound_ratio(self) -> float:
        """Makespan over the best any schedule could do with this many workers."""
        return self.makespan / self.lower_bound

    @property
    def speedup(self) -> float:
        return self.sequential / self.makespan

    @property
    def overhead_per_build(self) -> float:
        """Makespan beyond the critical path, spread over the builds of that chain."""
        return (self.makespan - self.critical_path) / self.chain_length


def make_tree(seed: int, scale: float) -> list[Node]:
    """Return 2 bases, 2 hardening per base and 6 apps per hardening, parents first."""
    rng = random.Random(seed)
    nodes: list[Node] = []
    parents: list[str | None] = [None]
    for layer, per_parent, (low, high) in SHAPE:
        children = [parent for parent in parents for _ in range(per_parent)]
        layer_nodes = [
            Node(f"{layer}-{len(nodes) + i:02d}", layer, parent, rng.uniform(low, high) * scale)
            for i, parent in enumerate(children)
        ]
        nodes += [Node(n.name, n.layer, n.parent, round(n.duration, 3)) for n in layer_nodes]
        parents = [n.name for n in layer_nodes]
    return nodes


def critical_path(nodes: Sequence[Node]) -> tuple[float, int]:
    """Return the longest chain of durations from a root to a leaf, and how many builds it has."""
    chains: dict[str, tuple[float, int]] = {}
    for node in nodes:  # parents come first
        above = chains[node.parent] if node.parent else (0.0, 0)
        chains[node.name] = (above[0] + node.duration, above[1] + 1)
    return max(chains.values())


def width(nodes: Sequence[Node]) -> int:
    """Return how many builds of a tree can run at once at most: its leaves."""
    parents = {node.parent for node in nodes}
    return sum(1 for node in nodes if node.name not in parents)


def simulate(nodes: Sequence[Node], jobs: int, longest_first: bool = False) -> float:
    """Return the makespan of a zero-overhead list schedule, in node order or longest chain first.

    Node order is bakery's: run_tree starts ready recipes in plan order, wave by wave.
    """
    remaining: dict[str, float] = {}
    for node in reversed(nodes):  # children come before their parents here
        below = [remaining[n.name] for n in nodes if n.parent == node.name]
        remaining[node.name] = node.duration + max(below, default=0.0)
    pending = sorted(nodes, key=lambda n: -remaining[n.name]) if longest_first else list(nodes)
    running: dict[str, float] = {}
    done: set[str] = set()
    now = 0.0
    while pending or running:
        for node in list(pending):
            if len(running) < jobs and (node.parent is None or node.parent in done):
                running[node.name] = now + node.duration
                pending.remove(node)
        now = min(running.values())
        for name in [name for name, end in running.items() if end == now]:
            del running[name]
            done.add(name)
    return now


def analyse(
    nodes: Sequence[Node], spans: Sequence[Span], jobs: int, cost: Cost
) -> SchedulingResult:
    """Turn the fake packer's spans of one bake into the numbers the report shows."""
    by_name = {span.recipe: span for span in spans}
    missing = sorted({node.name for node in nodes} - set(by_name))
    if missing:
        raise RuntimeError(f"the fake packer logged no build of {', '.join(missing)}")
    path, chain = critical_path(nodes)
    sequential = sum(node.duration for node in nodes)
    handoffs = [
        by_name[node.name].start - by_name[node.parent].end for node in nodes if node.parent
    ]
    return SchedulingResult(
        jobs=jobs,
        makespan=max(s.end for s in spans) - min(s.start for s in spans),
        wall=cost.wall,
        critical_path=path,
        chain_length=chain,
        sequential=sequential,
        lower_bound=max(path, sequential / jobs),
        simulated=simulate(nodes, jobs),
        simulated_longest_first=simulate(nodes, jobs, longest_first=True),
        peak_parallel=max(sum(1 for o in spans if o.start <= s.start < o.end) for s in spans),
        handoff_median=statistics.median(handoffs),
        handoff_max=max(handoffs),
        bakery_cpu_per_build=cost.bakery_cpu / len(nodes),
        packer_cpu_per_build=cost.packer_cpu / len(nodes),
    )


def write_project(root: Path, nodes: Sequence[Node]) -> None:
    """Write bakery.yaml (pointing at the fake packer), the recipes and the fake's plan."""
    (root / "bakery.yaml").write_text(PROJECT_FILE)
    (root / "recipes").mkdir()
    for node in nodes:
        source = f"{{recipe: {node.parent}}}" if node.parent else "{ami: ami-12345678}"
        (root / "recipes" / f"{node.name}.yaml").write_text(
            f"name: {node.name}\nlayer: {node.layer}\nversion: 1.0.0\nsource: {source}\n"
            "build: {timeout: 10m}\n"
        )
    timeline = {node.name: {"duration": node.duration} for node in nodes}
    (root / "fake-plan.json").write_text(json.dumps(timeline))


def fake_packer_env(root: Path) -> dict[str, str]:
    """Return the environment of the fake packer: its plan, its log, and a quick python3.

    The fake is `#!/usr/bin/env python3`; this interpreter's folder goes first on PATH so a
    version manager's shim (pyenv: a shell script, ~3x the start-up) is not what gets timed.
    """
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {
        **os.environ,
        "PATH": path,
        "BAKERY_FAKE_PACKER_PLAN": str(root / "fake-plan.json"),
        "BAKERY_FAKE_PACKER_LOG": str(root / "fake-log.jsonl"),
    }


def bake_once(nodes: Sequence[Node], jobs: int) -> SchedulingResult:
    """Bake the whole tree in a fresh temporary project and measure it."""
    with tempfile.TemporaryDirectory(prefix="bakery-bench-") as folder:
        root = Path(folder)
        write_project(root, nodes)
        with SqliteStore(root / "lineage.db") as store:
            catalog = load_catalog(load_project(root))
            ctx = BakeContext(
                catalog=catalog,
                images=FakeBuildImages(),
                store=store,
                progress=Progress(io.StringIO()),
                dialect="1.6",
                packer_version="1.6.6",
                git=GitState(None, False),
                packer_env=fake_packer_env(root),
                cancel=threading.Event(),
            )
            planned = plan(ctx, list(catalog.recipes), force=False)
            before = _usage()
            outcomes = execute(ctx, planned, jobs)
            after = _usage()
        failed = [f"{o.recipe}: {o.result} {o.detail}" for o in outcomes if not o.ok]
        if failed:
            raise RuntimeError("bake with the fake packer failed: " + "; ".join(failed))
        cost = Cost(*(end - start for start, end in zip(before, after, strict=True)))
        return analyse(nodes, read_spans(root / "fake-log.jsonl"), jobs, cost)


def _usage() -> tuple[float, float, float]:
    """Return the wall clock, this process's CPU seconds and its reaped children's."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (
        time.perf_counter(),
        own.ru_utime + own.ru_stime,
        children.ru_utime + children.ru_stime,
    )


def read_spans(log: Path) -> list[Span]:
    """Read the fake packer's event log: one span per recipe that started and ended."""
    times: dict[str, dict[str, float]] = {}
    for line in log.read_text().splitlines():
        event = json.loads(line)
        times.setdefault(event["recipe"], {})[event["event"]] = float(event["time"])
    return [Span(name, t["start"], t["end"]) for name, t in times.items() if "end" in t]


def fake_packer_startup(runs: int = 5) -> float:
    """Return the median wall time of `fake-packer version`, with the environment bakes use."""
    env = fake_packer_env(REPO)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([str(FAKE_PACKER), "version"], capture_output=True, check=True, env=env)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def idle_handoff(repeats: int, duration: float = 0.2) -> float:
    """Return the median parent end → child start of a 3-recipe chain baked with one worker.

    Nothing else runs meanwhile, so this is bakery's fixed cost between two builds (plus the
    fake's start-up), free of the CPU contention of many builds starting at once.
    """
    chain = [
        Node("base-00", "base", None, duration),
        Node("hardening-01", "hardening", "base-00", duration),
        Node("app-02", "app", "hardening-01", duration),
    ]
    return statistics.median(bake_once(chain, 1).handoff_median for _ in range(repeats))


def benchmark(
    nodes: Sequence[Node], jobs: Sequence[int], repeats: int
) -> Mapping[int, list[SchedulingResult]]:
    """Bake the tree `repeats` times for each worker count; every run is kept."""
    return {count: [bake_once(nodes, count) for _ in range(repeats)] for count in jobs}


def median_run(runs: Sequence[SchedulingResult]) -> SchedulingResult:
    """Return the run whose makespan is the median; of an even count, the slower middle one."""
    ordered = sorted(runs, key=lambda run: run.makespan)
    return ordered[len(ordered) // 2]
