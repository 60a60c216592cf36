from __future__ import annotations

import pytest

from bakery.config.marks import MAX_DEPTH, MAX_FILE_BYTES, format_path, load_marked


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


def test_a_file_over_the_size_limit_is_refused_at_the_line_where_it_crosses_it() -> None:
    text = "a: 1\n" + "# padding\n" * (MAX_FILE_BYTES // 10 + 10)
    doc, problems = load_marked(text, "f.yaml")
    assert doc is None
    assert [p.code for p in problems] == ["E0010"]
    assert problems[0].line > 100_000
    assert "at most 1 MiB" in problems[0].message


def test_a_file_at_the_size_limit_is_read() -> None:
    text = "a: 1\n" + "#" * (MAX_FILE_BYTES - 6) + "\n"
    _, problems = load_marked(text, "f.yaml")
    assert problems == []


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    _, problems = load_marked("a: " + "[" * 500 + "]" * 500 + "\n", "f.yaml")
    assert [str(p) for p in problems] == [
        "f.yaml:1:67: E0011 lists and mappings are nested more than 64 deep; flatten the file"
    ]
    _, problems = load_marked("a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n", "f")
    assert problems == []


def test_aliases_cannot_nest_deeper_than_the_limit() -> None:
    text = "".join(f"a{i}: &a{i} [{'*a' + str(i - 1) if i else 1}]\n" for i in range(70))
    _, problems = load_marked(text, "f.yaml")
    assert [p.code for p in problems] == ["E0011"]


def test_an_alias_bomb_is_refused_at_the_alias_that_crosses_the_limit() -> None:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n"
        for i in range(9)
    )
    _, problems = load_marked(text, "f.yaml")
    assert [str(p) for p in problems] == [
        "f.yaml:5:8: E0012 aliases expand the document by more than 10,000 values (at *d); "
        "write the values out or use fewer aliases"
    ]


def test_a_few_aliases_are_fine() -> None:
    doc, problems = load_marked("a: &e {X: '1'}\nb: *e\nc: *e\n", "f.yaml")
    assert problems == [] and doc is not None
    assert doc.data == {"a": {"X": "1"}, "b": {"X": "1"}, "c": {"X": "1"}}


def test_a_recursive_alias_is_refused() -> None:
    _, problems = load_marked("a: &x [1, *x]\n", "f.yaml")
    assert [p.code for p in problems] == ["E0012"]
    assert "recursive alias" in problems[0].message


@pytest.mark.parametrize(
    ("key", "read_as"),
    [
        ("on", "the boolean true"),
        ("NO", "the boolean false"),
        ("null", "null"),
        ("~", "null"),
        ("0x10", "the number 16"),
        ("010", "the number 8"),
        ("1.5", "the number 1.5"),
        ("2024-01-01", "a date"),
    ],
)
def test_a_key_yaml_reads_as_no_string_is_refused(key: str, read_as: str) -> None:
    doc, problems = load_marked(f"tags:\n  {key}: x\n  ok: y\n", "f.yaml")
    assert [str(p) for p in problems] == [
        f"f.yaml:2:3: E0009 tags: the key {key!r} is read by YAML as {read_as}, not a string; "
        f'quote the key ("{key}")'
    ]
    assert doc is not None and doc.data == {"tags": {"ok": "y"}}


def test_a_quoted_key_is_a_string() -> None:
    doc, problems = load_marked('tags: {"on": x, "010": y}\n', "f.yaml")
    assert problems == [] and doc is not None
    assert doc.data == {"tags": {"on": "x", "010": "y"}}


def test_a_path_with_a_control_character_is_written_escaped() -> None:
    assert format_path(("tags", "a\x1b[31m")) == "tags['a\\x1b[31m']"
    assert format_path(("tags", "a\u202eb", 0)) == "tags['a\\u202eb'][0]"
