"""Which service-account tokens may speak for a sandbox: audience, service account, namespaces."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from pytest_openshell.contract.labels import DEFAULT_SERVICE_ACCOUNT, TOKEN_AUDIENCE

NamespaceMode = Literal["exact", "prefix", "allowlist"]
NAMESPACE_MODES: tuple[str, ...] = get_args(NamespaceMode)


@dataclass(frozen=True)
class IdentityPolicy:
    """``exact``: the one namespace in ``namespaces``; ``prefix``: any namespace starting with one of
    them; ``allowlist``: any of them."""

    namespaces: tuple[str, ...]
    namespace_mode: NamespaceMode = "exact"
    service_account: str = DEFAULT_SERVICE_ACCOUNT
    audience: str = TOKEN_AUDIENCE

    def __post_init__(self) -> None:
        if self.namespace_mode not in NAMESPACE_MODES:
            raise ValueError(f"namespace_mode must be one of {NAMESPACE_MODES}, not {self.namespace_mode!r}")
        if not self.namespaces or any(not n for n in self.namespaces):
            raise ValueError("at least one (non-empty) namespace is required")
        if self.namespace_mode == "exact" and len(self.namespaces) != 1:
            raise ValueError("namespace_mode 'exact' takes exactly one namespace; use 'allowlist' for several")

    @classmethod
    def build(cls, namespaces: Sequence[str], namespace_mode: str = "exact", service_account: str = DEFAULT_SERVICE_ACCOUNT,
              audience: str = TOKEN_AUDIENCE) -> IdentityPolicy:
        if namespace_mode not in NAMESPACE_MODES:
            raise ValueError(f"namespace_mode must be one of {NAMESPACE_MODES}, not {namespace_mode!r}")
        return cls(tuple(namespaces), namespace_mode, service_account, audience)  # type: ignore[arg-type]

    def allows_namespace(self, namespace: str) -> bool:
        if self.namespace_mode == "prefix":
            return any(namespace.startswith(p) for p in self.namespaces)
        return namespace in self.namespaces
