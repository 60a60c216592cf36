"""Run a bake: gather facts, decide what to build, build it through Packer, tag and record it."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from bakery.aws.build_images import BuildImages
from bakery.bake.decisions import Action, Decision, Facts, closure, decide
from bakery.bake.leases import holding, new_holder
from bakery.bake.scheduler import run_tree
from bakery.config.catalog import Catalog
from bakery.config.git import GitState
from bakery.config.recipe import Recipe
from bakery.config.tags import image_tags
from bakery.errors import BakeryError
from bakery.lineage.records import (
    BuildRecord,
    RegionImage,
    SourceInfo,
    Status,
    iso_utc,
    new_build_id,
)
from bakery.lineage.store import LineageStore
from bakery.packer import binary as packer
from bakery.packer.output import OutputState, classify_failure, cross_check, read_manifest
from bakery.render.build_folder import Rendered, TemplateDialect, ami_name, render, write
from bakery.render.input_hash import input_hash, sha256_hex
from bakery.ui.progress import Progress

SOURCE_TAG_MAX = 256


@dataclass(frozen=True)
class BakeContext:
    """Everything a bake needs from outside, made by the command."""

    catalog: Catalog
    images: BuildImages
    store: LineageStore
    progress: Progress
    dialect: TemplateDialect
    packer_version: str
    git: GitState
    local: bool = False
    endpoint_url: str | None = None
    packer_env: Mapping[str, str] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)
    holder: str = field(default_factory=new_holder)  # this runner, for leases
    started_id: str = field(default_factory=new_build_id)  # later builds are of this run's time
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    @property
    def root(self) -> Path:
        return self.catalog.project.root


@dataclass(frozen=True)
class PlannedRecipe:
    decision: Decision
    facts: Facts | None
    rendered: Rendered
    source: SourceInfo | None
    parent_build_id: str | None


@dataclass(frozen=True)
class Outcome:
    """How one recipe ended in this run."""

    recipe: str
    version: str
    result: str  # succeeded, failed, cancelled, skipped, up to date, blocked
    images: Mapping[str, str] = field(default_factory=dict)  # region → AMI id
    seconds: float = 0.0
    build_id: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.result in ("succeeded", "up to date")


class TransientBuildError(BakeryError):
    """A build failed for a reason worth another attempt (throttling, capacity, timeouts)."""


class CancelledBuild(BakeryError):
    """The build was stopped by Ctrl-C or its timeout."""


def plan(ctx: BakeContext, names: Sequence[str], force: bool) -> list[PlannedRecipe]:
    """Decide, in build order, what happens to `names` and every ancestor they need."""
    catalog = ctx.catalog
    named = set(names)
    planned: dict[str, PlannedRecipe] = {}
    for name in closure(catalog.graph, names):
        recipe = catalog.recipes[name]
        rendered = _render(ctx, recipe)
        parent = planned.get(recipe.parent) if recipe.parent else None
        facts: Facts | None = None
        source: SourceInfo | None = None
        parent_build: str | None = None
        if parent is None or parent.decision.action is Action.UP_TO_DATE:
            source, parent_build, facts = _facts(ctx, recipe, rendered, parent)
        decision = decide(
            name,
            named=name in named,
            force=force,
            parent=parent.decision if parent else None,
            facts=facts,
        )
        planned[name] = PlannedRecipe(decision, facts, rendered, source, parent_build)
    return list(planned.values())


def _render(ctx: BakeContext, recipe: Recipe) -> Rendered:
    root = ctx.root
    return render(
        recipe,
        ctx.catalog.project.tags,
        ctx.dialect,
        lambda path: (root / path).read_bytes(),
        local=ctx.local,
    )


def _facts(
    ctx: BakeContext, recipe: Recipe, rendered: Rendered, parent: PlannedRecipe | None
) -> tuple[SourceInfo | None, str | None, Facts]:
    region = recipe.region
    try:
        if parent is None:
            source = ctx.images.resolve(recipe.source, region, ctx.catalog.project.trusted_owners)
            parent_build = None
        else:
            assert parent.facts is not None and parent.facts.existing_ami is not None
            ami = parent.facts.existing_ami
            record = ctx.store.find_by_ami(ami)
            if record is not None and record.revoked:
                raise BakeryError(
                    f"the newest image of {parent.decision.recipe}, {ami}, is "
                    f"revoked ({record.revoked_reason}); bake a new one first"
                )
            source = SourceInfo("recipe", parent.decision.recipe, ami)
            parent_build = record.build_id if record else None
    except BakeryError as error:
        return None, None, Facts(None, None, None, problem=str(error))
    digest_hash = input_hash(rendered.digest, source.resolved_ami)
    previous = ctx.store.latest_success(recipe.name, region)
    facts = Facts(
        source_ami=source.resolved_ami,
        input_hash=digest_hash,
        existing_ami=ctx.images.with_input_hash(recipe.name, region, digest_hash),
        previous_source_ami=previous.source.resolved_ami if previous else None,
        previous_input_hash=previous.input_hash if previous else None,
    )
    return source, parent_build, facts


def execute(ctx: BakeContext, planned: Sequence[PlannedRecipe], jobs: int) -> list[Outcome]:
    """Build what the plan says, children after their parents, up to `jobs` at once."""
    by_name = {item.decision.recipe: item for item in planned}
    recipes = ctx.catalog.recipes
    outcomes: dict[str, Outcome] = {}

    def work(name: str) -> Outcome:
        item = by_name[name]
        recipe = recipes[name]
        if item.decision.action is Action.UP_TO_DATE:
            assert item.facts is not None and item.facts.existing_ami is not None
            outcome = _up_to_date(ctx, recipe, item.facts.existing_ami, item.decision.reason)
        elif item.decision.action is Action.BLOCKED:
            outcome = Outcome(name, recipe.version, "blocked", detail=item.decision.reason)
        else:
            outcome = _build_leased(ctx, recipe, item, outcomes.get(recipe.parent or ""))
        outcomes[name] = outcome
        return outcome

    def skipped(name: str, reason: str) -> Outcome:
        result = "cancelled" if ctx.cancel.is_set() else "skipped"
        outcome = Outcome(name, recipes[name].version, result, detail=reason)
        outcomes[name] = outcome
        return outcome

    order = [item.decision.recipe for item in planned]
    parents = {name: recipes[name].parent for name in order}
    # The longest chain below a recipe first: with fewer jobs than ready builds, the critical
    # path is not kept waiting.
    height: dict[str, int] = {}
    for name in reversed(order):
        below = [height[child] for child in order if parents[child] == name]
        height[name] = 1 + max(below, default=0)
    outcomes_in_order = run_tree(
        order, parents, work, skipped, jobs=jobs, cancel=ctx.cancel, priority=height
    )
    return list(outcomes_in_order.values())


def _up_to_date(ctx: BakeContext, recipe: Recipe, ami_id: str, detail: str) -> Outcome:
    """Report an existing image (and the build's copies elsewhere) as this run's result."""
    record = ctx.store.find_by_ami(ami_id)
    images = {image.region: image.ami_id for image in record.images} if record else {}
    images.setdefault(recipe.region, ami_id)
    build_id = record.build_id if record else None
    return Outcome(
        recipe.name, recipe.version, "up to date", images, build_id=build_id, detail=detail
    )


def _build_leased(
    ctx: BakeContext, recipe: Recipe, item: PlannedRecipe, parent: Outcome | None
) -> Outcome:
    """Build under the recipe's lease; a build another runner made meanwhile is used instead."""
    if parent is not None and parent.ok and recipe.region in parent.images:
        # built in this run, or by another runner while this one waited for its lease
        source = SourceInfo("recipe", parent.recipe, parent.images[recipe.region])
        parent_build = parent.build_id
    else:
        assert item.source is not None
        source, parent_build = item.source, item.parent_build_id
    ttl = ctx.catalog.project.bake.lease_ttl_seconds
    with holding(
        ctx.store, recipe.name, ctx.holder, ttl=ttl, cancel=ctx.cancel, note=ctx.progress.note
    ) as ours:
        if not ours:
            return Outcome(
                recipe.name,
                recipe.version,
                "cancelled",
                detail="cancelled while another runner was building it",
            )
        forced = item.facts is not None and item.facts.existing_ami is not None
        wanted = input_hash(item.rendered.digest, source.resolved_ami)
        existing = (
            None if forced else ctx.images.with_input_hash(recipe.name, recipe.region, wanted)
        )
        # Forced builds (--force, rebuild --stale) also use what another runner built after
        # this run began from the same inputs, so two runs never build a recipe twice.
        latest = ctx.store.latest_success(recipe.name, recipe.region)
        fresh = latest.image_in(recipe.region) if latest is not None else None
        if (
            latest is not None
            and fresh is not None
            and latest.build_id > ctx.started_id
            and latest.input_hash == wanted
        ):
            existing = fresh.ami_id
        if existing is not None:
            return _up_to_date(
                ctx, recipe, existing, f"built meanwhile by another runner as {existing}"
            )
        return _build(ctx, recipe, item, source, parent_build)


def _build(
    ctx: BakeContext,
    recipe: Recipe,
    item: PlannedRecipe,
    source: SourceInfo,
    parent_build: str | None,
) -> Outcome:
    started = time.monotonic()
    now = ctx.clock()
    build_id = new_build_id(now.timestamp())
    folder = ctx.root / ".bakery" / "builds" / build_id
    template = write(item.rendered, folder)
    log_path = ctx.root / ".bakery" / "logs" / f"{build_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    record = BuildRecord(
        build_id=build_id,
        recipe=recipe.name,
        version=recipe.version,
        layer=recipe.layer,
        status=Status.RUNNING,
        started_at=iso_utc(now),
        input_hash=input_hash(item.rendered.digest, source.resolved_ami),
        source=source,
        region=recipe.region,
        parent_build_id=parent_build,
        packer_version=ctx.packer_version,
        git_commit=ctx.git.commit,
        git_dirty=ctx.git.dirty,
        template_sha256=item.rendered.template_sha256,
        log_path=str(log_path.relative_to(ctx.root)),
        pid=os.getpid(),
        host=socket.gethostname(),
    )
    _write_inputs(ctx, recipe, folder)
    ctx.store.start(record)
    ctx.progress.started(recipe.name, f"{build_id} from {source.resolved_ami}")
    images: list[RegionImage] = []
    try:
        artifacts = _run_packer(ctx, recipe, record, template, log_path, now)
        images = _finish_images(ctx, recipe, record, artifacts, now)
    except CancelledBuild as error:
        return _close(ctx, record, Status.CANCELLED, str(error), images, started)
    except BakeryError as error:
        return _close(ctx, record, Status.FAILED, str(error), images, started)
    except Exception as error:  # a bug must not leave the record running
        return _close(ctx, record, Status.FAILED, f"internal error: {error!r}", images, started)
    return _close(ctx, record, Status.SUCCEEDED, None, images, started)


def _close(
    ctx: BakeContext,
    record: BuildRecord,
    status: Status,
    error: str | None,
    images: Sequence[RegionImage],
    started: float,
) -> Outcome:
    ctx.store.finish(
        record.finished(status, iso_utc(ctx.clock()), error=error, images=tuple(images))
    )
    ctx.progress.finished(record.recipe, status.value + (f": {error}" if error else ""))
    return Outcome(
        record.recipe,
        record.version,
        status.value,
        {image.region: image.ami_id for image in images},
        time.monotonic() - started,
        record.build_id,
        error or "",
    )


def _run_packer(
    ctx: BakeContext,
    recipe: Recipe,
    record: BuildRecord,
    template: Path,
    log_path: Path,
    now: datetime,
) -> dict[str, str]:
    from tenacity import (
        Retrying,
        retry_if_exception_type,
        stop_after_attempt,
        wait_exponential_jitter,
    )

    settings = ctx.catalog.project.bake
    variables = {
        "source_ami": record.source.resolved_ami,
        "build_id": record.build_id,
        "build_timestamp": now.strftime("%Y%m%d%H%M%S"),
        "build_date": iso_utc(now),
        "input_hash": record.input_hash,
        "git_commit": ctx.git.commit or "unknown",
        "source_ref": f"{record.source.kind}:{record.source.reference}"[:SOURCE_TAG_MAX],
        "manifest_path": str(template.parent / "manifest.json"),
    }
    if ctx.local:
        assert ctx.endpoint_url is not None
        variables["endpoint_url"] = ctx.endpoint_url
    attempts = Retrying(
        retry=retry_if_exception_type(TransientBuildError),
        stop=stop_after_attempt(settings.attempts),
        # Exponential backoff from retry_delay, with up to as much again of random jitter.
        wait=wait_exponential_jitter(
            multiplier=settings.retry_delay_seconds,
            max=settings.retry_delay_seconds * 8,
            jitter=settings.retry_delay_seconds,
        ),
        reraise=True,
    )
    with log_path.open("a", encoding="utf-8") as log:
        for attempt in attempts:
            with attempt:
                number = attempt.retry_state.attempt_number
                if number > 1:
                    ctx.progress.step(recipe.name, f"attempt {number} of {settings.attempts}")
                    log.write(f"# bakery: attempt {number} of {settings.attempts}\n")
                return _packer_once(ctx, recipe, record, template, variables, log)
    raise AssertionError("unreachable")


def _packer_once(
    ctx: BakeContext,
    recipe: Recipe,
    record: BuildRecord,
    template: Path,
    variables: Mapping[str, str],
    log: TextIO,
) -> dict[str, str]:
    state = OutputState()

    def on_line(line: str) -> None:
        log.write(line + "\n")
        state.feed(line)
        ctx.progress.step(recipe.name, state.step)

    manifest = template.parent / "manifest.json"
    manifest.unlink(missing_ok=True)
    run = packer.build(
        ctx.catalog.project.packer_binary,
        template,
        variables,
        env=ctx.packer_env,
        on_line=on_line,
        cancel=ctx.cancel,
        timeout=recipe.build.timeout_seconds,
        grace=ctx.catalog.project.bake.cancel_grace_seconds,
    )
    if run.cancelled:
        raise CancelledBuild("cancelled; Packer was asked to clean up its instance")
    if run.timed_out:
        raise BakeryError(
            f"timed out after {recipe.build.timeout}; Packer was asked to clean up its instance "
            f"(log: {record.log_path})"
        )
    if run.returncode != 0:
        reason = "; ".join(state.errors[-3:]) or f"packer exited with {run.returncode}"
        if classify_failure("\n".join(state.errors)) == "transient":
            raise TransientBuildError(reason)
        raise BakeryError(f"packer build failed: {reason} (log: {record.log_path})")
    entry = read_manifest(manifest)
    mismatch = cross_check(entry.amis, state.amis) + state.problems
    if mismatch:
        raise BakeryError(f"Packer's manifest and output disagree: {'; '.join(mismatch)}")
    return dict(entry.amis)


def _finish_images(
    ctx: BakeContext,
    recipe: Recipe,
    record: BuildRecord,
    artifacts: Mapping[str, str],
    now: datetime,
) -> list[RegionImage]:
    """Wait for every image, then tag it and its snapshots: Packer's copies can lose tags."""
    values = {
        "build_date": iso_utc(now),
        "build_id": record.build_id,
        "source_ami": record.source.resolved_ami,
        "input_hash": record.input_hash,
        "git_commit": ctx.git.commit or "unknown",
        "source_ref": f"{record.source.kind}:{record.source.reference}"[:SOURCE_TAG_MAX],
    }
    tags = image_tags(
        recipe,
        ctx.catalog.project.tags,
        values,
        ami_name(recipe, now.strftime("%Y%m%d%H%M%S")),
        local=ctx.local,
    )
    images: list[RegionImage] = []
    for region, ami in sorted(artifacts.items()):
        images.append(RegionImage(region, ami))  # recorded even if what follows fails
        ctx.progress.step(recipe.name, f"checking and tagging {ami} in {region}")
        images[-1] = RegionImage(region, ami, ctx.images.settle(region, ami, tags))
    return images


def _write_inputs(ctx: BakeContext, recipe: Recipe, folder: Path) -> None:
    """Keep the sha256 of each file the build used, for provenance."""
    import json

    files = {
        path: sha256_hex((ctx.root / path).read_bytes())
        for path in (recipe.file, *recipe.used_files)
    }
    (folder / "inputs.json").write_text(json.dumps({"files": files}, indent=2, sort_keys=True))
