"""Which generation of the OpenShell contract an implementation answered with.

Upstream's contract moves (proto/UPSTREAM.md): the **2026-08** generation (NVIDIA/OpenShell
2f7fb655) has 12 ComputeDriver RPCs and capability fields 1-6 only, and a gateway that sends
`int64 expires_at_ms = 2` for token expiry and `bool deleted = 1` on DeleteSandbox. The **newer**
generation (later drivers; the gateway API of the `openshell` SDK 0.1.x) adds AuthenticateSandbox,
capability fields 7-9, `expiration_time = 102` and a DeletionOutcome. These are pure functions of
what the implementation answered, so a report can name the generation beside its verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import grpc
from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet

from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2 as cpb
from pytest_openshell._proto.openshell.v1 import openshell_pb2 as opb

GenerationName = Literal["2026-08", "newer"]
OLD: GenerationName = "2026-08"
NEW: GenerationName = "newer"

# GetCapabilitiesResponse fields the 2026-08 generation does not have.
_NEWER_CAPABILITIES = ("supports_sandbox_authentication", "driver_reports_runtime_readiness")


@dataclass(frozen=True)
class Generation:
    name: GenerationName
    evidence: str  # what the implementation answered that decides it, for the report

    def __str__(self) -> str:
        return f"{self.name} ({self.evidence})"


def _unknown_numbers(message: Message) -> set[int]:
    return {f.field_number for f in UnknownFieldSet(message)}


def driver_generation(capabilities: cpb.GetCapabilitiesResponse,
                      authenticate_sandbox: grpc.StatusCode | None = None) -> Generation:
    """The compute driver's generation, from its GetCapabilities answer and, optionally, the status
    of an AuthenticateSandbox probe (any credential; only UNIMPLEMENTED versus anything else counts).

    A newer-generation flag or resource_capabilities decides it outright. Without one, a newer driver
    that supports none of the optional features looks like a 2026-08 one unless the probe says the
    RPC exists.
    """
    flags = [name for name in _NEWER_CAPABILITIES if getattr(capabilities, name)]
    if capabilities.HasField("resource_capabilities"):
        flags.append("resource_capabilities")
    if flags:
        return Generation(NEW, f"GetCapabilities sets {', '.join(flags)}")
    if authenticate_sandbox is not None and authenticate_sandbox != grpc.StatusCode.UNIMPLEMENTED:
        return Generation(NEW, f"AuthenticateSandbox exists (answered {authenticate_sandbox.name})")
    if authenticate_sandbox == grpc.StatusCode.UNIMPLEMENTED:
        return Generation(OLD, "AuthenticateSandbox is UNIMPLEMENTED and no capability field 7-9 is set")
    return Generation(OLD, "no capability field 7-9 is set (AuthenticateSandbox not probed)")


def token_generation(response: opb.IssueSandboxTokenResponse | opb.RefreshSandboxTokenResponse) -> Generation | None:
    """The gateway's generation from a token answer: `expiration_time` (102) or `expires_at_ms` (2,
    reserved in ours, so it arrives as an unknown field). None when it sent neither (no expiry)."""
    if response.HasField("expiration_time"):
        return Generation(NEW, "token expiry in expiration_time (102)")
    if 2 in _unknown_numbers(response):
        return Generation(OLD, "token expiry in expires_at_ms (2)")
    return None


def deletion_generation(response: opb.DeleteSandboxResponse) -> Generation | None:
    """The gateway's generation from a DeleteSandbox answer: a DeletionOutcome (2) or `bool deleted`
    (1, reserved in ours). None when it sent neither (a 2026-08 `deleted = false` is not on the wire)."""
    if response.outcome != opb.DeletionOutcome.DELETION_OUTCOME_UNSPECIFIED:
        return Generation(NEW, f"DeleteSandbox outcome {opb.DeletionOutcome.Name(response.outcome)}")
    if 1 in _unknown_numbers(response):
        return Generation(OLD, "DeleteSandbox answered with bool deleted (1)")
    return None
