from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bakery.cli import main
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
        "recipes/base.yaml:6:1: bogus: unknown key; expected one of: build, description, "
        "distribute, environment, hygiene, layer, licensing, max_age, name, provision, retention, "
        "source, tags, tests, version",
        "bakery: 1 problem found",
    ]
    assert "Traceback" not in done.stderr


def test_validate_json_lists_problems(make_project: ProjectFactory) -> None:
    root = make_project({"recipes/base.yaml": BASE_RECIPE.replace("1.0.0", "one")})
    done = run_cli("validate", "--json", cwd=root)
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["valid"] is False
    assert report["problems"][0]["line"] == 3
    assert report["problems"][0]["path"] == "version"


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


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys; from bakery.cli import build_parser; build_parser(); "
        "print(','.join(m for m in ('boto3', 'jinja2', 'jsonschema', 'yaml', 'hcl2') "
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
