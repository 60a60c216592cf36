"""expressions.Context, value by value: what each form of a template value becomes."""

from __future__ import annotations

from typing import Any

import pytest

from bakery.convert.expressions import (
    Context,
    Parameter,
    build_time_default,
    deprecate_days,
    env_default,
)
from bakery.convert.hcl_reader import read_hcl_template
from bakery.convert.strings import go_text, hcl_text
from bakery.convert.template import (
    Body,
    Entry,
    Expression,
    Interpolation,
    Items,
    Scalar,
    Text,
    Where,
)

W = Where("t.pkr.hcl", 1)
LOCALS = """\
locals {
  chain  = local.inner
  inner  = var.k8s
  quoted = "${var.k8s}"
  both   = "a-${var.k8s}"
  loop   = local.loop
}
"""


def context(variant: str | None = None, folder: str | None = "packer") -> Context:
    template = read_hcl_template(LOCALS, "t.pkr.hcl")
    parameters = {
        "k8s": Parameter("k8s", "k8s"),
        "disk": Parameter("disk", "disk", "integer"),
        "flag": Parameter("flag", "flag", "boolean"),
        "list": Parameter("list", None, reason="a list"),
        "secret": Parameter("secret", None, reason="sensitive", sensitive=True),
        "empty": Parameter("empty", "empty"),
        "stamp": Parameter("stamp", None, alias=Interpolation("timestamp", "go")),
        "count": Parameter("count", None, reason="no reference here"),
    }
    values = {
        "k8s": Text(("1.33",), W),
        "list": Items((Text(("a",), W), Text(("b",), W)), W),
        "secret": Text(("hunter2",), W),
        "empty": Text((), W),
        "count": Text(("7",), W),
    }
    return Context(template, parameters, values, folder, source_name="x", variant_parameter=variant)


def hcl(code: str) -> Text:
    return Text((Interpolation(code, "hcl"),), W)


def go(code: str) -> Text:
    return Text((Interpolation(code, "go"),), W)


def outcome(result: Any) -> Any:
    return result.value if result.ok else ("problem", result.problem)


@pytest.mark.parametrize(
    ("value", "path", "expected"),
    [
        (Scalar(None, W), ("description",), ("problem", "the value is null")),
        (Scalar(True, W), ("description",), "true"),
        (Scalar(2.0, W), ("description",), "2"),
        (Items((), W), ("description",), ("problem", "a list or map where bakery takes text")),
        (
            Text(("a ((b))",), W),
            ("description",),
            ("problem", "the text holds ((, which a recipe reads as a reference"),
        ),
        (
            Text(("a\x07",), W),
            ("description",),
            ("problem", "the text holds the control character U+0007, which a recipe refuses"),
        ),
        (Expression("local.chain", W), ("description",), "((k8s))"),
        (hcl("local.quoted"), ("description",), "((k8s))"),
        (hcl("local.both"), ("description",), "a-((k8s))"),
        (hcl("local.nope"), ("description",), ("problem", "local.nope is not declared")),
        (hcl("local.loop"), ("description",), ("problem", "local.loop refers to itself")),
        (hcl("path.root"), ("description",), "packer"),
        (hcl("path.cwd"), ("description",), "."),
        (hcl("source.name"), ("description",), "x"),
        (hcl("source.type"), ("description",), "amazon-ebs"),
        (hcl("uuidv4()"), ("ami_name",), "((build_id))"),
        (hcl('formatdate("YYYY-MM-DD", timestamp())'), ("tags", "t"), "((build_time:%Y-%m-%d))"),
        (hcl('formatdate("YYYYMMDDhhmmss", timestamp())'), ("ami_name",), "((timestamp))"),
        (
            hcl('formatdate("EEE", timestamp())'),
            ("tags", "t"),
            (
                "problem",
                'formatdate("EEE", timestamp()): bakery has no equivalent of this date format',
            ),
        ),
        (
            hcl('formatdate("\'T", timestamp())'),
            ("tags", "t"),
            (
                "problem",
                'formatdate("\'T", timestamp()): bakery has no equivalent of this date format',
            ),
        ),
        (hcl("var.nope"), ("description",), ("problem", "var.nope is not declared")),
        (hcl("var.stamp"), ("ami_name",), "((timestamp))"),
        (
            hcl("var.stamp"),
            ("description",),
            (
                "problem",
                "var.stamp: {{timestamp}} is known only when a build runs; bakery has it in "
                "ami_name and tag values",
            ),
        ),
        (
            hcl("var.secret"),
            ("description",),
            ("problem", "var.secret is sensitive: its value is never written into a recipe"),
        ),
        (hcl("var.list"), ("description",), ("problem", "a list or map where bakery takes text")),
        (hcl("var.count"), ("description",), "7"),
        (
            hcl("var.empty"),
            ("description",),
            ("problem", "var.empty is empty, which Packer reads as unset: left out"),
        ),
        (hcl("var.k8s"), ("name",), "1.33"),  # a field that takes no reference
        (
            hcl("max(1, 2)"),
            ("description",),
            ("problem", "max() is an HCL function bakery does not evaluate (max(1, 2))"),
        ),
        (
            hcl("a.b[0]"),
            ("description",),
            ("problem", "a.b[0] is an expression bakery does not evaluate"),
        ),
        (
            Text((Interpolation("if x", "directive"),), W),
            ("description",),
            ("problem", "%{if x} is an HCL template directive, which bakery does not run"),
        ),
        (go("user `k8s`"), ("description",), "((k8s))"),
        (go('isotime "2006-01-02"'), ("tags", "t"), "((build_time:%Y-%m-%d))"),
        (
            go('isotime "Jan 2"'),
            ("tags", "t"),
            ("problem", '{{isotime "Jan 2"}}: bakery has no equivalent of this time layout'),
        ),
        (go("uuid"), ("tags", "t"), "((build_id))"),
        (go("template_dir"), ("description",), "packer"),
        (go("pwd"), ("description",), "."),
        (go("build_name"), ("description",), "x"),
        (go("build_type"), ("description",), "amazon-ebs"),
        (go(".SourceAMI"), ("tags", "t"), "((source_ami_id))"),
        (
            go(".SourceAMIName"),
            ("ami_name",),
            (
                "problem",
                "{{ .SourceAMIName }} is known only when a build runs; bakery has it in tag values",
            ),
        ),
        (go(".BuildRegion"), ("description",), "((build_region))"),
        (
            go("split `a` `b`"),
            ("description",),
            ("problem", "{{split `a` `b`}} is a Go template bakery does not evaluate"),
        ),
    ],
)
def test_text(value: Any, path: tuple[str, ...], expected: Any) -> None:
    assert outcome(context().text(value, path)) == expected


def test_the_source_name_of_a_family_is_its_variant() -> None:
    ctx = context(variant="variant")
    assert outcome(ctx.text(hcl("source.name"), ("description",))) == "((variant))"
    assert outcome(ctx.text(hcl("source.name"), ("name",))) == (
        "problem",
        "the source's name differs by variant; this field takes no reference",
    )


def test_a_template_outside_the_project_has_no_folder() -> None:
    assert outcome(context(folder=None).text(go("template_dir"), ("description",)))[0] == "problem"


@pytest.mark.parametrize(
    ("value", "path", "expected"),
    [
        (Scalar(3, W), ("build", "volume_size"), 3),
        (Scalar(3.0, W), ("build", "volume_size"), 3),
        (Scalar(3.5, W), ("build", "volume_size"), ("problem", "3.5 is not a whole number")),
        (Scalar(True, W), ("build", "volume_size"), ("problem", "not a whole number")),
        (Text(("12",), W), ("build", "volume_size"), 12),
        (Text(("x",), W), ("build", "volume_size"), ("problem", "'x' is not a whole number")),
        (Expression("var.disk", W), ("build", "volume_size"), "((disk))"),
        (Expression("var.count", W), ("build", "volume_size"), 7),
        (Expression("var.count", W), ("name",), 7),
        (
            Expression("var.nope", W),
            ("build", "volume_size"),
            ("problem", "var.nope is not declared"),
        ),
        (
            Expression("var.stamp", W),
            ("build", "volume_size"),
            ("problem", "var.stamp is the build's time or id; this field takes a integer"),
        ),
        (
            Expression("1 + 1", W),
            ("build", "volume_size"),
            ("problem", "1 + 1 is an expression bakery does not evaluate"),
        ),
    ],
)
def test_integer(value: Any, path: tuple[str, ...], expected: Any) -> None:
    assert outcome(context().integer(value, path)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Scalar(False, W), False),
        (Scalar(1, W), ("problem", "not true or false")),
        (Text(("True",), W), True),
        (Text(("yes",), W), ("problem", "'yes' is not true or false")),
        (Expression("var.flag", W), "((flag))"),
        (
            Expression("var.empty", W),
            ("problem", "var.empty is empty, which Packer reads as unset: left out"),
        ),
    ],
)
def test_boolean(value: Any, expected: Any) -> None:
    assert outcome(context().boolean(value, ("build", "ssh_pty"))) == expected


def test_lists_and_maps() -> None:
    ctx = context()
    assert outcome(ctx.strings(Expression("var.list", W), ("distribute", "regions"))) == ["a", "b"]
    assert outcome(ctx.strings(Expression("var.empty", W), ("distribute", "regions"))) == []
    assert outcome(ctx.strings(Text(("a, b,",), W), ("distribute", "regions"))) == ["a", "b"]
    assert outcome(ctx.strings(go("uuid"), ("tags",)))[0] == "problem"
    assert outcome(ctx.strings(Scalar(1, W), ("distribute", "regions"))) == (
        "problem",
        "not a list of strings",
    )
    assert (
        outcome(ctx.strings(Items((Items((), W),), W), ("distribute", "regions")))[0] == "problem"
    )
    body = Body((Entry("a", Text(("1",), W), W),), W)
    assert outcome(ctx.string_map(body, ("tags",))) == {"a": "1"}
    assert outcome(ctx.string_map(Scalar(1, W), ("tags",))) == ("problem", "not a map")
    assert outcome(ctx.string_map(Expression("var.k8s", W), ("tags",)))[0] == "problem"
    for key, why in (("${x}", "is an expression"), ("a\x00", "control character")):
        bad = Body((Entry(key, Text(("1",), W), W),), W)
        assert why in str(ctx.string_map(bad, ("tags",)).problem)
    failing = Body((Entry("a", Items((), W), W),), W)
    assert ctx.string_map(failing, ("tags",)).problem == "a: a list or map where bakery takes text"


def test_shell_text_reads_variables_from_the_environment_outside_single_quotes() -> None:
    ctx = context()
    text = hcl_text(r"echo \"${var.k8s}\" 'it''s ${var.k8s}' \\' ${var.k8s}", W)
    result = ctx.text(text, ("provision", 0, "inline", 0))
    assert result.value == "echo \"${K8S}\" 'it''s 1.33' \\' ${K8S}"
    assert dict(result.env) == {"K8S": "((k8s))"}
    assert ctx.text(Text(("$((1 + 2))",), W), ("provision", 0, "inline", 0)).value == "$((1 + 2))"


def test_the_helpers_for_defaults() -> None:
    assert env_default(Expression('env("HOME_DIR")', W)) == "HOME_DIR"
    assert env_default(go_text("{{env `X`}}", W)) == "X"
    assert env_default(Text(("x",), W)) is None
    assert env_default(Expression("var.x", W)) is None
    assert deprecate_days(Expression('timeadd(timestamp(), "720h")', W)) == 30
    assert deprecate_days(Expression('timeadd(timestamp(), "25h")', W)) is None
    assert deprecate_days(Text(("2030-01-01",), W)) is None
    assert build_time_default(go_text("{{timestamp}}", W)) is not None
    assert build_time_default(go_text('{{isotime "2006"}}', W)) is not None
    assert build_time_default(hcl("timestamp()")) is not None
    assert build_time_default(go_text("a{{timestamp}}", W)) is None
    assert build_time_default(Text(("x",), W)) is None
    assert build_time_default(go_text("{{user `x`}}", W)) is None
    assert build_time_default(Scalar(1, W)) is None
