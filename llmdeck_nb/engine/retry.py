"""When to try again, and how long to wait: exponential backoff with full jitter.

Retry decisions read the error's ``retryable`` flag (408, 429, 5xx, connection, timeouts,
cut answers), set by :func:`llmdeck_nb.backends.errors.is_retryable`; other 4xx and a
schema mismatch go straight to the next candidate.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    attempts_per_candidate: int = 3  # tries of one model on one backend (1 = no retry)
    max_attempts: int = 8  # every attempt of one call, all candidates together
    total_budget_s: float = 120.0  # a call gives up after this long, whatever is left
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    max_retry_after_s: float = 30.0  # a longer Retry-After moves on to the next candidate

    def delay(self, retry_number: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry ``retry_number`` (1-based)."""
        if retry_after is not None:
            return max(0.0, retry_after)
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (retry_number - 1))
        return random.uniform(0, ceiling)
