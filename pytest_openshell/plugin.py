"""The pytest11 entry point: options, fixtures, and thin hooks that hand off to the engine."""

from __future__ import annotations

import contextlib
import json
import signal
import uuid

import pytest

from pytest_openshell.collector import ResultsCollector
from pytest_openshell.errors import HarnessError
from pytest_openshell.fixtures import (
    CALL_FAILED_KEY,
    CONTEXT_KEY,
    SELECTION_KEY,
    agent_sandbox,
    cluster,
    conformance,
    driver_namespace_present,
    helm_gateway,
    k8s_api,
    namespace,
    namespace_factory,
    reference_faults,
    service_options,
    service_options_from,
    suite_config,
    suite_config_from,
    upgrade_crd_mode,
)
from pytest_openshell.interrupts import signals_deferred
from pytest_openshell.openshell.helm import resolve_helm
from pytest_openshell.options import add_options, csv, get, implementation, provider_settings, upgrade_profiles
from pytest_openshell.progress import terminal_progress
from pytest_openshell.redact import redact_text
from pytest_openshell.report import allure_results
from pytest_openshell.results.model import PROPERTY_TEST
from pytest_openshell.suite import ConformanceTest, Selection, load_catalogue
from pytest_openshell.xdist_roles import is_controller, is_worker

__all__ = ["agent_sandbox", "cluster", "conformance", "driver_namespace_present", "helm_gateway", "k8s_api", "namespace",
           "namespace_factory", "reference_faults", "service_options", "suite_config", "upgrade_crd_mode"]
COLLECTOR = "openshell-results"


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def _sigterm_as_interrupt(signum: int, frame: object) -> None:
    # SIGTERM (CI cancel, timeout) must clean up exactly like Ctrl-C does.
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    config.addinivalue_line("markers", "openshell_conformance: a conformance test record")
    if not config.pluginmanager.hasplugin("xdist"):  # latency tests carry it whether or not xdist is installed
        config.addinivalue_line("markers", "xdist_group(name): run with the other tests of this group on one xdist worker")
    if not is_worker(config):  # xdist workers forward their reports to the controller
        config.pluginmanager.register(ResultsCollector(config, get(config, "openshell_results_json") or None), COLLECTOR)
    if is_controller(config) and config.getoption("testrunuid", None) is None:
        # Chosen here rather than by xdist, so that the controller knows the run its workers share.
        config.option.testrunuid = uuid.uuid4().hex
    allure_results.register(config)  # with --alluredir: results by profile and feature, stable history


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """The xdist controller is a client of the embedded cluster its workers share (a late worker may
    still join); once they are all done it gives the cluster back and waits for it to stop, so
    nothing outlives the command."""
    config = session.config
    if not is_controller(config) or get(config, "openshell_cluster") != "embedded":
        return
    from pytest_openshell.providers.embedded import release_shared

    with signals_deferred():
        release_shared(str(config.getoption("testrunuid")), provider_settings(config), terminal_progress(config))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    _redact_report(report, call)
    if report.when == "call" and report.failed:
        item.stash[CALL_FAILED_KEY] = True  # the teardown then reports its own trouble as a note, not a second failure
    ctx = item.stash.get(CONTEXT_KEY, None)
    if report.when == "call" and report.failed and ctx is not None and ctx.step_hook is not None:
        # Still inside the test's allure context here, so the attachments land on the test itself.
        ctx.attach_failure()
    return report


def _redact_report(report: pytest.TestReport, call: pytest.CallInfo[None]) -> None:
    """Failure text reaches JUnit, allure and the terminal; a credential in it must not."""
    report.sections = [(name, redact_text(text)) for name, text in report.sections]
    if not report.failed:
        return
    text = report.longreprtext
    clean = redact_text(text)
    if clean != text:
        report.longrepr = clean
    if call.excinfo is not None:  # allure renders the exception itself for its message
        exc = call.excinfo.value
        with contextlib.suppress(AttributeError, TypeError):
            exc.args = tuple(redact_text(a) if isinstance(a, str) else a for a in exc.args)


def _record(item: pytest.Item) -> ConformanceTest | None:
    callspec = getattr(item, "callspec", None)
    param = callspec.params.get("conformance") if callspec else None
    return param if isinstance(param, ConformanceTest) else None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """Under ``--dist load``/``loadgroup`` (and plain ``-n``), latency and serial tests go to one worker in turn."""
    if config.getoption("dist", None) not in ("load", "loadgroup"):
        return None  # the user chose another distribution: theirs to have
    from pytest_openshell.xdist_scheduling import SerialScopeScheduling, serial_test_names

    # An external driver's one namespace is shared by every OpenShell test: those run in turn too.
    shared = bool(get(config, "openshell_driver_socket"))
    return SerialScopeScheduling(config, log, serial_test_names(with_openshell=shared))


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the xdist_group markers we add
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    records = [(item, rec) for item in items if (rec := _record(item)) is not None]
    if not records:
        return
    claimed = csv(config, "openshell_features")
    try:
        selection = Selection(load_catalogue(), upgrade_profiles(config), claimed or None,
                              csv(config, "openshell_skip_tests"), frozenset(r.short_name for _, r in records),
                              provisional=bool(get(config, "openshell_provisional")))
    except HarnessError as exc:
        raise pytest.UsageError(f"pytest-openshell: {exc}") from None
    config.stash[SELECTION_KEY] = selection
    try:
        # Bad input must fail before the cluster boots, not one test at a time after it.
        implementation(config)
        suite_config_from(config)
        services = service_options_from(config)
        services.validate()
        if services.helm is not None:
            resolve_helm(provider_settings(config).binaries, terminal_progress(config))
    except HarnessError as exc:
        raise pytest.UsageError(f"pytest-openshell: {exc}") from None
    for item, rec in records:
        item.user_properties.append((PROPERTY_TEST, json.dumps(
            {"short_name": rec.short_name, "profile": rec.profile, "features": list(rec.features)})))
        if rec.serial:
            # Documents the grouping (and groups with pytest < 9.2); see xdist_scheduling for why it is not enough.
            item.add_marker(pytest.mark.xdist_group("openshell-serial"))
