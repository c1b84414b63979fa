"""The kind provider's reaper entry point (``python -m pytest_openshell.providers.kind_reap``).

It waits for a client of a disposable kind cluster to exit and then does that client's release
(reaper.py says why). It sits above kind.py, which starts it by module name, so the mechanism in
reaper.py never imports the provider back.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pytest_openshell.providers.base import ProviderSettings
from pytest_openshell.providers.kind import KindProvider
from pytest_openshell.providers.reaper import wait_for_exit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_openshell.providers.kind_reap")
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--kind", required=True)
    args = parser.parse_args(argv)
    wait_for_exit(args.pid)

    provider = KindProvider(ProviderSettings(), lambda message: print(message, flush=True))
    provider.adopt(args.name, args.run_dir, args.kind)
    print(f"client {args.pid} exited without releasing kind cluster {args.name}", flush=True)
    provider.release_client(args.pid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
