"""Every agent-sandbox-lifecycle test can fail: with the behaviour it judges taken from a healthy
controller (tests/conformance/lifecycle_faults.yaml), it fails, and the same run without the fault
passes.

The fault is an admission policy scoped to the controller's own user: the controller, the API server
and the test are the real ones, and the only change is that one kind of request of the controller is
refused -- what a controller without the behaviour (or without the RBAC for it) looks like.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

import conformance
from pytest_openshell.fixtures import provided_cluster
from pytest_openshell.kube.client import api_client
from pytest_openshell.options import provider_settings
from pytest_openshell.providers import Cluster
from tests.conftest import LANES

FAULTS: dict[str, dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "lifecycle_faults.yaml").read_text())
EXPECTATIONS = yaml.safe_load((Path(conformance.__file__).parent / "expectations.yaml").read_text())
NEWEST = LANES[-1]
CONTROLLER_USER = "agent-sandbox-controller"  # the embedded controller's client certificate (embedded/boot.py)
PROBE = "pytest-openshell-fault-probe"  # a ConfigMap the policy also refuses to the controller: proof that it is in force
DEADLINE_S = 30.0
# The control and every fault run with the same deadlines: shorter than the defaults so that a run
# with a fault reaches its failure sooner, long enough for the control to pass on a loaded machine.
TIMEOUTS = ("--openshell-timeout", "pool_ready=30", "--openshell-timeout", "claim_ready=20")


def lifecycle_tests() -> list[str]:
    from conformance.agent_sandbox import TESTS

    return sorted(t.short_name for t in TESTS if t.profile == "agent-sandbox-lifecycle")


DENIED = sorted(name for name, proof in FAULTS.items() if "deny" in proof)


def test_every_lifecycle_test_has_a_proof() -> None:
    assert sorted(FAULTS) == lifecycle_tests()
    for name, proof in FAULTS.items():
        assert "deny" in proof or "lane" in proof, f"{name}: neither a fault nor a lane shows it can fail"
        assert "deny" not in proof or proof.get("why"), f"{name}: say what the fault takes away"
        for lane, verdict in (proof.get("lane") or {}).items():
            assert verdict in ("failed", "skipped") and EXPECTATIONS[lane][name] == verdict, \
                f"{name}: lane {lane} is recorded {EXPECTATIONS[lane][name]!r} in expectations.yaml, not {verdict!r}"


def condition(deny: dict[str, Any]) -> str:
    """CEL that is true when the controller's request may pass."""
    if "adding" in deny:
        key = deny["adding"]
        has_new = f"has(object.metadata.annotations) && '{key}' in object.metadata.annotations"
        has_old = f"has(oldObject.metadata.annotations) && '{key}' in oldObject.metadata.annotations"
        return f"!({has_new}) || ({has_old})"
    if "changing" in deny:
        field = deny["changing"]
        return (f"has(object.metadata.{field}) == has(oldObject.metadata.{field}) && "
                f"(!has(object.metadata.{field}) || object.metadata.{field} == oldObject.metadata.{field})")
    return "false"


def policy(name: str, proof: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    deny = proof["deny"]
    rules = [{"apiGroups": [deny["group"]], "apiVersions": ["*"], "operations": deny["operations"], "resources": [deny["resource"]]},
             {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["configmaps"]}]
    expression = f"request.resource.resource == 'configmaps' ? object.metadata.name != '{PROBE}' : ({condition(deny)})"
    meta = {"name": f"pytest-openshell-fault-{name.lower()}"}
    body = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy", "metadata": meta, "spec": {
        "failurePolicy": "Fail", "matchConstraints": {"resourceRules": rules},
        "matchConditions": [{"name": "the-controller", "expression": f"request.userInfo.username == '{CONTROLLER_USER}'"}],
        "validations": [{"expression": expression, "message": f"pytest-openshell self-test fault: {proof['why']}"}]}}
    binding = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding", "metadata": meta,
               "spec": {"policyName": meta["name"], "validationActions": ["Deny"]}}
    return body, binding


def probe_refused(cluster: Cluster) -> bool:
    """Whether the controller's user is refused the probe ConfigMap now (a dry run: nothing is written)."""
    client = api_client(cluster.kubeconfig)
    client.set_default_header("Impersonate-User", CONTROLLER_USER)
    client.set_default_header("Impersonate-Group", "system:masters")
    try:
        k8s.CoreV1Api(client).create_namespaced_config_map("default", {"metadata": {"name": PROBE}},  # type: ignore[arg-type]  # dict bodies work
                                                           dry_run="All")
        return False
    except ApiException as exc:
        if exc.status in (400, 403, 422) and "self-test fault" in str(exc.body):
            return True
        raise
    finally:
        client.close()


def wait_probe(cluster: Cluster, refused: bool, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while probe_refused(cluster) != refused:
        # the API server loads policies through its own informer: no event of ours says when it has
        if time.monotonic() > deadline:
            raise AssertionError(f"the fault policy is still {'not ' if refused else ''}in force after {DEADLINE_S:.0f}s ({what})")
        time.sleep(0.2)


class Fault:
    def __init__(self, cluster: Cluster, name: str, proof: dict[str, Any]) -> None:
        self.cluster, self.name = cluster, name
        self.body, self.binding = policy(name, proof)
        self.api = k8s.AdmissionregistrationV1Api(api_client(cluster.kubeconfig))

    def __enter__(self) -> Fault:
        self.api.create_validating_admission_policy(self.body)  # type: ignore[arg-type]  # the client takes a dict body too
        try:
            self.api.create_validating_admission_policy_binding(self.binding)  # type: ignore[arg-type]
            wait_probe(self.cluster, True, self.name)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for delete in (self.api.delete_validating_admission_policy_binding, self.api.delete_validating_admission_policy):
            try:
                delete(self.body["metadata"]["name"])
            except ApiException as err:
                if err.status != 404:
                    raise
        wait_probe(self.cluster, False, f"{self.name} removed")
        self.api.api_client.close()


@pytest.fixture(scope="module")
def newest(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    only = request.config.getoption("agent_sandbox_version")
    if only and only != NEWEST:
        pytest.skip(f"--agent-sandbox-version={only}: the faults are taken from the {NEWEST} controller")
    settings = replace(provider_settings(request.config), agent_sandbox_version=NEWEST)
    with provided_cluster(request.config, "embedded", settings) as acquired:
        yield acquired


def run(cluster: Cluster, tmp_path: Path, tests: list[str]) -> tuple[dict[str, str], dict[str, str], str]:
    """The shipped lifecycle profile against the cluster, as a user runs it: outcomes and failure headlines."""
    results, junit = tmp_path / "results.json", tmp_path / "junit.xml"
    # "[Name]" matches one parametrized id exactly: a bare -k ClaimTTL also selects ClaimTTLCleanup.
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_openshell.cli", "-q", "--openshell-cluster=existing", f"--kubeconfig={cluster.kubeconfig}",
         "--openshell-profile=agent-sandbox-lifecycle", "-k", " or ".join(f"[{t}]" for t in tests), f"--openshell-results-json={results}",
         f"--junitxml={junit}", f"--openshell-report={tmp_path / 'report.yaml'}", *TIMEOUTS],
        capture_output=True, text=True, timeout=900, cwd=tmp_path, env=dict(os.environ),
    )
    tail = proc.stdout[-3000:] + proc.stderr[-2000:]
    assert results.exists(), tail
    outcomes = {t["short_name"]: t["outcome"] for t in json.loads(results.read_text())["tests"]}
    headlines = {}
    for case in ET.parse(junit).iter("testcase"):
        for failed in [*case.iter("failure"), *case.iter("error")]:
            headlines[case.get("name", "")] = (failed.get("message") or "").splitlines()[0][:300]
    return outcomes, headlines, tail


@pytest.mark.cluster
@pytest.mark.slow
def test_the_control_passes(newest: Cluster, tmp_path: Path) -> None:
    outcomes, headlines, tail = run(newest, tmp_path, DENIED)
    assert outcomes == dict.fromkeys(DENIED, "passed"), f"without a fault: {outcomes} {headlines}\n{tail}"


@pytest.mark.cluster
@pytest.mark.slow
@pytest.mark.parametrize("name", DENIED)
def test_fails_without_the_behaviour(newest: Cluster, name: str, tmp_path: Path) -> None:
    with Fault(newest, name, FAULTS[name]):
        outcomes, headlines, tail = run(newest, tmp_path, [name])
    print(f"{name} with the fault ({FAULTS[name]['why']}): {outcomes.get(name)}: {headlines}")
    assert outcomes == {name: "failed"}, f"{name} did not fail with the fault ({FAULTS[name]['why']}): {outcomes}\n{tail}"
