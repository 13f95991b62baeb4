"""The one place secrets are scrubbed.

Every message, log row, exception, repr and display goes through :func:`redact`.
Two layers:

* the exact values of every secret the deck resolved (``register_secret`` is called
  by the deck loader for API keys and any variable whose name looks secret), and
* patterns for well-known key shapes (OpenAI/Anthropic ``sk-...``, Google ``AIza...``,
  AWS ``AKIA...``, ``Bearer ...`` headers, ``key=`` in URLs), for keys we never saw.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"

_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)

# Key shapes redacted even when we never saw the value; group 1 (a label) is kept.
_PATTERNS = re.compile(
    r"()(?:sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{12,}|AIza[0-9A-Za-z_\-]{20,}|AKIA[0-9A-Z]{16})"
    r"|([Bb]earer\s+)[A-Za-z0-9._\-~+/=]{8,}"
    r"|([?&](?:key|api[-_]?key|token)=)[^&\s\"']+"
    r"|((?:x-)?api[-_]key[\"']?\s*[:=]\s*[\"']?)[^\"'\s,}]{6,}",
    re.IGNORECASE,
)


def _has_anchor(lowered: str) -> bool:
    """Every pattern above contains one of these: a cheap test before the scan."""
    return ("key" in lowered or "sk-" in lowered or "token" in lowered or "bearer" in lowered
            or "aiza" in lowered or "akia" in lowered)


def _keep_label(match: re.Match[str]) -> str:
    label = next((g for g in match.groups() if g), "")
    return label + REDACTED


_lock = threading.Lock()
_secrets: set[str] = set()
_secrets_re: re.Pattern[str] | None = None
_secret_values: tuple[str, ...] = ()  # the same, for plain substring tests

# Shorter values would redact ordinary words ("dummy", "none"); keys are never this short.
MIN_SECRET_LENGTH = 6


def looks_secret(name: str) -> bool:
    """True for config keys or variable names that hold credentials (api_key, HF_TOKEN...)."""
    return bool(_SECRET_NAME.search(name))


def register_secret(value: str | None) -> None:
    """Remember a secret value so that :func:`redact` removes it wherever it appears."""
    global _secrets_re, _secret_values
    if not value or len(value) < MIN_SECRET_LENGTH or value in _secrets:
        return
    with _lock:
        _secrets.add(value)
        ordered = sorted(_secrets, key=len, reverse=True)
        _secrets_re = re.compile("|".join(re.escape(s) for s in ordered))
        _secret_values = tuple(ordered)


def redact(text: str) -> str:
    """Return ``text`` with every known secret value and key-shaped string replaced."""
    if not text:
        return text
    if _secrets_re is not None:
        text = _secrets_re.sub(REDACTED, text)
    if len(text) >= MIN_SECRET_LENGTH and _has_anchor(text.lower()):  # the full scan is slow
        text = _PATTERNS.sub(_keep_label, text)
    return text


def may_hold_secret(text: str) -> bool:
    """False when :func:`redact` would return ``text`` unchanged (a cheap, conservative test).

    Callers with many strings at once (a log row, a batch of rows) test them joined, then
    redact one by one only when this says so: one scan instead of one per string.
    """
    if any(secret in text for secret in _secret_values):  # str.find: fast on long texts
        return True
    return len(text) >= MIN_SECRET_LENGTH and _has_anchor(text.lower())


def redact_value(value: Any) -> Any:
    """Redact strings inside nested dicts/lists/tuples, leaving other values alone."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(v) for v in value)
    return value


class Secret:
    """A credential value that never shows itself: repr/str print a placeholder.

    Creating one registers the value with :func:`redact`, so even if the value is
    copied into a message by a third-party library, it is scrubbed on the way out.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(value)

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled (it would write the key to disk)")
