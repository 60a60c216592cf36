"""The build settings of the `amazon-ebs` source, per dialect and mode
(bakery.render.build_folder.source_settings and the template)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bakery.packer import binary as packer
from bakery.render.build_folder import ONLY_17, source_settings, write
from tests.support.packer_spec import template_problems
from tests.support.rendering import (
    PROJECT,
    catalog_of,
    recipe_project,
    render_named,
    source_of,
    template_text,
)

ORGANIZATION = "arn:aws:organizations::111122223333:organization/o-exampleorg1"
UNIT = "arn:aws:organizations::111122223333:ou/o-exampleorg1/ou-ab12-workload1"
SHARING = PROJECT + f"share_allowlist: ['{ORGANIZATION}', '{UNIT}']\n"
NEWER: dict[str, Any] = {
    "build": {
        "metadata_options": {"http_put_response_hop_limit": 2, "instance_metadata_tags": "enabled"},
        "deprecate_after_days": 30,
        "temporary_key_pair_type": "ed25519",
    },
    "distribute": {"organizations": [ORGANIZATION], "organizational_units": [UNIT]},
}


def newer_project(root: Path, **build: Any) -> Path:
    recipe = {**NEWER, "build": {**NEWER["build"], **build}}
    return recipe_project(root, recipe, project=SHARING)


def test_17_writes_what_16_cannot(tmp_path: Path) -> None:
    rendered = render_named(newer_project(tmp_path))
    source = source_of(rendered)
    assert source["metadata_options"] == [
        {
            "http_endpoint": "enabled",
            "http_tokens": "required",
            "http_put_response_hop_limit": 2,
            "instance_metadata_tags": "enabled",
        }
    ]
    assert source["imds_support"] == "v2.0"
    assert source["temporary_key_pair_type"] == "ed25519"
    assert (source["ami_org_arns"], source["ami_ou_arns"]) == ([ORGANIZATION], [UNIT])
    # 30 days after the build's own date, as Packer computes it.
    lines = [" ".join(line.split()) for line in template_text(rendered).splitlines()]
    assert 'deprecate_at = timeadd(var.build_date, "720h")' in lines
    assert template_problems(template_text(rendered)) == []


def test_16_leaves_out_what_it_cannot_write_and_says_so(tmp_path: Path) -> None:
    rendered = render_named(newer_project(tmp_path), "r", "1.6")
    source = source_of(rendered)
    assert not set(ONLY_17) & set(source)
    text = template_text(rendered)
    assert "# Left out: metadata_options of the build instance needs Packer 1.7 or newer." in text
    assert "# Left out: temporary_key_pair_type of the build instance needs Packer 1.7" in text


def test_16_in_local_mode_does_not_mention_the_key_pair_it_never_makes(tmp_path: Path) -> None:
    recipe = catalog_of(newer_project(tmp_path)).recipes["r"]
    assert source_settings(recipe, "1.6", local=True).left_out == ["metadata_options"]
    assert source_settings(recipe, "1.6", local=False).left_out == [
        "metadata_options",
        "temporary_key_pair_type",
    ]
    assert source_settings(recipe, "1.7+", local=False).left_out == []


def test_16_template_of_every_newer_setting_passes_packer_validate(
    tmp_path: Path, packer_binary: str
) -> None:
    if packer.dialect_of(packer.version(packer_binary)) != "1.6":
        pytest.skip("the installed Packer reads the 1.7+ dialect")
    rendered = render_named(newer_project(tmp_path / "project"), "r", "1.6")
    template = write(rendered, tmp_path / "build")
    packer.validate(packer_binary, template)


def test_17_requires_imdsv2_on_the_build_instance_unless_told_otherwise(tmp_path: Path) -> None:
    rendered = render_named(recipe_project(tmp_path, {}))
    assert source_of(rendered)["metadata_options"] == [
        {"http_endpoint": "enabled", "http_tokens": "required"}
    ]
    assert source_of(rendered)["imds_support"] == "v2.0"
    # The default is not a setting the recipe gave: 1.6 has nothing to say about it.
    assert "Left out" not in template_text(render_named(tmp_path, "r", "1.6"))


def test_imds_support_none_writes_no_attribute(tmp_path: Path) -> None:
    rendered = render_named(recipe_project(tmp_path, {"build": {"imds_support": "none"}}))
    assert "imds_support" not in source_of(rendered)


def test_tokens_optional_is_written_as_given(tmp_path: Path) -> None:
    build = {"metadata_options": {"http_tokens": "optional"}}
    rendered = render_named(recipe_project(tmp_path, {"build": build}))
    assert source_of(rendered)["metadata_options"][0]["http_tokens"] == "optional"


def test_extra_attributes_are_written_with_their_types(tmp_path: Path) -> None:
    extra = {
        "shutdown_behavior": "terminate",
        "enable_unlimited_credits": True,
        "temporary_key_pair_bits": 4096,
        "fleet_tags": {"team": "platform"},
    }
    rendered = render_named(recipe_project(tmp_path, {"build": {"extra": extra}}))
    source = source_of(rendered)
    assert {key: source[key] for key in extra} == extra
    assert template_problems(template_text(rendered)) == []


def test_inline_user_data_is_a_file_of_the_build_folder(tmp_path: Path) -> None:
    text = '#!/bin/bash\necho "baked ${HOME} $(date)" > /tmp/x\n'
    rendered = render_named(recipe_project(tmp_path, {"build": {"user_data": text}}))
    assert rendered.files["user-data"] == text.encode()
    assert source_of(rendered)["user_data_file"] == "${path.root}/user-data"
    assert "user_data =" not in template_text(rendered)  # never text Packer would evaluate


def test_a_user_data_file_is_copied_into_the_build_folder(tmp_path: Path) -> None:
    root = recipe_project(
        tmp_path,
        {"build": {"user_data_file": "files/user-data.sh"}},
        {"files/user-data.sh": "#cloud-config\npackages: [jq]\n"},
    )
    before = render_named(root)
    assert before.files["user-data"] == b"#cloud-config\npackages: [jq]\n"
    assert source_of(before)["user_data_file"] == "${path.root}/user-data"
    (root / "recipes/files/user-data.sh").write_text("#cloud-config\npackages: [git]\n")
    assert render_named(root).digest != before.digest


def test_local_mode_leaves_out_connection_spot_and_network_settings(tmp_path: Path) -> None:
    build = {
        "spot_instance_types": ["t3.large", "t3a.large"],
        "spot_price": "auto",
        "vpc_id": "vpc-0123abcd",
        "ssh_timeout": "10m",
        "subnet_filter": {"filters": {"tag:Name": "build-*"}, "most_free": True},
        "ebs_optimized": True,
    }
    root = recipe_project(tmp_path, {"build": build})
    real, local = source_of(render_named(root)), source_of(render_named(root, local=True))
    left_out = {"spot_instance_types", "spot_price", "vpc_id", "ssh_timeout", "subnet_filter"}
    assert left_out <= set(real)
    assert not left_out & set(local)
    assert real["subnet_filter"] == [{"filters": {"tag:Name": "build-*"}, "most_free": True}]
    assert local["ebs_optimized"] is True and real["ebs_optimized"] is True


def test_an_ssh_timeout_in_days_is_refused_or_written_in_a_unit_packer_reads(
    tmp_path: Path, packer_binary: str
) -> None:
    from tests.support.rendering import problems_of

    root = recipe_project(tmp_path / "project", {"build": {"ssh_timeout": "1d"}})
    if problems_of(root):
        return  # refused with a problem: as good as a unit Packer reads
    dialect = packer.dialect_of(packer.version(packer_binary))
    template = write(render_named(root, "r", dialect), tmp_path / "build")
    packer.validate(packer_binary, template)
