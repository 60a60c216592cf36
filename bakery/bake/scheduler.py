"""Run jobs of a dependency tree in parallel: a job starts once its parent job succeeded."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Protocol, TypeVar


class Outcome(Protocol):
    @property
    def ok(self) -> bool: ...


OutcomeT = TypeVar("OutcomeT", bound=Outcome)


def run_tree(
    order: Sequence[str],
    parents: Mapping[str, str | None],
    work: Callable[[str], OutcomeT],
    skipped: Callable[[str, str], OutcomeT],
    *,
    jobs: int,
    cancel: threading.Event,
    priority: Mapping[str, float] | None = None,
) -> dict[str, OutcomeT]:
    """Run `work(name)` for every name in `order`, at most `jobs` at once.

    A job whose parent (when the parent is in `order`) did not succeed is not run:
    `skipped(name, reason)` gives its outcome. After `cancel` is set no new job starts, and
    the ones not started are skipped too. Among jobs ready at once, the one with the highest
    `priority` starts first (bake gives the longest chain below a recipe). Returns the outcomes
    in `order`.
    """
    rank = priority or {}
    pending = sorted(order, key=lambda name: -rank.get(name, 0))  # stable: keeps `order` on ties
    outcomes: dict[str, OutcomeT] = {}
    running: dict[Future[OutcomeT], str] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="build") as pool:
        while pending or running:
            for name in list(pending):
                parent = parents.get(name)
                if cancel.is_set():
                    outcomes[name] = skipped(name, "cancelled before it started")
                elif parent in order and parent not in outcomes:
                    continue
                elif parent in outcomes and not outcomes[parent].ok:
                    outcomes[name] = skipped(name, f"parent {parent} did not succeed")
                elif len(running) < max(1, jobs):
                    running[pool.submit(work, name)] = name
                else:
                    continue
                pending.remove(name)
            if not running:
                continue
            done, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                outcomes[running.pop(future)] = future.result()
    return {name: outcomes[name] for name in order}
