"""Record every watch event of one resource in one namespace, stamped on receipt (monotonic).

Latency tests need several conditions on several objects timed from the same stream, and they
must not miss an event that arrives between two waits. A recorder lists once, then watches in a
thread from that resourceVersion, keeping the whole history; waits are answered from the history
and then from new events, under a condition variable with a deadline.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException

from pytest_openshell.errors import WaitTimeout
from pytest_openshell.kube.waits import Obj, Observed, as_dict
from pytest_openshell.kube.watchstream import WatchConnection

WATCH_CHUNK_S = 30


@dataclass(frozen=True)
class Event:
    at: float
    type: str  # ADDED | MODIFIED | DELETED | LIST
    obj: Obj
    seq: int = 0  # position in the recorder's history: wait "since" the next one

    @property
    def after(self) -> int:
        return self.seq + 1

    @property
    def name(self) -> str:
        return str(self.obj.get("metadata", {}).get("name", ""))


class EventRecorder:
    def __init__(self, list_fn: Callable[..., Any], what: str, **list_kwargs: Any) -> None:
        self._list_fn = list_fn
        self._kwargs = list_kwargs
        self.what = what
        self.history: list[Event] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._conn = WatchConnection()
        self._listeners: list[threading.Event] = []
        self.lists = 0  # the first list, then one per relist after 410 Gone (watch continuity)
        rv = self._list()
        self._thread = threading.Thread(target=self._run, args=(rv,), name=f"recorder-{what}", daemon=True)
        self._thread.start()

    def _list(self) -> str | None:
        listing = as_dict(self._list_fn(**self._kwargs))
        self.lists += 1
        now = time.monotonic()
        with self._cond:
            for item in listing.get("items") or []:
                self.history.append(Event(now, "LIST", item, len(self.history)))
            self._notify()
        rv: str | None = listing.get("metadata", {}).get("resourceVersion")
        return rv

    def _run(self, rv: str | None) -> None:
        try:
            while not self._stop.is_set():
                try:
                    for ev in self._conn.events(self._list_fn, rv, timeout_s=WATCH_CHUNK_S, **self._kwargs):
                        at = time.monotonic()
                        obj = as_dict(ev["object"])
                        if ev["type"] == "ERROR":
                            raise ApiException(status=obj.get("code", 500), reason=obj.get("message"))
                        rv = obj.get("metadata", {}).get("resourceVersion", rv)
                        if ev["type"] == "BOOKMARK":
                            continue
                        with self._cond:
                            self.history.append(Event(at, ev["type"], obj, len(self.history)))
                            self._notify()
                except ApiException as exc:
                    if exc.status != 410 or self._stop.is_set():
                        raise
                    rv = self._list()  # too old: relist (the history keeps what was seen)
        except BaseException as exc:
            if not self._stop.is_set():
                with self._cond:
                    self._error = exc
                    self._notify()

    def _notify(self) -> None:  # caller holds self._cond
        self._cond.notify_all()
        for wake in self._listeners:
            wake.set()

    def check_error(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"watch of {self.what} failed: {self._error}") from self._error

    def mark(self) -> int:
        with self._cond:
            return len(self.history)

    def find(self, predicate: Callable[[Event], bool], since: int = 0) -> Event | None:
        with self._cond:
            for ev in self.history[since:]:
                if predicate(ev):
                    return ev
        return None

    def wait_for(self, predicate: Callable[[Event], bool], *, timeout: float, what: str, since: int = 0,
                 diagnose: Callable[[], str] | None = None) -> Event:
        deadline = time.monotonic() + timeout
        index = since
        with self._cond:
            while True:
                while index < len(self.history):
                    ev = self.history[index]
                    index += 1
                    if predicate(ev):
                        return ev
                self.check_error()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
        raise WaitTimeout(what, timeout, diagnose() if diagnose else "")

    def latest(self) -> dict[str, Obj]:
        """The objects as last seen, by name (deleted ones left out)."""
        state: dict[str, Obj] = {}
        with self._cond:
            for ev in self.history:
                if ev.type == "DELETED":
                    state.pop(ev.name, None)
                else:
                    state[ev.name] = ev.obj
        return state

    def stop(self, timeout: float = 5.0) -> None:
        """End the watch and wait for its thread: none may outlive the recorder (see kube.watchstream)."""
        self._stop.set()
        self._conn.close()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def __enter__(self) -> EventRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def is_named(name: str, pred: Callable[[Obj], bool] | None = None, *, deleted: bool = False) -> Callable[[Event], bool]:
    def check(ev: Event) -> bool:
        if ev.name != name:
            return False
        if deleted:
            return ev.type == "DELETED"
        return ev.type != "DELETED" and (pred is None or pred(ev.obj))

    return check


def is_labelled(key: str, value: str, pred: Callable[[Obj], bool] | None = None, *, deleted: bool = False) -> Callable[[Event], bool]:
    """Like :func:`is_named`, for the object carrying label ``key=value`` (whatever it is called)."""
    def check(ev: Event) -> bool:
        if ((ev.obj.get("metadata") or {}).get("labels") or {}).get(key) != value:
            return False
        if deleted:
            return ev.type == "DELETED"
        return ev.type != "DELETED" and (pred is None or pred(ev.obj))

    return check


Wait = tuple[EventRecorder, Callable[[Event], bool], int]  # recorder, predicate, since


@contextlib.contextmanager
def _woken_by(recorders: Sequence[EventRecorder]) -> Iterator[threading.Event]:
    """An event set whenever any of ``recorders`` receives one, for the waits spanning several streams."""
    wake = threading.Event()
    for rec in recorders:
        with rec._cond:
            rec._listeners.append(wake)
    try:
        yield wake
    finally:
        for rec in recorders:
            with rec._cond:
                rec._listeners.remove(wake)


def wait_first(waits: Sequence[Wait], *, timeout: float, what: str, diagnose: Callable[[], str] | None = None) -> tuple[int, Event]:
    """The first of several conditions, possibly on different resources, to hold: (its index, the event).

    A test that must tell "the controller replaced the pod" from "the controller gave up" waits on
    both streams at once instead of sitting out the whole deadline on the one that never comes.
    """
    deadline = time.monotonic() + timeout
    with _woken_by([rec for rec, _, _ in waits]) as wake:
        while True:
            wake.clear()
            for index, (rec, predicate, since) in enumerate(waits):
                found = rec.find(predicate, since)
                if found is not None:
                    return index, found
                rec.check_error()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(what, timeout, diagnose() if diagnose else "")
            wake.wait(remaining)


__all__ = ["Event", "EventRecorder", "Observed", "Wait", "is_named", "wait_first", "wait_state"]


def wait_state(recorders: Sequence[EventRecorder], holds: Callable[[], bool], *, timeout: float, what: str,
               diagnose: Callable[[], str] | None = None) -> None:
    """Until ``holds()`` -- a condition over what several recorders saw last (their ``latest()``) --
    is true; re-checked on every event any of them receives."""
    deadline = time.monotonic() + timeout
    with _woken_by(recorders) as wake:
        while True:
            wake.clear()
            if holds():
                return
            for rec in recorders:
                rec.check_error()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(what, timeout, diagnose() if diagnose else "")
            wake.wait(remaining)
