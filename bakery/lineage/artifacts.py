"""The files a build downloaded from its instance: listed and hashed to be kept with its record.

A recipe's `download` step has Packer's file provisioner (`direction = "download"`) write a file
of the instance to `<build folder>/artifacts/<name>`, the build folder being
`.bakery/builds/<build id>/` (in local mode the step writes a placeholder there). When Packer
has ended, whatever its result (what a failed build downloaded is evidence too), `list_artifacts`
lists the regular files below that folder with their sha256 and size for the build's record.

What lies in the folder came from a build instance, so it is read warily: every folder and file
is opened relative to the folder above it and never through a symbolic link (`O_NOFOLLOW`), so
nothing outside `artifacts/` is read, even if an entry is swapped while it is listed; anything
but a regular file or a folder (a symbolic link, a FIFO, a socket, a device) is skipped, and
opened never. At most `MAX_ARTIFACTS` files with `MAX_NAME_BYTES` of names all together are
recorded (a DynamoDB item holds 400 KB); what is skipped or left out is said in `notes`, its
names escaped for a terminal. Nothing here raises for what the folder holds.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from bakery.config.paths import shown
from bakery.lineage.records import Artifact

ARTIFACTS_FOLDER = "artifacts"
MAX_ARTIFACTS = 1000
MAX_NAME_BYTES = 128 * 1024
MAX_DEPTH = 32  # folders below artifacts/; each open level holds a file descriptor
MAX_ENTRIES = 100_000  # files, folders and anything else looked at: a listing ends in time
NAMES_SHOWN = 5  # in a note, before "and N more"
_CHUNK = 1 << 20
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
# O_NONBLOCK: should a FIFO be swapped in after it was looked at, opening it does not wait.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | _CLOEXEC


@dataclass(frozen=True)
class ArtifactListing:
    """The files recorded, sorted by name, and what was skipped or left out, said in a line each."""

    artifacts: tuple[Artifact, ...] = ()
    notes: tuple[str, ...] = ()


def artifacts_folder(build_folder: Path) -> Path:
    """Return the folder of a build folder that downloaded files are written to."""
    return build_folder / ARTIFACTS_FOLDER


def list_artifacts(
    build_folder: Path, *, limit: int = MAX_ARTIFACTS, name_bytes: int = MAX_NAME_BYTES
) -> ArtifactListing:
    """List the regular files below a build folder's `artifacts/` with their sha256 and size."""
    folder = artifacts_folder(build_folder)
    try:
        descriptor = os.open(folder, _DIRECTORY_FLAGS)
    except FileNotFoundError:
        return ArtifactListing()  # the build downloaded nothing
    except OSError as error:  # a symbolic link (ELOOP), a file (ENOTDIR), unreadable
        return ArtifactListing(
            notes=(
                f"{shown(str(folder))} is not a folder bakery reads ({_reason(error)}): "
                "nothing in it is recorded",
            )
        )
    walk = _Walk(limit, name_bytes)
    try:
        walk.list_folder(descriptor, "", 0)
    except _Full:
        pass
    finally:
        os.close(descriptor)
    return ArtifactListing(tuple(sorted(walk.found, key=lambda a: a.name)), walk.notes())


class _Full(Exception):
    """The listing holds as much as a record keeps."""


@dataclass
class _Walk:
    limit: int
    name_bytes: int
    found: list[Artifact] = field(default_factory=list)
    used_bytes: int = 0
    skipped: list[str] = field(default_factory=list)  # neither a regular file nor a folder
    unreadable: list[str] = field(default_factory=list)  # name (why)
    undecodable: list[str] = field(default_factory=list)
    too_deep: list[str] = field(default_factory=list)
    looked: int = 0
    full: bool = False  # more files, or names, than a record keeps
    endless: bool = False  # more entries than are looked at

    def list_folder(self, descriptor: int, prefix: str, depth: int) -> None:
        """List one folder (open as `descriptor`), its entries by name, folders depth first."""
        try:
            with os.scandir(descriptor) as entries:
                names = sorted(entry.name for entry in entries)
        except OSError as error:
            self.unreadable.append(f"{prefix or '.'} ({_reason(error)})")
            return
        for name in names:
            self.look_at(descriptor, prefix + name, name, depth)

    def look_at(self, parent: int, path: str, name: str, depth: int) -> None:
        self.looked += 1
        if self.looked > MAX_ENTRIES:
            self.endless = True
            raise _Full
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:  # undecodable bytes (surrogate escapes) no store can hold
            self.undecodable.append(path)
            return
        try:
            found = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except OSError as error:
            self.unreadable.append(f"{path} ({_reason(error)})")
            return
        if stat.S_ISDIR(found.st_mode):
            if depth >= MAX_DEPTH:
                self.too_deep.append(path + "/")
                return
            descriptor = self.open_as_looked(parent, path, name, found, _DIRECTORY_FLAGS)
            if descriptor is not None:
                try:
                    self.list_folder(descriptor, path + "/", depth + 1)
                finally:
                    os.close(descriptor)
        elif stat.S_ISREG(found.st_mode):
            self.hash_file(parent, path, name, found)
        else:
            self.skipped.append(path)

    def open_as_looked(
        self, parent: int, path: str, name: str, looked: os.stat_result, flags: int
    ) -> int | None:
        """Open an entry as what it was looked at as (not a link, nor another file since)."""
        try:
            descriptor = os.open(name, flags, dir_fd=parent)
        except OSError as error:  # ELOOP: made a symbolic link after it was looked at
            self.unreadable.append(f"{path} ({_reason(error)})")
            return None
        opened = os.fstat(descriptor)
        if (opened.st_dev, opened.st_ino, stat.S_IFMT(opened.st_mode)) != (
            looked.st_dev,
            looked.st_ino,
            stat.S_IFMT(looked.st_mode),
        ):
            os.close(descriptor)
            self.unreadable.append(f"{path} (replaced while it was listed)")
            return None
        return descriptor

    def hash_file(self, parent: int, path: str, name: str, looked: os.stat_result) -> None:
        cost = len(path.encode("utf-8"))
        if len(self.found) >= self.limit or self.used_bytes + cost > self.name_bytes:
            self.full = True
            raise _Full
        descriptor = self.open_as_looked(parent, path, name, looked, _FILE_FLAGS)
        if descriptor is None:
            return
        digest, length = hashlib.sha256(), 0
        try:
            while chunk := os.read(descriptor, _CHUNK):
                digest.update(chunk)
                length += len(chunk)
        except OSError as error:
            self.unreadable.append(f"{path} ({_reason(error)})")
            return
        finally:
            os.close(descriptor)
        self.found.append(Artifact(path, digest.hexdigest(), length))
        self.used_bytes += cost

    def notes(self) -> tuple[str, ...]:
        said: list[str] = []
        if self.full or self.endless:
            what = (
                f"more than {MAX_ENTRIES} entries (listing stopped there)"
                if self.endless
                else f"more than a build record keeps (at most {self.limit} files, "
                f"{self.name_bytes // 1024} KiB of names)"
            )
            said.append(
                f"{ARTIFACTS_FOLDER}/ holds {what}: the first {len(self.found)} files listed "
                "(in name order, folder by folder) are recorded, the others stay in the folder "
                "unrecorded"
            )
        for what, names in (
            ("not regular files (symbolic links, FIFOs, sockets, devices)", self.skipped),
            ("unreadable", self.unreadable),
            ("names that are not UTF-8", self.undecodable),
            (f"folders more than {MAX_DEPTH} deep", self.too_deep),
        ):
            if names:
                said.append(f"not recorded from {ARTIFACTS_FOLDER}/, {what}: {_some(names)}")
        return tuple(said)


def _some(names: list[str]) -> str:
    """The first few names, escaped for a terminal, and how many more."""
    escaped = [
        shown(name.encode("utf-8", "backslashreplace").decode("utf-8"))
        for name in names[:NAMES_SHOWN]
    ]
    more = len(names) - NAMES_SHOWN
    return ", ".join(escaped) + (f" and {more} more" if more > 0 else "")


def _reason(error: OSError) -> str:
    return error.strerror or type(error).__name__
