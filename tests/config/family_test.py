"""Recipe families as the catalog loads them (bakery.config.family, bakery.config.catalog):
instances, values and their precedence, conditions, parents, names, and what they hash to."""

from __future__ import annotations

from pathlib import Path

import pytest

from bakery.config.catalog import Catalog, given_values, load_catalog
from bakery.config.project import load_project
from bakery.errors import BakeryError, InvalidInputError
from bakery.render.build_folder import ami_name, render
from tests.support.project import ProjectFactory

PROJECT = """\
aws: {region: us-east-1}
parameters:
  k8s: {pattern: '1\\.[0-9]{2}', default: "1.33", description: Kubernetes version}
"""

BASE = """\
name: base
layer: base
version: 1.0.0
matrix:
  arch: [x86_64, arm64]
source:
  ssm_parameter: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-((arch))
variants:
  overrides:
    - when: {arch: arm64}
      build: {instance_type: t4g.small}
"""

NODE = """\
name: node
layer: app
version: 2.0.0
parameters:
  disk: {type: integer, default: 20, minimum: 8}
matrix:
  arch: [x86_64, arm64]
  accel: [standard, nvidia]
ami_name: "node-al2023-((arch))-((accel))-((k8s))-v((build_time:%Y%m%d%H%M%S))"
source: {recipe: base}
build: {volume_size: ((disk))}
provision:
  - script: ../scripts/gpu.sh
    when: {accel: nvidia}
    env: {K8S: ((k8s))}
  - script: ../scripts/gpu.sh
tags: {k8s: "((k8s))", source: "((source_ami_id))"}
"""

SCRIPT = "#!/bin/bash\nset -euo pipefail\necho ok\n"


def family(make_project: ProjectFactory, node: str = NODE, project: str = PROJECT) -> Path:
    return make_project(
        {
            "recipes/base/base.yaml": BASE,
            "recipes/apps/node.yaml": node,
            "recipes/scripts/gpu.sh": SCRIPT,
        },
        project,
    )


def catalog_of(
    root: Path, *var: str, var_files: tuple[Path, ...] = (), environ: dict[str, str] | None = None
) -> Catalog:
    project = load_project(root)
    return load_catalog(project, given=given_values(project, var_files, var, environ or {}))


def problems_of(root: Path, *var: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(InvalidInputError) as caught:
        catalog_of(root, *var, environ=environ)
    return [str(problem) for problem in caught.value.problems]


def test_a_matrix_makes_one_recipe_per_combination_each_on_its_parent(
    make_project: ProjectFactory,
) -> None:
    catalog = catalog_of(family(make_project))
    assert sorted(catalog.recipes) == [
        "base-arm64",
        "base-x86_64",
        "node-arm64-nvidia",
        "node-arm64-standard",
        "node-x86_64-nvidia",
        "node-x86_64-standard",
    ]
    assert catalog.families == {
        "base": ["base-x86_64", "base-arm64"],
        "node": [
            "node-x86_64-standard",
            "node-x86_64-nvidia",
            "node-arm64-standard",
            "node-arm64-nvidia",
        ],
    }
    arm = catalog.recipes["node-arm64-nvidia"]
    assert arm.parent == "base-arm64"
    assert dict(arm.parameters) == {"arch": "arm64", "accel": "nvidia", "disk": "20", "k8s": "1.33"}
    assert catalog.recipes["base-arm64"].build.instance_type == "t4g.small"
    assert catalog.recipes["base-x86_64"].build.instance_type == "t3.micro"
    assert catalog.recipes["base-arm64"].source.value.endswith("-default-arm64")
    assert arm.build.volume_size == 20
    # The nvidia step is in the nvidia instances only, with the parameter in its environment.
    assert len(arm.provision) == 2 and len(catalog.recipes["node-arm64-standard"].provision) == 1
    assert dict(arm.provision[0].env) == {"K8S": "1.33"}  # type: ignore[union-attr]
    assert catalog.graph.waves() == [
        ["base-arm64", "base-x86_64"],
        ["node-arm64-nvidia", "node-arm64-standard", "node-x86_64-nvidia", "node-x86_64-standard"],
    ]


def test_names_on_the_command_line_select_instances(make_project: ProjectFactory) -> None:
    catalog = catalog_of(family(make_project))
    assert catalog.select(["node[arch=arm64]"]) == ["node-arm64-nvidia", "node-arm64-standard"]
    assert catalog.select(["node[arch=arm64,accel=nvidia]", "base"]) == [
        "base-arm64",
        "base-x86_64",
        "node-arm64-nvidia",
    ]
    assert catalog.select(["node-x86_64-nvidia"]) == ["node-x86_64-nvidia"]
    with pytest.raises(BakeryError, match="no instance of node has those values"):
        catalog.select(["node[arch=sparc]"])
    with pytest.raises(BakeryError, match="node has no parameter gpu"):
        catalog.select(["node[gpu=true]"])
    with pytest.raises(BakeryError, match="node is a family; name one of its instances"):
        catalog.get("node")


def test_values_take_precedence_var_over_environment_over_var_files_over_defaults(
    make_project: ProjectFactory,
) -> None:
    root = family(make_project, project=PROJECT + "var_files: [vars/a.yaml]\n")
    (root / "vars").mkdir()
    (root / "vars" / "a.yaml").write_text("k8s: '1.30'\n")
    later = root / "b.yaml"
    later.write_text("k8s: '1.31'\n")

    def k8s(
        *var: str, var_files: tuple[Path, ...] = (), environ: dict[str, str] | None = None
    ) -> str:
        catalog = catalog_of(root, *var, var_files=var_files, environ=environ)
        return catalog.recipes["node-arm64-nvidia"].parameters["k8s"]

    assert k8s() == "1.30"
    assert k8s(var_files=(later,)) == "1.31"
    assert k8s(var_files=(later,), environ={"BAKERY_VAR_k8s": "1.32"}) == "1.32"
    assert k8s("k8s=1.34", var_files=(later,), environ={"BAKERY_VAR_k8s": "1.32"}) == "1.34"


def test_wrong_values_are_errors_where_they_are_written_or_used(
    make_project: ProjectFactory,
) -> None:
    root = family(make_project, project=PROJECT + "var_files: [vars.yaml]\n")
    (root / "vars.yaml").write_text("# shared\nk8s: '1.3x'\n")
    assert problems_of(root) == [
        "vars.yaml:2:6: E6004 k8s: k8s must match 1\\.[0-9]{2}, not 1.3x",
    ]
    (root / "vars.yaml").write_text("k8s: '1.33'\n")
    assert problems_of(root, "disk=4") == [
        "recipes/apps/node.yaml:11:9: E6004 build.volume_size: --var disk=4: disk is at least 8, "
        "not 4",
    ]
    assert problems_of(root, "arch=arm64")[:1] == [
        "recipes/apps/node.yaml:7:3: E6007 matrix.arch: arch is a matrix parameter, yet --var "
        "arch=arm64 gives it a value; choose instances with 'node[arch=VALUE]' instead",
    ]
    assert problems_of(root, "k9s=1") == [
        "bakery.yaml:1:1: E6002 k9s: --var k9s=1: no recipe or bakery.yaml declares a parameter "
        "k9s; did you mean k8s?",
    ]


def test_a_substituted_value_is_validated_like_a_literal_and_names_its_instance(
    make_project: ProjectFactory,
) -> None:
    node = NODE.replace(
        "build: {volume_size: ((disk))}", "build: {volume_size: ((disk)), instance_type: ((itype))}"
    )
    node = node.replace("parameters:\n", "parameters:\n  itype: {default: t3.small}\n")
    root = family(make_project, node=node)
    # Every instance has it: said once. Only some have it: each named.
    assert problems_of(root, "itype=t3 small") == [
        "recipes/apps/node.yaml:12:32: E1005 build.instance_type: 't3 small' does not match "
        "\\A[a-z][a-z0-9-]*\\.[a-z0-9]+\\Z",
    ]
    arm = node.replace(
        "      build: {instance_type: t4g.small}", "      build: {instance_type: 't4g small'}"
    )
    (root / "recipes/apps/node.yaml").write_text(arm.replace("matrix:\n", "matrix:\n", 1))
    base = BASE.replace("t4g.small", "'t4g small'")
    (root / "recipes/base/base.yaml").write_text(base)
    found = problems_of(root)
    assert found == [
        "recipes/base/base.yaml:11:15: E1005 build.instance_type: 't4g small' does not match "
        "\\A[a-z][a-z0-9-]*\\.[a-z0-9]+\\Z",
    ]


def test_a_parameter_change_changes_the_hash_of_exactly_the_instances_that_use_it(
    make_project: ProjectFactory,
) -> None:
    node = NODE.replace("    env: {K8S: ((k8s))}\n", "").replace('k8s: "((k8s))", ', "")
    node = node.replace("-((k8s))-v", "-v")
    root = family(make_project, node=node)
    # Only the nvidia instances use `gpu_driver`, in the step they alone have.
    node = node.replace("parameters:\n", "parameters:\n  gpu_driver: {default: '550'}\n")
    node = node.replace(
        "    when: {accel: nvidia}\n",
        "    when: {accel: nvidia}\n    env: {DRIVER: ((gpu_driver))}\n",
    )
    (root / "recipes/apps/node.yaml").write_text(node)

    def digests(*var: str) -> dict[str, str]:
        catalog = catalog_of(root, *var)
        return {
            name: render(recipe, {}, "1.6", lambda path: (root / path).read_bytes()).digest
            for name, recipe in catalog.recipes.items()
        }

    before, after = digests(), digests("gpu_driver=560")
    changed = sorted(name for name in before if before[name] != after[name])
    assert changed == ["node-arm64-nvidia", "node-x86_64-nvidia"]
    # A project parameter no recipe uses now changes nothing.
    assert digests("k8s=1.34") == before


def test_a_family_parent_needs_the_values_that_pick_its_instance(
    make_project: ProjectFactory,
) -> None:
    lone = "name: lone\nlayer: app\nversion: 1.0.0\nsource: {recipe: base}\n"
    root = family(make_project)
    (root / "recipes/apps/lone.yaml").write_text(lone)
    assert problems_of(root) == [
        "recipes/apps/lone.yaml:4:10: E6010 source.recipe: base is a family of 2 instances told "
        "apart by arch; this recipe has no value of arch: name one (base[arch=...]) or give this "
        "recipe the parameter",
    ]
    (root / "recipes/apps/lone.yaml").write_text(
        lone.replace("{recipe: base}", "{recipe: 'base[arch=arm64]'}")
    )
    assert catalog_of(root).recipes["lone"].parent == "base-arm64"
    (root / "recipes/apps/lone.yaml").write_text(
        lone.replace("{recipe: base}", "{recipe: base-x86_64}")
    )
    assert catalog_of(root).recipes["lone"].parent == "base-x86_64"


def test_ami_names_follow_the_template_and_must_differ_per_build(
    make_project: ProjectFactory,
) -> None:
    from datetime import UTC, datetime

    root = family(make_project)
    recipe = catalog_of(root, "k8s=1.32").recipes["node-x86_64-nvidia"]
    moment = datetime(2026, 7, 23, 10, 0, 5, tzinfo=UTC)
    assert ami_name(recipe, moment, "01ABC") == "node-al2023-x86_64-nvidia-1.32-v20260723100005"
    (root / "recipes/apps/node.yaml").write_text(NODE.replace("%Y%m%d%H%M%S", "%Y%m%d"))
    assert set(problems_of(root)) == {
        "recipes/apps/node.yaml:9:1: E6009 ami_name: two builds could make the same name; add "
        "((timestamp)), ((build_id)) or ((build_time:FORMAT)) with %S",
    }
    (root / "recipes/apps/node.yaml").write_text(NODE.replace("node-al2023-", "n" * 100 + "-"))
    assert "E2013 ami_name" in problems_of(root)[0]


def test_references_stand_only_where_they_may(make_project: ProjectFactory) -> None:
    node = NODE.replace("version: 2.0.0\n", "version: 2.0.0\ndescription: built ((build_id))\n")
    node = node.replace("provision:\n", "provision:\n  - inline: ['echo ((k8s))']\n")
    root = family(make_project, node=node)
    found = problems_of(root)
    assert found == [
        "recipes/apps/node.yaml:4:1: E6003 description: ((build_id)) is known only when a build "
        "runs; it stands in ami_name and tag values",
        "recipes/apps/node.yaml:14:14: W6002 provision[0].inline[0]: ((k8s)) is shell arithmetic "
        "here, not substituted; pass k8s through env: and use $K8S",
    ]
    (root / "recipes/apps/node.yaml").write_text(
        node.replace("description: built ((build_id))\n", "")
    )
    warnings = [str(problem) for problem in catalog_of(root).warnings]
    assert warnings == [
        "recipes/apps/node.yaml:13:14: W6002 provision[0].inline[0]: ((k8s)) is shell arithmetic "
        "here, not substituted; pass k8s through env: and use $K8S",
    ]


def test_instances_that_would_share_a_name_are_refused(make_project: ProjectFactory) -> None:
    node = NODE.replace("ami_name:", 'variants: {name: "node-((arch))"}\nami_name:')
    found = problems_of(family(make_project, node=node))
    assert found[0].startswith("recipes/apps/node.yaml:9:12: E6007 variants.name: instances ")
    assert "are both named node-" in found[0]
    assert found[0].endswith("; put every matrix parameter in variants.name")


def test_include_adds_and_exclude_removes_instances(make_project: ProjectFactory) -> None:
    node = NODE.replace(
        "  accel: [standard, nvidia]\n",
        "  accel: [standard, nvidia]\n  exclude: [{arch: arm64, accel: nvidia}]\n"
        "  include: [{arch: x86_64, accel: neuron}]\n",
    )
    catalog = catalog_of(family(make_project, node=node))
    assert catalog.families["node"] == [
        "node-x86_64-standard",
        "node-x86_64-nvidia",
        "node-arm64-standard",
        "node-x86_64-neuron",
    ]


@pytest.mark.parametrize(
    "value",
    [
        "x\ny",
        "x\n",
        "a\x1b[31mred",
        "a\u202eb",
        "a\u2028b",
        "{{ env `AWS_SECRET_ACCESS_KEY` }}",
        "((k8s))",
        "$(curl evil)",
        '${file("/etc/passwd")}',
        "%{ for x in y }x%{ endfor }",
        'a"; rm -rf / #',
        "a\\b",
        "x" * 300,
    ],
)
@pytest.mark.parametrize(
    "field",
    [
        "description: '{value}'",
        "tags: {{k: '{value}'}}",
        "environment: {{V: '{value}'}}",
        "build: {{instance_type: '{value}'}}",
        "provision: [{{file: {{source: ../scripts/gpu.sh, destination: '{value}'}}}}]",
    ],
)
def test_a_value_through_a_parameter_is_refused_or_rendered_exactly_as_the_literal(
    make_project: ProjectFactory, value: str, field: str
) -> None:
    """The hostile strings of tests/fixtures/hostile, through `--var` and as literals."""

    def outcome(text: str, *var: str) -> object:
        recipe = (
            "name: app\nlayer: app\nversion: 1.0.0\nparameters:\n  p: {default: x}\n"
            "source: {recipe: 'base[arch=x86_64]'}\n" + text + "\n"
        )
        root = family(make_project)
        (root / "recipes/apps/node.yaml").unlink()
        (root / "recipes/apps/app.yaml").write_text(recipe)
        try:
            catalog = catalog_of(root, *var)
        except InvalidInputError:
            return "refused"
        app = catalog.recipes["app"]
        rendered = render(app, {}, "1.6", lambda path: (root / path).read_bytes())
        # Alike but for the tag that records the parameter values.
        return {
            name: b"\n".join(line for line in data.split(b"\n") if b"bakery:parameters" not in line)
            for name, data in rendered.files.items()
        }

    yaml_literal = value.replace("'", "''")
    literal = outcome(field.format(value=yaml_literal))
    through = outcome(field.format(value="((p))"), f"p={value}")
    if through == "refused":
        # A value a literal could not hold is refused; one a literal could hold may be refused
        # too (a parameter's value is never a template, and at most 256 characters).
        return
    assert literal != "refused", "a parameter smuggled what a literal could not"
    assert through == literal
