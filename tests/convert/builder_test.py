"""amazon-ebs settings mapped onto source, build, distribute and tags, or listed."""

from __future__ import annotations

import textwrap

from tests.support.packer_templates import convert_text, messages, recipe_of


def source(body: str, top: str = "") -> str:
    return (
        textwrap.dedent(top)
        + 'source "amazon-ebs" "x" {\n'
        + textwrap.indent(textwrap.dedent(body), "  ")
        + '}\nbuild {\n  sources = ["source.amazon-ebs.x"]\n}\n'
    )


def test_the_root_volume_and_the_other_volumes() -> None:
    conversion = convert_text(
        source(
            """\
            source_ami = "ami-0123456789abcdef0"
            launch_block_device_mappings {
              device_name = "/dev/xvdb"
              volume_size = 100
              volume_type = "gp3"
              throughput  = 250
            }
            launch_block_device_mappings {
              device_name = "/dev/sda1"
              volume_size = 40
              volume_type = "io2"
              iops        = 6000
              delete_on_termination = false
            }
            ami_block_device_mappings {
              device_name = "/dev/xvdc"
              no_device   = true
            }
            """
        )
    )
    build = recipe_of(conversion)["build"]
    assert (build["root_device"], build["volume_size"], build["volume_type"], build["iops"]) == (
        "/dev/sda1",
        40,
        "io2",
        6000,
    )
    assert build["volumes"] == [
        {"device_name": "/dev/xvdb", "volume_size": 100, "volume_type": "gp3", "throughput": 250}
    ]
    assert build["ami_volumes"] == [{"device_name": "/dev/xvdc", "no_device": True}]
    assert any("delete_on_termination: bakery always deletes" in m for m in messages(conversion))


def test_credentials_are_listed_without_their_values() -> None:
    conversion = convert_text(
        source(
            """\
            source_ami = "ami-0123456789abcdef0"
            access_key = "AKIAIOSFODNN7EXAMPLE"
            secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
            ssh_password = "hunter2hunter2"
            """
        )
    )
    text = conversion.recipes[0].text + "\n".join(messages(conversion))
    assert "AKIA" not in text and "wJalr" not in text and "hunter2" not in text
    assert (
        'packer/build.pkr.hcl:3: not mapped: source "amazon-ebs" "x": access_key: credentials '
        "come from bakery.yaml (aws.profile, aws.accounts) and the environment, never from a "
        "recipe; the value is not shown"
    ) in messages(conversion)
    assert any(
        "ssh_password: a credential or key of the bake host" in m for m in messages(conversion)
    )


def test_other_plugin_attributes_pass_through_extra_and_unknown_ones_are_listed() -> None:
    conversion = convert_text(
        source(
            """\
            source_ami = "ami-0123456789abcdef0"
            shutdown_behavior = "terminate"
            fleet_tags = { team = "a" }
            not_an_attribute = 1
            force_deregister = true
            ami_groups = ["all"]
            """
        )
    )
    assert recipe_of(conversion)["build"]["extra"] == {
        "shutdown_behavior": "terminate",
        "fleet_tags": {"team": "a"},
    }
    found = messages(conversion)
    assert any("not_an_attribute: not an attribute of amazon-ebs" in m for m in found)
    assert any("force_deregister: bakery never replaces an image" in m for m in found)
    assert any("ami_groups: public sharing: bakery never makes an image public" in m for m in found)


def test_a_filter_maps_name_architecture_and_the_rest_and_lists_most_recent_false() -> None:
    conversion = convert_text(
        source(
            """\
            source_ami_filter {
              filters = {
                name                = "al2023-ami-*"
                architecture        = "arm64"
                "tag:Team"          = "platform"
              }
              owners             = ["137112412989"]
              most_recent        = false
              include_deprecated = true
            }
            """
        )
    )
    assert recipe_of(conversion)["source"] == {
        "filter": {
            "name": "al2023-ami-*",
            "architecture": "arm64",
            "filters": {"tag:Team": "platform"},
            "owners": ["137112412989"],
            "include_deprecated": True,
        }
    }
    assert (
        'packer/build.pkr.hcl:9: not mapped: source "amazon-ebs" "x": source_ami_filter: '
        "most_recent: most_recent = false has no equivalent: bakery always takes the newest match"
    ) in messages(conversion)


def test_data_sources_become_a_filter_or_a_parameter_of_ssm() -> None:
    ami = convert_text(
        source(
            "source_ami = data.amazon-ami.al2023.id\n",
            top="""\
            data "amazon-ami" "al2023" {
              filters     = { name = "al2023-ami-*", architecture = "x86_64" }
              owners      = ["amazon"]
              most_recent = true
            }
            """,
        )
    )
    assert recipe_of(ami)["source"] == {
        "filter": {"name": "al2023-ami-*", "architecture": "x86_64", "owners": ["amazon"]}
    }
    ssm = convert_text(
        source(
            "source_ami = data.amazon-parameterstore.latest.value\n",
            top="""\
            data "amazon-parameterstore" "latest" {
              name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
            }
            """,
        )
    )
    assert recipe_of(ssm)["source"] == {
        "ssm_parameter": "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    }


def test_tags_drop_what_bakery_sets_and_run_tags_go_to_build() -> None:
    conversion = convert_text(
        source(
            """\
            source_ami = "ami-0123456789abcdef0"
            tags = { Name = "x", "bakery:x" = "y", "aws:z" = "w", team = "a" }
            snapshot_tags = { other = "b" }
            run_tags = { team = "a" }
            deprecate_at = timeadd(timestamp(), "8760h")
            encrypt_boot = true
            """
        )
    )
    recipe = recipe_of(conversion)
    assert recipe["tags"] == {"team": "a"}
    assert recipe["build"]["run_tags"] == {"team": "a"}
    assert recipe["build"]["deprecate_after_days"] == 365
    assert recipe["build"]["encrypted"] is True
    found = messages(conversion)
    assert any("tags: Name: bakery sets Name itself" in m and "changed" in m for m in found)
    assert any("tags: aws:z: a reserved tag key" in m for m in found)
    assert any("snapshot_tags: bakery tags the snapshots as the image" in m for m in found)


def test_a_template_that_does_not_encrypt_is_written_as_not_encrypting() -> None:
    conversion = convert_text(source('source_ami = "ami-0123456789abcdef0"\n'))
    build = recipe_of(conversion)["build"]
    assert build["encrypted"] is False and build["imds_support"] == "none"
