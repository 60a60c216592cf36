"""`bakery plan` at scale: generated recipes over 3 regions, thousands of images, moto in-process.

What `bakery plan` (`schedule.rebuild_plan.plan_stale`) does after loading the catalog: render the
digests, resolve the external sources with grouped calls, read the store and assess, plan the
rebuilds. The catalog is
made in memory, as a project has one build region; loading it from files is timed apart.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from moto import mock_aws

from bakery.aws.facts import SourceInfo
from bakery.aws.session import AwsSettings, Gateway
from bakery.aws.source_facts import (
    FILTER_VALUES,
    PAGE_SIZE,
    SSM_BATCH,
    images_of_recipes,
    resolve_all,
)
from bakery.aws.sources import resolve_external
from bakery.config.catalog import Catalog, load_catalog
from bakery.config.graph import RecipeGraph
from bakery.config.project import Project, load_project
from bakery.config.recipe import InlineStep, Recipe, Source
from bakery.lineage.records import BuildRecord, RegionImage, iso_utc
from bakery.lineage.sqlite.store import SqliteStore
from bakery.render.build_folder import render
from bakery.render.input_hash import input_hash
from bakery.schedule.rebuild_plan import assess_all, current_builds
from bakery.schedule.staleness import in_scope, plan_rebuild
from tests.support.amis import make_ami, point_parameter
from tests.support.records import make_record, recipe_source, succeeded

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
ACCOUNT = "123456789012"  # moto's account: every image registered here belongs to it
NOW = datetime.now(UTC).replace(microsecond=0)
Images = dict[str, list[str]]  # the vendor images of each base, oldest first
PHASES = (
    "render digests",
    "resolve sources (AWS)",
    "find images by tags (AWS)",
    "read the store, assess",
    "plan rebuilds",
)


@dataclass(frozen=True)
class Shape:
    bases: int  # alternately an SSM parameter and a name filter, round-robin over REGIONS
    hardening_per_base: int
    apps_per_hardening: int
    images: int  # registered: two builds per recipe, the rest vendor images the sources name

    @property
    def recipes(self) -> int:
        hardening = self.bases * self.hardening_per_base
        return self.bases + hardening + hardening * self.apps_per_hardening

    @property
    def per_base(self) -> int:
        """Vendor images of each base: what is left of `images` after two per recipe."""
        return max(2, (self.images - 2 * self.recipes) // self.bases)


FULL = Shape(10, 9, 10, 5000)  # 1,000 recipes: 10 bases, 90 hardening, 900 apps
QUICK = Shape(10, 3, 3, 600)  # 130 recipes: 10 bases, 30 hardening, 90 apps


@dataclass(frozen=True)
class PlanBenchResult:
    """Seconds per phase, AWS calls per region against the pages their answers need."""

    shape: Shape
    images: int  # registered in moto, besides moto's own public images
    records: int  # in the store: two builds per recipe
    setup_seconds: float
    load_seconds: float  # load_catalog of the same recipes written as files (one region)
    family_load_seconds: float  # load_catalog of as many instances from a few family files
    phases: Mapping[str, float]  # seconds of each step of the plan
    calls: Mapping[str, Mapping[str, int]]  # as counted by resolve_all
    requests: Mapping[str, int]  # HTTP requests botocore sent, per region, for the check
    pages: Mapping[str, Mapping[str, int]]  # the fewest calls the answers need, per region
    per_recipe: tuple[int, float]  # requests and seconds of resolve_external per recipe
    stale: int
    waves: int
    reasons: Mapping[str, int]  # how many entries give each kind of reason

    @property
    def plan_total(self) -> float:
        return sum(self.phases.values())


def make_recipes(shape: Shape) -> dict[str, Recipe]:
    """Return the generated recipes, parents first; children build in their base's region."""
    recipes: dict[str, Recipe] = {}

    def add(name: str, layer: Any, source: Source, region: str) -> str:
        step = InlineStep((f"echo {name}",))
        recipes[name] = Recipe(name, layer, "1.0.0", source, f"recipes/{name}.yaml", region)
        recipes[name] = replace(recipes[name], provision=(step,))
        return name

    for b in range(shape.bases):
        region = REGIONS[b % len(REGIONS)]
        # Filters name no architecture: moto's register_image does not record one.
        ssm = Source("ssm_parameter", f"/bench/base-{b:02d}")
        external = ssm if b % 2 == 0 else Source("filter", f"vendor{b:02d}-linux-*", (ACCOUNT,))
        base = add(f"base-{b:02d}", "base", external, region)
        for h in range(shape.hardening_per_base):
            hard = add(f"{base}-hard-{h}", "hardening", Source("recipe", base), region)
            for a in range(shape.apps_per_hardening):
                add(f"{hard}-app-{a}", "app", Source("recipe", hard), region)
    return recipes


def register(gateway: Gateway, region: str, names: Sequence[str]) -> list[str]:
    """Register images (no instance: the fastest moto offers) and return their ids."""
    return [make_ami(name, region, gateway=gateway) for name in names]


def counted_requests(gateway: Gateway) -> Counter[str]:
    """Count from now on the HTTP requests the gateway's clients send, per region."""
    found: Counter[str] = Counter()
    clients = [gateway.client(service, region) for service in ("ec2", "ssm") for region in REGIONS]
    for client in clients:
        hook = lambda r=client.meta.region_name, **_: found.update([r])  # noqa: E731
        client.meta.events.register("before-send", hook)
    return found


def benchmark(shape: Shape) -> PlanBenchResult:
    """Set up moto and the store, then time each phase of the plan."""
    with mock_aws(), tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        project = Project(Path(folder), max_age="30d", trusted_owners=(ACCOUNT,), region=REGIONS[0])
        recipes = make_recipes(shape)
        catalog = Catalog(project, recipes, RecipeGraph({n: r.parent for n, r in recipes.items()}))
        setup_gateway = Gateway(AwsSettings(REGIONS[0]))
        vendor = _vendor_images(setup_gateway, shape, recipes)
        store = SqliteStore(Path(folder) / "lineage.db")
        records = _record_builds(setup_gateway, catalog, store, vendor)
        setup = time.perf_counter() - started
        load = _time_load(Path(folder) / "project", recipes)
        family_load = _time_family_load(Path(folder) / "families", len(recipes))

        gateway = Gateway(AwsSettings(REGIONS[0]))
        requests = counted_requests(gateway)
        marks = [time.perf_counter()]
        scope = in_scope(catalog.graph, [])
        digests = {name: _digest(project, recipes[name]) for name in scope}
        marks.append(time.perf_counter())
        sources, calls = resolve_all(gateway, [recipes[n] for n in scope], project.trusted_owners)
        marks.append(time.perf_counter())
        by_region: dict[str, list[str]] = {}
        for name in scope:
            by_region.setdefault(recipes[name].region, []).append(name)
        tagged = images_of_recipes(gateway, by_region, calls)
        current = current_builds(catalog, store, scope, digests, sources, tagged)
        marks.append(time.perf_counter())
        assessed = assess_all(catalog, store, scope, digests, sources, NOW, current)
        marks.append(time.perf_counter())
        result = plan_rebuild(catalog.graph, assessed, [])
        marks.append(time.perf_counter())
        if result.problems:
            raise RuntimeError(f"sources did not resolve: {result.problems}")
        per_recipe = _per_recipe(project, recipes)
        store.close()
    reasons = Counter(_kind(reason) for entry in result.entries for reason in entry.reasons)
    return PlanBenchResult(
        shape=shape,
        images=sum(len(ids) for ids in vendor.values()) + 2 * len(recipes),
        records=records,
        setup_seconds=setup,
        load_seconds=load,
        family_load_seconds=family_load,
        phases={name: marks[i + 1] - marks[i] for i, name in enumerate(PHASES)},
        calls=calls.as_dict(),
        requests=dict(sorted(requests.items())),
        pages=_fewest_calls(shape, recipes),
        per_recipe=per_recipe,
        stale=len(result.order),
        waves=len(result.waves),
        reasons=dict(reasons.most_common()),
    )


def _vendor_images(gateway: Gateway, shape: Shape, recipes: Mapping[str, Recipe]) -> Images:
    """Register each base's vendor images (oldest first), point its parameter at the newest."""
    found: Images = {}
    for b in range(shape.bases):
        base = recipes[f"base-{b:02d}"]
        names = [f"vendor{b:02d}-linux-2026.{k:04d}" for k in range(shape.per_base)]
        found[base.name] = register(gateway, base.region, names)
        if base.source.kind == "ssm_parameter":
            point_parameter(base.source.value, found[base.name][-1], base.region, gateway=gateway)
    return found


def _record_builds(gateway: Gateway, catalog: Catalog, store: SqliteStore, vendor: Images) -> int:
    """Record two builds of every recipe; make a few of the newest stale, each in its own way."""
    recipes = list(catalog.recipes.values())
    current, _ = resolve_all(gateway, recipes, catalog.project.trusted_owners)
    newest: dict[str, BuildRecord]
    older: dict[str, BuildRecord]
    newest, older = {}, {}
    for index, recipe in enumerate(recipes):
        digest = _digest(catalog.project, recipe)
        built = register(gateway, recipe.region, [f"{recipe.name}-old", f"{recipe.name}-new"])
        for when, ami, book in ((20, built[0], older), (10, built[1], newest)):
            started = NOW - timedelta(days=when, seconds=-index)
            parent = book[recipe.parent] if recipe.parent else None
            built_on = recipe_source(parent, region=recipe.region) if parent else None
            info = current.get(recipe.name) or built_on
            assert isinstance(info, SourceInfo), info
            record = make_record(
                recipe.name,
                started.timestamp(),
                parent,
                digest=digest,
                version=recipe.version,
                layer=recipe.layer,
                source=info,
                region=recipe.region,
            )
            book[recipe.name] = succeeded(record, RegionImage(recipe.region, ami))
    for base in ("base-00", "base-01"):  # SSM parameter moved, newer filter match
        ami = vendor[base][0]  # both builds were made from an older vendor image
        moved = input_hash(_digest(catalog.project, catalog.recipes[base]), ami)
        for book in (newest, older):
            record = book[base]
            book[base] = replace(record, source=replace(record.source, resolved_ami=ami))
            book[base] = replace(book[base], input_hash=moved)
    changed = newest["base-02-hard-0"]  # recipe changed: recorded with another input hash
    newest[changed.recipe] = replace(changed, input_hash="0" * 64)
    on_revoked = newest["base-03-hard-0"]  # built on base-03's older build, since revoked
    newest[on_revoked.recipe] = replace(on_revoked, parent_build_id=older["base-03"].build_id)
    old_app = newest["base-04-hard-0-app-0"]  # older than max_age
    stamp = iso_utc(NOW - timedelta(days=40))
    newest[old_app.recipe] = replace(old_app, started_at=stamp)
    for record in [*older.values(), *newest.values()]:
        store.put(record)
        _tag_as_bake_does(gateway, record)
    store.set_revoked(older["base-03"].build_id, "benchmark: a revoked parent image")
    return len(older) + len(newest)


def _tag_as_bake_does(gateway: Gateway, record: BuildRecord) -> None:
    """Tag a build's image as bake does: plan decides up to date from these tags."""
    tags = {
        "bakery:managed": "true",
        "bakery:recipe": record.recipe,
        "bakery:build-id": record.build_id,
        "bakery:input-hash": record.input_hash,
        "bakery:build-date": record.started_at,
        "bakery:source-ami": record.source.resolved_ami,
    }
    for image in record.images:
        gateway.client("ec2", image.region).create_tags(
            Resources=[image.ami_id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
        )


def _digest(project: Project, recipe: Recipe) -> str:
    return render(recipe, project.tags, "1.7+", lambda p: (project.root / p).read_bytes()).digest


def _time_load(root: Path, recipes: Mapping[str, Recipe]) -> float:
    """Write the recipes as files of a one-region project and time load_catalog."""
    (root / "recipes").mkdir(parents=True)
    (root / "bakery.yaml").write_text(f"trusted_owners: ['{ACCOUNT}']\n")
    for recipe in recipes.values():
        kind, value = recipe.source.kind, recipe.source.value
        source = {"name": value, "owners": [ACCOUNT]} if kind == "filter" else value
        steps = [{"inline": [f"echo {recipe.name}"]}]
        document: dict[str, Any] = {"name": recipe.name, "layer": recipe.layer}
        document |= {"version": "1.0.0", "source": {kind: source}, "provision": steps}
        (root / recipe.file).write_text(yaml.safe_dump(document, sort_keys=False))
    started = time.perf_counter()
    if len(load_catalog(load_project(root)).recipes) != len(recipes):
        raise RuntimeError("load_catalog lost recipes")
    return time.perf_counter() - started


def _time_family_load(root: Path, instances: int) -> float:
    """Write families of 250 instances each (arch x accelerator x Kubernetes version, on a
    per-arch base family) until `instances` are reached, and time load_catalog."""
    (root / "recipes").mkdir(parents=True)
    (root / "bakery.yaml").write_text(
        "parameters:\n  agent: {pattern: '[0-9]+\\.[0-9]+', default: '1.0'}\n"
    )
    base: dict[str, Any] = {
        "name": "base",
        "layer": "base",
        "version": "1.0.0",
        "matrix": {"arch": ["x86_64", "arm64"]},
        "source": {"ssm_parameter": "/aws/service/al2023-((arch))"},
    }
    (root / "recipes" / "base.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    made, index = 2, 0
    while made < instances:
        family: dict[str, Any] = {
            "name": f"node{index}",
            "layer": "app",
            "version": "1.0.0",
            "matrix": {
                "arch": ["x86_64", "arm64"],
                "accel": ["standard", "nvidia", "neuron", "inferentia", "trainium"],
                "k8s": [f"1.{minor}" for minor in range(10, 35)],
            },
            "ami_name": f"node{index}-((arch))-((accel))-((k8s))-((timestamp))",
            "source": {"recipe": "base"},
            "variants": {
                "overrides": [{"when": {"arch": "arm64"}, "build": {"instance_type": "t4g.small"}}]
            },
            "provision": [
                {"inline": ["echo node"], "env": {"AGENT": "((agent))"}},
                {"inline": ["echo gpu"], "when": {"accel": "nvidia"}},
            ],
            "tags": {"k8s": "((k8s))", "source": "((source_ami_id))"},
        }
        (root / "recipes" / f"node{index}.yaml").write_text(yaml.safe_dump(family, sort_keys=False))
        made, index = made + 250, index + 1
    started = time.perf_counter()
    if len(load_catalog(load_project(root)).recipes) != made:
        raise RuntimeError("load_catalog lost instances")
    return time.perf_counter() - started


def _per_recipe(project: Project, recipes: Mapping[str, Recipe]) -> tuple[int, float]:
    """Resolve each external source alone, as `bake` does, counting the requests."""
    gateway = Gateway(AwsSettings(REGIONS[0]))
    requests = counted_requests(gateway)
    started = time.perf_counter()
    for recipe in recipes.values():
        if recipe.source.external:
            resolve_external(gateway, recipe.source, recipe.region, project.trusted_owners)
    return sum(requests.values()), time.perf_counter() - started


def _fewest_calls(shape: Shape, recipes: Mapping[str, Recipe]) -> dict[str, dict[str, int]]:
    """Return, per region, the calls the answers need: SSM batches and DescribeImages pages."""
    fewest: dict[str, dict[str, int]] = {}
    for region in REGIONS:
        bases = [r.source for r in recipes.values() if r.region == region and r.source.external]
        ssm = {source.value for source in bases if source.kind == "ssm_parameter"}
        patterns = {source.value for source in bases if source.kind == "filter"}
        answer = max(1, math.ceil(shape.per_base * len(patterns) / PAGE_SIZE))  # all match
        own = [r for r in recipes.values() if r.region == region]
        built = max(1, math.ceil(2 * len(own) / PAGE_SIZE))  # two tagged images a recipe
        fewest[region] = {
            "ssm:GetParameters": math.ceil(len(ssm) / SSM_BATCH),
            "ec2:DescribeImages": math.ceil(len(ssm) / FILTER_VALUES)
            + math.ceil(len(patterns) / FILTER_VALUES) * answer
            + built,  # every image with a bakery:recipe tag, a page of 1,000 at a time
        }
    return fewest


REASON_KINDS = {
    "base moved": "base moved",
    "recipe, scripts": "input hash changed",
    "newest image is": "older than max_age",
    "parent image": "parent image revoked",
    "its parent": "parent rebuilt",
    "parent ": "parent has a newer build",
    "its newest image": "own image revoked",
}


def _kind(reason: str) -> str:
    return next((kind for start, kind in REASON_KINDS.items() if reason.startswith(start)), reason)
