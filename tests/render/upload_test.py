"""Folder and file uploads: one archive and one unpacking script per step, modes kept, every
file hashed and secret-scanned (bakery.render.build_folder._upload_step, tree_archive;
bakery.config.rules.resolve_upload)."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from bakery.errors import InvalidInputError
from bakery.render.build_folder import tree_archive, write
from tests.support.rendering import (
    catalog_of,
    problems_of,
    provisioners,
    recipe_project,
    render_named,
    run_local_step,
)

KEY_ID = "AKIA" + "IOSFODNN7EXAMPLE"  # split, so this file holds no key itself
TREE = {"files/tree/a.txt": "a\n", "files/tree/sub/run.sh": "#!/bin/sh\necho run\n"}


def upload(source: str, destination: str = "/opt/x/", **options: Any) -> dict[str, Any]:
    return {"provision": [{"file": {"source": source, "destination": destination}, **options}]}


def members(archive: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {info.name: info for info in tar.getmembers()}


def contents(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {info.name: tar.extractfile(info).read() for info in tar}  # type: ignore[union-attr]


def many_files(count: int) -> dict[str, str]:
    # Spread over folders, as a real tree (the EKS image uploads one of 3,467 files).
    return {f"files/tree/d{index % 7}/f{index:03d}.txt": f"{index}\n" for index in range(count)}


def test_a_folder_of_500_files_renders_as_many_provisioners_as_one_of_one(tmp_path: Path) -> None:
    big = recipe_project(tmp_path / "big", upload("files/tree/"), many_files(500))
    small = recipe_project(tmp_path / "small", upload("files/tree/"), many_files(1))
    rendered = render_named(big)
    kinds = [kind for kind, _ in provisioners(rendered)]
    assert kinds == [kind for kind, _ in provisioners(render_named(small))]
    # One file provisioner (the archive) and one shell (unpacking it), then the hygiene step.
    assert kinds == ["file", "shell", "shell"]
    assert len(members(rendered.files["steps/01-upload.tar.gz"])) == 500
    assert [name for name in rendered.files if name.startswith("steps/")] == [
        "steps/01-file.sh",
        "steps/01-upload.tar.gz",
    ]


def test_the_archive_keeps_each_mode_and_no_owner_time_or_folder(tmp_path: Path) -> None:
    files = {**TREE, "files/tree/sub/deep/tool": "#!/bin/sh\n", "files/tree/b.cfg": "b=1\n"}
    root = recipe_project(
        tmp_path,
        upload("files/tree/"),
        files,
        executable=["files/tree/sub/run.sh", "files/tree/sub/deep/tool"],
    )
    os.utime(root / "recipes/files/tree/a.txt", (1_700_000_000, 1_700_000_000))
    found = members(render_named(root).files["steps/01-upload.tar.gz"])
    assert {name: stat.S_IMODE(info.mode) for name, info in found.items()} == {
        "a.txt": 0o644,
        "b.cfg": 0o644,
        "sub/deep/tool": 0o755,
        "sub/run.sh": 0o755,
    }
    for info in found.values():
        assert info.isfile()  # no folder entries: unpacking never changes an existing folder
        assert (info.uid, info.gid, info.uname, info.gname, info.mtime) == (0, 0, "root", "root", 0)


@pytest.mark.parametrize(
    ("source", "names"),
    [
        # Packer's file provisioner: `dir/` uploads what dir holds, `dir` the folder itself.
        ("files/tree/", ["a.txt", "sub/run.sh"]),
        ("files/tree", ["tree/a.txt", "tree/sub/run.sh"]),
    ],
)
def test_a_trailing_slash_uploads_the_contents_and_none_the_folder(
    tmp_path: Path, source: str, names: list[str]
) -> None:
    rendered = render_named(recipe_project(tmp_path, upload(source, "/opt/x"), TREE))
    assert sorted(members(rendered.files["steps/01-upload.tar.gz"])) == names
    assert "target='/opt/x'" in rendered.files["steps/01-file.sh"].decode().splitlines()


def test_the_same_tree_renders_the_same_archive_wherever_and_whenever_it_lies(
    tmp_path: Path,
) -> None:
    first = recipe_project(tmp_path / "one", upload("files/tree/"), TREE)
    second = recipe_project(tmp_path / "two", upload("files/tree/"), TREE)
    for path in (second / "recipes/files/tree").rglob("*"):
        os.utime(path, (1_000_000_000, 1_000_000_000))
    once, twice = render_named(first), render_named(first)
    assert once.files["steps/01-upload.tar.gz"] == twice.files["steps/01-upload.tar.gz"]
    elsewhere = render_named(second)
    assert once.files["steps/01-upload.tar.gz"] == elsewhere.files["steps/01-upload.tar.gz"]
    assert once.digest == elsewhere.digest


def test_tree_archive_does_not_depend_on_the_order_of_its_entries() -> None:
    entries = [("b", b"2", 0o644), ("a/x", b"1", 0o755)]
    assert tree_archive(entries) == tree_archive(list(reversed(entries)))
    assert tree_archive(entries) != tree_archive([("b", b"2", 0o644), ("a/x", b"1", 0o644)])


def unpack_on(folder: Path, helper: str, instance: Path) -> subprocess.CompletedProcess[str]:
    """Run an unpacking script as the instance would, with /tmp and the target moved into
    `instance` (the archive copied where the file provisioner would have put it)."""
    text = (folder / helper).read_text(encoding="utf-8")
    index = helper.split("/")[1][:2]
    remote = f"/tmp/bakery-step-{index}.tar.gz"
    uploaded = instance / "tmp" / f"bakery-step-{index}.tar.gz"
    uploaded.parent.mkdir(parents=True, exist_ok=True)
    uploaded.write_bytes((folder / f"steps/{index}-upload.tar.gz").read_bytes())
    lines = []
    for line in text.replace(remote, str(uploaded)).splitlines():
        if line.startswith("target='/"):
            line = f"target='{instance}{line[len('target=') + 1 :]}"
        lines.append(line)
    script = instance / "unpack.sh"
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return subprocess.run(["sh", str(script)], capture_output=True, text=True, check=False)


def test_the_generated_script_unpacks_the_files_with_their_modes(tmp_path: Path) -> None:
    root = recipe_project(
        tmp_path / "project",
        upload("files/tree/", "/opt/x/"),
        TREE,
        executable=["files/tree/sub/run.sh"],
    )
    folder = write(render_named(root), tmp_path / "build")
    instance = tmp_path / "instance"
    # A folder that exists on the instance keeps its mode: the archive holds no folder entries.
    (instance / "opt/x/sub").mkdir(parents=True)
    (instance / "opt/x/sub").chmod(0o700)
    done = unpack_on(folder.parent, "steps/01-file.sh", instance)
    assert done.returncode == 0, done.stderr
    unpacked = instance / "opt/x"
    assert (unpacked / "a.txt").read_text() == "a\n"
    assert stat.S_IMODE((unpacked / "a.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((unpacked / "sub/run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((unpacked / "sub").stat().st_mode) == 0o700
    assert not (instance / "tmp/bakery-step-01.tar.gz").exists()  # the upload is removed


@pytest.mark.parametrize(
    ("destination", "target", "name"),
    [
        ("/usr/local/bin/tool", "/usr/local/bin", "tool"),
        ("/usr/local/bin/", "/usr/local/bin/", "run.sh"),
    ],
)
def test_a_single_file_keeps_its_mode_and_lands_where_packer_puts_it(
    tmp_path: Path, destination: str, target: str, name: str
) -> None:
    root = recipe_project(
        tmp_path,
        upload("files/tree/sub/run.sh", destination),
        TREE,
        executable=["files/tree/sub/run.sh"],
    )
    rendered = render_named(root)
    (info,) = members(rendered.files["steps/01-upload.tar.gz"]).values()
    assert (info.name, stat.S_IMODE(info.mode)) == (name, 0o755)
    assert f"target='{target}'" in rendered.files["steps/01-file.sh"].decode().splitlines()


def test_a_single_plain_file_goes_up_with_mode_0644(tmp_path: Path) -> None:
    rendered = render_named(recipe_project(tmp_path, upload("files/tree/a.txt", "/etc/a"), TREE))
    (info,) = members(rendered.files["steps/01-upload.tar.gz"]).values()
    assert (info.name, stat.S_IMODE(info.mode)) == ("a", 0o644)


def change_content(tree: Path) -> None:
    (tree / "sub/run.sh").write_text("#!/bin/sh\necho changed\n")


def add_file(tree: Path) -> None:
    (tree / "sub/new.txt").write_text("new\n")


def make_executable(tree: Path) -> None:
    (tree / "a.txt").chmod(0o755)


def touch_only(tree: Path) -> None:
    os.utime(tree / "a.txt", (1_000_000_000, 1_000_000_000))


@pytest.mark.parametrize(
    ("change", "differs"),
    [(change_content, True), (add_file, True), (make_executable, True), (touch_only, False)],
)
def test_the_content_digest_follows_every_file_of_the_tree(
    tmp_path: Path, change: Any, differs: bool
) -> None:
    root = recipe_project(tmp_path, upload("files/tree/"), TREE)
    before = render_named(root)
    change(root / "recipes/files/tree")
    after = render_named(root)
    assert (after.digest != before.digest) is differs
    archive = "steps/01-upload.tar.gz"
    assert (after.files[archive] != before.files[archive]) is differs


def test_a_secret_in_a_file_of_an_uploaded_folder_is_found_with_its_path(tmp_path: Path) -> None:
    files = {**TREE, "files/tree/conf/credentials.env": f"KEY_ID={KEY_ID}\n"}
    root = recipe_project(tmp_path, upload("files/tree/"), files)
    with pytest.raises(InvalidInputError) as caught:
        catalog_of(root)
    found = [(p.code, p.file) for p in caught.value.problems]
    assert found == [("E5001", "recipes/files/tree/conf/credentials.env")]


def test_a_link_inside_the_folder_to_a_file_inside_it_is_followed(tmp_path: Path) -> None:
    root = recipe_project(
        tmp_path, upload("files/tree/"), TREE, executable=["files/tree/sub/run.sh"]
    )
    (root / "recipes/files/tree/latest").symlink_to("sub/run.sh")
    archive = render_named(root).files["steps/01-upload.tar.gz"]
    found = members(archive)
    assert found["latest"].isfile() and stat.S_IMODE(found["latest"].mode) == 0o755
    assert contents(archive)["latest"] == b"#!/bin/sh\necho run\n"


@pytest.mark.parametrize(
    "target",
    [
        "../outside.txt",  # in the project, out of the folder
        "/etc/hostname",  # out of the project
    ],
)
def test_a_link_leading_out_of_the_folder_is_refused(tmp_path: Path, target: str) -> None:
    root = recipe_project(
        tmp_path, upload("files/tree/"), {**TREE, "files/outside.txt": "outside\n"}
    )
    (root / "recipes/files/tree/escape").symlink_to(target)
    assert problems_of(root) == [
        "recipes/r.yaml:11:9: E7001 provision[0].file.source: files/tree/: escape is a "
        "symbolic link leading out of the folder; replace it with the file"
    ]


def test_an_empty_folder_is_refused(tmp_path: Path) -> None:
    root = recipe_project(tmp_path, upload("files/empty/"), {})
    (root / "recipes/files/empty/only-a-folder").mkdir(parents=True)
    assert problems_of(root) == [
        "recipes/r.yaml:11:9: E7001 provision[0].file.source: files/empty/ is an empty "
        "folder; nothing would be uploaded"
    ]


def test_local_mode_checks_the_archive_and_the_script_it_would_run(tmp_path: Path) -> None:
    root = recipe_project(tmp_path / "project", upload("files/tree/", run_as="root"), TREE)
    rendered = render_named(root, local=True)
    ((kind, step), _hygiene) = provisioners(rendered)
    assert kind == "shell-local"
    folder = write(rendered, tmp_path / "build").parent
    done = run_local_step(folder, step["inline"])
    assert done.returncode == 0, done.stderr
    assert "would upload 2 files to /opt/x/ as root" in done.stdout
    # A broken archive fails the step, as the upload would fail on AWS.
    (folder / "steps/01-upload.tar.gz").write_bytes(b"not an archive")
    assert run_local_step(folder, step["inline"]).returncode != 0


def test_a_file_named_through_a_link_lands_under_the_name_the_recipe_gives(
    tmp_path: Path,
) -> None:
    root = recipe_project(
        tmp_path, upload("files/current.conf", "/etc/app/"), {"files/v2.conf": "v=2\n"}
    )
    (root / "recipes/files/current.conf").symlink_to("v2.conf")
    assert sorted(members(render_named(root).files["steps/01-upload.tar.gz"])) == ["current.conf"]


def test_a_folder_named_through_a_link_lands_under_the_name_the_recipe_gives(
    tmp_path: Path,
) -> None:
    root = recipe_project(tmp_path, upload("files/tree-link", "/opt/"), TREE)
    (root / "recipes/files/tree-link").symlink_to("tree")
    assert sorted(members(render_named(root).files["steps/01-upload.tar.gz"])) == [
        "tree-link/a.txt",
        "tree-link/sub/run.sh",
    ]
