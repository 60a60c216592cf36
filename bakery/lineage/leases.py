"""Hold a lease while building a recipe (concurrent runners never build it twice) or while
moving a channel (concurrent promotions never interleave).

A holder names its runner: host, process id, the process's start time and a random part. A
lease whose holder ran on this host and whose process has ended (or whose pid now belongs to a
later process) is taken over at once; a holder on another host cannot be judged from here and
is waited for until its lease expires.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from bakery.errors import BakeryError
from bakery.lineage.records import BuildRecord, started_epoch
from bakery.lineage.store import LineageStore


def new_holder() -> str:
    """Name this runner: host, pid, start time and a random part (each run differs)."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{process_started(pid) or 0:.2f}:{secrets.token_hex(4)}"


def process_started(pid: int) -> float | None:
    """When process `pid` started (epoch seconds), or None if there is no such process."""
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.Error:
        return 0.0  # there, but unreadable (another user's): taken to be alive


def process_gone(host: str | None, pid: int | None, started_by: float | None) -> bool:
    """Whether the process `pid` on `host`, running at `started_by`, has certainly ended.

    False for another host (not ours to judge) or an unknown pid. A process that started after
    `started_by` (one second of slack for clock rounding) is another one, given the same pid.
    """
    if host != socket.gethostname() or not pid:
        return False
    started = process_started(pid)
    if started is None:
        return True
    return bool(started and started_by and started > started_by + 1)


def holder_process(holder: str) -> tuple[str, int] | None:
    """The host and process id a lease holder names (`new_holder`), or None."""
    parts = holder.split(":")
    if len(parts) < 3 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def holder_gone(holder: str) -> bool:
    """Whether a lease holder ran on this host and its process has ended."""
    process = holder_process(holder)
    if process is None:
        return False
    parts = holder.split(":")
    start = float(parts[2]) if len(parts) == 4 and _is_number(parts[2]) else None
    return process_gone(*process, start)


def build_gone(store: LineageStore, record: BuildRecord, now: float | None = None) -> bool:
    """Whether the bakery process running a `running` build has certainly ended.

    On this host: its process is gone (or its pid is another process's now). On another host
    its process cannot be seen, but while it runs it renews its recipe's lease; so it is gone
    once that lease is not held by it any more, or has expired (at most `bake.lease_ttl` after
    the runner was lost).
    """
    started = started_epoch(record)
    if record.host == socket.gethostname():
        return process_gone(record.host, record.pid, started)
    lease = store.lease(record.recipe)
    if lease is None:
        return True
    ours = holder_process(lease.holder) == (record.host, record.pid)
    return not ours or lease.expires_at < (time.time() if now is None else now)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


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
    doing: str = "building it",
) -> Iterator[bool]:
    """Wait for and hold the recipe's lease; yield False if cancelled before it was ours.

    While held, a thread renews it every third of `ttl`. A lease whose holder stopped renewing
    is taken over once expired, one whose holder's process ended on this host at once; the
    lease keeps whom it was taken from, and the takeover is reported through `note`.
    """
    waited = False
    while True:
        now = clock()
        lease = store.acquire_lease(recipe, holder, ttl, now)
        current = store.lease(recipe) if lease is None else None
        if current is not None and holder_gone(current.holder):
            lease = store.acquire_lease(recipe, holder, ttl, now, gone=current.holder)
            if lease is not None:
                note(
                    f"{recipe}: took over the lease of {current.holder} at once: its process "
                    "on this host has ended"
                )
                break
        if lease is not None:
            if lease.took_over_from:
                note(
                    f"{recipe}: took over the lease of {lease.took_over_from}, which stopped "
                    "renewing it"
                )
            break
        if not waited and current is not None:
            left = max(0, round(current.expires_at - now))
            note(
                f"{recipe}: another runner ({current.holder}) is {doing}; waiting for it "
                f"(its lease expires in {left // 60}m {left % 60:02d}s unless renewed)"
            )
            waited = True
        if cancel.wait(poll):
            yield False
            return
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
        try:
            store.release_lease(recipe, holder)
        except BakeryError as error:  # the build's outcome matters more than its lease
            note(
                f"{recipe}: could not release its lease ({error}); the next run on this host "
                "takes it over at once, one elsewhere when it expires"
            )


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
        try:
            renewed = store.renew_lease(recipe, holder, ttl, clock())
        except BakeryError as error:  # a store failing now may work at the next renewal
            note(f"{recipe}: could not renew its lease ({error})")
            continue
        if not renewed:
            note(f"{recipe}: lost its lease (it expired and another runner took it over)")
            return
