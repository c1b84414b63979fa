"""Two harness runs needing the same uncached binaries at once: one build, both get whole binaries.

``go`` is a stand-in script here (a real build takes minutes); what is under test is the cache's
lock and atomic rename, in two real processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_openshell.errors import HarnessError
from pytest_openshell.toolchain.builder import build_module, find_go
from pytest_openshell.toolchain.pins import Binary, Module

FAKE_GO = textwrap.dedent("""\
    #!/bin/sh
    # list -deps: two packages; build -o DIR/ PKG...: one file per package, slowly enough to overlap.
    if [ "$1" = list ]; then echo a; echo b; exit 0; fi
    echo "build $$" >> "$BUILDS"
    sleep 1
    out=""; prev=""
    for arg in "$@"; do [ "$prev" = -o ] && out="$arg"; prev="$arg"; done
    for pkg in "$@"; do case "$pkg" in example.com/*) echo "binary ${pkg##*/}" > "$out${pkg##*/}";; esac; done
""")

BUILD = textwrap.dedent("""\
    import json, sys
    from pathlib import Path
    from pytest_openshell.toolchain.builder import build_module
    from pytest_openshell.toolchain.pins import Binary, Module
    module = Module(key="fake", dir=Path(sys.argv[1]), version="v1.0.0")
    for name in ("tool-a", "tool-b"):
        module.binaries[name] = Binary(name, f"example.com/cmd/{name}", module)
    target = build_module(module, lambda message: None)
    print(json.dumps({"dir": str(target), "files": {p.name: p.read_text() for p in sorted(target.iterdir())}}))
""")


def test_concurrent_builds_of_one_module_build_once(tmp_path: Path) -> None:
    module_dir = tmp_path / "module"
    module_dir.mkdir()
    (module_dir / "go.mod").write_text("module example.com/fake\n")
    (module_dir / "go.sum").write_text("")
    go = tmp_path / "go"
    go.write_text(FAKE_GO)
    go.chmod(0o755)
    builds = tmp_path / "builds.txt"
    env = {**os.environ, "OPENSHELL_CACHE_DIR": str(tmp_path / "cache"), "OPENSHELL_GO": str(go), "BUILDS": str(builds)}
    procs = [subprocess.Popen([sys.executable, "-c", BUILD, str(module_dir)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    results = [json.loads(out) for out, _ in outs]
    assert results[0] == results[1]
    assert results[0]["files"] == {"tool-a": "binary tool-a\n", "tool-b": "binary tool-b\n"}
    assert len(builds.read_text().splitlines()) == 1, "the second run built again instead of waiting for the first"
    leftovers = [p.name for p in Path(results[0]["dir"]).parent.iterdir() if p.name.startswith(".build-")]
    assert leftovers == [], "staging dirs left behind"


def test_a_version_the_proxy_does_not_serve_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real go build against the real module proxy, of a wrapper pinning a version that does not exist."""
    if not find_go():
        pytest.skip("needs Go")
    module_dir = tmp_path / "wrapper"
    module_dir.mkdir()
    (module_dir / "go.mod").write_text("module example.com/wrapper\n\ngo 1.26\n\nrequire sigs.k8s.io/agent-sandbox v0.0.999\n")
    fake = "h1:" + "A" * 43 + "="  # go.sum must name it, or go refuses before asking the proxy
    (module_dir / "go.sum").write_text(f"sigs.k8s.io/agent-sandbox v0.0.999 {fake}\nsigs.k8s.io/agent-sandbox v0.0.999/go.mod {fake}\n")
    (module_dir / "main.go").write_text('package main\n\nimport _ "sigs.k8s.io/agent-sandbox/api/v1alpha1"\n\nfunc main() {}\n')
    monkeypatch.setenv("OPENSHELL_CACHE_DIR", str(tmp_path / "cache"))
    module = Module(key="wrapper", dir=module_dir, version="v0.0.999")
    module.binaries["wrapper"] = Binary("wrapper", ".", module)
    with pytest.raises(HarnessError) as raised:
        build_module(module, lambda message: None)
    message = str(raised.value)
    assert "sigs.k8s.io/agent-sandbox v0.0.999 is not served by the Go module proxy" in message, message
    assert str(module_dir / "go.mod") in message and "build log" in message
