from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bakery.cli import main
from bakery.commands.rules import rules_markdown
from bakery.commands.schema import schema_text
from tests.support.project import BASE_RECIPE, REPO, ProjectFactory


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed entry point the way a user does."""
    return subprocess.run(
        [sys.executable, "-m", "bakery", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_validate_samples_succeeds(sample_project: Path) -> None:
    done = run_cli("validate", cwd=sample_project)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "4 recipes valid: al2023-base, cis-hardened, web, worker\n"


def test_broken_recipe_gives_located_lines_exit_1_and_no_traceback(
    make_project: ProjectFactory,
) -> None:
    root = make_project(
        {
            "recipes/base.yaml": BASE_RECIPE + "bogus: 1\nprovision:\n"
            "  - script: ../scripts/web/install-nginx.sh\n"
        }
    )
    done = run_cli("validate", cwd=root)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "recipes/base.yaml:6:1: E1002 bogus: unknown key; expected one of: ami_name, build, "
        "description, distribute, environment, hygiene, layer, licensing, matrix, max_age, name, "
        "parameters, provision, retention, source, tags, tests, variants, version",
        "bakery: 1 problem found",
    ]
    assert "Traceback" not in done.stderr


def test_validate_json_lists_problems(make_project: ProjectFactory) -> None:
    root = make_project({"recipes/base.yaml": BASE_RECIPE.replace("1.0.0", "one")})
    done = run_cli("validate", "--json", cwd=root)
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["valid"] is False
    assert report["problems"] == [
        {
            "file": "recipes/base.yaml",
            "line": 3,
            "column": 1,
            "code": "E1005",
            "path": "version",
            "message": "'one' is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.2.3)",
            "severity": "error",
        }
    ]


def test_a_warning_is_printed_and_validate_still_succeeds(make_project: ProjectFactory) -> None:
    root = make_project(
        {"recipes/base.yaml": BASE_RECIPE + "distribute: {regions: [us-west-2, us-east-1]}\n"}
    )
    done = run_cli("validate", cwd=root)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "1 recipe valid: base\n"
    assert done.stderr.splitlines() == [
        "recipes/base.yaml:6:35: W2001 distribute.regions[1]: us-east-1 is the build region "
        "already; list only the regions to copy to",
        "bakery: 1 warning (not errors); `bakery rules` says what each code means and how "
        "bakery.yaml can ignore it",
    ]
    report = json.loads(run_cli("validate", "--json", cwd=root).stdout)
    assert report["valid"] is True
    assert [(p["code"], p["severity"]) for p in report["problems"]] == [("W2001", "warning")]


def test_render_prints_the_warnings_of_the_recipes_it_renders(
    make_project: ProjectFactory,
) -> None:
    root = make_project({"recipes/base.yaml": BASE_RECIPE + "distribute: {regions: [us-east-1]}\n"})
    done = run_cli("render", "--dialect", "1.6", cwd=root)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[0] == (
        "recipes/base.yaml:6:24: W2001 distribute.regions[0]: us-east-1 is the build region "
        "already; list only the regions to copy to"
    )


def test_a_warning_ignored_in_bakery_yaml_is_not_printed(make_project: ProjectFactory) -> None:
    root = make_project(
        {"recipes/base.yaml": BASE_RECIPE + "distribute: {regions: [us-east-1]}\n"},
        "rules:\n  ignore:\n    - code: W2001\n      reason: we list every region on purpose\n",
    )
    done = run_cli("validate", cwd=root)
    assert (done.returncode, done.stderr) == (0, "")


def test_ignoring_an_error_code_is_itself_an_error(make_project: ProjectFactory) -> None:
    root = make_project(
        {"recipes/base.yaml": BASE_RECIPE},
        "rules:\n  ignore:\n    - {code: E2005, reason: we know better}\n",
    )
    done = run_cli("validate", cwd=root)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "bakery.yaml:3:8: E3002 rules.ignore[0].code: E2005 (Hygiene skipped without a reason) "
        "is an error and cannot be ignored; only warnings can",
        "bakery: 1 problem found",
    ]


def test_project_is_found_from_a_subfolder_and_with_C(sample_project: Path, tmp_path: Path) -> None:
    assert run_cli("validate", cwd=sample_project / "recipes" / "apps").returncode == 0
    assert run_cli("-C", str(sample_project), "validate", cwd=tmp_path).returncode == 0


def test_missing_project_file_is_a_one_line_error(tmp_path: Path) -> None:
    done = run_cli("validate", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("bakery: error: no bakery.yaml in ")
    assert len(done.stderr.splitlines()) == 1


def test_usage_error_exits_2(tmp_path: Path) -> None:
    assert run_cli("no-such-command", cwd=tmp_path).returncode == 2
    assert main(["render", "--dialect", "2.0"]) == 2


def test_graph_formats(sample_project: Path) -> None:
    tree = run_cli("graph", cwd=sample_project).stdout
    assert tree.splitlines()[1:] == [
        "└── cis-hardened 1.2.0 (hardening)",
        "    ├── web 2.3.0 (app)",
        "    └── worker 1.0.0 (app)",
    ]
    mermaid = run_cli("graph", "--format", "mermaid", cwd=sample_project).stdout
    assert "n_cis_hardened --> n_web" in mermaid
    dot = run_cli("graph", "--format", "dot", cwd=sample_project).stdout
    assert '"al2023-base" -> "cis-hardened";' in dot
    data = json.loads(run_cli("graph", "--json", cwd=sample_project).stdout)
    assert data["waves"] == [["al2023-base"], ["cis-hardened"], ["web", "worker"]]


def test_render_writes_build_folders(sample_project: Path) -> None:
    done = run_cli("render", "web", "--dialect", "1.6", "--json", cwd=sample_project)
    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)
    assert result["template"] == "build/web/web.pkr.hcl"
    assert (sample_project / "build/web/steps/02-install-nginx.sh").is_file()


def test_render_unknown_recipe(sample_project: Path) -> None:
    done = run_cli("render", "wbe", "--dialect", "1.6", cwd=sample_project)
    assert done.returncode == 1
    assert done.stderr == "bakery: error: unknown recipe wbe; did you mean web?\n"


def test_render_validate_runs_real_packer(sample_project: Path, packer_binary: str) -> None:
    done = run_cli("render", "--validate", cwd=sample_project)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("(fmt and validate ok)") == 4


def test_internal_error_is_one_line_with_exit_3(
    sample_project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(sample_project)
    monkeypatch.setattr("bakery.commands.graph.draw", lambda *a: 1 / 0)
    assert main(["graph"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("bakery: internal error: ZeroDivisionError")
    assert "Traceback" not in err


def test_schema_copy_in_docs_is_current() -> None:
    assert (REPO / "docs/recipe.schema.json").read_text() == schema_text(), (
        "docs/recipe.schema.json is out of date; run `make schema`"
    )


def test_rules_doc_is_current() -> None:
    assert (REPO / "docs/rules.md").read_text() == rules_markdown(), (
        "docs/rules.md is out of date; run `make rules`"
    )


def test_rules_command_prints_the_table(tmp_path: Path) -> None:
    done = run_cli("rules", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == rules_markdown()
    assert "| W2001 | warning | Build region listed as a copy |" in done.stdout
    rules = json.loads(run_cli("rules", "--json", cwd=tmp_path).stdout)
    assert {"code": "E4003", "severity": "error", "title": "Cycle in the recipe graph"}.items() <= (
        next(rule for rule in rules if rule["code"] == "E4003").items()
    )


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys; from bakery.cli import build_parser; build_parser(); "
        "print(','.join(m for m in ('boto3', 'jinja2', 'jsonschema', 'yaml', 'hcl2', "
        "'detect_secrets') "
        "if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.stdout.strip() == ""
