"""Drive a gateway with the official ``openshell`` SDK and print what it saw as one JSON line.

Run as ``python tests/reference/sdk_session.py PHASE ENDPOINT`` in its own interpreter: it imports
the SDK's stubs and never ours (both register ``openshell.v1`` in one descriptor pool).

  create-list  create 5 sandboxes (names on stdin, one a line), then list them with page size 2
  token        IssueSandboxToken with the bearer token read from stdin (never printed); report expiry
  delete       delete the sandbox named on stdin, then again with allow_missing, then again without
"""

from __future__ import annotations

import json
import sys
from typing import Any

import grpc
from openshell import DeletionOutcome, SandboxClient
from openshell._proto import openshell_pb2, openshell_pb2_grpc

WORKSPACE = "default"
PAGE_SIZE = 2


def create_list(client: SandboxClient, names: list[str]) -> dict[str, Any]:
    spec = openshell_pb2.SandboxSpec(template=openshell_pb2.SandboxTemplate(image="registry.local/sandbox:latest"))
    ids = {name: client.create(workspace=WORKSPACE, name=name, spec=spec).id for name in names}
    pages = [[ref.name for ref in page.items] for page in client.list(workspace=WORKSPACE, page_size=PAGE_SIZE)]
    listed_all = [ref.name for ref in client.list_all(workspace=WORKSPACE, page_size=PAGE_SIZE)]
    return {"ids": ids, "pages": pages, "list_all": listed_all}


def token(endpoint: str, bearer: str) -> dict[str, Any]:
    with grpc.insecure_channel(endpoint) as channel:
        reply = openshell_pb2_grpc.OpenShellStub(channel).IssueSandboxToken(
            openshell_pb2.IssueSandboxTokenRequest(), metadata=(("authorization", f"Bearer {bearer}"),), timeout=30)
    has = reply.HasField("expiration_time")
    return {"has_expiration_time": has, "expiration_ms": reply.expiration_time.ToMilliseconds() if has else None,
            "token_present": bool(reply.token)}


def delete(client: SandboxClient, name: str) -> dict[str, Any]:
    first = client.delete(name, workspace=WORKSPACE)
    second = client.delete(name, workspace=WORKSPACE, allow_missing=True)
    try:
        client.delete(name, workspace=WORKSPACE)
        third = "OK"
    except grpc.RpcError as exc:
        third = exc.code().name
    return {"first": DeletionOutcome(first.outcome).name, "first_id": first.sandbox_id,
            "second": DeletionOutcome(second.outcome).name, "without_allow_missing": third}


def main(phase: str, endpoint: str) -> int:
    lines = [line.strip() for line in sys.stdin if line.strip()]
    if phase == "token":
        result = token(endpoint, lines[0])
    else:
        with SandboxClient(endpoint, timeout=30) as client:
            result = create_list(client, lines) if phase == "create-list" else delete(client, lines[0])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
