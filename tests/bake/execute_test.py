"""Scheduling of `bake` with the fake packer: order, parallelism, failures, retries, stops.

The fake packer (tests/support/fake_packer) plays configured durations and results; it stands in for
Packer only here and in the benchmark. The real Packer is in tests/bake_e2e_test.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bakery.bake.bake_plan import plan_bake as plan
from bakery.bake.build_one import Outcome
from bakery.bake.context import BakeContext, record_interrupted
from bakery.bake.decisions import Action
from bakery.bake.execute import execute
from bakery.config.catalog import load_catalog
from bakery.config.git import GitState
from bakery.config.project import load_project
from bakery.errors import StoreError
from bakery.lineage.records import Artifact, BuildRecord, Status, iso_utc
from bakery.lineage.sqlite.store import SqliteStore
from bakery.ui.progress import Progress
from tests.support.images import FakeBuildImages
from tests.support.project import FAKE_PACKER, ProjectFactory

# A `packer` in front of the fake one: a build of a recipe in BARRIER_GROUP waits until every
# recipe of the group has started (or BARRIER_WAIT seconds passed) and logs whether they all
# did; then the fake packer plays the build. So "siblings overlap" is shown by events, not by
# comparing times: with a serial scheduler the first sibling waits alone and logs met=false.
BARRIER_PACKER = """\
import json, os, sys, time
from pathlib import Path

args = sys.argv[1:]
if args[:1] == ["build"]:
    recipe = Path(args[-1]).name.removesuffix(".pkr.hcl")
    group = [name for name in os.environ.get("BARRIER_GROUP", "").split(",") if name]
    if recipe in group:
        folder = Path(os.environ["BARRIER_DIR"])
        (folder / recipe).touch()
        deadline = time.monotonic() + float(os.environ["BARRIER_WAIT"])
        while not (met := all((folder / name).exists() for name in group)):
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        with open(folder / "barrier.jsonl", "a", encoding="utf-8") as log:
            log.write(json.dumps({"recipe": recipe, "met": met}) + "\\n")
os.execv(sys.executable, [sys.executable, FAKE_PACKER, *args])
"""


def write_barrier_packer(folder: Path) -> Path:
    return write_packer(folder, BARRIER_PACKER, "barrier-packer")


# A `packer` in front of the fake one that leaves in the build folder's artifacts/ what a
# `download` step would (two files, one in a folder), and a symbolic link out of it.
DOWNLOADING_PACKER = """\
import os, sys
from pathlib import Path

args = sys.argv[1:]
if args[:1] == ["build"]:
    artifacts = Path(args[-1]).parent / "artifacts"
    (artifacts / "logs").mkdir(parents=True)
    (artifacts / "os-release").write_bytes(b"ID=amzn\\n")
    (artifacts / "logs" / "cloud-init.log").write_bytes(b"done\\n")
    os.symlink(os.environ["OUTSIDE"], artifacts / "elsewhere")
os.execv(sys.executable, [sys.executable, FAKE_PACKER, *args])
"""


def write_packer(folder: Path, body: str, name: str) -> Path:
    path = folder / name
    path.write_text(f"#!{sys.executable}\n{body.replace('FAKE_PACKER', repr(str(FAKE_PACKER)))}")
    path.chmod(0o755)
    return path


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
        self,
        root: Path,
        timeline: dict[str, dict[str, Any]],
        transient_once: bool = True,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.root = root
        self.extra_env = extra_env or {}
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
            **self.extra_env,
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

    def sequence(self) -> list[tuple[str, str]]:
        """(event, recipe) in the order the fake packer logged them: start, end, cancelled."""
        return [(e["event"], e["recipe"]) for e in self.events()]


@pytest.fixture
def bench(make_project: ProjectFactory) -> Callable[..., Bench]:
    def make(
        recipes: dict[str, str],
        timeline: dict[str, dict[str, Any]],
        attempts: int = 3,
        retry_delay: str = "0s",
        transient_once: bool = True,
        binary: Path = FAKE_PACKER,
        extra_env: dict[str, str] | None = None,
    ) -> Bench:
        project = (
            f"packer: {{binary: {binary}, dialect: '1.6'}}\n"
            f"bake: {{attempts: {attempts}, retry_delay: {retry_delay}, cancel_grace: 5s}}\n"
        )
        root = make_project(
            {f"recipes/{name}.yaml": text for name, text in recipes.items()}, project
        )
        return Bench(root, timeline, transient_once, extra_env)

    return make


TREE = {
    "base": recipe("base"),
    "hard": recipe("hard", "base"),
    "a": recipe("a", "hard"),
    "b": recipe("b", "hard"),
    "c": recipe("c", "hard"),
}


def test_children_start_after_parents_and_siblings_run_together(
    bench: Callable[..., Bench], tmp_path: Path
) -> None:
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    run = bench(
        TREE,
        {"*": {"duration": 0}},
        binary=write_barrier_packer(tmp_path),
        extra_env={"BARRIER_DIR": str(barrier), "BARRIER_GROUP": "a,b,c", "BARRIER_WAIT": "60"},
    )
    outcomes = run.bake(jobs=3)
    assert {o.result for o in outcomes.values()} == {"succeeded"}
    events = run.sequence()
    assert events.index(("end", "base")) < events.index(("start", "hard"))
    for child in "abc":
        assert events.index(("end", "hard")) < events.index(("start", child))
    # each sibling's packer was still running when the last of the three started
    met = [json.loads(line) for line in (barrier / "barrier.jsonl").read_text().splitlines()]
    assert sorted((m["recipe"], m["met"]) for m in met) == [
        ("a", True),
        ("b", True),
        ("c", True),
    ], "siblings should run together with --jobs 3"


def test_child_builds_from_its_parents_new_image(bench: Callable[..., Bench]) -> None:
    run = bench({"base": recipe("base"), "app": recipe("app", "base")}, {"*": {"duration": 0}})
    outcomes = run.bake()
    vars_of = {e["recipe"]: e["vars"] for e in run.events() if e["event"] == "start"}
    assert vars_of["app"]["source_ami"] == outcomes["base"].images["us-east-1"]
    assert vars_of["base"]["source_ami"] == "ami-0000000000000base0"
    record = run.store.get(outcomes["app"].build_id or "")
    assert record is not None and record.parent_build_id == outcomes["base"].build_id


def running_at_once(events: list[tuple[str, str]]) -> int:
    """The most builds between their start and their end at one point of the event log."""
    running, most = 0, 0
    for event, _ in events:
        running += 1 if event == "start" else -1
        most = max(most, running)
    return most


def test_jobs_limits_how_many_builds_run_at_once(bench: Callable[..., Bench]) -> None:
    run = bench({n: recipe(n) for n in "wxyz"}, {"*": {"duration": 0.3}})
    run.bake(jobs=2)
    events = run.sequence()
    assert sorted(name for event, name in events if event == "start") == list("wxyz")
    assert running_at_once(events) <= 2


# The tree of the priority test and the longest chain of builds from each recipe down.
PRIORITY_TREE = {
    "a-short": None,
    "b-long": None,
    "b2": "b-long",
    "b3": "b2",
    "b4": "b3",
    "c-medium": None,
    "c-kid": "c-medium",
}
HEIGHT = {"a-short": 1, "b-long": 4, "b2": 3, "b3": 2, "b4": 1, "c-medium": 2, "c-kid": 1}


def test_with_one_job_the_longest_chain_below_a_recipe_starts_first(
    bench: Callable[..., Bench],
) -> None:
    run = bench(
        {name: recipe(name, parent) for name, parent in PRIORITY_TREE.items()},
        {"*": {"duration": 0}},
    )
    outcomes = run.bake(jobs=1)
    assert {o.result for o in outcomes.values()} == {"succeeded"}
    events = run.sequence()
    assert running_at_once(events) == 1
    starts = [name for event, name in events if event == "start"]
    assert starts[:2] == ["b-long", "b2"]  # not a-short, first in build order
    # and at every start, no ready build had a longer chain below it than the one started
    done: set[str] = set()
    for event, name in events:
        if event == "end":
            done.add(name)
            continue
        ready = {
            other
            for other, parent in PRIORITY_TREE.items()
            if other not in done and other not in starts[: starts.index(name)]
            if parent is None or parent in done
        }
        assert HEIGHT[name] == max(HEIGHT[other] for other in ready), (name, sorted(ready))


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
        "# bakery: attempt 2 of 3 after a transient failure: "
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


def test_no_attempt_starts_that_the_build_timeout_leaves_no_time_for(
    bench: Callable[..., Bench],
) -> None:
    # The backoff before a second attempt (an hour) is past the build's timeout (ten minutes).
    run = bench(
        {"base": recipe("base", timeout="10m")},
        {"base": {"result": "transient"}},
        retry_delay="1h",
    )
    outcome = run.bake()["base"]
    assert outcome.result == "failed"
    assert "RequestLimitExceeded" in outcome.detail
    assert [e["event"] for e in run.events()].count("start") == 1


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

    def cancel_once_both_run() -> None:  # not after a time: the machine may be slow
        while sum(e["event"] == "start" for e in run.events()) < 2:
            if run.cancel.wait(0.05):
                return
        run.cancel.set()

    threading.Thread(target=cancel_once_both_run, daemon=True).start()
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


class StoreThatFills:
    """The bench's real store, whose file system fills up at the chosen moment of a build:
    writes of the `failing` kind (start or finish) of the named recipes raise as SQLite does."""

    def __init__(self, store: SqliteStore, failing: str, recipes: set[str]) -> None:
        self._store, self._failing, self._recipes = store, failing, recipes
        self.error = StoreError(f"the lineage store {store.path} cannot grow: the disk is full")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def start(self, record: BuildRecord) -> None:
        if self._failing == "start" and record.recipe in self._recipes:
            raise self.error
        self._store.start(record)

    def finish(self, record: BuildRecord) -> None:
        if self._failing == "finish" and record.recipe in self._recipes:
            raise self.error
        self._store.finish(record)


def dead_pid() -> int:
    """The process id of a process that has ended."""
    done = subprocess.run([sys.executable, "-c", "pass"], check=True)
    assert done.returncode == 0
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_an_image_the_store_cannot_record_is_named_and_a_rerun_records_it(
    bench: Callable[..., Bench],
) -> None:
    run = bench({"base": recipe("base"), "app": recipe("app", "base")}, {"*": {"duration": 0}})
    real = run.store
    ctx = replace(run.context(), store=StoreThatFills(real, "finish", {"base"}))  # type: ignore[arg-type]
    outcomes = {o.recipe: o for o in execute(ctx, plan(ctx, ["app"], False), 2)}
    base = outcomes["base"]
    assert (base.result, outcomes["app"].result) == ("not recorded", "skipped")
    ami = base.images["us-east-1"]
    assert f"succeeded with us-east-1:{ami}, but the lineage store" in base.detail
    assert "rerun `bakery bake base` once the store is writable" in base.detail
    (left,) = real.builds()
    assert left.status is Status.RUNNING  # what a process that then ends leaves behind
    # the process ended; the rerun finds the finished image by its tags and records it
    real.put(replace(left, pid=dead_pid()))
    progress = io.StringIO()
    record_interrupted(real, run.images, Progress(progress))
    found = real.get(left.build_id)
    assert found is not None and found.status is Status.SUCCEEDED
    assert [image.ami_id for image in found.images] == [ami]
    assert found.images[0].snapshot_ids  # complete: its snapshots are recorded too
    assert "recorded succeeded" in progress.getvalue()
    assert {name: o.result for name, o in run.bake(["app"]).items()} == {
        "base": "up to date",
        "app": "succeeded",
    }


def test_an_unfinished_image_of_an_ended_process_is_recorded_interrupted(
    bench: Callable[..., Bench],
) -> None:
    run = bench({"base": recipe("base")}, {"*": {"duration": 0}})
    run.bake()
    (built,) = run.store.builds()
    ami = built.images[0].ami_id
    # as if the process had ended while Packer was still making the image: untagged yet
    run.images.tags[("us-east-1", ami)].pop("bakery:input-hash")
    run.store.put(replace(built, status=Status.RUNNING, images=(), pid=dead_pid()))
    record_interrupted(run.store, run.images, Progress(io.StringIO()))
    found = run.store.get(built.build_id)
    assert found is not None and found.status is Status.INTERRUPTED
    assert found.ami_ids == (ami,)


def test_a_store_that_refuses_the_start_fails_that_build_before_packer_runs(
    bench: Callable[..., Bench],
) -> None:
    run = bench({"one": recipe("one"), "two": recipe("two")}, {"*": {"duration": 0}})
    ctx = replace(run.context(), store=StoreThatFills(run.store, "start", {"one"}))  # type: ignore[arg-type]
    outcomes = {o.recipe: o for o in execute(ctx, plan(ctx, ["one", "two"], False), 2)}
    assert outcomes["one"].result == "failed"
    assert outcomes["one"].detail.startswith("not started: the lineage store")
    assert outcomes["two"].result == "succeeded"  # one recipe's trouble ends no other
    assert [e["recipe"] for e in run.events() if e["event"] == "start"] == ["two"]


def test_a_build_folder_that_cannot_be_written_fails_only_that_recipe(
    bench: Callable[..., Bench],
) -> None:
    run = bench({"one": recipe("one"), "two": recipe("two")}, {"*": {"duration": 0}})
    builds = run.root / ".bakery" / "builds"
    builds.parent.mkdir(parents=True, exist_ok=True)
    builds.write_text("a file where the folder of build folders belongs")
    outcomes = run.bake()
    assert {o.result for o in outcomes.values()} == {"failed"}
    assert all("cannot write its build folder" in o.detail for o in outcomes.values())
    assert run.store.builds() == []  # nothing started, nothing recorded


def test_a_run_whose_clock_was_ahead_does_not_block_a_forced_rebuild(
    bench: Callable[..., Bench],
) -> None:
    run = bench({"base": recipe("base")}, {"*": {"duration": 0}})
    ahead = datetime.now(UTC) + timedelta(days=1)
    ctx = replace(run.context(), clock=lambda: ahead)  # a runner whose clock was a day ahead
    assert [o.result for o in execute(ctx, plan(ctx, ["base"], False), 1)] == ["succeeded"]
    (future,) = run.store.builds()
    assert future.started_at > iso_utc()
    forced = run.bake(["base"], force=True)  # now with the right clock
    assert forced["base"].result == "succeeded"  # not "built meanwhile by another runner"
    assert forced["base"].build_id != future.build_id


class TaggedThenFailed(FakeBuildImages):
    """AWS as Packer leaves it when it fails after tagging its image (its clean-up, or the
    manifest on a full disk): the build's image exists, finished, tagged with its build id."""

    def __init__(self, store: SqliteStore) -> None:
        super().__init__()
        self.store = store

    def of_build(self, region: str, build_id: str) -> list[str]:
        record = self.store.get(build_id)
        if region == "us-east-1" and record is not None:
            tags = {"bakery:build-id": build_id, "bakery:input-hash": record.input_hash}
            self.tags.setdefault((region, f"ami-{build_id[-17:].lower()}"), tags)
        return super().of_build(region, build_id)


def test_an_image_packer_finished_before_it_failed_is_kept_as_the_build(
    bench: Callable[..., Bench],
) -> None:
    run = bench({"base": recipe("base")}, {"base": {"result": "fail"}})
    run.images = TaggedThenFailed(run.store)
    outcome = run.bake()["base"]
    (record,) = run.store.builds()
    ami = f"ami-{record.build_id[-17:].lower()}"
    assert (outcome.result, outcome.images) == ("succeeded", {"us-east-1": ami})
    assert record.status is Status.SUCCEEDED and record.ami_ids == (ami,)
    assert [e["event"] for e in run.events()].count("start") == 1  # kept, not rebuilt
    log = (run.root / str(record.log_path)).read_text()
    assert f"packer failed after it finished us-east-1:{ami}" in log


def test_a_failed_build_whose_image_is_unfinished_stays_failed(bench: Callable[..., Bench]) -> None:
    run = bench({"base": recipe("base")}, {"base": {"result": "fail"}})
    outcome = run.bake()["base"]  # nothing tagged with its build id: nothing to keep
    assert outcome.result == "failed" and outcome.images == {}


def test_a_second_signal_stops_builds_at_once_and_says_what_may_be_left(
    bench: Callable[..., Bench],
) -> None:
    run = bench({"one": recipe("one")}, {"*": {"result": "hang"}})
    ctx = run.context()

    def stop_twice_once_it_runs() -> None:
        while not any(e["event"] == "start" for e in run.events()):
            if ctx.cancel.wait(0.05):
                return
        ctx.abort.set()  # as interrupts.forward_interrupts does on a second signal
        ctx.cancel.set()

    threading.Thread(target=stop_twice_once_it_runs, daemon=True).start()
    (outcome,) = execute(ctx, plan(ctx, ["one"], False), 1)
    assert outcome.result == "cancelled"
    assert outcome.detail.startswith("stopped at once by a second signal; its instance")
    assert "run `bakery reap`" in outcome.detail


@pytest.mark.parametrize("result", ["success", "fail"])
def test_the_files_a_build_downloaded_are_recorded_whatever_its_result(
    bench: Callable[..., Bench], tmp_path: Path, result: str
) -> None:
    outside = tmp_path / "outside-secret"
    outside.write_text("not evidence")
    run = bench(
        {"base": recipe("base")},
        {"base": {"result": result}},
        binary=write_packer(tmp_path, DOWNLOADING_PACKER, "downloading-packer"),
        extra_env={"OUTSIDE": str(outside)},
    )
    progress = io.StringIO()
    ctx = replace(run.context(), progress=Progress(progress))
    [outcome] = execute(ctx, plan(ctx, ["base"], False), 1)
    assert outcome.result == {"success": "succeeded", "fail": "failed"}[result]
    record = run.store.get(outcome.build_id or "")
    assert record is not None
    assert record.artifacts == (
        Artifact("logs/cloud-init.log", hashlib.sha256(b"done\n").hexdigest(), 5),
        Artifact("os-release", hashlib.sha256(b"ID=amzn\n").hexdigest(), 8),
    )
    folder = run.root / ".bakery" / "builds" / record.build_id / "artifacts"
    assert (folder / "os-release").read_bytes() == b"ID=amzn\n"  # kept with the build
    assert (
        "base: not recorded from artifacts/, not regular files (symbolic links, FIFOs, sockets, "
        "devices): elsewhere"
    ) in progress.getvalue()
