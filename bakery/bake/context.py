"""What a bake needs from outside (`BakeContext`), made once per run from the AWS settings."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from bakery.aws.build_images import AwsBuildImages, BuildImages
from bakery.aws.session import AwsSettings, Gateway
from bakery.config.catalog import Catalog
from bakery.config.git import GitState, git_state
from bakery.lineage.leases import build_gone, new_holder
from bakery.lineage.records import BuildRecord, RegionImage, Status, iso_utc
from bakery.lineage.store import LineageStore
from bakery.packer import binary as packer
from bakery.render.build_folder import TemplateDialect
from bakery.ui.progress import Progress


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
    cancel: threading.Event = field(default_factory=threading.Event)  # stop, cleaning up
    abort: threading.Event = field(default_factory=threading.Event)  # stop now (a 2nd signal)
    holder: str = field(default_factory=new_holder)  # this runner, for leases
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    @property
    def root(self) -> Path:
        return self.catalog.project.root


def make_context(
    catalog: Catalog, settings: AwsSettings, store: LineageStore, progress: Progress
) -> BakeContext:
    """Make what a bake needs; builds left running by a dead process become interrupted."""
    project = catalog.project
    found = packer.version(project.packer_binary)
    dialect = packer.dialect_of(found) if project.dialect == "auto" else project.dialect
    images = AwsBuildImages(Gateway(settings))
    record_interrupted(
        store,
        images,
        progress,
        lambda name: catalog.recipes[name].distribute.regions if name in catalog.recipes else (),
    )
    return BakeContext(
        catalog=catalog,
        images=images,
        store=store,
        progress=progress,
        dialect=dialect,
        packer_version=".".join(map(str, found)),
        git=git_state(project.root),
        local=settings.local,
        endpoint_url=settings.endpoint_url,
        packer_env=packer_env(settings),
    )


def packer_env(settings: AwsSettings) -> dict[str, str]:
    """Environment for Packer: dummy credentials in local mode, the profile otherwise."""
    from bakery.packer.binary import build_environment

    extra = {"AWS_DEFAULT_REGION": settings.region, "AWS_REGION": settings.region}
    if settings.local:  # the same dummy credentials boto3 gets
        keys = settings.credentials
        extra |= {
            "AWS_ACCESS_KEY_ID": keys["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": keys["aws_secret_access_key"],
        }
    elif settings.profile:
        extra["AWS_PROFILE"] = settings.profile
    env = build_environment(extra)
    if settings.local:  # never let a real profile or session reach the emulator's builds
        from bakery.local.launcher import loopback_proxy_bypass

        env.pop("AWS_PROFILE", None)
        env.pop("AWS_SESSION_TOKEN", None)
        env.update(loopback_proxy_bypass(env))
    return env


def record_interrupted(
    store: LineageStore,
    images: BuildImages,
    progress: Progress,
    regions_of: Callable[[str], Sequence[str]] = lambda recipe: (),
) -> None:
    """Record the builds of this host whose bakery process ended, with the images they made.

    Packer may have made the image before bakery ended (killed, or its store could not be
    written): found by its build-id tag, it is recorded on the build, so lineage, prune and
    reap know it. When the image is finished (available and tagged with the build's input
    hash, which Packer does last), the build is recorded succeeded; otherwise interrupted.
    `regions_of(recipe)` names the regions besides the build's own where Packer made copies.
    """
    for record in store.mark_interrupted(_alive(store), iso_utc()):
        found, finished = tagged_images(images, record, regions_of(record.recipe))
        if finished:
            note = "its bakery ended after Packer finished the image; recovered from its tags"
            store.put(replace(record, status=Status.SUCCEEDED, error=note, images=tuple(found)))
            progress.note(
                f"{record.recipe}: build {record.build_id} was left running by a process that "
                f"ended after Packer made {', '.join(f'{i.region}:{i.ami_id}' for i in found)}"
                "; recorded succeeded"
            )
            continue
        if found:
            store.add_images(record.build_id, found)
        listed = ", ".join(f"{i.region}:{i.ami_id}" for i in found)
        progress.note(
            f"{record.recipe}: build {record.build_id} was left running by a process that "
            f"ended; recorded interrupted{' with ' + listed if listed else ''}"
        )


def tagged_images(
    images: BuildImages, record: BuildRecord, regions: Sequence[str]
) -> tuple[list[RegionImage], bool]:
    """The images Packer tagged with a build's id in its region and `regions`, and whether
    they are finished: one image in the build's region, available and tagged with the build's
    input hash (Packer tags last, after its copies); it then carries its snapshots."""
    found = [
        RegionImage(region, ami)
        for region in dict.fromkeys((record.region, *regions))
        for ami in images.of_build(region, record.build_id)
    ]
    home = [image for image in found if image.region == record.region]
    if len(home) != 1:
        return found, False
    snapshots = images.complete(record.region, home[0].ami_id, record.input_hash)
    if snapshots is None:
        return found, False
    return [replace(i, snapshot_ids=snapshots) if i in home else i for i in found], True


def _alive(store: LineageStore) -> Callable[[BuildRecord], bool]:
    return lambda record: not build_gone(store, record)
