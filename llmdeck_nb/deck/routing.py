"""Route matching: which backend a routing profile gives a model name.

Order (Pipelex rules): an exact name first; then patterns in file order, first match
wins; then the profile's ``default``. Patterns: ``*`` (anything), ``prefix*``,
``*suffix``, ``*contains*``; a ``*`` anywhere else is a literal character.
Optional routes count only when their backend is available.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass
from operator import methodcaller

from llmdeck_nb.deck.specs import Route, RoutingProfile


def _matcher(pattern: str) -> Callable[[str], bool] | None:
    """A predicate for a wildcard pattern, or None for an exact name (bound ``str``
    methods where one fits: a router matches every model of a deck, 10,000 in a big one)."""
    if pattern == "*":
        return lambda name: True
    starts, ends = pattern.startswith("*"), pattern.endswith("*")
    if starts and ends and len(pattern) > 2:
        return methodcaller("__contains__", pattern[1:-1])  # name.__contains__(inner)
    if ends:
        return methodcaller("startswith", pattern[:-1])
    if starts:
        return methodcaller("endswith", pattern[1:])
    return None


@dataclass(frozen=True, slots=True)
class RouteMatch:
    backend: str | None
    rule: str  # "exact 'gpt-4o'", "pattern 'claude-*'", "default", "no route"


class Router:
    """A profile compiled for fast lookups, given which backends are available. Each
    route's :class:`RouteMatch` is built once, here, and shared by every name it matches."""

    def __init__(self, profile: RoutingProfile, available: Container[str]) -> None:
        self.profile = profile
        self._exact: dict[str, RouteMatch] = {}
        self._patterns: list[tuple[Callable[[str], bool], RouteMatch]] = []
        for route in profile.routes:
            if route.optional and route.backend not in available:
                continue
            match = _matcher(route.pattern)
            if match is None:
                self._exact.setdefault(route.pattern,
                                       RouteMatch(route.backend, f"exact '{route.pattern}'"))
            else:
                self._patterns.append((match, RouteMatch(route.backend,
                                                         f"pattern '{route.pattern}'")))
        self._otherwise = (RouteMatch(profile.default, "default") if profile.default
                           else RouteMatch(None, "no route"))

    def match(self, model: str) -> RouteMatch:
        found = self._exact.get(model)
        if found is not None:
            return found
        for matches, found in self._patterns:
            if matches(model):
                return found
        return self._otherwise


def pattern_problem(pattern: str) -> str | None:
    """Why a route pattern cannot mean what its author meant, or None."""
    if pattern == "*":
        return None
    core = pattern[1:] if pattern.startswith("*") else pattern
    core = core[:-1] if core.endswith("*") else core
    if not core:
        return "matches only model names that start with '*': write \"*\" to match every model"
    if "*" in core:
        return ("has a '*' that is not at its start or end; that '*' is matched literally, so it "
                "matches only model names that contain '*'")
    return None


def parse_routes(table: dict[str, object], *, optional: bool) -> tuple[Route, ...]:
    """Routes in file order (TOML tables keep insertion order)."""
    return tuple(Route(pattern=p, backend=str(b), optional=optional) for p, b in table.items())
