"""``python -m pytest_openshell.kindimage``: build (or find cached) the offline kind images now."""

from __future__ import annotations

import sys

from pytest_openshell.errors import HarnessError
from pytest_openshell.kindimage.node import ensure_node_image
from pytest_openshell.kindimage.workloads import ensure_controller_image, ensure_sandbox_image
from pytest_openshell.toolchain import Resolver, load_pins


def main() -> int:
    pins = load_pins()
    resolver = Resolver(progress=print)
    try:
        print(ensure_node_image(pins, resolver, print))
        print(ensure_sandbox_image(print))
        for lane in pins.lanes.values():
            print(ensure_controller_image(lane, resolver, print))
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
