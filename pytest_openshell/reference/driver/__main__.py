"""``python -m pytest_openshell.reference.driver``: the reference compute driver as a host process."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pytest_openshell.contract.labels import DEFAULT_GATEWAY_ID, DEFAULT_SERVICE_ACCOUNT, TOKEN_AUDIENCE
from pytest_openshell.reference.driver.config import DEFAULT_IMAGE, WORKSPACE_MODES
from pytest_openshell.reference.driver.server import start_driver
from pytest_openshell.reference.serving import serve_until_signalled


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_openshell.reference.driver",
                                     description="Serve openshell.compute.v1.ComputeDriver on a Unix socket.")
    parser.add_argument("--socket", required=True, help="Unix socket path to listen on")
    parser.add_argument("--kubeconfig", help="kubeconfig of the cluster (default: in-cluster, the pod's service account)")
    parser.add_argument("--context", default=None, help="kubeconfig context (default: current)")
    parser.add_argument("--namespace", required=True, help="namespace the driver creates sandboxes in")
    parser.add_argument("--workspace-mode", default="shared", choices=WORKSPACE_MODES,
                        help="as upstream: shared ({workspace}--{name} in --namespace) or operator (--namespace is the workspace)")
    parser.add_argument("--gateway-id", default=DEFAULT_GATEWAY_ID, help="value of the openshell.ai/gateway-id label")
    parser.add_argument("--service-account", default=DEFAULT_SERVICE_ACCOUNT, help="service account of sandbox pods")
    parser.add_argument("--token-audience", default=TOKEN_AUDIENCE, help="audience of the projected pod token")
    parser.add_argument("--default-image", default=DEFAULT_IMAGE, help="image for requests that name none")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(name)s %(message)s")
    handle = start_driver(args.socket, args.namespace, kubeconfig=args.kubeconfig, kube_context=args.context,
                          gateway_id=args.gateway_id, service_account=args.service_account,
                          token_audience=args.token_audience, default_image=args.default_image,
                          workspace_mode=args.workspace_mode)
    print(f"listening on {handle.address}", flush=True)
    serve_until_signalled(handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
