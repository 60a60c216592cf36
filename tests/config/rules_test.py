"""The rule table against the fixture corpus: every bad fixture gives exactly its expected lines,
every good one gives none, and every rule code is triggered by some fixture.

Recipe fixtures are tests/fixtures/recipes/{good,bad}/NAME.yaml, each checked on its own in the
project tests/fixtures/recipes (its bakery.yaml; context/ holds the recipes they build on);
project fixtures are tests/fixtures/projects/{good,bad}/NAME/bakery.yaml. A bad fixture's
NAME.problems.txt holds the lines bakery prints, paths relative to the project root. After an
intended change of the wording, rewrite them with BAKERY_UPDATE_FIXTURES=1.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path
from typing import Any

import pytest

from bakery.config import rule_codes as rc
from bakery.config.catalog import load_catalog
from bakery.config.project import load_project
from bakery.config.schema import PROJECT_SCHEMA, RECIPE_SCHEMA
from bakery.errors import InvalidInputError, Problem
from tests.support.project import REPO

FIXTURES = REPO / "tests" / "fixtures"
RECIPES = FIXTURES / "recipes"
PROJECTS = FIXTURES / "projects"
BAD_RECIPES = sorted((RECIPES / "bad").glob("*.yaml"))
GOOD_RECIPES = sorted((RECIPES / "good").glob("*.yaml"))
BAD_PROJECTS = sorted(path for path in (PROJECTS / "bad").iterdir() if path.is_dir())
GOOD_PROJECTS = sorted(path for path in (PROJECTS / "good").iterdir() if path.is_dir())

# Codes no fixture can trigger, and why.
NOT_REACHABLE = {
    "E1000": "the fallback for a schema keyword without a rule of its own; "
    "test_every_schema_keyword_has_a_rule keeps every keyword the schemas use mapped",
    "E0010": "a file over 1 MiB is not kept in git; tests/config/marks_test.py and the hostile "
    "case exhaustion/huge-recipe make one",
    "E2016": "a control character in a path written in YAML is E1016 first; only a file name "
    "(which git cannot hold portably) reaches it: the hostile cases injection/* make them",
}


def recipe_findings(path: Path) -> list[Problem]:
    """Everything validation reports for one recipe fixture: its errors, else its warnings."""
    project = load_project(RECIPES)
    try:
        return list(load_catalog(project, [path]).warnings)
    except InvalidInputError as error:
        return list(error.problems)


def project_findings(folder: Path) -> list[Problem]:
    """Everything validation reports for a project fixture: bakery.yaml, then its recipes."""
    try:
        project = load_project(folder)
    except InvalidInputError as error:
        return list(error.problems)
    if not (folder / "recipes").is_dir():
        return []
    try:
        return list(load_catalog(project).warnings)
    except InvalidInputError as error:
        return list(error.problems)


def expected_lines(problems_file: Path, found: list[Problem]) -> list[str]:
    if os.environ.get("BAKERY_UPDATE_FIXTURES") == "1":
        problems_file.write_text("".join(f"{problem}\n" for problem in found), encoding="utf-8")
    return problems_file.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("path", BAD_RECIPES, ids=[path.stem for path in BAD_RECIPES])
def test_bad_recipe_gives_exactly_its_expected_problems(path: Path) -> None:
    found = recipe_findings(path)
    expected = expected_lines(path.with_suffix(".problems.txt"), found)
    assert expected, f"{path.name}: a bad fixture must expect at least one problem"
    assert [str(problem) for problem in found] == expected


@pytest.mark.parametrize("path", GOOD_RECIPES, ids=[path.stem for path in GOOD_RECIPES])
def test_good_recipe_gives_no_problem(path: Path) -> None:
    assert [str(problem) for problem in recipe_findings(path)] == []


@pytest.mark.parametrize("folder", BAD_PROJECTS, ids=[folder.name for folder in BAD_PROJECTS])
def test_bad_project_gives_exactly_its_expected_problems(folder: Path) -> None:
    found = project_findings(folder)
    expected = expected_lines(folder.with_name(f"{folder.name}.problems.txt"), found)
    assert expected, f"{folder.name}: a bad fixture must expect at least one problem"
    assert [str(problem) for problem in found] == expected


@pytest.mark.parametrize("folder", GOOD_PROJECTS, ids=[folder.name for folder in GOOD_PROJECTS])
def test_good_project_gives_no_problem(folder: Path) -> None:
    assert [str(problem) for problem in project_findings(folder)] == []


def test_an_ignored_warning_is_dropped_and_others_stay() -> None:
    project = load_project(PROJECTS / "good" / "ignore-warning")
    assert dict(project.ignored_rules) == {
        "W2001": "we list every region the image serves, the build region too"
    }
    assert load_catalog(project).warnings == ()
    assert [p.code for p in recipe_findings(RECIPES / "bad" / "build-region-copy.yaml")] == [
        "W2001"
    ]


def test_every_problems_file_belongs_to_a_fixture() -> None:
    for problems_file in sorted(RECIPES.glob("bad/*.problems.txt")):
        name = problems_file.name.removesuffix(".problems.txt")
        assert (problems_file.parent / f"{name}.yaml").is_file()
    for problems_file in sorted(PROJECTS.glob("bad/*.problems.txt")):
        name = problems_file.name.removesuffix(".problems.txt")
        assert (problems_file.parent / name / "bakery.yaml").is_file()


def test_every_rule_is_triggered_by_a_fixture_or_says_why_not() -> None:
    files = [*RECIPES.glob("bad/*.problems.txt"), *PROJECTS.glob("bad/*.problems.txt")]
    line = re.compile(r"[^\n]*?:[0-9]+:[0-9]+: ([EW][0-9]{4}) [^\n]*")
    triggered = set()
    for problems_file in files:
        for text in problems_file.read_text(encoding="utf-8").splitlines():
            match = line.fullmatch(text)
            assert match, f"{problems_file.name}: not a problem line: {text!r}"
            triggered.add(match.group(1))
    codes = {rule.code for rule in rc.RULES}
    assert triggered <= codes, f"fixtures expect unknown codes: {sorted(triggered - codes)}"
    assert set(NOT_REACHABLE) <= codes
    untested = codes - triggered - set(NOT_REACHABLE)
    assert not untested, f"add a bad fixture for each of {sorted(untested)}"
    assert not triggered & set(NOT_REACHABLE), "a fixture triggers a code listed as unreachable"


def test_codes_are_unique_and_well_formed() -> None:
    codes = [rule.code for rule in rc.RULES]
    assert len(codes) == len(set(codes))
    assert codes == sorted(codes, key=lambda code: (code[1], code[0] == "W", code))
    for rule in rc.RULES:
        assert re.fullmatch(r"[EW][0-7][0-9]{3}", rule.code), rule.code
        assert rule.severity == ("error" if rule.code[0] == "E" else "warning"), rule.code
        assert rule.code[1] in rc.FAMILIES, rule.code
        assert rule.title and rule.title[0].isupper() and not rule.title.endswith("."), rule.code
        assert rule.description.endswith("."), rule.code
        assert "\n" not in rule.description + rule.title, rule.code
    assert dict(rc.RULES_BY_CODE) == {rule.code: rule for rule in rc.RULES}


def _keywords(schema: Any) -> set[str]:
    """Every validation keyword used anywhere in `schema`."""
    annotations = {"$schema", "$id", "title", "description", "properties", "items"}
    found: set[str] = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key not in annotations:
                found.add(key)
            if key == "properties":
                for sub in value.values():
                    found |= _keywords(sub)
            elif isinstance(value, dict | list):
                found |= _keywords(value)
    elif isinstance(schema, list):
        for item in schema:
            found |= _keywords(item)
    return found


def test_every_schema_keyword_has_a_rule() -> None:
    used = _keywords(RECIPE_SCHEMA) | _keywords(PROJECT_SCHEMA)
    # propertyNames findings go to BAD_KEY or RESERVED_TAG (its `not`); `not` is used only there.
    # allOf only gathers patterns: jsonschema reports each of its branches' findings itself.
    handled = set(rc.SCHEMA_KEYWORDS) | {"propertyNames", "not", "allOf"}
    assert used - handled == set()


def test_every_problem_is_made_by_a_rule() -> None:
    bakery = REPO / "bakery"
    makers = []
    for path in sorted(bakery.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name == "Problem":
                makers.append(path.relative_to(REPO).as_posix())
    assert makers == ["bakery/config/rule_codes.py"], "make a Problem with Rule.at or doc.problem"
