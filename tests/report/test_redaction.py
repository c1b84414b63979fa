"""No output of the harness carries a credential: one redaction function, applied everywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_openshell.redact import MASK, redact, redact_text

JWT = "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzcGlmZmU6Ly9vcGVuc2hlbGwvc2FuZGJveC94In0.cGxhbnRlZHNpZ25hdHVyZXBsYW50ZWQ"
PEM_BODY = "MIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEAplantedKEYbody"
PEM = f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----"
CERT_BODY = "MIIBkTCB+wIJAKHHIG1lbnRzcGxhbnRlZGNlcnRpZmljYXRlYm9keQ"
CERT = f"-----BEGIN CERTIFICATE-----\n{CERT_BODY}\n-----END CERTIFICATE-----"
OPAQUE = "s3cr3t-opaque-planted-value"
SA_TOKEN = "sha256~plantedOpaqueBearerTokenValue0123"
PLANTED = (JWT, PEM_BODY, CERT_BODY, OPAQUE, SA_TOKEN)


def test_redact_text_masks_every_kind() -> None:
    text = f"Authorization: Bearer {SA_TOKEN}\njwt={JWT}\n{PEM}\n{CERT}\npassword: {OPAQUE}\n"
    clean = redact_text(text)
    for value in PLANTED:
        assert value not in clean
    assert clean.count(MASK) >= 4
    assert "-----BEGIN PRIVATE KEY-----" in clean, "the kind of material stays visible"


def test_redact_structures_and_secrets() -> None:
    secret = {"kind": "Secret", "metadata": {"name": "s"}, "data": {"key": OPAQUE}, "stringData": {"k": "v"}}
    pod = {"kind": "Pod", "metadata": {"annotations": {"token": SA_TOKEN, "note": f"see {JWT}"}}, "spec": {"x": [PEM]}}
    out = str(redact([secret, pod]))
    for value in PLANTED[:4]:
        assert value not in out
    assert SA_TOKEN not in out
    assert redact({"kind": "Secret", "data": {"a": "b"}})["data"] == {"a": MASK}
    assert redact("harmless text") == "harmless text"


# The inner test reads the values from its environment: a literal in its source would show up
# in tracebacks, which is pytest quoting the test, not the harness leaking.
INNER = """
import os
import pytest
from pytest_openshell.suite import ConformanceTest

V = {k: os.environ["PLANTED_" + k] for k in ("JWT", "PEM", "CERT", "OPAQUE", "SA")}

def plant(ctx):
    ctx.core.create_namespaced_secret(ctx.namespace, {"metadata": {"name": "planted"}, "stringData": {"key": V["OPAQUE"]}})
    body = ctx.sandboxes.sandbox("planted")
    body["metadata"]["annotations"] = {"openshell.io/token": V["SA"], "cert": V["CERT"]}
    ctx.sandboxes.create(ctx.namespace, body)
    ctx.core.create_namespaced_event(ctx.namespace, {"metadata": {"name": "planted.1"},
        "involvedObject": {"kind": "Pod", "name": "x", "namespace": ctx.namespace}, "reason": "Planted", "type": "Warning",
        "message": "Authorization: Bearer " + V["JWT"]})
    log = ctx.cluster.kubeconfig.parent / "planted.log"
    log.write_text("calling gateway with Bearer " + V["SA"] + "\\n" + V["PEM"] + "\\n")
    ctx.extra_logs["planted"] = str(log)
    ctx.note("minted " + V["JWT"])
    print("stdout carries Bearer " + V["SA"])
    message = "planted failure with " + V["JWT"] + " and password=" + V["OPAQUE"]
    assert False, message

RECORD = ConformanceTest("PlantedSecrets", "plants credentials and fails", "agent-sandbox-core", ("SandboxCore",), plant)

@pytest.mark.parametrize("conformance", [RECORD], indirect=True, ids=str)
def test_planted(conformance):
    conformance.test.run(conformance)
"""



@pytest.mark.cluster
def test_planted_credentials_reach_no_output(tmp_path: Path) -> None:
    (tmp_path / "test_planted.py").write_text(INNER)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(tmp_path / "test_planted.py"),
         f"--alluredir={out / 'allure'}", f"--junitxml={out / 'junit.xml'}", f"--openshell-report={out / 'report.yaml'}",
         f"--openshell-results-json={out / 'results.json'}", "-rA"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PLANTED_JWT": JWT, "PLANTED_PEM": PEM, "PLANTED_CERT": CERT, "PLANTED_OPAQUE": OPAQUE, "PLANTED_SA": SA_TOKEN},
    )
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) > 5, files
    attachments = [p for p in (out / "allure").iterdir() if "-attachment" in p.name]
    assert attachments, "the failure produced no allure attachments"
    combined = {str(p): p.read_text(errors="replace") for p in files}
    combined["<stdout>"], combined["<stderr>"] = proc.stdout, proc.stderr
    leaks = [(where, value[:12]) for where, text in combined.items() for value in PLANTED if value in text]
    assert not leaks, f"credentials leaked into: {leaks}"
    assert any("planted.log" in t or "log tail: planted" in t for t in combined.values()), "the planted log was not attached at all"
