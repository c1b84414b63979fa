"""What to say when the gateway release does not roll out: its pods, their last events, logs, helm status."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

EVENTS_PER_POD = 3
LOG_LINES = 40


def _run(cmd: list[str], timeout: float = 30) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"({' '.join(cmd[:4])}... did not answer in {timeout:.0f}s)"
    return out.stdout if out.returncode == 0 else (out.stderr.strip() or out.stdout)


def pod_problems(kubectl: list[str], namespace: str) -> tuple[str, list[str]]:
    """(one-line summary naming each pod not Ready and its last events, pod names)."""
    raw = _run([*kubectl, "-n", namespace, "get", "pods", "-o", "json"])
    try:
        pods: list[dict[str, Any]] = json.loads(raw).get("items") or []
    except json.JSONDecodeError:
        return f"pods unreadable: {raw.strip()[:200]}", []
    raw_events = _run([*kubectl, "-n", namespace, "get", "events", "-o", "json"])
    try:
        events: list[dict[str, Any]] = json.loads(raw_events).get("items") or []
    except json.JSONDecodeError:
        events = []
    if not pods:
        last = sorted(events, key=_event_time)[-EVENTS_PER_POD:]
        return "no pod was created" + (f"; last events: {_events_text(last)}" if last else ""), []
    parts, names = [], []
    for pod in pods:
        name = pod["metadata"]["name"]
        if _ready(pod):
            continue
        names.append(name)
        mine = sorted((e for e in events if (e.get("involvedObject") or {}).get("name") == name), key=_event_time)
        waiting = [f"{c['name']}: {(c.get('state') or {}).get('waiting', {}).get('reason')}"
                   for c in (pod.get("status") or {}).get("containerStatuses") or [] if (c.get("state") or {}).get("waiting")]
        state = (pod.get("status") or {}).get("phase", "?") + (f" ({', '.join(waiting)})" if waiting else "")
        last = mine[-EVENTS_PER_POD:]
        parts.append(f"pod {name} {state}" + (f", last events: {_events_text(last)}" if last else ", no events"))
    return "; ".join(parts) or "all pods Ready (a workload other than pods did not become ready)", names


def write_report(path: Path, kubectl: list[str], helm: list[str], release: str, namespace: str, pods: list[str]) -> None:
    """Everything at length, for the file the one-line error points at."""
    sections = [("helm status", _run([*helm, "status", release, "-n", namespace])),
                ("pods", _run([*kubectl, "-n", namespace, "get", "pods", "-o", "wide"])),
                ("events", _run([*kubectl, "-n", namespace, "get", "events", "--sort-by=.lastTimestamp"]))]
    for pod in pods:
        sections.append((f"describe pod {pod}", _run([*kubectl, "-n", namespace, "describe", "pod", pod])))
        sections.append((f"logs {pod}", _run([*kubectl, "-n", namespace, "logs", pod, "--all-containers",
                                               "--prefix", f"--tail={LOG_LINES}"])))
    path.write_text("".join(f"=== {title}\n{body.rstrip()}\n\n" for title, body in sections))


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _event_time(event: dict[str, Any]) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime") or (event.get("metadata") or {}).get("creationTimestamp") or "")


def _events_text(events: list[dict[str, Any]]) -> str:
    return " | ".join(f"{e.get('reason')}: {' '.join(str(e.get('message') or '').split())[:200]}" for e in events)
