"""What to prune and why: a pure plan over image and usage facts (no AWS, no clock)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from bakery.aws.facts import PUBLIC, ImageFacts, UsageFacts
from bakery.config.project import Retention
from bakery.config.tags import BUILD_DATE_TAG, MANAGED_TAG, RECIPE_TAG

SHOWN_USES = 3  # uses of one kind named per image; the rest are counted


@dataclass(frozen=True)
class PruneDecision:
    region: str
    ami_id: str
    recipe: str | None
    delete: bool
    reasons: tuple[str, ...]
    snapshot_ids: tuple[str, ...] = ()  # the snapshots to delete with the image


@dataclass(frozen=True)
class PrunePlan:
    decisions: tuple[PruneDecision, ...]

    @property
    def to_delete(self) -> tuple[PruneDecision, ...]:
        return tuple(d for d in self.decisions if d.delete)

    @property
    def kept(self) -> tuple[PruneDecision, ...]:
        return tuple(d for d in self.decisions if not d.delete)

    @property
    def snapshots_to_delete(self) -> tuple[tuple[str, str], ...]:
        """Return (region, snapshot id) of every snapshot to delete."""
        return tuple((d.region, s) for d in self.to_delete for s in d.snapshot_ids)


RetentionSource = Callable[[str], Retention] | Mapping[str, Retention]


def plan_prune(
    images: Iterable[ImageFacts],
    usage: Mapping[str, UsageFacts],
    retention_for: RetentionSource,
    now: datetime,
    *,
    include_shared: bool = False,
    recipes: set[str] | None = None,
) -> PrunePlan:
    """Decide for every image of `recipes` (all when None) whether to delete it, and why."""
    unique = {(i.region, i.ami_id): i for i in reversed(list(images))}
    every = sorted(unique.values(), key=_order)
    chosen = [i for i in every if recipes is None or i.recipe in recipes]
    missing = sorted({i.region for i in chosen} - set(usage))
    if missing:  # without usage facts nothing is known to be safe to delete
        raise ValueError(f"no usage facts for region(s) {', '.join(missing)}")
    lookup = (
        (lambda name: retention_for.get(name, Retention()))
        if isinstance(retention_for, Mapping)
        else retention_for
    )
    ranks = _ranks(every)
    drafts = []
    for image in chosen:
        protections = _guards(image, include_shared) + _uses(image, usage[image.region])
        retention = lookup(image.recipe) if image.recipe is not None else None
        held, beyond = _retention(image, ranks.get((image.region, image.ami_id)), retention, now)
        if beyond is not None and not (protections or held):
            notes = [f"{_shared_text(image)} (--include-shared)"] if image.shared_with else []
            delete, reasons, snapshots = True, (beyond, *notes), image.snapshot_ids
        else:
            delete, reasons, snapshots = False, (*protections, *held), ()
        drafts.append(
            PruneDecision(image.region, image.ami_id, image.recipe, delete, reasons, snapshots)
        )
    return PrunePlan(_settle_snapshots(drafts, every))


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _order(image: ImageFacts) -> tuple[str, str, float, str]:
    stamp = _utc(image.build_date).timestamp() if image.build_date else float("-inf")
    return (image.region, image.recipe or "", -stamp, image.ami_id)


def _ranks(images: list[ImageFacts]) -> dict[tuple[str, str], int]:
    """Rank the images that count towards `keep`: managed, ours, not revoked, newest first."""
    counted: dict[tuple[str, str], int] = {}
    ranks: dict[tuple[str, str], int] = {}
    for image in images:  # already newest first within (region, recipe)
        if not (image.managed and image.own_account and image.recipe and image.build_date):
            continue
        if image.revoked:
            continue
        group = (image.region, image.recipe)
        ranks[(image.region, image.ami_id)] = counted.get(group, 0)
        counted[group] = counted.get(group, 0) + 1
    return ranks


def _guards(image: ImageFacts, include_shared: bool) -> list[str]:
    reasons = []
    if not image.own_account:
        reasons.append(f"belongs to account {image.owner_id}")
    if not image.managed:
        reasons.append(f"not managed by bakery (no {MANAGED_TAG}=true)")
    if image.recipe is None:
        reasons.append(f"no {RECIPE_TAG} tag, so no retention applies")
    if image.build_date is None:
        reasons.append(f"no build date ({BUILD_DATE_TAG} or CreationDate)")
    if image.shared_with and not include_shared:
        reasons.append(_shared_text(image))
    return reasons


def _shared_text(image: ImageFacts) -> str:
    if PUBLIC in image.shared_with:
        return "public (shared with all accounts)"
    return "shared with " + ", ".join(sorted(image.shared_with))


def _uses(image: ImageFacts, usage: UsageFacts) -> list[str]:
    ami = image.ami_id
    reasons = [f"channel {name} points to it" for name in sorted(usage.channels.get(ami, ()))]
    templates = sorted(
        usage.launch_templates.get(ami, ()),
        key=lambda u: (u.template_id, u.version, u.parameter or ""),
    )
    reasons += _capped(
        [
            f"launch template {u.template_id} version {u.version} uses it"
            + (f" through resolve:ssm:{u.parameter}" if u.parameter else "")
            for u in templates
        ],
        "launch template versions",
    )
    reasons += _capped(
        [
            f"launch configuration {n} uses it"
            for n in sorted(usage.launch_configurations.get(ami, ()))
        ],
        "launch configurations",
    )
    instances = sorted(usage.instances.get(ami, ()), key=lambda u: u.instance_id)
    reasons += _capped(
        [f"used by instance {u.instance_id} ({u.state})" for u in instances], "instances"
    )
    return reasons


def _capped(reasons: list[str], kind: str) -> list[str]:
    if len(reasons) <= SHOWN_USES:
        return reasons
    return [*reasons[:SHOWN_USES], f"and {len(reasons) - SHOWN_USES} more {kind}"]


def _retention(
    image: ImageFacts, rank: int | None, retention: Retention | None, now: datetime
) -> tuple[list[str], str | None]:
    """Return the retention reasons that keep the image, and why it is beyond retention."""
    if retention is None or image.build_date is None or image.recipe is None:
        return [], None
    age = _utc(now) - _utc(image.build_date)
    days = max(0, age // timedelta(days=1))  # a clock that was ahead gives no negative age
    held = []
    keep, max_age = retention.keep, retention.max_age_days
    if rank is not None and rank < keep:
        held.append(f"newest {keep} of {image.recipe}")
    if max_age is not None and age <= timedelta(days=max_age):
        held.append(f"{_days(days)} old, within the max age of {_days(max_age)}")
    if held or (rank is None and not image.revoked):
        return held, None
    if image.revoked:
        beyond = f"revoked, so not among the newest {keep} of {image.recipe}"
    else:
        beyond = f"beyond the newest {keep} of {image.recipe}"
    return [], beyond + (f" and {_days(days)} old" if max_age is not None else "")


def _days(count: int) -> str:
    return "1 day" if count == 1 else f"{count} days"


def _settle_snapshots(
    drafts: list[PruneDecision], every: list[ImageFacts]
) -> tuple[PruneDecision, ...]:
    """Keep snapshots any kept image uses; delete a snapshot two deleted images share once."""
    deleted = {(d.region, d.ami_id) for d in drafts if d.delete}
    held: dict[tuple[str, str], str] = {}
    for image in every:
        if (image.region, image.ami_id) not in deleted:
            for snapshot in image.snapshot_ids:
                held.setdefault((image.region, snapshot), image.ami_id)
    claimed: set[tuple[str, str]] = set()
    settled = []
    for draft in drafts:
        if not draft.delete:
            settled.append(draft)
            continue
        mine, notes = [], []
        for snapshot in draft.snapshot_ids:
            key = (draft.region, snapshot)
            if key in held:
                notes.append(f"keeps snapshot {snapshot}: image {held[key]} uses it too")
            elif key not in claimed:
                claimed.add(key)
                mine.append(snapshot)
        settled.append(replace(draft, reasons=(*draft.reasons, *notes), snapshot_ids=tuple(mine)))
    return tuple(settled)
