"""The default provider: an offline control plane of real binaries, run by a supervisor process.

The pytest side resolves (or builds) binaries, then starts or joins the supervisor for its run
dir. All pytest-xdist workers of one run share a run dir, so they share one cluster; a file lock
makes the first one boot it and the last one wait for its teardown.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from filelock import FileLock

from pytest_openshell.embedded import crds
from pytest_openshell.embedded.upgrade import REQUEST_FILE
from pytest_openshell.errors import HarnessError
from pytest_openshell.kube.client import server_version
from pytest_openshell.providers.base import AgentSandbox, Cluster, ClusterProvider, Progress, ProviderSettings, Upgrade
from pytest_openshell.rundirs import deregister, lock_path, pid_alive, register, runs_base
from pytest_openshell.toolchain import Resolver, load_pins
from pytest_openshell.toolchain.cache import cache_root
from pytest_openshell.toolchain.pins import Lane

CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "local-path-provisioner")
BARE_CONTROL_PLANE = CONTROL_PLANE[:5]  # what kwokctl runs
BOOT_TIMEOUT_S = 240.0
UPGRADE_TIMEOUT_S = 300.0
UPGRADE_POLL_S = 0.05
KINDS = ("Sandbox", "SandboxTemplate", "SandboxWarmPool", "SandboxClaim")
TEARDOWN_TIMEOUT_S = 30.0


def dead_components(run_dir: Path) -> list[tuple[str, str]]:
    """Components the supervisor saw die, from its event log."""
    events = run_dir / "events.jsonl"
    if not events.exists():
        return []
    dead = []
    for line in events.read_text().splitlines():
        event = json.loads(line) if line.strip() else {}
        if event.get("event") == "component-died":
            dead.append((str(event["component"]), str(event["log"])))
    return dead


class EmbeddedProvider(ClusterProvider):
    name = "embedded"

    def __init__(self, *args: Any, bare: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Internal (bench/boot_vs_kwokctl.py): control plane and simulated node only, see BootSpec.bare.
        self._bare = bare
        self._run_dir: Path | None = None
        self._supervisor: subprocess.Popen[bytes] | None = None
        self._keep = False

    # -- locating the run ---------------------------------------------------------------------
    def _choose_run_dir(self, lane: str) -> Path:
        s = self.settings
        if self._bare:
            return Path(tempfile.mkdtemp(prefix="run-bare-", dir=runs_base()))  # never shared nor kept
        if s.keep_cluster:
            return cache_root() / "clusters" / f"{s.cluster_name}-{lane}"
        if s.run_id:
            return runs_base() / f"run-{s.run_id}-{lane}"  # one cluster per lane: a run may use several
        return Path(tempfile.mkdtemp(prefix="run-", dir=runs_base()))

    def acquire(self) -> Cluster:
        pins = load_pins()
        target = pins.lane(self.settings.agent_sandbox_version)
        source = pins.lane(self.settings.agent_sandbox_upgrade_from) if self.settings.agent_sandbox_upgrade_from else None
        lane = source or target  # an upgrade run boots the older lane; the suite upgrades it
        resolver = Resolver(self.settings.binaries, progress=self.progress)
        names = BARE_CONTROL_PLANE if self._bare else CONTROL_PLANE
        binaries = {name: str(resolver.resolve(pins.binary(name)).path) for name in names}
        if not self._bare:
            binaries["agent-sandbox-controller"] = str(resolver.resolve(lane.module.binaries["agent-sandbox-controller"]).path)
        if source is not None:
            # What the upgrade will need, resolved (built, the first time) before the cluster boots, not while it waits.
            resolver.resolve(target.module.binaries["agent-sandbox-controller"])
            self._pinned_kubectl()
        spec = {
            "binaries": binaries,
            "lane": lane.version,
            "lane_api_versions": list(lane.api_versions),
            "crd_source_dir": "" if self._bare else str(crds.module_source_dir(lane.module)),
            "apiserver_port": self.settings.apiserver_port,
            "keep": self.settings.keep_cluster and not self._bare,
            "bare": self._bare,
        }
        self._keep = bool(spec["keep"])
        run_dir = self._choose_run_dir(f"{source.version}-to-{target.version}" if source else lane.version)
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        self._run_dir = run_dir
        with FileLock(lock_path(run_dir)):
            state = self._joinable_state(run_dir)
            if state is None:
                state = self._start(run_dir, spec)
            else:
                self._register(run_dir)
                self.progress(f"joined embedded cluster at {state['server']} ({run_dir})")
        cluster = self._cluster(state)
        if source is not None:
            cluster.agent_sandbox = _lane_view(target, cluster.agent_sandbox)
            cluster.upgrade = Upgrade(from_lane=_lane_view(source, cluster.agent_sandbox),
                                      run=partial(self.upgrade_agent_sandbox, run_dir, target.version))
        return cluster

    # -- upgrading in place -------------------------------------------------------------------
    def upgrade_agent_sandbox(self, run_dir: Path, version: str, crd_mode: str = "apply") -> dict[str, Any]:
        """Ask the supervisor of ``run_dir`` to upgrade agent-sandbox to ``version`` in place; what it reports."""
        pins = load_pins()
        lane = pins.lane(version)
        resolver = Resolver(self.settings.binaries, progress=self.progress)
        request = {
            "lane": lane.version,
            "lane_api_versions": list(lane.api_versions),
            "crd_source_dir": str(crds.module_source_dir(lane.module)),
            "controller": str(resolver.resolve(lane.module.binaries["agent-sandbox-controller"]).path),
            "kubectl": str(self._pinned_kubectl()),
            "crd_mode": crd_mode,
        }
        state = json.loads((run_dir / "state.json").read_text())
        events = run_dir / "events.jsonl"
        offset = events.stat().st_size
        (run_dir / REQUEST_FILE).write_text(json.dumps(request, indent=2))
        pid = int(state["supervisor_pid"])
        self.progress(f"upgrading agent-sandbox {state['lane']} -> {lane.version} in place (CRDs: {crd_mode})")
        os.kill(pid, signal.SIGUSR1)
        deadline = time.monotonic() + UPGRADE_TIMEOUT_S
        while True:
            with open(events) as f:
                f.seek(offset)
                for line in f:
                    if not line.endswith("\n"):
                        break
                    offset += len(line)
                    event = json.loads(line)
                    if event["event"] == "progress":
                        self.progress("  " + event["message"])
                    elif event["event"] == "upgraded":
                        self.progress(f"agent-sandbox upgraded to {lane.version} in {event['seconds']:.1f}s")
                        return dict(event)
                    elif event["event"] == "upgrade-failed":
                        raise HarnessError(f"in-place upgrade to agent-sandbox {lane.version} failed: {event['message']}")
            if not pid_alive(pid):
                raise HarnessError(f"the embedded cluster's supervisor exited during the upgrade to {lane.version}",
                                   fix=f"see logs in {run_dir / 'logs'}")
            if time.monotonic() > deadline:
                raise HarnessError(f"the upgrade to agent-sandbox {lane.version} did not finish within {UPGRADE_TIMEOUT_S:.0f}s",
                                   fix=f"see logs in {run_dir / 'logs'}")
            time.sleep(UPGRADE_POLL_S)  # the supervisor answers in its events file, read with a deadline

    def _pinned_kubectl(self) -> Path:
        """Upstream's migrate.sh runs kubectl: the pinned one (option, env or cache, else built); a kubectl on
        PATH may be any version (here, a cloud SDK's dispatcher)."""
        pinned = Resolver(self.settings.binaries, progress=self.progress, which=lambda _name: None)
        return pinned.resolve(load_pins().binary("kubectl")).path

    def _joinable_state(self, run_dir: Path) -> dict[str, Any] | None:
        state_file = run_dir / "state.json"
        if not state_file.exists():
            return None
        state: dict[str, Any] = json.loads(state_file.read_text())
        if pid_alive(int(state["supervisor_pid"])):
            return state
        shutil.rmtree(run_dir, ignore_errors=True)  # a kept cluster whose supervisor is gone
        return None

    def _register(self, run_dir: Path) -> None:
        # An xdist worker also registers its controller: the supervisor outlives every worker.
        register(run_dir, shared_by_workers=bool(self.settings.run_id))

    def _start(self, run_dir: Path, spec: dict[str, Any]) -> dict[str, Any]:
        if run_dir.exists():
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True)
        (run_dir / "spec.json").write_text(json.dumps(spec, indent=2))
        self._register(run_dir)
        self.progress(f"booting embedded cluster (agent-sandbox {spec['lane']}) in {run_dir}")
        self._supervisor = subprocess.Popen(
            [sys.executable, "-m", "pytest_openshell.embedded.supervisor", str(run_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a terminal Ctrl-C reaches us, and we stop it in order
        )
        try:
            return self._await_ready(run_dir)
        except BaseException:
            self._stop_supervisor()
            raise

    def _await_ready(self, run_dir: Path) -> dict[str, Any]:
        """Follow the supervisor's stdout (its progress, then ready or an error, then EOF as it
        exits): blocking reads, no polling, so ready is seen the moment it is said."""
        assert self._supervisor is not None and self._supervisor.stdout is not None
        fd = self._supervisor.stdout.fileno()
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        pending, error = b"", None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise HarnessError(f"embedded cluster did not boot within {BOOT_TIMEOUT_S:.0f}s", fix=f"see logs in {run_dir / 'logs'}")
            if not select.select([fd], [], [], left)[0]:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:  # it exited before ready
                self._supervisor.wait()
                raise HarnessError(error or self._exit_message())
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("event") == "progress":
                    self.progress("  " + str(event["message"]))
                elif event.get("event") == "error":
                    error = "embedded cluster failed to boot: " + str(event["message"]).strip()
                elif event.get("event") == "ready":
                    self.progress(f"embedded cluster ready in {event['boot_seconds']:.1f}s at {event['server']}")
                    return json.loads((run_dir / "state.json").read_text())

    def _exit_message(self) -> str:
        assert self._supervisor is not None
        if self._supervisor.returncode == 0:
            return "embedded cluster supervisor was stopped by a signal (SIGTERM/SIGINT/SIGHUP from outside) before it was ready"
        return f"embedded cluster supervisor exited with code {self._supervisor.returncode} before it was ready"

    def _cluster(self, state: dict[str, Any]) -> Cluster:
        kubeconfig = Path(state["kubeconfig"])
        return Cluster(
            provider=self.name,
            kubeconfig=kubeconfig,
            server=state["server"],
            server_version=server_version(kubeconfig),
            node_mode="simulated",
            agent_sandbox=None if state.get("bare") else AgentSandbox(
                version=state["lane"],
                api_versions=state["api_versions"],
                controller_metrics=state["controller_metrics"],
                controller_log=state["logs"].get("agent-sandbox-controller"),
            ),
            logs=state["logs"],
            details={"run_dir": str(self._run_dir), "boot_seconds": state["boot_seconds"], "kept": state.get("keep", False)},
            dead_components=partial(dead_components, Path(str(self._run_dir))),
            disposable=not state.get("keep", False),
        )

    # -- giving it back -----------------------------------------------------------------------
    def release(self) -> None:
        run_dir = self._run_dir
        if run_dir is None:
            return
        lock = lock_path(run_dir)
        with FileLock(lock):
            last = deregister(run_dir, os.getpid()) if run_dir.exists() else True
            if last and not self._keep:
                self._await_teardown(run_dir)
        if last and not self._keep:
            Path(lock).unlink(missing_ok=True)
        self._run_dir = None

    def _await_teardown(self, run_dir: Path) -> None:
        state_file = run_dir / "state.json"
        pid = None
        if self._supervisor is not None:
            pid = self._supervisor.pid
        elif state_file.exists():
            pid = int(json.loads(state_file.read_text())["supervisor_pid"])
        if pid is None:
            return
        # We are its last client: tell the supervisor now instead of letting it notice at its next
        # look at the clients (up to WATCH_INTERVAL_S later), then wait for its exit itself.
        if not self._signal_supervisor(pid, run_dir, signal.SIGUSR2):
            return
        if not self._wait_exit(pid, TEARDOWN_TIMEOUT_S):
            self._stop_supervisor(pid)

    def _signal_supervisor(self, pid: int, run_dir: Path, sig: int) -> bool:
        """Signal ``pid`` if it is still the supervisor of ``run_dir`` (a stale state file's pid may
        have been reused); False when it is gone."""
        if self._supervisor is not None:
            if self._supervisor.poll() is not None:
                return False
            self._supervisor.send_signal(sig)
            return True
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            return False
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read()
            if b"pytest_openshell.embedded.supervisor" not in argv or run_dir.name.encode() not in argv:
                return False
            signal.pidfd_send_signal(fd, sig)
            return True
        except (OSError, ProcessLookupError):
            return False
        finally:
            os.close(fd)

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        """Block until ``pid`` exits, on a pidfd: Popen.wait(timeout) would poll, sleeping up to
        50 ms between looks."""
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            exited = True
        else:
            try:
                poller = select.poll()
                poller.register(fd, select.POLLIN)
                exited = bool(poller.poll(timeout * 1000))
            finally:
                os.close(fd)
        if exited and self._supervisor is not None and self._supervisor.pid == pid:
            self._supervisor.wait()  # reap it: it has exited, so this returns at once
        return exited

    def _stop_supervisor(self, pid: int | None = None) -> None:
        pid = pid or (self._supervisor.pid if self._supervisor else None)
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        if not self._wait_exit(pid, TEARDOWN_TIMEOUT_S) and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


def _lane_view(lane: Lane, booted: AgentSandbox | None) -> AgentSandbox:
    """What ``lane`` serves (from the pins: storage version first), with the booted controller's endpoints."""
    return AgentSandbox(version=lane.version, api_versions={kind: list(lane.api_versions) for kind in KINDS},
                        controller_metrics=booted.controller_metrics if booted else None,
                        controller_log=booted.controller_log if booted else None)


def release_shared(run_id: str, settings: ProviderSettings, progress: Progress) -> None:
    """Give back, as the xdist controller, the clusters of run ``run_id`` (one per lane) and wait for
    each to stop when no worker is left on it."""
    if settings.keep_cluster:
        return  # a kept cluster outlives the run by design
    for run_dir in sorted(runs_base().glob(f"run-{run_id}-*")):
        if not run_dir.is_dir():
            continue
        provider = EmbeddedProvider(replace(settings, run_id=run_id), progress)
        provider._run_dir = run_dir
        provider.release()
