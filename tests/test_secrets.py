"""Sentinel keys for every backend, every path driven: no sentinel may appear anywhere."""

import logging
from pathlib import Path

import pytest

from deck_folders import loopback_deck
from llmdeck_nb import load_deck
from llmdeck_nb.cli import main as cli_main
from llmdeck_nb.engine.retry import RetryPolicy
from llmdeck_nb.engine.session import Session
from llmdeck_nb.errors import LLMDeckError

# Shapes no pattern would catch: only the exact-value registry can redact them.
SENTINELS = {
    "OPENAI_API_KEY": "SENTINEL-openai-7f3a9c1e5b",
    "ANTHROPIC_API_KEY": "SENTINEL-anthropic-2b8d4f6a0c",
    "BACKUP_API_KEY": "SENTINEL-backup-9e1c3a5b7d",
    "AZURE_API_KEY": "SENTINEL-azure-4d6f8b0a2c",
    "AZURE_API_BASE": "http://127.0.0.1:9/azure",
    "GEMINI_API_KEY": "SENTINEL-gemini-6a8c0e2b4d",
    "MISTRAL_API_KEY": "SENTINEL-mistral-1f3b5d7a9c",
    "CEREBRAS_API_KEY": "SENTINEL-cerebras-8c0a2e4b6d",
    "AWS_ACCESS_KEY_ID": "SENTINEL-awsid-3e5a7c9b1d",
    "AWS_SECRET_ACCESS_KEY": "SENTINEL-awssecret-5c7e9a1b3d",
    "AWS_REGION": "us-east-1",
}
SECRET_VALUES = [v for k, v in SENTINELS.items() if "SENTINEL" in v]


def assert_clean(text: str, where: str) -> None:
    for value in SECRET_VALUES:
        assert value not in text, f"{value} leaked into {where}"


def files_text(folder: Path) -> str:
    return "\n".join(p.read_bytes().decode("latin-1") for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def env(monkeypatch):
    for name, value in SENTINELS.items():
        monkeypatch.setenv(name, value)
    return SENTINELS


def test_no_sentinel_in_any_output(tmp_path, env, fake_llm_server, capsys, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    folder = loopback_deck(tmp_path / "deck", fake_llm_server.url)
    state = tmp_path / "state"
    monkeypatch.setenv("LLMDECK_CACHE_DIR", str(state))
    seen: list[str] = []
    deck = load_deck(folder)
    session = Session(deck=deck, retry=RetryPolicy(base_delay_s=0.001, max_delay_s=0.002), timeout=2)

    # successes on both strategies, streaming, a cache hit, a prompt that quotes a key
    for model in ("gpt-4o-mini", "claude-4.5-haiku"):
        seen.append(repr(session.complete("hello", model)))
        seen.append(repr(session.complete("hello", model, stream=True, cache=False)))
    seen.append(session.complete("hello", "gpt-4o-mini")._repr_markdown_())
    seen.append(repr(session.complete(f"my key is {env['OPENAI_API_KEY']}", "gpt-4o-mini")))

    # every failure kind, with a provider message that quotes the key back
    for status in (400, 401, 404, 408, 429, 500, 502, 503):
        for model in ("gpt-4o-mini", "claude-haiku-4-5"):
            fake_llm_server.add_fault(status=status, model=model, retry_after=0.01 if status == 429 else None,
                                      message=f"Incorrect API key provided: {env['OPENAI_API_KEY']} "
                                              f"{env['ANTHROPIC_API_KEY']}")
        for handle in ("gpt-4o-mini", "claude-4.5-haiku"):
            try:
                seen.append(repr(session.complete(f"status {status} {handle}", handle, cache=False)))
            except LLMDeckError as exc:
                seen += [str(exc), repr(exc)]
        fake_llm_server.reset()
    fake_llm_server.add_fault(malformed=True)
    fake_llm_server.add_fault(cut_stream_after=1)
    seen.append(repr(session.complete("malformed", "gpt-4o-mini", cache=False)))
    seen.append(repr(session.complete("cut", "gpt-4o-mini", stream=True, cache=False)))
    fake_llm_server.add_fault(delay=0.5, times=None)
    with pytest.raises(LLMDeckError) as timeout:
        session.complete("too slow", "claude-4.5-haiku", timeout=0.1, cache=False)
    seen += [str(timeout.value), repr(timeout.value)]
    fake_llm_server.reset()

    # unreachable backends (connection refused) through both strategies
    dead = load_deck(loopback_deck(tmp_path / "dead", "http://127.0.0.1:9"))
    with Session(deck=dead, cache=False, log=False, retry=RetryPolicy(attempts_per_candidate=1)) as s:
        for handle in ("gpt-4o-mini", "claude-4.5-haiku"):
            with pytest.raises(LLMDeckError) as refused:
                s.complete("anyone", handle)
            seen += [str(refused.value), repr(refused.value)]
        seen.append(s.check().to_string())

    # reprs, summaries, validation (text and JSON), the live check, the packaged deck too
    packaged = load_deck()
    for thing in (deck, packaged, session, *deck.backends.values(), *packaged.backends.values(),
                  deck.resolve("sturdy"), *deck.resolve("sturdy").candidates):
        seen.append(repr(thing))
    seen += [deck.summary(), packaged.summary(), deck.validate().to_text(), packaged.validate().to_json()]
    seen.append(session.check().to_string())
    seen.append(session.calls().to_string())
    seen.append(session.calls().to_json(date_format="iso"))
    for argv in (["validate"], ["validate", "--json"], ["models"], ["show"]):
        cli_main([*argv, "--deck", str(folder)])
    session.close()

    out = capsys.readouterr()
    assert_clean(out.out + out.err, "stdout/stderr")
    assert_clean(caplog.text, "logging")
    for i, text in enumerate(seen):
        assert_clean(text, f"output #{i}")
    assert_clean(files_text(state), "the SQLite log and the cache directory")
    assert (state / "calls.sqlite").exists() and any((state / "responses").iterdir())
    # the log really holds the failures it should, redacted
    messages = " ".join(Session(deck=deck, log=state / "calls.sqlite").calls(status="error")
                        .error_message.dropna())
    assert "Incorrect API key provided: [redacted]" in messages
