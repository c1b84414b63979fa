"""The terminal summary: per-profile table and latency percentiles, within 80 columns."""

from __future__ import annotations

from collections import defaultdict

from pytest_openshell.results.model import TestResult

WIDTH = 80


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.0f}" if value >= 100 else f"{value:.1f}"
    return str(value)


def render_summary(results: list[TestResult]) -> list[str]:
    lines = ["", " OpenShell conformance ".center(WIDTH, "=")]
    by_profile: dict[str, list[TestResult]] = defaultdict(list)
    for r in results:
        by_profile[r.profile].append(r)
    lines.append(f"{'profile':<28}{'passed':>8}{'failed':>8}{'skipped':>9}{'unsupported':>13}")
    for profile, rs in sorted(by_profile.items()):
        count = {o: sum(1 for r in rs if r.outcome == o) for o in ("passed", "failed", "skipped", "error")}
        unsupported = sum(1 for r in rs if r.unsupported)
        lines.append(f"{profile[:27]:<28}{count['passed']:>8}{count['failed'] + count['error']:>8}{count['skipped']:>9}{unsupported:>13}")
    rows = [(r.short_name, m) for r in results for m in r.measurements if m.get("stats", {}).get("n")]
    if rows:
        lines.append("")
        lines.append(f"{'measurement (ms)':<36}{'n':>4}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}{'':>1}{'verdict':<7}")
        for _test, m in rows:
            s = m["stats"]
            verdict = m.get("verdict", "")
            verdict = "" if verdict == "recorded" else verdict
            lines.append(f"{m['name'][:35]:<36}{s['n']:>4}{_fmt(s['p50']):>8}{_fmt(s['p95']):>8}{_fmt(s['p99']):>8}"
                         f"{_fmt(s['max']):>8}{'':>1}{verdict:<7}")
    return [line[:WIDTH] for line in lines]
