"""Round trip: the fixture builds (EKS-, ECS- and Cluster-API-like) converted with `bakery
convert`, the recipes validated and rendered by bakery's own renderer, and the rendered templates
compared with the originals, both read with python-hcl2 (or json): the amazon-ebs settings bakery
maps, and the sequence of steps."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bakery.config.catalog import Catalog, given_values, load_catalog
from bakery.config.project import load_project
from bakery.config.schema import RECIPE_SCHEMA
from bakery.render.build_folder import ami_name, render
from tests.support.packer_templates import (
    FIXTURES,
    TIMESTAMP,
    ConvertFixture,
    Original,
    Rendered,
    original_steps,
    read_original,
    read_rendered,
    rendered_steps,
    text_of,
)
from tests.support.project import call_bakery

MOMENT = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
# Settings of amazon-ebs that recipes carry as they are (design13: names follow Packer's).
PLAIN_SETTINGS = (
    "instance_type",
    "ssh_username",
    "encrypt_boot",
    "kms_key_id",
    "ami_description",
    "ami_regions",
    "ami_users",
)
# Settings whose recipe keys came with issue 13 (build.*, the root volume's iops/throughput).
NEW_SETTINGS = (
    "ssh_interface",
    "ssh_pty",
    "ssh_timeout",
    "imds_support",
    "ena_support",
    "sriov_support",
    "temporary_security_group_source_cidrs",
    "shutdown_behavior",
    "ami_virtualization_type",
    "metadata_options",
    "aws_polling",
)
NEW_KEYS = {
    "build": ("iops", "throughput", "metadata_options", "imds_support", "ssh_interface",
              "ssh_pty", "ssh_timeout", "ena_support", "sriov_support", "aws_polling",
              "temporary_security_group_source_cidrs", "extra", "run_tags"),
    "step": ("reboot", "download", "ansible", "args", "shebang", "run_as", "pause_before",
             "max_retries", "start_retry_timeout"),
}  # fmt: skip


def missing_keys() -> list[str]:
    """The recipe keys of design13 the schema does not have yet."""
    build = RECIPE_SCHEMA["properties"]["build"]["properties"]
    step = RECIPE_SCHEMA["properties"]["provision"]["items"]["properties"]
    missing = [f"build.{key}" for key in NEW_KEYS["build"] if key not in build]
    missing += [f"provision[].{key}" for key in NEW_KEYS["step"] if key not in step]
    return missing


def require_new_keys() -> None:
    missing = missing_keys()
    if missing:
        pytest.xfail(f"the schema lacks the keys of design13: {', '.join(missing)}")


def converted(fixture: ConvertFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = fixture.copy_to(tmp_path)
    monkeypatch.chdir(root)
    # The ECS build's http_proxy variable defaults to {{env `BUILD_HTTP_PROXY`}}: its env:
    monkeypatch.setenv("BUILD_HTTP_PROXY", "http://proxy.internal:3128")
    call_bakery(root, *fixture.convert_args())
    return root


def catalog_of(root: Path, fixture: ConvertFixture) -> Catalog:
    project = load_project(root)
    var_file = root / "recipes" / f"{fixture.recipe}.vars.json"
    given = given_values(project, [var_file] if var_file.exists() else [])
    return load_catalog(project, given=given)


def pairs(
    root: Path, fixture: ConvertFixture, catalog: Catalog
) -> list[tuple[str, dict[str, Any], Rendered, Original]]:
    """(instance, the original source's settings, the rendered template, the original) for each
    instance of the recipe the fixture made."""
    original = read_original(root, fixture)
    project = load_project(root)
    found = []
    for name in catalog.expand(fixture.recipe):
        recipe = catalog.recipes[name]
        source = recipe.parameters.get("variant") or next(iter(original.sources))
        made = render(recipe, project.tags, "1.7+", lambda path: (root / path).read_bytes())
        rendered = read_rendered(made.files[made.template_name].decode())
        found.append((name, dict(original.sources[source]), rendered, original))
    assert found, f"no instances of {fixture.recipe}"
    return found


def empty(value: Any) -> bool:
    return value in ("", None, [], {})


def listed(value: Any) -> Any:
    """A list a JSON template gives as text, a,b, as Packer splits it."""
    if isinstance(value, str) and "," in value:
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


@pytest.mark.parametrize("key", sorted(FIXTURES))
def test_converted_recipes_pass_validate(
    key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_new_keys()
    fixture = FIXTURES[key]
    root = converted(fixture, tmp_path, monkeypatch)
    args = ["validate", f"recipes/{fixture.recipe}.yaml"]
    if (root / "recipes" / f"{fixture.recipe}.vars.json").exists():
        args[1:1] = ["--var-file", f"recipes/{fixture.recipe}.vars.json"]
    done = call_bakery(root, *args)
    assert "valid" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize("key", sorted(FIXTURES))
def test_round_trip_keeps_the_amazon_ebs_settings_recipes_always_had(
    key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_new_keys()  # the converted recipes use them, so they load only with them
    fixture = FIXTURES[key]
    root = converted(fixture, tmp_path, monkeypatch)
    catalog = catalog_of(root, fixture)
    for name, source, rendered, _ in pairs(root, fixture, catalog):
        for setting in PLAIN_SETTINGS:
            if setting not in source:
                continue
            want, got = source[setting], rendered.source.get(setting)
            if setting in ("ami_regions", "ami_users"):
                want = listed(want)
            if empty(want):
                assert empty(got), (name, setting, got)
            else:
                assert text_of(got) == text_of(want), (name, setting)
        recipe = catalog.recipes[name]
        wanted_name = str(source["ami_name"]).replace(TIMESTAMP, MOMENT.strftime("%Y%m%d%H%M%S"))
        assert ami_name(recipe, MOMENT, "01JXBUILD") == wanted_name
        root_volume = source.get("launch_block_device_mappings", {})
        got_volume = rendered.source["launch_block_device_mappings"]
        for setting in ("device_name", "volume_size", "volume_type"):
            assert text_of(got_volume[setting]) == text_of(root_volume[setting]), (name, setting)
        for tag, value in source.get("tags", {}).items():
            if tag == "Name" or tag.lower().startswith("bakery:"):
                continue
            if tag == "image_builder_version":  # names a variable the template lacks: listed
                continue
            assert tag in rendered.source["tags"], (name, tag)
            if TIMESTAMP not in str(value) and "{{" not in str(value):
                assert rendered.source["tags"][tag] == value, (name, tag)
        assert rendered.source["tags"]["Name"] == "${local.ami_name}"


@pytest.mark.parametrize("key", sorted(FIXTURES))
def test_round_trip_keeps_the_settings_of_the_new_build_keys(
    key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_new_keys()
    fixture = FIXTURES[key]
    root = converted(fixture, tmp_path, monkeypatch)
    catalog = catalog_of(root, fixture)
    for name, source, rendered, _ in pairs(root, fixture, catalog):
        for setting in NEW_SETTINGS:
            if setting in source:
                want = source[setting]
                got = rendered.source.get(setting)
                if setting == "ssh_timeout":
                    got, want = str(got), str(want)
                assert text_of(got) == text_of(want), (name, setting, got, want)
        root_volume = source.get("launch_block_device_mappings", {})
        got_volume = rendered.source["launch_block_device_mappings"]
        for setting in ("iops", "throughput"):
            if setting in root_volume:
                assert text_of(got_volume[setting]) == text_of(root_volume[setting]), name
        for tag, value in source.get("run_tags", {}).items():
            assert rendered.source["run_tags"][tag] == value, (name, tag)
        recipe = catalog.recipes[name]
        wanted_filter = source.get("source_ami_filter")
        if wanted_filter:
            filters = dict(wanted_filter["filters"])
            assert recipe.source.kind == "filter"
            assert recipe.source.value == filters.pop("name")
            assert recipe.source.architecture == filters.pop("architecture", None)
            assert dict(recipe.source.filters) == filters
            assert list(recipe.source.owners) == wanted_filter["owners"]
        else:
            assert (recipe.source.kind, recipe.source.value) == ("ami", source["source_ami"])


@pytest.mark.parametrize("key", sorted(FIXTURES))
def test_round_trip_keeps_the_sequence_of_steps(
    key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_new_keys()
    fixture = FIXTURES[key]
    root = converted(fixture, tmp_path, monkeypatch)
    catalog = catalog_of(root, fixture)
    for name, _, rendered, original in pairs(root, fixture, catalog):
        source = catalog.recipes[name].parameters.get("variant") or next(iter(original.sources))
        assert rendered_steps(rendered) == original_steps(original, source), name


def test_the_eks_family_runs_only_and_except_steps_on_their_variants(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_new_keys()
    fixture = FIXTURES["eks"]
    root = converted(fixture, tmp_path, monkeypatch)
    catalog = catalog_of(root, fixture)
    assert sorted(catalog.expand("eks-node")) == ["eks-node-arm64", "eks-node-x86_64"]
    x86 = [type(s).__name__ for s in catalog.recipes["eks-node-x86_64"].provision]
    arm = [type(s).__name__ for s in catalog.recipes["eks-node-arm64"].provision]
    common = ["InlineStep", "FileStep", "ScriptStep"]
    after = ["RebootStep", "ScriptStep", "ScriptStep"]
    end = ["DownloadStep", "ScriptStep"]
    assert x86 == [*common, "ScriptStep", *after, *end]  # install-efa.sh: only x86_64
    assert arm == [*common, *after, "InlineStep", *end]  # except x86_64
    assert catalog.recipes["eks-node-arm64"].build.instance_type == "m6g.large"
    assert catalog.recipes["eks-node-x86_64"].build.instance_type == "m6i.large"


def test_the_var_file_carries_the_values_of_the_var_files_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixture = FIXTURES["capi"]
    root = converted(fixture, tmp_path, monkeypatch)
    values = json.loads((root / "recipes" / "capa-al2023.vars.json").read_text())
    assert values == {
        "kubernetes_semver": "v1.33.1",
        "kubernetes_series": "v1.33",
        "kubernetes_rpm_version": "1.33.1",
        "containerd_version": "1.7.27",
        "build_name": "al2023",
        "ami_filter_name": "al2023-ami-2023.*-kernel-6.1-x86_64",
        "ami_filter_owners": "137112412989",
        "volume_size": 20,
    }
