"""`promote`, `rollback`, `revoke` and `channels`: which image each channel points to."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bakery.aws import channels as aws
from bakery.aws.distribution import in_parallel
from bakery.aws.session import Gateway
from bakery.config.project import Channel, Project
from bakery.errors import BakeryError
from bakery.lifecycle.distribute import unshare_build
from bakery.lifecycle.gates import fallback, promotion_problems, revoke_reason_problem
from bakery.lifecycle.refs import who
from bakery.lineage.leases import holding, new_holder
from bakery.lineage.queries import descendants
from bakery.lineage.records import BuildRecord, Promotion, RegionImage, iso_utc
from bakery.lineage.store import LineageStore

# A gateway for another account (AssumeRole), for channels that serve other accounts too.
AccountGateway = Callable[[str], Gateway]
CHANNEL_LEASE_TTL = 60.0  # seconds; renewed every third while a channel is being moved


def note_to_stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class RevokeResult:
    revoked: tuple[str, ...]  # build ids
    moved: tuple[Promotion, ...]  # channels moved back
    stuck: tuple[str, ...]  # channels with no earlier usable image, left as they were
    notes: tuple[str, ...]
    # build id → the accounts (and `all`, for a public image) that lost launch permission
    unshared: dict[str, tuple[str, ...]] = field(default_factory=dict)


def channel_of(project: Project, name: str) -> Channel:
    """Return the channel declared in bakery.yaml, or say which exist."""
    if name not in project.channels:
        known = ", ".join(sorted(project.channels)) or "none are declared"
        raise BakeryError(
            f"unknown channel {name}; declare it under channels: in bakery.yaml (known: {known})"
        )
    return project.channels[name]


def promote(
    gateway: Gateway,
    store: LineageStore,
    project: Project,
    record: BuildRecord,
    channel_name: str,
    accounts: AccountGateway | None = None,
) -> Promotion:
    """Point a channel at a build's images after checking the channel's gates."""
    channel = channel_of(project, channel_name)
    promoted_to = {
        p.channel
        for p in store.promotions(record.recipe)
        if p.build_id == record.build_id and p.action == "promote"
    }
    problems = promotion_problems(
        record,
        channel,
        promoted_to=promoted_to,
        smoke_tests=store.smoke_tests(record.build_id),
        default_region=project.region,
    )
    if problems:
        raise BakeryError(f"promotion to {channel.name} refused: " + "; ".join(problems))
    return _point(
        gateway, store, project, record.recipe, channel, "promote", lambda _: (record, ""), accounts
    )


def rollback(
    gateway: Gateway,
    store: LineageStore,
    project: Project,
    recipe: str,
    channel_name: str,
    get: Callable[[str], BuildRecord | None],
    accounts: AccountGateway | None = None,
) -> Promotion:
    """Point a channel back at the build it held before its current promotion.

    The history is read under the channel's lease: two rollbacks at once go back two steps,
    never both to the same build from the same promotion.
    """
    channel = channel_of(project, channel_name)

    def pick(history: Sequence[Promotion]) -> tuple[BuildRecord, str]:
        if not history or history[0].previous_build_id is None:
            raise BakeryError(
                f"channel {channel.name} of {recipe} has no earlier promotion to go back to"
            )
        target = get(history[0].previous_build_id)
        if target is None or target.revoked:
            why = "is revoked" if target else "is not in the lineage store"
            raise BakeryError(
                f"the previous image of {channel.name} ({history[0].previous_build_id})"
                f" {why}; promote another build instead"
            )
        return target, f"from {history[0].build_id}"

    return _point(gateway, store, project, recipe, channel, "rollback", pick, accounts)


def _point(
    gateway: Gateway,
    store: LineageStore,
    project: Project,
    recipe: str,
    channel: Channel,
    action: str,
    pick: Callable[[Sequence[Promotion]], tuple[BuildRecord, str]],
    accounts: AccountGateway | None,
) -> Promotion:
    """Move a channel to the build `pick` chooses from its history (newest first)."""
    store.check_writable()  # the channel moves in AWS only if the store can record it
    # One writer per channel at a time, across processes and machines (the lease of builds):
    # the history read, the choice, the writes in AWS and the record happen together, so the
    # store, the parameters and the channel tags agree, and each promotion's previous is the
    # one before.
    key = f"{recipe} channel {channel.name}"
    with holding(
        store,
        key,
        new_holder(),
        ttl=CHANNEL_LEASE_TTL,
        cancel=threading.Event(),
        note=note_to_stderr,
        poll=0.2,
        doing="moving the channel",
    ):
        history = store.promotions(recipe, channel.name)
        record, note = pick(history)
        return _point_held(
            gateway, store, project, record, channel, action, note, accounts, history
        )


def _point_held(
    gateway: Gateway,
    store: LineageStore,
    project: Project,
    record: BuildRecord,
    channel: Channel,
    action: str,
    note: str,
    accounts: AccountGateway | None,
    history: Sequence[Promotion],
) -> Promotion:
    previous = history[0] if history else None
    regions = channel.regions or (project.region,)
    images = tuple(image for image in record.images if image.region in regions)
    at = iso_utc()

    def write(image: RegionImage) -> None:
        old = previous.images if previous else ()
        before = next((i.ami_id for i in old if i.region == image.region), None)
        aws.point_channel(gateway, image.region, record.recipe, channel.name, image.ami_id)
        aws.tag_channel(gateway, image.region, image.ami_id, channel.name, at, before)
        for account in channel.accounts:
            if accounts is None:
                raise BakeryError(
                    f"channel {channel.name} serves account {account}, but no "
                    "role is configured for it (aws.accounts in bakery.yaml)"
                )
            aws.point_channel(
                accounts(account), image.region, record.recipe, channel.name, image.ami_id
            )

    in_parallel(images, write)
    if previous is not None and previous.build_id == record.build_id and action == "promote":
        return previous  # already there: AWS is pointed again (drift repaired), no new row
    promotion = Promotion(
        recipe=record.recipe,
        channel=channel.name,
        build_id=record.build_id,
        images=images,
        at=at,
        by=who(),
        previous_build_id=previous.build_id if previous else None,
        action=action,
        note=note,
    )
    store.add_promotion(promotion)
    return promotion


def revoke(
    gateway: Gateway,
    store: LineageStore,
    project: Project,
    record: BuildRecord,
    reason: str,
    *,
    cascade: bool,
    accounts: AccountGateway | None = None,
    keep_shares: bool = False,
) -> RevokeResult:
    """Revoke a build (and with `cascade` every build below it); move channels back.

    A revoked image is also unshared: every account loses launch permission on it and
    create-volume permission on its snapshots, unless `keep_shares`.
    """
    problem = revoke_reason_problem(reason)
    if problem:
        raise BakeryError(problem)
    targets = [record, *(descendants(store, record) if cascade else [])]
    notes: list[str] = []
    unshared: dict[str, tuple[str, ...]] = {}
    now = datetime.now(UTC)
    for target in targets:
        store.set_revoked(target.build_id, reason)  # recorded first: AWS may fail midway
        for image in target.images:
            aws.mark_revoked(gateway, image.region, image.ami_id, reason)
            note = aws.deprecate(gateway, image.region, image.ami_id, now)
            if note:
                note += "; the image is tagged and recorded revoked, not deprecated in EC2"
            if note and note not in notes:
                notes.append(note)
        if not keep_shares:
            lost = unshare_build(gateway, store, target)
            if lost:
                unshared[target.build_id] = lost
    revoked = {r.build_id for r in store.builds() if r.revoked}
    moved: list[Promotion] = []
    stuck: list[str] = []
    for recipe in sorted({t.recipe for t in targets}):
        current = _current_channels(store, recipe)
        for channel_name, promotion in sorted(current.items()):
            if promotion.build_id not in revoked or channel_name not in project.channels:
                continue
            stuck_text = (
                f"{channel_name} of {recipe} has no earlier non-revoked image; it still "
                "points to the revoked one: promote a fixed build"
            )

            def pick(
                history: Sequence[Promotion], stuck_text: str = stuck_text
            ) -> tuple[BuildRecord, str]:
                # chosen under the channel's lease, from the history as it is then
                back = fallback(history, revoked)
                earlier = store.get(back.build_id) if back else None
                if earlier is None:
                    raise _Stuck(stuck_text)
                return earlier, f"{history[0].build_id} revoked: {reason}"

            try:
                moved.append(
                    _point(
                        gateway,
                        store,
                        project,
                        recipe,
                        project.channels[channel_name],
                        "revoke",
                        pick,
                        accounts,
                    )
                )
            except _Stuck as error:
                stuck.append(str(error))
    return RevokeResult(
        tuple(t.build_id for t in targets), tuple(moved), tuple(stuck), tuple(notes), unshared
    )


class _Stuck(BakeryError):
    """A revoked channel has no earlier image to go back to."""


def _current_channels(store: LineageStore, recipe: str) -> dict[str, Promotion]:
    current: dict[str, Promotion] = {}
    for promotion in store.promotions(recipe):  # newest first
        current.setdefault(promotion.channel, promotion)
    return current


def channel_table(
    gateway: Gateway, store: LineageStore, project: Project, recipes: Sequence[str]
) -> list[dict[str, object]]:
    """Return what each channel of each recipe points to, as recorded and as AWS says."""
    rows: list[dict[str, object]] = []
    for recipe in recipes:
        for name, promotion in sorted(_current_channels(store, recipe).items()):
            record = store.get(promotion.build_id)
            live: Mapping[str, str | None] = {
                image.region: aws.read_channel(gateway, image.region, recipe, name)
                for image in promotion.images
            }
            rows.append(
                {
                    "recipe": recipe,
                    "channel": name,
                    "build_id": promotion.build_id,
                    "version": record.version if record else "?",
                    "images": {i.region: i.ami_id for i in promotion.images},
                    "live": dict(live),
                    "drift": any(live[i.region] != i.ami_id for i in promotion.images),
                    "revoked": bool(record and record.revoked),
                    "at": promotion.at,
                    "by": promotion.by,
                    "action": promotion.action,
                    "previous_build_id": promotion.previous_build_id,
                }
            )
    return rows
