"""Ctrl-C and SIGTERM: the first stops cleanly, a second at once (signals sent to this process)."""

from __future__ import annotations

import signal
import threading

import pytest

from bakery.ui.interrupts import forward_interrupts


def deliver(sig: signal.Signals) -> None:
    signal.raise_signal(sig)  # the handler has run when it returns


@pytest.mark.parametrize("first", [signal.SIGINT, signal.SIGTERM])
def test_a_first_signal_cancels_and_a_second_aborts(first: signal.Signals) -> None:
    cancel, abort, notes = threading.Event(), threading.Event(), []
    before = signal.getsignal(signal.SIGTERM)
    restore = forward_interrupts(cancel, notes.append, "cleaning up", abort, "stopping now")
    try:
        deliver(first)
        assert cancel.is_set() and not abort.is_set()
        deliver(signal.SIGTERM)
        assert abort.is_set()
        deliver(signal.SIGINT)  # a third changes nothing more
    finally:
        restore()
    assert notes == [f"{first.name}: cleaning up", "SIGTERM again: stopping now"]
    assert signal.getsignal(signal.SIGTERM) is before


def test_without_abort_a_second_signal_stops_with_keyboardinterrupt() -> None:
    cancel, notes = threading.Event(), []
    restore = forward_interrupts(cancel, notes.append, "stopping the tests")
    try:
        deliver(signal.SIGTERM)
        with pytest.raises(KeyboardInterrupt):
            deliver(signal.SIGINT)
    finally:
        restore()
    assert notes == ["SIGTERM: stopping the tests"]


def test_outside_the_main_thread_nothing_changes() -> None:
    restores = []
    before = signal.getsignal(signal.SIGINT)
    thread = threading.Thread(
        target=lambda: restores.append(forward_interrupts(threading.Event(), print, "x"))
    )
    thread.start()
    thread.join()
    restores[0]()
    assert signal.getsignal(signal.SIGINT) is before
