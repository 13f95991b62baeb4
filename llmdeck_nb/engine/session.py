"""The Session: deck -> route -> pre-checks -> cache -> backend (retry, failover) -> log.

Everything the notebook front end does is a call on a Session; scripts and tests make
the same calls. :func:`default_session` is the one the magics use.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from llmdeck_nb.backends.base import BLOCKING_IO, BackendRequest, BackendResponse
from llmdeck_nb.cache import ResponseCache, open_cache
from llmdeck_nb.calllog.records import CallRecord, hash_prompt
from llmdeck_nb.calllog.store import CallLog
from llmdeck_nb.deck import Candidate, Deck, Resolution, load_deck
from llmdeck_nb.deck.specs import host_of
from llmdeck_nb.engine import loop
from llmdeck_nb.engine.budget import Budget, BudgetedStrategy
from llmdeck_nb.engine.caller import Prompt
from llmdeck_nb.engine.cost import CallCost, call_cost
from llmdeck_nb.engine.deadline import Deadline
from llmdeck_nb.engine.inflight import first_or_wait
from llmdeck_nb.engine.messages import (
    Messages,
    build_messages,
    count_documents,
    count_images,
    estimate_tokens,
    text_of,
)
from llmdeck_nb.engine.modes import check_mode, replay_miss
from llmdeck_nb.engine.params import check_timeout
from llmdeck_nb.engine.prepared import prepared
from llmdeck_nb.engine.ratelimit import LimitedStrategy
from llmdeck_nb.engine.result import Attempt, Result
from llmdeck_nb.engine.retry import RetryPolicy
from llmdeck_nb.engine.structured import SchemaSpec, schema_spec
from llmdeck_nb.errors import (
    AllAttemptsFailedError,
    BackendError,
    BudgetExceededError,
    CacheError,
    CacheUnavailableError,
    LLMDeckError,
    RequestRejectedError,
)
from llmdeck_nb.json_types import JsonObject
from llmdeck_nb.not_given import NOT_GIVEN, NotGiven, given_or
from llmdeck_nb.paths import call_log_path, responses_dir
from llmdeck_nb.redaction import redact, redact_value
from llmdeck_nb.stream_redaction import StreamRedactor

if TYPE_CHECKING:
    import pandas as pd

    from llmdeck_nb.engine.conversation import Conversations, Prepared

logger = logging.getLogger("llmdeck_nb")

TextCallback = Callable[[str], None]
ResetCallback = Callable[[], None]
T = TypeVar("T")
CallListener = Callable[[Result], None]


class Session:
    """Holds the deck, the active profile, the response cache and the call log.

    ``cache`` and ``log`` each take a path, ``None`` for the default location, ``False``
    for off (the log then lives in memory), or an instance. ``budget_usd`` limits what the
    session may spend (the deck's ``[budget]`` otherwise, see :mod:`.budget`); ``mode`` is
    ``"normal"``, ``"replay"`` or ``"refresh"`` (see :mod:`.modes`; default ``$LLMDECK_MODE``).
    ``timeout`` (seconds per attempt) applies where neither the model nor its backend sets
    one; ``None``: no limit there. ``budget_usd=None`` means no session limit, even if the
    deck sets one (left out: the deck's).
    """

    def __init__(
        self,
        deck: Deck | str | Path | None = None,
        cache: Any = None,
        log: CallLog | str | Path | bool | None = None,
        *,
        profile: str | None = None,
        timeout: float | None = 60.0,
        retry: RetryPolicy | None = None,
        tags: Sequence[str] = (),
        budget_usd: float | NotGiven | None = NOT_GIVEN,
        allow_unknown_prices: bool | None = None,
        mode: str | None = None,
    ) -> None:
        self.mode = check_mode(mode)
        self.deck = deck if isinstance(deck, Deck) else load_deck(deck)
        # what reload() reads again: the same folder if one was named, else the search order
        # (so a `llmdeck init` made after the session started is picked up)
        self._deck_path = self.deck.folder if self.deck.origin == "argument" else None
        self.profile = profile or self.deck.active_profile
        if profile is not None:
            self.deck.routing_profile(profile)  # an unknown profile fails here, not at a call
        if cache is None and self.deck.cache_settings:
            cache = self.deck.cache_settings
        self.cache: ResponseCache | None = _open_or_defer(cache)
        self.log = log if isinstance(log, CallLog) else CallLog(_log_path(log))
        self.timeout = check_timeout(timeout)
        self.retry = retry or RetryPolicy()
        self.tags = tuple(tags)
        self.id = uuid.uuid4().hex[:12]
        limits = self.deck.budget
        unknown_prices = (limits.allow_unknown_prices if allow_unknown_prices is None
                          else allow_unknown_prices)
        self.budget = Budget(given_or(budget_usd, limits.session_usd), limits.daily_usd,
                             allow_unknown_prices=unknown_prices, log=self.log, session_id=self.id)
        # what the notebook front end switches (one source of truth for magics and panel)
        self.default_model: str | None = None
        self.params: dict[str, Any] = {}  # session-wide generation overrides (e.g. temperature)
        self.use_cache = True
        self.listeners: list[CallListener] = []
        self.reachability: dict[str, dict[str, Any]] = {}  # backend -> last live check row
        self._round_robin: dict[str, itertools.count[int]] = {}
        self._cache_warned = self.cache is not None and self.cache.kind == "deferred"  # warned
        self._conversations: Conversations | None = None

    # --- switching ---------------------------------------------------------------------

    def use_profile(self, name: str) -> None:
        self.deck.routing_profile(name)  # raises UnknownProfileError listing the profiles
        self.profile = name

    def use_model(self, handle: str | None) -> None:
        if handle is not None:
            self.deck.resolve(handle, self.profile)  # fail now if it cannot be resolved
        self.default_model = handle

    def reload(self, path: str | Path | None = None) -> Deck:
        """Read the deck again (new keys in the environment, edited files, a new folder)."""
        if path is not None:
            self._deck_path = Path(path)
        self.deck = load_deck(self._deck_path)
        if self.profile not in self.deck.profiles:
            self.profile = self.deck.active_profile
        return self.deck

    # --- resolving -----------------------------------------------------------------------

    def resolve(self, model: str | None = None, preset: str | None = None,
                profile: str | None = None, *, structured: bool = False,
                **params: Any) -> Resolution:
        """What a call with these arguments would use (no request is sent)."""
        profile = profile or self.profile
        overrides = {**self.params, **params}
        if preset is not None:
            return self.deck.resolve_preset(preset, profile, model=model, **overrides)
        handle = model or self.default_model or self.deck.default_handle(structured=structured)
        return self.deck.resolve(handle, profile, **overrides)

    # --- calling -------------------------------------------------------------------------

    def complete(self, prompt: Prompt, model: str | None = None, *,
                 on_text: TextCallback | None = None, on_reset: ResetCallback | None = None,
                 **options: Any) -> Result:
        """Synchronous :meth:`acomplete`, run on the calling thread (in or out of a notebook).

        With ``on_text``, text deltas (and ``on_reset`` calls) are delivered on the calling
        thread, in order, as they arrive.
        """
        return loop.run_eager(self.acomplete(prompt, model, on_text=on_text, on_reset=on_reset,
                                             **options), blocking_io=True)

    async def acomplete(
        self,
        prompt: Prompt,
        model: str | None = None,
        preset: str | None = None,
        profile: str | None = None,
        system: str | None = None,
        schema: Any = None,
        stream: bool = False,
        cache: bool = True,
        refresh: bool = False,
        tags: Sequence[str] = (),
        on_text: TextCallback | None = None,
        timeout: float | NotGiven | None = NOT_GIVEN,
        max_cost_usd: float | None = None,
        on_reset: ResetCallback | None = None,
        sample: int | None = None,
        **params: Any,
    ) -> Result:
        """Send a prompt to the routed model; retries and fails over along the chain.

        ``model`` is a model name, alias or preset; none means the panel's choice or the
        deck's choice default (``for_object`` when a ``schema`` is given). ``max_cost_usd``
        refuses the call (nothing sent) if its worst-case cost is higher. ``timeout``
        (seconds per attempt) overrides the model's and the backend's; ``None``: no limit
        (the call's total budget, ``RetryPolicy.total_budget_s``, still applies). Streamed
        text reaches ``on_text`` redacted; when an attempt that already showed text fails and
        the call goes on, ``on_reset`` is called first: the consumer clears what it showed.
        ``sample`` (2, 3, ...) names one of several repeats of the same request
        (``compare(repeat=N)``): each has its own cache entry, so the first run really sends
        every repeat (identical calls in flight would otherwise go out once) and a rerun
        replays them all.
        """
        deadline = Deadline(self.retry.total_budget_s)
        timeout = timeout if isinstance(timeout, NotGiven) else check_timeout(timeout)
        messages = build_messages(prompt, system)
        wanted = schema_spec(schema)
        resolution = self.resolve(model, preset, profile, structured=wanted is not None, **params)
        call = _CallContext(self, resolution, text_of(messages), stream or on_text is not None,
                            (*self.tags, *tags), deadline)
        candidates = self._prechecked(resolution, messages, call.prompt_tokens, wanted)
        call.on_text, call.on_reset = on_text, on_reset
        use_cache = cache and self.use_cache and self.cache is not None
        refresh = refresh or self.mode == "refresh"
        for candidate in candidates:
            if deadline.expired or len(call.attempts) >= self.retry.max_attempts:
                break
            key = self._cache_key(candidate, messages, wanted, sample) if use_cache else None
            call.cache_key = key
            hit = (None if key is None or refresh or self.cache is None
                   else self._cache_call(self.cache.get, key))
            if hit is not None:
                return self._serve_hit(call, candidate, hit, wanted, deadline.started, on_text)
            request = self._request(candidate, messages, wanted, timeout)  # a hit needs none
            if key is None or refresh:
                result = await self._attempts(call, candidate, request, wanted, None, max_cost_usd)
            else:
                result = await self._waited_or_attempts(call, candidate, request, wanted, key,
                                                        max_cost_usd)
            if result is not None:
                return result
        if self.mode == "replay":
            raise replay_miss(resolution.requested, call.prompt_preview, use_cache)
        raise AllAttemptsFailedError(resolution.requested, call.attempts, call.last_error)

    async def _waited_or_attempts(self, call: _CallContext, candidate: Candidate,
                                  request: BackendRequest, wanted: SchemaSpec | None, key: str,
                                  max_cost_usd: float | None) -> Result | None:
        """Not cached: the answer of an identical call in flight, else a call."""
        async with first_or_wait(key) as waited:
            hit = (self._cache_call(self.cache.get, key) if waited and self.cache is not None
                   else None)
            if hit is None:
                return await self._attempts(call, candidate, request, wanted, key, max_cost_usd)
        return self._serve_hit(call, candidate, hit, wanted, call.deadline.started, call.on_text)

    async def _attempts(self, call: _CallContext, candidate: Candidate, request: BackendRequest,
                        wanted: SchemaSpec | None, key: str | None,
                        max_cost_usd: float | None) -> Result | None:
        """Try one candidate (with retries); its Result, or None to move on."""
        if self.mode == "replay":
            return None  # another candidate's answer may be cached; nothing is sent
        # behind the budget even with no limit: it counts what the session spends
        strategy = BudgetedStrategy(self._strategy(candidate, request, call), self.budget,
                                    candidate, max_cost_usd)
        # complete() with no event loop yet: only an answer read with blocking I/O goes on so
        blocking = strategy.blocking_complete and not call.stream and BLOCKING_IO.get()
        for retry_number in range(1, self.retry.attempts_per_candidate + 1):
            if len(call.attempts) >= self.retry.max_attempts or call.deadline.expired:
                return None
            eager = blocking and call.deadline.bounds_blocking(request.timeout)
            if not eager:
                await loop.needed()
            record = call.record(candidate, request.endpoint)
            began = time.perf_counter()
            shown = StreamRedactor(call.on_text or _ignore) if call.stream else None
            try:
                sending = strategy.stream(request, shown) if shown else strategy.complete(request)
                if blocking and not eager:  # the budget's timer must be able to stop it
                    sending = _on_the_loop(sending)
                response = await call.deadline.bound(sending, candidate.backend.name)
                value = (wanted.parse(response.text, candidate.backend.name) if wanted
                         else response.text)
            except BackendError as exc:
                call.failed(record, exc, time.perf_counter() - began, shown)
                wait = self._retry_wait(exc, retry_number, call.deadline)
                if wait is None:
                    return None  # next candidate
                await loop.needed()
                await asyncio.sleep(wait)
                continue
            except BudgetExceededError:
                raise  # refused before sending: not an attempt
            except Exception as exc:  # a bug or an unexpected library error: log it, then raise
                call.failed(record, exc, time.perf_counter() - began, shown)
                raise
            if shown is not None:
                shown.flush()
            result = call.succeeded(record, candidate, response, value, time.perf_counter() - began,
                                    strategy.priced)
            if key is not None and self.cache is not None:
                self._cache_call(self.cache.set, key, _cache_entry(response, result))
            self._notify(result)
            return result
        return None

    def _strategy(self, candidate: Candidate, request: BackendRequest,
                  call: _CallContext) -> LimitedStrategy:
        """The backend's strategy behind the process-wide rate limiters."""
        def throttled(exc: BackendError, latency: float) -> None:  # a 429 waited out: log it
            call.failed(call.record(candidate, request.endpoint), exc, latency)

        max_tokens = request.params.get("max_tokens")
        output = max_tokens if isinstance(max_tokens, int) else 0
        ready = prepared(candidate)
        return LimitedStrategy(ready.strategy, ready.limiters, call.prompt_tokens + output,
                               self.retry, throttled)

    def _prechecked(self, resolution: Resolution, messages: Messages, tokens: int,
                    wanted: SchemaSpec | None) -> list[Candidate]:
        """Candidates that can take this request (of about ``tokens`` tokens); a clear error
        before sending if none."""
        parts = any(isinstance(message.get("content"), list) for message in messages)
        images = count_images(messages) if parts else 0  # text alone holds neither
        documents = count_documents(messages) if parts else 0
        usable, reasons = [], []
        for candidate in resolution.candidates:
            spec = candidate.spec
            if spec.model_type != "llm":
                reasons.append(f"{candidate.label} is a {spec.model_type} model, not a chat model")
            elif images and not spec.supports_images:
                reasons.append(f"{candidate.label} does not take images "
                               f"(inputs: {', '.join(spec.inputs)})")
            elif images and spec.max_prompt_images is not None and images > spec.max_prompt_images:
                reasons.append(f"{candidate.label} takes at most {spec.max_prompt_images} images")
            elif documents and "pdf" not in spec.inputs:
                reasons.append(f"{candidate.label} does not take PDF documents "
                               f"(inputs: {', '.join(spec.inputs)})")
            elif wanted and not spec.supports_structured:
                reasons.append(f"{candidate.label} has no structured output")
            elif spec.context_window and tokens > spec.context_window:
                reasons.append(f"the prompt (~{tokens:,} tokens) exceeds {candidate.label}'s "
                               f"context window of {spec.context_window:,} tokens")
            else:
                usable.append(candidate)
        for candidate in usable:  # parameters checked before anything is sent
            prepared(candidate)
        if not usable:
            raise RequestRejectedError(
                f"'{resolution.requested}' cannot take this request: " + "; ".join(reasons),
                hint="shorten the prompt or choose a model that fits (see %llm_models)",
            )
        return usable

    def _request(self, candidate: Candidate, messages: Messages, wanted: SchemaSpec | None,
                 timeout: float | NotGiven | None) -> BackendRequest:
        """The request for one candidate. ``timeout``: the call's (``None``: no limit);
        else the model's, the backend's, the session's."""
        backend = candidate.backend
        endpoint = backend.endpoint
        if len(backend.endpoints) > 1:  # round-robin across the backend's endpoints
            counter = self._round_robin.setdefault(backend.name, itertools.count())
            endpoint = backend.endpoints[next(counter) % len(backend.endpoints)]
        ready = prepared(candidate)
        return BackendRequest(
            backend=backend.name, provider=backend.provider, model_id=candidate.spec.model_id,
            messages=messages, params=ready.params, endpoint=endpoint, api_key=backend.api_key,
            key_variable=backend.key_variable,
            extra=backend.extra, schema=wanted.json_schema if wanted else None,
            timeout=given_or(timeout, candidate.spec.timeout or backend.timeout or self.timeout),
            prompt_cache=ready.prompt_cache,
        )

    @staticmethod
    def _cache_key(candidate: Candidate, messages: Messages, wanted: SchemaSpec | None,
                   sample: int | None) -> str:
        """The key of the request :meth:`_request` builds for ``candidate``."""
        return prepared(candidate).key.key(messages, wanted.json_schema if wanted else None,
                                           sample)

    def _cache_call(self, method: Callable[..., Any], *args: Any) -> Any:
        """A cache that stops working (Redis gone) degrades to no cache, with one warning."""
        try:
            return method(*args)
        except CacheError as exc:
            if not self._cache_warned:
                self._cache_warned = True
                logger.warning("llmdeck: the response cache failed, calls go on uncached: %s", exc)
            return None

    def _retry_wait(self, exc: BackendError, retry_number: int, deadline: Deadline) -> float | None:
        """Seconds to wait before retrying the same candidate, or None to move on."""
        if not exc.retryable or retry_number >= self.retry.attempts_per_candidate:
            return None
        if exc.retry_after is not None and exc.retry_after > self.retry.max_retry_after_s:
            return None
        wait = self.retry.delay(retry_number, exc.retry_after)
        return wait if deadline.allows_wait(wait) else None

    def _serve_hit(self, call: _CallContext, candidate: Candidate, hit: JsonObject,
                   wanted: SchemaSpec | None, started: float,
                   on_text: TextCallback | None) -> Result:
        record = call.record(candidate, None)
        text = hit["text"]
        if on_text is not None:
            on_text(redact(text))
        value = wanted.parse(text, candidate.backend.name) if wanted else text
        response = BackendResponse(text=text, input_tokens=hit.get("input_tokens"),
                                   output_tokens=hit.get("output_tokens"),
                                   model_id=hit.get("model_id"),
                                   finish_reason=hit.get("finish_reason"),
                                   provider_cost_usd=hit.get("provider_cost_usd"),
                                   tool_calls=hit.get("tool_calls"),
                                   cached_tokens=hit.get("cached_tokens"),
                                   cache_write_tokens=hit.get("cache_write_tokens"),
                                   reasoning_tokens=hit.get("reasoning_tokens"))
        result = call.cache_hit(record, candidate, response, value, time.perf_counter() - started,
                                hit.get("cost_usd"), hit.get("cost_source"))
        self._notify(result)
        return result

    def _notify(self, result: Result) -> None:
        for listener in list(self.listeners):
            try:
                listener(result)
            except Exception:  # a broken display hook must not break the call
                logger.exception("llmdeck listener failed")

    # --- conversations ---------------------------------------------------------------------

    @property
    def conversations(self) -> Conversations:
        """The conversations kept in the call log file; ``.current`` is the one chat continues."""
        if self._conversations is None:
            from llmdeck_nb.engine.conversation import Conversations

            self._conversations = Conversations(self.log)
        return self._conversations

    def chat(self, prompt: Prompt, model: str | None = None, *,
             conversation: str | None = None, on_text: TextCallback | None = None,
             **options: Any) -> Result:
        """:meth:`complete` with the current conversation's history (or ``conversation``'s),
        trimmed to the model's context window; the exchange is added to the conversation."""
        prepared = self._prepare_chat(prompt, model, conversation, options)
        result = self.complete(prepared.messages, model, on_text=on_text,
                               **{**options, "system": None})
        return self._finish_chat(prepared, result)

    async def achat(self, prompt: Prompt, model: str | None = None, *,
                    conversation: str | None = None, **options: Any) -> Result:
        prepared = self._prepare_chat(prompt, model, conversation, options)
        result = await self.acomplete(prepared.messages, model, **{**options, "system": None})
        return self._finish_chat(prepared, result)

    def _prepare_chat(self, prompt: Prompt, model: str | None, conversation: str | None,
                      options: dict[str, Any]) -> Prepared:
        from llmdeck_nb.engine.conversation import prepare, split_options

        call, params = split_options(options, Session.acomplete)
        resolution = self.resolve(model, call.get("preset"), call.get("profile"),
                                  structured=call.get("schema") is not None, **params)
        chat = self.conversations.get(conversation) if conversation else self.conversations.current
        return prepare(chat, prompt, resolution, call.get("system"))

    def _finish_chat(self, prepared: Prepared, result: Result) -> Result:
        from llmdeck_nb.engine.conversation import finish

        return finish(self.conversations, prepared, result)

    # --- many rows ---------------------------------------------------------------------------

    def batch(self, rows: Any, template: str, model: str | None = None,
              **options: Any) -> pd.DataFrame:
        """Run ``template`` over every row (see :func:`engine.batch.abatch` for the options);
        an interrupt (Ctrl-C, the kernel's stop button) returns the rows done so far."""
        from llmdeck_nb.engine.batch import run_batch

        return run_batch(self, rows, template, model, **options)

    async def abatch(self, rows: Any, template: str, model: str | None = None,
                     **options: Any) -> pd.DataFrame:
        from llmdeck_nb.engine.batch import abatch

        return await abatch(self, rows, template, model, **options)

    # --- the log and the cache -------------------------------------------------------------

    def calls(self, **filters: Any) -> pd.DataFrame:
        """The call log as a DataFrame: ``since``, ``model``, ``backend``, ``status``..."""
        return self.log.frame(**filters)

    def summary(self, **filters: Any) -> pd.DataFrame:
        """One row per backend/model: calls, errors, cache hit rate, p50/p95 latency, cost."""
        return self.log.summary(**filters)

    # --- live checks and comparisons -------------------------------------------------------

    def check(self, backends: Iterable[str] | None = None) -> pd.DataFrame:
        """One live probe per available backend (or the ones named): status and latency."""
        from llmdeck_nb.engine.probe import check_backends, probe_timeout

        frame = loop.run(check_backends(self.deck, backends, timeout=probe_timeout(self.timeout)))
        for row in frame.to_dict("records"):  # what %llm_reload and the load line show now
            self.reachability[row["backend"]] = row
        return frame

    def compare(self, prompt: Prompt, models: Sequence[str] | None = None,
                profiles: Sequence[str] | None = None, repeat: int = 1,
                **options: Any) -> pd.DataFrame:
        """Send one prompt to several targets at once; one row per target (and repeat)."""
        return loop.run(self.acompare(prompt, models, profiles, repeat, **options))

    async def acompare(self, prompt: Prompt,
                       models: Sequence[str] | None = None,
                       profiles: Sequence[str] | None = None, repeat: int = 1,
                       **options: Any) -> pd.DataFrame:
        """:meth:`compare` on the running event loop (``await`` it in a notebook or a script)."""
        from llmdeck_nb.engine.compare import compare

        return await compare(self, prompt, models, profiles, repeat, **options)

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
        self.log.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        cache = self.cache.location if self.cache is not None else "off"
        return (f"Session(profile={self.profile!r}, default_model={self.default_model!r}, "
                f"cache={cache}, log={self.log.path or 'memory'})")


class _CallContext:
    """Builds the log rows and the Result of one call; every attempt appends one row."""

    def __init__(self, session: Session, resolution: Resolution, prompt: str, stream: bool,
                 tags: tuple[str, ...], deadline: Deadline) -> None:
        self.session = session
        self.resolution = resolution
        self.stream = stream
        self.tags = tags
        self.call_id = os.urandom(16).hex()  # what uuid4().hex holds, without the UUID object
        self.prompt_preview = prompt
        self.prompt_hash = hash_prompt(prompt)
        self.prompt_tokens = estimate_tokens(prompt)
        self.cache_key: str | None = None
        self.attempts: list[Attempt] = []
        self.last_error: BackendError | None = None
        self.on_text: TextCallback | None = None
        self.on_reset: ResetCallback | None = None
        self.deadline = deadline

    def record(self, candidate: Candidate, endpoint: str | None) -> CallRecord:
        ready = prepared(candidate)
        return CallRecord(
            call_id=self.call_id, attempt=len(self.attempts) + 1, profile=self.resolution.profile,
            requested=self.resolution.requested, preset=self.resolution.preset,
            backend=candidate.backend.name, provider=candidate.backend.provider,
            model=candidate.model,
            model_id=candidate.spec.model_id,
            endpoint_host=host_of(endpoint) if endpoint else candidate.backend.endpoint_host,
            stream=self.stream, temperature=ready.temperature, max_tokens=ready.max_tokens,
            params=dict(ready.logged_params),
            prompt_hash=self.prompt_hash, prompt_preview=self.prompt_preview, tags=self.tags,
            session_id=self.session.id, cache_key=self.cache_key,
        )

    def failed(self, record: CallRecord, exc: Exception, latency: float,
               shown: StreamRedactor | None = None) -> None:
        """Log a failed attempt; text it already showed is withdrawn (``on_reset``)."""
        if isinstance(exc, BackendError):
            self.last_error = exc
        if shown is not None:
            shown.discard()
            if shown.emitted and self.on_reset is not None:
                self.on_reset()
        record.set_error(exc)
        record.latency_s = latency
        self.session.log.append(record)
        self.attempts.append(Attempt(record.attempt, record.model or "", record.backend or "",
                                     "error", record.error_type, record.error_message, latency))
        cause = exc.message if isinstance(exc, LLMDeckError) else redact(str(exc))
        logger.warning("call %s attempt %d: %s on %s failed: %s: %s", self.call_id[:8],
                       record.attempt, record.model, record.backend, record.error_type, cause)

    def succeeded(self, record: CallRecord, candidate: Candidate, response: BackendResponse,
                  value: Any, latency: float, priced: CallCost | None = None) -> Result:
        """The answer logged and made a Result; ``priced``: its cost, if already known."""
        priced = priced or _price(candidate, response)
        cost, source, provider_saved = priced.usd, priced.source, priced.provider_saved_usd
        saved = None
        if response.proxy_cache_hit:  # the proxy's own cache answered: nothing was spent
            record.cache_hit, record.cache_where, record.saved_cost_usd = True, "proxy", cost
            cost, saved, provider_saved = (0.0 if cost is not None else None), cost, None
        record.status, record.latency_s, record.ttft_s = "ok", latency, response.ttft_s
        record.http_status = response.http_status
        _record_usage(record, response)
        record.cost_usd, record.cost_source = cost, source
        record.provider_saved_usd = provider_saved
        record.response_preview = response.text
        self.session.log.append(record)
        self.attempts.append(Attempt(record.attempt, candidate.model, candidate.backend.name, "ok",
                                     latency_s=latency))
        logger.info("call %s: %s via %s in %.0f ms (%s+%s tokens, cost %s)%s", self.call_id[:8],
                    candidate.model, candidate.backend.name, latency * 1000, response.input_tokens,
                    response.output_tokens, cost,
                    " served from the proxy's cache" if record.cache_where else "")
        result = self._result(candidate, response, value, latency, cost, source,
                              cached=response.proxy_cache_hit)
        result.saved_cost_usd, result.cache_where = saved, record.cache_where
        result.provider_saved_usd = provider_saved
        return result

    def cache_hit(self, record: CallRecord, candidate: Candidate, response: BackendResponse,
                  value: Any, latency: float, first_cost: float | None = None,
                  first_source: str | None = None) -> Result:
        """A call not sent: it saved what it cost when first made (entries cached before
        llmdeck kept that figure: its price now)."""
        if first_cost is None or first_source is None:
            priced = _price(candidate, response)
            first_cost, first_source = priced.usd, priced.source
        saved, source = first_cost, first_source
        record.status, record.cache_hit, record.latency_s = "cache_hit", True, latency
        record.cache_where = "local"
        _record_usage(record, response)
        record.cost_usd, record.cost_source, record.saved_cost_usd = 0.0, source, saved
        record.response_preview = response.text
        self.session.log.append(record)
        self.attempts.append(Attempt(record.attempt, candidate.model, candidate.backend.name,
                                     "cache_hit", latency_s=latency))
        logger.info("call %s: %s via %s served from the cache in %.1f ms", self.call_id[:8],
                    candidate.model, candidate.backend.name, latency * 1000)
        result = self._result(candidate, response, value, latency, 0.0, source, cached=True)
        result.saved_cost_usd, result.cache_where = saved, "local"
        return result

    def _result(self, candidate: Candidate, response: BackendResponse, value: Any, latency: float,
                cost: float | None, source: str, *, cached: bool) -> Result:
        # The answer is shown, stored in `_llm` and saved with the notebook: scrub it too
        # (a model may quote a key back that the prompt contained).
        text = redact(response.text)
        return Result(
            text=text, value=text if value is response.text else redact_value(value),
            model=candidate.model, backend=candidate.backend.name,
            provider=candidate.backend.provider,
            model_id=response.model_id or candidate.spec.model_id,
            profile=self.resolution.profile, requested=self.resolution.requested,
            preset=self.resolution.preset, call_id=self.call_id, latency_s=latency,
            ttft_s=response.ttft_s, input_tokens=response.input_tokens,
            output_tokens=response.output_tokens, cached_tokens=response.cached_tokens,
            cache_write_tokens=response.cache_write_tokens,
            reasoning_tokens=response.reasoning_tokens,
            cost_usd=cost, cost_source=source, cached=cached,
            finish_reason=response.finish_reason, adjustments=candidate.adjustments,
            attempts=list(self.attempts), tool_calls=redact_value(response.tool_calls),
        )


def _cache_entry(response: BackendResponse, result: Result) -> dict[str, Any]:
    return {"text": response.text, "input_tokens": response.input_tokens,
            "output_tokens": response.output_tokens, "model_id": result.model_id,
            "finish_reason": response.finish_reason,
            "provider_cost_usd": response.provider_cost_usd,
            "cached_tokens": response.cached_tokens,
            "cache_write_tokens": response.cache_write_tokens,
            "reasoning_tokens": response.reasoning_tokens, "cost_usd": result.cost_usd,
            "cost_source": result.cost_source,
            "tool_calls": response.tool_calls, "created_at": time.time()}


def _price(candidate: Candidate, response: BackendResponse) -> CallCost:
    return call_cost(candidate.spec, response.input_tokens, response.output_tokens,
                     response.provider_cost_usd, cached_tokens=response.cached_tokens,
                     cache_write_tokens=response.cache_write_tokens)


def _record_usage(record: CallRecord, response: BackendResponse) -> None:
    record.input_tokens, record.output_tokens = response.input_tokens, response.output_tokens
    record.cached_tokens = response.cached_tokens
    record.cache_write_tokens = response.cache_write_tokens
    record.reasoning_tokens = response.reasoning_tokens


def _ignore(_: str) -> None:
    pass


async def _on_the_loop(attempt: Awaitable[T]) -> T:
    """``attempt`` with its I/O on the event loop, even in a call that may block
    (:data:`BLOCKING_IO`: strategies read it when they start)."""
    token = BLOCKING_IO.set(False)
    try:
        return await attempt
    finally:
        BLOCKING_IO.reset(token)


def _open_or_defer(spec: object) -> ResponseCache | None:
    """The response cache; a Redis that does not answer yet is a warning, not a failure:
    calls go on uncached and the cache is used as soon as it answers."""
    try:
        return open_cache(spec, default_dir=responses_dir())
    except CacheUnavailableError as exc:
        from llmdeck_nb.cache.deferred import DeferredCache

        logger.warning("llmdeck: %s; calls go on uncached and use the cache once it answers",
                       exc.message)
        return DeferredCache(lambda: open_cache(spec, default_dir=responses_dir()), exc)


def _log_path(log: str | Path | bool | None) -> Path | None:
    if log is False:
        return None
    if log is None or log is True:
        return call_log_path()
    return Path(log)


_default: Session | None = None


def default_session() -> Session:
    """The session the magics and the panel share (created on first use)."""
    global _default
    if _default is None:
        _default = Session()
    return _default


def set_default_session(session: Session | None) -> None:
    global _default
    _default = session


__all__ = ["Session", "default_session", "set_default_session"]
