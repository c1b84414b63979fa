"""A check for pytest runs in a subprocess: which Python threads are still alive when pytest is done.

A watch reader still running at interpreter exit can abort the process (see
pytest_openshell.kube.watchstream), so runs of the shipped suites are expected to end with the main
thread alone.
"""

from __future__ import annotations

from pathlib import Path

# Loaded with ``-p threads_at_exit`` into a pytest run in a subprocess: names the Python threads
# still alive when pytest is done. A watch reader still running then can abort the interpreter.
THREADS_AT_EXIT = '''
import os, threading, pytest
@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    live = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    with open(os.environ["THREADS_AT_EXIT"], "w") as out:
        out.write("\\n".join(live))
'''


def threads_at_exit_check(directory: Path) -> tuple[list[str], dict[str, str], Path]:
    """(pytest args, environment additions, result file) for a subprocess run that records its live threads at exit."""
    (directory / "threads_at_exit.py").write_text(THREADS_AT_EXIT)
    result = directory / "threads-at-exit.txt"
    return ["-p", "threads_at_exit"], {"THREADS_AT_EXIT": str(result)}, result
