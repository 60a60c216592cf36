"""The input hash moves with every input of an image, and with nothing else.

Each case changes one input of a small project and plans the bake again, the way `bake` decides
what is up to date: through `plan_bake` with real recipes, real rendering and an in-memory
image catalogue. The recipe is `web`, built on `base`; the cases about the resolved source AMI are
about `base`, the recipe that has one.
"""

from __future__ import annotations

import io
import shutil
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bakery.bake.bake_plan import plan_bake
from bakery.bake.context import BakeContext
from bakery.config.catalog import load_catalog
from bakery.config.git import GitState
from bakery.config.project import load_project
from bakery.lineage.sqlite.store import SqliteStore
from bakery.render import build_folder
from bakery.ui.progress import Progress
from tests.support.images import FakeBuildImages

PROJECT = """\
aws: {region: us-east-1}
tags: {owner: platform-team}
retention: {keep: 3}
share_allowlist: ["111122223333"]
"""
BASE = """\
name: base
layer: base
version: 1.0.0
source: {ssm_parameter: /bakery-demo/al2023}
"""
WEB = """\
name: web
layer: app
version: 2.3.0
source: {recipe: base}
build: {instance_type: t3.small, volume_size: 16}
environment: {APP_ENV: prod}
provision:
  - file: {source: files/nginx.conf, destination: /tmp/nginx.conf}
  - script: scripts/install.sh
    env: {WORKERS: "4"}
  - inline:
      - sudo systemctl enable nginx
distribute:
  regions: [us-west-2]
tags: {app: web}
"""
FILES = {
    "bakery.yaml": PROJECT,
    "recipes/base.yaml": BASE,
    "recipes/web.yaml": WEB,
    "recipes/files/nginx.conf": "worker_processes auto;\n",
    "recipes/scripts/install.sh": "#!/bin/sh\ndnf install -y nginx\n",
}


@dataclass
class World:
    """A project on disk and what lies outside it: the source AMI, base's image, the clock."""

    root: Path
    monkeypatch: pytest.MonkeyPatch
    source_ami: str = "ami-0000000000000base0"  # what base's SSM parameter names
    parent_image: str = "ami-00000000000000web1"  # the image of base that web builds on
    clock: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))

    def edit(self, relative: str, old: str, new: str) -> None:
        path = self.root / relative
        text = path.read_text()
        assert old in text, f"{old!r} not in {relative}"
        path.write_text(text.replace(old, new, 1))

    def move(self, relative: str, to: str) -> None:
        (self.root / to).parent.mkdir(parents=True, exist_ok=True)
        (self.root / relative).rename(self.root / to)

    def edit_template(self, name: str, extra: str) -> None:
        """Render from a copy of templates/ whose file NAME has EXTRA at its end."""
        copy = self.root.parent / "templates"
        if not copy.exists():
            shutil.copytree(build_folder.TEMPLATES_DIR, copy)
        (copy / name).write_text((copy / name).read_text() + extra)
        self.monkeypatch.setattr(build_folder, "TEMPLATES_DIR", copy)
        _forget_templates()

    def measure(self, name: str) -> tuple[str, str]:
        """Plan a bake of NAME, its parent up to date as `parent_image`; its digest and hash."""
        catalog = load_catalog(load_project(self.root))
        images = FakeBuildImages(self.source_ami)
        with SqliteStore(self.root.parent / f"lineage-{id(images)}.db") as store:
            ctx = BakeContext(
                catalog=catalog,
                images=images,
                store=store,
                progress=Progress(io.StringIO()),
                dialect="1.6",
                packer_version="1.6.6",
                git=GitState(None, False),
                clock=lambda: self.clock,
            )
            parent = catalog.recipes[name].parent
            if parent is not None:
                [built] = plan_bake(ctx, [parent], False)
                assert built.facts is not None and built.facts.input_hash is not None
                tags = {"bakery:recipe": parent, "bakery:input-hash": built.facts.input_hash}
                images.settle("us-east-1", self.parent_image, tags)
            planned = {item.decision.recipe: item for item in plan_bake(ctx, [name], False)}
        facts = planned[name].facts
        assert facts is not None and facts.input_hash is not None
        return planned[name].rendered.digest, facts.input_hash


def _forget_templates() -> None:
    build_folder.template_texts.cache_clear()
    build_folder._environment.cache_clear()


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    root = tmp_path / "project"
    for relative, text in FILES.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(textwrap.dedent(text))
    try:
        yield World(root, monkeypatch)
    finally:
        _forget_templates()  # the next test renders from the real templates again


Change = Callable[[World], None]


def set_source_ami(world: World) -> None:
    world.source_ami = "ami-0000000000000base2"


def set_parent_image(world: World) -> None:
    world.parent_image = "ami-00000000000000web2"


def a_year_later(world: World) -> None:
    world.clock += timedelta(days=365)


def retention_in_recipe(world: World) -> None:
    world.edit("recipes/web.yaml", "tags: {app: web}", "tags: {app: web}\nretention: {keep: 9}")


def max_age_days_in_recipe(world: World) -> None:
    world.edit(
        "recipes/web.yaml", "tags: {app: web}", "tags: {app: web}\nretention: {max_age_days: 30}"
    )


def max_age_in_recipe(world: World) -> None:
    world.edit("recipes/web.yaml", "tags: {app: web}", "tags: {app: web}\nmax_age: 30d")


def move_recipe_file(world: World) -> None:
    world.move("recipes/web.yaml", "recipes/apps/web.yaml")
    world.edit("recipes/apps/web.yaml", "source: files/", "source: ../files/")
    world.edit("recipes/apps/web.yaml", "script: scripts/", "script: ../scripts/")


def parent_of_another_name(world: World) -> None:
    world.move("recipes/base.yaml", "recipes/base2.yaml")
    world.edit("recipes/base2.yaml", "name: base", "name: base2")
    world.edit("recipes/web.yaml", "{recipe: base}", "{recipe: base2}")


# id, recipe measured, the change, (content digest moves, input hash moves)
MOVES: list[tuple[str, str, Change, tuple[bool, bool]]] = [
    (
        "script bytes",
        "web",
        lambda w: w.edit("recipes/scripts/install.sh", "nginx", "nginx-1.24"),
        (True, True),
    ),
    (
        "file step bytes",
        "web",
        lambda w: w.edit("recipes/files/nginx.conf", "auto", "4"),
        (True, True),
    ),
    (
        "inline command",
        "web",
        lambda w: w.edit("recipes/web.yaml", "enable nginx", "enable --now nginx"),
        (True, True),
    ),
    (
        "environment value",
        "web",
        lambda w: w.edit("recipes/web.yaml", "APP_ENV: prod", "APP_ENV: staging"),
        (True, True),
    ),
    (
        "step environment value",
        "web",
        lambda w: w.edit("recipes/web.yaml", 'WORKERS: "4"', 'WORKERS: "8"'),
        (True, True),
    ),
    (
        "recipe version",
        "web",
        lambda w: w.edit("recipes/web.yaml", "version: 2.3.0", "version: 2.3.1"),
        (True, True),
    ),
    (
        "instance type",
        "web",
        lambda w: w.edit("recipes/web.yaml", "t3.small", "t3.large"),
        (True, True),
    ),
    (
        "volume size",
        "web",
        lambda w: w.edit("recipes/web.yaml", "volume_size: 16", "volume_size: 32"),
        (True, True),
    ),
    (
        "distribute regions",
        "web",
        lambda w: w.edit("recipes/web.yaml", "[us-west-2]", "[us-west-2, eu-west-1]"),
        (True, True),
    ),
    (
        "recipe tags",
        "web",
        lambda w: w.edit("recipes/web.yaml", "{app: web}", "{app: web, team: edge}"),
        (True, True),
    ),
    (
        "project tags",
        "web",
        lambda w: w.edit("bakery.yaml", "owner: platform-team", "owner: web-team"),
        (True, True),
    ),
    (
        "project build defaults",
        "web",
        lambda w: w.edit("bakery.yaml", "retention:", "defaults: {volume_type: io2}\nretention:"),
        (True, True),
    ),
    (
        "template text",
        "web",
        lambda w: w.edit_template(build_folder.TEMPLATE, "# a changed template\n"),
        (True, True),
    ),
    (
        "hygiene script",
        "web",
        lambda w: w.edit_template(build_folder.HYGIENE_SCRIPT, "# one more check\n"),
        (True, True),
    ),
    ("parent image", "web", set_parent_image, (False, True)),
    ("parent recipe", "web", parent_of_another_name, (True, True)),
    ("source AMI the parameter names", "base", set_source_ami, (False, True)),
    (
        "source parameter",
        "base",
        lambda w: w.edit("recipes/base.yaml", "/bakery-demo/al2023", "/bakery-demo/al2023-arm"),
        (True, True),
    ),
]

# id, recipe measured, a change that must not rebuild the image
KEEPS: list[tuple[str, str, Change]] = [
    ("retention keep", "web", retention_in_recipe),
    ("retention max_age_days", "web", max_age_days_in_recipe),
    ("max_age", "web", max_age_in_recipe),
    (
        "project retention",
        "web",
        lambda w: w.edit("bakery.yaml", "retention: {keep: 3}", "retention: {keep: 10}"),
    ),
    (
        "share allowlist",
        "web",
        lambda w: w.edit("bakery.yaml", '["111122223333"]', '["111122223333", "444455556666"]'),
    ),
    ("the clock", "web", a_year_later),
    ("where the recipe file lies", "web", move_recipe_file),
]


@pytest.mark.parametrize(
    ("name", "change", "moves"),
    [pytest.param(name, change, moves, id=case) for case, name, change, moves in MOVES],
)
def test_each_input_of_an_image_moves_its_input_hash(
    world: World, name: str, change: Change, moves: tuple[bool, bool]
) -> None:
    digest, before = world.measure(name)
    change(world)
    new_digest, after = world.measure(name)
    assert (new_digest != digest, after != before) == moves


@pytest.mark.parametrize(
    ("name", "change"),
    [pytest.param(name, change, id=case) for case, name, change in KEEPS],
)
def test_what_does_not_change_the_image_keeps_its_input_hash(
    world: World, name: str, change: Change
) -> None:
    before = world.measure(name)
    change(world)
    assert world.measure(name) == before


def test_the_template_cases_render_from_the_changed_copy(world: World) -> None:
    # the "template text" case would prove nothing if the copy were not what is rendered
    world.edit_template(build_folder.TEMPLATE, "# a changed template\n")
    catalog = load_catalog(load_project(world.root))
    rendered = build_folder.render(
        catalog.recipes["web"],
        catalog.project.tags,
        "1.6",
        lambda path: (world.root / path).read_bytes(),
    )
    assert rendered.files["web.pkr.hcl"].decode().endswith("# a changed template\n")
