"""Route matching: which backend a routing profile gives a model name.

Order (Pipelex rules): an exact name first; then patterns in file order, first match
wins; then the profile's ``default``. Patterns: ``*`` (anything), ``prefix*``,
``*suffix``, ``*contains*``; a ``*`` anywhere else is a literal character.
Optional routes count only when their backend is available.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass

from llmdeck_nb.deck.specs import Route, RoutingProfile


def _matcher(pattern: str) -> Callable[[str], bool] | None:
    """A predicate for a wildcard pattern, or None for an exact name."""
    if pattern == "*":
        return lambda name: True
    starts, ends = pattern.startswith("*"), pattern.endswith("*")
    if starts and ends and len(pattern) > 2:
        inner = pattern[1:-1]
        return lambda name: inner in name
    if ends:
        prefix = pattern[:-1]
        return lambda name: name.startswith(prefix)
    if starts:
        suffix = pattern[1:]
        return lambda name: name.endswith(suffix)
    return None


@dataclass(frozen=True)
class RouteMatch:
    backend: str | None
    rule: str  # "exact 'gpt-4o'", "pattern 'claude-*'", "default", "no route"


class Router:
    """A profile compiled for fast lookups, given which backends are available."""

    def __init__(self, profile: RoutingProfile, available: Container[str]) -> None:
        self.profile = profile
        self._exact: dict[str, str] = {}
        self._patterns: list[tuple[str, Callable[[str], bool], str]] = []
        for route in profile.routes:
            if route.optional and route.backend not in available:
                continue
            match = _matcher(route.pattern)
            if match is None:
                self._exact.setdefault(route.pattern, route.backend)
            else:
                self._patterns.append((route.pattern, match, route.backend))

    def match(self, model: str) -> RouteMatch:
        backend = self._exact.get(model)
        if backend is not None:
            return RouteMatch(backend, f"exact '{model}'")
        for pattern, matches, backend in self._patterns:
            if matches(model):
                return RouteMatch(backend, f"pattern '{pattern}'")
        if self.profile.default:
            return RouteMatch(self.profile.default, "default")
        return RouteMatch(None, "no route")


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
