from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bakery.aws.facts import SourceInfo
from bakery.config.graph import RecipeGraph
from bakery.config.recipe import Recipe, Source
from bakery.lineage.records import BuildRecord, RegionImage
from bakery.render.input_hash import input_hash
from bakery.schedule.staleness import Staleness, assess, duration_text, in_scope, plan_rebuild
from tests.support.records import (
    AL2023,
    filter_source,
    make_record,
    recipe_source,
    ssm_source,
    succeeded,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PARAM = AL2023
DIGEST = "d" * 64
BASE = Recipe("base", "base", "1.0.0", Source("ssm_parameter", PARAM), "recipes/b.yaml", "r")
HARD = Recipe("hard", "hardening", "1.0.0", Source("recipe", "base"), "recipes/h.yaml", "r")


def record(
    recipe: Recipe,
    source: SourceInfo,
    *,
    days: int = 1,
    digest: str = DIGEST,
    parent_build_id: str | None = None,
    images: tuple[RegionImage, ...] = (),
) -> BuildRecord:
    """The newest successful build of `recipe`, started `days` before NOW."""
    started = make_record(
        recipe.name,
        (NOW - timedelta(days=days)).timestamp(),
        parent_build_id,
        digest=digest,
        version=recipe.version,
        layer=recipe.layer,
        source=source,
        region=recipe.region,
    )
    return succeeded(started, *images)


def ssm(ami: str) -> SourceInfo:
    return ssm_source(ami, PARAM)


def assess_base(built: BuildRecord | None, current: SourceInfo | str, **kw: object) -> Staleness:
    values: dict[str, object] = {"digest": DIGEST, "max_age_seconds": None} | kw
    return assess(
        BASE,
        built,
        None,
        current,
        str(values["digest"]),
        NOW,
        values["max_age_seconds"],  # type: ignore[arg-type]
        None,
    )


def parent_builds() -> tuple[BuildRecord, BuildRecord]:
    """Two builds of base from the same source, the second a day newer."""
    return record(BASE, ssm("ami-old"), days=2), record(BASE, ssm("ami-old"), days=1)


def hard_record(built_on: BuildRecord, **kw: object) -> BuildRecord:
    source = recipe_source("base", "ami-base")
    return record(HARD, source, parent_build_id=built_on.build_id, **kw)  # type: ignore[arg-type]


def test_matching_build_is_up_to_date() -> None:
    result = assess_base(record(BASE, ssm("ami-1")), ssm("ami-1"))
    assert result == Staleness("base", False, ())
    assert result.status == "up to date"


def test_no_successful_build_is_never_built() -> None:
    assert assess_base(None, ssm("ami-1")) == Staleness("base", True, ("never built",))


def test_only_revoked_builds_left_says_so() -> None:
    revoked = replace(
        record(BASE, ssm("ami-1"), images=(RegionImage("r", "ami-9"),)),
        revoked=True,
        revoked_reason="leaked key",
    )
    result = assess(BASE, None, None, ssm("ami-1"), DIGEST, NOW, None, None, revoked=revoked)
    assert result.reasons == (
        f"its newest image ami-9 (build {revoked.build_id}) was revoked (leaked key) "
        "and no other is left",
    )


def test_moved_ssm_parameter_says_where_it_points_now() -> None:
    result = assess_base(record(BASE, ssm("ami-old")), ssm("ami-new"))
    assert result.reasons == (f"base moved: {PARAM} now points to ami-new (built from ami-old)",)


def test_moved_filter_names_its_newest_match() -> None:
    current = filter_source("al2023-ami-*", "ami-new")
    built = record(BASE, filter_source("al2023-ami-*", "ami-old"))
    assert assess_base(built, current).reasons == (
        "base moved: the newest match of al2023-ami-* is now ami-new (built from ami-old)",
    )


def test_changed_content_digest_changes_the_input_hash() -> None:
    built = record(BASE, ssm("ami-1"))
    result = assess_base(built, ssm("ami-1"), digest="e" * 64)
    now_hash = input_hash("e" * 64, "ami-1")
    assert result.reasons == (
        "recipe, scripts, files or template changed "
        f"(input hash {built.input_hash[:12]}… → {now_hash[:12]}…)",
    )


def test_changed_parameter_values_are_named_when_the_build_recorded_its_own() -> None:
    family = replace(BASE, parameters={"arch": "arm64", "k8s": "1.34"})
    built = replace(
        record(family, ssm("ami-1")),
        parameters=(("arch", "arm64"), ("disk", "20"), ("k8s", "1.33")),
    )
    result = assess(family, built, None, ssm("ami-1"), "e" * 64, NOW, None, None)
    now_hash = input_hash("e" * 64, "ami-1")
    assert result.reasons == (
        "parameters changed: disk 20 → (unused), k8s 1.33 → 1.34 "
        f"(input hash {built.input_hash[:12]}… → {now_hash[:12]}…)",
    )


def test_image_older_than_max_age_is_stale() -> None:
    result = assess_base(
        record(BASE, ssm("ami-1"), days=41), ssm("ami-1"), max_age_seconds=30 * 86400
    )
    assert result.reasons == ("newest image is 41 days old (max_age 30d)",)
    young = assess_base(record(BASE, ssm("ami-1"), days=29), ssm("ami-1"), max_age_seconds=2592000)
    assert not young.stale


def test_newer_parent_build_makes_the_child_stale() -> None:
    older, newer = parent_builds()
    result = assess(HARD, hard_record(older), older, None, DIGEST, NOW, None, newer)
    assert result.reasons == (
        f"parent base has a newer build {newer.build_id} (built on {older.build_id})",
    )
    assert not assess(HARD, hard_record(newer), newer, None, DIGEST, NOW, None, newer).stale


def test_revoked_parent_image_makes_the_child_stale() -> None:
    _, newer = parent_builds()
    revoked = replace(newer, revoked=True, revoked_reason="CVE-2026-1")
    result = assess(HARD, hard_record(revoked), revoked, None, DIGEST, NOW, None, revoked)
    assert result.reasons == (
        f"parent image ami-base (build {newer.build_id}) was revoked (CVE-2026-1)",
    )


def test_every_reason_that_applies_is_given_in_order() -> None:
    older, newer = parent_builds()
    revoked = replace(older, revoked=True, revoked_reason="bad")
    built = hard_record(revoked, days=100)
    result = assess(HARD, built, revoked, None, "e" * 64, NOW, 86400 * 30, newer)
    assert [reason.split(" (")[0] for reason in result.reasons] == [
        "recipe, scripts, files or template changed",
        f"parent base has a newer build {newer.build_id}",
        "newest image is 100 days old",
        "parent image ami-base",
    ]
    base = assess_base(
        record(BASE, ssm("ami-old"), days=100), ssm("ami-new"), digest="e" * 64, max_age_seconds=60
    )
    assert [reason.split(" (")[0] for reason in base.reasons] == [
        f"base moved: {PARAM} now points to ami-new",
        "recipe, scripts, files or template changed",
        "newest image is 100 days old",
    ]


def test_unresolved_source_is_a_problem_not_a_reason() -> None:
    result = assess_base(record(BASE, ssm("ami-1")), "SSM parameter /x not found in r")
    assert (result.stale, result.status, result.problem) == (
        False,
        "unknown",
        "SSM parameter /x not found in r",
    )


def test_durations_are_written_like_bakery_yaml() -> None:
    assert [duration_text(s) for s in (2592000, 43200, 129600, 90, 0)] == [
        "30d",
        "12h",
        "1d12h",
        "1m30s",
        "0s",
    ]


GRAPH = RecipeGraph(
    {
        "base-a": None,
        "hard-a": "base-a",
        "app-a1": "hard-a",
        "app-a2": "hard-a",
        "base-b": None,
        "hard-b": "base-b",
        "app-b": "hard-b",
    }
)


def fresh(*stale: str) -> dict[str, Staleness]:
    reasons = {name: ("base moved: x",) for name in stale}
    return {name: Staleness(name, name in reasons, reasons.get(name, ())) for name in GRAPH.parents}


def test_a_moved_base_rebuilds_exactly_its_chain() -> None:
    plan = plan_rebuild(GRAPH, fresh("base-a"), [])
    assert plan.order == ("base-a", "hard-a", "app-a1", "app-a2")
    assert plan.waves == (("base-a",), ("hard-a",), ("app-a1", "app-a2"))
    entries = {entry.recipe: entry for entry in plan.entries}
    assert entries["hard-a"].reasons == ("its parent base-a is rebuilt",)
    assert entries["app-a2"].reasons == ("its parent hard-a is rebuilt",)
    assert not any(entries[name].stale for name in ("base-b", "hard-b", "app-b"))
    assert plan.stale


def test_a_stale_child_keeps_its_own_reasons_and_its_parents() -> None:
    assessed = fresh("base-a", "hard-a")
    plan = plan_rebuild(GRAPH, assessed, [])
    hard = next(entry for entry in plan.entries if entry.recipe == "hard-a")
    assert hard.reasons == ("base moved: x", "its parent base-a is rebuilt")


def test_named_recipes_bring_their_descendants_only() -> None:
    assert in_scope(GRAPH, ["hard-b"]) == ["hard-b", "app-b"]
    plan = plan_rebuild(GRAPH, fresh("base-a"), ["hard-b"])
    assert [entry.recipe for entry in plan.entries] == ["hard-b", "app-b"]
    assert (plan.order, plan.waves, plan.stale) == ((), (), False)


def test_nothing_stale_rebuilds_nothing() -> None:
    plan = plan_rebuild(GRAPH, fresh(), [])
    assert (plan.order, plan.stale, plan.problems) == ((), False, {})
