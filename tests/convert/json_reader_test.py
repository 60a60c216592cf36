from __future__ import annotations

import pytest

from bakery.convert.json_reader import MAX_DEPTH, read_json, read_json_template
from bakery.convert.template import Body, Items, Scalar, Text
from bakery.errors import BakeryError

TEMPLATE = """{
  "variables": {"size": "20", "token": null},
  "sensitive-variables": ["token"],
  "builders": [
    {
      "type": "amazon-ebs",
      "name": "al2023",
      "instance_type": "t3.small"
    }
  ],
  "provisioners": [{"type": "shell", "inline": ["echo {{user `size`}}"]}],
  "post-processors": ["manifest", [{"type": "shell-local"}]]
}
"""


def test_every_key_keeps_its_line_and_column() -> None:
    template = read_json_template(TEMPLATE, "t.json")
    (source,) = template.sources
    assert source.labels == ("amazon-ebs", "al2023")
    entry = source.body.entry("instance_type")
    assert entry is not None and (entry.where.line, entry.where.column) == (8, 7)
    size, token = template.variables
    assert (size.name, size.where.line, token.sensitive, token.default) == ("size", 2, True, None)
    (provisioner,) = template.builds[0].provisioners
    assert provisioner.labels == ("shell",)
    inline = provisioner.body.get("inline")
    assert isinstance(inline, Items) and isinstance(inline.items[0], Text)
    assert [p.labels[0] for p in template.builds[0].post_processors] == ["manifest", "shell-local"]


def test_a_key_given_twice_keeps_its_last_value_as_go_does() -> None:
    body = read_json('{"a": 1, "a": 2}', "v.json")
    assert isinstance(body, Body) and len(body.entries) == 1
    value = body.get("a")
    assert isinstance(value, Scalar) and value.value == 2


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"a": 1,\n  "b" 2}', "t.json:2:7"),
        ('{"a": tru}', "t.json:1:7"),
        ('{"a": "x\ny"}', "t.json:1:7"),
        ("[1, 2", "t.json:1:6"),
        ('{"a": 1} x', "t.json:1:10"),
    ],
)
def test_invalid_json_is_reported_at_its_line_and_column(text: str, where: str) -> None:
    with pytest.raises(BakeryError, match=f"^{where}: not valid JSON"):
        read_json(text, "t.json")


def test_nesting_is_limited() -> None:
    with pytest.raises(BakeryError, match="nested more than"):
        read_json("[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5), "t.json")


def test_what_a_json_template_holds_besides_builders_and_provisioners() -> None:
    template = read_json_template(
        '{"builders": [1, {"name": "x"}, {"type": "amazon-ebs"}], "provisioners": [{}],'
        ' "post-processors": [3], "variables": {}, "extra": [], "builders2": {}}',
        "t.json",
    )
    assert [s.labels for s in template.sources] == [("amazon-ebs", "amazon-ebs")]
    assert [e.key for e in template.others] == [
        "builders", "builders", "provisioners", "post-processors", "extra", "builders2"
    ]  # fmt: skip
    assert read_json("{}", "t.json") == Body((), read_json("{}", "t.json").where)
    assert isinstance(read_json("[]", "t.json"), Items)
    number = read_json("-1.5e3", "t.json")
    assert isinstance(number, Scalar) and number.value == -1500.0
    with pytest.raises(BakeryError, match="expected :"):
        read_json('{"a" 1}', "t.json")
    with pytest.raises(BakeryError, match="expected a key"):
        read_json("{1: 2}", "t.json")
    with pytest.raises(BakeryError, match="does not end"):
        read_json('"abc', "t.json")
    with pytest.raises(BakeryError, match="ends early"):
        read_json("[1,", "t.json")
