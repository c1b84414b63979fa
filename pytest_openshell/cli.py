"""``openshell-conformance``: run the shipped conformance suites with pytest.

Every argument is passed through to pytest, so ``openshell-conformance -k warm --keep-cluster``
works as it would under pytest itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pytest_openshell.suite.registry import suites


def conformance_dir() -> Path:
    """The shipped suite's directory (its pytest.ini is the run's ini)."""
    return suites()[0].directory


def build_args(argv: list[str]) -> list[str]:
    suite = conformance_dir()
    args = [str(s.directory) for s in suites()]
    if not any(a == "-c" or a.startswith("--config-file") for a in argv):
        # The suites' own ini, so a user's unrelated pytest config cannot change what runs.
        args += ["-c", str(suite / "pytest.ini"), "--rootdir", str(suite)]
    return args + argv


def main(argv: list[str] | None = None) -> int:
    code = pytest.main(build_args(list(sys.argv[1:] if argv is None else argv)))
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
