"""Run the whole agent-sandbox suite on the embedded cluster and print its latency figures.

Last line: ``warm_p50_ms=.. warm_p99_ms=.. cold_p50_ms=.. controller_p50_ms=.. endpoint_gap_ms=..``
(warm/cold: claim create -> claim Ready, from watch receipt times; controller_p50_ms: the upper
bound of the histogram bucket holding the median of the controller's own
agent_sandbox_claim_controller_startup_latency_ms for the same claims -- the finest its buckets
allow -- with its mean beside it; endpoint_gap_ms: p50 of the time a Service had no ready
endpoint across pod recreation). The line before it gives the suite's wall time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _measurement(data: dict[str, Any], name: str) -> dict[str, Any]:
    for test in data["tests"]:
        for m in test["measurements"]:
            if m["name"] == name:
                return dict(m)
    raise SystemExit(f"measurement {name} missing from the results (did its test run?)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agent-sandbox-version", default=None)
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "results.json"
        cmd = [sys.executable, "-m", "pytest_openshell.cli", "-q", f"--openshell-results-json={results}", *args.pytest_args]
        if args.agent_sandbox_version:
            cmd.append(f"--agent-sandbox-version={args.agent_sandbox_version}")
        t0 = time.monotonic()
        proc = subprocess.run(cmd, cwd=tmp)
        wall = time.monotonic() - t0
        if not results.exists():
            print(f"the suite wrote no results (exit {proc.returncode})", file=sys.stderr)
            return 2
        data = json.loads(results.read_text())
    warm = _measurement(data, "warm_ready_ms")
    cold = _measurement(data, "cold_ready_ms")
    gap = _measurement(data, "endpoint_gap_ms")
    ctl = (warm.get("controller") or {}).get("agent_sandbox_claim_controller_startup_latency_ms") or {}
    print(f"suite_seconds={wall:.1f} controller_mean_ms={ctl.get('mean_ms') or float('nan'):.1f} "
          f"warm_n={warm['stats']['n']} cold_n={cold['stats']['n']}")
    print(f"warm_p50_ms={warm['stats']['p50']:.1f} warm_p99_ms={warm['stats']['p99']:.1f} cold_p50_ms={cold['stats']['p50']:.1f} "
          f"controller_p50_ms={ctl.get('p50_bucket_le_ms') or float('nan'):.0f} endpoint_gap_ms={gap['stats']['p50']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
