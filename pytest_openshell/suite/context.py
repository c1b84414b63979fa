"""What a conformance test function receives: the cluster, the lane's API, its namespace,
the timeout config, recorders of watch events, and a place to put its measurements."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubernetes import client as k8s

from pytest_openshell.agentsandbox import SandboxAPI
from pytest_openshell.agentsandbox.api import Obj
from pytest_openshell.kube.diagnostics import namespace_diagnostic
from pytest_openshell.kube.recorder import EventRecorder
from pytest_openshell.providers import AgentSandbox, Cluster
from pytest_openshell.redact import redact_text
from pytest_openshell.results.model import (
    PROPERTY_MEASUREMENT,
    PROPERTY_NOTE,
    PROPERTY_RECOMMENDATION,
    PROPERTY_UNSUPPORTED,
    Measurement,
)
from pytest_openshell.suite.manifests import render
from pytest_openshell.suite.timeouts import SuiteConfig

StepHook = Callable[[str], contextlib.AbstractContextManager[Any]]


class Evidence(Protocol):
    """Where a test's evidence goes (the allure writer, report/allure_support.py, when allure is on).
    The engine states the facts; the writer, handed in by the fixtures, decides their form."""

    def text(self, name: str, text: str, kind: str = "text") -> None: ...

    def histogram(self, name: str, samples_ms: list[float], budget_ms: float | None) -> None: ...

    def log_tails(self, logs: dict[str, str]) -> None: ...


class RunsInContext(Protocol):
    """What a context needs of the test it runs (a ConformanceTest record is one). Spelled here, so
    the record, which names the context its body takes, is not also imported back by the context."""

    @property
    def short_name(self) -> str: ...

    @property
    def run(self) -> Callable[[SuiteContext], None]: ...


@dataclass
class SuiteContext:
    test: RunsInContext
    cluster: Cluster
    agent_sandbox: AgentSandbox
    api: k8s.ApiClient
    namespace: str
    config: SuiteConfig
    properties: list[tuple[str, object]]
    step_hook: StepHook | None = None
    evidence: Evidence | None = None
    extra_logs: dict[str, str] = field(default_factory=dict)
    services_factory: Callable[[SuiteContext], Any] | None = None
    namespaces: Any = None  # the session's NamespaceFactory, for tests that need a second namespace
    upgrade_crd_mode: str = "apply"  # how an upgrade run replaces the CRDs (fixture upgrade_crd_mode)
    _recorders: list[EventRecorder] = field(default_factory=list)
    _deferred: list[Callable[[], Any]] = field(default_factory=list)
    _services: Any = None
    _watched: dict[tuple[str, str], EventRecorder] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sandboxes = SandboxAPI(self.api, self.agent_sandbox)
        self.core = k8s.CoreV1Api(self.api)
        self.discovery = k8s.DiscoveryV1Api(self.api)

    # -- phases -------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[None]:
        """A named phase of the test (apply, wait, measure, assert); reports show them."""
        if self.step_hook is None:
            yield
        else:
            with self.step_hook(title):
                yield

    def apply(self, manifest: str) -> list[Obj]:
        created = []
        with self.step(f"apply {manifest}"):
            for doc in render(manifest, self.sandboxes.version):
                if doc["kind"] in ("Sandbox", "SandboxTemplate", "SandboxWarmPool", "SandboxClaim"):
                    created.append(self.sandboxes.create(self.namespace, doc))
                else:
                    raise ValueError(f"{manifest}: kind {doc['kind']} is not applied by the suites")
        return created

    # -- watching -------------------------------------------------------------------------------------
    def recorder(self, kind: str, namespace: str | None = None) -> EventRecorder:
        ns = namespace or self.namespace
        lister = {
            "Pod": lambda **kw: self.core.list_namespaced_pod(ns, **kw),
            "Service": lambda **kw: self.core.list_namespaced_service(ns, **kw),
            "EndpointSlice": lambda **kw: self.discovery.list_namespaced_endpoint_slice(ns, **kw),
        }.get(kind) or self.sandboxes.lister(kind, ns)
        rec = EventRecorder(lister, f"{kind} in {ns}")
        self._recorders.append(rec)
        return rec

    def watched(self, kind: str) -> EventRecorder:
        """One recorder of ``kind`` shared by the steps of a test: in the test's namespace, or where an
        external driver puts its sandboxes."""
        ns = self.services.sandbox_namespace if self.services_factory is not None else self.namespace
        if (kind, ns) not in self._watched:
            self._watched[(kind, ns)] = self.recorder(kind, ns)
        return self._watched[(kind, ns)]

    @property
    def pods(self) -> EventRecorder:
        return self.watched("Pod")

    @property
    def services(self) -> Any:
        """The OpenShell driver and gateway under test (started on first use)."""
        if self._services is None:
            if self.services_factory is None:
                raise RuntimeError("this context has no OpenShell services")
            self._services = self.services_factory(self)
        return self._services

    @property
    def services_started(self) -> Any:
        """The services if a test used them, else None (nothing is started for the asking)."""
        return self._services

    def extra_namespace(self, stem: str) -> str:
        return str(self.namespaces.create(f"{self.test.short_name}-{stem}"))

    def unsupported(self, features: list[str], reason: str) -> None:
        """Skip, reporting ``features`` as not supported by the implementation under test."""
        import pytest

        self.properties.append((PROPERTY_UNSUPPORTED, json.dumps(features)))
        pytest.skip(f"unsupported feature(s): {', '.join(features)} ({reason})")

    def recommendation(self, feature: str, finding: str) -> None:
        """A recommendation of the harness (a stricter check than the contract's) this implementation misses:
        reported against ``feature``, and the test goes on (it is not a contract failure)."""
        self.properties.append((PROPERTY_RECOMMENDATION, json.dumps({"feature": feature, "finding": redact_text(finding)})))

    def diagnose(self) -> str:
        extra: dict[str, Callable[[], Any]] = {
            f"{kind.lower()}s": self.sandboxes.lister(kind, self.namespace)
            for kind in ("Sandbox", "SandboxTemplate", "SandboxWarmPool", "SandboxClaim")
        }
        return namespace_diagnostic(self.api, self.namespace, extra)

    # -- results --------------------------------------------------------------------------------------
    def measure(self, measurement: Measurement) -> Measurement:
        self.properties.append((PROPERTY_MEASUREMENT, json.dumps(measurement.to_dict())))
        # Flat figures as well, which JUnit XML carries as <property> elements.
        for key, value in measurement.stats.items():
            self.properties.append((f"latency.{measurement.name}.{key}", value))
        if measurement.budget:
            self.properties.append((f"latency.{measurement.name}.verdict", measurement.verdict))
        if self.evidence is not None and measurement.samples_ms:
            budget = next(iter(measurement.budget.values())) if measurement.budget else None
            self.evidence.histogram(measurement.name, list(measurement.samples_ms), budget)
        return measurement

    def note(self, text: str) -> None:
        """A fact worth reporting that is not a failure (e.g. an optional label the lane lacks)."""
        self.properties.append((PROPERTY_NOTE, redact_text(text)))

    def attach_failure(self) -> None:
        """Everything a reader of a failed test needs, redacted: objects, conditions, events, logs."""
        if self.evidence is not None:
            self.evidence.text("namespace objects, conditions and events", self.diagnose(), "yaml")
            self.evidence.log_tails(self.logs)

    @property
    def logs(self) -> dict[str, str]:
        wanted = ("agent-sandbox-controller", "kube-controller-manager", "kwok", "gateway", "driver")
        return {k: v for k, v in self.cluster.logs.items() if k in wanted} | self.extra_logs

    def defer(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` when the test ends, before its namespace goes (e.g. release a held finalizer)."""
        self._deferred.append(fn)

    def close(self) -> None:
        for fn in reversed(self._deferred):
            with contextlib.suppress(Exception):
                fn()
        for rec in self._recorders:
            rec.stop()
        if self._services is not None:
            self._services.close()
