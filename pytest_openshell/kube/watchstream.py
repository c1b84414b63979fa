"""One watch request whose blocking read another thread can end at once.

The Kubernetes client's ``Watch.stop()`` takes effect at the stream's next event, and a stop that
comes before the request is open is forgotten (``stream()`` resets the flag). A thread watching a
quiet namespace then outlives its owner by up to a whole watch chunk -- and a daemon thread still
reading when the interpreter exits is killed from inside the GIL hand-off, which aborts the
process (SIGABRT) when a watch event wakes it during finalisation. So the owner must be able to
end the read *and then join the thread*: :meth:`WatchConnection.close` remembers the close for a
request still being opened, and shuts down the response of an open one, which wakes the read.
Events are the raw JSON dicts the API serves.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes.watch.watch import iter_resp_lines

from pytest_openshell.objects import Obj


def shutdown_response(resp: Any) -> None:
    """Wake a read blocked on ``resp`` in another thread (urllib3 >= 2.3 ``shutdown``), then close it."""
    with contextlib.suppress(Exception):
        resp.shutdown()
    with contextlib.suppress(Exception):
        resp.close()


class WatchConnection:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._resp: Any = None
        self._closed = False

    def events(self, list_fn: Callable[..., Any], resource_version: str | None, *, timeout_s: int,
               **kwargs: Any) -> Iterator[Obj]:
        """``{"type": ..., "object": {...}}`` of one watch request, until the server ends it or :meth:`close`."""
        resp = list_fn(watch=True, resource_version=resource_version, timeout_seconds=timeout_s,
                       allow_watch_bookmarks=True, _preload_content=False, **kwargs)
        with self._lock:
            if self._closed:  # closed while the request was being opened
                shutdown_response(resp)
                return
            self._resp = resp
        try:
            for line in iter_resp_lines(resp):
                if line:
                    yield json.loads(line)
                if self._closed:
                    return
        except Exception:
            if self._closed:  # the shut-down read surfaces as a protocol or connection error
                return
            raise
        finally:
            with self._lock:
                self._resp = None
            resp.close()
            resp.release_conn()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            resp = self._resp
        if resp is not None:
            shutdown_response(resp)


__all__ = ["WatchConnection", "shutdown_response"]
