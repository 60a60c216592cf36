"""Every 1.7+ template bakery renders uses only what current Packer accepts.

No Packer 1.7+ runs here: Debian's 1.6.6 checks the 1.6 dialect for real (build_folder_test.py).
The 1.7+ dialect is checked against the upstream spec in tests/fixtures/packer-spec by
tests/support/packer_spec.py: every attribute known with its cty type, every block a block.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from bakery.config.catalog import Catalog, load_catalog
from bakery.config.project import load_project
from bakery.render.build_folder import render
from tests.support.packer_spec import load_spec, template_problems
from tests.support.project import REPO, ProjectFactory

RECIPE_FIXTURES = REPO / "tests" / "fixtures" / "recipes"  # context/ holds what good/ builds on
SAMPLE_PROJECTS = [
    REPO,
    RECIPE_FIXTURES,
    *sorted(path.parent for path in (REPO / "recipes" / "examples").glob("*/bakery.yaml")),
]
GOLDEN_1_7 = sorted((REPO / "tests" / "golden" / "1.7").glob("*.pkr.hcl"))
GOOD_RECIPES = sorted((RECIPE_FIXTURES / "good").glob("*.yaml"))
MODES = pytest.mark.parametrize("local", [False, True], ids=["remote", "local"])

# Recipes the render tests use for their edge cases, each in a project of its own.
HOSTILE = [
    'quote " and \\" escaped',
    "back\\slash\\\\double",
    '${file("/etc/passwd")}',
    "%{ for x in [1] }${x}%{ endfor }",
    "$${already escaped} %%{ too }",
    "unicode: ünïcödé ✓ 日本語 🚀",
]
EDGE_CASES: dict[str, tuple[str, dict[str, str]]] = {
    "injection": (
        "aws: {region: us-east-1}\n",
        {
            "recipes/inject.yaml": json.dumps(
                {
                    "name": "inject",
                    "layer": "base",
                    "version": "1.0.0-rc.1+build.7",
                    "description": HOSTILE[0],
                    "source": {"ami": "ami-12345678"},
                    "environment": {f"V{i}": value for i, value in enumerate(HOSTILE)},
                    "provision": [
                        {"inline": HOSTILE},
                        {"file": {"source": "data.txt", "destination": "/tmp/" + HOSTILE[3]}},
                    ],
                    "tags": {f"t{i}": value for i, value in enumerate(HOSTILE)},
                },
                ensure_ascii=False,
            ),
            "recipes/data.txt": "data\n",
        },
    ),
    "hygiene-skipped": (
        "aws: {region: us-east-1}\n",
        {
            "recipes/b.yaml": """\
            name: b
            layer: base
            version: 1.0.0
            source: {ami: ami-12345678}
            hygiene: {skip: true, reason: "vendor image checks its own keys"}
            """
        },
    ),
    "every-build-key": (
        """\
        aws: {region: us-east-1}
        share_allowlist: ["111122223333"]
        defaults: {volume_type: io2}
        """,
        {
            "recipes/all.yaml": """\
            name: all
            layer: base
            version: 1.0.0
            source: {ami: ami-12345678}
            build:
              instance_type: m7i.large
              ssh_username: ubuntu
              volume_size: 30
              root_device: /dev/sda1
              encrypted: true
              kms_key_id: alias/images
              timeout: 1h30m
              subnet_id: subnet-0123456789abcdef0
              security_group_ids: [sg-0123456789abcdef0, sg-0123456789abcdef1]
              iam_instance_profile: packer-builder
              associate_public_ip_address: false
            distribute:
              regions: [us-west-2, eu-west-1]
              accounts: ["111122223333"]
              kms_key_ids: {us-west-2: alias/images, eu-west-1: alias/images}
            tags: {app: all}
            """,
            "recipes/gp2.yaml": """\
            name: gp2
            layer: base
            version: 1.0.0
            source: {ami: ami-12345678}
            build: {volume_type: gp2, encrypted: false, associate_public_ip_address: true}
            """,
        },
    ),
}


@cache
def catalog_of(root: Path, path: Path | None = None) -> Catalog:
    """The catalog of a project of the repository, `path` its only recipe beside its recipes/."""
    return load_catalog(load_project(root), () if path is None else [path])


def problems_by_recipe(
    catalog: Catalog, local: bool, file: str | None = None
) -> dict[str, list[str]]:
    """Render each recipe of `catalog` (those of `file` if given) in dialect 1.7+; the spec
    problems of each template."""
    project = catalog.project
    found = {}
    for name, recipe in sorted(catalog.recipes.items()):
        if file is not None and recipe.file != file:
            continue
        rendered = render(
            recipe,
            project.tags,
            "1.7+",
            lambda path: (project.root / path).read_bytes(),
            local=local,
        )
        problems = template_problems(rendered.files[rendered.template_name].decode())
        if problems:
            found[name] = problems
    return found


@MODES
@pytest.mark.parametrize(
    "root", SAMPLE_PROJECTS, ids=[str(path.relative_to(REPO)) for path in SAMPLE_PROJECTS]
)
def test_every_sample_recipe_renders_what_current_packer_accepts(root: Path, local: bool) -> None:
    catalog = catalog_of(root)
    assert catalog.recipes
    assert problems_by_recipe(catalog, local) == {}


@pytest.mark.parametrize("golden", GOLDEN_1_7, ids=[path.stem for path in GOLDEN_1_7])
def test_every_golden_template_uses_what_current_packer_accepts(golden: Path) -> None:
    assert template_problems(golden.read_text(encoding="utf-8")) == []


@MODES
@pytest.mark.parametrize("path", GOOD_RECIPES, ids=[path.stem for path in GOOD_RECIPES])
def test_every_good_recipe_fixture_renders_what_current_packer_accepts(
    path: Path, local: bool
) -> None:
    file = path.relative_to(RECIPE_FIXTURES).as_posix()
    catalog = catalog_of(RECIPE_FIXTURES, path)
    assert any(recipe.file == file for recipe in catalog.recipes.values())
    assert problems_by_recipe(catalog, local, file) == {}


@MODES
@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_edge_case_recipes_render_what_current_packer_accepts(
    make_project: ProjectFactory, case: str, local: bool
) -> None:
    project, files = EDGE_CASES[case]
    catalog = load_catalog(load_project(make_project(files, project)))
    assert problems_by_recipe(catalog, local) == {}


# The checker itself, on small templates.
VARIABLES = """\
variable "text" {
  type = string
}
variable "count" {
  type = number
}
"""


def source(body: str) -> str:
    return VARIABLES + 'source "amazon-ebs" "x" {\n' + textwrap.indent(body, "  ") + "}\n"


def provisioner(kind: str, body: str) -> str:
    return 'build {\n  provisioner "' + kind + '" {\n' + textwrap.indent(body, "    ") + "  }\n}\n"


def test_the_checker_accepts_what_packer_accepts() -> None:
    text = source(
        """\
        ami_name      = var.text
        ami_regions   = ["us-west-2", var.text]
        encrypt_boot  = true
        tags          = { "Name" = "${var.text}-x", "n" = var.text }
        launch_block_device_mappings {
          device_name = "/dev/xvda"
          volume_size = var.count
        }
        launch_block_device_mappings {
          device_name = "/dev/xvdb"
        }
        metadata_options {
          http_tokens = "required"
        }
        run_volume_tag {
          name  = "a"
          value = "b"
        }
        """
    ) + provisioner("shell-local", 'inline = ["true"]\npause_before = "10s"\nmax_retries = 2\n')
    assert template_problems(text) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(
            source('ami_nmae = "x"\n'),
            "source.amazon-ebs.x.ami_nmae: unknown attribute",
            id="unknown-attribute",
        ),
        pytest.param(
            source('launch_block_device_mappings {\n  iops = "3000"\n}\n'),
            'source.amazon-ebs.x.launch_block_device_mappings[0].iops: a string ("3000"); '
            "cty.Number wanted",
            id="string-for-number",
        ),
        pytest.param(
            source("encrypt_boot = var.text\n"),
            "source.amazon-ebs.x.encrypt_boot: var.text is cty.String where cty.Bool is wanted",
            id="string-variable-for-bool",
        ),
        pytest.param(
            source('ami_regions = { a = "us-west-2" }\n'),
            "source.amazon-ebs.x.ami_regions: a map/object; cty.List(cty.String) wanted",
            id="map-for-list",
        ),
        pytest.param(
            source('tags = { "n" = 1 }\n'),
            'source.amazon-ebs.x.tags["n"]: a number (1); cty.String wanted',
            id="number-in-a-map-of-strings",
        ),
        pytest.param(
            source('metadata_options = { http_tokens = "required" }\n'),
            "source.amazon-ebs.x.metadata_options: a block written as an attribute; "
            "Packer wants `metadata_options { }`",
            id="block-as-attribute",
        ),
        pytest.param(
            source('launch_block_device_mappings = [{ device_name = "/dev/xvda" }]\n'),
            "source.amazon-ebs.x.launch_block_device_mappings: a block written as an attribute; "
            "Packer wants `launch_block_device_mappings { }`",
            id="block-list-as-attribute",
        ),
        pytest.param(
            source('tags {\n  Name = "x"\n}\n'),
            "source.amazon-ebs.x.tags: an attribute written as a block; Packer wants `tags = ...`",
            id="attribute-as-block",
        ),
        pytest.param(
            source('placement {\n  tenancy = "a"\n}\nplacement {\n  tenancy = "b"\n}\n'),
            "source.amazon-ebs.x.placement: a block Packer takes once is written 2 times",
            id="single-block-repeated",
        ),
        pytest.param(
            provisioner("shell", "script = local.missing\n"),
            "build.provisioner.shell.script: local.missing is not declared",
            id="undeclared-local",
        ),
        pytest.param(
            provisioner("file", 'content = "x"\ninline = ["true"]\n'),
            "build.provisioner.file.inline: unknown attribute",
            id="attribute-of-another-provisioner",
        ),
        pytest.param(
            provisioner("ansible", 'playbook_file = "x.yml"\n'),
            "build.provisioner.ansible: no spec of provisioner 'ansible' here; "
            "the check cannot vouch for it",
            id="provisioner-without-spec",
        ),
        pytest.param(
            'build {\n  sources = ["source.amazon-ebs.nowhere"]\n}\n',
            'build.sources[0]: names no source block of the file: "source.amazon-ebs.nowhere"',
            id="sources-names-no-source",
        ),
        pytest.param(
            'variable "v" {\n  type = "string"\n}\n',
            'variable.v.type: a string ("string"); type wanted',
            id="quoted-variable-type",
        ),
    ],
)
def test_the_checker_finds_what_packer_refuses(text: str, problem: str) -> None:
    assert template_problems(text) == [problem]


def test_the_spec_fixtures_fill_every_nested_block() -> None:
    def empty_blocks(spec: Mapping[str, Mapping[str, Any]], path: str) -> list[str]:
        found: list[str] = []
        for name, entry in spec.items():
            nested = entry.get("block")
            if isinstance(nested, dict):
                found += empty_blocks(nested, f"{path}{name}.") if nested else [path + name]
        return found

    spec = load_spec()
    assert {kind: empty_blocks(plugin, "") for kind, plugin in spec.plugins.items()} == {
        kind: [] for kind in spec.plugins
    }
    assert set(spec.plugins) == {
        "amazon-ebs",
        "provisioner.shell",
        "provisioner.file",
        "provisioner.shell-local",
        "post-processor.manifest",
    }
