"""Suites come from the entry-point group ``pytest_openshell.suites``: the shipped one first, a third
party's beside it, and a test name registered twice is refused."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from pytest_openshell.suite.registry import SHIPPED, suites


def test_the_shipped_suite_comes_first_with_its_features() -> None:
    shipped = suites()[0]
    assert shipped.name == SHIPPED and shipped.features.name == "features.yaml" and (shipped.directory / "pytest.ini").exists()
    assert {t.profile for t in shipped.tests} >= {"agent-sandbox-core", "compute-driver", "gateway-identity"}


def _with_plugin_suite(tmp_path: Path, test_name: str) -> subprocess.CompletedProcess[str]:
    """A third-party distribution on sys.path (a dist-info with an entry point), asked in a fresh process."""
    (tmp_path / "vendor_suite").mkdir()
    (tmp_path / "vendor_suite" / "features.yaml").write_text(textwrap.dedent("""
        features: {VendorThing: a vendor's own feature}
        profiles: {vendor: {core: [VendorThing], extended: []}}
    """))
    (tmp_path / "vendor_suite" / "__init__.py").write_text(textwrap.dedent(f"""
        from pathlib import Path
        from pytest_openshell.suite.record import ConformanceTest
        from pytest_openshell.suite.registry import Suite

        def suite():
            here = Path(__file__).parent
            return Suite("vendor", (ConformanceTest({test_name!r}, "", "vendor", ("VendorThing",), lambda ctx: None),),
                         here / "features.yaml", here)
    """))
    dist = tmp_path / "vendor_suite-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: vendor-suite\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[pytest_openshell.suites]\nvendor = vendor_suite:suite\n")
    probe = ("from pytest_openshell.suite.registry import suites, all_tests\n"
             "from pytest_openshell.suite.features import load_catalogue\n"
             "print([s.name for s in suites()], len(all_tests()), 'vendor' in load_catalogue().profiles)")
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": f"{tmp_path}:{Path(__file__).resolve().parents[2]}", "PATH": "/usr/bin:/bin"})


def test_a_third_party_suite_is_registered_by_entry_point(tmp_path: Path) -> None:
    out = _with_plugin_suite(tmp_path, "VendorThingWorks")
    assert out.returncode == 0, out.stderr[-2000:]
    names, count, merged = out.stdout.strip().rsplit(" ", 2)[0], int(out.stdout.split()[-2]), out.stdout.split()[-1]
    assert "'openshell', 'vendor'" in names and count == len(suites()[0].tests) + 1 and merged == "True", out.stdout


def test_a_test_name_registered_twice_is_refused(tmp_path: Path) -> None:
    out = _with_plugin_suite(tmp_path, "DriverCapabilities")
    assert out.returncode != 0 and "registered twice" in out.stderr and "DriverCapabilities" in out.stderr, out.stderr[-2000:]
