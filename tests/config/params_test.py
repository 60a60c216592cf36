"""References, parameter values, matrices and selectors (bakery.config.params)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bakery.config.params import (
    GivenValue,
    GivenValues,
    Parameter,
    ReferenceSyntaxError,
    combinations,
    env_problem,
    format_build_time,
    has_unique_part,
    matches,
    normalise,
    parse_var_option,
    pattern_problem,
    references,
    resolve_build_references,
    selector,
    substitute,
)


def test_references_are_found_with_spaces_and_formats() -> None:
    found = references("a-((arch))-(( k8s ))-((build_time:%Y%m%d))")
    assert [(ref.name, ref.format) for ref in found] == [
        ("arch", None),
        ("k8s", None),
        ("build_time", "%Y%m%d"),
    ]
    assert found[1].text == "((k8s))"


@pytest.mark.parametrize(
    "text",
    [
        "((arch",
        "((Arch))",
        "((a-b))",
        "((1x))",
        "((arch:%Y))",
        "((build_time))",
        "((build_time:%Q))",
    ],
)
def test_malformed_references_are_refused(text: str) -> None:
    with pytest.raises(ReferenceSyntaxError):
        references(text)


def test_substitute_keeps_what_it_does_not_know_written_canonically() -> None:
    text = substitute(
        "x-(( arch ))-(( build_id ))", lambda ref: "arm64" if ref.name == "arch" else None
    )
    assert text == "x-arm64-((build_id))"


def test_build_references_are_filled_in_from_the_facts_and_the_moment() -> None:
    moment = datetime(2026, 7, 23, 14, 5, 9, tzinfo=UTC)
    text = resolve_build_references(
        "n-((build_id))-v((build_time:%Y%m%d))-((timestamp))",
        {"build_id": "B", "timestamp": "T"},
        moment,
    )
    assert text == "n-B-v20260723-T"
    assert format_build_time("%Y-%m-%dT%H:%M:%S", moment) == "2026-07-23T14:05:09"


def test_a_name_is_unique_only_with_the_build_id_the_timestamp_or_seconds() -> None:
    assert has_unique_part("x-((build_id))")
    assert has_unique_part("x-((timestamp))")
    assert has_unique_part("x-((build_time:%Y%m%d%H%M%S))")
    assert not has_unique_part("x-((build_time:%Y%m%d))")
    assert not has_unique_part("x-((version))")


@pytest.mark.parametrize(
    ("parameter", "value", "expected", "why"),
    [
        (Parameter("n", "integer"), "12", 12, None),
        (Parameter("n", "integer"), "1.5", None, "n is a whole number, not 1.5"),
        (Parameter("n", "integer", minimum=8), 4, None, "n is at least 8, not 4"),
        (Parameter("n", "integer"), True, None, "n is a whole number, not true"),
        (Parameter("b", "boolean"), "true", True, None),
        (Parameter("b", "boolean"), "yes", None, "b is true or false, not yes"),
        (Parameter("s"), 12, None, "s is a string, not 12; quote it"),
        (Parameter("s", pattern=r"1\.[0-9]{2}"), "1.33", "1.33", None),
        (Parameter("s", pattern=r"1\.[0-9]{2}"), "1.33\n", None, None),
        (Parameter("s", allowed=("a", "b")), "c", None, "s is one of a, b, not c"),
        (Parameter("s"), "a\x1bb", None, None),
        (Parameter("s"), "{{ env `X` }}", None, None),
        (Parameter("s"), "((other))", None, None),
        (Parameter("s"), "", None, "s: the value is empty"),
    ],
)
def test_values_are_checked_whole_against_their_declaration(
    parameter: Parameter, value: object, expected: object, why: str | None
) -> None:
    got, problem = parameter.check(value)
    assert got == expected
    if expected is None:
        assert problem is not None
        if why is not None:
            assert problem == why


def test_precedence_var_over_environment_over_var_files() -> None:
    parameter = Parameter("k8s", env="K8S_VERSION")
    from_file = GivenValue("1.31", "var file vars.yaml", "vars.yaml", 1, 6)
    assert GivenValues({"k8s": from_file}, {}).of(parameter) == from_file
    environ = {"K8S_VERSION": "1.32"}
    assert GivenValues({"k8s": from_file}, environ).of(parameter).value == "1.32"  # type: ignore[union-attr]
    environ["BAKERY_VAR_k8s"] = "1.33"
    assert GivenValues({"k8s": from_file}, environ).of(parameter).value == "1.33"  # type: ignore[union-attr]
    option = GivenValue("1.34", "--var k8s=1.34")
    assert GivenValues({"k8s": option}, environ).of(parameter) == option
    # No other variable of the environment is read.
    assert GivenValues({}, {"k8s": "x", "K8S": "y"}).of(parameter) is None


def test_var_options_are_name_equals_value() -> None:
    assert parse_var_option("arch=arm64") == ("arch", "arm64")
    assert parse_var_option("tags=a=b") == ("tags", "a=b")
    for bad in ("arch", "Arch=x", "=x"):
        with pytest.raises(ValueError):
            parse_var_option(bad)


def test_matrix_expands_less_exclude_plus_include_in_order() -> None:
    axes, combos, unused = combinations(
        {
            "arch": ["x86_64", "arm64"],
            "accel": ["standard", "nvidia"],
            "exclude": [{"arch": "arm64", "accel": "nvidia"}, {"accel": "tpu"}],
            "include": [
                {"arch": "x86_64", "accel": "neuron"},
                {"arch": "x86_64", "accel": "nvidia"},
            ],
        }
    )
    assert axes == ["arch", "accel"]
    assert combos == [
        {"arch": "x86_64", "accel": "standard"},
        {"arch": "x86_64", "accel": "nvidia"},
        {"arch": "arm64", "accel": "standard"},
        {"arch": "x86_64", "accel": "neuron"},
    ]
    assert unused == [("exclude", 1)]


def test_when_conditions_match_a_value_or_one_of_a_list() -> None:
    values = {"arch": "arm64", "accel": "nvidia"}
    assert matches({"arch": "arm64"}, values)
    assert matches({"accel": ["nvidia", "neuron"], "arch": "arm64"}, values)
    assert not matches({"arch": "x86_64"}, values)


def test_selectors_and_normalised_names() -> None:
    assert selector("node[arch=arm64, accel=nvidia]") == (
        "node",
        {"arch": "arm64", "accel": "nvidia"},
    )
    assert selector("node") is None
    with pytest.raises(ValueError):
        selector("node[arch]")
    assert normalise("X86 64/GPU") == "x86-64-gpu"
    assert normalise("1.33") == "1.33"


@pytest.mark.parametrize(
    ("pattern", "refused"),
    [
        (r"1\.[0-9]{2}", False),
        (r"v[0-9]{8}", False),
        (r"(a+)+b", True),
        (r"(a|aa)*", True),
        (r"(\w)\1", True),
        ("(", True),
    ],
)
def test_patterns_that_can_take_exponential_time_are_refused(pattern: str, refused: bool) -> None:
    assert (pattern_problem(pattern) is not None) == refused


@pytest.mark.parametrize(
    ("name", "refused"),
    [
        ("K8S_VERSION", False),
        ("NODE_MAJOR", False),
        ("GITHUB_TOKEN", True),
        ("NPM_TOKEN", True),
        ("CLIENT_SECRET", True),
        ("DB_PASSWORD", True),
        ("SIGNING_KEY", True),
        ("GOOGLE_APPLICATION_CREDENTIALS", True),
        ("BASIC_AUTH", True),
        ("AWS_REGION", True),
        ("GITHUB_SHA", True),
        ("ACTIONS_RUNTIME_URL", True),
        ("CI_JOB_JWT_V2", True),
        ("RUNNER_TEMP", True),
        ("SSH_AUTH_SOCK", True),
    ],
)
def test_env_may_not_name_a_credential_or_a_ci_runner_variable(name: str, refused: bool) -> None:
    why = env_problem(name)
    if refused:
        assert why == (
            f"{name} looks like a credential or a CI runner's variable; a recipe may not read it. "
            "Pass a value with --var or BAKERY_VAR_<name> instead"
        )
    else:
        assert why is None


@pytest.mark.parametrize(
    ("pattern", "refused"),
    [
        ("a?b?c?d?", False),
        ("[a-z]+-[0-9]+-[a-z]*-x?", False),
        ("a{3}b{3}c{3}d{3}e{3}f{3}", False),  # fixed counts do not vary
        ("a?b?c?d?e?", True),
        ("[a-z]+-[0-9]+-[a-z]*-x?y{1,3}", True),
        ("(a?b?)(c?d?)e?", True),  # counted inside groups
        ("(a?|b?|c?|d?|e?)", True),  # and inside alternatives
    ],
)
def test_a_pattern_with_more_than_four_varying_repetitions_is_refused(
    pattern: str, refused: bool
) -> None:
    why = pattern_problem(pattern)
    if refused:
        assert why == (
            "the pattern has more than 4 repetitions of varying length (*, +, ?, {m,n}), which "
            "can take very long to match; simplify it"
        )
    else:
        assert why is None


@pytest.mark.parametrize(
    "text", ["node[arch=x86_64,arch=arm64]", "node[arch=x86_64, accel=nvidia, arch=x86_64]"]
)
def test_a_selector_may_not_name_a_key_twice(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        selector(text)
    assert str(caught.value) == f"{text}: arch is named twice"


def test_a_value_that_is_not_utf_8_is_refused() -> None:
    # A command line's byte \xff, as Python decodes it (surrogateescape).
    assert Parameter("s").check("caf\udcff") == (None, "s: the value is not valid UTF-8")
    assert Parameter("s").check("café") == ("café", None)
