"""Run the relevant OpenShell suite against every mutant of the reference driver and gateway.

A mutant is caught when at least one conformance test fails against it. Mutants that no
black-box test can tell apart on a correct cluster are listed as equivalent and left out of n.
Last line: ``mutants_caught=<k>/<n>``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_openshell.reference.faults import FAULTS
from tests.mutants.runner import profile_for, run_suite


def main() -> int:
    caught = 0
    counted = [name for name, fault in sorted(FAULTS.items()) if not fault.equivalent]
    for name, fault in sorted(FAULTS.items()):
        if fault.equivalent:
            print(f"{name}: equivalent ({fault.equivalent})")
    with tempfile.TemporaryDirectory() as tmp:
        for name in counted:
            t0 = time.monotonic()
            outcomes = run_suite(Path(tmp) / name, frozenset({name}), (profile_for(name),))
            failing = sorted(k for k, v in outcomes.items() if v == "failed")  # a harness error catches nothing
            caught += bool(failing)
            print(f"{name}: {'caught by ' + ', '.join(failing) if failing else 'NOT CAUGHT'} ({time.monotonic() - t0:.0f}s)", flush=True)
    print(f"mutants_caught={caught}/{len(counted)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
