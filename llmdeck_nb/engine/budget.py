"""Spending limits in USD, checked before each request is sent.

Limits, all optional: per call (``max_cost_usd=``), per batch (``budget_usd=`` of
:meth:`Session.batch`), per session (``Session(budget_usd=...)``, ``%llm_budget 5``,
the deck's ``[budget] session_usd``) and per day (``[budget] daily_usd``: what every
session spent today, read from the persistent call log, so a kernel restart does not
reset it).

Before an attempt goes out, its worst case (estimated prompt tokens x input price +
``max_tokens`` x output price, from the deck, through :func:`engine.cost.call_cost`) is
*reserved* against every limit; if it could pass one, the call is refused with
:class:`BudgetExceededError` and nothing is sent. When the answer arrives the reservation
is replaced by the real cost. Reservations make concurrent calls (a batch) safe: 32 calls
in flight cannot together pass a limit that each alone would respect. Cache hits never
reach this module (they cost nothing). A model without a deck price is refused while a
limit is set, unless ``allow_unknown_prices``.
"""

from __future__ import annotations

import math
import threading
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from llmdeck_nb.backends.base import BackendRequest, BackendResponse, BackendStrategy, TextCallback
from llmdeck_nb.engine.cost import CallCost, call_cost
from llmdeck_nb.engine.messages import estimate_tokens, text_of
from llmdeck_nb.engine.result import format_cost
from llmdeck_nb.errors import BudgetExceededError, UnknownPriceError

if TYPE_CHECKING:
    from llmdeck_nb.calllog.store import CallLog
    from llmdeck_nb.deck import Candidate
    from llmdeck_nb.deck.specs import ModelSpec

#: output tokens assumed when neither the call nor the deck gives ``max_tokens``
DEFAULT_MAX_OUTPUT_TOKENS = 4096
#: how often the daily total is read again from the log (other kernels spend too)
DAILY_REFRESH_S = 2.0

_HINTS = {
    "call": "raise max_cost_usd=, or lower max_tokens",
    "batch": "raise the batch's budget_usd=, or run the remaining rows later",
    "session": "raise it with %llm_budget 10 (or Session(budget_usd=...), [budget] session_usd in "
               "the deck), or lower max_tokens",
    "daily": "raise [budget] daily_usd in the deck (%llm_budget --daily 50), or wait until "
             "tomorrow",
}


def worst_case_usd(spec: ModelSpec, request: BackendRequest) -> float | None:
    """The most this request can cost at the deck's prices; None when the deck has none."""
    if spec.costs is None:
        return None
    max_tokens = request.params.get("max_tokens")
    output = (max_tokens if isinstance(max_tokens, int) else spec.output_token_limit
              or DEFAULT_MAX_OUTPUT_TOKENS)
    return call_cost(spec, estimate_tokens(text_of(request.messages)), output).usd


@dataclass
class Allowance:
    """One limit and what has been spent and reserved against it."""

    kind: str  # call | batch | session | daily
    limit: float | None
    spent: float = 0.0
    reserved: float = 0.0

    @property
    def unreserved(self) -> float:
        """What a new reservation may still take (no limit: unbounded)."""
        return math.inf if self.limit is None else self.limit - self.spent - self.reserved

    @property
    def left(self) -> float | None:
        return None if self.limit is None else max(0.0, self.limit - self.spent)


@dataclass
class Reservation:
    allowances: list[Allowance] = field(default_factory=list)
    amount: float = 0.0


#: the batch allowance of the calls a batch makes (set by engine/batch.py for its workers)
batch_allowance: ContextVar[Allowance | None] = ContextVar("llmdeck_batch_allowance", default=None)


class Budget:
    """The spending limits of one Session (see the module docstring)."""

    def __init__(self, session_usd: float | None = None, daily_usd: float | None = None, *,
                 allow_unknown_prices: bool = False, log: CallLog | None = None,
                 session_id: str | None = None) -> None:
        self.session = Allowance("session", session_usd)
        self.daily = Allowance("daily", daily_usd)
        self.allow_unknown_prices = allow_unknown_prices
        self._log, self._session_id = log, session_id
        self._others_today = 0.0  # what other sessions spent today (from the log)
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def set_limit(self, kind: str, usd: float | None) -> None:
        """Change the ``"session"`` or ``"daily"`` limit (None: no limit)."""
        if usd is not None and not usd >= 0:
            raise BudgetExceededError(f"a {kind} budget must be 0 or more dollars, not {usd!r}",
                                      hint="e.g. %llm_budget 5.00, or %llm_budget off")
        {"session": self.session, "daily": self.daily}[kind].limit = usd

    @property
    def spent(self) -> float:
        """What this session has spent on answers (cache hits are free)."""
        return self.session.spent

    def spent_today(self) -> float:
        """Every session's spending since local midnight (this one's included)."""
        self._refresh_daily(force=True)
        return self._others_today + self.session.spent

    def _refresh_daily(self, force: bool = False) -> None:
        if self._log is None or (self.daily.limit is None and not force):
            return
        now = time.monotonic()
        if force or now - self._read_at > DAILY_REFRESH_S:
            midnight = datetime.now().astimezone().replace(hour=0, minute=0, second=0,
                                                           microsecond=0)
            self._others_today = self._log.cost_since(midnight, exclude_session=self._session_id)
            self._read_at = now
        self.daily.spent = self._others_today + self.session.spent

    # --- before and after sending --------------------------------------------------------

    def reserve(self, candidate: Candidate, request: BackendRequest,
                max_cost_usd: float | None = None) -> Reservation:
        """Book this attempt's worst case against every limit, or refuse it (nothing sent)."""
        if (max_cost_usd is None and self.session.limit is None and self.daily.limit is None
                and batch_allowance.get() is None):
            return Reservation()  # no limit at all: nothing to book
        allowances = [a for a in (Allowance("call", max_cost_usd), batch_allowance.get(),
                                  self.session, self.daily) if a is not None
                      and a.limit is not None]
        if not allowances:
            return Reservation()
        worst = worst_case_usd(candidate.spec, request)
        if worst is None:
            if self.allow_unknown_prices:
                return Reservation()
            raise _unknown_price(candidate)
        with self._lock:
            self._refresh_daily()
            for allowance in allowances:
                if worst > allowance.unreserved + 1e-12:
                    raise _exceeded(candidate, allowance, worst)
            for allowance in allowances:
                allowance.reserved += worst
        return Reservation(allowances, worst)

    def settle(self, reservation: Reservation, cost: float) -> None:
        """Replace the reservation by the real cost (0 for a failed attempt)."""
        with self._lock:
            for allowance in reservation.allowances:
                allowance.reserved -= reservation.amount
                if allowance is not self.session and allowance is not self.daily:
                    allowance.spent += cost
            self.session.spent += cost
            self.daily.spent += cost

    def describe(self) -> str:
        """``session: $0.0123 spent of $5.00 ($4.9877 left); today: ...`` (for %llm_budget)."""
        parts = [_line("session", self.session.spent, self.session.limit)]
        if self.daily.limit is not None or self._log is not None:
            parts.append(_line("today", self.spent_today(), self.daily.limit))
        if self.allow_unknown_prices:
            parts.append("models without a price allowed")
        return "; ".join(parts)


def _line(label: str, spent: float, limit: float | None) -> str:
    if limit is None:
        return f"{label}: {format_cost(spent)} spent, no limit"
    return (f"{label}: {format_cost(spent)} spent of ${limit:.2f} "
            f"({format_cost(max(0.0, limit - spent))} left)")


def _exceeded(candidate: Candidate, allowance: Allowance, worst: float) -> BudgetExceededError:
    left = max(0.0, allowance.unreserved)
    in_flight = (f", {format_cost(allowance.reserved)} reserved by calls in flight"
                 if allowance.reserved else "")
    return BudgetExceededError(
        f"budget: this call to {candidate.label} could cost up to {format_cost(worst)}, more than "
        f"the {format_cost(left)} left of the {allowance.kind} budget of "
        f"{format_cost(allowance.limit)} ({format_cost(allowance.spent)} spent{in_flight}); "
        "nothing was sent",
        limit=allowance.kind, spent=allowance.spent, left=left, worst_case=worst,
        hint=_HINTS[allowance.kind])


def _unknown_price(candidate: Candidate) -> UnknownPriceError:
    spec = candidate.spec
    return UnknownPriceError(
        f"budget: {candidate.label} has no price in the deck, so what this call costs is unknown "
        f"and a budget is set; nothing was sent",
        limit="price",
        hint=f"add costs = {{ input = ..., output = ... }} (USD per 1M tokens) to [{spec.name}] in "
             f"{spec.source or 'backends/' + spec.backend + '.toml'}, or allow it: "
             "%llm_budget --allow-unknown-prices (Session(allow_unknown_prices=True), "
             "[budget] allow_unknown_prices = true)")


class BudgetedStrategy(BackendStrategy):
    """A strategy whose attempts are reserved against the budget, then settled."""

    kind = "budgeted"

    def __init__(self, inner: BackendStrategy, budget: Budget, candidate: Candidate,
                 max_cost_usd: float | None) -> None:
        self.inner, self.budget, self.candidate, self.max_cost_usd = (inner, budget, candidate,
                                                                      max_cost_usd)
        self.blocking_complete = inner.blocking_complete
        self.priced: CallCost | None = None  # the last answer's cost (the engine reports it)

    async def complete(self, request: BackendRequest) -> BackendResponse:
        reservation = self.budget.reserve(self.candidate, request, self.max_cost_usd)
        cost = 0.0
        try:
            response = await self.inner.complete(request)
            cost = self._cost(response)
            return response
        finally:
            self.budget.settle(reservation, cost)

    async def stream(self, request: BackendRequest, on_text: TextCallback) -> BackendResponse:
        reservation = self.budget.reserve(self.candidate, request, self.max_cost_usd)
        cost = 0.0
        try:
            response = await self.inner.stream(request, on_text)
            cost = self._cost(response)
            return response
        finally:
            self.budget.settle(reservation, cost)

    def _cost(self, response: BackendResponse) -> float:
        self.priced = call_cost(self.candidate.spec, response.input_tokens,
                                response.output_tokens, response.provider_cost_usd,
                                cached_tokens=response.cached_tokens,
                                cache_write_tokens=response.cache_write_tokens)
        return self.priced.usd or 0.0


__all__ = ["Allowance", "Budget", "BudgetedStrategy", "batch_allowance", "worst_case_usd"]
