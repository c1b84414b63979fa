"""Hold SIGINT/SIGTERM over work that must not be cut in half: writing the outputs, releasing a cluster.

A signal landing while the report is half-built would leave the run with no report; one landing in
``kind delete`` would leave a cluster behind. Both take seconds at most; the caller honours a held
signal right after (the run then ends as interrupted). SIGKILL still ends a hung cleanup.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

HELD = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def signals_deferred() -> Iterator[list[int]]:
    """Yields the list of signals received while inside (the caller decides what they mean)."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received  # handlers can only be set from the main thread; nothing to hold there
        return

    def hold(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in HELD}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
