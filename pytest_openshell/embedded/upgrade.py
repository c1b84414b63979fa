"""Upgrade agent-sandbox in place, inside the supervisor: the CRDs and the controller of a newer lane.

Follows upstream's migration guide (docs/api-migration-guide.md of the new lane's module, flow A):
``migrate.sh --phase=bootstrap`` while v1alpha1 is still stored, then the new CRDs (replaced in
place, so every CRD keeps its UID and every object its record) and controller with its conversion
webhook, a wait until the webhook converts, then ``migrate.sh --phase=migrate`` to rewrite every
object in the new storage version. The script is upstream's own, run with the pinned kubectl.

``crd_mode="delete-create"`` deletes the CRDs and creates them anew instead: the API server then
deletes every object of them, and the garbage collector what they owned. It is lossy on purpose,
for the harness's own test that a lossy upgrade is caught.

The client asks by writing ``upgrade.json`` in the run dir and sending SIGUSR1; the answer is an
``upgraded`` or ``upgrade-failed`` event in ``events.jsonl``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_openshell.embedded import addons, crds
from pytest_openshell.embedded.boot import crd_established, http_ok
from pytest_openshell.embedded.layout import LOOPBACK, Layout
from pytest_openshell.embedded.pki import CertPair
from pytest_openshell.embedded.process import Component
from pytest_openshell.embedded.rest import RestClient
from pytest_openshell.errors import ComponentError, HarnessError
from pytest_openshell.toolchain.cache import logs_dir

REQUEST_FILE = "upgrade.json"
CRD_MODES = ("apply", "delete-create")
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
STEP_TIMEOUT_S = 60.0
MIGRATE_TIMEOUT_S = 300.0
MIGRATE_ATTEMPTS = 3
POLL_S = 0.05
CONTROLLER = "agent-sandbox-controller"


@dataclass(frozen=True)
class UpgradeSpec:
    lane: str
    lane_api_versions: list[str]
    crd_source_dir: str
    controller: str  # the new lane's controller binary
    kubectl: str
    crd_mode: str = "apply"

    @property
    def migrate_script(self) -> Path:
        return Path(self.crd_source_dir) / "helm" / "files" / "migrate.sh"


def read_request(run_dir: Path) -> UpgradeSpec:
    raw = json.loads((run_dir / REQUEST_FILE).read_text())
    spec = UpgradeSpec(**raw)
    if spec.crd_mode not in CRD_MODES:
        raise HarnessError(f"upgrade crd_mode {spec.crd_mode!r} is not one of {', '.join(CRD_MODES)}")
    return spec


def upgrade(spec: UpgradeSpec, lay: Layout, components: list[Component], state: dict[str, Any],
            emit: Callable[[str], None]) -> dict[str, Any]:
    """Upgrade in place; update ``components`` and ``state``; return what the ``upgraded`` event reports."""
    t0 = time.monotonic()
    pki = lay.pki
    api = RestClient(lay.server, pki / "ca.crt", pki / "admin.crt", pki / "admin.key", timeout=10.0)
    new_crds = crds.load_crds(Path(spec.crd_source_dir))
    webhook = crds.has_conversion_webhook(new_crds)
    if webhook:
        crds.point_conversion_at(new_crds, f"https://{LOOPBACK}:{lay.ports.controller_webhook}/convert", (pki / "ca.crt").read_bytes())
    names = [c["metadata"]["name"] for c in new_crds]
    before = {n: _crd(api, n) for n in names}
    report: dict[str, Any] = {"from_lane": state.get("lane"), "lane": spec.lane, "crd_mode": spec.crd_mode}

    # 1. Before the new CRDs: the shadow pools the conversion of cold-start v1alpha1 claims points at.
    report["bootstrap"] = _migrate_phase(spec, lay, "bootstrap")
    emit(f"migrate.sh --phase=bootstrap done ({time.monotonic() - t0:.1f}s)")

    # 2. The old controller goes first: it must not reconcile objects it can no longer read.
    old = next((c for c in components if c.name == CONTROLLER), None)
    if old is not None:
        components.remove(old)  # not a death the supervisor should report
        old.stop()

    # 3. The new CRDs.
    if spec.crd_mode == "apply":
        for crd in new_crds:
            _replace_crd(api, crd)
    else:
        for name in names:
            _delete_crd(api, name)
        for crd in new_crds:
            status, out = api.request("POST", CRD_PATH, crd)
            if status not in (200, 201):
                raise HarnessError(f"creating CRD {crd['metadata']['name']} failed: {status} {out}")
    _wait(lambda: all(crd_established(api, n) for n in names), "the new CRDs to be Established")
    emit(f"agent-sandbox {spec.lane} CRDs in place ({spec.crd_mode}, {time.monotonic() - t0:.1f}s)")

    # 4. The new controller, with its conversion webhook.
    def start(name: str, argv: list[str]) -> Component:
        comp = Component(name, argv, lay.logs)
        comp.start()
        components.append(comp)
        return comp

    cert = CertPair(pki / "webhook.crt", pki / "webhook.key")
    controller = addons.start_controller(start, Path(spec.controller), lay, spec.lane, webhook, cert)
    controller.wait_ready(lambda: http_ok(f"http://{LOOPBACK}:{lay.ports.controller_health}/readyz"), STEP_TIMEOUT_S)
    # Upstream waits until a list that needs conversion succeeds: every kind, in every served version.
    served = {c["spec"]["names"]["plural"] + "." + c["spec"]["group"]: (c["spec"]["group"], crds.served_versions(c)) for c in new_crds}
    controller.wait_ready(lambda: all(_lists(api, group, v, name.split(".")[0]) for name, (group, vs) in served.items() for v in vs),
                          STEP_TIMEOUT_S, "converting (lists of every kind in every served version)")
    emit(f"agent-sandbox-controller {spec.lane} healthy ({time.monotonic() - t0:.1f}s)")

    # 5. After: rewrite every object in the new storage version.
    report["migrate"] = _migrate_phase(spec, lay, "migrate")
    after = {n: _crd(api, n) for n in names}
    report["crds"] = {n: {"uid_before": (before[n] or {}).get("metadata", {}).get("uid"),
                          "uid_after": (after[n] or {}).get("metadata", {}).get("uid"),
                          "stored_versions": ((after[n] or {}).get("status") or {}).get("storedVersions")} for n in names}
    report["seconds"] = round(time.monotonic() - t0, 3)
    state.update(
        lane=spec.lane,
        api_versions={c["spec"]["names"]["kind"]: crds.served_versions(c) for c in new_crds},
        logs={c.name: str(c.log_file) for c in components},
        pids={c.name: c.pid for c in components},
        upgraded_from=report["from_lane"],
    )
    return report


def _migrate_phase(spec: UpgradeSpec, lay: Layout, phase: str) -> dict[str, Any]:
    """Upstream's script, with our kubectl and the admin kubeconfig; its summary lines are kept.

    A run that fails is re-run, as the guide's troubleshooting says (both phases are idempotent): an
    object listed and then deleted before its patch -- a warm pool trimming its excess -- counts as a
    failure of that run. The failing runs' output is kept (beside the harness's logs) and reported.
    """
    script = spec.migrate_script
    if not script.exists():
        raise HarnessError(f"{script} is missing: agent-sandbox {spec.lane} ships no migration script")
    log = lay.logs / f"migrate-{phase}.log"
    env = {**os.environ, "KUBECONFIG": str(lay.kubeconfig("admin")), "KUBECTL": spec.kubectl}
    failed: list[str] = []
    for attempt in range(1, MIGRATE_ATTEMPTS + 1):
        proc = subprocess.run(["bash", str(script), f"--phase={phase}", f"--kubectl={spec.kubectl}"], env=env,
                              capture_output=True, text=True, timeout=MIGRATE_TIMEOUT_S, stdin=subprocess.DEVNULL)
        with open(log, "a") as out:
            out.write(f"--- attempt {attempt}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}")
        summary = [line for line in proc.stdout.splitlines() if "summary:" in line]
        if proc.returncode == 0:
            return {"summary": summary[-1] if summary else "", "log": str(log), "attempts": attempt,
                    "failed_attempts": failed}
        errors = [line for line in (proc.stdout + proc.stderr).splitlines() if "ERROR" in line]
        failed.append("; ".join(errors[-3:]) or f"exit {proc.returncode}")
    kept = logs_dir() / f"{lay.root.name}-migrate-{phase}.log"
    shutil.copy2(log, kept)  # the run dir goes at teardown
    raise ComponentError(f"migrate.sh --phase={phase}", f"failed {MIGRATE_ATTEMPTS} times ({' | '.join(failed)})", str(kept))


def _crd(api: RestClient, name: str) -> dict[str, Any] | None:
    return api.get(f"{CRD_PATH}/{name}")


def _replace_crd(api: RestClient, crd: dict[str, Any]) -> None:
    """PUT over the live CRD (its resourceVersion guards the write): the same object, so the same UID."""
    name = crd["metadata"]["name"]
    for _ in range(5):
        live = _crd(api, name)
        if live is None:
            raise HarnessError(f"CRD {name} is not installed: nothing to upgrade in place")
        body = {**crd, "metadata": {**crd["metadata"], "resourceVersion": live["metadata"]["resourceVersion"]}}
        status, out = api.request("PUT", f"{CRD_PATH}/{name}", body)
        if status == 200:
            return
        if status != 409:
            raise HarnessError(f"replacing CRD {name} failed: {status} {out}")
    raise HarnessError(f"replacing CRD {name} kept conflicting (409) with another writer")


def _delete_crd(api: RestClient, name: str) -> None:
    status, out = api.request("DELETE", f"{CRD_PATH}/{name}")
    if status not in (200, 202, 404):
        raise HarnessError(f"deleting CRD {name} failed: {status} {out}")
    _wait(lambda: _crd(api, name) is None, f"CRD {name} to be deleted")


def _wait(ready: Callable[[], bool], what: str, timeout: float = STEP_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise HarnessError(f"upgrade: timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(POLL_S)


def _lists(api: RestClient, group: str, version: str, plural: str) -> bool:
    try:
        status, _ = api.request("GET", f"/apis/{group}/{version}/{plural}")
    except OSError:
        return False
    return status == 200
