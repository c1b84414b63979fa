"""The parts of the suites that only real nodes exercise, checked without a cluster: which tests a
simulated node skips (and reports), how the DNS client's log is read, where a pod's token lives."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.agent_sandbox import TESTS
from conformance.agent_sandbox.dnsclient import gap_ms, parse
from conformance.openshell.common import projected_token
from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2 as pb
from pytest_openshell.agentsandbox.metrics import scrape
from pytest_openshell.contract.labels import TOKEN_AUDIENCE
from pytest_openshell.kube.podlog import LogLine
from pytest_openshell.reference.driver.config import DriverConfig
from pytest_openshell.reference.driver.manifests import pod_template
from pytest_openshell.suite.features import load_catalogue
from pytest_openshell.suite.selection import Selection

DNS_TEST = next(t for t in TESTS if t.short_name == "ServiceDNSAcrossPodRecreation")


def test_simulated_nodes_skip_the_dns_client_and_report_it_unsupported() -> None:
    selection = Selection(load_catalogue())
    simulated = selection.verdict(DNS_TEST, "simulated")
    assert not simulated.run and simulated.unsupported == ("SandboxServiceDNS",)
    assert "simulated" in simulated.reason
    assert selection.verdict(DNS_TEST, "real").run
    plain = next(t for t in TESTS if t.short_name == "ServiceStableAcrossPodRecreation")
    assert selection.verdict(plain, "simulated").run, "the API-side recreation test still runs on kwok"


def test_unknown_feature_in_node_modes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "features.yaml"
    path.write_text("features: {A: a}\nprofiles: {p: {core: [A]}}\nnode_modes: {simulated: [B]}\n")
    with pytest.raises(ValueError, match="node_modes names unknown features"):
        load_catalogue(path)


def _lines(*texts: str) -> list[LogLine]:
    return [LogLine(0.0, text, i) for i, text in enumerate(texts)]


def test_client_log_lines_parse_and_give_the_gap_between_pods() -> None:
    probes = [p for p in map(parse, _lines(
        "100.00 ok 10.244.0.5 old-uid", "Segmentation fault", "100.05 ok 10.244.0.5 old-uid", "100.10 fail 10.244.0.5",
        "100.40 nodns", "101.20 ok 10.244.0.9 new-uid")) if p is not None]
    assert [p.result for p in probes] == ["ok", "ok", "fail", "nodns", "ok"]
    assert probes[-1].ip == "10.244.0.9" and probes[-1].uid == "new-uid"
    assert gap_ms(probes, "old-uid", "new-uid") == pytest.approx(1150.0)
    with pytest.raises(AssertionError, match="without having reached the old one"):
        gap_ms(probes[2:], "old-uid", "new-uid")


def test_projected_token_path_is_read_from_the_reference_driver_pod() -> None:
    sandbox = pb.DriverSandbox(id="sid", name="box")
    pod = pod_template(DriverConfig(namespace="ns"), sandbox)
    container, path = projected_token(pod, TOKEN_AUDIENCE) or ("", "")
    assert container == pod["spec"]["containers"][0]["name"] and path == "/var/run/secrets/openshell/token"
    assert projected_token(pod, "someone-else") is None
    assert projected_token({"spec": {"containers": [{"name": "c"}]}}, TOKEN_AUDIENCE) is None


def test_an_api_server_path_needs_an_api_client() -> None:
    with pytest.raises(ValueError, match="needs an API client"):
        scrape("/api/v1/namespaces/x/services/y:metrics/proxy/metrics")
