"""Create, find, stop, start and delete the platform objects behind a sandbox.

A sandbox is either a Sandbox the driver created (cold) or a SandboxClaim it created (warm); both
carry the identity labels and are named as the workspace mode says (``{workspace}--{name}`` in
shared mode). Requests name a sandbox by id and/or name; as upstream, the id label is what finds
it (the name label only when no id is given), so an object whose id label disagrees with the
requested id is someone else's and not found, whatever it is called.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import grpc
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2 as pb
from pytest_openshell.contract.labels import (
    GATEWAY_ID,
    MANAGED_BY,
    MANAGED_BY_VALUE,
    SANDBOX_ID,
    SANDBOX_NAME,
    SANDBOX_WORKSPACE,
    is_label_value,
    managed_selector,
)
from pytest_openshell.reference.driver import manifests, warm
from pytest_openshell.reference.driver.config import DriverConfig
from pytest_openshell.reference.driver.observe import bound_sandbox
from pytest_openshell.reference.identity import MemoryClaimRecords
from pytest_openshell.reference.kube import AgentSandboxResources, Obj, Resource, labels, meta
from pytest_openshell.reference.status import StatusError

log = logging.getLogger(__name__)
DELETE_ATTEMPTS = 5  # a conflicting update between our read and delete only makes us look again


@dataclass(frozen=True)
class Created:
    warm_pool: str | None = None
    claim_uid: str | None = None
    claim_name: str | None = None


@dataclass(frozen=True)
class Found:
    resource: Resource
    obj: Obj

    @property
    def name(self) -> str:
        return str(meta(self.obj)["name"])


def not_found(sandbox_id: str, name: str) -> StatusError:
    return StatusError(grpc.StatusCode.NOT_FOUND, f"sandbox {name or sandbox_id!r} not found")


class Lifecycle:
    def __init__(self, config: DriverConfig, resources: AgentSandboxResources, claims: MemoryClaimRecords) -> None:
        self.config = config
        self.res = resources
        self.claims = claims

    @property
    def kinds(self) -> list[Resource]:
        return [r for r in (self.res.sandbox, self.res.claim) if r is not None]

    def _ours(self, obj: Obj) -> bool:
        lab = labels(obj)
        return lab.get(MANAGED_BY) == MANAGED_BY_VALUE and lab.get(GATEWAY_ID) == self.config.gateway_id

    def create(self, sandbox: pb.DriverSandbox) -> Created:
        manifests.validate(self.config, sandbox)
        ns = self.config.namespace
        try:
            pool = warm.find_pool(self.config, self.res, sandbox)
            if pool is not None and self.res.claim is not None:
                claim = self.res.create(self.res.claim, ns, manifests.claim_body(self.config, self.res, sandbox, pool.pool,
                                                                                 pool.template))
                uid, claim_name = str(meta(claim)["uid"]), str(meta(claim)["name"])
                self.claims.record_claim(ns, claim_name, uid, sandbox.id)
                return Created(pool.pool, uid, claim_name)
            self.res.create(self.res.sandbox, ns, manifests.sandbox_body(self.config, self.res, sandbox))
        except ApiException as exc:
            if exc.status == 409:
                raise StatusError(grpc.StatusCode.ALREADY_EXISTS, f"sandbox {sandbox.name!r} already exists") from exc
            raise
        return Created()

    def find(self, sandbox_id: str, name: str) -> Found:
        """The platform object of a sandbox, or NOT_FOUND."""
        ns = self.config.namespace
        if sandbox_id:
            selector = f"{managed_selector(self.config.gateway_id)},{SANDBOX_ID}={sandbox_id}"
        elif name and is_label_value(name):
            selector = f"{managed_selector(self.config.gateway_id)},{SANDBOX_NAME}={name}"
        elif name:
            raise not_found(sandbox_id, name)
        else:
            raise StatusError(grpc.StatusCode.INVALID_ARGUMENT, "sandbox_id or sandbox_name is required")
        for resource in self.kinds:
            for obj in self.res.list(resource, ns, selector):
                if self._ours(obj) and (not sandbox_id or labels(obj).get(SANDBOX_ID) == sandbox_id):
                    obj.setdefault("kind", resource.kind)
                    return Found(resource, obj)
        raise not_found(sandbox_id, name)

    def list(self) -> list[Obj]:
        out = []
        for resource in self.kinds:
            for obj in self.res.list(resource, self.config.namespace, managed_selector(self.config.gateway_id)):
                obj.setdefault("kind", resource.kind)
                out.append(obj)
        return out

    # -- stop / start ---------------------------------------------------------------------------------
    def _target(self, found: Found) -> Obj:
        """The Sandbox whose replicas/operatingMode decide whether the sandbox runs."""
        if found.resource.kind == "Sandbox":
            return found.obj
        name = bound_sandbox(found.obj)
        target = self.res.get(self.res.sandbox, self.config.namespace, name) if name else None
        if target is None:
            raise StatusError(grpc.StatusCode.FAILED_PRECONDITION, f"claim {found.name!r} has no sandbox bound yet")
        return target

    def _stopped(self, sandbox: Obj) -> bool:
        spec = sandbox.get("spec") or {}
        if self.res.beta:
            return spec.get("operatingMode") == "Suspended"
        return spec.get("replicas", 1) == 0

    def _run_patch(self, stopped: bool) -> Obj:
        if self.res.beta:
            return {"spec": {"operatingMode": "Suspended" if stopped else "Running"}}
        return {"spec": {"replicas": 0 if stopped else 1}}

    def set_running(self, sandbox_id: str, name: str, running: bool) -> None:
        """Stop or start; asking for the state it is already in succeeds without a write."""
        target = self._target(self.find(sandbox_id, name))
        if self._stopped(target) == (not running):
            if not running and "stop-not-idempotent" in self.config.faults:
                raise StatusError(grpc.StatusCode.FAILED_PRECONDITION, "sandbox already stopped")
            return
        self.res.patch(self.res.sandbox, self.config.namespace, str(meta(target)["name"]), self._run_patch(not running))

    # -- delete ---------------------------------------------------------------------------------------
    def delete(self, sandbox_id: str, name: str) -> bool:
        """Delete exactly the object we looked at (uid + resourceVersion preconditions); False if absent."""
        if "ignore-delete-preconditions" in self.config.faults and name:
            # The fault: delete whatever now carries the name, without checking which sandbox it is.
            selector = f"{managed_selector(self.config.gateway_id)},{SANDBOX_NAME}={name}"
            for resource in self.kinds:
                for obj in self.res.list(resource, self.config.namespace, selector):
                    try:
                        self.res.delete(resource, self.config.namespace, str(meta(obj)["name"]), None)
                        return True
                    except ApiException as exc:
                        if exc.status != 404:
                            raise
            return False
        for _ in range(DELETE_ATTEMPTS):
            try:
                found = self.find(sandbox_id, name)
            except StatusError as exc:
                if exc.code == grpc.StatusCode.NOT_FOUND:
                    return False
                raise
            m = meta(found.obj)
            pre = k8s.V1Preconditions(uid=m["uid"], resource_version=m["resourceVersion"])
            try:
                self.res.delete(found.resource, self.config.namespace, found.name, pre)
            except ApiException as exc:
                if exc.status == 404:
                    return False
                if exc.status == 409:  # changed (or replaced) since we read it: look again
                    continue
                raise
            if found.resource.kind == "SandboxClaim":
                self.claims.forget_claim(self.config.namespace, found.name)
            return True
        raise StatusError(grpc.StatusCode.ABORTED, f"sandbox {name or sandbox_id!r} kept changing while being deleted")

    def delete_workspace(self, workspace: str) -> None:
        selector = f"{managed_selector(self.config.gateway_id)},{SANDBOX_WORKSPACE}={workspace}"
        for resource in self.kinds:
            for obj in self.res.list(resource, self.config.namespace, selector):
                try:
                    m = meta(obj)
                    self.res.delete(resource, self.config.namespace, str(m["name"]),
                                    k8s.V1Preconditions(uid=m["uid"]))
                except ApiException as exc:
                    if exc.status not in (404, 409):
                        raise
