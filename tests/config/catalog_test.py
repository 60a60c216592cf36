from __future__ import annotations

import os
from pathlib import Path

import pytest

from bakery.config.catalog import load_catalog
from bakery.config.project import load_project
from bakery.errors import BakeryError, InvalidInputError
from tests.support.project import BASE_RECIPE, ProjectFactory


def problems_of(root: Path, only: list[Path] | None = None) -> list[str]:
    with pytest.raises(InvalidInputError) as caught:
        load_catalog(load_project(root), only or [])
    return [str(problem) for problem in caught.value.problems]


def app(extra: str, name: str = "app", source: str = "source: {recipe: base}") -> str:
    return f"name: {name}\nlayer: app\nversion: 1.0.0\n{source}\n{extra}"


# (what the app recipe adds, the one problem expected)
SCENARIOS = [
    (
        "bogus: 1\n",
        "recipes/app.yaml:5:1: E1002 bogus: unknown key; expected one of: ami_name, "
        "build, description, distribute, environment, hygiene, layer, licensing, matrix, "
        "max_age, name, parameters, provision, retention, source, tags, tests, variants, version",
    ),
    (
        "build: {volume_size: big}\n",
        "recipes/app.yaml:5:9: E1003 build.volume_size: must be an integer, not a string",
    ),
    (
        "build: {timeout: soon}\n",
        "recipes/app.yaml:5:9: E1005 build.timeout: 'soon' is not a duration (e.g. 30d, 90m, "
        "1h30m, 45s)",
    ),
    (
        "provision:\n  - script: ../scripts/missing.sh\n",
        "recipes/app.yaml:6:5: E2003 provision[0].script: file not found: ../scripts/missing.sh",
    ),
    (
        "provision:\n  - script: ../../outside.sh\n",
        "recipes/app.yaml:6:5: E2002 provision[0].script: "
        "path ../../outside.sh leaves the project folder; keep files inside it",
    ),
    (
        "provision:\n  - script: /etc/hosts\n",
        "recipes/app.yaml:6:5: E2001 provision[0].script: "
        "absolute path /etc/hosts; write it relative to the recipe file",
    ),
    (
        "provision:\n  - {script: a.sh, inline: [x]}\n",
        "recipes/app.yaml:6:5: E1006 provision[0]: needs "
        "exactly one of: script, inline, file, download, reboot, ansible (found script, inline)",
    ),
    (
        "hygiene: {skip: true}\n",
        'recipes/app.yaml:5:11: E2005 hygiene.skip: skip: true needs reason: "..." saying why',
    ),
    (
        'tags: {"aws:cost": x}\n',
        "recipes/app.yaml:5:8: E1015 tags.aws:cost: keys starting with 'aws:' are reserved; "
        "rename it",
    ),
    (
        'tags: {"bakery:recipe": x}\n',
        "recipes/app.yaml:5:8: E1015 tags.bakery:recipe: keys starting "
        "with 'bakery:' are reserved; rename it",
    ),
    (
        f"tags: {{k: {'v' * 257}}}\n",
        "recipes/app.yaml:5:8: E1010 tags.k: is 257 characters long; at most 256 are allowed",
    ),
    (
        "tags: {cost: 12}\n",
        "recipes/app.yaml:5:8: E1003 tags.cost: must be a string, not an integer (quote it)",
    ),
    (
        'description: "{{ env `AWS_SECRET_ACCESS_KEY` }}"\n',
        "recipes/app.yaml:5:1: E2008 description: "
        "contains '{{', which Packer would evaluate as a template; remove it",
    ),
    (
        "distribute: {regions: [mars-1]}\n",
        "recipes/app.yaml:5:24: E1005 distribute.regions[0]: "
        "'mars-1' is not an AWS region (e.g. us-east-1)",
    ),
    (
        'distribute: {accounts: ["111122223333"]}\n',
        "recipes/app.yaml:5:14: E2012 distribute.accounts: "
        "an image encrypted with the default KMS key cannot be shared; set build.kms_key_id to a "
        "customer managed key the accounts may use",
    ),
    (
        "distribute: {regions: [us-west-2], kms_key_ids: {eu-west-1: alias/k}}\n",
        "recipes/app.yaml:5:50: E2009 distribute.kms_key_ids.eu-west-1: eu-west-1 is not in "
        "distribute.regions; add it there or drop its key",
    ),
    (
        "environment: {1BAD: x}\n",
        "recipes/app.yaml:5:15: E1014 environment.1BAD: '1BAD' is not a valid environment "
        "variable name",
    ),
    (
        "provision:\n  - inline: ['export password=hunter22']\n",
        "recipes/app.yaml:6:31: E5004 provision[0].inline[0]: possible secret: a password or "
        "token literal (finding faa371bc22a63fde); remove it (fetch it at boot from SSM Parameter "
        "Store or Secrets Manager), end the line with '# bakery: allow-secret', or allow it in "
        "bakery.yaml secrets.allow",
    ),
]


@pytest.mark.parametrize(("extra", "expected"), SCENARIOS, ids=[s[1][17:60] for s in SCENARIOS])
def test_invalid_recipe_reports_file_line_column_path_and_message(
    make_project: ProjectFactory, extra: str, expected: str
) -> None:
    # The account of the sharing scenario is allowed, so only the rule under test speaks.
    project = 'aws: {region: us-east-1}\nshare_allowlist: ["111122223333"]\n'
    root = make_project({"recipes/base.yaml": BASE_RECIPE, "recipes/app.yaml": app(extra)}, project)
    assert problems_of(root) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: Bad_Name\nlayer: base\nversion: 1.0.0\nsource: {ami: ami-12345678}\n",
            "recipes/app.yaml:1:1: E1005 name: 'Bad_Name' must be lowercase letters, digits and "
            "hyphens, "
            "not starting with a hyphen",
        ),
        (
            "name: x\nlayer: base\nversion: 1.0\nsource: {ami: ami-12345678}\n",
            "recipes/app.yaml:3:1: E1003 version: must be a string, not a number (quote it)",
        ),
        (
            "name: x\nlayer: base\nversion: v1\nsource: {ami: ami-12345678}\n",
            "recipes/app.yaml:3:1: E1005 version: 'v1' is not a semantic version "
            "(MAJOR.MINOR.PATCH, "
            "e.g. 1.2.3)",
        ),
        (
            "name: x\nlayer: apps\nversion: 1.0.0\nsource: {ami: ami-12345678}\n",
            "recipes/app.yaml:2:1: E1004 layer: 'apps' is not one of: base, hardening, app",
        ),
        (
            "name: x\nlayer: base\nversion: 1.0.0\nsource: {ami: ami-1}\n",
            "recipes/app.yaml:4:10: E1005 source.ami: 'ami-1' is not an AMI id (ami- followed by "
            "8 or 17 "
            "hex digits)",
        ),
        (
            "name: x\nlayer: base\nversion: 1.0.0\nsource: {ami: ami-12345678, recipe: base}\n",
            "recipes/app.yaml:4:1: E1006 source: needs exactly one of: ssm_parameter, ami, filter, "
            "recipe (found ami, recipe)",
        ),
        (
            "name: x\nlayer: base\nversion: 1.0.0\n",
            "recipes/app.yaml:1:1: E1001 source: required key is missing",
        ),
        (
            "name: x\nlayer: base\nversion: 1.0.0\nsource: {filter: {owners: ['123456789012'], "
            "name: 'x-*'}}\n",
            "recipes/app.yaml:4:28: E2006 source.filter.owners[0]: owner 123456789012 is not in "
            "trusted_owners of bakery.yaml; add it there if you trust its images",
        ),
        (
            "name: x\nlayer: app\nversion: 1.0.0\nsource: {recipe: bse}\n",
            "recipes/app.yaml:4:10: E4002 source.recipe: unknown recipe bse; did you mean base?",
        ),
        (
            "name: base\nlayer: app\nversion: 1.0.0\nsource: {ami: ami-12345678}\n",
            "recipes/base.yaml:1:1: E4001 name: duplicate recipe name base (also in "
            "recipes/app.yaml); "
            "names must be unique",
        ),
        (
            "name: x\nlayer: base\nversion: [1\n",
            "recipes/app.yaml:4:1: E0001 YAML syntax error: expected ',' or ']', but got '<stream "
            "end>'",
        ),
        (
            "name: x\nlayer: base\nversion: 1.0.0\nsource: {ami: ami-12345678}\nname: y\n",
            "recipes/app.yaml:5:1: E0003 name: duplicate key (first at line 1); remove one",
        ),
        ("", "recipes/app.yaml:1:1: E0008 empty recipe; see docs/recipes.md"),
    ],
)
def test_recipe_level_problems(make_project: ProjectFactory, text: str, expected: str) -> None:
    root = make_project({"recipes/base.yaml": BASE_RECIPE, "recipes/app.yaml": text})
    assert problems_of(root) == [expected]


def test_a_warning_alone_does_not_fail_and_the_catalog_carries_it(
    make_project: ProjectFactory,
) -> None:
    root = make_project(
        {
            "recipes/base.yaml": BASE_RECIPE,
            "recipes/app.yaml": app("distribute: {regions: [us-east-1]}\n"),
        }
    )
    catalog = load_catalog(load_project(root))
    assert sorted(catalog.recipes) == ["app", "base"]
    assert [str(warning) for warning in catalog.warnings] == [
        "recipes/app.yaml:5:24: W2001 distribute.regions[0]: "
        "us-east-1 is the build region already; list only the regions to copy to"
    ]
    assert catalog.warnings[0].severity == "warning"


def test_warnings_are_reported_with_the_errors_of_a_run(make_project: ProjectFactory) -> None:
    root = make_project(
        {
            "recipes/base.yaml": BASE_RECIPE,
            "recipes/app.yaml": app("distribute: {regions: [us-east-1]}\nhygiene: {skip: true}\n"),
        }
    )
    with pytest.raises(InvalidInputError) as caught:
        load_catalog(load_project(root))
    assert [problem.code for problem in caught.value.problems] == ["W2001", "E2005"]
    assert str(caught.value) == "1 problem and 1 warning found"


def test_bakery_yaml_can_ignore_a_warning_with_a_reason(make_project: ProjectFactory) -> None:
    root = make_project(
        {
            "recipes/base.yaml": BASE_RECIPE,
            "recipes/app.yaml": app("distribute: {regions: [us-east-1]}\n"),
        },
        "rules:\n  ignore:\n    - {code: W2001, reason: every region is listed on purpose}\n",
    )
    assert load_catalog(load_project(root)).warnings == ()


def test_all_problems_of_a_run_are_reported_together(make_project: ProjectFactory) -> None:
    root = make_project(
        {
            "recipes/base.yaml": BASE_RECIPE,
            "recipes/a.yaml": app("bogus: 1\n", name="a"),
            "recipes/b.yaml": app("hygiene: {skip: true}\n", name="b"),
        }
    )
    found = problems_of(root)
    assert [line.split(":")[0] for line in found] == ["recipes/a.yaml", "recipes/b.yaml"]


def test_cycle_is_reported_with_the_whole_chain(make_project: ProjectFactory) -> None:
    root = make_project(
        {
            "recipes/a.yaml": app("", name="a", source="source: {recipe: b}"),
            "recipes/b.yaml": app("", name="b", source="source: {recipe: c}"),
            "recipes/c.yaml": app("", name="c", source="source: {recipe: a}"),
        }
    )
    found = problems_of(root)
    assert len(found) == 3
    assert all("cycle in the recipe graph: a → b → c → a" in line for line in found)
    assert found[0].startswith("recipes/a.yaml:4:10: E4003 source.recipe: ")


def test_tag_budget_counts_bakery_and_project_tags(make_project: ProjectFactory) -> None:
    tags = ", ".join(f"t{i}: v" for i in range(30))
    project = "tags: {" + ", ".join(f"p{i}: v" for i in range(10)) + "}\n"
    root = make_project(
        {"recipes/base.yaml": BASE_RECIPE, "recipes/app.yaml": app(f"tags: {{{tags}}}\n")}, project
    )
    assert problems_of(root) == [
        "recipes/app.yaml:5:1: E2007 tags: the image would carry 52 tags with bakery's and "
        "bakery.yaml's; AWS allows 50, remove 2"
    ]


def test_secret_in_a_used_script_names_the_script(make_project: ProjectFactory) -> None:
    root = make_project(
        {
            "recipes/base.yaml": BASE_RECIPE,
            "recipes/app.yaml": app("provision:\n  - script: scripts/s.sh\n"),
            "recipes/scripts/s.sh": "#!/bin/sh\necho ok\nKEY=AKIAIOSFODNN7EXAMPLE\n",
        }
    )
    assert problems_of(root) == [
        "recipes/scripts/s.sh:3:5: E5001 possible secret: an AWS access key id (finding "
        "57025fa4229ae16d); remove it (fetch it at boot from SSM Parameter Store or Secrets "
        "Manager), end the line with '# bakery: allow-secret', or allow it in bakery.yaml "
        "secrets.allow"
    ]


def test_validating_one_file_reports_only_its_problems(make_project: ProjectFactory) -> None:
    root = make_project(
        {
            "recipes/base.yaml": BASE_RECIPE,
            "recipes/a.yaml": app("bogus: 1\n", name="a"),
            "recipes/b.yaml": app("", name="b"),
        }
    )
    load_catalog(load_project(root), [root / "recipes/b.yaml"])
    assert problems_of(root, [root / "recipes/a.yaml"])[0].startswith("recipes/a.yaml:5:1")


def test_defaults_of_the_project_are_merged_under_the_recipe(make_project: ProjectFactory) -> None:
    root = make_project(
        {"recipes/base.yaml": BASE_RECIPE, "recipes/app.yaml": app("build: {volume_size: 20}\n")},
        "defaults: {instance_type: m7i.large, volume_size: 10}\n",
    )
    catalog = load_catalog(load_project(root))
    assert catalog.recipes["app"].build.instance_type == "m7i.large"
    assert catalog.recipes["app"].build.volume_size == 20
    assert catalog.recipes["base"].build.volume_size == 10


def test_files_under_scripts_and_files_folders_are_not_recipes(
    make_project: ProjectFactory,
) -> None:
    root = make_project(
        {
            "recipes/base.yaml": BASE_RECIPE,
            "recipes/files/app/config.yaml": "not: a recipe\n",
            "recipes/scripts/data.yml": "also: not\n",
        }
    )
    assert list(load_catalog(load_project(root)).recipes) == ["base"]


def test_unknown_recipe_name_suggests_the_closest(make_project: ProjectFactory) -> None:
    catalog = load_catalog(load_project(make_project({"recipes/base.yaml": BASE_RECIPE})))
    with pytest.raises(BakeryError, match="unknown recipe bsae; did you mean base"):
        catalog.get("bsae")


def test_samples_are_valid(sample_project: Path) -> None:
    catalog = load_catalog(load_project(sample_project))
    assert catalog.graph.waves() == [["al2023-base"], ["cis-hardened"], ["web", "worker"]]


# Discovery of hostile files: names with control characters, links out, what is not a file.


@pytest.mark.parametrize("char", ["\n", "\r", "\t", "\x1b", "\x7f", "\x85", "\u2028", "\u2029"])
def test_a_recipe_file_whose_name_holds_a_control_character_is_refused_unread(
    make_project: ProjectFactory, char: str
) -> None:
    root = make_project({"recipes/base.yaml": BASE_RECIPE})
    (root / "recipes" / f"x{char}y.yaml").write_text("name: [unclosed\n")
    shown = ascii(char)[1:-1]
    assert problems_of(root) == [
        f"recipes/x{shown}y.yaml:1:1: E2016 the file name holds a control character; "
        "rename the file"
    ]


def test_a_named_recipe_file_with_a_control_character_is_refused_too(
    make_project: ProjectFactory,
) -> None:
    root = make_project({"recipes/base.yaml": BASE_RECIPE})
    path = root / "recipes" / "a\nb.yaml"
    path.write_text(BASE_RECIPE)
    assert problems_of(root, [path]) == [
        "recipes/a\\nb.yaml:1:1: E2016 the file name holds a control character; rename the file"
    ]


def test_a_recipe_file_linked_out_of_the_project_is_refused(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    root = make_project({"recipes/base.yaml": BASE_RECIPE})
    outside = tmp_path / "outside.yaml"
    outside.write_text(BASE_RECIPE.replace("name: base", "name: other"))
    (root / "recipes" / "other.yaml").symlink_to(outside)
    assert problems_of(root) == [
        "recipes/other.yaml:1:1: E2002 a symbolic link that leads out of the project; "
        "keep recipes inside it"
    ]


def test_a_recipe_file_the_user_names_outside_the_project_is_read(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    root = make_project({"recipes/base.yaml": BASE_RECIPE})
    outside = tmp_path / "outside.yaml"
    outside.write_text(BASE_RECIPE.replace("name: base", "name: other"))
    assert sorted(load_catalog(load_project(root), [outside]).recipes) == ["base", "other"]


@pytest.mark.parametrize("make", ["fifo", "dev-zero", "folder", "loop"])
def test_a_named_recipe_that_is_not_a_regular_file_is_refused_before_it_is_opened(
    make_project: ProjectFactory, make: str
) -> None:
    root = make_project({"recipes/base.yaml": BASE_RECIPE})
    path = root / "recipes" / "odd.yaml"
    if make == "fifo":
        os.mkfifo(path)  # opening it would wait for a writer forever
    elif make == "dev-zero":
        path.symlink_to("/dev/zero")
    elif make == "folder":
        path.mkdir()
    else:
        path.symlink_to(path)
    file = "/dev/zero" if make == "dev-zero" else "recipes/odd.yaml"  # as the link resolves
    assert problems_of(root, [path]) == [
        f"{file}:1:1: E2004 not a regular file; bakery reads recipes from regular files only"
    ]


def test_a_fifo_among_the_recipes_is_skipped_not_read(make_project: ProjectFactory) -> None:
    root = make_project({"recipes/base.yaml": BASE_RECIPE})
    os.mkfifo(root / "recipes" / "pipe.yaml")
    assert sorted(load_catalog(load_project(root)).recipes) == ["base"]


def test_files_named_with_a_leading_dot_or_underscore_are_not_recipes(
    make_project: ProjectFactory,
) -> None:
    # What recipes upload or pass (a var file `_node.vars.yaml`, an editor's `.x.yaml`).
    root = make_project(
        {
            "recipes/base.yaml": BASE_RECIPE,
            "recipes/_node.vars.yaml": "k8s: '1.34'\n",
            "recipes/apps/.draft.yaml": "name: [broken\n",
        }
    )
    assert sorted(load_catalog(load_project(root)).recipes) == ["base"]


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("recipes: ../../..", "recipes: ../../.. leads out of the project folder"),
        ("recipes: /etc", "recipes: absolute path /etc; write it relative to the project folder"),
        ("recipes: ~/r", "recipes: absolute path ~/r; write it relative to the project folder"),
        ("state: sqlite:../x.db", "state: ../x.db leads out of the project folder"),
        ("state: sqlite:/tmp/x.db", "state: absolute path /tmp/x.db; write it relative"),
        ("state: sqlite:~/x.db", "state: absolute path ~/x.db; write it relative"),
    ],
)
def test_a_path_setting_must_stay_in_the_project(
    make_project: ProjectFactory, setting: str, expected: str
) -> None:
    root = make_project({"recipes/base.yaml": BASE_RECIPE}, f"{setting}\n")
    with pytest.raises(InvalidInputError) as error:
        load_project(root)
    (problem,) = error.value.problems
    assert str(problem).startswith(f"bakery.yaml:1:1: E3006 {expected}")


def test_a_default_path_moved_out_by_a_link_is_refused(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    root = make_project({"recipes/base.yaml": BASE_RECIPE})
    (tmp_path / "elsewhere").mkdir()
    (root / ".bakery").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(InvalidInputError) as error:
        load_project(root)
    assert [str(p) for p in error.value.problems] == [
        "bakery.yaml:1:1: E3006 state: .bakery/lineage.db leads out of the project folder "
        "(through .. or a symbolic link); keep it inside"
    ]


def test_a_path_setting_inside_the_project_through_a_link_is_kept(
    make_project: ProjectFactory,
) -> None:
    root = make_project({"real/base.yaml": BASE_RECIPE}, "recipes: linked\n")
    (root / "linked").symlink_to(root / "real")
    assert sorted(load_catalog(load_project(root)).recipes) == ["base"]


def test_a_key_overrides_give_each_instance_is_not_reported_missing(
    make_project: ProjectFactory,
) -> None:
    # When the instances cannot be made (a parameter without a value), the recipe's own shape is
    # still checked, but a key its overrides supply is not missing.
    recipe = """\
name: node
layer: base
version: 1.0.0
description: "node ((k8s))"
parameters:
  k8s: {}
matrix:
  arch: [x86_64, arm64]
source:
  filter: {owners: [amazon]}
variants:
  overrides:
    - when: {arch: x86_64}
      source: {filter: {name: "al2023-ami-*-x86_64"}}
    - when: {arch: arm64}
      source: {filter: {name: "al2023-ami-*-arm64"}}
"""
    root = make_project(
        {"recipes/node.yaml": recipe}, "aws: {region: us-east-1}\ntrusted_owners: [amazon]\n"
    )
    found = problems_of(root)
    assert [problem.split(" ")[1] for problem in found] == ["E6005"], found
