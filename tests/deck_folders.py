"""Deck folders written by the tests: the seed's examples verbatim, and helpers."""

from __future__ import annotations

import textwrap
from pathlib import Path

# --- The seed document's own examples, verbatim (shared/seeds, Pipelex 0.10 layout) ---

SEED_BACKENDS = '''
[openai]
enabled = true
api_key = "${OPENAI_API_KEY}"

[anthropic]
enabled = true
api_key = "${ANTHROPIC_API_KEY}"

[azure_openai]
enabled = true
endpoint = "${AZURE_API_BASE}"
api_key = "${AZURE_API_KEY}"
api_version = "${AZURE_API_VERSION}"

[pipelex_inference]
enabled = true
api_key = "${PIPELEX_INFERENCE_API_KEY}"
'''

SEED_OPENAI_SPECS = '''
# openai.toml
[models.gpt-4o-mini]
model_id = "gpt-4o-mini"
sdk = "openai"
inputs = ["text", "images"]
outputs = ["text", "structured"]
costs = { input = 0.00015, output = 0.0006 }
max_tokens = 128000
max_prompt_images = 100

[models.gpt-4-turbo]
model_id = "gpt-4-turbo"
sdk = "openai"
inputs = ["text", "images"]
outputs = ["text", "structured"]
costs = { input = 0.01, output = 0.03 }
max_tokens = 128000
'''

SEED_ROUTING = '''
# Which profile to use
active = "all_pipelex"

[profiles.all_pipelex]
description = "Use Pipelex Inference backend for all models"
default = "pipelex_inference"

[profiles.mixed]
description = "Route models to their native providers"
default = "openai"

[profiles.mixed.routes]
"claude-*" = "anthropic"
"gemini-*" = "vertexai"
"mistral-*" = "mistral"
"gpt-*" = "openai"
'''

SEED_BASE_DECK = '''
[aliases]
best-claude = "claude-4.1-opus"
best-gemini = "gemini-2.5-pro"
best-mistral = "mistral-large"
base-gpt = "gpt-5"

# Aliases can also define fallback chains
llm_to_engineer = ["claude-4.1-opus", "gemini-2.5-pro"]

[llm_presets]
# General purpose presets
cheap_llm_for_text = { llm_handle = "gpt-4o-mini", temperature = 0.5 }
cheap_llm_for_object = { llm_handle = "gpt-4o-mini", temperature = 0.5 }

# Task-specific presets
llm_for_creative_writing = { llm_handle = "claude-4-sonnet", temperature = 0.9 }
llm_to_extract = { llm_handle = "claude-4-sonnet", temperature = 0.1 }
llm_to_reason = { llm_handle = "o4-mini", temperature = 1, max_tokens = "auto" }

[llm_choice_defaults]
for_text = "cheap_llm_for_text"
for_object = "cheap_llm_for_object"
'''

SEED_OVERRIDES = '''
# Override specific presets
[llm_presets]
llm_to_extract = { llm_handle = "gpt-4o-mini", temperature = 0.2 }

# Add custom aliases
[aliases]
my_custom_model = "claude-3-sonnet"
'''

# Not in the seed: the anthropic models its aliases and presets name, so they can resolve.
SEED_ANTHROPIC_SPECS = '''
default_sdk = "anthropic"

[models.claude-4-sonnet]
model_id = "claude-sonnet-4-20250514"
costs = { input = 3.0, output = 15.0 }
max_tokens = 64000

[models."claude-4.1-opus"]
model_id = "claude-opus-4-1-20250805"
costs = { input = 15.0, output = 75.0 }
max_tokens = 32000

[models.claude-3-sonnet]
model_id = "claude-3-sonnet-20240229"
costs = { input = 3.0, output = 15.0 }
max_tokens = 4096
'''


def write_deck(root: Path, files: dict[str, str]) -> Path:
    """Write ``{relative path: TOML text}`` under ``root`` and return ``root``."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


def seed_deck(root: Path) -> Path:
    return write_deck(root, {
        "backends.toml": SEED_BACKENDS,
        "backends/openai.toml": SEED_OPENAI_SPECS,
        "backends/anthropic.toml": SEED_ANTHROPIC_SPECS,
        "routing_profiles.toml": SEED_ROUTING,
        "deck/base_deck.toml": SEED_BASE_DECK,
        "deck/overrides.toml": SEED_OVERRIDES,
    })


SENTINEL_KEY = "sk-test-SENTINEL-0123456789abcdef"


def loopback_deck(root: Path, url: str, *, second_url: str | None = None) -> Path:
    """A deck whose providers are the fake server on 127.0.0.1 (``url``)."""
    endpoints = f'["{url}/v1", "{second_url}/v1"]' if second_url else f'"{url}/v1"'
    return write_deck(root, {
        "backends.toml": f'''
            [openai]
            endpoint = {endpoints}
            api_key = "${{OPENAI_API_KEY}}"

            [backup]
            display_name = "Backup OpenAI-compatible server"
            endpoint = "{url}/v1"
            api_key = "${{BACKUP_API_KEY:-sk-local-dummy}}"

            [anthropic]
            endpoint = "{url}"
            api_key = "${{ANTHROPIC_API_KEY}}"

            [demo]
            strategy = "demo"
            serves_any_model = true
        ''',
        "backends/openai.toml": '''
            [defaults]
            inputs = ["text", "images"]
            outputs = ["text", "structured"]

            [gpt-4o-mini]
            costs = { input = 0.15, output = 0.6 }
            max_tokens = 16384
            context_window = 128000

            [tiny-context]
            model_id = "tiny"
            costs = { input = 1.0, output = 2.0 }
            context_window = 50

            [text-only]
            inputs = ["text"]
            outputs = ["text"]
            costs = { input = 1.0, output = 2.0 }
        ''',
        "backends/backup.toml": '''
            [gpt-4o-mini]
            model_id = "backup-mini"
            inputs = ["text"]
            outputs = ["text", "structured"]
            costs = { input = 0.3, output = 1.2 }
        ''',
        "backends/anthropic.toml": '''
            ["claude-4.5-haiku"]
            model_id = "claude-haiku-4-5"
            costs = { input = 1.0, output = 5.0 }
            max_tokens = 8192
        ''',
        "backends/demo.toml": '''
            [demo-chat]
            model_id = "llmdeck-demo-1"
            outputs = ["text", "structured"]
            costs = { input = 0, output = 0 }
        ''',
        "routing_profiles.toml": '''
            active = "loopback"

            [profiles.loopback]
            default = "openai"
            fallback_order = ["backup"]
            [profiles.loopback.routes]
            "claude-*" = "anthropic"
            "demo*" = "demo"

            [profiles.offline]
            default = "demo"
        ''',
        "deck/base_deck.toml": '''
            [aliases]
            demo = "demo-chat"

            [waterfalls]
            sturdy = ["gpt-4o-mini", "claude-4.5-haiku"]

            [llm.presets]
            precise = { model = "gpt-4o-mini", temperature = 0.1, max_tokens = 200 }

            [llm.choice_defaults]
            for_text = "precise"
            for_object = "precise"
        ''',
    })


LOOPBACK_ENV = {"OPENAI_API_KEY": SENTINEL_KEY, "ANTHROPIC_API_KEY": SENTINEL_KEY + "-anthropic"}
