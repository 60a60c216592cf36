from __future__ import annotations

import json

import hcl2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bakery.render.hcl import Reference, RootPath, align, escape_string, literal


def decode(raw: str) -> str:
    """Read back a quoted HCL string as python-hcl2 returns it, undoing HCL's escapes."""
    assert raw.startswith('"') and raw.endswith('"'), raw
    return json.loads(raw).replace("$${", "${").replace("%%{", "%{")


def roundtrip(value: str) -> str:
    parsed = hcl2.loads(f"x = {escape_string(value)}\n")
    return decode(parsed["x"])


@pytest.mark.parametrize(
    "value",
    [
        'say "hi"',
        "back\\slash",
        "two\nlines\r\n",
        "tab\there",
        "${var.secret}",
        "%{ if true }x",
        "$${already}",
        "ünïcödé ✓ 日本",
        "\x00\x07\x1b\x7f",
        "end with $",
        "end with %",
        "{{ env }}",
    ],
)
def test_escape_string_reads_back_as_the_same_text(value: str) -> None:
    assert roundtrip(value) == value


def test_escape_string_doubles_template_sequences() -> None:
    assert escape_string("a${b}%{c}") == '"a$${b}%%{c}"'


@given(st.text(max_size=200))
def test_any_text_survives_the_filter(value: str) -> None:
    assert roundtrip(value) == value


def test_literal_writes_scalars_lists_and_maps() -> None:
    assert literal(True) == "true"
    assert literal(8) == "8"
    assert literal(1.5) == "1.5"
    assert literal(["a", 1]) == '["a", 1]'
    assert literal({}) == "{}"
    assert (
        literal({"k": "v", "n": {"x": 1}}, 2)
        == '{\n    "k" = "v"\n    "n" = {\n      "x" = 1\n    }\n  }'
    )


def test_literal_writes_references_and_root_paths_unquoted_or_anchored() -> None:
    assert literal(Reference("var.source_ami")) == "var.source_ami"
    assert literal(RootPath('steps/a "b".sh')) == '"${path.root}/steps/a \\"b\\".sh"'


def test_reference_refuses_anything_but_a_plain_reference() -> None:
    with pytest.raises(ValueError):
        Reference('var.x} ${file("/etc/passwd")')


def test_literal_refuses_values_it_cannot_write() -> None:
    with pytest.raises(TypeError):
        literal(object())
    with pytest.raises(ValueError):
        literal(float("nan"))
    with pytest.raises(TypeError):
        literal([{"a": "b"}])


def test_align_pads_consecutive_one_line_attributes_like_packer_fmt() -> None:
    text = 'a = 1\nlonger = 2\nmap = {\n  "k" = 1\n  "kk" = 2\n}\nz = 3'
    assert align(text) == 'a      = 1\nlonger = 2\nmap = {\n  "k"  = 1\n  "kk" = 2\n}\nz = 3'
