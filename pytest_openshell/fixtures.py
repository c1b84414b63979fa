"""Layered fixtures: session (cluster, agent_sandbox, k8s clients) -> function (namespace).

Fixtures are thin: they ask a provider or a factory for the thing and hand back its cleanup.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from kubernetes import client as k8s

from pytest_openshell import podnet
from pytest_openshell.agentsandbox.api import SandboxAPI
from pytest_openshell.embedded.layout import POD_CIDR
from pytest_openshell.errors import HarnessError
from pytest_openshell.interrupts import signals_deferred
from pytest_openshell.kube.client import api_client
from pytest_openshell.kube.namespaces import NamespaceFactory
from pytest_openshell.kube.shared_namespace import SharedNamespace
from pytest_openshell.openshell.helm import DeployedGateway, HelmGateway, HelmSettings
from pytest_openshell.openshell.helm.settings import DEFAULT_NAMESPACE, DEFAULT_RELEASE, ROLLOUT_TIMEOUT_S
from pytest_openshell.openshell.services import OpenShellServices, ServiceOptions
from pytest_openshell.options import csv, get, provider_settings
from pytest_openshell.progress import terminal_progress
from pytest_openshell.providers import AgentSandbox, Cluster, ProviderSettings, get_provider
from pytest_openshell.report.allure_results import describe_lane
from pytest_openshell.report.allure_support import allure_evidence, step_hook
from pytest_openshell.results.model import PROPERTY_ENVIRONMENT, PROPERTY_PROVISIONAL, PROPERTY_UNSUPPORTED
from pytest_openshell.suite import ConformanceTest, Selection
from pytest_openshell.suite.context import SuiteContext
from pytest_openshell.suite.timeouts import SuiteConfig, load_config
from pytest_openshell.xdist_roles import worker_input


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """The cluster under test, booted or attached once per session (shared by xdist workers)."""
    with provided_cluster(request.config, get(request.config, "openshell_cluster"), provider_settings(request.config)) as acquired:
        yield acquired


@contextmanager
def provided_cluster(config: pytest.Config, provider_name: str, settings: ProviderSettings) -> Iterator[Cluster]:
    """Acquire from the provider (a harness error ends the session with its message); release however the
    session ends, a Ctrl-C during the release included."""
    try:
        provider = get_provider(provider_name, settings, terminal_progress(config))
        acquired = provider.acquire()
    except HarnessError as exc:
        pytest.exit(f"pytest-openshell: {exc}", returncode=3)
    try:
        if acquired.node_mode == "simulated":
            podnet.block(simulated_pod_networks(acquired))
        yield acquired
    finally:
        with signals_deferred() as held:
            provider.release()
        if held:
            raise KeyboardInterrupt(f"signal {held[0]} (held until the cluster was released)")


def simulated_pod_networks(cluster: Cluster) -> list[str]:
    """Where simulated pods get their IPs: the nodes' podCIDRs (and the embedded cluster's whole pod
    range, which kwok's address pool walks on into once a node's /24 is used up)."""
    networks = [POD_CIDR] if cluster.provider == "embedded" else []
    with api_client(cluster.kubeconfig) as client:
        for node in k8s.CoreV1Api(client).list_node().items:
            networks += list((node.spec and node.spec.pod_cidrs) or [])
    return networks


@pytest.fixture(scope="session")
def agent_sandbox(cluster: Cluster) -> AgentSandbox:
    """The installed agent-sandbox lane: version and served API versions."""
    if cluster.agent_sandbox is None:
        pytest.exit(
            f"pytest-openshell: agent-sandbox is not installed on the {cluster.provider} cluster -- "
            "install its CRDs and controller, or use --openshell-cluster=embedded",
            returncode=3,
        )
    return cluster.agent_sandbox


@pytest.fixture(scope="session")
def k8s_api(cluster: Cluster) -> Iterator[k8s.ApiClient]:
    client = api_client(cluster.kubeconfig)
    yield client
    client.close()


@pytest.fixture(scope="session")
def namespace_factory(cluster: Cluster, k8s_api: k8s.ApiClient) -> Iterator[NamespaceFactory]:
    owners = SandboxAPI(k8s_api, cluster.agent_sandbox).delete_owners if cluster.agent_sandbox else None
    # On a disposable cluster of simulated nodes a finished test's objects cost nothing to keep, while
    # deleting a namespace costs ~100 API requests (the namespace controller lists and deletes every
    # resource type) and controller churn beside the next test: the cluster goes as a whole instead.
    keep = cluster.disposable and cluster.node_mode == "simulated"
    factory = NamespaceFactory(k8s_api, run_label=uuid.uuid4().hex[:8], delete_owners=owners, keep_until_teardown=keep)
    yield factory
    if not cluster.disposable:  # a kept or existing cluster must be left as found
        factory.await_deleted()


@pytest.fixture
def namespace(request: pytest.FixtureRequest, namespace_factory: NamespaceFactory) -> Iterator[str]:
    """A fresh namespace for one test; deleted afterwards (awaited once, at the end of the session,
    unless the cluster itself goes then)."""
    name = namespace_factory.create(request.node.name)
    yield name
    namespace_factory.delete(name)


@pytest.fixture(scope="session")
def suite_config(request: pytest.FixtureRequest) -> SuiteConfig:
    """Timeouts, budgets and suite sizes from defaults, --openshell-timeouts and NAME=VALUE options."""
    try:
        return suite_config_from(request.config)
    except HarnessError as exc:
        pytest.exit(f"pytest-openshell: {exc}", returncode=4)


def suite_config_from(config: pytest.Config) -> SuiteConfig:
    return load_config(get(config, "openshell_timeouts_file") or None, csv(config, "openshell_timeouts"),
                       csv(config, "openshell_budgets"), csv(config, "openshell_sizes"))


@pytest.fixture(scope="session")
def reference_faults() -> frozenset[str]:
    """Faults the reference driver and gateway start with: none. Only a test package overrides this
    (to run the suites against mutants); no option or environment variable reaches it."""
    return frozenset()


@pytest.fixture(scope="session")
def upgrade_crd_mode() -> str:
    """How an upgrade run (--agent-sandbox-upgrade-from) replaces the CRDs: in place. Only the project's
    own test package overrides this (with the lossy ``delete-create``, which the suite must catch)."""
    return "apply"


@pytest.fixture(scope="session")
def service_options(request: pytest.FixtureRequest, reference_faults: frozenset[str]) -> ServiceOptions:
    options = service_options_from(request.config, reference_faults)
    if options.gateway == "helm":
        options = options.deployed_at(request.getfixturevalue("helm_gateway"))
    try:
        options.validate()  # checked before the boot too; again here, as the gateway may have gone since
    except HarnessError as exc:
        pytest.exit(f"pytest-openshell: {exc}", returncode=3)
    return options


@pytest.fixture(scope="session")
def driver_namespace_present(service_options: ServiceOptions, k8s_api: k8s.ApiClient) -> None:
    """Once per session, before the first test in an external driver's namespace: that it exists."""
    try:
        service_options.require_driver_namespace(k8s_api)
    except HarnessError as exc:
        pytest.exit(f"pytest-openshell: {exc}", returncode=3)


@pytest.fixture(scope="session")
def helm_gateway(request: pytest.FixtureRequest, cluster: Cluster) -> Iterator[DeployedGateway]:
    """The gateway deployed with Helm (--openshell-gateway=helm), its port-forward held for the session."""
    config = request.config
    if worker_input(config) is not None:
        pytest.exit("pytest-openshell: --openshell-gateway=helm deploys one release per session; "
                    "run it without pytest-xdist (-n)", returncode=3)
    settings = provider_settings(config)
    options = service_options_from(config)
    deployer = None
    try:
        deployer = HelmGateway(cluster, options.helm or HelmSettings(), terminal_progress(config), settings.binaries,
                               sandbox_namespace=options.driver_namespace)
        deployed = deployer.deploy()
    except HarnessError as exc:
        pytest.exit(f"pytest-openshell: {exc}", returncode=3)
    try:
        yield deployed
    finally:
        with signals_deferred():
            deployer.teardown(keep=settings.keep_cluster)


def helm_settings_from(config: pytest.Config) -> HelmSettings:
    port = get(config, "openshell_gateway_port")
    timeout = get(config, "openshell_gateway_rollout_timeout")
    try:
        return HelmSettings(chart=get(config, "openshell_gateway_chart") or None,
                            values=tuple(get(config, "openshell_gateway_values") or ()),
                            sets=tuple(get(config, "openshell_gateway_sets") or ()),
                            release=get(config, "openshell_gateway_release") or DEFAULT_RELEASE,
                            namespace=get(config, "openshell_gateway_namespace") or DEFAULT_NAMESPACE,
                            load_images=tuple(get(config, "openshell_load_images") or ()),
                            local_port=int(port) if port else None,
                            rollout_timeout_s=float(timeout) if timeout else ROLLOUT_TIMEOUT_S,
                            provider=get(config, "openshell_cluster") or None)
    except ValueError as exc:
        raise HarnessError(f"--openshell-gateway-port/--openshell-gateway-rollout-timeout: {exc}",
                           fix="give a port number and a number of seconds") from None


def service_options_from(config: pytest.Config, faults: frozenset[str] = frozenset()) -> ServiceOptions:
    gateway = get(config, "openshell_gateway") or "reference"
    return ServiceOptions(
        driver_socket=get(config, "openshell_driver_socket") or None,
        driver_namespace=get(config, "openshell_driver_namespace") or None,
        workspace=get(config, "openshell_workspace") or "default",
        gateway=get(config, "openshell_gateway") or "reference",
        gateway_endpoint=get(config, "openshell_gateway_endpoint") or None,
        gateway_ca=get(config, "openshell_gateway_ca") or None,
        gateway_cert=get(config, "openshell_gateway_cert") or None,
        gateway_key=get(config, "openshell_gateway_key") or None,
        faults=frozenset(faults),
        helm=helm_settings_from(config) if gateway == "helm" else None,
    )


@pytest.fixture
def conformance(request: pytest.FixtureRequest, cluster: Cluster, agent_sandbox: AgentSandbox, k8s_api: k8s.ApiClient,
                namespace_factory: NamespaceFactory, suite_config: SuiteConfig,
                service_options: ServiceOptions, upgrade_crd_mode: str) -> Iterator[SuiteContext]:
    """The context of one conformance test; parametrize it (indirectly) with ConformanceTest records."""
    record: ConformanceTest = request.param
    describe_lane(request.config, agent_sandbox.version)
    dead = cluster.dead_components()
    if dead:
        pytest.fail("cluster component(s) died mid-run: " + "; ".join(f"{name} (log: {log})" for name, log in dead), pytrace=False)
    selection: Selection = request.config.stash[SELECTION_KEY]
    verdict = selection.verdict(record, cluster.node_mode)
    if verdict.provisional:
        request.node.user_properties.append((PROPERTY_PROVISIONAL, json.dumps(list(verdict.provisional))))
    if not verdict.run:
        if verdict.unsupported:
            request.node.user_properties.append((PROPERTY_UNSUPPORTED, json.dumps(list(verdict.unsupported))))
        pytest.skip(verdict.reason)
    if (missing := service_options.without_driver(record.profile, record.features)) is not None:
        reason, unsupported = missing
        request.node.user_properties.append((PROPERTY_UNSUPPORTED, json.dumps(unsupported)))
        pytest.skip(reason)
    request.node.user_properties.append((PROPERTY_ENVIRONMENT, json.dumps(cluster_environment(cluster))))
    shared = service_options.shared_namespace(record.profile)
    if shared:
        request.getfixturevalue("driver_namespace_present")
    name = shared or namespace_factory.create(record.short_name)
    ctx = SuiteContext(record, cluster, agent_sandbox, k8s_api, name, suite_config, request.node.user_properties,
                       step_hook=step_hook(request.config), evidence=allure_evidence(request.config), namespaces=namespace_factory,
                       upgrade_crd_mode=upgrade_crd_mode,
                       services_factory=lambda c: OpenShellServices(cluster, c.namespace, service_options))
    janitor = SharedNamespace(ctx.core, ctx.sandboxes, name) if shared else None
    request.node.stash[CONTEXT_KEY] = ctx  # for the failure attachments, made while the report is built
    try:
        yield ctx
    finally:
        _teardown(request, ctx, janitor, namespace_factory, name, suite_config)


def _teardown(request: pytest.FixtureRequest, ctx: SuiteContext, janitor: SharedNamespace | None,
              namespace_factory: NamespaceFactory, name: str, suite_config: SuiteConfig) -> None:
    """Clean up whatever the implementation under test did: every step runs even if one before it
    failed, and a test that already failed is not failed a second time by its teardown (the trouble
    becomes a note on it, with what was left)."""
    problems: list[str] = []
    if ctx.services_started is not None:
        try:
            request.node.user_properties.append((PROPERTY_ENVIRONMENT, json.dumps(ctx.services_started.environment())))
        except Exception as exc:  # a dead driver cannot describe itself; the test says why it failed
            problems.append(f"describing the services: {exc}")
    try:
        ctx.close()
    except Exception as exc:
        problems.append(f"closing the test's services: {exc}")
    try:
        if janitor is not None:
            janitor.clean(suite_config.timeout("sandbox_ready"))
        else:
            namespace_factory.delete(name)
    except Exception as exc:
        problems.append(f"cleaning namespace {name}: {exc}")
    if not problems:
        return
    if request.node.stash.get(CALL_FAILED_KEY, False):
        ctx.note("teardown after the failure: " + "; ".join(problems))
        return
    raise AssertionError("teardown: " + "; ".join(problems))


def cluster_environment(cluster: Cluster) -> dict[str, object]:
    env: dict[str, object] = {
        "cluster": {"provider": cluster.provider, "serverVersion": cluster.server_version, "nodeMode": cluster.node_mode},
    }
    if cluster.agent_sandbox is not None:
        env["agentSandbox"] = {"version": cluster.agent_sandbox.version, "apiVersions": cluster.agent_sandbox.api_versions}
    return env


SELECTION_KEY = pytest.StashKey[Selection]()
CALL_FAILED_KEY = pytest.StashKey[bool]()
CONTEXT_KEY = pytest.StashKey[SuiteContext]()
