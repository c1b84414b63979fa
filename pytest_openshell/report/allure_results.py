"""Each conformance test's allure result reads like the suites: profile > feature > test.

allure-pytest names a result after the pytest module and shows the indirect ``conformance``
parameter as the record's repr, whose ``run=<function ... at 0x...>`` also makes its historyId
change every run (no trend, no history). Here every result gets epic/parent suite = profile,
feature/suite = feature(s), story/title = short name, the record's description, severity (core
or extended), tags (provisional, recommendation), spec links, and readable parameters (``test``
and ``lane``); right before allure writes it, the repr parameter goes and historyId is derived
from the readable parameters, so it is the same for the same test on the same lane every run.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pytest
import yaml

from pytest_openshell.report.allure_support import alluredir
from pytest_openshell.suite.features import Catalogue, default_path, load_catalogue
from pytest_openshell.suite.record import ConformanceTest


def allure_hookimpl(**options: Any) -> Any:
    """allure-commons' hookimpl marker, or none: allure-pytest is optional (nothing registers the plugin then)."""
    try:
        from allure_commons import hookimpl
    except ImportError:
        return lambda function: function
    return hookimpl(**options)


FIXTURE = "conformance"  # the indirect parameter whose repr allure-pytest would show
TEST_PARAMETER = "test"
LANE_PARAMETER = "lane"
PLUGIN_NAME = "openshell-allure"
SEVERITY = {"core": "critical", "extended": "minor"}


@dataclass(frozen=True)
class Described:
    """What the allure result of one conformance test says (pure data, built from the catalogue)."""

    short_name: str
    summary: str  # the record's one-line description
    description: str
    severity: str
    labels: tuple[tuple[str, str], ...]
    links: tuple[tuple[str, str], ...] = field(default=())  # (name, url)


def describe(record: ConformanceTest, catalogue: Catalogue, links: dict[str, list[dict[str, str]]]) -> Described:
    profile = catalogue.profiles[record.profile]
    kinds = {f: ("core" if f in profile.core else "extended") for f in record.features}
    lines = [record.description, ""]
    for feature in record.features:
        lines.append(f"{kinds[feature].capitalize()} feature {feature} of profile {record.profile}: "
                     f"{catalogue.features.get(feature, '')}")
    tags: list[str] = []
    for feature in catalogue.provisional_features(record.features):
        tags.append("provisional")
        lines.append(f"Provisional ({feature}): follows {catalogue.provisional[feature]}; runs only when claimed "
                     "or with --openshell-provisional, never a core failure.")
    for feature in record.features:
        if feature in catalogue.recommendations:
            tags.append("recommendation")
            lines.append(f"Recommendation ({feature}): stricter than the contract; a miss is a finding, not a core failure.")
    labels: list[tuple[str, str]] = [("epic", record.profile), ("parentSuite", record.profile),
                                     ("suite", " + ".join(record.features)), ("story", record.short_name)]
    labels += [("feature", f) for f in record.features]
    labels += [("tag", t) for t in dict.fromkeys(tags)]
    if record.latency:
        labels.append(("tag", "latency"))
    # A provisional test is never a core failure, whatever else it needs.
    core = "core" in kinds.values() and not catalogue.provisional_features(record.features)
    severity = SEVERITY["core" if core else "extended"]
    found = [(entry["name"], entry["url"]) for key in (record.profile, *record.features) for entry in links.get(key, ())]
    return Described(record.short_name, record.description, "\n".join(lines).strip(), severity, tuple(labels), tuple(dict.fromkeys(found)))


@lru_cache(maxsize=1)
def spec_links() -> dict[str, list[dict[str, str]]]:
    """``links`` of features.yaml: profile or feature -> the spec or upstream test it follows."""
    raw = yaml.safe_load(default_path().read_text()).get("links") or {}
    catalogue = load_catalogue()
    unknown = set(raw) - set(catalogue.profiles) - set(catalogue.features)
    if unknown:
        raise ValueError(f"features.yaml links name unknown profiles/features {sorted(unknown)}")
    return {str(k): list(v) for k, v in raw.items()}


def history_id(full_name: str, parameters: list[tuple[str, str]]) -> str:
    from allure_commons.utils import md5

    return str(md5(full_name, *(f"{name}={value}" for name, value in sorted(parameters))))


class AllureConformance:
    """A pytest plugin (describes each result as its test is set up) and an allure reporter hook
    (cleans each result just before allure-pytest's file logger writes it)."""

    @pytest.hookimpl(wrapper=True, tryfirst=True)  # outermost: runs after allure-pytest's own setup code
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, Any, Any]:
        try:
            return (yield)
        finally:
            record = _record(item)
            if record is not None:
                _apply(describe(record, load_catalogue(), spec_links()))

    @allure_hookimpl(tryfirst=True)  # before the file logger writes the result
    def report_result(self, result: Any) -> None:
        names = {p.name for p in result.parameters}
        if FIXTURE not in names or TEST_PARAMETER not in names:
            return
        result.parameters = [p for p in result.parameters if p.name != FIXTURE]
        for p in result.parameters:  # allure-pytest quotes a str value: 'SandboxReady'
            if p.name in (TEST_PARAMETER, LANE_PARAMETER) and len(p.value) > 1 and p.value[0] == p.value[-1] == "'":
                p.value = p.value[1:-1]
        kept = [(p.name, str(p.value)) for p in result.parameters if not p.excluded]
        test = next(value for name, value in kept if name == TEST_PARAMETER)
        result.fullName = f"{result.fullName}[{test}]"  # allure-pytest's is the test function's: one for the whole suite
        result.historyId = history_id(result.fullName, kept)
        result.testCaseId = history_id(result.fullName, [])  # the same test on any lane


def _apply(described: Described) -> None:
    import allure

    allure.dynamic.title(f"{described.short_name}: {described.summary}")
    allure.dynamic.description(described.description)
    allure.dynamic.severity(allure.severity_level(described.severity))
    for name, value in described.labels:
        allure.dynamic.label(name, value)
    for name, url in described.links:
        allure.dynamic.link(url, name=name)
    allure.dynamic.parameter(TEST_PARAMETER, described.short_name)


def describe_lane(config: pytest.Config, version: str) -> None:
    """The agent-sandbox lane of the test being set up, as a readable allure parameter."""
    if config.pluginmanager.has_plugin(PLUGIN_NAME):
        import allure

        allure.dynamic.parameter(LANE_PARAMETER, f"agent-sandbox {version}")


def register(config: pytest.Config) -> None:
    """With --alluredir and allure-pytest installed, conformance results are described as above."""
    if alluredir(config) is None or config.pluginmanager.has_plugin(PLUGIN_NAME):
        return
    try:
        import allure_commons
    except ImportError:  # allure-pytest is optional
        return
    plugin = AllureConformance()
    config.pluginmanager.register(plugin, PLUGIN_NAME)
    allure_commons.plugin_manager.register(plugin)
    config.add_cleanup(lambda: allure_commons.plugin_manager.unregister(plugin))


def _record(item: pytest.Item) -> ConformanceTest | None:
    callspec = getattr(item, "callspec", None)
    param = callspec.params.get(FIXTURE) if callspec else None
    return param if isinstance(param, ConformanceTest) else None
