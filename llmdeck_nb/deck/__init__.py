"""The deck: a Pipelex-layout folder of TOML files, loaded, routed and validated.

The names below are imported on first use, so that ``llmdeck_nb.deck.locate`` (the
folder search order, which ``%load_ext`` needs) can be imported without pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmdeck_nb.lazy import lazy_getattr

if TYPE_CHECKING:
    from llmdeck_nb.deck.deck import Deck, load_deck
    from llmdeck_nb.deck.resolution import Candidate, Resolution
    from llmdeck_nb.deck.specs import BackendConfig, Costs, ModelSpec, Preset, RoutingProfile

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
}

__all__ = ["BackendConfig", "Candidate", "Costs", "Deck", "ModelSpec", "Preset", "Resolution",
           "RoutingProfile", "load_deck"]


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
