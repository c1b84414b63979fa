"""Running a reference server in-process, and stopping it without leaving anything behind.

``grpc.server`` does not own the thread pool it is given, so the handle shuts it down after the
server has stopped; cleanups (closing the Kubernetes client, the store, the socket file) run
last, in reverse order of registration.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from concurrent import futures
from types import FrameType, TracebackType

import grpc

log = logging.getLogger(__name__)
STOP_GRACE_S = 2.0
STOP_DEADLINE_S = 15.0


class ServerHandle:
    """A started gRPC server; ``stop()`` is idempotent. Usable as a context manager."""

    def __init__(self, server: grpc.Server, executor: futures.ThreadPoolExecutor, address: str) -> None:
        self.server = server
        self.address = address
        self._executor = executor
        self._cleanups: list[Callable[[], None]] = []
        self._before: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._stopping = False
        self._done = threading.Event()

    def on_stop(self, cleanup: Callable[[], None]) -> None:
        """Run ``cleanup`` after the server has stopped."""
        self._cleanups.append(cleanup)

    def before_stop(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` first: ending long-lived streams now spares the grace period."""
        self._before.append(hook)

    def stop(self, grace: float | None = STOP_GRACE_S) -> None:
        """Stop serving, cancel open streams, release everything; returns when all of it is done."""
        with self._lock:
            first, self._stopping = not self._stopping, True
        if not first:
            self._done.wait()
            return
        try:
            for hook in self._before:
                hook()
            self.server.stop(grace).wait()
            self._executor.shutdown(wait=True, cancel_futures=True)
            for cleanup in reversed(self._cleanups):
                try:
                    cleanup()
                except Exception:
                    log.exception("cleanup after stopping %s failed", self.address)
        finally:
            self._done.set()

    @property
    def stopped(self) -> bool:
        return self._done.is_set()

    def wait(self) -> None:
        """Block until stopped and cleaned up (the command-line servers' main loop)."""
        self._done.wait()

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def new_server(max_workers: int) -> tuple[grpc.Server, futures.ThreadPoolExecutor]:
    executor = futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc-handler")
    server = grpc.server(executor, options=[("grpc.so_reuseport", 0)])
    return server, executor


def serve_until_signalled(handle: ServerHandle) -> None:
    """Run a command-line server until SIGINT/SIGTERM, then stop it cleanly."""
    def on_signal(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=handle.stop, name="stop", daemon=True).start()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not handle.stopped:
        handle._done.wait(1.0)
        stopping = handle._stopping
        if stopping and not handle._done.wait(STOP_DEADLINE_S):
            # A handler stuck in a call without a deadline must not keep a signalled server alive.
            log.error("%s did not stop within %.0fs of the signal; exiting anyway", handle.address, STOP_DEADLINE_S)
            faulthandler.dump_traceback(all_threads=True)
            sys.stderr.flush()
            os._exit(1)
