"""The driver and gateway one conformance test talks to.

By default the reference implementations start in-process, serving the test's own namespace
(starting them takes milliseconds, and a fresh pair per test isolates tests and mutants).
``--openshell-driver-socket`` / ``--openshell-gateway-endpoint`` point the suites at external
ones instead. Faults (mutants) reach the references only through the ``reference_faults``
fixture, which only a test package can override.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import grpc
from kubernetes import client as k8s

from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2 as cpb
from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2_grpc as cpb_grpc
from pytest_openshell._proto.openshell.v1 import openshell_pb2_grpc as opb_grpc
from pytest_openshell.contract.clients import call_failed, driver_client, gateway_client, open_channel, unix_target
from pytest_openshell.contract.generation import Generation, driver_generation, token_generation
from pytest_openshell.contract.labels import is_label_value
from pytest_openshell.errors import HarnessError
from pytest_openshell.kindimage.workloads import SANDBOX_IMAGE  # the image kind nodes hold: one tag
from pytest_openshell.openshell.helm import DeployedGateway, HelmSettings
from pytest_openshell.options import effective_gateway
from pytest_openshell.providers import Cluster

RPC_TIMEOUT_S = 30.0
GATEWAY_PROBE_S = 5.0


# Profiles whose tests run against the driver and gateway (and so, with an external driver, in its namespace).
OPENSHELL_PROFILES = frozenset({"compute-driver", "gateway-identity"})


@dataclass(frozen=True)
class ServiceOptions:
    driver_socket: str | None = None
    driver_namespace: str | None = None
    workspace: str = "default"  # DriverSandbox.workspace: what the upstream gateway sends by default
    gateway: str = "reference"  # reference | external | helm
    gateway_endpoint: str | None = None
    gateway_ca: str | None = None
    gateway_cert: str | None = None
    gateway_key: str | None = None
    faults: frozenset[str] = frozenset()
    helm: HelmSettings | None = None  # what --openshell-gateway=helm installs
    deployed: bool = False  # the endpoint is the Helm-deployed gateway's (set by deployed_at)

    @property
    def external(self) -> bool:
        """A driver or gateway the harness did not start: its sandboxes live in the namespace it serves."""
        return bool(self.driver_socket or self.gateway_endpoint)

    def __post_init__(self) -> None:
        object.__setattr__(self, "gateway", effective_gateway(self.gateway, self.gateway_endpoint))  # frozen: derived once

    def shared_namespace(self, profile: str) -> str | None:
        """The external driver's namespace, where tests of ``profile`` must run; None: a fresh one per test."""
        return self.driver_namespace if self.external and profile in OPENSHELL_PROFILES else None

    def without_driver(self, profile: str, features: tuple[str, ...]) -> tuple[str, list[str]] | None:
        """Why a test cannot run, and the features to report unsupported: it talks to the driver, and the
        driver behind an external gateway was not given. Never silently the reference driver instead
        (it is not the one the gateway uses)."""
        if not self.gateway_endpoint or self.driver_socket:
            return None
        unsupported = ["DriverCore"] if profile == "compute-driver" else ["DriverAuthentication"] if "DriverAuthentication" in features else []
        if not unsupported:
            return None
        if self.gateway == "helm":
            return ("no driver under test: the Helm-deployed gateway's compute driver serves a Unix socket inside "
                    "its pod (an emptyDir), which the harness cannot reach"), unsupported
        return ("no driver under test: the external gateway's compute driver was not given "
                "(--openshell-driver-socket), and the reference driver is not the one it uses"), unsupported

    def deployed_at(self, gateway: DeployedGateway) -> ServiceOptions:
        """These options pointed at the gateway Helm deployed: its port-forward, mTLS material and namespace."""
        def path(p: Path | None) -> str | None:
            return str(p) if p else None
        return replace(self, gateway_endpoint=gateway.endpoint, gateway_ca=path(gateway.ca), gateway_cert=path(gateway.cert),
                       gateway_key=path(gateway.key), driver_namespace=gateway.sandbox_namespace, deployed=True)

    def validate(self) -> None:
        if self.gateway == "helm" and not self.deployed:
            self._validate_helm()
            return
        if not is_label_value(self.workspace) or not self.workspace:
            raise HarnessError(f"--openshell-workspace {self.workspace!r} is not a Kubernetes label value",
                               fix="use lowercase letters, digits and '-' (the upstream gateway sends 'default')")
        if self.gateway == "external" and not self.gateway_endpoint:
            raise HarnessError("--openshell-gateway=external needs --openshell-gateway-endpoint HOST:PORT")
        if self.driver_socket:
            self._need_namespace()
        if self.driver_socket and not Path(self.driver_socket).is_socket():
            raise HarnessError(f"driver socket {self.driver_socket} does not exist or is not a Unix socket",
                               fix="start the driver first, or drop --openshell-driver-socket to use the reference driver")
        for flag, path in (("--openshell-gateway-ca", self.gateway_ca), ("--openshell-gateway-cert", self.gateway_cert),
                           ("--openshell-gateway-key", self.gateway_key)):
            if path and not Path(path).is_file():
                raise HarnessError(f"{flag} {path} is not a readable file")
        if self.gateway_endpoint:
            self.probe_gateway()
        self._need_namespace()

    def _validate_helm(self) -> None:
        """Before the boot: what Helm will install; the endpoint and TLS material come from the deploy."""
        if self.gateway_endpoint or self.gateway_ca or self.gateway_cert or self.gateway_key:
            raise HarnessError("--openshell-gateway=helm deploys its own gateway: --openshell-gateway-endpoint/-ca/-cert/-key do not apply",
                               fix="drop them, or use --openshell-gateway=external for a gateway already running")
        if self.driver_socket:
            raise HarnessError("--openshell-gateway=helm runs the chart's own compute driver: --openshell-driver-socket does not apply")
        (self.helm or HelmSettings()).validate()

    def _need_namespace(self) -> None:
        if self.external and not self.driver_namespace:
            what = "an external driver (--openshell-driver-socket)" if self.driver_socket else "an external gateway's compute driver"
            raise HarnessError(f"{what} serves one namespace of its own",
                               fix="name it with --openshell-driver-namespace (dedicate it to the run: the suites delete what they create there)")

    def require_driver_namespace(self, api: k8s.ApiClient) -> None:
        """With the cluster up: the external driver's namespace exists. A driver given a missing one
        fails every create with its own 404 (upstream's does), one red test per case; say it once."""
        if not (self.external and self.driver_namespace):
            return
        try:
            k8s.CoreV1Api(api).read_namespace(self.driver_namespace)
        except k8s.ApiException as exc:
            if exc.status != 404:
                raise
            raise HarnessError(f"--openshell-driver-namespace {self.driver_namespace}: no such namespace on the cluster "
                               "(the driver under test creates its sandboxes there; drivers do not create it)",
                               fix=f"create it first (kubectl create namespace {self.driver_namespace}), "
                                   "or name the namespace the driver was started with") from None

    def tls_material(self) -> tuple[bytes | None, bytes | None, bytes | None]:
        """The gateway's CA, the client key and the client certificate, read from their files."""
        ca, key, cert = (Path(p).read_bytes() if p else None for p in (self.gateway_ca, self.gateway_key, self.gateway_cert))
        return ca, key, cert

    def probe_gateway(self) -> None:
        """Fail before any test when the gateway cannot be reached (or its TLS does not match)."""
        assert self.gateway_endpoint is not None
        ca, key, cert = self.tls_material()
        channel = open_channel(self.gateway_endpoint, root_certificates=ca, private_key=key, certificate_chain=cert)
        ready = grpc.channel_ready_future(channel)
        try:
            ready.result(timeout=GATEWAY_PROBE_S)
        except grpc.FutureTimeoutError:
            # Unsubscribe before the channel closes: a connectivity watch left on a closed channel can
            # abort the interpreter at exit (SIGABRT seen once in CI).
            ready.cancel()
            tls = " or its TLS material does not match (--openshell-gateway-ca/-cert/-key)" if self.gateway_ca else ""
            raise HarnessError(f"the gateway at {self.gateway_endpoint} is unreachable{tls}",
                               fix="check the endpoint and that the gateway is running") from None
        finally:
            channel.close()


# Driver (socket, or "reference") -> its contract generation, for the life of the process.
_GENERATIONS: dict[str, Generation] = {}


@dataclass
class OpenShellServices:
    cluster: Cluster
    namespace: str
    options: ServiceOptions
    _stack: ExitStack = field(default_factory=ExitStack)
    _driver_socket: Path | None = None
    _gateway_handle: Any = None
    _driver_handle: Any = None
    _driver_stub: cpb_grpc.ComputeDriverStub | None = None
    _gateway_stub: opb_grpc.OpenShellStub | None = None
    _gateway_generation: Generation | None = None

    @property
    def reference_driver(self) -> bool:
        return self.options.driver_socket is None

    @property
    def reference_gateway(self) -> bool:
        return self.options.gateway == "reference"

    @property
    def workspace(self) -> str:
        return self.options.workspace

    @property
    def sandbox_namespace(self) -> str:
        """Where sandboxes are created: the test's namespace, unless an external driver or gateway serves its own."""
        if not self.options.external:
            return self.namespace
        return str(self.options.driver_namespace)

    # -- the driver -------------------------------------------------------------------------------
    def driver_socket(self) -> Path:
        if self._driver_socket is None:
            if self.options.driver_socket:
                self._driver_socket = Path(self.options.driver_socket)
            else:
                from pytest_openshell.reference.driver import start_driver

                # Unix socket paths are limited to ~107 bytes: a short private dir, not tmp_path.
                sockdir = Path(tempfile.mkdtemp(prefix="osh-"))
                self._stack.callback(shutil.rmtree, sockdir, ignore_errors=True)
                self._driver_handle = start_driver(sockdir / "driver.sock", self.namespace, kubeconfig=self.cluster.kubeconfig,
                                                   default_image=SANDBOX_IMAGE, faults=self.options.faults & driver_faults())
                self._stack.callback(self._driver_handle.stop)
                self._driver_socket = Path(self._driver_handle.socket_path)
        return self._driver_socket

    def driver(self) -> cpb_grpc.ComputeDriverStub:
        if self._driver_stub is None:
            self._driver_stub = self._stack.enter_context(driver_client(self.driver_socket()))
            try:
                self._driver_stub.GetCapabilities(cpb.GetCapabilitiesRequest(), timeout=RPC_TIMEOUT_S)
            except grpc.RpcError as exc:
                raise call_failed("the compute driver", unix_target(self.driver_socket()), "GetCapabilities", exc,
                                  fix="check that it serves openshell.compute.v1.ComputeDriver and read its log") from None
        return self._driver_stub

    def driver_generation(self) -> Generation:
        """Which contract generation the driver answered with (2026-08 or newer), and why we think so.

        Asked once per driver and process: every test's teardown reports its environment, and the
        probe costs the driver a TokenReview each time.
        """
        key = str(self.options.driver_socket or "reference")
        if key not in _GENERATIONS:
            _GENERATIONS[key] = self._probe_generation()
        return _GENERATIONS[key]

    def _probe_generation(self) -> Generation:
        try:
            self.driver().AuthenticateSandbox(cpb.AuthenticateSandboxRequest(credential="generation-probe"), timeout=RPC_TIMEOUT_S)
            probe = grpc.StatusCode.OK
        except grpc.RpcError as exc:
            probe = exc.code()  # type: ignore[attr-defined]
        return driver_generation(self.capabilities(), probe)

    def capabilities(self) -> cpb.GetCapabilitiesResponse:
        return self.driver().GetCapabilities(cpb.GetCapabilitiesRequest(), timeout=RPC_TIMEOUT_S)

    # -- the gateway ------------------------------------------------------------------------------
    def gateway_address(self) -> str:
        if self.options.gateway_endpoint:
            return self.options.gateway_endpoint
        if self._gateway_handle is None:
            from pytest_openshell.reference.gateway import start_gateway

            db = Path(tempfile.mkdtemp(prefix="osh-gw-"))
            self._stack.callback(shutil.rmtree, db, ignore_errors=True)
            self._gateway_handle = start_gateway(self.driver_socket(), db / "gateway.db", kubeconfig=self.cluster.kubeconfig,
                                                 namespaces=[self.namespace], faults=self.options.faults & gateway_faults(),
                                                 workspace=self.workspace)
            self._stack.callback(self._gateway_handle.stop)
        return str(self._gateway_handle.address)

    def gateway(self) -> opb_grpc.OpenShellStub:
        if self._gateway_stub is None:
            o = self.options
            if o.gateway_endpoint:
                # It answered at session start; if it has died since, say so instead of a bare UNAVAILABLE.
                try:
                    o.probe_gateway()
                except HarnessError as exc:
                    raise AssertionError(f"the gateway stopped answering mid-run: {exc}") from None
            ca, key, cert = o.tls_material()
            self._gateway_stub = self._stack.enter_context(
                gateway_client(self.gateway_address(), root_certificates=ca, private_key=key, certificate_chain=cert))
        return self._gateway_stub

    def gateway_answered(self, reply: Any) -> None:
        """Note the contract generation a gateway's token answer shows (expiration_time or expires_at_ms)."""
        self._gateway_generation = token_generation(reply) or self._gateway_generation

    @property
    def gateway_public_key(self) -> Any:
        """The reference gateway's verification key (None for an external gateway)."""
        self.gateway_address()
        return self._gateway_handle.public_key if self._gateway_handle is not None else None

    @property
    def gateway_issuer(self) -> str | None:
        self.gateway_address()
        return self._gateway_handle.issuer if self._gateway_handle is not None else None

    def environment(self) -> dict[str, Any]:
        env: dict[str, Any] = {}
        if self._driver_socket is not None:
            caps = self.capabilities()
            generation = self.driver_generation()
            env["driver"] = {"underTest": True, "kind": "reference" if self.reference_driver else "external",
                             "endpoint": f"unix:{self._driver_socket}", "version": caps.driver_version,
                             "workspace": self.workspace, "contractGeneration": generation.name,
                             "contractEvidence": generation.evidence,
                             "capabilities": {"supportsSandboxAuthentication": caps.supports_sandbox_authentication,
                                              "driverReportsRuntimeReadiness": caps.driver_reports_runtime_readiness}}
        if self._gateway_handle is not None or self.options.gateway_endpoint:
            env["gateway"] = {"underTest": True, "kind": self.options.gateway, "endpoint": self.gateway_address()}
            if self._gateway_generation is not None:
                env["gateway"] |= {"contractGeneration": self._gateway_generation.name,
                                   "contractEvidence": self._gateway_generation.evidence}
        return env

    def close(self) -> None:
        self._stack.close()


def driver_faults() -> frozenset[str]:
    from pytest_openshell.reference.faults import FAULTS

    return frozenset(name for name, fault in FAULTS.items() if "driver" in fault.components)


def gateway_faults() -> frozenset[str]:
    from pytest_openshell.reference.faults import FAULTS

    return frozenset(name for name, fault in FAULTS.items() if "gateway" in fault.components)
