"""Two independent harness runs on one machine at the same time: own cluster, ports, run dir and report each."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
import yaml

from pytest_openshell.providers import ProviderSettings
from pytest_openshell.providers.base import docker_cluster_name
from pytest_openshell.report.outputs import write_report
from tests.providers.lifecycle import CONFORMANCE, RUN_TIMEOUT_S, Inner, booted_run_dir, explicit, left_behind, report_of, verdict_counts

SERVER = re.compile(r"embedded cluster ready in \S+ at (https://\S+)")


@pytest.mark.cluster
def test_two_runs_at_once_do_not_collide(inner: Inner, binaries: dict[str, Path]) -> None:
    args = ("-k", "SandboxReady or WarmPoolReady", "--openshell-report=r.yaml", *explicit(binaries))
    runs = [inner(*args, name=name, command=CONFORMANCE) for name in ("first", "second")]
    codes = [run.wait(RUN_TIMEOUT_S) for run in runs]
    assert codes == [0, 0], "\n\n".join(run.output[-3000:] for run in runs)
    run_dirs = [booted_run_dir(run.output) for run in runs]
    servers = [SERVER.findall(run.output) for run in runs]
    assert run_dirs[0] != run_dirs[1], "both runs booted into one run dir"
    assert all(len(s) == 1 for s in servers) and servers[0] != servers[1], f"one server each: {servers}"
    for run, run_dir in zip(runs, run_dirs, strict=True):
        assert verdict_counts(report_of(run)) == {"passed": 2, "failed": 0, "skipped": 0}
        assert left_behind(run_dir) == []


def test_kind_and_k3d_cluster_names_differ_between_runs() -> None:
    names = {docker_cluster_name(ProviderSettings(), "v0.5.6") for _ in range(50)}
    assert len(names) == 50
    assert all(re.fullmatch(r"pso-[0-9a-f]{10}", n) for n in names), names


def test_concurrent_report_writers_leave_one_whole_report(tmp_path: Path) -> None:
    target = tmp_path / "shared" / "report.yaml"
    reports = [{"writer": n, "payload": ["x" * 64] * 2000} for n in range(8)]
    errors: list[BaseException] = []

    def write(report: dict[str, object]) -> None:
        try:
            for _ in range(10):
                write_report(target, report)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(r,)) for r in reports]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert yaml.safe_load(target.read_text()) in reports, "the report is one writer's, whole"
    assert [p.name for p in target.parent.iterdir()] == ["report.yaml"], "temporary files left behind"
