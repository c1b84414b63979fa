"""A component that dies mid-run turns the following conformance tests into failures that name it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

INNER = '''
import json, os, signal, time
from pathlib import Path
import pytest
from conformance.agent_sandbox import TESTS

def test_kill_the_controller(cluster):
    state = json.loads((Path(cluster.details["run_dir"]) / "state.json").read_text())
    os.kill(state["pids"]["agent-sandbox-controller"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while not cluster.dead_components():
        assert time.monotonic() < deadline, "the supervisor never reported the dead controller"
        time.sleep(0.05)

@pytest.mark.parametrize("conformance", [t for t in TESTS if t.short_name == "SandboxReady"], indirect=True, ids=str)
def test_after_death(conformance):
    conformance.test.run(conformance)
'''


@pytest.mark.cluster
def test_dead_controller_fails_the_next_test_with_its_name(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(INNER)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_inner.py", "-rf"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=180)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    assert "1 passed" in out and "1 error" in out, out[-3000:]
    line = next(ln for ln in out.splitlines() if "died mid-run" in ln)
    assert "agent-sandbox-controller (log: " in line
    log = Path(line.split("(log: ", 1)[1].rstrip(")"))
    assert log.exists() and "agent-sandbox-controller" in log.read_text()[:4000], "the named log must outlive the run"
