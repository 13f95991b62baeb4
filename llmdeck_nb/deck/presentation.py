"""Plain-data views of a deck: routing rows, the models table, the summary text.

The CLI, ``validate``, the server's /api/routes and the notebook front end read these; why
a model cannot be called comes from :func:`~llmdeck_nb.deck.verdict.serving_verdict`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from llmdeck_nb.deck.deck import Deck
from llmdeck_nb.deck.specs import ModelSpec
from llmdeck_nb.deck.verdict import Served, Unservable, Verdicts, served_on
from llmdeck_nb.errors import LLMDeckError


@dataclass(frozen=True, slots=True)
class RoutingRow:
    model: str
    backend: str | None  # where the profile routes it
    rule: str  # which route decided
    spec: ModelSpec | None  # the routed backend's spec, even when it cannot be called
    unservable: Unservable | None  # why it cannot be called, None when it can

    @property
    def callable(self) -> bool:
        return self.unservable is None

    @property
    def why_not(self) -> str | None:
        return self.unservable.text if self.unservable else None


def routing_rows(deck: Deck, profile: str | None = None) -> list[RoutingRow]:
    """Every model name, where ``profile`` routes it, and whether it can be called."""
    name = profile or deck.active_profile
    router, verdict = deck.router(name), Verdicts(deck, name)
    rows = []
    for model in deck.model_names:
        match = router.match(model)
        found = verdict(model, match)
        if isinstance(found, Served):
            rows.append(RoutingRow(model, match.backend, match.rule, found.spec, None))
            continue
        backend = deck.backends.get(match.backend) if match.backend else None
        spec = deck.spec_on(model, backend) if backend else None
        rows.append(RoutingRow(model, match.backend, match.rule, spec, found))
    return rows


def references(deck: Deck) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Which aliases and which presets can reach each model name."""
    by_alias: dict[str, list[str]] = {}
    by_preset: dict[str, list[str]] = {}
    for mapping, names in ((by_alias, deck.aliases), (by_preset, deck.presets)):
        for name in names:
            target = name if mapping is by_alias else deck.presets[name].model
            try:
                models = {model for model, _ in deck.expand(target)}
            except LLMDeckError:  # a cycle, a runaway chain, a wrong sigil: validate reports it
                continue
            for model in models:
                mapping.setdefault(model, []).append(name)
    return by_alias, by_preset


def models_table(deck: Deck, profile: str | None = None) -> list[dict[str, Any]]:
    """One row per model: what ``llmdeck models`` and ``%llm_models`` show. ``backend`` is
    the backend that really serves the model under ``profile`` (the routed one, or the
    fallback_order one that lists it), else the one whose file defines it; prices are the
    deck's own (a demo stand-in shows the prices of the model it stands in for)."""
    by_alias, by_preset = references(deck)
    rows = []
    for row in routing_rows(deck, profile):
        backend, spec, note = _served(deck, row, profile)
        own = _own_spec(deck, row.model) if spec is None or spec.mirrored else spec
        if spec is not None and spec.mirrored and own is not None:
            note = f"offline demo stand-in (prices: {own.backend}'s)"
        shown = own or spec
        costs = shown.costs if shown else None
        rows.append({
            "model": row.model,
            "type": shown.model_type if shown else None,
            "backend": backend,
            "available": row.callable or note.startswith("served by fallback_order"),
            "model_id": (spec or shown).model_id if shown else None,
            "inputs": ",".join(shown.inputs) if shown else "",
            "outputs": ",".join(shown.outputs) if shown else "",
            "input_usd_per_1m": costs.input if costs else None,
            "output_usd_per_1m": costs.output if costs else None,
            "max_tokens": shown.max_tokens if shown else None,
            "context_window": shown.context_window if shown else None,
            "aliases": ",".join(sorted(by_alias.get(row.model, []))),
            "presets": ",".join(sorted(by_preset.get(row.model, []))),
            "note": note,
        })
    return rows


def _served(deck: Deck, row: RoutingRow,
            profile: str | None) -> tuple[str | None, ModelSpec | None, str]:
    """(backend, its spec, note) for one routing row."""
    if row.spec is not None:  # the routed backend lists it: callable, or why not
        return row.backend, row.spec, row.why_not or ""
    for name in deck.routing_profile(profile).fallback_order:
        served = served_on(deck, row.model, name)
        if served is not None:
            return name, served.spec, f"served by fallback_order ({row.why_not})"
    own = _own_spec(deck, row.model)
    why = row.why_not
    return (own.backend if own else None), None, f"not served under this profile: {why}"


def _own_spec(deck: Deck, model: str) -> ModelSpec | None:
    """The model's spec in the file of a backend that lists it (not a borrowed copy)."""
    for specs in deck.specs.values():
        spec = specs.get(model)
        if spec is not None and not spec.mirrored:
            return spec
    return None


def deck_summary(deck: Deck, profile: str | None = None) -> str:
    """The few lines a user reads first: where the deck is, what works, what does not."""
    name = profile or deck.active_profile
    lines = [f"llmdeck deck: {deck.folder} ({deck.origin})"]
    known = name in deck.profiles
    description = deck.profiles[name].description if known else "NOT DEFINED"
    source = deck.active_source if profile is None else "argument"
    lines.append(f"active profile: {name} (from {source}) - {description}")
    available = deck.available_backends
    lines.append(f"backends: {len(available)} of {len(deck.backends)} available")
    width = max((len(b) for b in deck.backends), default=8)
    for backend in deck.backends.values():
        mark = "ok " if backend.available else "-- "
        detail = backend.display_name if backend.available else backend.unavailable_reason
        lines.append(f"  {mark}{backend.name:<{width}}  {detail}")
    if known:
        rows = routing_rows(deck, name)
        routed: dict[str, int] = {}
        for row in rows:
            if row.callable:
                routed[row.backend or "?"] = routed.get(row.backend or "?", 0) + 1
        spread = ", ".join(f"{b}: {n}" for b, n in sorted(routed.items()))
        lines.append(f"models: {len(rows)} defined, {sum(routed.values())} callable under "
                     f"'{name}' ({spread or 'none'})")
    else:
        lines.append(f"profiles available: {', '.join(deck.profiles)}")
    lines.append(f"aliases: {len(deck.aliases)} ({_preview(deck.aliases)})")
    lines.append(f"presets: {len(deck.presets)} ({_preview(deck.presets)})")
    if deck.choice_defaults:
        lines.append("defaults: "
                     + ", ".join(f"{k} = {v}" for k, v in deck.choice_defaults.items()))
    errors = sum(p.severity == "error" for p in deck.problems)
    warnings = sum(p.severity == "warning" for p in deck.problems)
    if errors or warnings:
        lines.append(f"problems: {errors} error(s), {warnings} warning(s): run `llmdeck validate`")
    return "\n".join(lines)


def _preview(names: Iterable[str], limit: int = 6) -> str:
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (", ..." if len(names) > limit else "")
