"""Build one recipe: record it, run Packer (retrying transient failures), tag and record it."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from bakery.aws.build_images import ImageSettings
from bakery.aws.facts import SourceInfo
from bakery.bake.bake_plan import PlannedRecipe
from bakery.bake.context import BakeContext, tagged_images
from bakery.config.recipe import Recipe
from bakery.config.tags import image_tags
from bakery.errors import BakeryError, StoreError
from bakery.lifecycle.gates import share_problems
from bakery.lifecycle.refs import who
from bakery.lineage.artifacts import list_artifacts
from bakery.lineage.queries import ancestry
from bakery.lineage.records import (
    BuildRecord,
    RegionImage,
    Share,
    Status,
    iso_utc,
    new_build_id,
)
from bakery.packer import binary as packer
from bakery.packer.guard import LOG_FAILED
from bakery.packer.output import OutputState, classify_failure, cross_check, read_manifest
from bakery.render.build_folder import (
    ami_name,
    build_facts,
    fill_computed,
    filled_tags,
    uses_source_name,
    write,
)
from bakery.render.input_hash import input_hash, sha256_hex

SOURCE_TAG_MAX = 256


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


class BuildTimedOut(BakeryError):
    """The build ran past its timeout; Packer was asked to clean up."""


def build_recipe(
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
    log_path = ctx.root / ".bakery" / "logs" / f"{build_id}.log"
    try:
        template = write(item.rendered, folder)
        _write_inputs(ctx, recipe, folder)
        log_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # nothing started yet: nothing to record or clean up
        return _not_started(
            ctx, recipe, started, f"cannot write its build folder {folder}: {error}"
        )
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
        parameters=tuple(sorted(recipe.parameters.items())),
    )
    try:
        ctx.store.start(record)
    except StoreError as error:
        return _not_started(ctx, recipe, started, str(error))
    ctx.progress.started(recipe.name, f"{build_id} from {source.resolved_ami}")
    images: list[RegionImage] = []
    try:
        _check_shares(ctx, recipe, record)
        _check_boot(ctx, recipe, record)
        artifacts = _run_packer(ctx, recipe, record, template, log_path, now)
        _record_shares(ctx, recipe, record)
        images = _finish_images(ctx, recipe, record, artifacts, now)
    except CancelledBuild as error:
        return _close(ctx, record, Status.CANCELLED, str(error), images, started)
    except BakeryError as error:
        return _close(ctx, record, Status.FAILED, str(error), images, started)
    except Exception as error:  # a bug must not leave the record running
        return _close(ctx, record, Status.FAILED, f"internal error: {error!r}", images, started)
    return _close(ctx, record, Status.SUCCEEDED, None, images, started)


def _check_shares(ctx: BakeContext, recipe: Recipe, record: BuildRecord) -> None:
    """Refuse, before Packer gives anyone launch permission, what `bakery share` would refuse.

    Validation said so already (E2015); this holds when bakery.yaml changed since, or the
    image's lineage carries Marketplace product codes.
    """
    accounts = shared_with(recipe)
    if not accounts:
        return
    problems = share_problems(
        record,
        ancestry(ctx.store, record),
        accounts,
        ctx.catalog.project.share_allowlist,
        shareable=recipe.shareable,
    )
    if problems:
        raise BakeryError("distribute.accounts refused: " + "; ".join(problems))


def _check_boot(ctx: BakeContext, recipe: Recipe, record: BuildRecord) -> None:
    """Refuse a build whose source cannot give the boot mode or TPM support the recipe asks.

    amazon-ebs makes the image from an instance of the source, and the image boots as its source
    does (only RegisterImage, which amazon-ebs does not call, sets a boot mode): the recipe's
    boot_mode and tpm_support are checked against the source instead of written to Packer.
    """
    wanted_mode, wanted_tpm = recipe.build.boot_mode, recipe.build.tpm_support
    if wanted_mode is None and wanted_tpm is None:
        return
    ami = record.source.resolved_ami
    mode, tpm = ctx.images.boot_of(recipe.region, ami)
    if mode is None:
        mode = "uefi" if recipe.build.architecture == "arm64" else "legacy-bios"
    # uefi-preferred: the image boots UEFI where the instance type can, so its source must too.
    allowed = (
        ("uefi-preferred",) if wanted_mode == "uefi-preferred" else (wanted_mode, "uefi-preferred")
    )
    if wanted_mode is not None and mode not in allowed:
        raise BakeryError(
            f"boot_mode {wanted_mode}: the source {ami} boots {mode}, and an amazon-ebs image "
            "boots as its source; choose a source that boots so, or drop boot_mode"
        )
    if wanted_tpm is not None and tpm != wanted_tpm:
        if tpm is None and ctx.local:
            ctx.progress.note(
                f"{recipe.name}: the emulator does not report TPM support; tpm_support "
                f"{wanted_tpm} is not checked against {ami}"
            )
            return
        raise BakeryError(
            f"tpm_support {wanted_tpm}: the source {ami} has {tpm or 'no TPM support'}, and an "
            "amazon-ebs image has its source's; choose a source with NitroTPM, or drop it"
        )


def _record_shares(ctx: BakeContext, recipe: Recipe, record: BuildRecord) -> None:
    """Record the accounts Packer shared the images with (ami_users), as `bakery share` does.

    Recorded once Packer made the images, before tagging: an image that is shared must never
    be missing its shares in the store, or a revocation would leave it shared.
    """
    at, by = iso_utc(ctx.clock()), who()
    for account in shared_with(recipe):
        ctx.store.add_share(Share(record.build_id, account, at, by))


def shared_with(recipe: Recipe) -> tuple[str, ...]:
    """The accounts, organizations and organizational units a recipe's images are shared with."""
    dist = recipe.distribute
    return (*dist.accounts, *dist.organizations, *dist.organizational_units)


def image_settings(recipe: Recipe, dialect: str, now: datetime) -> ImageSettings:
    """What bakery sets on a finished image because Packer 1.6 cannot (1.7+ does it itself)."""
    if dialect != "1.6":
        return ImageSettings()
    days = recipe.build.deprecate_after_days
    return ImageSettings(
        imds_v2=recipe.build.imds_support == "v2.0",
        deprecate_at=None if days is None else now + timedelta(days=days),
        share_with=(*recipe.distribute.organizations, *recipe.distribute.organizational_units),
    )


def _close(
    ctx: BakeContext,
    record: BuildRecord,
    status: Status,
    error: str | None,
    images: Sequence[RegionImage],
    started: float,
) -> Outcome:
    result = status.value
    # What Packer downloaded into the build folder, whatever the build's result: evidence too.
    kept = list_artifacts(ctx.root / ".bakery" / "builds" / record.build_id)
    for note in kept.notes:
        ctx.progress.note(f"{record.recipe}: {note}")
    try:
        ctx.store.finish(
            record.finished(
                status,
                iso_utc(ctx.clock()),
                error=error,
                images=tuple(images),
                artifacts=kept.artifacts,
            )
        )
    except StoreError as problem:
        # The images exist and carry the build id: a rerun records them (record_interrupted).
        made = " ".join(f"{image.region}:{image.ami_id}" for image in images) or "no image"
        result = "not recorded"
        error = (
            f"{status.value} with {made}, but {problem}; rerun `bakery bake {record.recipe}` "
            f"once the store is writable: it records build {record.build_id} from its tags"
        )
    ctx.progress.finished(record.recipe, result + (f": {error}" if error else ""))
    return Outcome(
        record.recipe,
        record.version,
        result,
        {image.region: image.ami_id for image in images},
        time.monotonic() - started,
        record.build_id,
        error or "",
    )


def _not_started(ctx: BakeContext, recipe: Recipe, started: float, why: str) -> Outcome:
    """The outcome of a build that could not begin: nothing was made or recorded."""
    detail = f"not started: {why}"
    ctx.progress.finished(recipe.name, f"failed: {detail}")
    return Outcome(
        recipe.name, recipe.version, "failed", seconds=time.monotonic() - started, detail=detail
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
        RetryCallState,
        Retrying,
        retry_if_exception_type,
        stop_after_attempt,
        stop_any,
        stop_before_delay,
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
    variables.update(fill_computed(recipe, _facts(ctx, recipe, record, now), now))
    if ctx.local:
        assert ctx.endpoint_url is not None
        variables["endpoint_url"] = ctx.endpoint_url
    # The build's timeout holds for all of its attempts together: Packer's SDK retries a
    # throttled call for minutes, and a whole-build retry must not multiply that.
    deadline = time.monotonic() + recipe.build.timeout_seconds

    def before_retry(retry_state: RetryCallState) -> None:
        outcome = retry_state.outcome
        reason = str(outcome.exception()) if outcome is not None else "?"
        number = retry_state.attempt_number + 1
        text = f"attempt {number} of {settings.attempts} after a transient failure: {reason}"
        ctx.progress.step(recipe.name, text)
        _log_note(ctx, recipe, log_path, text)

    attempts = Retrying(
        retry=retry_if_exception_type(TransientBuildError),
        # no attempt starts that the timeout (counting the backoff before it) leaves no time for
        stop=stop_any(
            stop_after_attempt(settings.attempts),
            stop_before_delay(recipe.build.timeout_seconds),
        ),
        # Exponential backoff from retry_delay, with up to as much again of random jitter.
        wait=wait_exponential_jitter(
            multiplier=settings.retry_delay_seconds,
            max=settings.retry_delay_seconds * 8,
            jitter=settings.retry_delay_seconds,
        ),
        before_sleep=before_retry,
        reraise=True,
    )
    for attempt in attempts:
        with attempt:
            left = max(0.0, deadline - time.monotonic())
            try:
                return _packer_once(ctx, recipe, record, template, variables, log_path, left)
            except (CancelledBuild, BuildTimedOut):
                raise
            except BakeryError as error:
                finished = _finished_by_tags(ctx, recipe, record)
                if not finished:
                    raise
                # Packer tags its images last: what failed came after (its clean-up, the
                # manifest on a full disk), and the image is whole. It is never thrown away.
                made = ", ".join(f"{region}:{ami}" for region, ami in sorted(finished.items()))
                text = f"packer failed after it finished {made} ({error}); the image is kept"
                ctx.progress.step(recipe.name, text)
                _log_note(ctx, recipe, log_path, text)
                return finished
    raise AssertionError("unreachable")


def _finished_by_tags(ctx: BakeContext, recipe: Recipe, record: BuildRecord) -> dict[str, str]:
    """The images of this build that Packer finished, by region (see `tagged_images`)."""
    found, finished = tagged_images(ctx.images, record, recipe.distribute.regions)
    return {image.region: image.ami_id for image in found} if finished else {}


def _log_note(ctx: BakeContext, recipe: Recipe, log_path: Path, text: str) -> None:
    """Add bakery's own line to the build log; a log that cannot be written fails nothing."""
    try:
        with log_path.open("a", encoding="utf-8") as log:
            log.write(f"# bakery: {text}\n")
    except OSError as error:
        ctx.progress.note(f"{recipe.name}: cannot write its build log {log_path}: {error}")


def _packer_once(
    ctx: BakeContext,
    recipe: Recipe,
    record: BuildRecord,
    template: Path,
    variables: Mapping[str, str],
    log_path: Path,
    timeout: float,
) -> dict[str, str]:
    state = OutputState()

    def on_line(line: str) -> None:
        if line.startswith(LOG_FAILED):
            ctx.progress.note(
                f"{recipe.name}: cannot write its build log {record.log_path}: "
                f"{line.removeprefix(LOG_FAILED)}; the build goes on"
            )
            return
        state.feed(line)
        ctx.progress.step(recipe.name, state.step)

    manifest = template.parent / "manifest.json"
    manifest.unlink(missing_ok=True)
    run = packer.build(
        ctx.catalog.project.packer_binary,
        template,
        variables,
        env=ctx.packer_env,
        log=log_path,
        on_line=on_line,
        cancel=ctx.cancel,
        abort=ctx.abort,
        timeout=timeout,
        grace=ctx.catalog.project.bake.cancel_grace_seconds,
    )
    if run.cancelled and ctx.abort.is_set():
        raise CancelledBuild(
            "stopped at once by a second signal; its instance, key pair and security group may "
            f"be left: run `bakery reap` (log: {record.log_path})"
        )
    if run.cancelled:
        raise CancelledBuild("Packer was asked to clean up its instance")
    if run.timed_out:
        raise BuildTimedOut(
            f"timed out after {recipe.build.timeout}; Packer was asked to clean up its instance "
            f"(log: {record.log_path})"
        )
    where = f" during {state.step!r}" if state.step else ""
    if run.signal is not None:
        raise BakeryError(
            f"packer was killed by signal {run.signal} ({_signal_name(run.signal)}){where}; "
            f"its instance may be left: run `bakery reap` (log: {record.log_path})"
        )
    if run.returncode != 0:
        reason = "; ".join(state.errors[-3:]) or f"packer exited with {run.returncode}"
        if classify_failure("\n".join(state.errors)) == "transient":
            raise TransientBuildError(reason)
        raise BakeryError(f"packer build failed: {reason} (log: {record.log_path})")
    if not state.artifact_ids and not state.amis and not manifest.exists():
        raise BakeryError(
            f"packer exited {run.returncode} without an artifact{where} (a process of its "
            f"tree was killed, or it stopped early); see the log: {record.log_path}"
        )
    entry = read_manifest(manifest)
    mismatch = cross_check(entry.amis, state.amis) + state.problems
    if mismatch:
        raise BakeryError(f"Packer's manifest and output disagree: {'; '.join(mismatch)}")
    return dict(entry.amis)


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return "unknown signal"


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
        ami_name(recipe, now, record.build_id),
        local=ctx.local,
        user_tags=filled_tags(recipe, _facts(ctx, recipe, record, now), now),
    )
    settings = image_settings(recipe, ctx.dialect, now)
    images: list[RegionImage] = []
    for region, ami in sorted(artifacts.items()):
        images.append(RegionImage(region, ami))  # recorded even if what follows fails
        ctx.progress.step(recipe.name, f"checking and tagging {ami} in {region}")
        images[-1] = RegionImage(region, ami, ctx.images.settle(region, ami, tags))
        if not settings.empty:
            ctx.progress.step(recipe.name, f"setting what Packer 1.6 cannot on {ami} in {region}")
            for note in ctx.images.apply(region, ami, settings):
                ctx.progress.note(f"{recipe.name}: {note}")
    return images


def _facts(ctx: BakeContext, recipe: Recipe, record: BuildRecord, now: datetime) -> dict[str, str]:
    """The build-time facts a recipe's references may name (the source's name looked up only
    when one names it)."""
    ami = record.source.resolved_ami
    name = ctx.images.name_of(recipe.region, ami) if uses_source_name(recipe) else None
    return build_facts(now, record.build_id, ami, name or "")


def _write_inputs(ctx: BakeContext, recipe: Recipe, folder: Path) -> None:
    """Keep the sha256 of each file the build used, for provenance."""
    import json

    files = {
        path: sha256_hex((ctx.root / path).read_bytes())
        for path in (recipe.file, *recipe.used_files)
    }
    (folder / "inputs.json").write_text(json.dumps({"files": files}, indent=2, sort_keys=True))
