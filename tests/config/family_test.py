"""Recipe families as the catalog loads them (bakery.config.family, bakery.config.catalog):
instances, values and their precedence, conditions, parents, names, and what they hash to."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bakery.config.catalog import Catalog, given_values, load_catalog
from bakery.config.project import load_project
from bakery.errors import BakeryError, InvalidInputError
from bakery.render.build_folder import ami_name, render
from tests.support.project import ProjectFactory, call_bakery

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
        "((timestamp)), ((build_id)) or ((build_time:FORMAT)) naming the year, day, hour, minute "
        "and second (e.g. %Y%m%d%H%M%S)",
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


# The hardening of b018786, one test per fix.


def lone_app(make_project: ProjectFactory, text: str) -> Path:
    """A project of `base` and a plain recipe `app` declaring `p`, with `text` added to it."""
    root = family(make_project)
    (root / "recipes/apps/node.yaml").unlink()
    (root / "recipes/apps/app.yaml").write_text(
        "name: app\nlayer: app\nversion: 1.0.0\nparameters:\n  p: {default: x}\n"
        "source: {recipe: 'base[arch=x86_64]'}\n" + text + "\n"
    )
    return root


@pytest.mark.parametrize(
    "env",
    ["GITHUB_TOKEN", "MY_API_KEY", "DB_PASSWORD", "HTTP_AUTH", "AWS_REGION", "ACTIONS_ID_TOKEN_URL",
     "CI_JOB_JWT", "RUNNER_TEMP"],
)  # fmt: skip
def test_env_may_not_name_a_credential_or_a_ci_runner_variable(
    make_project: ProjectFactory, env: str
) -> None:
    node = NODE.replace("parameters:\n", f"parameters:\n  tok: {{default: x, env: {env}}}\n")
    assert problems_of(family(make_project, node=node)) == [
        f"recipes/apps/node.yaml:5:21: E6006 parameters.tok.env: {env} looks like a credential or "
        "a CI runner's variable; a recipe may not read it. Pass a value with --var or "
        "BAKERY_VAR_<name> instead",
    ]
    # Other variables may still set a parameter.
    node = NODE.replace("parameters:\n", "parameters:\n  tok: {default: x, env: K8S_VERSION}\n")
    assert "node-x86_64-nvidia" in catalog_of(family(make_project, node=node)).recipes


def test_a_value_from_the_environment_is_never_shown_in_a_message(
    make_project: ProjectFactory,
) -> None:
    secret = "s3cr3t-from-the-runner"
    node = NODE.replace("minimum: 8}", "minimum: 8, env: DISK_GB}")
    node = node.replace("parameters:\n", "parameters:\n  flavour: {allowed: [vanilla, mint]}\n")
    root = family(make_project, node=node)
    # `disk` is used, `flavour` is not: both are checked, neither value is shown.
    found = problems_of(root, environ={"DISK_GB": secret, "BAKERY_VAR_flavour": secret})
    assert found == [
        "recipes/apps/node.yaml:5:3: E6004 flavour: environment variable BAKERY_VAR_flavour: its "
        "value does not fit flavour (not shown: from the environment)",
        "recipes/apps/node.yaml:12:9: E6004 build.volume_size: environment variable DISK_GB: its "
        "value does not fit the declaration of disk (recipes/apps/node.yaml:6:3); the value is "
        "not shown: it comes from the environment",
    ]
    assert not any(secret in problem for problem in found)
    # A value given with --var is the user's own: it is shown.
    assert problems_of(root, f"disk={secret}", "flavour=mint") == [
        f"recipes/apps/node.yaml:12:9: E6004 build.volume_size: --var disk={secret}: disk is a "
        f"whole number, not {secret}",
    ]


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("a?b?c?d?e?", "the pattern has more than 4 repetitions of varying length (*, +, ?, "
         "{m,n}), which can take very long to match; simplify it"),
        ("(a+)+", "the pattern repeats a repetition or refers back to a group, which can take "
         "exponential time; write it without (e.g. [0-9]+ not ([0-9]+)+)"),
        ("(a|ab)*", "the pattern repeats a repetition or refers back to a group, which can take "
         "exponential time; write it without (e.g. [0-9]+ not ([0-9]+)+)"),
        ("(a)\\1", "the pattern repeats a repetition or refers back to a group, which can take "
         "exponential time; write it without (e.g. [0-9]+ not ([0-9]+)+)"),
    ],
)  # fmt: skip
def test_a_pattern_that_can_take_very_long_to_match_is_refused_where_it_is_declared(
    make_project: ProjectFactory, pattern: str, why: str
) -> None:
    declared = f"  v: {{default: a, pattern: '{pattern}'}}\n"
    node = NODE.replace("parameters:\n", "parameters:\n" + declared)
    assert problems_of(family(make_project, node=node)) == [
        f"recipes/apps/node.yaml:5:19: E6006 parameters.v.pattern: {why}"
    ]


def test_a_matrix_too_large_is_refused_before_it_is_made(make_project: ProjectFactory) -> None:
    values = "[" + ", ".join(f"v{n}" for n in range(12)) + "]"
    node = NODE.replace("  accel: [standard, nvidia]\n", f"  accel: {values}\n  os: {values}\n")
    assert problems_of(family(make_project, node=node)) == [
        "recipes/apps/node.yaml:6:1: E6007 matrix: the matrix makes up to 288 instances; at most "
        "256",
    ]
    # As large as the schema lets a matrix be: made, it would never end.
    values = "[" + ", ".join(f"v{n}" for n in range(64)) + "]"
    keys = "".join(f"  k{n}: {values}\n" for n in range(10))
    node = NODE.replace("  arch: [x86_64, arm64]\n  accel: [standard, nvidia]\n", keys)
    assert problems_of(family(make_project, node=node)) == [
        f"recipes/apps/node.yaml:6:1: E6007 matrix: the matrix makes up to {64**10} instances; "
        "at most 256",
    ]


@pytest.mark.parametrize("when", ["nvidia", "[accel, nvidia]", "'accel == nvidia'"])
def test_a_step_when_that_is_not_a_mapping_is_refused_not_applied_everywhere(
    make_project: ProjectFactory, when: str
) -> None:
    node = NODE.replace("    when: {accel: nvidia}\n", f"    when: {when}\n")
    kind = "a list" if when.startswith("[") else "a string"
    assert problems_of(family(make_project, node=node)) == [
        f"recipes/apps/node.yaml:14:5: E1003 provision[0].when: must be a mapping, not {kind}",
    ]


def test_a_family_parent_is_matched_on_its_matrix_keys_even_one_of_a_single_value(
    make_project: ProjectFactory,
) -> None:
    root = family(make_project)
    # base is made for x86_64 alone: node's arm64 instances have no parent to build on.
    base = "\n".join(BASE.splitlines()[:7]).replace("[x86_64, arm64]", "[x86_64]") + "\n"
    (root / "recipes/base/base.yaml").write_text(base)
    assert problems_of(root) == [
        "recipes/apps/node.yaml:10:10: E6010 source.recipe: no instance of base has arch=arm64; "
        "name one or add it to its matrix",
    ]
    (root / "recipes/apps/node.yaml").write_text(NODE.replace("[x86_64, arm64]", "[x86_64]"))
    catalog = catalog_of(root)
    assert {catalog.recipes[name].parent for name in catalog.families["node"]} == {"base-x86_64"}


def test_a_recipe_or_instance_named_like_a_family_is_a_duplicate_name(
    make_project: ProjectFactory,
) -> None:
    root = family(make_project)
    plain = "name: node\nlayer: app\nversion: 1.0.0\nsource: {recipe: 'base[arch=x86_64]'}\n"
    (root / "recipes/apps/plain.yaml").write_text(plain)
    assert problems_of(root) == [
        "recipes/apps/plain.yaml:1:1: E4001 name: node is also the name of a family of instances; "
        "names must be unique",
    ]
    (root / "recipes/apps/plain.yaml").unlink()
    web = "name: web\nlayer: app\nversion: 1.0.0\nsource: {recipe: base}\n"
    (root / "recipes/apps/web.yaml").write_text(
        web + "matrix: {arch: [x86_64]}\nvariants: {name: node}\n"
    )
    found = problems_of(root)
    assert len(found) == 1
    assert found[0].startswith("recipes/apps/web.yaml:")
    assert found[0].endswith(
        " E4001 variants.name: node is also the name of a family of instances; names must be unique"
    )


def test_instances_whose_images_would_be_named_alike_in_one_wave_are_refused(
    make_project: ProjectFactory,
) -> None:
    # Without ((accel)), node's standard and nvidia instances build together under one name.
    without_accel = NODE.replace("-((accel))-", "-")
    assert problems_of(family(make_project, node=without_accel)) == [
        f"recipes/apps/node.yaml:9:1: E6009 ami_name: instances node-{arch}-standard and "
        f"node-{arch}-nvidia would name their images alike when built together; put ((instance)) "
        "or every matrix parameter in ami_name"
        for arch in ("arm64", "x86_64")
    ]
    for unique in ("-((instance))-", "-((build_id))-"):
        catalog = catalog_of(family(make_project, node=NODE.replace("-((accel))-", unique)))
        assert len(catalog.families["node"]) == 4


@pytest.mark.parametrize(
    ("fmt", "unique"),
    [
        ("%Y%m%d%H%M%S", True),
        ("%y%j%H%M%S", True),
        ("%Y%m%d%H%M", False),  # no seconds
        ("%m%d%H%M%S", False),  # no year: the same every year
        ("%Y%d%H%M%S", False),  # no month
        ("%H%M%S", False),  # the same every day
    ],
)
def test_an_ami_name_build_time_must_name_the_moment_down_to_the_second(
    make_project: ProjectFactory, fmt: str, unique: bool
) -> None:
    root = family(make_project, node=NODE.replace("%Y%m%d%H%M%S", fmt))
    if unique:
        assert len(catalog_of(root).families["node"]) == 4
    else:
        assert problems_of(root) == [
            "recipes/apps/node.yaml:9:1: E6009 ami_name: two builds could make the same name; add "
            "((timestamp)), ((build_id)) or ((build_time:FORMAT)) naming the year, day, hour, "
            "minute and second (e.g. %Y%m%d%H%M%S)",
        ]


@pytest.mark.parametrize(
    "tag",
    [
        "((p))(build_id))",
        "((p))((build_id))",
    ],
)
def test_a_value_may_not_complete_a_reference(make_project: ProjectFactory, tag: str) -> None:
    root = lone_app(make_project, f"tags: {{k: '{tag}'}}")
    assert catalog_of(root).recipes["app"].tags["k"] == tag.replace("((p))", "x")
    # x( and (build_id)) would make ((build_id)): the build would fill in text a value wrote.
    found = problems_of(root, "p=x(")
    assert found == [
        "recipes/apps/app.yaml:7:8: E6004 tags.k: with its values this text holds (( that is not "
        "a reference of its own; a value may not complete a reference",
    ]


def test_a_selector_naming_a_key_twice_is_refused(make_project: ProjectFactory) -> None:
    root = family(make_project)
    done = call_bakery(root, "render", "node[arch=x86_64,arch=arm64]", check=False)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "bakery: error: node[arch=x86_64,arch=arm64]: arch is named twice\n"
    assert not (root / "build").exists()
    (root / "recipes/apps/lone.yaml").write_text(
        "name: lone\nlayer: app\nversion: 1.0.0\nsource: {recipe: 'base[arch=x86_64,arch=arm64]'}\n"
    )
    assert problems_of(root) == [
        "recipes/apps/lone.yaml:4:10: E6010 source.recipe: base[arch=x86_64,arch=arm64]: arch is "
        "named twice",
    ]


def test_a_value_for_a_parameter_nothing_uses_is_still_checked(
    make_project: ProjectFactory,
) -> None:
    node = NODE.replace("parameters:\n", "parameters:\n  flavour: {allowed: [vanilla, mint]}\n")
    root = family(make_project, node=node, project=PROJECT + "var_files: [vars.yaml]\n")
    (root / "vars.yaml").write_text("flavour: mint\n")
    assert "node-arm64-nvidia" in catalog_of(root, "flavour=vanilla").recipes
    assert problems_of(root, "flavour=chocolate") == [
        "recipes/apps/node.yaml:5:3: E6004 flavour: --var flavour=chocolate: flavour is one of "
        "vanilla, mint, not chocolate",
    ]
    (root / "vars.yaml").write_text("# shared\nflavour: chocolate\n")
    assert problems_of(root) == [
        "vars.yaml:2:10: E6004 flavour: flavour is one of vanilla, mint, not chocolate",
    ]


def test_the_var_files_of_bakery_yaml_are_scanned_for_secrets(
    make_project: ProjectFactory,
) -> None:
    key_id = "AKIA" + "IOSFODNN7EXAMPLE"
    node = NODE.replace("parameters:\n", "parameters:\n  note: {default: x}\n")
    root = family(make_project, node=node, project=PROJECT + "var_files: [vars.yaml]\n")
    (root / "vars.yaml").write_text(f"k8s: '1.33'\nnote: {key_id}\n")
    finding = (
        "vars.yaml:2:7: E5001 note: possible secret: an AWS access key id (finding "
        "ea7a6cf41410ee99); remove it (fetch it at boot from SSM Parameter Store or Secrets "
        "Manager), end the line with '# bakery: allow-secret', or allow it in bakery.yaml "
        "secrets.allow"
    )
    assert problems_of(root) == [finding]
    # Also when only some recipes are checked: the values reach every recipe.
    project = load_project(root)
    with pytest.raises(InvalidInputError) as caught:
        load_catalog(project, [root / "recipes/base/base.yaml"], given_values(project))
    assert [str(problem) for problem in caught.value.problems] == [finding]


@contextlib.contextmanager
def fed(fifo: Path, text: str) -> Iterator[None]:
    """Write `text` to `fifo` should anything open it to read: a read then ends, not waits."""
    stop = threading.Event()

    def feed() -> None:
        while not stop.is_set():
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # fails while no one reads
            except OSError:
                stop.wait(0.02)
                continue
            with os.fdopen(fd, "w") as pipe:
                pipe.write(text)
            return

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        yield
    finally:
        stop.set()
        feeder.join()


def test_a_var_file_that_is_a_fifo_is_refused_before_it_is_opened(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    root = family(make_project, project=PROJECT + "var_files: [vars.yaml]\n")
    os.mkfifo(root / "vars.yaml")
    with fed(root / "vars.yaml", "k8s: '1.30'\n"), pytest.raises(BakeryError) as caught:
        catalog_of(root)
    assert str(caught.value) == "var file vars.yaml: not a regular file; name a file"
    (root / "vars.yaml").unlink()
    (root / "vars.yaml").write_text("k8s: '1.33'\n")
    given = tmp_path / "given.yaml"
    os.mkfifo(given)
    with fed(given, "k8s: '1.30'\n"), pytest.raises(BakeryError) as caught:
        catalog_of(root, var_files=(given,))
    assert str(caught.value) == f"var file {given}: not a regular file; name a file"


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("  arch: [x86_64, arm64]\n  accel", "  arch: [1.5, arm64]\n  accel",
         "7:10: E1003 matrix.arch[0]: must be a string or an integer or true or false, not a "
         "number"),
        ("  arch: [x86_64, arm64]\n  accel", "  arch: [null]\n  accel",
         "7:10: E1003 matrix.arch[0]: must be a string or an integer or true or false, not empty"),
        ("default: 20,", "default: null,",
         "5:25: E1003 parameters.disk.default: must be a string or an integer or true or false, "
         "not empty"),
        ("default: 20,", "default: 20, allowed: [2.5],",
         "5:48: E1003 parameters.disk.allowed[0]: must be a string or an integer or true or "
         "false, not a number"),
        ("  arch: [x86_64, arm64]\n  accel",
         "  arch: [" + ", ".join(f"a{n}" for n in range(65)) + "]\n  accel",
         "7:3: E1008 matrix.arch: has 65 entries; at most 64 are allowed"),
    ],
    ids=["float-in-matrix", "null-in-matrix", "null-default", "float-allowed", "65-values"],
)  # fmt: skip
def test_a_wrong_type_where_several_are_allowed_is_explained_in_one_line(
    make_project: ProjectFactory, old: str, new: str, problem: str
) -> None:
    assert old in NODE
    assert problems_of(family(make_project, node=NODE.replace(old, new))) == [
        f"recipes/apps/node.yaml:{problem}"
    ]


def test_a_var_value_that_is_not_utf_8_is_refused_in_one_line(
    make_project: ProjectFactory,
) -> None:
    node = NODE.replace("parameters:\n", "parameters:\n  note: {default: x}\n")
    root = family(make_project, node=node.replace("tags: {", 'tags: {note: "((note))", '))
    # What Python makes of the bytes caf\xff on a command line (os.fsdecode, surrogateescape).
    value = os.fsdecode(b"caf\xff")
    assert value == "caf\udcff"
    done = call_bakery(root, "render", "--var", f"note={value}", check=False)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"recipes/apps/node.yaml:18:8: E6004 tags.note: --var note={value}: note: the value is "
        "not valid UTF-8\nbakery: 1 problem found\n"
    )
    assert not (root / "build").exists()
