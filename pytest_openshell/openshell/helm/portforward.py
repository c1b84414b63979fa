"""A ``kubectl port-forward`` to the gateway's Service, owned by the session and ended at its teardown."""

from __future__ import annotations

import ctypes
import re
import signal
import subprocess
import threading
from pathlib import Path

from pytest_openshell.errors import HarnessError

FORWARD_READY_S = 30.0
STOP_S = 10.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h
_FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) ->")


def _die_with_parent() -> None:
    """In the child: SIGTERM when the harness dies, even by SIGKILL, so no port-forward outlives the run."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class PortForward:
    """``kubectl port-forward svc/NAME LOCAL:REMOTE`` on 127.0.0.1; ``port`` is the local port once started."""

    def __init__(self, kubectl: list[str], namespace: str, service: str, remote_port: int, local_port: int | None,
                 log: Path) -> None:
        self._cmd = [*kubectl, "-n", namespace, "port-forward", "--address", "127.0.0.1", f"svc/{service}",
                     f"{local_port or 0}:{remote_port}"]
        self._log = log
        self._what = f"svc/{service} in {namespace}"
        self.local_port = local_port
        self.port: int | None = None
        self.proc: subprocess.Popen[str] | None = None
        self._seen: list[str] = []
        self._ready = threading.Event()
        self._drain: threading.Thread | None = None

    def start(self) -> int:
        """Start it and return the local port once kubectl says it is forwarding (or fail with kubectl's reason)."""
        self.proc = subprocess.Popen(self._cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     preexec_fn=_die_with_parent)
        # kubectl writes a line per connection for as long as it runs: drained into the log by a thread,
        # or the pipe fills and the forward stalls mid-session.
        self._drain = threading.Thread(target=self._pump, name="port-forward-log", daemon=True)
        self._drain.start()
        if self._ready.wait(FORWARD_READY_S) and self.port is not None:
            return self.port
        self.stop()
        seen = self._seen
        reason = next((ln for ln in seen if "in use" in ln or "unable to listen" in ln.lower()), None)
        if reason and self.local_port:
            raise HarnessError(f"port-forward to {self._what}: port {self.local_port} in use on 127.0.0.1 ({reason})",
                               fix="free it or pick another --openshell-gateway-port")
        detail = seen[-1] if seen else "no output"
        raise HarnessError(f"port-forward to {self._what} did not start within {FORWARD_READY_S:.0f}s: {detail}",
                           fix=f"read {self._log}")

    def _pump(self) -> None:
        proc = self.proc
        assert proc is not None and proc.stdout is not None
        with open(self._log, "w") as log:
            for line in proc.stdout:
                log.write(line)
                log.flush()
                if len(self._seen) < 50:
                    self._seen.append(line.rstrip())
                if self.port is None and (m := _FORWARDING.search(line)):
                    self.port = int(m.group(1))
                    self._ready.set()
        self._ready.set()  # kubectl exited: start() stops waiting and reports what it said

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """End the kubectl process (idempotent)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if self._drain is not None:
            self._drain.join(STOP_S)  # the pipe closes with the process: the drain thread ends
