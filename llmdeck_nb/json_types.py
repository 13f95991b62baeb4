"""Names for the JSON shapes that cross module boundaries: request and answer bodies, cache
entries, chat messages.

The values stay open (``Any``): JSON is checked where it is read (the backends' answer parsers,
the server's request checks, the cache's decoder), so these names say what a dict holds rather
than promise the type of each value.
"""

from __future__ import annotations

from typing import Any

JsonObject = dict[str, Any]
"""A decoded JSON object (``{"role": "user", "content": "..."}``, a request body, a cache entry)."""

__all__ = ["JsonObject"]
