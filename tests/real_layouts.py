"""Small hand-written copies of the shapes of real Pipelex folders (public repositories,
Pipelex 0.10.2 of Sep 2025, 0.17 of Dec 2025, the numbered kit decks of 2026): the same
tables, keys, comments and quirks, with few models each."""

from __future__ import annotations

# Every variable the folders reference, set to a dummy (what `llmdeck validate` is run with).
DUMMY_KEYS = {name: "dummy-0123456789abcdef" for name in (
    "PIPELEX_GATEWAY_API_KEY", "PIPELEX_INFERENCE_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY",
    "GROQ_API_KEY", "FAL_API_KEY", "PORTKEY_API_KEY", "XAI_API_KEY", "BLACKBOX_API_KEY",
    "SCALEWAY_API_KEY", "HF_TOKEN")}
DUMMY_KEYS["SCALEWAY_ENDPOINT"] = "https://api.scaleway.ai/0123-project/v1"

# --- 2026: numbered deck files, [llm.aliases], sigils, default_temperature, overrides -----

LAYOUT_2026 = {
    "backends.toml": '''
        [pipelex_gateway]
        display_name = "⭐ Pipelex Gateway"
        enabled = true                         # Enable after accepting terms via `pipelex init config`
        api_key = "${PIPELEX_GATEWAY_API_KEY}"

        [anthropic]
        enabled = true
        api_key = "${ANTHROPIC_API_KEY}"

        [openai]
        display_name = "OpenAI"
        enabled = true
        api_key = "${OPENAI_API_KEY}"

        [groq]
        display_name = "Groq"
        enabled = false
        endpoint = "https://api.groq.com/openai/v1"
        api_key = "${GROQ_API_KEY}"

        [xai]
        display_name = "xAI"
        enabled = true
        endpoint = "https://api.x.ai/v1"
        api_key = "${XAI_API_KEY}"

        [scaleway]
        display_name = "Scaleway"
        enabled = true
        endpoint = "${SCALEWAY_ENDPOINT}"
        api_key = "${SCALEWAY_API_KEY}"

        [fal]
        display_name = "FAL"
        enabled = true
        api_key = "${FAL_API_KEY}"

        [portkey]
        display_name = "Portkey"
        enabled = true
        endpoint = "https://api.portkey.ai/v1"
        api_key = "${PORTKEY_API_KEY}"

        [internal] # software-only backend, runs internally, without AI
        enabled = true
    ''',
    "backends/pipelex_gateway.toml": '''
        # The Pipelex Gateway's models are listed by Pipelex's servers, not in this file.
    ''',
    "backends/internal.toml": '''
        [defaults]
        thinking_mode = "none"

        [pypdfium2-extract-pdf]
        model_type = "text_extractor"
        sdk = "pypdfium2"
        model_id = "extract-text"
        inputs = ["pdf"]
        outputs = ["pages"]
        costs = {}
    ''',
    "backends/openai.toml": '''
        [defaults]
        model_type = "llm"
        sdk = "openai_responses"
        structure_method = "instructor/openai_responses_tools"
        thinking_mode = "none"

        [gpt-4o-mini]
        inputs = ["text", "images", "pdf"]
        outputs = ["text", "structured"]
        costs = { input = 0.15, output = 0.6 }

        ["gpt-5.2"]
        inputs = ["text", "images", "pdf"]
        outputs = ["text", "structured"]
        costs = { input = 1.75, output = 14.0 }
        valued_constraints = { fixed_temperature = 1 }
        thinking_mode = "manual"
    ''',
    "backends/anthropic.toml": '''
        [defaults]
        model_type = "llm"
        sdk = "anthropic"
        structure_method = "instructor/anthropic_tools"
        thinking_mode = "manual"

        ["claude-4.6-sonnet"]
        model_id = "claude-sonnet-4-6"
        max_tokens = 64000
        inputs = ["text", "images", "pdf"]
        outputs = ["text", "structured"]
        max_prompt_images = 100
        costs = { input = 3.0, output = 15.0 }

        ["claude-4.5-haiku"]
        model_id = "claude-haiku-4-5-20251001"
        max_tokens = 64000
        inputs = ["text", "images"]
        outputs = ["text", "structured"]
        costs = { input = 1.0, output = 5.0 }
        valued_constraints = { max_output_tokens_limit = 8192 }
        listed_constraints = ["temperature_must_be_multiplied_by_2"]
    ''',
    "backends/groq.toml": '''
        [defaults]
        model_type = "llm"
        sdk = "openai"
        structure_method = "instructor/json"

        ["llama-3.3-70b-versatile"]
        model_id = "llama-3.3-70b-versatile"
        max_tokens = 32768
        costs = { input = 0.59, output = 0.79 }
    ''',
    "backends/xai.toml": '''
        [defaults]
        model_type = "llm"
        sdk = "openai"

        [grok-3-mini]
        model_id = "grok-3-mini"
        costs = { input = 0.3, output = 0.5 }
    ''',
    "backends/scaleway.toml": '''
        [defaults]
        model_type = "llm"
        sdk = "openai"
        structure_method = "instructor/json"

        [gpt-oss-120b]
        max_tokens = 65536
        costs = { input = 0.15, output = 0.6 }
    ''',
    "backends/fal.toml": '''
        [defaults]
        model_type = "img_gen"
        sdk = "fal"

        [flux-pro]
        model_id = "fal-ai/flux-pro"
        inputs = ["text"]
        outputs = ["image"]
        costs = { input = 0.05, output = 0.0 }

        [flux-pro.rules]
        prompt = "positive_only"
        num_images = "fal"
    ''',
    "backends/portkey.toml": '''
        [defaults]
        model_type = "llm"
        sdk = "portkey_completions"
        structure_method = "instructor/openai_tools"
        thinking_mode = "none"

        [gpt-4o-mini]
        inputs = ["text", "images", "pdf"]
        outputs = ["text", "structured"]
        costs = { input = 0.15, output = 0.6 }
        sdk = "portkey_responses"
        x-portkey-provider = "@openai"
    ''',
    "routing_profiles.toml": '''
        # Which profile to use (change this to switch routing)
        active = "all_pipelex_gateway"

        [profiles.all_pipelex_gateway]
        description = "Use Pipelex Gateway for all its supported models"
        default = "pipelex_gateway"

        [profiles.all_groq]
        description = "Use groq backend for all its supported models"
        default = "groq"

        [profiles.all_portkey]
        description = "Use Portkey backend for all its supported models"
        default = "portkey"

        [profiles.direct]
        description = "Each model on its own provider"
        default = "openai"

        [profiles.direct.routes]
        "claude-*" = "anthropic"
        "grok-*" = "xai"
        "gpt-oss-*" = "scaleway"
        "flux-*" = "fal"
        "pypdfium2-*" = "internal"
    ''',
    "deck/1_llm_deck.toml": '''
        # Model Reference Syntax:
        # - Preset:    $preset_name or preset:preset_name
        # - Alias:     @alias_name or alias:alias_name

        [llm.choice_defaults]
        default_temperature = 0.5
        for_text = "@default-general"
        for_object = "$testing-structured"

        [llm.aliases]
        best-claude = "claude-4.6-sonnet"
        default-general = "claude-4.6-sonnet"
        default-premium = "alias:best-claude"
        default-small = "gpt-4o-mini"
        default-reasoning = "gpt-5.2"

        [llm.waterfalls]
        small-llm = ["llama-3.3-70b-versatile", "@default-small", "claude-4.5-haiku"]

        [llm.presets]
        writing-factual = { model = "@default-premium", temperature = 0.1, description = "Factual writing with high accuracy" }
        testing-structured = { model = "@default-small", temperature = 0.1, description = "Testing preset for structured output" }
        quick = { model = "small-llm", description = "No temperature: the deck's default_temperature" }
        deep-analysis = { model = "@default-reasoning", temperature = 0.1, reasoning_effort = "high" }
        haiku = { model = "claude-4.5-haiku", temperature = 0.3 }
        grok = { model = "grok-3-mini" }
        open-weights = { model = "gpt-oss-120b" }
    ''',
    "deck/2_img_gen_deck.toml": '''
        [img_gen]
        default_quality = "medium"
        choice_default = "$gen-image"

        [img_gen.aliases]
        default-general = "flux-pro"

        [img_gen.presets]
        gen-image = { model = "@default-general", quality = "medium", description = "Standard image generation" }
    ''',
    "deck/3_extract_deck.toml": '''
        [extract]
        choice_default = "@default-extract-document"

        [extract.aliases]
        default-extract-document = "pypdfium2-extract-pdf"

        [extract.presets]
        extract-testing = { model = "@default-extract-document", max_nb_images = 5, image_min_size = 50 }
    ''',
    "deck/x_custom_llm_deck.toml": '''
        # pipelex never tracks or overwrites x_custom_* files.
        [llm.choice_overrides]
        for_text = "disabled"
        for_object = "disabled"
    ''',
}

# --- Pipelex 0.10.2 (a starter of Sep 2025) ------------------------------------------------

LAYOUT_010 = {
    "backends.toml": '''
        [pipelex_inference]
        display_name = "⭐ Pipelex Inference"
        enabled = true
        endpoint = "https://inference.pipelex.com/v1"
        api_key = "${PIPELEX_INFERENCE_API_KEY}"

        [openai]
        enabled = true
        api_key = "${OPENAI_API_KEY}"

        [anthropic]
        enabled = false
        api_key = "${ANTHROPIC_API_KEY}"

        [internal] # software-only backend, runs internally, without AI
        enabled = true
    ''',
    "backends/pipelex_inference.toml": '''
        default_sdk = "openai"
        default_prompting_target = "openai"

        [gpt-4o-mini]
        model_id = "pipelex/gpt-4o-mini"
        inputs = ["text", "images"]
        outputs = ["text", "structured"]
        costs = { input = 0.17, output = 0.66 }

        [claude-4-sonnet]
        model_id = "pipelex/claude-4-sonnet"
        costs = { input = 3.3, output = 16.5 }
    ''',
    "backends/openai.toml": '''
        default_sdk = "openai"
        default_prompting_target = "openai"

        [gpt-4o-mini]
        model_id = "gpt-4o-mini"
        inputs = ["text", "images"]
        outputs = ["text", "structured"]
        costs = { input = 0.15, output = 0.6 }
    ''',
    "backends/anthropic.toml": '''
        default_sdk = "anthropic"

        [claude-4-sonnet]
        model_id = "claude-sonnet-4-20250514"
        costs = { input = 3.0, output = 15.0 }
    ''',
    "backends/internal.toml": '''
        [pypdfium2-extract-text]
        model_type = "text_extractor"
        model_id = "extract-text"
    ''',
    "routing_profiles.toml": '''
        active = "all_pipelex"

        [profiles.all_pipelex]
        description = "Use Pipelex Inference backend for all models"
        default = "pipelex_inference"

        [profiles.all_openai]
        description = "Use OpenAI backend for all its supported models"
        default = "openai"
    ''',
    "deck/base_deck.toml": '''
        [aliases]
        base-claude = "claude-4-sonnet"
        cheap_llm_for_text = "gpt-4o-mini"
        cheap_llm_for_object = "gpt-4o-mini"
        llm_to_engineer = ["claude-4-sonnet", "gpt-4o-mini"]

        [llm_presets]
        cheap_llm_for_text = { llm_handle = "cheap_llm_for_text", temperature = 0.5 }
        cheap_llm_for_object = { llm_handle = "cheap_llm_for_object", temperature = 0.5 }
        llm_to_engineer = { llm_handle = "base-claude", temperature = 0.2 }

        [llm_choice_defaults]
        for_text = "cheap_llm_for_text"
        for_object = "cheap_llm_for_object"
    ''',
    "deck/overrides.toml": '''
        [llm_choice_overrides]
        for_text = "disabled"
        for_object = "disabled"
    ''',
}

# --- Pipelex 0.17 (Dec 2025): [defaults], [waterfalls], [llm.presets], optional routes -----

LAYOUT_015 = {
    "backends.toml": '''
        [pipelex_gateway]
        display_name = "⭐ Pipelex Gateway"
        enabled = true
        api_key = "${PIPELEX_GATEWAY_API_KEY}"

        [openai]
        display_name = "OpenAI"
        enabled = true
        api_key = "${OPENAI_API_KEY}"

        [blackboxai]
        display_name = "BlackBox AI"
        enabled = true
        endpoint = "https://api.blackbox.ai/v1"
        api_key = "${BLACKBOX_API_KEY}"

        [internal]
        enabled = true
    ''',
    "backends/openai.toml": '''
        [defaults]
        model_type = "llm"
        sdk = "openai_responses"
        structure_method = "instructor/openai_responses_tools"

        [gpt-4o-mini]
        inputs = ["text", "images", "pdf"]
        outputs = ["text", "structured"]
        costs = { input = 0.15, output = 0.6 }
    ''',
    "backends/blackboxai.toml": '''
        [defaults]
        model_type = "llm"
        sdk = "openai"
        structure_method = "instructor/openai_tools"

        ["claude-4.5-sonnet"]
        model_id = "blackboxai/anthropic/claude-sonnet-4.5"
        inputs = ["text", "images"]
        outputs = ["text", "structured"]
        costs = { input = 3.00, output = 15.00 }
        thinking_mode = "manual"
    ''',
    "routing_profiles.toml": '''
        active = "pipelex_gateway_first"

        [profiles.pipelex_gateway_first]
        description = "Pipelex Gateway first, then the providers you configured"
        default = "pipelex_gateway"
        fallback_order = ["pipelex_gateway", "openai", "blackboxai"]

        [profiles.pipelex_gateway_first.routes]
        "gpt-*" = "pipelex_gateway"

        [profiles.pipelex_gateway_first.optional_routes] # Each optional route is considered only if its backend is available
        "claude-*" = "blackboxai"
    ''',
    "deck/base_deck.toml": '''
        [aliases]
        base-claude = "claude-4.5-sonnet"
        base-gpt = "gpt-4o-mini"

        [waterfalls]
        smart_llm = ["claude-4.5-sonnet", "gpt-4o-mini"]
        cheap_llm = ["gpt-4o-mini", "claude-4.5-sonnet"]

        [llm.presets]
        llm_for_factual_writing = { model = "base-gpt", temperature = 0.1 }
        llm_to_engineer = { model = "smart_llm", temperature = 0.2 }

        [llm.choice_defaults]
        for_text = "llm_for_factual_writing"
        for_object = "llm_for_factual_writing"

        [extract]
        choice_default = "extract_text_from_visuals"

        [extract.presets]
        extract_text_from_visuals = { model = "mistral-ocr", max_nb_images = 100 }
    ''',
}

