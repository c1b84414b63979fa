"""Deliberate faults ("mutants") the reference servers can be started with, as data.

A conformance suite is only as good as the bugs it catches. Each fault below disables one
check or guarantee at one exact spot of the reference code; a suite run against a server
started with ``faults=frozenset({name})`` must fail, or that fault is not covered.

Faults are switched on only through the ``faults`` argument of
:func:`pytest_openshell.reference.driver.start_driver` and
:func:`pytest_openshell.reference.gateway.start_gateway`. They are deliberately absent from both
command lines and from every environment variable, so a deployed reference server cannot be
weakened by configuration.

``components`` says which servers accept the fault. Identity faults live in the shared
service-account verifier, which runs in the gateway (``IssueSandboxToken``) and in the driver
(``AuthenticateSandbox``); they apply wherever the verifier runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

Component = Literal["driver", "gateway"]
BOTH: frozenset[Component] = frozenset({"driver", "gateway"})
DRIVER: frozenset[Component] = frozenset({"driver"})
GATEWAY: frozenset[Component] = frozenset({"gateway"})


@dataclass(frozen=True)
class Fault:
    name: str
    components: frozenset[Component]
    description: str
    where: str  # the module and check it disables
    # Set when no black-box test can tell the mutant apart on a correct cluster, and why.
    equivalent: str | None = None


FAULTS: Mapping[str, Fault] = {f.name: f for f in (
    Fault("skip-owner-uid-check", BOTH,
          "Accept a pod whose controlling Sandbox ownerReference names a UID other than the live Sandbox's "
          "(a Sandbox deleted and recreated under the same name).",
          "identity/chain.py: step 7, owner UID comparison"),
    Fault("trust-annotation-alone", BOTH,
          "Take the pod's openshell.io/sandbox-id annotation as the identity without checking the owning "
          "Sandbox, its label or its claim.",
          "identity/chain.py: after step 5, steps 6-7 and claim re-anchoring skipped"),
    Fault("accept-any-audience", BOTH,
          "Review the token against whatever audience it names and skip the openshell-gateway audience check.",
          "identity/chain.py: step 1, TokenReview audiences and the audience check"),
    Fault("skip-claim-reanchoring", BOTH,
          "For a claim-owned (warm) Sandbox, accept the pod annotation without checking the claim's live UID, "
          "its status.sandbox.name or the recorded (namespace, claim, uid) -> sandbox id mapping.",
          "identity/chain.py: warm-claim re-anchoring"),
    Fault("skip-pod-uid-check", BOTH,
          "Accept a token bound to an earlier pod of the same name (the pod UID in the token is not compared).",
          "identity/chain.py: step 4, pod UID comparison",
          equivalent="kube-apiserver's TokenReview already rejects a pod-bound token whose pod UID is not the live "
                     "pod's, so the gateway's own check is defence in depth that no request can reach on a correct "
                     "cluster (only within the apiserver's informer lag)"),
    Fault("skip-label-id-check", BOTH,
          "Do not compare the owning Sandbox's openshell.ai/sandbox-id label with the pod annotation.",
          "identity/chain.py: step 7, owner ID comparison"),
    Fault("deny-every-token", BOTH,
          "Refuse every token, the sandbox's own included (as a gateway whose authenticator is off): every "
          "denial case would pass, so only their controls can catch it.",
          "identity/chain.py: before step 1"),
    Fault("ignore-delete-preconditions", DRIVER,
          "DeleteSandbox deletes whatever carries the name, without reading it first and without uid/resourceVersion "
          "preconditions, so it removes a replacement object (another sandbox's) it never looked at.",
          "driver/lifecycle.py: delete"),
    Fault("drop-watch-deletes", DRIVER,
          "WatchSandboxes never sends deleted events.",
          "driver/watch.py: DELETED handling"),
    Fault("report-ready-early", DRIVER,
          "Report Ready=True as soon as the platform object exists, before its Ready condition is True.",
          "driver/observe.py: conditions"),
    Fault("stop-not-idempotent", DRIVER,
          "StopSandbox on an already stopped sandbox fails with FAILED_PRECONDITION.",
          "driver/lifecycle.py: stop"),
    Fault("accept-unknown-sandbox", GATEWAY,
          "IssueSandboxToken mints a token for a sandbox id the gateway has no record of.",
          "gateway/auth.py: step 8, store lookup"),
    Fault("refresh-accepts-sa-token", GATEWAY,
          "RefreshSandboxToken falls back to the service-account chain when the bearer is not a gateway JWT.",
          "gateway/auth.py: refresh"),
)}


def validate(faults: Iterable[str], component: Component) -> frozenset[str]:
    """The faults as a frozenset, or ValueError naming any that are unknown or not for ``component``."""
    chosen = frozenset(faults)
    unknown = sorted(chosen - FAULTS.keys())
    if unknown:
        raise ValueError(f"unknown fault(s) {unknown}; known: {sorted(FAULTS)}")
    foreign = sorted(f for f in chosen if component not in FAULTS[f].components)
    if foreign:
        raise ValueError(f"fault(s) {foreign} do not apply to the {component}")
    return chosen


def for_component(component: Component) -> list[Fault]:
    return [f for f in FAULTS.values() if component in f.components]
