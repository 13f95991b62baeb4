"""The deck: a Pipelex-layout folder of TOML files, loaded, routed and validated.

The names below are imported on first use, so that ``llmdeck_nb.deck.locate`` (the
folder search order, which ``%load_ext`` needs) can be imported without pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmdeck_nb.lazy import lazy_dir, lazy_getattr

if TYPE_CHECKING:
    from llmdeck_nb.deck.deck import Deck, load_deck
    from llmdeck_nb.deck.presentation import deck_summary, models_table
    from llmdeck_nb.deck.resolution import Candidate, Resolution
    from llmdeck_nb.deck.specs import BackendConfig, Costs, ModelSpec, Preset, RoutingProfile
    from llmdeck_nb.deck.validation import ValidationReport, validate_deck
    from llmdeck_nb.deck.verdict import Reason, Served, Unservable, serving_verdict

_EXPORTS = {
    "Deck": "llmdeck_nb.deck.deck",
    "load_deck": "llmdeck_nb.deck.deck",
    "Candidate": "llmdeck_nb.deck.resolution",
    "Resolution": "llmdeck_nb.deck.resolution",
    "BackendConfig": "llmdeck_nb.deck.specs",
    "Costs": "llmdeck_nb.deck.specs",
    "ModelSpec": "llmdeck_nb.deck.specs",
    "Preset": "llmdeck_nb.deck.specs",
    "RoutingProfile": "llmdeck_nb.deck.specs",
    "deck_summary": "llmdeck_nb.deck.presentation",
    "models_table": "llmdeck_nb.deck.presentation",
    "ValidationReport": "llmdeck_nb.deck.validation",
    "validate_deck": "llmdeck_nb.deck.validation",
    "Reason": "llmdeck_nb.deck.verdict",
    "Served": "llmdeck_nb.deck.verdict",
    "Unservable": "llmdeck_nb.deck.verdict",
    "serving_verdict": "llmdeck_nb.deck.verdict",
}

__all__ = ["BackendConfig", "Candidate", "Costs", "Deck", "ModelSpec", "Preset", "Reason",
           "Resolution", "RoutingProfile", "Served", "Unservable", "ValidationReport",
           "deck_summary", "load_deck", "models_table", "serving_verdict", "validate_deck"]


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
__dir__ = lazy_dir(__all__, globals())
