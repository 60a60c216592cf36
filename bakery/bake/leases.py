"""Hold a recipe's lease while building it, so concurrent runners never build it twice."""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from bakery.lineage.store import LineageStore


def new_holder() -> str:
    """Name this runner: host, pid and a random part (two runs of one process differ)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


@contextmanager
def holding(
    store: LineageStore,
    recipe: str,
    holder: str,
    *,
    ttl: float,
    cancel: threading.Event,
    note: Callable[[str], None],
    clock: Callable[[], float] = time.time,
    poll: float = 2.0,
) -> Iterator[bool]:
    """Wait for and hold the recipe's lease; yield False if cancelled before it was ours.

    While held, a thread renews it every third of `ttl`. A lease whose holder stopped renewing
    is taken over once expired, and the takeover is reported through `note`.
    """
    waited = False
    while True:
        lease = store.acquire_lease(recipe, holder, ttl, clock())
        if lease is not None:
            break
        if not waited:
            current = store.lease(recipe)
            note(
                f"{recipe}: another runner ({current.holder if current else '?'}) is building "
                "it; waiting for its result"
            )
            waited = True
        if cancel.wait(poll):
            yield False
            return
    if lease.took_over_from:
        note(f"{recipe}: took over the lease of {lease.took_over_from}, which stopped renewing it")
    stop = threading.Event()
    renewer = threading.Thread(
        target=_renew,
        args=(store, recipe, holder, ttl, stop, note, clock),
        daemon=True,
        name=f"lease-{recipe}",
    )
    renewer.start()
    try:
        yield True
    finally:
        stop.set()
        renewer.join(timeout=5)
        store.release_lease(recipe, holder)


def _renew(
    store: LineageStore,
    recipe: str,
    holder: str,
    ttl: float,
    stop: threading.Event,
    note: Callable[[str], None],
    clock: Callable[[], float],
) -> None:
    while not stop.wait(ttl / 3):
        if not store.renew_lease(recipe, holder, ttl, clock()):
            note(f"{recipe}: lost its lease (it expired and another runner took it over)")
            return
