"""Variables -> parameters, var files -> defaults and a var file, sources -> a family or
separate recipes, only/except -> when."""

from __future__ import annotations

import json

from tests.support.packer_templates import convert_text, messages, recipe_of

TWO_SOURCES = """\
variable "version" {
  type    = string
  default = "1.0"
}
variable "Team-Name" {
  default = "platform"
}
variable "unused" {
  default = "x"
}
variable "password" {
  type      = string
  sensitive = true
  default   = "s3cr3t-Value-42"
}
source "amazon-ebs" "amd" {
  ami_name      = "app-${var.version}-{{timestamp}}"
  instance_type = "m6i.large"
  source_ami    = "ami-0123456789abcdef0"
  tags          = { team = var.Team-Name }
}
source "amazon-ebs" "arm" {
  ami_name      = "app-${var.version}-{{timestamp}}"
  instance_type = "m6g.large"
  source_ami    = "ami-0123456789abcdef1"
  tags          = { team = var.Team-Name }
}
build {
  sources = ["source.amazon-ebs.amd", "source.amazon-ebs.arm"]
  provisioner "shell" {
    inline = ["echo all"]
  }
  provisioner "shell" {
    only   = ["amazon-ebs.arm"]
    inline = ["echo arm"]
    environment_vars = ["PASSWORD=${var.password}"]
  }
  provisioner "shell" {
    except = ["arm"]
    inline = ["echo amd"]
  }
}
"""


def test_the_sources_of_one_build_make_a_family_with_overrides_and_when() -> None:
    conversion = convert_text(TWO_SOURCES)
    (recipe,) = conversion.recipes
    document = recipe_of(conversion)
    assert document["matrix"] == {"variant": ["amd", "arm"]}
    # the sources share the AMI name: the variant is added so one build's images differ
    assert document["ami_name"] == "app-((var_version))-((timestamp))-((variant))"
    assert document["tags"] == {"team": "((team_name))"}
    assert document["variants"] == {
        "overrides": [
            {
                "when": {"variant": "amd"},
                "source": {"ami": "ami-0123456789abcdef0"},
                "build": {"instance_type": "m6i.large"},
            },
            {
                "when": {"variant": "arm"},
                "source": {"ami": "ami-0123456789abcdef1"},
                "build": {"instance_type": "m6g.large"},
            },
        ]
    }
    assert document["provision"] == [
        {"inline": ["echo all"]},
        {"inline": ["echo arm"], "when": {"variant": "arm"}},
        {"inline": ["echo amd"], "when": {"variant": "amd"}},
    ]
    assert recipe.name == "build"


def test_variables_are_renamed_to_parameter_names_and_the_sensitive_ones_are_left_out() -> None:
    conversion = convert_text(TWO_SOURCES)
    document = recipe_of(conversion)
    assert document["parameters"] == {
        "var_version": {"default": "1.0"},
        "team_name": {"default": "platform"},
    }
    text = conversion.recipes[0].text
    assert "s3cr3t" not in text and "s3cr3t" not in "\n".join(messages(conversion))
    found = messages(conversion)
    assert any('variable "version": the parameter is named var_version' in m for m in found)
    assert any(
        'variable "unused": not a parameter: no converted setting refers' in m for m in found
    )
    assert any('variable "password": a sensitive variable is not a parameter' in m for m in found)
    assert any("PASSWORD: var.password is sensitive" in m for m in found)


def test_auto_var_files_give_defaults_and_the_others_a_var_file() -> None:
    conversion = convert_text(
        'variable "k8s" {}\nvariable "os" { default = "al2023" }\n'
        'source "amazon-ebs" "x" {\n  source_ami = "ami-0123456789abcdef0"\n'
        '  ami_name = "n-${var.k8s}-${var.os}-{{timestamp}}"\n}\n'
        'build {\n  sources = ["source.amazon-ebs.x"]\n}\n',
        var_files=[
            ("packer/x.auto.pkrvars.hcl", 'os = "al2023-minimal"\n'),
            ("vars/prod.pkrvars.hcl", 'k8s = "1.33"\nnope = "x"\n'),
            ("vars/prod.json", '{"k8s": "1.34"}'),
        ],
    )
    (recipe,) = conversion.recipes
    assert recipe_of(conversion)["parameters"] == {"k8s": {}, "os": {"default": "al2023-minimal"}}
    assert recipe.var_file == "recipes/build.vars.json"
    assert recipe.var_text is not None and json.loads(recipe.var_text) == {"k8s": "1.34"}
    assert (
        "vars/prod.pkrvars.hcl:2: not mapped: nope: the template declares no such variable "
        "(Packer warns and ignores it)"
    ) in messages(conversion)


def test_separate_build_blocks_make_separate_recipes() -> None:
    conversion = convert_text(
        'source "amazon-ebs" "x" {\n  source_ami = "ami-0123456789abcdef0"\n}\n'
        'build {\n  name = "base"\n  sources = ["source.amazon-ebs.x"]\n}\n'
        'build {\n  name = "gpu"\n  sources = ["source.amazon-ebs.x"]\n'
        '  provisioner "shell" {\n    inline = ["nvidia-smi"]\n  }\n}\n',
        name="node",
    )
    assert [r.name for r in conversion.recipes] == ["node-base", "node-gpu"]
    assert [r.file for r in conversion.recipes] == [
        "recipes/node-base.yaml",
        "recipes/node-gpu.yaml",
    ]
    assert "provision" not in recipe_of(conversion, 0)
    assert recipe_of(conversion, 1)["provision"] == [{"inline": ["nvidia-smi"]}]


def test_a_fixed_ami_name_gets_the_timestamp_bakery_needs() -> None:
    conversion = convert_text(
        'source "amazon-ebs" "x" {\n  source_ami = "ami-0123456789abcdef0"\n'
        '  ami_name = "golden"\n}\nbuild {\n  sources = ["source.amazon-ebs.x"]\n}\n'
    )
    assert recipe_of(conversion)["ami_name"] == "golden-((timestamp))"
    assert any("-((timestamp)) is added" in m for m in messages(conversion))


def test_a_build_of_other_builders_makes_no_recipe_and_says_so() -> None:
    conversion = convert_text(
        'source "docker" "x" {\n  image = "alpine"\n}\n'
        'build {\n  sources = ["source.docker.x"]\n}\n'
    )
    assert conversion.recipes == ()
    assert any(
        "a docker source: bakery builds amazon-ebs images" in m for m in messages(conversion)
    )
