from __future__ import annotations

import pytest

from bakery.config.marks import format_path, load_marked


def test_marks_point_at_keys_and_values() -> None:
    doc, problems = load_marked("a: 1\nb:\n  - x: 2\n", "f.yaml")
    assert problems == [] and doc is not None
    assert doc.data == {"a": 1, "b": [{"x": 2}]}
    assert doc.where(("b", 0, "x")) == doc.keys[("b", 0, "x")]
    assert (doc.where(("b", 0, "x")).line, doc.where(("b", 0, "x")).column) == (3, 5)
    assert doc.where(("b", 0, "missing")).line == 3


def test_syntax_error_names_its_line() -> None:
    doc, problems = load_marked("a: [1\nb: 2\n", "f.yaml")
    assert doc is None
    assert str(problems[0]).startswith("f.yaml:2:2: E0001 YAML syntax error")


def test_duplicate_key_is_a_problem() -> None:
    _, problems = load_marked("a: 1\na: 2\n", "f.yaml")
    assert [str(p) for p in problems] == [
        "f.yaml:2:1: E0003 a: duplicate key (first at line 1); remove one"
    ]


def test_format_path() -> None:
    assert format_path(("provision", 0, "script")) == "provision[0].script"
    assert format_path(()) == ""


def test_unpaired_surrogate_escape_is_a_problem_not_a_crash() -> None:
    _, problems = load_marked('a: "\\ud83d"\n', "f.yaml")
    assert [str(p) for p in problems] == [
        "f.yaml:1:1: E0006 a: invalid Unicode (an unpaired surrogate escape)"
    ]


def test_control_character_is_located_at_its_line_and_column() -> None:
    doc, problems = load_marked("a: 1\nb: x\x1b\n", "f.yaml")
    assert doc is None
    assert [str(p) for p in problems] == [
        "f.yaml:2:5: E0002 character U+001B is not allowed in YAML; remove it or write the "
        "escape \\u001b in a double-quoted string"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "!vault a: 1\nb: 2\n",
            "f.yaml:1:1: E0005 cannot read value: could not determine a constructor for the tag "
            "'!vault'",
        ),
        (
            "a: 2001-13-45\n",
            "f.yaml:1:1: E0005 a: cannot read value: month must be in 1..12",
        ),
        (
            "a: !!int x\n",
            "f.yaml:1:1: E0005 a: cannot read value: invalid literal for int() with base 10: 'x'",
        ),
    ],
)
def test_unreadable_keys_and_values_are_problems_not_crashes(text: str, expected: str) -> None:
    _, problems = load_marked(text, "f.yaml")
    assert [str(p) for p in problems] == [expected]
