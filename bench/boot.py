"""Time from nothing to a conformance-ready cluster (cached binaries; kind: cached node image).

Conformance-ready: etcd, apiserver, controller-manager, scheduler and the simulated node up,
agent-sandbox CRDs Established, controller healthy. Binaries are resolved (and built, if the
cache is cold) first; that build time is printed separately. Last line: ``boot_seconds=<median>``.

``--openshell-gateway=helm`` (kind only) also deploys the reference gateway's chart into each
cluster and times it until the gateway answers through its port-forward (a TLS channel ready):
the last line adds ``gateway_seconds`` (deploy to serving) and ``serving_seconds`` (nothing to a
serving in-cluster gateway), medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from pytest_openshell.errors import HarnessError
from pytest_openshell.providers import Cluster, ProviderSettings, get_provider
from pytest_openshell.providers.embedded import CONTROL_PLANE
from pytest_openshell.toolchain import Resolver, load_pins


def warm_cache(lane: str | None) -> float:
    pins = load_pins()
    resolver = Resolver(progress=lambda m: print(m, file=sys.stderr))
    t0 = time.monotonic()
    built = False
    for name in CONTROL_PLANE:
        built |= resolver.resolve(pins.binary(name)).source == "built"
    ctl = pins.lane(lane).module.binaries["agent-sandbox-controller"]
    built |= resolver.resolve(ctl).source == "built"
    elapsed = time.monotonic() - t0
    if built:
        print(f"cold_build_seconds={elapsed:.1f}")
    return elapsed


def warm_kind(lane: str | None) -> None:
    """Build the kind CLI, node image and workload images first, so runs time only the boot."""
    from pytest_openshell.kindimage.node import ensure_node_image
    from pytest_openshell.kindimage.workloads import ensure_controller_image, ensure_sandbox_image

    pins = load_pins()
    resolver = Resolver(progress=lambda m: print(m, file=sys.stderr))
    t0 = time.monotonic()
    resolver.resolve(pins.binary("kind"))
    ensure_node_image(pins, resolver, lambda m: print(m, file=sys.stderr))
    ensure_sandbox_image(lambda m: print(m, file=sys.stderr))
    ensure_controller_image(pins.lane(lane), resolver, lambda m: print(m, file=sys.stderr))
    print(f"prepare_seconds={time.monotonic() - t0:.1f}")


def warm_helm() -> None:
    from pytest_openshell.kindimage.gateway import ensure_gateway_image

    t0 = time.monotonic()
    Resolver(progress=lambda m: print(m, file=sys.stderr)).resolve(load_pins().binary("helm"))
    ensure_gateway_image(lambda m: print(m, file=sys.stderr))
    print(f"prepare_helm_seconds={time.monotonic() - t0:.1f}")


def deploy_gateway(cluster: Cluster) -> float:
    """Seconds from ``helm upgrade --install`` to the gateway answering; everything removed afterwards."""
    from pytest_openshell.openshell.helm import HelmGateway, HelmSettings
    from pytest_openshell.openshell.services import ServiceOptions

    t0 = time.monotonic()
    gateway = HelmGateway(cluster, HelmSettings(), lambda m: print(m, file=sys.stderr))
    try:
        deployed = gateway.deploy()
        ServiceOptions(gateway="helm").deployed_at(deployed).probe_gateway()
        return time.monotonic() - t0
    finally:
        gateway.teardown(keep=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--provider", default="embedded")
    parser.add_argument("--agent-sandbox-version", default=None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--openshell-gateway", choices=("reference", "helm"), default="reference",
                        help="helm: also time deploying the gateway's chart until it serves (kind only)")
    args = parser.parse_args()
    if args.provider not in ("embedded", "kind"):
        print(f"provider {args.provider} is not benchmarked by this version", file=sys.stderr)
        return 2
    helm = args.openshell_gateway == "helm"
    if helm and args.provider != "kind":
        print("--openshell-gateway=helm is benchmarked on --provider kind only", file=sys.stderr)
        return 2
    try:
        if args.provider == "embedded":
            warm_cache(args.agent_sandbox_version)
        else:
            warm_kind(args.agent_sandbox_version)
        if helm:
            warm_helm()
        samples: list[float] = []
        gateway: list[float] = []
        for i in range(args.runs):
            provider = get_provider(args.provider, ProviderSettings(agent_sandbox_version=args.agent_sandbox_version),
                                    lambda m: print(m, file=sys.stderr))
            t0 = time.monotonic()
            cluster = provider.acquire()
            samples.append(time.monotonic() - t0)
            try:
                if helm:
                    gateway.append(deploy_gateway(cluster))
            finally:
                provider.release()
            extra = f" gateway_seconds={gateway[-1]:.2f}" if helm else ""
            print(f"run={i + 1} boot_seconds={samples[-1]:.2f}{extra} lane={cluster.agent_sandbox.version if cluster.agent_sandbox else '-'}")
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    if helm:
        serving = [b + g for b, g in zip(samples, gateway, strict=True)]
        print(f"boot_seconds={statistics.median(samples):.2f} gateway_seconds={statistics.median(gateway):.2f} "
              f"serving_seconds={statistics.median(serving):.2f}")
        return 0
    print(f"boot_seconds={statistics.median(samples):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
