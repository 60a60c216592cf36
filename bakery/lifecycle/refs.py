"""Find the build a command is about: build id, AMI id, NAME (newest) or NAME@VERSION."""

from __future__ import annotations

import getpass
import socket
from collections.abc import Callable

from bakery.errors import BakeryError
from bakery.lineage.queries import newest_of, resolve_ref
from bakery.lineage.records import BuildRecord, Status
from bakery.lineage.store import LineageStore


def resolve_image_ref(
    store: LineageStore, ref: str, note: Callable[[str], None] | None = None
) -> BuildRecord:
    """Return the build REF names; NAME@VERSION is the newest succeeded build of that version.

    A build dated in the future is not taken as the newest while another exists (`note`).
    """
    name, at, version = ref.partition("@")
    if not at:
        return resolve_ref(store, ref, note)
    found = newest_of(
        [r for r in store.builds(name, Status.SUCCEEDED) if r.version == version], note
    )
    if found is not None:
        return found
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
