"""Rules of build settings and steps (bakery.config.settings) and how the recipe model fills
build settings in from bakery.yaml and the source (bakery.config.recipe._build_settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bakery.config.settings import reboot_line
from tests.support.rendering import PROJECT, catalog_of, problems_of, recipe_project


@pytest.mark.parametrize(
    "line",
    [
        "sudo reboot",
        "reboot",
        "shutdown -r now",
        "sudo shutdown -r +1",
        "systemctl reboot",
        "sudo systemctl --no-wall reboot",
        "/sbin/reboot",
        "/usr/sbin/shutdown -r now",
        "foo && reboot",
        "dnf -y update; reboot",
        "if needs-restarting -r; then reboot; fi",
        "init 6",
        "sudo -n reboot",
    ],
)
def test_a_command_that_reboots_is_found(line: str) -> None:
    assert reboot_line(["set -e", line]) == line


@pytest.mark.parametrize(
    "line",
    [
        "echo reboot",
        "# reboot",
        "  # sudo reboot when done",
        "rebooted=1",
        "reboot_required=$(needs-restarting -r)",
        "grep reboot log",
        "shutdown -h now",
        "systemctl status reboot.target",
        "#!/bin/sh reboot",
        "echo done # then reboot",
    ],
)
def test_a_command_that_only_names_reboot_is_not_a_reboot(line: str) -> None:
    assert reboot_line([line]) is None


def test_the_first_rebooting_command_is_shown_short() -> None:
    long = "sudo reboot " + "x" * 100
    shown = reboot_line(["echo a", long, "init 6"])
    assert shown is not None and shown.startswith("sudo reboot xx") and shown.endswith("...")
    assert len(shown) == 60


def extra_recipe(key: str, value: Any) -> dict[str, Any]:
    return {"name": "app", "build": {"extra": {key: value}}}


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("shutdown_behavior", "terminate", None),  # cty.String
        ("shutdown_behavior", 5, "takes a string"),
        ("shutdown_behavior", ["terminate"], "takes a string"),
        ("temporary_key_pair_bits", 4096, None),  # cty.Number
        ("temporary_key_pair_bits", "4096", "takes a number"),
        ("temporary_key_pair_bits", True, "takes a number"),
        ("enable_unlimited_credits", True, None),  # cty.Bool
        ("enable_unlimited_credits", 1, "takes true or false"),
        ("enable_unlimited_credits", "yes", "takes true or false"),
        ("fleet_tags", {"team": "platform"}, None),  # cty.Map(cty.String)
        ("fleet_tags", "team=platform", "takes a mapping of strings"),
        ("fleet_tags", ["team"], "takes a mapping of strings"),
        ("placement", "x", "is a block of amazon-ebs, which extra cannot write"),
        ("shutdown_behaviour", "terminate", "did you mean shutdown_behavior?"),
    ],
)
def test_extra_values_are_checked_against_the_attribute_types(
    tmp_path: Path, key: str, value: Any, expected: str | None
) -> None:
    # Every list-of-strings attribute of amazon-ebs is one bakery owns (E7003), so none here.
    found = problems_of(recipe_project(tmp_path, extra_recipe(key, value)))
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and " E7002 " in found[0] and expected in found[0], found


@pytest.mark.parametrize("key", ["ami_users", "ssh_port", "run_tags", "communicator"])
def test_extra_refuses_what_bakery_sets_itself(tmp_path: Path, key: str) -> None:
    value: Any = {"ssh_port": 22, "ami_users": ["111122223333"], "run_tags": {"a": "b"}}.get(
        key, "none"
    )
    found = problems_of(recipe_project(tmp_path, extra_recipe(key, value)))
    assert [problem.split(" ")[1] for problem in found] == ["E7003"], found


def arm_filter() -> dict[str, Any]:
    return {"filter": {"owners": ["amazon"], "name": "al2023-ami-*-arm64", "architecture": "arm64"}}


TRUSTING = PROJECT + "trusted_owners: [amazon]\n"


def test_an_arm64_source_filter_makes_an_arm64_build_on_t4g_micro(tmp_path: Path) -> None:
    root = recipe_project(tmp_path, {"source": arm_filter()}, project=TRUSTING)
    build = catalog_of(root).recipes["r"].build
    assert (build.architecture, build.instance_type) == ("arm64", "t4g.micro")


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        ({"architecture": "arm64"}, ("arm64", "t4g.micro")),
        ({}, ("x86_64", "t3.micro")),
        ({"architecture": "arm64", "instance_type": "m7g.large"}, ("arm64", "m7g.large")),
    ],
)
def test_the_architecture_picks_the_default_instance_type(
    tmp_path: Path, build: dict[str, str], expected: tuple[str, str]
) -> None:
    build_settings = catalog_of(recipe_project(tmp_path, {"build": build})).recipes["r"].build
    assert (build_settings.architecture, build_settings.instance_type) == expected


def test_build_architecture_wins_over_the_source_filters(tmp_path: Path) -> None:
    recipe = {"source": arm_filter(), "build": {"architecture": "x86_64"}}
    build = catalog_of(recipe_project(tmp_path, recipe, project=TRUSTING)).recipes["r"].build
    assert (build.architecture, build.instance_type) == ("x86_64", "t3.micro")


DEFAULTS = PROJECT + (
    "defaults:\n"
    "  metadata_options: {http_put_response_hop_limit: 2, http_tokens: optional}\n"
    "  run_tags: {cost-center: platform, team: core}\n"
    "  volume_size: 20\n"
)


def test_bakery_yaml_defaults_merge_with_the_recipe_key_by_key(tmp_path: Path) -> None:
    recipe = {
        "build": {
            "metadata_options": {"http_tokens": "required", "instance_metadata_tags": "enabled"},
            "run_tags": {"team": "nodes", "purpose": "image-build"},
        }
    }
    build = catalog_of(recipe_project(tmp_path, recipe, project=DEFAULTS)).recipes["r"].build
    options = build.metadata_options
    assert (
        options.http_put_response_hop_limit,
        options.http_tokens,
        options.instance_metadata_tags,
        options.given,
    ) == (2, "required", "enabled", True)
    assert dict(build.run_tags) == {
        "cost-center": "platform",
        "team": "nodes",
        "purpose": "image-build",
    }
    assert build.volume_size == 20


def test_bakery_yaml_defaults_alone_apply_to_a_recipe_without_them(tmp_path: Path) -> None:
    build = catalog_of(recipe_project(tmp_path, {}, project=DEFAULTS)).recipes["r"].build
    assert (build.metadata_options.http_tokens, build.metadata_options.given) == ("optional", True)
    assert dict(build.run_tags) == {"cost-center": "platform", "team": "core"}


def test_a_recipe_without_metadata_options_gets_imdsv2_not_given(tmp_path: Path) -> None:
    options = catalog_of(recipe_project(tmp_path, {})).recipes["r"].build.metadata_options
    assert (options.http_endpoint, options.http_tokens, options.given) == (
        "enabled",
        "required",
        False,
    )


def test_expect_disconnect_false_silences_the_reboot_warning(tmp_path: Path) -> None:
    steps = [
        {"inline": ["sudo reboot"]},
        {"inline": ["sudo reboot"], "expect_disconnect": False},
        {"inline": ["sudo reboot"], "expect_disconnect": True},
    ]
    found = problems_of(recipe_project(tmp_path, {"provision": steps}))
    assert [problem.split(" ")[1:3] for problem in found] == [["W7001", "provision[0]:"]]


def test_a_rebooting_script_is_warned_about_with_its_line(tmp_path: Path) -> None:
    root = recipe_project(
        tmp_path,
        {"provision": [{"script": "scripts/update.sh"}]},
        {"scripts/update.sh": "#!/bin/sh\n# reboots at the end\ndnf -y update\nsystemctl reboot\n"},
    )
    (found,) = problems_of(root)
    assert " W7001 " in found and "(systemctl reboot)" in found
