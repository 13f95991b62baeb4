"""The deck: a Pipelex-layout folder of TOML files, loaded, routed and validated."""

from llmdeck_nb.deck.deck import Deck, load_deck
from llmdeck_nb.deck.resolution import Candidate, Resolution
from llmdeck_nb.deck.specs import BackendConfig, Costs, ModelSpec, Preset, RoutingProfile

__all__ = ["BackendConfig", "Candidate", "Costs", "Deck", "ModelSpec", "Preset", "Resolution",
           "RoutingProfile", "load_deck"]
