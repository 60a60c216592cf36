"""Ctrl-C and SIGTERM, one way for every command: the first asks to stop cleanly, a second
asks to stop now. CI cancellation, `docker stop`, Kubernetes and `kill` send SIGTERM; a
terminal sends SIGINT; both take this path.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def forward_interrupts(
    cancel: threading.Event,
    note: Callable[[str], None],
    first: str,
    abort: threading.Event | None = None,
    second: str = "",
) -> Callable[[], None]:
    """Until the returned function is called, a signal sets `cancel` and notes `first`; another
    sets `abort` and notes `second`. Without `abort`, a second signal stops with
    KeyboardInterrupt. Only the main thread can handle signals; elsewhere nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if not cancel.is_set():
            cancel.set()
            note(f"{name}: {first}")
        elif abort is not None and not abort.is_set():
            abort.set()
            note(f"{name} again: {second}")
        elif abort is None:
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in SIGNALS}

    def restore() -> None:
        for sig, before in previous.items():
            signal.signal(sig, before)

    return restore
