from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from bakery.bake.scheduler import run_tree


@dataclass(frozen=True)
class Result:
    name: str
    ok: bool
    note: str = ""


def test_parents_run_before_children_and_failures_skip_descendants() -> None:
    ran: list[str] = []
    lock = threading.Lock()

    def work(name: str) -> Result:
        with lock:
            ran.append(name)
        return Result(name, name != "bad")

    parents = {"root": None, "bad": "root", "kid": "bad", "good": "root", "grandkid": "kid"}
    order = ["root", "bad", "good", "kid", "grandkid"]
    outcomes = run_tree(
        order, parents, work, lambda n, why: Result(n, False, why), jobs=2, cancel=threading.Event()
    )
    assert list(outcomes) == order
    assert ran.index("root") < ran.index("bad") and ran.index("root") < ran.index("good")
    assert "kid" not in ran and "grandkid" not in ran
    assert outcomes["kid"].note == "parent bad did not succeed"
    assert outcomes["grandkid"].note == "parent kid did not succeed"


def test_cancel_skips_what_has_not_started() -> None:
    cancel = threading.Event()

    def work(name: str) -> Result:
        cancel.set()
        time.sleep(0.05)
        return Result(name, True)

    outcomes = run_tree(
        ["a", "b", "c"], {}, work, lambda n, why: Result(n, False, why), jobs=1, cancel=cancel
    )
    assert outcomes["a"].ok
    assert outcomes["b"].note == outcomes["c"].note == "cancelled before it started"


def test_ready_jobs_start_highest_priority_first_and_ties_keep_the_order() -> None:
    ran: list[str] = []

    def work(name: str) -> Result:
        ran.append(name)
        return Result(name, True)

    run_tree(
        ["a", "b", "c", "d", "e"],
        {"e": "a"},
        work,
        lambda n, why: Result(n, False, why),
        jobs=1,
        cancel=threading.Event(),
        priority={"c": 3, "b": 2, "d": 2, "e": 9},
    )
    # e outranks everything but waits for its parent a; once a is done it goes first
    assert ran == ["c", "b", "d", "a", "e"]
