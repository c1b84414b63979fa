"""Follow one container's log line by line, stamped on receipt; wait for a line with a deadline.

A client pod that reports by logging (a probe loop inside the cluster) is read the way a watch
is: one follow stream read in a thread keeps every line, and waits are answered from that history
under a condition variable, so a line that arrives between two waits is never missed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s

from pytest_openshell.errors import WaitTimeout
from pytest_openshell.kube.watchstream import shutdown_response


@dataclass(frozen=True)
class LogLine:
    at: float  # monotonic, on receipt
    text: str
    seq: int


class LogFollower:
    def __init__(self, core: k8s.CoreV1Api, namespace: str, pod: str, container: str | None = None) -> None:
        self.what = f"log of pod {namespace}/{pod}"
        self.lines: list[LogLine] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._done = False
        kwargs: dict[str, Any] = {"follow": True, "_preload_content": False}
        if container:
            kwargs["container"] = container
        # Opened here, not in the thread, so a pod whose log cannot be read fails the caller.
        self._resp: Any = core.read_namespaced_pod_log(pod, namespace, **kwargs)  # urllib3 response, unread
        self._thread = threading.Thread(target=self._run, name=f"podlog-{pod}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        pending = b""
        try:
            for chunk in self._resp.stream(4096, decode_content=True):
                at = time.monotonic()
                pending += chunk
                *complete, pending = pending.split(b"\n")
                if complete:
                    with self._cond:
                        for raw in complete:
                            self.lines.append(LogLine(at, raw.decode(errors="replace"), len(self.lines)))
                        self._cond.notify_all()
                if self._stop.is_set():
                    return
        except BaseException as exc:
            if not self._stop.is_set():
                with self._cond:
                    self._error = exc
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def mark(self) -> int:
        with self._cond:
            return len(self.lines)

    def since(self, index: int) -> list[LogLine]:
        with self._cond:
            return list(self.lines[index:])

    def wait_for(self, predicate: Callable[[LogLine], bool], *, timeout: float, what: str, since: int = 0,
                 diagnose: Callable[[], str] | None = None) -> LogLine:
        deadline = time.monotonic() + timeout
        index = since
        with self._cond:
            while True:
                while index < len(self.lines):
                    line = self.lines[index]
                    index += 1
                    if predicate(line):
                        return line
                if self._done:
                    cause = f": {self._error}" if self._error else " (the container exited)"
                    raise WaitTimeout(what, timeout - max(0.0, deadline - time.monotonic()),
                                      f"the {self.what} ended{cause}\n" + (diagnose() if diagnose else ""))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
        tail = "\n".join(line.text for line in self.lines[-20:])
        raise WaitTimeout(what, timeout, f"last lines of the {self.what}:\n{tail}\n" + (diagnose() if diagnose else ""))

    def stop(self, timeout: float = 5.0) -> None:
        """End the follow and wait for its thread (a reader left at exit can abort the interpreter)."""
        self._stop.set()
        shutdown_response(self._resp)
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)


__all__ = ["LogFollower", "LogLine"]
