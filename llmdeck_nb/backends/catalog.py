"""Provider defaults: which strategy, litellm prefix, endpoint and key variable each known
backend name uses. A plain table: adding a provider is one entry.

The variable names are the ones the packaged deck (default_deck/inference/backends.toml)
reads, so messages and docs name what the user really sets (a test checks it).
A deck's ``[backends.<name>]`` may override any of these (``strategy``, ``provider``,
``endpoint``, ``api_key``); a name not listed here works as an OpenAI-compatible server as
soon as it has an ``endpoint``.

Some backends of real Pipelex folders cannot be called from llmdeck at all (``internal``
runs software inside Pipelex; ``pipelex_gateway`` has no public endpoint and its model
list comes from Pipelex's servers; ``fal`` and ``linkup`` are not LLM APIs): they carry a
``not_callable`` note, load without a warning, are never contacted, and routing skips
them with a message naming a profile to switch to.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmdeck_nb.errors import UnknownStrategyError

OPENAI_COMPATIBLE = "openai_compatible"
LITELLM = "litellm"
DEMO = "demo"
NOT_CALLABLE = "none"
STRATEGIES = (OPENAI_COMPATIBLE, LITELLM, DEMO)


@dataclass(frozen=True, slots=True)
class ProviderDefaults:
    strategy: str  # "openai_compatible" | "litellm" | "demo"
    provider: str  # provider family; the litellm model prefix for the litellm strategy
    endpoint: str | None  # default base URL (None: must come from the deck / environment)
    key_vars: tuple[str, ...] = ()  # API key variables, first one set wins
    key_required: bool = True  # False: local servers that accept any or no key
    other_vars: tuple[str, ...] = ()  # other variables the provider usually needs
    not_callable: str | None = None  # why llmdeck cannot call it ("Pipelex-internal", ...)
    remote_catalogue: bool = False  # its models are listed by the provider's servers only


_O, _L = OPENAI_COMPATIBLE, LITELLM

PROVIDER_CATALOG: dict[str, ProviderDefaults] = {
    # OpenAI-compatible HTTP, spoken directly over httpx
    "openai": ProviderDefaults(_O, "openai", "https://api.openai.com/v1", ("OPENAI_API_KEY",),
                               other_vars=("OPENAI_BASE_URL",)),
    "cerebras": ProviderDefaults(_O, "cerebras", "https://api.cerebras.ai/v1",
                                 ("CEREBRAS_API_KEY",)),
    "groq": ProviderDefaults(_O, "groq", "https://api.groq.com/openai/v1", ("GROQ_API_KEY",)),
    "xai": ProviderDefaults(_O, "xai", "https://api.x.ai/v1", ("XAI_API_KEY",)),
    "scaleway": ProviderDefaults(_O, "scaleway", "https://api.scaleway.ai/v1",
                                 ("SCALEWAY_API_KEY",), other_vars=("SCALEWAY_ENDPOINT",)),
    "blackboxai": ProviderDefaults(_O, "blackboxai", "https://api.blackbox.ai/v1",
                                   ("BLACKBOX_API_KEY",)),
    "huggingface": ProviderDefaults(_O, "huggingface", "https://router.huggingface.co/v1",
                                    ("HF_TOKEN",)),
    "perplexity": ProviderDefaults(_O, "perplexity", "https://api.perplexity.ai",
                                   ("PERPLEXITY_API_KEY",)),
    # Pipelex's own OpenAI-compatible service (0.10 to 2025; "legacy" in 2026 folders)
    "pipelex_inference": ProviderDefaults(_O, "openai", "https://inference.pipelex.com/v1",
                                          ("PIPELEX_INFERENCE_API_KEY",)),
    # Portkey's gateway takes the Portkey key as the bearer token; a spec's
    # `x-portkey-provider = "@openai"` becomes the model "@openai/<model_id>".
    "portkey": ProviderDefaults(_O, "portkey", "https://api.portkey.ai/v1", ("PORTKEY_API_KEY",)),
    "openrouter": ProviderDefaults(_O, "openrouter", "https://openrouter.ai/api/v1",
                                   ("OPENROUTER_API_KEY",)),
    "lmstudio": ProviderDefaults(_O, "lm_studio", "http://localhost:1234/v1", (),
                                 key_required=False, other_vars=("LMSTUDIO_BASE_URL",)),
    "ollama": ProviderDefaults(_O, "ollama", "http://localhost:11434/v1", (),
                               key_required=False, other_vars=("OLLAMA_BASE_URL",)),
    "vllm": ProviderDefaults(_O, "hosted_vllm", "http://localhost:8000/v1",
                             ("VLLM_API_KEY",), key_required=False),
    "self_hosted": ProviderDefaults(_O, "openai", None, ("LLMDECK_SELF_HOSTED_KEY",),
                                    key_required=False, other_vars=("LLMDECK_SELF_HOSTED_URL",)),
    # through the litellm SDK (its own wire protocols)
    "anthropic": ProviderDefaults(_L, "anthropic", "https://api.anthropic.com",
                                  ("ANTHROPIC_API_KEY",)),
    "azure_openai": ProviderDefaults(_L, "azure", None, ("AZURE_API_KEY",),
                                     other_vars=("AZURE_API_BASE", "AZURE_API_VERSION")),
    "google": ProviderDefaults(_L, "gemini", "https://generativelanguage.googleapis.com/v1beta",
                               ("GEMINI_API_KEY", "GOOGLE_API_KEY")),
    "vertexai": ProviderDefaults(_L, "vertex_ai", None, ("GOOGLE_APPLICATION_CREDENTIALS",),
                                 key_required=False,
                                 other_vars=("GCP_PROJECT_ID", "GCP_LOCATION")),
    "bedrock": ProviderDefaults(_L, "bedrock", None, ("AWS_SECRET_ACCESS_KEY",),
                                key_required=False,
                                other_vars=("AWS_ACCESS_KEY_ID", "AWS_REGION",
                                            "AWS_DEFAULT_REGION")),
    "mistral": ProviderDefaults(_L, "mistral", "https://api.mistral.ai/v1", ("MISTRAL_API_KEY",)),
    # offline
    "demo": ProviderDefaults(DEMO, "demo", None, (), key_required=False),
    # in real Pipelex folders, but not callable from llmdeck
    "internal": ProviderDefaults(NOT_CALLABLE, "internal", None, key_required=False,
                                 not_callable="Pipelex-internal: software-only models run inside "
                                              "Pipelex"),
    "pipelex_gateway": ProviderDefaults(NOT_CALLABLE, "pipelex_gateway", None,
                                        ("PIPELEX_GATEWAY_API_KEY",),
                                        not_callable="remote catalogue: Pipelex's servers list its "
                                                     "models", remote_catalogue=True),
    "fal": ProviderDefaults(NOT_CALLABLE, "fal", None, ("FAL_API_KEY",),
                            not_callable="image generation API, not an LLM API"),
    "linkup": ProviderDefaults(NOT_CALLABLE, "linkup", None, ("LINKUP_API_KEY",),
                               not_callable="web search API, not an LLM API"),
}


def strategy_for(backend_name: str, explicit_strategy: str | None, endpoint: str | None) -> str:
    """The strategy a backend uses: the deck's explicit choice, else the catalog's, else
    ``openai_compatible`` for an unknown name that has an endpoint. Error messages are
    worded to follow "backend 'name' is ..."."""
    if explicit_strategy:
        if explicit_strategy not in STRATEGIES:
            raise UnknownStrategyError(
                f"configured with an unknown strategy '{explicit_strategy}'",
                hint="use one of: " + ", ".join(STRATEGIES),
            )
        return explicit_strategy
    known = PROVIDER_CATALOG.get(backend_name)
    if known is not None:
        return known.strategy
    if endpoint:
        return OPENAI_COMPATIBLE
    raise UnknownStrategyError(
        "not a known provider and has no endpoint",
        hint="set `endpoint = \"http://host:port/v1\"` for an OpenAI-compatible server, or "
             "`strategy`/`provider`; known backends: " + ", ".join(sorted(PROVIDER_CATALOG)),
    )
