"""Variables that do not become plain parameters, and the names recipes and variants get."""

from __future__ import annotations

from bakery.convert.paths import ProjectPaths
from bakery.convert.recipes import ConvertInput, convert
from tests.support.packer_templates import convert_text, messages, recipe_of

SOURCE = """\
source "amazon-ebs" "x" {
  source_ami = "ami-0123456789abcdef0"
  ami_name   = "n-${var.shared}-${var.aws}-${var.long}-${var.bad}-${var.expr}-${var.flag}-\
${var.n}-${var.ratio}-{{timestamp}}"
}
build {
  sources = ["source.amazon-ebs.x"]
}
"""
VARIABLES = f"""\
variable "shared" {{ default = "a" }}
variable "aws" {{ default = env("AWS_SECRET_ACCESS_KEY") }}
variable "long" {{
  default     = "b"
  description = "{"x" * 300}"
  validation {{
    condition     = length(var.long) > 0
    error_message = "empty"
  }}
}}
variable "bad" {{ default = "has ((brackets))" }}
variable "expr" {{ default = "${{upper("x")}}" }}
variable "flag" {{ default = true }}
variable "n" {{ default = 3 }}
variable "ratio" {{
  type    = number
  default = 1.5
}}
variable "variant" {{ default = "v" }}
"""


def test_what_keeps_a_variable_from_being_a_plain_parameter() -> None:
    conversion = convert(
        ConvertInput(
            VARIABLES + SOURCE,
            "t.pkr.hcl",
            ".",
            ProjectPaths("/p", "recipes", lambda path: False),
            project_parameters=frozenset({"shared"}),
        )
    )
    parameters = recipe_of(conversion)["parameters"]
    assert parameters == {
        "aws": {},
        "long": {"default": "b"},
        "bad": {},
        "expr": {},
        "flag": {"type": "boolean", "default": True},
        "n": {"type": "integer", "default": 3},
    }
    found = "\n".join(messages(conversion))
    for expected in (
        'variable "shared": bakery.yaml declares the parameter shared',
        'variable "aws": its default reads AWS_SECRET_ACCESS_KEY, which a recipe may not',
        'variable "long": description: longer than 255 characters',
        'variable "long": validation: a validation block is not evaluated',
        'variable "bad": default: bad: the value holds (( or {{',
        'variable "expr": default: not a value bakery can take',
        'variable "ratio": a list or map variable is not a parameter',
        "ami_name: var.ratio is written as its value here",
    ):
        assert expected in found, expected


def test_a_template_with_no_build_or_no_such_source() -> None:
    assert any(
        "the template has no build with sources" in m
        for m in messages(convert_text('variable "a" {}\n'))
    )
    conversion = convert_text('build {\n  sources = ["source.amazon-ebs.nope"]\n}\n')
    assert conversion.recipes == ()
    assert any("source.amazon-ebs.nope: no such source block" in m for m in messages(conversion))


def test_names_of_recipes_and_variants_are_made_to_fit() -> None:
    text = (
        'variable "variant" {\n  default = "x"\n}\n'
        'source "amazon-ebs" "A B" {\n  source_ami = "ami-0123456789abcdef0"\n'
        '  ami_name = "${var.variant}-{{timestamp}}"\n}\n'
        'source "amazon-ebs" "a-b" {\n  source_ami = "ami-0123456789abcdef1"\n}\n'
        'build {\n  name = "Same"\n'
        '  sources = ["source.amazon-ebs.A B", "source.amazon-ebs.a-b"]\n}\n'
        'build {\n  name = "same"\n  sources = ["source.amazon-ebs.a-b"]\n}\n'
    )
    conversion = convert_text(text, "packer/My_Build.pkr.hcl")
    assert [r.name for r in conversion.recipes] == ["my-build-same", "my-build-same-2"]
    family = recipe_of(conversion)
    # the matrix key is `variant`: a Packer variable of that name is renamed
    assert family["matrix"] == {"variant": ["a-b-1", "a-b-2"]}
    assert family["parameters"] == {"var_variant": {"default": "x"}}
