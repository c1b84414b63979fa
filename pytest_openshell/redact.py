"""The one redaction function every output of the harness goes through.

Reports, attachments, JUnit properties and copied logs must never carry a bearer token, JWT,
private key, certificate body or Secret data. Patterns are deliberately broad: a false positive
costs a few characters of a report, a false negative leaks a credential.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "<redacted>"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?(?:-----END \1-----|\Z)", re.S), r"-----BEGIN \1-----" + MASK + r"-----END \1-----"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + MASK),
    # JWTs (three base64url segments, the first two starting like JSON objects).
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), MASK),
    (re.compile(r"(?i)((?:token|password|secret|client-key-data|client-certificate-data|certificate-authority-data|"
                r"private[_-]?key|api[_-]?key|caBundle)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{6,}"), r"\1" + MASK),
)
_SECRET_KINDS = {"Secret"}
_SENSITIVE_KEYS = re.compile(r"(?i)^(token|password|secret|.*private[_-]?key.*|client-key-data|client-certificate-data|"
                             r"certificate-authority-data|cabundle|bearer|authorization)$")


def redact_text(text: str) -> str:
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def redact(value: Any) -> Any:
    """Redact strings, and structures recursively (Secret data and sensitive keys wholesale)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes):
        return redact_text(value.decode(errors="replace"))
    if isinstance(value, dict):
        is_secret = value.get("kind") in _SECRET_KINDS
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if is_secret and key in ("data", "stringData") and isinstance(item, dict):
                out[key] = {k: MASK for k in item}
            elif isinstance(key, str) and _SENSITIVE_KEYS.match(key) and isinstance(item, str | bytes):
                out[key] = MASK
            else:
                out[key] = redact(item)
        return out
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value
