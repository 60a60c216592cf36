"""Scheduling of `bake` with the fake packer: order, parallelism, failures, retries, stops.

The fake packer (tests/support/fake_packer) plays configured durations and results; it stands in for
Packer only here and in the benchmark. The real Packer is in tests/bake_e2e_test.py.
"""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bakery.bake.bake_plan import plan_bake as plan
from bakery.bake.build_one import Outcome
from bakery.bake.context import BakeContext
from bakery.bake.decisions import Action
from bakery.bake.execute import execute
from bakery.config.catalog import load_catalog
from bakery.config.git import GitState
from bakery.config.project import load_project
from bakery.lineage.records import Status
from bakery.lineage.sqlite.store import SqliteStore
from bakery.ui.progress import Progress
from tests.support.images import FakeBuildImages
from tests.support.project import FAKE_PACKER, ProjectFactory


def recipe(name: str, parent: str | None = None, timeout: str = "90m") -> str:
    source = f"{{recipe: {parent}}}" if parent else "{ami: ami-12345678}"
    layer = "app" if parent else "base"
    return (
        f"name: {name}\nlayer: {layer}\nversion: 1.0.0\nsource: {source}\n"
        f"build: {{timeout: {timeout}}}\n"
    )


class Bench:
    """A project of given recipes, run through plan and execute with the fake packer."""

    def __init__(
        self, root: Path, timeline: dict[str, dict[str, Any]], transient_once: bool = True
    ) -> None:
        self.root = root
        self.transient_dir = root / "transient"
        self.transient_dir.mkdir()
        self.transient_once = transient_once
        self.plan_file = root / "fake-plan.json"
        self.log_file = root / "fake-log.jsonl"
        self.plan_file.write_text(json.dumps(timeline))
        self.images = FakeBuildImages()
        self.store = SqliteStore(root / "lineage.db")
        self.cancel = threading.Event()

    def context(self) -> BakeContext:
        catalog = load_catalog(load_project(self.root))
        env = {
            **os.environ,
            "BAKERY_FAKE_PACKER_PLAN": str(self.plan_file),
            "BAKERY_FAKE_PACKER_LOG": str(self.log_file),
        }
        if self.transient_once:
            env["BAKERY_FAKE_PACKER_TRANSIENT_ONCE_DIR"] = str(self.transient_dir)
        return BakeContext(
            catalog=catalog,
            images=self.images,
            store=self.store,
            progress=Progress(io.StringIO()),
            dialect="1.6",
            packer_version="1.6.6",
            git=GitState(None, False),
            packer_env=env,
            cancel=self.cancel,
        )

    def bake(
        self, names: list[str] | None = None, jobs: int = 4, force: bool = False
    ) -> dict[str, Outcome]:
        ctx = self.context()
        planned = plan(ctx, names or list(ctx.catalog.recipes), force)
        return {o.recipe: o for o in execute(ctx, planned, jobs)}

    def events(self) -> list[dict[str, Any]]:
        if not self.log_file.exists():
            return []
        return [json.loads(line) for line in self.log_file.read_text().splitlines()]

    def span(self, name: str) -> tuple[float, float]:
        times = {e["event"]: e["time"] for e in self.events() if e["recipe"] == name}
        return times["start"], times.get("end", times.get("cancelled", 0.0))


@pytest.fixture
def bench(make_project: ProjectFactory) -> Callable[..., Bench]:
    def make(
        recipes: dict[str, str],
        timeline: dict[str, dict[str, Any]],
        attempts: int = 3,
        transient_once: bool = True,
    ) -> Bench:
        project = (
            f"packer: {{binary: {FAKE_PACKER}, dialect: '1.6'}}\n"
            f"bake: {{attempts: {attempts}, retry_delay: 0s, cancel_grace: 5s}}\n"
        )
        root = make_project(
            {f"recipes/{name}.yaml": text for name, text in recipes.items()}, project
        )
        return Bench(root, timeline, transient_once)

    return make


TREE = {
    "base": recipe("base"),
    "hard": recipe("hard", "base"),
    "a": recipe("a", "hard"),
    "b": recipe("b", "hard"),
    "c": recipe("c", "hard"),
}


def test_children_start_after_parents_and_siblings_run_together(
    bench: Callable[..., Bench],
) -> None:
    run = bench(TREE, {"*": {"duration": 0.4}})
    outcomes = run.bake(jobs=3)
    assert {o.result for o in outcomes.values()} == {"succeeded"}
    assert run.span("hard")[0] >= run.span("base")[1]
    for child in "abc":
        assert run.span(child)[0] >= run.span("hard")[1]
    starts = [run.span(child)[0] for child in "abc"]
    ends = [run.span(child)[1] for child in "abc"]
    assert max(starts) < min(ends), "siblings should overlap with --jobs 3"


def test_child_builds_from_its_parents_new_image(bench: Callable[..., Bench]) -> None:
    run = bench({"base": recipe("base"), "app": recipe("app", "base")}, {"*": {"duration": 0}})
    outcomes = run.bake()
    vars_of = {e["recipe"]: e["vars"] for e in run.events() if e["event"] == "start"}
    assert vars_of["app"]["source_ami"] == outcomes["base"].images["us-east-1"]
    assert vars_of["base"]["source_ami"] == "ami-0000000000000base0"
    record = run.store.get(outcomes["app"].build_id or "")
    assert record is not None and record.parent_build_id == outcomes["base"].build_id


def test_jobs_limits_how_many_builds_run_at_once(bench: Callable[..., Bench]) -> None:
    run = bench({n: recipe(n) for n in "wxyz"}, {"*": {"duration": 0.3}})
    run.bake(jobs=2)
    spans = [run.span(n) for n in "wxyz"]
    for start, _ in spans:
        overlapping = sum(1 for s, e in spans if s <= start < e)
        assert overlapping <= 2


def test_failure_stops_only_that_recipes_descendants(bench: Callable[..., Bench]) -> None:
    recipes = {**TREE, "other": recipe("other"), "other-app": recipe("other-app", "other")}
    run = bench(recipes, {"*": {"duration": 0.05}, "hard": {"result": "fail"}})
    outcomes = run.bake()
    assert outcomes["hard"].result == "failed"
    assert {outcomes[n].result for n in "abc"} == {"skipped"}
    assert outcomes["a"].detail == "parent hard did not succeed"
    assert outcomes["other-app"].result == "succeeded"
    assert run.store.get(outcomes["hard"].build_id or "").status is Status.FAILED  # type: ignore[union-attr]
    assert [e["recipe"] for e in run.events() if e["event"] == "start"].count("a") == 0


def test_transient_failure_is_retried_and_succeeds(bench: Callable[..., Bench]) -> None:
    run = bench({"base": recipe("base")}, {"base": {"result": "transient"}})
    outcome = run.bake()["base"]
    assert outcome.result == "succeeded"
    assert [e["event"] for e in run.events()].count("start") == 2
    assert (
        "attempt 2 of 3"
        in (
            run.root
            / (
                run.store.get(outcome.build_id or "").log_path  # type: ignore[union-attr]
                or ""
            )
        ).read_text()
    )


def test_transient_failure_gives_up_after_the_configured_attempts(
    bench: Callable[..., Bench],
) -> None:
    run = bench(
        {"base": recipe("base")},
        {"base": {"result": "transient"}},
        attempts=2,
        transient_once=False,
    )
    outcome = run.bake()["base"]
    assert outcome.result == "failed"
    assert "RequestLimitExceeded" in outcome.detail
    assert [e["event"] for e in run.events()].count("start") == 2


def test_other_failures_are_not_retried(bench: Callable[..., Bench]) -> None:
    run = bench({"base": recipe("base")}, {"base": {"result": "fail"}})
    assert run.bake()["base"].result == "failed"
    assert [e["event"] for e in run.events()].count("start") == 1


def test_timeout_interrupts_packer_and_records_a_failure(bench: Callable[..., Bench]) -> None:
    run = bench({"slow": recipe("slow", timeout="1s")}, {"slow": {"result": "hang"}})
    outcome = run.bake()["slow"]
    assert outcome.result == "failed"
    assert outcome.detail.startswith("timed out after 1s")
    assert "cancelled" in [e["event"] for e in run.events()], "packer should get SIGINT"
    assert outcome.seconds < 10


def test_cancel_stops_running_builds_cleanly_and_records_them(bench: Callable[..., Bench]) -> None:
    run = bench(
        {"one": recipe("one"), "two": recipe("two"), "kid": recipe("kid", "one")},
        {"*": {"result": "hang"}},
    )
    threading.Timer(1.0, run.cancel.set).start()
    outcomes = run.bake(jobs=2)
    assert outcomes["one"].result == outcomes["two"].result == "cancelled"
    assert outcomes["kid"].result == "cancelled"
    assert sorted(e["recipe"] for e in run.events() if e["event"] == "cancelled") == ["one", "two"]
    statuses = {r.recipe: r.status for r in run.store.builds()}
    assert statuses == {"one": Status.CANCELLED, "two": Status.CANCELLED}


def test_second_plan_is_up_to_date_and_force_rebuilds_only_named(
    bench: Callable[..., Bench],
) -> None:
    run = bench({"base": recipe("base"), "app": recipe("app", "base")}, {"*": {"duration": 0}})
    run.bake()
    ctx = run.context()
    assert {p.decision.action for p in plan(ctx, ["app"], False)} == {Action.UP_TO_DATE}
    forced = {p.decision.recipe: p.decision.action for p in plan(ctx, ["app"], True)}
    assert forced == {"base": Action.UP_TO_DATE, "app": Action.BUILD}
