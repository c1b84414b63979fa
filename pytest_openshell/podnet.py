"""Refuse, inside the test process, every connection to a simulated pod's IP.

kwok hands simulated pods addresses from the node's podCIDR, but no container stands behind them
and no route on this machine leads there: the kernel sends such packets out by the default route,
off the machine (an HTTP client once got an answer from outside). The harness never connects to a
pod IP; this guard makes that a property of the whole test process (harness and user code alike)
rather than a promise: a ``socket.connect``/``sendto`` to such an address fails at once with
:class:`SimulatedPodAddress`, before a packet is sent. Subprocesses (e.g. a gateway binary) are
outside its reach.
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Iterable
from typing import Any

from pytest_openshell.errors import HarnessError

_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
_installed = False


class SimulatedPodAddress(HarnessError):
    def __init__(self, address: str) -> None:
        super().__init__(
            f"connection to {address} refused by pytest-openshell: it is a simulated pod's IP (kwok runs no "
            "containers, nothing listens there, and the packets would leave this machine by its default route)",
            fix="check what the pod IP is for through the Kubernetes API, or run on real nodes (--openshell-cluster=kind)",
        )


def block(networks: Iterable[str]) -> None:
    """Refuse connections into ``networks`` (CIDRs) from now on, for the rest of the process."""
    global _installed
    for cidr in networks:
        net = ipaddress.ip_network(cidr, strict=False)
        if net not in _networks:
            _networks.append(net)
    if not _installed and _networks:
        sys.addaudithook(_audit)  # audit hooks cannot be removed: the guard lasts as long as the process
        _installed = True


def blocked() -> list[str]:
    return [str(n) for n in _networks]


def is_blocked(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False  # a name: whatever it resolves to is checked when the socket connects to it
    return any(ip in net for net in _networks)


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event not in ("socket.connect", "socket.sendto") or not _networks:
        return
    address = args[-1]
    if isinstance(address, tuple) and address and isinstance(address[0], str) and is_blocked(address[0]):
        raise SimulatedPodAddress(f"{address[0]}:{address[1]}" if len(address) > 1 else address[0])
