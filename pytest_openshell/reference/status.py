"""gRPC status handling shared by the reference servers, and every stable denial reason.

Handlers raise :class:`StatusError`; :func:`rpc` turns it (and Kubernetes API errors) into a
gRPC status whose details are exactly the reason string, so tests can match on it.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc
from kubernetes.client.exceptions import ApiException

log = logging.getLogger(__name__)
UNAUTH = grpc.StatusCode.UNAUTHENTICATED
DENIED = grpc.StatusCode.PERMISSION_DENIED

# Every reason a sandbox credential can be refused with, and its status code. The strings are
# part of the reference servers' contract: suites assert on them, so they never change.
REASONS: dict[str, grpc.StatusCode] = {
    # the bearer itself
    "missing bearer token": UNAUTH,
    # 1. TokenReview
    "token not authenticated": UNAUTH,
    "audience missing": UNAUTH,
    # 2. who the token names
    "not a service account token": DENIED,
    "service account not allowed": DENIED,
    "namespace not allowed": DENIED,
    # 3-4. the pod it is bound to
    "token not pod-bound": DENIED,
    "pod not found": DENIED,
    "pod uid mismatch": DENIED,
    # 5. the identity the pod claims
    "sandbox id annotation missing": DENIED,
    # 6-7. the Sandbox that owns the pod
    "no controlling Sandbox owner": DENIED,
    "owner not found": DENIED,
    "owner UID mismatch": DENIED,
    "owner ID mismatch": DENIED,
    "unclaimed warm sandbox": DENIED,
    # warm claims: Sandbox -> its controlling SandboxClaim -> the gateway's record
    "claim not found": DENIED,
    "claim uid mismatch": DENIED,
    "claim does not name this sandbox": DENIED,
    "no claim record": DENIED,
    "claim record mismatch": DENIED,
    # 8. the gateway's own records
    "sandbox unknown": DENIED,
    # gateway-minted tokens (RefreshSandboxToken)
    "token invalid": UNAUTH,
    "token expired": UNAUTH,
    "issuer mismatch": UNAUTH,
    "audience mismatch": UNAUTH,
    "subject mismatch": UNAUTH,
    # the Kubernetes API could not answer: fail closed, but say it is not the caller's fault
    "identity backend unavailable": grpc.StatusCode.UNAVAILABLE,
}


class StatusError(Exception):
    """Abort the current RPC with ``code`` and ``details``."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class Denied(StatusError):
    """A credential refused for one of the :data:`REASONS`."""

    def __init__(self, reason: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"{reason!r} is not a known denial reason")
        super().__init__(REASONS[reason], reason)
        self.reason = reason


def from_api(exc: ApiException, what: str) -> StatusError:
    code = {404: grpc.StatusCode.NOT_FOUND, 409: grpc.StatusCode.ALREADY_EXISTS, 422: grpc.StatusCode.INVALID_ARGUMENT,
            400: grpc.StatusCode.INVALID_ARGUMENT, 403: grpc.StatusCode.PERMISSION_DENIED}.get(exc.status or 0,
                                                                                            grpc.StatusCode.UNAVAILABLE)
    return StatusError(code, f"{what}: {exc.status} {exc.reason}")


def from_rpc(exc: grpc.RpcError) -> StatusError:
    """Pass a downstream (driver) status through unchanged."""
    code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNAVAILABLE
    details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
    return StatusError(code, details or "")


F = TypeVar("F", bound=Callable[..., Any])


def rpc(method: F) -> F:
    """Map errors raised by a servicer method (unary or server-streaming) onto its gRPC status."""

    def abort(context: grpc.ServicerContext, exc: Exception) -> None:
        if isinstance(exc, StatusError):
            context.abort(exc.code, exc.details)
        if isinstance(exc, ApiException):
            err = from_api(exc, "kubernetes API")
            context.abort(err.code, err.details)
        log.exception("%s failed", method.__name__)
        context.abort(grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}")

    if inspect.isgeneratorfunction(method):
        @functools.wraps(method)
        def stream(self: Any, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            try:
                yield from method(self, request, context)
            except (StatusError, ApiException) as exc:
                abort(context, exc)
        return stream  # type: ignore[return-value]

    @functools.wraps(method)
    def unary(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except Exception as exc:
            abort(context, exc)
    return unary  # type: ignore[return-value]
