"""Errors the harness reports to users.

Every failure a user can fix is a :class:`HarnessError` whose message names the fix; the plugin
turns it into one line and a non-zero exit instead of a traceback.
"""

from __future__ import annotations


class HarnessError(RuntimeError):
    """A problem with the environment or input that the user can fix."""

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        self.fix = fix
        # One line: users see it as the single message of a failed run.
        message = " ".join(message.split())
        super().__init__(f"{message} -- {fix}" if fix else message)


class ComponentError(HarnessError):
    """A supervised component failed to start or died; names its log file."""

    def __init__(self, component: str, problem: str, log_file: str | None) -> None:
        self.component = component
        self.log_file = log_file
        where = f"; see its log: {log_file}" if log_file else ""
        super().__init__(f"{component} {problem}{where}")


class WaitTimeout(AssertionError):
    """A watch-based wait ran past its deadline; carries a diagnostic for the report."""

    def __init__(self, what: str, seconds: float, diagnostic: str = "") -> None:
        self.what = what
        self.diagnostic = diagnostic
        text = f"timed out after {seconds:.1f}s waiting for {what}"
        super().__init__(f"{text}\n{diagnostic}" if diagnostic else text)
