"""`bakery render --out`: bakery replaces only the build folders it made, and follows no link."""

from __future__ import annotations

from pathlib import Path

import pytest

from bakery.errors import BakeryError
from bakery.render.build_folder import MARKER, Rendered, check_folder, write
from tests.support.project import BASE_RECIPE, ProjectFactory, call_bakery

RENDER = ("render", "--dialect", "1.6")


@pytest.fixture
def project(make_project: ProjectFactory) -> Path:
    return make_project({"recipes/base.yaml": BASE_RECIPE})


def rendered(files: dict[str, bytes] | None = None) -> Rendered:
    return Rendered("base", files or {"base.pkr.hcl": b"# x\n"}, "digest")


def test_render_marks_its_folder_and_replaces_it_on_the_next_render(project: Path) -> None:
    call_bakery(project, *RENDER)
    folder = project / "build" / "base"
    assert (folder / MARKER).is_file()
    (folder / "left-over.txt").write_text("from an earlier render\n")
    call_bakery(project, *RENDER)
    assert (folder / MARKER).is_file() and not (folder / "left-over.txt").exists()
    assert (folder / "base.pkr.hcl").is_file()


def test_render_outside_the_project_keeps_an_unmarked_folder_and_its_files(
    project: Path, tmp_path: Path
) -> None:
    precious = tmp_path / "outside" / "base" / "precious.txt"
    precious.parent.mkdir(parents=True)
    precious.write_text("not bakery's\n")
    done = call_bakery(project, *RENDER, "--out", str(tmp_path / "outside"), check=False)
    assert done.returncode == 1
    assert "holds files bakery did not write" in done.stderr
    assert precious.read_text() == "not bakery's\n"


def test_render_outside_the_project_is_allowed_where_the_user_names_it(
    project: Path, tmp_path: Path
) -> None:
    call_bakery(project, *RENDER, "--out", str(tmp_path / "named"))
    assert (tmp_path / "named" / "base" / MARKER).is_file()


def test_a_committed_build_link_out_of_the_project_deletes_nothing(
    project: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "base").mkdir(parents=True)
    (elsewhere / "base" / MARKER).write_text("forged\n")
    (elsewhere / "base" / "precious.txt").write_text("data\n")
    (project / "build").symlink_to(elsewhere)
    done = call_bakery(project, *RENDER, check=False)
    assert done.returncode == 1
    assert "build leads out of the project through a symbolic link" in done.stderr
    assert (elsewhere / "base" / "precious.txt").read_text() == "data\n"


def test_a_recipe_named_like_the_recipes_folder_cannot_replace_it(
    make_project: ProjectFactory,
) -> None:
    recipe = BASE_RECIPE.replace("name: base", "name: recipes")
    root = make_project({"recipes/recipes.yaml": recipe, f"recipes/{MARKER}": "forged\n"})
    done = call_bakery(root, *RENDER, "--out", ".", check=False)
    assert done.returncode == 1
    assert f"recipes would hold {root}/recipes" in done.stderr
    assert (root / "recipes" / "recipes.yaml").is_file()


def test_links_inside_a_marked_folder_are_removed_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep.txt").write_text("keep\n")
    folder = tmp_path / "out" / "base"
    write(rendered(), folder)
    (folder / "link").symlink_to(target)
    write(rendered(), folder)
    assert not (folder / "link").exists()
    assert (target / "keep.txt").read_text() == "keep\n"


@pytest.mark.parametrize("kind", ["link", "file", "unmarked", "marker-link"])
def test_check_folder_refuses_what_bakery_did_not_make(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / "base"
    if kind == "link":
        (tmp_path / "real").mkdir()
        folder.symlink_to(tmp_path / "real")
    elif kind == "file":
        folder.write_text("x\n")
    else:
        folder.mkdir()
        (folder / "notes.txt").write_text("mine\n")
        if kind == "marker-link":
            (folder / MARKER).symlink_to("/dev/null")
    with pytest.raises(BakeryError):
        check_folder(folder)


def test_an_empty_unmarked_folder_is_used(tmp_path: Path) -> None:
    folder = tmp_path / "base"
    folder.mkdir()
    write(rendered(), folder)
    assert (folder / MARKER).is_file()


@pytest.mark.parametrize("name", ["../escape.sh", "/abs.sh", "a\nb.sh"])
def test_write_refuses_a_file_name_that_leaves_the_folder(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        write(rendered({"base.pkr.hcl": b"", name: b""}), tmp_path / "base")
    assert not (tmp_path / "escape.sh").exists()
