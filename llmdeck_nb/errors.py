"""Every error llmdeck_nb raises, in one hierarchy.

    LLMDeckError                      base: catch this to catch everything of ours
    ├── DeckError                     the deck folder or its files are wrong
    │   ├── DeckNotFoundError         no deck folder / no backends.toml
    │   ├── DeckUnreadableError       a deck file or folder cannot be read (permissions)
    │   ├── DeckSyntaxError           a TOML file does not parse (file, line)
    │   ├── DeckSchemaError           a key has a wrong type or value (file, key)
    │   ├── UnknownProfileError       routing profile not defined (lists available)
    │   ├── AliasCycleError           aliases refer to each other in a loop (names it)
    │   ├── AliasDepthError           an alias chain nests or fans out too far
    │   ├── RoutingError              a route names an unknown or disabled backend,
    │   │                             or no route reaches a model
    │   ├── UnknownStrategyError      a backend's strategy is unknown, or it is no known
    │   │                             provider and has no endpoint (lists the known ones)
    │   └── DeckEditError             a deck change (`llmdeck backend add`, `llmdeck
    │                                 restore` ...) was refused; nothing was written
    ├── ResolutionError               a handle cannot become a callable model
    │   ├── HandleNotFoundError       model/alias/preset unknown (close matches)
    │   ├── PresetNotFoundError       preset unknown (close matches)
    │   ├── WrongReferenceKindError   '@x' names an alias but x is a preset (or so)
    │   ├── NotAnLLMError             an image / extraction / search model or preset
    │   └── CredentialsMissingError   routed backend lacks a variable (names it)
    ├── CallError                     a call was refused or failed
    │   ├── RequestRejectedError      refused before sending (context window,
    │   │   │                         images, schema, model type)
    │   │   └── InvalidParameterError a generation parameter or timeout out of range
    │   ├── BackendError              one attempt failed at the backend (status)
    │   │   ├── BackendTimeoutError
    │   │   ├── BackendConnectionError
    │   │   ├── BackendResponseError  malformed answer / stream cut
    │   │   └── SchemaMismatchError   the answer does not fit the requested schema
    │   │                             (not retried; the next candidate is tried)
    │   ├── AllAttemptsFailedError    every retry and fallback failed (attempts)
    │   ├── BudgetExceededError       refused before sending: the worst case could pass
    │   │   │                         a spending limit (spent, left, worst case)
    │   │   └── UnknownPriceError     a budget is set and the model has no price
    │   └── ReplayMissError           replay mode and no cached answer (sends nothing)
    ├── InvalidModeError              mode= / $LLMDECK_MODE is not a cache mode
    ├── BatchError                    a batch cannot start (rows, columns, concurrency,
    │                                 on_error); nothing was sent
    ├── ConversationError             no conversation of that name, or not a valid name
    ├── CallLogError                  the call log file cannot be opened, read or written
    │   ├── CallLogFormatError        the file is not a call log this version can use
    │   │                             (a newer schema, another application's file)
    │   └── CallLogFilterError        a since= / last= filter that means nothing
    ├── CacheError                    the response cache cannot be used
    │   └── CacheUnavailableError     its server does not answer (yet): calls go on uncached
    ├── KeyStoreError                 the key store cannot be read or written
    ├── PromptTemplateError           a `{name}` in a cell cannot be filled
    └── ServerSetupError              `llmdeck serve` refuses an unsafe setup (no token
                                      on a non-loopback address)

Every message says what was wrong, where, and what to do next; every message is
passed through :func:`llmdeck_nb.redaction.redact` so no key value can leak.
Pipelex names, kept as aliases: ModelDeckNotFoundError = DeckNotFoundError,
LLMHandleNotFoundError = HandleNotFoundError, LLMPresetNotFoundError = PresetNotFoundError,
ModelsManagerError = DeckError. The one warning, :class:`llmdeck_nb.deck.problems.DeckWarning`
(a ``UserWarning``), is not an error and lives with the deck problems it reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from difflib import get_close_matches

from llmdeck_nb.redaction import redact


class LLMDeckError(Exception):
    """Base of every llmdeck_nb error. ``hint`` says what the user can do."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = redact(message)
        self.hint = redact(hint) if hint else None
        super().__init__(self.message)

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  -> {self.hint}"
        return self.message


# --- deck ------------------------------------------------------------------------------


class DeckError(LLMDeckError):
    """The deck folder or one of its files is wrong."""


class DeckNotFoundError(DeckError):
    pass


class DeckUnreadableError(DeckError):
    """A deck file or folder exists but cannot be read (permissions, I/O): names it."""


class DeckSyntaxError(DeckError):
    def __init__(self, file: str, line: int | None, detail: str) -> None:
        self.file, self.line = file, line
        where = f"{file}, line {line}" if line else file
        super().__init__(
            f"{where}: TOML syntax error: {detail}",
            hint="fix the file (TOML: quote keys that contain dots, e.g. [\"gpt-4.1\"])",
        )


class DeckSchemaError(DeckError):
    def __init__(self, file: str, key: str, detail: str, *, hint: str | None = None) -> None:
        self.file, self.key = file, key
        super().__init__(f"{file}: key '{key}': {detail}", hint=hint)


class UnknownProfileError(DeckError):
    def __init__(self, profile: str, available: Iterable[str], *, source: str = "") -> None:
        self.profile = profile
        self.available = sorted(available)
        where = f" in {source}" if source else ""
        super().__init__(
            f"routing profile '{profile}' is not defined{where}",
            hint="use one of: " + ", ".join(self.available),
        )


class AliasCycleError(DeckError):
    def __init__(self, cycle: Sequence[str]) -> None:
        self.cycle = list(cycle)
        super().__init__(
            "aliases form a cycle: " + " -> ".join(self.cycle),
            hint="make one of these aliases point at a model name (deck/*.toml, [aliases])",
        )


class AliasDepthError(DeckError):
    def __init__(self, start: str, detail: str) -> None:
        self.start = start
        super().__init__(
            f"alias '{start}' {detail}",
            hint="point an alias in that chain straight at a model name (deck/*.toml)",
        )


class RoutingError(DeckError):
    pass


class UnknownStrategyError(DeckError):
    """A backend names a strategy llmdeck does not have, or is no known provider and has no
    endpoint, so no strategy can call it; the hint lists the known ones."""


class DeckEditError(DeckError):
    """A change to the deck files was refused; nothing was written."""


# --- resolution ------------------------------------------------------------------------


class ResolutionError(LLMDeckError):
    """A handle, alias or preset cannot be turned into a model to call."""


def _suggest(name: str, known: Iterable[str]) -> str:
    close = get_close_matches(name, list(known), n=3, cutoff=0.6)
    return f"did you mean {', '.join(repr(c) for c in close)}?" if close else ""


class HandleNotFoundError(ResolutionError):
    def __init__(self, handle: str, known: Iterable[str], *, profile: str | None = None) -> None:
        self.handle = handle
        known = list(known)
        self.suggestions = get_close_matches(handle, known, n=3, cutoff=0.6)
        where = f" (profile '{profile}')" if profile else ""
        suggestion = _suggest(handle, known)
        listing = "list them with `llmdeck models` or %llm_models"
        hint = (suggestion + " " if suggestion else "") + listing
        super().__init__(f"no model, alias or preset named '{handle}'{where}", hint=hint)


class PresetNotFoundError(ResolutionError):
    def __init__(self, preset: str, known: Iterable[str]) -> None:
        self.preset = preset
        known = list(known)
        self.suggestions = get_close_matches(preset, known, n=3, cutoff=0.6)
        suggestion = _suggest(preset, known)
        hint = (suggestion + " " if suggestion else "") + "list them with %llm_presets"
        super().__init__(f"no preset named '{preset}'", hint=hint)


class WrongReferenceKindError(ResolutionError):
    """A sigil names the wrong kind: ``@x`` (an alias) where ``x`` is a preset, etc."""


class NotAnLLMError(ResolutionError):
    """The handle names a model or preset of another kind (img_gen, extract, search...)."""


class CredentialsMissingError(ResolutionError):
    def __init__(self, handle: str, backend: str, variables: Sequence[str]) -> None:
        self.backend = backend
        self.variables = list(variables)
        names = ", ".join(self.variables)
        super().__init__(
            f"'{handle}' is routed to backend '{backend}', which is missing {names}",
            hint=f"set {names} in the environment or in a .env file, or switch profile "
            "(e.g. LLMDECK_PROFILE=demo)",
        )


# --- calls -----------------------------------------------------------------------------


class CallError(LLMDeckError):
    """A call was refused before sending, or failed."""


class RequestRejectedError(CallError):
    pass


class InvalidParameterError(RequestRejectedError):
    """A generation parameter (or timeout) that cannot be sent: names it and what is allowed."""

    def __init__(self, name: str, value: object, allowed: str) -> None:
        self.name, self.value = name, value
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        super().__init__(f"parameter {name}={shown} is not allowed: {name} takes {allowed}",
                         hint=f"fix {name} (--param {name}=..., the preset, or the call's "
                              "keyword); nothing was sent")


class BackendError(CallError):
    """One attempt failed at the backend. ``retryable`` drives retry and failover."""

    def __init__(
        self,
        message: str,
        *,
        backend: str,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        self.backend = backend
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(message, hint=hint)

    @property
    def error_type(self) -> str:
        return type(self).__name__


class BackendTimeoutError(BackendError):
    pass


class BackendConnectionError(BackendError):
    pass


class BackendResponseError(BackendError):
    pass


class SchemaMismatchError(BackendError):
    """The answer arrived whole but does not match the requested JSON schema (or pydantic
    model). Not retryable (:func:`llmdeck_nb.backends.errors.is_retryable`): the same
    request would most likely get the same answer; the engine tries the next candidate."""


class AllAttemptsFailedError(CallError):
    """Every attempt failed: the message names the last real cause (what the server or the
    network said), the hint is that error's own advice."""

    def __init__(self, handle: str, attempts: Sequence[object], last: Exception | None) -> None:
        self.attempts = list(attempts)
        self.last = last
        cause = getattr(last, "message", None) or (str(last) if last else "no attempt was made")
        advice = getattr(last, "hint", None)
        log = "see %llm_log (or session.calls()) for every attempt"
        super().__init__(
            f"'{handle}' failed after {len(self.attempts)} attempt(s); last error: {cause}",
            hint=f"{advice}; {log}" if advice else log,
        )


class BudgetExceededError(CallError):
    """Refused before sending: this call's worst-case cost could pass a spending limit."""

    def __init__(self, message: str, *, limit: str = "", spent: float = 0.0, left: float = 0.0,
                 worst_case: float | None = None, hint: str | None = None) -> None:
        self.limit, self.spent, self.left, self.worst_case = limit, spent, left, worst_case
        super().__init__(message, hint=hint)


class UnknownPriceError(BudgetExceededError):
    """A budget is set and the deck gives no price for the model, so its cost is unknown."""


class ReplayMissError(CallError):
    """Replay mode: the answer is not in the cache, and nothing is sent."""


# --- settings, batches and conversations -----------------------------------------------


class InvalidModeError(LLMDeckError):
    """``mode=`` (or ``$LLMDECK_MODE``) is not one of the cache modes."""


class BatchError(LLMDeckError):
    """A batch cannot start: its rows, columns, ``concurrency`` or ``on_error`` are wrong."""


class ConversationError(LLMDeckError):
    """No conversation of that name, or a name that cannot be one."""


# --- call log --------------------------------------------------------------------------


class CallLogError(LLMDeckError):
    """The call log file cannot be opened, read or written (SQLite said why), or is closed."""


class CallLogFormatError(CallLogError):
    """The file is not a call log this version can use: written by a newer llmdeck_nb,
    another application's SQLite file, or a ``calls`` table without a schema version."""


class CallLogFilterError(CallLogError):
    """A ``since=`` or ``last=`` filter that means nothing (negative, not a date/time)."""


# --- cache, keys, templates, server ----------------------------------------------------


class CacheError(LLMDeckError):
    pass


class CacheUnavailableError(CacheError):
    """The cache's server (Redis) does not answer; the session goes on without it."""


class PromptTemplateError(LLMDeckError):
    pass


class KeyStoreError(LLMDeckError):
    pass


class ServerSetupError(LLMDeckError):
    """``llmdeck serve`` refuses to start as asked (an open address without a token)."""


# Pipelex names, so code written against Pipelex reads naturally.
ModelDeckNotFoundError = DeckNotFoundError
LLMHandleNotFoundError = HandleNotFoundError
LLMPresetNotFoundError = PresetNotFoundError
ModelsManagerError = DeckError

__all__ = [
    "AliasCycleError",
    "AliasDepthError",
    "AllAttemptsFailedError",
    "BackendConnectionError",
    "BackendError",
    "BackendResponseError",
    "BackendTimeoutError",
    "BatchError",
    "BudgetExceededError",
    "CacheError",
    "CacheUnavailableError",
    "CallError",
    "CallLogError",
    "CallLogFilterError",
    "CallLogFormatError",
    "ConversationError",
    "CredentialsMissingError",
    "DeckEditError",
    "DeckError",
    "DeckNotFoundError",
    "DeckSchemaError",
    "DeckSyntaxError",
    "DeckUnreadableError",
    "HandleNotFoundError",
    "InvalidModeError",
    "InvalidParameterError",
    "KeyStoreError",
    "LLMDeckError",
    "LLMHandleNotFoundError",
    "LLMPresetNotFoundError",
    "ModelDeckNotFoundError",
    "ModelsManagerError",
    "NotAnLLMError",
    "PresetNotFoundError",
    "PromptTemplateError",
    "ReplayMissError",
    "RequestRejectedError",
    "ResolutionError",
    "RoutingError",
    "SchemaMismatchError",
    "ServerSetupError",
    "UnknownPriceError",
    "UnknownProfileError",
    "UnknownStrategyError",
    "WrongReferenceKindError",
]
