"""One rule says which names hold credentials (:func:`llmdeck_nb.redaction.looks_secret`), and
each place that acts on a name follows it the same way: the deck loader wraps the value in a
Secret, the call log writes ``[redacted]`` for the parameter, the cache key leaves it out."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from deck_folders import loopback_deck
from llmdeck_nb import load_deck
from llmdeck_nb.cache.keys import cache_key
from llmdeck_nb.calllog.records import CallRecord
from llmdeck_nb.calllog.store import CallLog
from llmdeck_nb.redaction import REDACTED, Secret, looks_secret

CREDENTIAL_NAMES = ["api_key", "x-api-key", "Authorization", "aws_secret_access_key", "token",
                    "access_token", "HF_TOKEN", "apiKey", "APIKEY", "password", "client_secret",
                    "GOOGLE_APPLICATION_CREDENTIALS", "auth", "Cookie", "REDIS_CACHE_KEY"]
# Token counts and tokenizers are not credentials; nor are words that only contain one.
PLAIN_NAMES = ["max_tokens", "max_completion_tokens", "thinking_budget_tokens", "token_limit",
               "tokenizer", "keywords", "auth_type", "temperature", "OPENAI_BASE_URL",
               "prompt_cache_key"]
VALUE = "plain-value-7d1e"  # no key shape: only the name can tell it is a credential
# The loader registers the values it wraps (and their first characters) with redact():
# its test uses values of its own, so they cannot redact the other tests' values.
DECK_VALUE = "deck-loader-value-3b9f"


@pytest.mark.parametrize("name", CREDENTIAL_NAMES)
def test_credential_names_are_recognised(name: str) -> None:
    assert looks_secret(name)


@pytest.mark.parametrize("name", PLAIN_NAMES)
def test_other_names_are_not(name: str) -> None:
    assert not looks_secret(name)


def _deck_with_backend_keys(tmp_path: Path, names: list[str]) -> dict[str, object]:
    """The [openai] backend's values for ``names`` (api_key is a field of its own)."""
    folder = loopback_deck(tmp_path / "deck", "http://127.0.0.1:9")
    backends = folder / "backends.toml"
    text = backends.read_text().replace('api_key = "${OPENAI_API_KEY}"', "", 1)
    lines = "".join(f'"{name}" = "{DECK_VALUE}-{i}"\n' for i, name in enumerate(names))
    backends.write_text(text.replace("[openai]\n", "[openai]\n" + lines, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "unknown key ... (ignored)": kept in extra all the same
        openai = load_deck(folder).backends["openai"]
    return {**openai.extra, "api_key": openai.api_key}


def test_deck_loader_wraps_credential_named_values_in_a_secret(tmp_path: Path) -> None:
    extra = _deck_with_backend_keys(tmp_path, CREDENTIAL_NAMES + PLAIN_NAMES)
    for name in CREDENTIAL_NAMES:
        assert isinstance(extra[name], Secret), name
        assert DECK_VALUE not in repr(extra[name])
    for name in PLAIN_NAMES:
        assert isinstance(extra[name], str) and extra[name].startswith(DECK_VALUE), name


def test_call_log_writes_credential_named_params_redacted(tmp_path: Path) -> None:
    names = CREDENTIAL_NAMES + PLAIN_NAMES
    with CallLog(tmp_path / "calls.sqlite") as log:
        log.append(CallRecord(params={name: f"{VALUE}-{i}" for i, name in enumerate(names)}))
        ((stored,),) = log.query("SELECT params FROM calls")
    params = json.loads(stored)
    assert VALUE not in "".join(str(params[name]) for name in CREDENTIAL_NAMES)
    assert all(params[name] == REDACTED for name in CREDENTIAL_NAMES)
    assert all(params[name] == f"{VALUE}-{names.index(name)}" for name in PLAIN_NAMES)


def _key(params: dict[str, object]) -> str:
    return cache_key(backend="openai", endpoint="http://127.0.0.1:9/v1", model_id="m",
                     messages=[{"role": "user", "content": "hi"}], params=params, schema=None)


@pytest.mark.parametrize("name", CREDENTIAL_NAMES)
def test_cache_key_leaves_credential_named_params_out(name: str) -> None:
    plain = _key({"temperature": 0})
    assert _key({"temperature": 0, name: "one-value"}) == plain
    assert _key({"temperature": 0, name: "other-value"}) == plain


@pytest.mark.parametrize("name", PLAIN_NAMES)
def test_cache_key_keeps_other_params(name: str) -> None:
    assert _key({name: "one-value"}) != _key({name: "other-value"})
