from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from bakery.lineage.leases import (
    build_gone,
    holder_gone,
    holding,
    new_holder,
    process_started,
)
from bakery.lineage.sqlite.store import SqliteStore
from tests.support.records import make_record


def test_only_one_of_many_racing_runners_gets_the_lease(tmp_path: Path) -> None:
    stores = [SqliteStore(tmp_path / "db") for _ in range(6)]
    barrier = threading.Barrier(len(stores))
    won: list[str] = []

    def race(store: SqliteStore) -> None:
        holder = new_holder()
        barrier.wait()
        if store.acquire_lease("web", holder, 60, 1000.0):
            won.append(holder)

    threads = [threading.Thread(target=race, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1


def test_an_expired_lease_is_taken_over_and_the_takeover_reported(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db")
    assert store.acquire_lease("web", "ghost", 10, now=0.0)
    notes: list[str] = []
    with holding(
        store, "web", "me", ttl=10, cancel=threading.Event(), note=notes.append, clock=lambda: 100.0
    ) as ours:
        assert ours
        lease = store.lease("web")
        assert lease is not None and lease.holder == "me" and lease.took_over_from == "ghost"
    assert notes == ["web: took over the lease of ghost, which stopped renewing it"]
    assert store.lease("web") is None
    assert not store.renew_lease("web", "ghost", 10, 100.0)


def test_a_runner_waits_for_a_live_lease_then_proceeds(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db")
    assert store.acquire_lease("web", "other", 60, now=__import__("time").time())
    threading.Timer(0.3, store.release_lease, args=("web", "other")).start()
    notes: list[str] = []
    with holding(
        store, "web", "me", ttl=60, cancel=threading.Event(), note=notes.append, poll=0.05
    ) as ours:
        assert ours
    assert notes[0].startswith("web: another runner (other) is building it; waiting")


def test_waiting_ends_when_cancelled(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db")
    assert store.acquire_lease("web", "other", 600, now=__import__("time").time())
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    with holding(store, "web", "me", ttl=60, cancel=cancel, note=lambda _: None, poll=0.05) as ours:
        assert not ours


def test_a_held_lease_is_renewed_while_held(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db")
    with holding(store, "web", "me", ttl=0.3, cancel=threading.Event(), note=lambda _: None):
        first = store.lease("web")
        threading.Event().wait(0.5)
        later = store.lease("web")
        assert first is not None and later is not None
        assert later.expires_at > first.expires_at


def dead_holder() -> str:
    """The holder a process of this host had, which has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    started = process_started(child.pid)
    child.wait()
    return f"{socket.gethostname()}:{child.pid}:{started:.2f}:dead"


def test_the_lease_of_an_ended_process_on_this_host_is_taken_over_at_once(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "db")
    gone = dead_holder()
    assert store.acquire_lease("web", gone, 3600, now=time.time())  # live for an hour
    notes: list[str] = []
    with holding(
        store, "web", new_holder(), ttl=60, cancel=threading.Event(), note=notes.append
    ) as ours:
        assert ours
        lease = store.lease("web")
        assert lease is not None and lease.took_over_from == gone
    assert notes == [
        f"web: took over the lease of {gone} at once: its process on this host has ended"
    ]


def test_who_is_gone_by_host_pid_and_start_time() -> None:
    host, pid = socket.gethostname(), os.getpid()
    started = process_started(pid)
    assert started
    assert not holder_gone(new_holder())  # this very runner
    assert not holder_gone(f"{host}:{pid}:{started:.2f}:x")
    assert holder_gone(f"{host}:{pid}:{started - 3600:.2f}:x")  # the pid now is a later process
    assert holder_gone(dead_holder())
    assert not holder_gone(f"elsewhere:{pid}:0.00:x")  # another host: not ours to judge
    assert not holder_gone(f"{host}:{pid}:x")  # an older holder without start time, alive
    assert not holder_gone("ghost")


def test_a_runner_on_another_host_is_waited_for_with_the_time_left(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db")
    now = 1_000_000.0
    assert store.acquire_lease("web", "elsewhere:1:0.00:x", 150, now=now)
    cancel = threading.Event()
    notes: list[str] = []

    def note(text: str) -> None:
        notes.append(text)
        cancel.set()

    with holding(store, "web", "me", ttl=60, cancel=cancel, note=note, clock=lambda: now) as ours:
        assert not ours
    assert notes == [
        "web: another runner (elsewhere:1:0.00:x) is building it; waiting for it "
        "(its lease expires in 2m 30s unless renewed)"
    ]


def test_a_build_of_another_host_is_gone_once_its_lease_is_no_longer_its_own(
    tmp_path: Path,
) -> None:
    now = time.time()
    with SqliteStore(tmp_path / "lineage.db") as store:
        build = make_record("web", host="runner-b", pid=4242)
        store.start(build)
        assert build_gone(store, build, now)  # no lease at all: nobody is building it
        assert store.acquire_lease("web", "runner-b:4242:1700000000.00:abcd", 60, now)
        assert not build_gone(store, build, now)  # renewed by its runner: alive
        assert build_gone(store, build, now + 61)  # expired: the runner stopped renewing
        store.release_lease("web", "runner-b:4242:1700000000.00:abcd")
        assert store.acquire_lease("web", "runner-c:7:1700000000.00:ef01", 60, now)
        assert build_gone(store, build, now)  # another runner holds it now


def test_a_build_of_this_host_is_gone_when_its_process_is(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "lineage.db") as store:
        mine = make_record("web", time.time(), host=socket.gethostname(), pid=os.getpid())
        child = subprocess.Popen([sys.executable, "-c", "pass"])
        child.wait()
        ended = make_record("api", host=socket.gethostname(), pid=child.pid)
        assert not build_gone(store, mine) and build_gone(store, ended)
