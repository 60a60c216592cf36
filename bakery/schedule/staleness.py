"""Why a recipe's newest image is out of date, and what a rebuild runs: pure, `now` passed in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bakery.aws.facts import SourceInfo
from bakery.config.graph import RecipeGraph
from bakery.config.recipe import Recipe
from bakery.lineage.records import BuildRecord, dated_ahead
from bakery.render.input_hash import input_hash

NEVER_BUILT = "never built"


@dataclass(frozen=True)
class Staleness:
    """Whether a recipe needs a rebuild, each reason that applies, and what could not be checked."""

    recipe: str
    stale: bool
    reasons: tuple[str, ...] = ()
    problem: str | None = None  # its source could not be resolved, so "base moved" is unknown
    note: str | None = None  # e.g. its image was found by its tags, not in the store

    @property
    def status(self) -> str:
        if self.stale:
            return "stale"
        return "unknown" if self.problem else "up to date"


@dataclass(frozen=True)
class RebuildPlan:
    """Every recipe considered (build order) and the rebuilds that would run, wave by wave."""

    entries: tuple[Staleness, ...]
    order: tuple[str, ...]  # the recipes that would be rebuilt, in the order they would run
    waves: tuple[tuple[str, ...], ...]  # `order` split into builds that can run together

    @property
    def stale(self) -> bool:
        return bool(self.order)

    @property
    def problems(self) -> dict[str, str]:
        return {entry.recipe: entry.problem for entry in self.entries if entry.problem}


def assess(
    recipe: Recipe,
    record: BuildRecord | None,
    parent_record: BuildRecord | None,
    current_source: SourceInfo | str | None,
    digest: str,
    now: datetime,
    max_age_seconds: int | None,
    parent_latest: BuildRecord | None,
    *,
    revoked: BuildRecord | None = None,
) -> Staleness:
    """Say whether `recipe`'s newest successful build `record` is stale, and why.

    `parent_record` is the build `record` was built on, `parent_latest` the parent recipe's
    newest successful build, `current_source` what an external source resolves to now (or why
    it could not be resolved), `digest` the current content digest; `revoked` is the newest
    revoked build, given when no good one (`record`) is left.
    """
    problem = current_source if isinstance(current_source, str) else None
    if record is None and revoked is not None:
        reason = (
            f"its newest image {_ami_of(revoked)} (build {revoked.build_id}) was revoked "
            f"({revoked.revoked_reason or 'no reason given'}) and no other is left"
        )
        return Staleness(recipe.name, True, (reason,), problem)
    if record is None:
        return Staleness(recipe.name, True, (NEVER_BUILT,), problem)
    reasons: list[str] = []
    if isinstance(current_source, SourceInfo):
        reasons += _base_moved(current_source, record.source)
    expected = input_hash(digest, record.source.resolved_ami)
    if expected != record.input_hash:
        changed = _parameters_changed(recipe, record)
        what = f"parameters changed: {changed}" if changed else (
            "recipe, scripts, files or template changed"
        )  # fmt: skip
        reasons.append(f"{what} (input hash {_short(record.input_hash)} → {_short(expected)})")
    if recipe.parent is not None:
        reasons += _parent_moved(recipe.parent, record, parent_latest)
    if max_age_seconds is not None and not dated_ahead(record, now):
        age = (now - _parse_time(record.started_at)).total_seconds()
        if age > max_age_seconds:
            reasons.append(
                f"newest image is {_age_text(age)} old (max_age {duration_text(max_age_seconds)})"
            )
    if parent_record is not None and parent_record.revoked:
        reasons.append(
            f"parent image {record.source.resolved_ami} (build {parent_record.build_id}) "
            f"was revoked ({parent_record.revoked_reason or 'no reason given'})"
        )
    note = None
    if dated_ahead(record, now):
        note = (
            f"its newest build {record.build_id} is dated {record.started_at}, in the future "
            "(its runner's clock was ahead), so its age is not known"
        )
    return Staleness(recipe.name, bool(reasons), tuple(reasons), problem, note)


def in_scope(graph: RecipeGraph, names: Sequence[str]) -> list[str]:
    """Return `names` (all recipes when empty) and every recipe built on them, in build order."""
    if not names:
        chosen = set(graph.parents)
    else:
        chosen = set(names)
        for name in names:
            chosen.update(graph.descendants(name))
    return [name for wave in graph.waves(chosen) for name in wave]


def plan_rebuild(
    graph: RecipeGraph, assessed: Mapping[str, Staleness], names: Sequence[str]
) -> RebuildPlan:
    """Rebuild what is stale among `names` and their descendants, and everything built on it."""
    scope = in_scope(graph, names)
    rebuilt: set[str] = set()
    entries: list[Staleness] = []
    for name in scope:
        own = assessed[name]
        parent = graph.parents.get(name)
        reasons = own.reasons
        if parent in rebuilt:
            reasons = (*reasons, f"its parent {parent} is rebuilt")
        entry = Staleness(name, bool(reasons), reasons, own.problem, own.note)
        if entry.stale:
            rebuilt.add(name)
        entries.append(entry)
    waves = tuple(tuple(wave) for wave in graph.waves(rebuilt))
    order = tuple(name for wave in waves for name in wave)
    return RebuildPlan(tuple(entries), order, waves)


def duration_text(seconds: int) -> str:
    """Write seconds the way bakery.yaml does: `30d`, `12h`, `1d12h`, `90s`."""
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def _parameters_changed(recipe: Recipe, record: BuildRecord) -> str:
    """Say which parameter values differ from those the build recorded (none recorded: "")."""
    if not record.parameters:
        return ""
    before = dict(record.parameters)
    now = dict(recipe.parameters)
    changes = [
        f"{name} {before.get(name, '(unused)')} → {now.get(name, '(unused)')}"
        for name in sorted(set(before) | set(now))
        if before.get(name) != now.get(name)
    ]
    return ", ".join(changes)


def _base_moved(current: SourceInfo, built_from: SourceInfo) -> list[str]:
    if current.resolved_ami == built_from.resolved_ami:
        return []
    now, old = current.resolved_ami, built_from.resolved_ami
    if current.kind == "ssm_parameter":
        where = f"{current.reference} now points to {now}"
    elif current.kind == "filter":
        where = f"the newest match of {current.reference} is now {now}"
    else:
        where = f"source.ami is now {now}"
    return [f"base moved: {where} (built from {old})"]


def _parent_moved(parent: str, record: BuildRecord, parent_latest: BuildRecord | None) -> list[str]:
    if parent_latest is None or parent_latest.build_id == record.parent_build_id:
        return []  # a parent with no good build is stale itself, and this one rebuilt with it
    built_on = record.parent_build_id or "no build of it"
    # Build ids are ULIDs: they sort by start time.
    if record.parent_build_id is None or parent_latest.build_id > record.parent_build_id:
        return [f"parent {parent} has a newer build {parent_latest.build_id} (built on {built_on})"]
    return [
        f"parent {parent}'s newest good build is {parent_latest.build_id} (built on {built_on})"
    ]


def _ami_of(record: BuildRecord) -> str:
    image = record.image_in(record.region)
    return image.ami_id if image else "-"


def _short(digest: str) -> str:
    return f"{digest[:12]}…"


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _age_text(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{int(seconds)} seconds"
