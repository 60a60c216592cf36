"""References, the build-time idioms, and what is never evaluated, through whole conversions."""

from __future__ import annotations

import textwrap

from tests.support.packer_templates import convert_text, messages, recipe_of


def template(source: str = "", build: str = "", top: str = "") -> str:
    return textwrap.dedent(top) + textwrap.dedent(
        """\
        source "amazon-ebs" "x" {
          instance_type = "t3.small"
          ssh_username  = "ec2-user"
          source_ami    = "ami-0123456789abcdef0"
        %s
        }
        build {
          sources = ["source.amazon-ebs.x"]
        %s
        }
        """
    ) % (
        textwrap.indent(textwrap.dedent(source), "  "),
        textwrap.indent(textwrap.dedent(build), "  "),
    )


VARIABLES = """\
variable "k8s" {
  type    = string
  default = "1.33"
}
variable "disk" {
  type    = number
  default = 30
}
variable "regions" {
  type    = list(string)
  default = ["eu-west-1"]
}
locals {
  timestamp = regex_replace(timestamp(), "[- TZ:]", "")
  stamp     = formatdate("YYYYMMDD'T'hhmmss", timestamp())
  prefix    = "node-${var.k8s}"
}
"""


def test_variables_become_references_and_locals_are_followed() -> None:
    conversion = convert_text(
        template(
            """
            ami_name = "${local.prefix}-${local.timestamp}"
            launch_block_device_mappings {
              device_name = "/dev/xvda"
              volume_size = var.disk
            }
            ami_regions = var.regions
            tags = { built = local.stamp, k8s = var.k8s, when = "{{isotime}}" }
            """,
            top=VARIABLES,
        )
    )
    recipe = recipe_of(conversion)
    assert recipe["ami_name"] == "node-((k8s))-((timestamp))"
    assert recipe["build"]["volume_size"] == "((disk))"
    assert recipe["parameters"]["disk"] == {"type": "integer", "default": 30}
    assert recipe["distribute"]["regions"] == ["eu-west-1"]
    assert recipe["tags"] == {
        "built": "((build_time:%Y%m%dT%H%M%S))",
        "k8s": "((k8s))",
        "when": "((build_date))",
    }
    assert "regions" not in recipe["parameters"]


def test_a_build_time_value_outside_names_and_tags_is_not_mapped() -> None:
    conversion = convert_text(
        template('ami_description = "built ${timestamp()}"\nami_name = "n-{{timestamp}}"')
    )
    recipe = recipe_of(conversion)
    assert "description" not in recipe
    assert recipe["ami_name"] == "n-((timestamp))"
    assert (
        'packer/build.pkr.hcl:5: not mapped: source "amazon-ebs" "x": ami_description: '
        "timestamp() is known only when a build runs; bakery has it in tag values"
    ) in messages(conversion)


def test_functions_are_never_evaluated() -> None:
    conversion = convert_text(
        template('ami_name = "n-${upper(var.k8s)}-{{timestamp}}"', top=VARIABLES)
    )
    assert "ami_name" not in recipe_of(conversion)
    found = messages(conversion)
    assert any("upper() is an HCL function bakery does not evaluate" in m for m in found)


def test_a_variable_in_a_command_is_read_from_the_steps_environment() -> None:
    conversion = convert_text(
        template(
            build="""
            provisioner "shell" {
              inline = ["echo ${var.k8s}", "echo '${var.k8s}'"]
            }
            """,
            top=VARIABLES,
        )
    )
    (step,) = recipe_of(conversion)["provision"]
    # in single quotes the shell would not expand $K8S: the value is written instead
    assert step == {"inline": ["echo ${K8S}", "echo '1.33'"], "env": {"K8S": "((k8s))"}}


def test_a_field_that_takes_no_reference_gets_the_variables_value() -> None:
    conversion = convert_text(
        template(
            'ami_users = ["${var.account}"]',
            top='variable "account" { default = "111122223333" }\n',
        )
    )
    assert recipe_of(conversion)["distribute"]["accounts"] == ["111122223333"]
    assert any("var.account is written as its value here" in m for m in messages(conversion))
