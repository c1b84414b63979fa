"""Wall time of the whole conformance suite, serial and with pytest-xdist on 2 workers.

Both runs boot their own embedded cluster (all xdist workers share one). Latency and serial tests
share one xdist scheduling scope (pytest_openshell/xdist_scheduling.py), so they run on one worker,
never beside each other; the report gives each latency figure's load condition.
Last line: ``serial_s=<x> xdist2_s=<y> speedup=<x/y>``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time


def run(extra: list[str], lane: str | None) -> float:
    cmd = [sys.executable, "-m", "pytest_openshell.cli", "-q", *extra]
    if lane:
        cmd.append(f"--agent-sandbox-version={lane}")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
        elapsed = time.monotonic() - t0
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-300:]
    print(f"{' '.join(extra) or 'serial'}: {elapsed:.1f}s ({tail})")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agent-sandbox-version", default=None)
    args = parser.parse_args()
    serial = run([], args.agent_sandbox_version)
    parallel = run(["-n", "2", "--dist", "loadgroup"], args.agent_sandbox_version)
    print(f"serial_s={serial:.1f} xdist2_s={parallel:.1f} speedup={serial / parallel:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
