"""Command-line options, each with an ini equivalent, read through one accessor."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

from pytest_openshell.errors import HarnessError
from pytest_openshell.providers import PROVIDERS, ProviderSettings
from pytest_openshell.xdist_roles import worker_input


@dataclass(frozen=True)
class Option:
    flag: str
    ini: str
    help: str
    default: Any = None
    type: Literal["string", "bool", "linelist"] = "string"
    choices: tuple[str, ...] | None = None


OPTIONS: tuple[Option, ...] = (
    Option("--openshell-cluster", "openshell_cluster", "cluster provider", "embedded", choices=PROVIDERS),
    Option("--kubeconfig", "openshell_kubeconfig", "kubeconfig of an existing cluster (provider 'existing')"),
    Option("--kube-context", "openshell_kube_context", "context in --kubeconfig to use"),
    Option("--keep-cluster", "openshell_keep_cluster", "keep the cluster after the run and reuse a kept one", False, "bool"),
    Option("--openshell-cluster-name", "openshell_cluster_name", "name of a kept cluster", "pytest-openshell"),
    Option("--agent-sandbox-version", "agent_sandbox_version", "agent-sandbox lane to install (default: newest supported)"),
    Option("--agent-sandbox-upgrade-from", "agent_sandbox_upgrade_from",
           "boot this older agent-sandbox lane and upgrade it in place to --agent-sandbox-version (embedded; profile agent-sandbox-upgrade)"),
    Option("--openshell-binary", "openshell_binaries", "NAME=PATH of a binary to use instead of resolving it (repeatable)", (), "linelist"),
    Option("--openshell-apiserver-port", "openshell_apiserver_port", "fixed port for the embedded kube-apiserver"),
    Option("--kind-node-image", "openshell_kind_node_image", "kind node image (default: build one offline; env OPENSHELL_KIND_NODE_IMAGE)"),
    Option("--k3s-image", "openshell_k3s_image", "k3s image for the k3d provider; must be in docker already (env OPENSHELL_K3S_IMAGE)"),
    Option("--openshell-profile", "openshell_profiles", "conformance profile to run (repeatable; default: all)", (), "linelist"),
    Option("--openshell-features", "openshell_features", "comma-separated features the implementation claims (default: all)"),
    Option("--openshell-provisional", "openshell_provisional",
           "also run provisional tests (features of unmerged upstream proposals, e.g. the warm-pooled sandboxes RFC warm path)", False, "bool"),
    Option("--openshell-skip-tests", "openshell_skip_tests", "comma-separated conformance test short names to skip"),
    Option("--openshell-timeouts", "openshell_timeouts_file", "YAML file of wait timeouts (name: seconds)"),
    Option("--openshell-timeout", "openshell_timeouts", "NAME=SECONDS wait timeout override (repeatable)", (), "linelist"),
    Option("--openshell-budget", "openshell_budgets", "NAME=VALUE latency budget, e.g. warm_ready_p95_ms=1000 (repeatable)", (), "linelist"),
    Option("--openshell-size", "openshell_sizes", "NAME=N suite size: warm_pool, claims, burst, cold_claims (repeatable)", (), "linelist"),
    Option("--openshell-results-json", "openshell_results_json", "write the per-test results (outcomes, measurements) as JSON here"),
    Option("--openshell-report", "openshell_report", "conformance report path (.yaml or .json)", "reports/conformance-report.yaml"),
    Option("--openshell-submission", "openshell_submission", "the report is for submission: implementation fields required", False, "bool"),
    Option("--openshell-impl-organization", "openshell_impl_organization", "implementation under test: organization"),
    Option("--openshell-impl-project", "openshell_impl_project", "implementation under test: project"),
    Option("--openshell-impl-version", "openshell_impl_version", "implementation under test: version"),
    Option("--openshell-impl-contact", "openshell_impl_contact", "implementation under test: contacts, comma-separated"),
    Option("--openshell-impl-url", "openshell_impl_url", "implementation under test: URL"),
    Option("--openshell-driver-socket", "openshell_driver_socket", "Unix socket of a compute driver to test (default: the reference driver)"),
    Option("--openshell-driver-namespace", "openshell_driver_namespace", "namespace the external driver creates sandboxes in"),
    Option("--openshell-workspace", "openshell_workspace",
           "DriverSandbox.workspace every request carries (as the upstream gateway sends; operator mode: the namespace)", "default"),
    Option("--openshell-gateway", "openshell_gateway", "gateway under test: reference | external | helm", "reference"),
    Option("--openshell-gateway-endpoint", "openshell_gateway_endpoint", "HOST:PORT of a running gateway (implies external)"),
    Option("--openshell-gateway-ca", "openshell_gateway_ca", "CA bundle to verify the gateway's TLS certificate"),
    Option("--openshell-gateway-cert", "openshell_gateway_cert", "client certificate for gateway mTLS"),
    Option("--openshell-gateway-key", "openshell_gateway_key", "client key for gateway mTLS"),
    Option("--openshell-gateway-chart", "openshell_gateway_chart",
           "with --openshell-gateway=helm: chart directory, .tgz or oci:// reference (default: the reference gateway's chart)"),
    Option("--openshell-gateway-values", "openshell_gateway_values", "with helm: a values file for the chart (repeatable)", (), "linelist"),
    Option("--openshell-gateway-set", "openshell_gateway_sets", "with helm: KEY=VALUE passed to helm --set (repeatable)", (), "linelist"),
    Option("--openshell-gateway-release", "openshell_gateway_release", "with helm: release name", "openshell"),
    Option("--openshell-gateway-namespace", "openshell_gateway_namespace", "with helm: namespace of the release (and of its sandboxes)", "openshell"),
    Option("--openshell-gateway-port", "openshell_gateway_port",
           "with helm: local port of the port-forward to svc/openshell (default: any free port)"),
    Option("--openshell-gateway-rollout-timeout", "openshell_gateway_rollout_timeout", "with helm: seconds the release may take to roll out", "180"),
    Option("--openshell-load-image", "openshell_load_images", "with helm on kind: a docker image to preload into the cluster (repeatable)",
           (), "linelist"),
)


def implementation(config: pytest.Config) -> dict[str, Any]:
    impl: dict[str, Any] = {k: get(config, f"openshell_impl_{k}") or None for k in ("organization", "project", "version", "url")}
    impl["contact"] = list(csv(config, "openshell_impl_contact")) or None
    if get(config, "openshell_submission"):
        missing = [k for k, v in impl.items() if not v]
        if missing:
            raise HarnessError(f"a report for submission needs the implementation's {', '.join(missing)}",
                               fix=" ".join(f"--openshell-impl-{k}=..." for k in missing))
    return impl


def openshell_options(config: pytest.Config) -> dict[str, Any]:
    """The harness options in effect, for the report's reproduce section (as in effect: an endpoint
    makes the gateway external, whatever --openshell-gateway said)."""
    options = {opt.flag: get(config, opt.ini) for opt in OPTIONS if get(config, opt.ini) not in (None, False, (), [])}
    options["--openshell-gateway"] = effective_gateway(options.get("--openshell-gateway", "reference"),
                                                       options.get("--openshell-gateway-endpoint"))
    return options


def effective_gateway(gateway: str, endpoint: str | None) -> str:
    """An endpoint makes the gateway external, whatever --openshell-gateway said (it defaults to reference)."""
    return "external" if endpoint and gateway == "reference" else gateway


def csv(config: pytest.Config, ini: str) -> tuple[str, ...]:
    """A comma- or line-separated option as a tuple; repeatable options are flattened."""
    raw = get(config, ini)
    items = raw if isinstance(raw, list | tuple) else [raw or ""]
    return tuple(part.strip() for item in items for part in str(item).split(",") if part.strip())


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("openshell", "OpenShell conformance")
    for opt in OPTIONS:
        kwargs: dict[str, Any] = {"dest": opt.ini, "help": f"{opt.help} (ini: {opt.ini})", "default": None}
        if opt.type == "bool":
            kwargs["action"] = "store_true"
        elif opt.type == "linelist":
            kwargs["action"] = "append"
        if opt.choices:
            kwargs["choices"] = opt.choices
        group.addoption(opt.flag, **kwargs)
        parser.addini(opt.ini, opt.help, type=opt.type, default=opt.default)


def get(config: pytest.Config, ini: str) -> Any:
    """Command line beats ini beats the default."""
    value = config.getoption(ini, default=None)
    if value is not None and value is not False:
        return value
    return config.getini(ini)


def provider_settings(config: pytest.Config) -> ProviderSettings:
    binaries: dict[str, str] = {}
    for item in get(config, "openshell_binaries") or ():
        name, sep, path = str(item).partition("=")
        if not sep or not name or not path:
            raise HarnessError(f"--openshell-binary {item!r} is not NAME=PATH", fix="e.g. --openshell-binary etcd=/usr/local/bin/etcd")
        binaries[name.strip()] = path.strip()
    port = get(config, "openshell_apiserver_port")
    kubeconfig = get(config, "openshell_kubeconfig")
    workerinput = worker_input(config)
    return ProviderSettings(
        kubeconfig=Path(kubeconfig).expanduser() if kubeconfig else None,
        context=get(config, "openshell_kube_context") or None,
        keep_cluster=bool(get(config, "openshell_keep_cluster")),
        cluster_name=get(config, "openshell_cluster_name") or "pytest-openshell",
        agent_sandbox_version=get(config, "agent_sandbox_version") or None,
        binaries=binaries,
        apiserver_port=int(port) if port else None,
        run_id=workerinput["testrunuid"] if workerinput else None,
        kind_node_image=get(config, "openshell_kind_node_image") or None,
        k3s_image=get(config, "openshell_k3s_image") or None,
        agent_sandbox_upgrade_from=get(config, "agent_sandbox_upgrade_from") or None,
    )


UPGRADE_PROFILE = "agent-sandbox-upgrade"


def upgrade_profiles(config: pytest.Config) -> tuple[str, ...]:
    """The profiles a run selects: an upgrade run runs the upgrade profile only, others run what was asked.

    Raises a HarnessError for an upgrade the harness cannot do (bad lanes, another provider, a kept
    cluster, other profiles asked for).
    """
    from pytest_openshell.toolchain import load_pins

    profiles = csv(config, "openshell_profiles")
    source = get(config, "agent_sandbox_upgrade_from") or None
    if source is None:
        return profiles
    pins = load_pins()
    lanes = ", ".join(sorted(pins.lanes))
    if source not in pins.lanes:
        raise HarnessError(f"--agent-sandbox-upgrade-from={source} is not a lane this harness supports",
                           fix=f"use one of: {lanes}")
    target = pins.lane(get(config, "agent_sandbox_version") or None).version
    if _version_key(source) >= _version_key(target):
        raise HarnessError(f"--agent-sandbox-upgrade-from={source} is not older than the run's lane {target}",
                           fix="upgrade from an older lane to a newer one, e.g. --agent-sandbox-upgrade-from=v0.4.6 "
                               "--agent-sandbox-version=v0.5.6")
    provider = get(config, "openshell_cluster")
    if provider != "embedded":
        raise HarnessError(f"--agent-sandbox-upgrade-from needs the embedded cluster, not --openshell-cluster={provider}",
                           fix="drop --openshell-cluster (the default is embedded)")
    if get(config, "openshell_keep_cluster"):
        raise HarnessError("--agent-sandbox-upgrade-from cannot use --keep-cluster: an upgraded cluster cannot be upgraded again",
                           fix="drop --keep-cluster")
    others = sorted(set(profiles) - {UPGRADE_PROFILE})
    if others:
        raise HarnessError(f"an upgrade run runs profile {UPGRADE_PROFILE} only, not {', '.join(others)}",
                           fix=f"drop --openshell-profile or use --openshell-profile={UPGRADE_PROFILE}")
    return (UPGRADE_PROFILE,)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.lstrip("v").split("."))
