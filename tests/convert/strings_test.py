from __future__ import annotations

import pytest

from bakery.convert.strings import StringSyntaxError, go_text, hcl_text
from bakery.convert.template import Interpolation, Where

WHERE = Where("t.pkr.hcl", 1)


def test_an_hcl_string_splits_into_text_and_interpolations() -> None:
    text = hcl_text("eks-${var.k}-${local.timestamp}", WHERE)
    assert text.parts == (
        "eks-",
        Interpolation("var.k", "hcl"),
        "-",
        Interpolation("local.timestamp", "hcl"),
    )
    assert text.literal is None


def test_escapes_are_decoded_and_doubled_markers_are_literal() -> None:
    text = hcl_text(r"a\"b\\c\n\u00e9 $${lit} %%{lit}", WHERE)
    assert text.literal == 'a"b\\c\né ${lit} %{lit}'


def test_braces_and_strings_inside_an_interpolation_do_not_end_it() -> None:
    text = hcl_text('x${regex_replace(timestamp(), "[}]", "")}y', WHERE)
    assert text.parts == ("x", Interpolation('regex_replace(timestamp(), "[}]", "")', "hcl"), "y")


def test_a_directive_is_kept_as_one() -> None:
    assert hcl_text("%{ if var.x }a%{ endif }", WHERE).parts[0] == Interpolation(
        "if var.x", "directive"
    )


def test_an_unclosed_interpolation_is_refused() -> None:
    with pytest.raises(StringSyntaxError):
        hcl_text("${var.x", WHERE)


def test_go_templates_are_found_in_json_and_hcl_strings() -> None:
    assert go_text("{{user `a`}}-{{ timestamp }}", WHERE).parts == (
        Interpolation("user `a`", "go"),
        "-",
        Interpolation("timestamp", "go"),
    )
    assert hcl_text("n-{{timestamp}}", WHERE).parts == ("n-", Interpolation("timestamp", "go"))
    assert go_text("{{ unclosed", WHERE).literal == "{{ unclosed"


def test_escapes_bakery_does_not_know_are_kept_as_written() -> None:
    assert hcl_text(r"\q \u12 \uD800 \U0010FFFF\U00110000 end\\", WHERE).literal == (
        "\\q \\u12 \\uD800 \U0010ffff\\U00110000 end\\"
    )


def test_a_string_inside_an_interpolation_may_hold_braces_and_escapes() -> None:
    text = hcl_text(r'${lookup(var.m, "a\"}", "${var.d}")}', WHERE)
    assert text.parts == (Interpolation(r'lookup(var.m, "a\"}", "${var.d}")', "hcl"),)
    with pytest.raises(StringSyntaxError):
        hcl_text('${f("unclosed)}', WHERE)
    with pytest.raises(StringSyntaxError):
        hcl_text('${f("${x")}', WHERE)


def test_trim_markers_of_go_templates_are_dropped() -> None:
    assert go_text("a {{- user `x` -}} b", WHERE).parts == (
        "a ",
        Interpolation("user `x`", "go"),
        " b",
    )
