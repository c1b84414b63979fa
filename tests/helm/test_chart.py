"""The reference gateway's chart, rendered by the pinned helm: shape as upstream's, RBAC least privilege."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from pytest_openshell.openshell.helm import default_chart
from pytest_openshell.toolchain import Resolver, load_pins

SA = "openshell-gateway"
READ = {"get", "list", "watch"}


@pytest.fixture(scope="module")
def helm() -> str:
    return str(Resolver().resolve(load_pins().binary("helm")).path)


def render(helm: str, *sets: str, namespace: str = "openshell") -> list[dict[str, Any]]:
    cmd = [helm, "template", "openshell", str(default_chart()), "--namespace", namespace, "--set", "image.tag=test"]
    for item in sets:
        cmd += ["--set", item]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"{kind} {name}: {[d['metadata']['name'] for d in found]}"
    return found[0]


def rules_of_service_account(docs: list[dict[str, Any]], namespace: str) -> list[tuple[str, str | None, dict[str, Any]]]:
    """(role kind, namespace of the grant, rule) for every rule bound to the gateway's service account."""
    granted = []
    for binding in (d for d in docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        if not any(s["kind"] == "ServiceAccount" and s["name"] == SA and s["namespace"] == namespace for s in binding["subjects"]):
            continue
        ref = binding["roleRef"]
        role = one(docs, ref["kind"], ref["name"])
        granted += [(ref["kind"], binding["metadata"].get("namespace"), rule) for rule in role["rules"]]
    return granted


def test_shape_matches_upstream_where_it_matters(helm: str) -> None:
    docs = render(helm)
    service = one(docs, "Service", "openshell")
    assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(8080, "grpc")]
    one(docs, "ServiceAccount", SA)
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == SA and pod["automountServiceAccountToken"] is True
    containers = {c["name"]: c for c in pod["containers"]}
    assert set(containers) == {"gateway", "driver"}
    assert all(c["image"] == "localhost/pytest-openshell/gateway:test" and c["imagePullPolicy"] == "Never" for c in containers.values())
    # in-cluster config: no kubeconfig is handed to either server
    assert not any("kubeconfig" in a for c in containers.values() for a in c["args"])
    socket_volume = next(v for v in pod["volumes"] if v["name"] == "driver-socket")
    assert socket_volume == {"name": "driver-socket", "emptyDir": {}}
    assert "--driver-socket=/run/openshell/driver.sock" in containers["gateway"]["args"]
    assert "--socket=/run/openshell/driver.sock" in containers["driver"]["args"]
    assert {s["metadata"]["name"] for s in docs if s["kind"] == "Secret"} == {
        "openshell-server-tls", "openshell-server-client-ca", "openshell-client-tls"}


def test_rbac_is_least_privilege(helm: str) -> None:
    docs = render(helm)
    granted = rules_of_service_account(docs, "openshell")
    assert granted, "nothing bound to the gateway's service account"
    for _kind, _, rule in granted:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule.get("apiGroups", []), rule
        assert "secrets" not in rule["resources"], f"the gateway reads no secrets through the API: {rule}"
        assert "escalate" not in rule["verbs"] and "bind" not in rule["verbs"] and "impersonate" not in rule["verbs"]
    pods = [rule for _, _, rule in granted if "" in rule["apiGroups"] and "pods" in rule["resources"]]
    assert pods and all(set(rule["verbs"]) <= READ for rule in pods), f"pods are only read, never patched: {pods}"
    cluster_wide = [rule for kind, _, rule in granted if kind == "ClusterRole"]
    assert cluster_wide == [{"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]}]
    sandboxes = [rule for _, _, rule in granted if "sandboxes" in rule["resources"]]
    assert sandboxes and all("update" not in r["verbs"] for r in sandboxes), "the driver patches, never replaces"
    for name in ("sandboxwarmpools", "sandboxtemplates", "events"):
        assert all(set(r["verbs"]) <= READ for _, _, r in granted if name in r["resources"]), name
    namespaces = [rule for _, _, rule in granted if "namespaces" in rule["resources"]]
    assert namespaces == [{"apiGroups": [""], "resources": ["namespaces"], "resourceNames": ["openshell"], "verbs": ["get"]}]


def test_role_lands_in_the_sandbox_namespace(helm: str) -> None:
    docs = render(helm, "sandboxNamespace=sandboxes", namespace="gw")
    assert {ns for kind, ns, _ in rules_of_service_account(docs, "gw") if kind == "ClusterRole"} == {None}
    assert {ns for kind, ns, _ in rules_of_service_account(docs, "gw") if kind == "Role"} == {"sandboxes"}
    gateway = next(c for c in one(docs, "Deployment")["spec"]["template"]["spec"]["containers"] if c["name"] == "gateway")
    assert "--namespaces=sandboxes" in gateway["args"]


def test_tls_material_verifies_for_the_port_forward(helm: str) -> None:
    docs = render(helm)
    client = one(docs, "Secret", "openshell-client-tls")["data"]
    server = one(docs, "Secret", "openshell-server-tls")["data"]
    ca = x509.load_pem_x509_certificate(base64.b64decode(client["ca.crt"]))
    for data in (server, client):
        cert = x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))
        cert.verify_directly_issued_by(ca)
    cert = x509.load_pem_x509_certificate(base64.b64decode(server["tls.crt"]))
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "openshell.openshell.svc" in san.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}


def test_missing_image_tag_is_one_clear_message(helm: str, tmp_path: Path) -> None:
    out = subprocess.run([helm, "template", "openshell", str(default_chart())], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "image.tag is required" in out.stderr
