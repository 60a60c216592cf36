"""The files a build downloaded, as its record keeps them: regular files below artifacts/ only."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

from bakery.lineage import artifacts
from bakery.lineage.artifacts import ArtifactListing, artifacts_folder, list_artifacts
from bakery.lineage.records import Artifact


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def downloaded(build: Path, files: dict[str, bytes]) -> Path:
    """Write `files` (path below artifacts/ -> bytes) as Packer's downloads leave them."""
    for name, data in files.items():
        path = artifacts_folder(build) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return artifacts_folder(build)


def test_regular_files_are_listed_by_name_with_their_sha256_and_size(tmp_path: Path) -> None:
    downloaded(tmp_path, {"sbom.json": b'{"packages": []}\n', "os-release": b"ID=amzn\n"})
    assert list_artifacts(tmp_path) == ArtifactListing(
        (
            Artifact("os-release", sha256(b"ID=amzn\n"), 8),
            Artifact("sbom.json", sha256(b'{"packages": []}\n'), 17),
        )
    )


def test_files_of_nested_folders_are_named_by_their_path_below_artifacts(tmp_path: Path) -> None:
    big = os.urandom(3 << 20)  # read in more than one chunk
    downloaded(tmp_path, {"logs/cloud-init.log": b"", "logs/deep/er/big.bin": big, "z": b"z"})
    (artifacts_folder(tmp_path) / "empty").mkdir()
    listing = list_artifacts(tmp_path)
    assert listing.artifacts == (
        Artifact("logs/cloud-init.log", sha256(b""), 0),
        Artifact("logs/deep/er/big.bin", sha256(big), len(big)),
        Artifact("z", sha256(b"z"), 1),
    )
    assert listing.notes == ()


def test_a_build_that_downloaded_nothing_lists_nothing_and_says_nothing(tmp_path: Path) -> None:
    assert list_artifacts(tmp_path / "no-such-build") == ArtifactListing()
    artifacts_folder(tmp_path).mkdir()
    assert list_artifacts(tmp_path) == ArtifactListing()


def test_a_symbolic_link_to_a_file_or_folder_outside_is_skipped_and_never_read(
    tmp_path: Path,
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("not evidence")
    build = tmp_path / "build"
    folder = downloaded(build, {"kept.txt": b"kept"})
    (folder / "passwd").symlink_to(outside / "secret")
    (folder / "home").symlink_to(outside, target_is_directory=True)
    (folder / "dangling").symlink_to(tmp_path / "nothing-here")
    listing = list_artifacts(build)
    assert listing.artifacts == (Artifact("kept.txt", sha256(b"kept"), 4),)
    assert listing.notes == (
        "not recorded from artifacts/, not regular files (symbolic links, FIFOs, sockets, "
        "devices): dangling, home, passwd",
    )


def test_an_artifacts_folder_that_is_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    downloaded(outside, {"secret": b"not evidence"})
    build = tmp_path / "build"
    build.mkdir()
    artifacts_folder(build).symlink_to(artifacts_folder(outside), target_is_directory=True)
    listing = list_artifacts(build)
    assert listing.artifacts == ()
    [note] = listing.notes
    assert note.startswith(f"{artifacts_folder(build)} is not a folder bakery reads (")
    assert note.endswith("): nothing in it is recorded")


def test_a_fifo_is_skipped_without_being_opened(tmp_path: Path) -> None:
    folder = downloaded(tmp_path, {"a.txt": b"a"})
    os.mkfifo(folder / "pipe")  # opening it for reading would wait for a writer
    listing = list_artifacts(tmp_path)
    assert listing.artifacts == (Artifact("a.txt", sha256(b"a"), 1),)
    assert listing.notes == (
        "not recorded from artifacts/, not regular files (symbolic links, FIFOs, sockets, "
        "devices): pipe",
    )


def test_the_count_is_capped_and_the_note_says_so(tmp_path: Path) -> None:
    downloaded(tmp_path, {f"f{i:02}": b"x" for i in range(12)})
    listing = list_artifacts(tmp_path, limit=10)
    assert [a.name for a in listing.artifacts] == [f"f{i:02}" for i in range(10)]
    assert listing.notes == (
        "artifacts/ holds more than a build record keeps (at most 10 files, 128 KiB of names): "
        "the first 10 files listed (in name order, folder by folder) are recorded, the others "
        "stay in the folder unrecorded",
    )
    assert list_artifacts(tmp_path, limit=12).notes == ()  # exactly the cap: nothing left out


def test_the_default_cap_is_a_thousand_files(tmp_path: Path) -> None:
    downloaded(tmp_path, {f"rpm/{i:04}.txt": b"" for i in range(artifacts.MAX_ARTIFACTS + 1)})
    listing = list_artifacts(tmp_path)
    assert len(listing.artifacts) == 1000
    assert listing.artifacts[-1].name == "rpm/0999.txt"
    assert "at most 1000 files" in listing.notes[0]


def test_the_names_together_are_capped_too(tmp_path: Path) -> None:
    downloaded(tmp_path, {"a" * 100: b"", "b" * 100: b"", "c" * 100: b""})
    listing = list_artifacts(tmp_path, name_bytes=250)
    assert [a.name for a in listing.artifacts] == ["a" * 100, "b" * 100]
    assert "the first 2 files listed" in listing.notes[0]


def test_a_listing_ends_after_so_many_entries_whatever_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(artifacts, "MAX_ENTRIES", 6)
    folder = downloaded(tmp_path, {"a/1": b"", "b/2": b"", "c/3": b"", "d/4": b""})
    for i in range(3):
        (folder / f"e{i}").mkdir()
    listing = list_artifacts(tmp_path)
    assert [a.name for a in listing.artifacts] == ["a/1", "b/2", "c/3"]
    assert listing.notes == (
        "artifacts/ holds more than 6 entries (listing stopped there): the first 3 files listed "
        "(in name order, folder by folder) are recorded, the others stay in the folder unrecorded",
    )


def test_names_are_escaped_in_notes_and_undecodable_names_not_recorded(tmp_path: Path) -> None:
    folder = downloaded(tmp_path, {"ok": b"ok"})
    (folder / "evil\x1b[2J").symlink_to("/etc/passwd")
    with open(os.path.join(os.fsencode(folder), b"latin-\xe9"), "wb") as stray:
        stray.write(b"x")
    listing = list_artifacts(tmp_path)
    assert listing.artifacts == (Artifact("ok", sha256(b"ok"), 2),)
    assert listing.notes == (
        "not recorded from artifacts/, not regular files (symbolic links, FIFOs, sockets, "
        "devices): evil\\x1b[2J",
        "not recorded from artifacts/, names that are not UTF-8: latin-\\udce9",
    )


def test_an_unreadable_file_is_named_and_the_others_recorded(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads a file whatever its mode")
    folder = downloaded(tmp_path, {"locked": b"secret", "open": b"o"})
    (folder / "locked").chmod(0)
    listing = list_artifacts(tmp_path)
    assert listing.artifacts == (Artifact("open", sha256(b"o"), 1),)
    denied = os.strerror(errno.EACCES)
    assert listing.notes == (f"not recorded from artifacts/, unreadable: locked ({denied})",)


def test_folders_too_deep_are_named_not_walked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(artifacts, "MAX_DEPTH", 2)
    downloaded(tmp_path, {"a/b/c/deep.txt": b"d", "a/b/shallow.txt": b"s"})
    listing = list_artifacts(tmp_path)
    assert [a.name for a in listing.artifacts] == ["a/b/shallow.txt"]
    assert listing.notes == ("not recorded from artifacts/, folders more than 2 deep: a/b/c/",)


def test_many_skipped_names_are_counted_after_the_first_few(tmp_path: Path) -> None:
    folder = downloaded(tmp_path, {})
    folder.mkdir(parents=True)
    for i in range(8):
        (folder / f"link{i}").symlink_to("/etc/hostname")
    [note] = list_artifacts(tmp_path).notes
    assert note.endswith(": link0, link1, link2, link3, link4 and 3 more")


def test_an_entry_swapped_after_it_was_looked_at_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "outside"
    outside.write_text("not evidence")
    build = tmp_path / "build"
    folder = downloaded(build, {"to-link": b"1", "to-other": b"2", "kept": b"3", "gone": b"4"})
    real_stat = os.stat

    def stat_then_swap(name: object, *args: object, **kwargs: object) -> os.stat_result:
        if name == "gone":  # removed after the folder was listed
            (folder / "gone").unlink()
        found = real_stat(name, *args, **kwargs)  # type: ignore[arg-type]
        if name == "to-link":  # a symbolic link where a file was
            (folder / "to-link").unlink()
            (folder / "to-link").symlink_to(outside)
        elif name == "to-other":  # another file in its place (renamed over it: a new inode)
            (folder / "new").write_bytes(b"another")
            (folder / "new").replace(folder / "to-other")
        return found

    monkeypatch.setattr(os, "stat", stat_then_swap)
    listing = list_artifacts(build)
    monkeypatch.undo()
    assert listing.artifacts == (Artifact("kept", sha256(b"3"), 1),)
    assert listing.notes == (
        f"not recorded from artifacts/, unreadable: gone ({os.strerror(errno.ENOENT)}), "
        f"to-link ({os.strerror(errno.ELOOP)}), to-other (replaced while it was listed)",
    )


def test_a_file_that_fails_to_read_is_named_and_the_others_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    downloaded(tmp_path, {"bad-disk": b"lost", "good": b"g"})
    real_read = os.read
    broken = (artifacts_folder(tmp_path) / "bad-disk").stat().st_ino

    def read(descriptor: int, size: int) -> bytes:
        if os.fstat(descriptor).st_ino == broken:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_read(descriptor, size)

    monkeypatch.setattr(os, "read", read)
    listing = list_artifacts(tmp_path)
    monkeypatch.undo()
    assert listing.artifacts == (Artifact("good", sha256(b"g"), 1),)
    eio = os.strerror(errno.EIO)
    assert listing.notes == (f"not recorded from artifacts/, unreadable: bad-disk ({eio})",)


def test_a_folder_that_cannot_be_listed_is_named_and_the_others_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = downloaded(tmp_path, {"locked/secret": b"s", "open/file": b"f"})
    locked = (folder / "locked").stat().st_ino
    real_scandir = os.scandir

    def scandir(descriptor: int) -> object:
        if os.fstat(descriptor).st_ino == locked:  # as a folder of mode 000 is to all but root
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        return real_scandir(descriptor)

    monkeypatch.setattr(os, "scandir", scandir)
    listing = list_artifacts(tmp_path)
    monkeypatch.undo()
    assert listing.artifacts == (Artifact("open/file", sha256(b"f"), 1),)
    denied = os.strerror(errno.EACCES)
    assert listing.notes == (f"not recorded from artifacts/, unreadable: locked/ ({denied})",)
