from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bakery.aws.facts import ImageFacts, InstanceUse, TemplateUse, UsageFacts, parse_build_date
from bakery.config.project import Retention
from bakery.lifecycle.prune_plan import PruneDecision, PrunePlan, plan_prune

NOW = datetime(2025, 6, 1, tzinfo=UTC)
OWN = "123456789012"
OTHER = "999988887777"
REGION = "us-east-1"
PROD = "/bakery/web/prod"


def image(
    ami: str,
    days: float,
    *,
    recipe: str | None = "web",
    region: str = REGION,
    managed: bool = True,
    owner: str = OWN,
    shared: tuple[str, ...] = (),
    snapshots: tuple[str, ...] | None = None,
    revoked: bool = False,
) -> ImageFacts:
    return ImageFacts(
        region=region,
        ami_id=ami,
        recipe=recipe,
        managed=managed,
        owner_id=owner,
        own_account=owner == OWN,
        build_date=NOW - timedelta(days=days),
        snapshot_ids=(f"snap-{ami}",) if snapshots is None else snapshots,
        shared_with=shared,
        tags={"bakery:revoked": "broken"} if revoked else {},
    )


def fleet(**oldest: object) -> list[ImageFacts]:
    """Four web images 10, 20, 30 and 200 days old; the oldest (ami-4) is beyond keep 3."""
    return [
        image("ami-1", 10),
        image("ami-2", 20),
        image("ami-3", 30),
        image("ami-4", 200, **oldest),
    ]  # type: ignore[arg-type]


def plan(
    images: Sequence[ImageFacts],
    usage: UsageFacts | None = None,
    retention: Retention | None = None,
    **options: object,
) -> PrunePlan:
    retention = retention or Retention(3)
    regions = {i.region for i in images} | {REGION}
    facts = {r: usage if usage and usage.region == r else UsageFacts(r) for r in regions}
    return plan_prune(images, facts, lambda _: retention, NOW, **options)  # type: ignore[arg-type]


def decision(result: PrunePlan, ami: str) -> PruneDecision:
    return next(d for d in result.decisions if d.ami_id == ami)


def test_prune_deletes_images_beyond_the_newest_keep() -> None:
    result = plan(fleet())
    assert [d.ami_id for d in result.to_delete] == ["ami-4"]
    assert decision(result, "ami-4").reasons == ("beyond the newest 3 of web",)
    assert decision(result, "ami-4").snapshot_ids == ("snap-ami-4",)
    assert decision(result, "ami-1").reasons == ("newest 3 of web",)


def test_prune_says_the_age_when_a_max_age_is_set() -> None:
    result = plan(fleet(), retention=Retention(3, 90))
    assert decision(result, "ami-4").reasons == ("beyond the newest 3 of web and 200 days old",)


def test_prune_keeps_image_younger_than_max_age_beyond_keep() -> None:
    result = plan(fleet(), retention=Retention(1, 90))
    assert decision(result, "ami-2").reasons == ("20 days old, within the max age of 90 days",)
    assert decision(result, "ami-1").reasons == (
        "newest 1 of web",
        "10 days old, within the max age of 90 days",
    )
    assert [d.ami_id for d in result.to_delete] == ["ami-4"]


@pytest.mark.parametrize(
    ("usage", "reason"),
    [
        (UsageFacts(REGION, channels={"ami-4": ("/bakery/web/prod",)}),
         "channel /bakery/web/prod points to it"),
        (UsageFacts(REGION, instances={"ami-4": (InstanceUse("i-123", "stopped"),)}),
         "used by instance i-123 (stopped)"),
        (UsageFacts(REGION, launch_templates={"ami-4": (TemplateUse("lt-1", 2),)}),
         "launch template lt-1 version 2 uses it"),
        (UsageFacts(REGION, launch_templates={"ami-4": (TemplateUse("lt-1", 2, PROD),)}),
         "launch template lt-1 version 2 uses it through resolve:ssm:/bakery/web/prod"),
        (UsageFacts(REGION, launch_configurations={"ami-4": ("web-lc",)}),
         "launch configuration web-lc uses it"),
    ],
)  # fmt: skip
def test_prune_keeps_image_in_use(usage: UsageFacts, reason: str) -> None:
    result = plan(fleet(), usage)
    assert result.to_delete == ()
    assert decision(result, "ami-4") == PruneDecision(REGION, "ami-4", "web", False, (reason,))


@pytest.mark.parametrize(
    ("oldest", "reason"),
    [
        ({"shared": ("111122223333",)}, "shared with 111122223333"),
        ({"shared": ("all",)}, "public (shared with all accounts)"),
        ({"managed": False}, "not managed by bakery (no bakery:managed=true)"),
        ({"owner": OTHER}, f"belongs to account {OTHER}"),
        ({"recipe": None}, "no bakery:recipe tag, so no retention applies"),
    ],
)
def test_prune_keeps_image_it_must_not_touch(oldest: dict[str, object], reason: str) -> None:
    result = plan(fleet(**oldest))
    assert result.to_delete == ()
    assert decision(result, "ami-4").reasons == (reason,)


def test_prune_keeps_image_without_a_build_date() -> None:
    undated = ImageFacts(REGION, "ami-9", "web", True, OWN, True, None)
    assert decision(plan([undated], retention=Retention(0)), "ami-9").reasons == (
        "no build date (bakery:build-date or CreationDate)",
    )


def test_prune_deletes_shared_image_with_include_shared_and_says_so() -> None:
    result = plan(fleet(shared=("111122223333",)), include_shared=True)
    assert decision(result, "ami-4").reasons == (
        "beyond the newest 3 of web",
        "shared with 111122223333 (--include-shared)",
    )


def test_prune_gives_every_reason_that_protects_an_image() -> None:
    usage = UsageFacts(
        REGION,
        channels={"ami-1": ("/bakery/web/prod",)},
        launch_configurations={"ami-1": ("lc",)},
    )
    result = plan(fleet(), usage)
    assert decision(result, "ami-1").reasons == (
        "channel /bakery/web/prod points to it",
        "launch configuration lc uses it",
        "newest 3 of web",
    )


def test_prune_names_a_few_instances_and_counts_the_rest() -> None:
    uses = tuple(InstanceUse(f"i-{n}", "running") for n in range(5))
    result = plan(fleet(), UsageFacts(REGION, instances={"ami-4": uses}))
    assert decision(result, "ami-4").reasons[-1] == "and 2 more instances"


def test_prune_does_not_count_revoked_images_among_the_newest() -> None:
    images = [image("ami-1", 10, revoked=True), image("ami-2", 20), image("ami-3", 30)]
    result = plan(images, retention=Retention(2))
    assert [d.ami_id for d in result.to_delete] == ["ami-1"]
    assert decision(result, "ami-1").reasons == ("revoked, so not among the newest 2 of web",)
    assert decision(result, "ami-3").reasons == ("newest 2 of web",)


def test_prune_keeps_a_snapshot_a_kept_image_also_uses() -> None:
    images = [
        image("ami-1", 10, snapshots=("snap-a",)),
        image("ami-2", 200, snapshots=("snap-a", "snap-b")),
    ]
    result = plan(images, retention=Retention(1))
    assert decision(result, "ami-2").snapshot_ids == ("snap-b",)
    assert decision(result, "ami-2").reasons[-1] == "keeps snapshot snap-a: image ami-1 uses it too"


def test_prune_deletes_a_snapshot_two_deleted_images_share_once() -> None:
    images = [
        image("ami-1", 10),
        image("ami-2", 20, snapshots=("snap-x",)),
        image("ami-3", 30, snapshots=("snap-x",)),
    ]
    result = plan(images, retention=Retention(1))
    assert result.snapshots_to_delete == ((REGION, "snap-x"),)


def test_prune_counts_keep_per_recipe_and_region() -> None:
    images = [
        image("ami-1", 10), image("ami-2", 20), image("ami-3", 10, recipe="api"),
        image("ami-4", 30, region="eu-west-1"),
    ]  # fmt: skip
    result = plan(images, retention=Retention(1))
    assert [d.ami_id for d in result.to_delete] == ["ami-2"]


def test_prune_takes_retention_per_recipe_from_a_mapping() -> None:
    images = [
        image("ami-1", 10),
        image("ami-2", 20),
        image("ami-3", 10, recipe="api"),
        image("ami-4", 20, recipe="api"),
    ]
    images += [image(f"ami-db{n}", n, recipe="db") for n in range(1, 5)]
    retention = {"web": Retention(2), "api": Retention(1)}  # db: the default, keep 3
    result = plan_prune(images, {REGION: UsageFacts(REGION)}, retention, NOW)
    assert [d.ami_id for d in result.to_delete] == ["ami-4", "ami-db4"]


def test_prune_only_plans_the_named_recipes() -> None:
    images = [*fleet(), image("ami-9", 300, recipe="api"), image("ami-8", 10, recipe="api")]
    result = plan(images, retention=Retention(1), recipes={"api"})
    assert [d.ami_id for d in result.decisions] == ["ami-8", "ami-9"]


def test_prune_refuses_to_plan_without_usage_facts_of_a_region() -> None:
    with pytest.raises(ValueError, match="eu-west-1"):
        plan_prune([image("ami-1", 10, region="eu-west-1")], {}, lambda _: Retention(0), NOW)


def test_prune_orders_decisions_by_region_recipe_and_newest_first() -> None:
    images = [
        image("ami-3", 30),
        image("ami-1", 10, region="eu-west-1"),
        image("ami-2", 10, recipe="api"),
    ]
    result = plan(list(reversed(images)))
    assert [d.ami_id for d in result.decisions] == ["ami-1", "ami-2", "ami-3"]


def test_parse_build_date_prefers_the_tag_then_creation_date() -> None:
    tag = {"bakery:build-date": "2025-01-02T03:04:05Z"}
    # the build starts, its image is made 20 minutes later: the build's own date counts
    assert parse_build_date(tag, "2025-01-02T03:24:05.000Z") == datetime(
        2025, 1, 2, 3, 4, 5, tzinfo=UTC
    )
    # a build dated after its image was made: its runner's clock was ahead, AWS's is taken
    ahead = {"bakery:build-date": "2025-01-03T03:04:05Z"}
    assert parse_build_date(ahead, "2025-01-02T03:24:05.000Z") == datetime(
        2025, 1, 2, 3, 24, 5, tzinfo=UTC
    )
    assert parse_build_date({"bakery:build-date": "soon"}, "2020-01-01T00:00:00.000Z") == datetime(
        2020, 1, 1, tzinfo=UTC
    )
    assert parse_build_date({}, None) is None


def test_retention_refuses_negative_numbers() -> None:
    with pytest.raises(ValueError, match="keep"):
        Retention(-1)
    with pytest.raises(ValueError, match="max age"):
        Retention(1, -1)


# The property: a raw fleet as AWS would describe it, an oracle computed from it independently.

STATES = ["pending", "running", "stopping", "stopped", "shutting-down", "terminated"]
PARAMETERS = ["/bakery/web/prod", "/bakery/api/beta", "/team/web-ami", "/team/api-ami"]


@dataclass(frozen=True)
class Fleet:
    images: list[ImageFacts]
    instances: list[tuple[str, str, str, str]]  # region, instance id, ami, state
    parameters: dict[tuple[str, str], str]  # (region, name) -> ami
    templates: list[tuple[str, str, int, str]]  # region, template id, version, ImageId
    configurations: list[tuple[str, str, str]]  # region, name, ami
    retention: dict[str, Retention]
    include_shared: bool
    recipes: set[str] | None


USES = ["instance", "template", "through-team", "through-channel", "configuration", "channel"]


@st.composite
def fleets(draw: st.DrawFn) -> Fleet:
    """Draw images, then for each a few uses; any use may land in another region or be stale."""
    regions = draw(
        st.lists(st.sampled_from(["r1", "r2", "r3"]), min_size=1, max_size=3, unique=True)
    )
    recipes = draw(
        st.lists(
            st.sampled_from(["web", "api", "db", "cache"]), min_size=1, max_size=4, unique=True
        )
    )
    hours = draw(st.lists(st.integers(0, 24 * 400), min_size=1, max_size=16, unique=True))
    images, instances, templates, configurations = [], [], [], []
    parameters: dict[tuple[str, str], str] = {}
    for n, age in enumerate(hours):
        region = draw(st.sampled_from(regions))
        owner = OTHER if draw(st.integers(0, 7)) == 0 else OWN
        pool = st.sampled_from([f"snap-{region}-{k}" for k in range(10)])  # often shared
        ami = f"ami-{n}"
        images.append(
            ImageFacts(
                region=region,
                ami_id=ami,
                recipe=None if draw(st.integers(0, 7)) == 0 else draw(st.sampled_from(recipes)),
                managed=draw(st.integers(0, 7)) > 0,
                owner_id=owner,
                own_account=owner == OWN,
                build_date=NOW - timedelta(hours=age),
                snapshot_ids=tuple(draw(st.lists(pool, max_size=2, unique=True))),
                shared_with=draw(st.sampled_from([(), (), (), (), ("111122223333",), ("all",)])),
                tags={"bakery:revoked": "bad"} if draw(st.integers(0, 5)) == 0 else {},
            )
        )
        uses = draw(st.lists(st.sampled_from(USES), max_size=2))
        for k, use in enumerate(uses):
            where = draw(st.sampled_from([region, region, region, *regions]))
            template = (where, draw(st.sampled_from(["lt-1", "lt-2"])), draw(st.integers(1, 4)))
            if use == "instance":
                instances.append((where, f"i-{n}-{k}", ami, draw(st.sampled_from(STATES))))
            elif use == "configuration":
                configurations.append((where, f"lc-{n}-{k}", ami))
            elif use == "template":
                templates.append((*template, ami))
            else:  # a parameter; a later image may take it over, as a promotion would
                names = PARAMETERS[:2] if use != "through-team" else PARAMETERS[2:]
                name = draw(st.sampled_from(names))
                parameters[(where, name)] = ami
                if use.startswith("through"):
                    templates.append((*template, f"resolve:ssm:{name}"))
    templates.append((regions[0], "lt-9", 1, "resolve:ssm:/team/missing"))
    instances.append((regions[0], "i-gone", "ami-gone", "running"))
    ages = st.one_of(st.none(), st.integers(0, 300))
    retention = {name: Retention(draw(st.integers(0, 2)), draw(ages)) for name in recipes}
    chosen = draw(st.one_of(st.none(), st.sets(st.sampled_from(recipes), min_size=1)))
    return Fleet(
        images,
        instances,
        parameters,
        templates,
        configurations,
        retention,
        draw(st.booleans()),
        chosen,
    )


def usage_of(fleet: Fleet, region: str) -> UsageFacts:
    """Turn the raw fleet into usage facts, as the AWS shell does."""
    instances: dict[str, list[InstanceUse]] = {}
    for r, instance_id, ami, state in fleet.instances:
        if r == region and state != "terminated":
            instances.setdefault(ami, []).append(InstanceUse(instance_id, state))
    templates: dict[str, list[TemplateUse]] = {}
    for r, template_id, version, image_id in fleet.templates:
        if r != region:
            continue
        name = image_id.removeprefix("resolve:ssm:") if image_id.startswith("resolve:") else None
        ami = fleet.parameters.get((region, name)) if name else image_id
        if ami:
            templates.setdefault(ami, []).append(TemplateUse(template_id, version, name))
    configurations: dict[str, list[str]] = {}
    for r, name, ami in fleet.configurations:
        if r == region:
            configurations.setdefault(ami, []).append(name)
    channels: dict[str, list[str]] = {}
    for (r, name), ami in fleet.parameters.items():
        if r == region and name.startswith("/bakery/"):
            channels.setdefault(ami, []).append(name)
    return UsageFacts(
        region,
        {k: tuple(v) for k, v in instances.items()},
        {k: tuple(v) for k, v in templates.items()},
        {k: tuple(v) for k, v in configurations.items()},
        {k: tuple(v) for k, v in channels.items()},
    )


def protected(fleet: Fleet, i: ImageFacts) -> bool:
    """The oracle: is the image protected from deletion whatever its age?"""
    here, ami = i.region, i.ami_id
    resolving = {
        f"resolve:ssm:{n}" for (r, n), a in fleet.parameters.items() if (r, a) == (here, ami)
    }
    channels = [
        n
        for (r, n), a in fleet.parameters.items()
        if (r, a) == (here, ami) and n.startswith("/bakery/")
    ]
    live = [s for r, _, a, s in fleet.instances if (r, a) == (here, ami) and s != "terminated"]
    templates = [
        ref for r, _, _, ref in fleet.templates if r == here and (ref == ami or ref in resolving)
    ]
    configurations = [a for r, _, a in fleet.configurations if (r, a) == (here, ami)]
    return bool(
        not i.managed or not i.own_account or i.recipe is None
        or (i.shared_with and not fleet.include_shared)
        or channels or live or templates or configurations
    )  # fmt: skip


def beyond_retention(fleet: Fleet, i: ImageFacts) -> bool:
    """The oracle: is the image beyond its recipe's retention?"""
    assert i.recipe is not None and i.build_date is not None
    keep, max_age = fleet.retention[i.recipe].keep, fleet.retention[i.recipe].max_age_days
    peers = [
        p
        for p in fleet.images
        if (p.region, p.recipe) == (i.region, i.recipe)
        and (p.managed and p.own_account and not p.revoked)
    ]
    newer = sum(1 for p in peers if p.build_date and p.build_date > i.build_date)
    within_keep = not i.revoked and newer < keep
    old = max_age is None or NOW - i.build_date > timedelta(days=max_age)
    return not within_keep and old


@settings(max_examples=300, deadline=None)
@given(fleets())
def test_prune_never_deletes_what_is_protected_and_deletes_the_rest(fleet: Fleet) -> None:
    regions = {i.region for i in fleet.images}
    usage = {r: usage_of(fleet, r) for r in regions}
    result = plan_prune(
        fleet.images, usage, fleet.retention, NOW,
        include_shared=fleet.include_shared, recipes=fleet.recipes,
    )  # fmt: skip
    in_scope = [i for i in fleet.images if fleet.recipes is None or i.recipe in fleet.recipes]
    assert sorted(d.ami_id for d in result.decisions) == sorted(i.ami_id for i in in_scope)
    deleted = {d.ami_id for d in result.to_delete}
    expected = {
        i.ami_id for i in in_scope if not protected(fleet, i) and beyond_retention(fleet, i)
    }
    assert deleted == expected
    kept_snapshots = {
        (i.region, s) for i in fleet.images if i.ami_id not in deleted for s in i.snapshot_ids
    }
    doomed = result.snapshots_to_delete
    assert not kept_snapshots & set(doomed)
    assert len(doomed) == len(set(doomed))
    every_snapshot_of_deleted = {
        (i.region, s) for i in fleet.images if i.ami_id in deleted for s in i.snapshot_ids
    }
    assert set(doomed) == every_snapshot_of_deleted - kept_snapshots
    assert all(d.reasons for d in result.decisions)
