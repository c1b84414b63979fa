"""``python -m pytest_openshell.reference.gateway``: the reference gateway as a host process."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_openshell.contract.labels import DEFAULT_GATEWAY_ID, DEFAULT_SERVICE_ACCOUNT, TOKEN_AUDIENCE
from pytest_openshell.reference.gateway.config import DEFAULT_NAMESPACES, DEFAULT_TOKEN_TTL_S, IDENTITY_SOURCES, TlsConfig
from pytest_openshell.reference.gateway.server import start_gateway
from pytest_openshell.reference.identity import NAMESPACE_MODES
from pytest_openshell.reference.serving import serve_until_signalled


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_openshell.reference.gateway",
                                     description="Serve the openshell.v1 OpenShell subset, backed by a compute driver.")
    parser.add_argument("--listen", default="127.0.0.1:0", help="host:port (port 0: any free port; printed on start)")
    parser.add_argument("--driver-socket", required=True, help="Unix socket of the ComputeDriver")
    parser.add_argument("--workspace", default="default", help="DriverSandbox.workspace of the sandboxes it creates (as upstream: default)")
    parser.add_argument("--kubeconfig", help="kubeconfig of the cluster (default: in-cluster, the pod's service account)")
    parser.add_argument("--context", default=None, help="kubeconfig context (default: current)")
    parser.add_argument("--db", required=True, type=Path, help="SQLite file for sandbox ids, claim bindings and the key")
    parser.add_argument("--gateway-id", default=DEFAULT_GATEWAY_ID)
    parser.add_argument("--sandbox-service-account", default=DEFAULT_SERVICE_ACCOUNT)
    parser.add_argument("--namespace-mode", choices=NAMESPACE_MODES, default="exact")
    parser.add_argument("--namespaces", nargs="+", default=list(DEFAULT_NAMESPACES))
    parser.add_argument("--audience", default=TOKEN_AUDIENCE, help="audience sandbox pod tokens must carry")
    parser.add_argument("--identity-source", choices=IDENTITY_SOURCES, default="gateway",
                        help="run the service-account chain here, or delegate it to the driver's AuthenticateSandbox")
    parser.add_argument("--token-ttl", type=int, default=DEFAULT_TOKEN_TTL_S, help="lifetime of minted tokens, seconds")
    parser.add_argument("--tls-cert", type=Path, help="server certificate (PEM); enables TLS")
    parser.add_argument("--tls-key", type=Path, help="server private key (PEM)")
    parser.add_argument("--tls-client-ca", type=Path, help="CA for client certificates; enables mTLS")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key) or (args.tls_client_ca and not args.tls_cert):
        parser.error("--tls-cert and --tls-key go together, and --tls-client-ca needs both")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(name)s %(message)s")
    tls = TlsConfig(args.tls_cert, args.tls_key, args.tls_client_ca) if args.tls_cert else None
    handle = start_gateway(args.driver_socket, args.db, kubeconfig=args.kubeconfig, kube_context=args.context,
                           listen=args.listen, gateway_id=args.gateway_id,
                           sandbox_service_account=args.sandbox_service_account, namespace_mode=args.namespace_mode,
                           namespaces=args.namespaces, audience=args.audience, identity_source=args.identity_source,
                           token_ttl_seconds=args.token_ttl, tls=tls, workspace=args.workspace)
    print(f"listening on {handle.address}", flush=True)
    serve_until_signalled(handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
