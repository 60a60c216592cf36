"""Find the build a command is about: build id, AMI id, NAME (newest) or NAME@VERSION."""

from __future__ import annotations

import getpass
import socket

from bakery.errors import BakeryError
from bakery.lineage.queries import resolve_ref
from bakery.lineage.records import BuildRecord, Status
from bakery.lineage.store import LineageStore


def resolve_image_ref(store: LineageStore, ref: str) -> BuildRecord:
    """Return the build REF names; NAME@VERSION is the newest succeeded build of that version."""
    name, at, version = ref.partition("@")
    if not at:
        return resolve_ref(store, ref)
    for record in store.builds(name, Status.SUCCEEDED):
        if record.version == version:
            return record
    raise BakeryError(
        f"no succeeded build of {name} at version {version}; see `bakery history {name}`"
    )


def who() -> str:
    """Name the person (user@host) for promotion and share records."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"
