"""Sentinel keys for every backend, every path driven: no sentinel may appear anywhere."""

import base64
import logging
from pathlib import Path

import pytest
from pydantic import BaseModel

from deck_folders import loopback_deck
from llmdeck_nb import load_deck
from llmdeck_nb.cli import main as cli_main
from llmdeck_nb.deck.presentation import deck_summary
from llmdeck_nb.deck.validation import validate_deck
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
    session = Session(deck=deck,
                      retry=RetryPolicy(base_delay_s=0.001, max_delay_s=0.002), timeout=2)

    # successes on both strategies, streaming, a cache hit, a prompt that quotes a key
    for model in ("gpt-4o-mini", "claude-4.5-haiku"):
        seen.append(repr(session.complete("hello", model)))
        seen.append(repr(session.complete("hello", model, stream=True, cache=False)))
    seen.append(session.complete("hello", "gpt-4o-mini")._repr_markdown_())
    seen.append(repr(session.complete(f"my key is {env['OPENAI_API_KEY']}", "gpt-4o-mini")))

    # every failure kind, with a provider message that quotes the key back
    for status in (400, 401, 404, 408, 429, 500, 502, 503):
        for model in ("gpt-4o-mini", "claude-haiku-4-5"):
            fake_llm_server.add_fault(status=status, model=model, retry_after=0.01
                                      if status == 429 else None,
                                      message="Incorrect API key provided: "
                                              f"{env['OPENAI_API_KEY']} {env['ANTHROPIC_API_KEY']}")
        for handle in ("gpt-4o-mini", "claude-4.5-haiku"):
            try:
                seen.append(repr(session.complete(f"status {status} {handle}", handle,
                                                  cache=False)))
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
    with Session(deck=dead, cache=False, log=False,
                 retry=RetryPolicy(attempts_per_candidate=1)) as s:
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
    seen += [deck_summary(deck), deck_summary(packaged), validate_deck(deck).to_text(),
             validate_deck(packaged).to_json()]
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


# --- every form a key takes when a server (or a model) quotes it back --------------------------

KEY = SENTINELS["OPENAI_API_KEY"]


def key_forms(key: str) -> dict[str, str]:
    """What must never show: the key, its first 12 characters, its base64 form, and the
    recognisable start and end of an OpenAI-style masked echo."""
    return {"full": key, "first 12": key[:12],
            "base64": base64.b64encode(key.encode()).decode()[:-4],
            "masked start": key[:8] + "****", "masked end": "*" + key[-4:]}


def assert_no_form(text: str, where: str) -> None:
    for value in SECRET_VALUES:
        for name, form in key_forms(value).items():
            assert form not in text, f"{name} of a key ({form}) leaked into {where}"


def quoting_prompt() -> str:
    """A prompt the fake server echoes: every echoed form of the key in one answer."""
    encoded = base64.b64encode(KEY.encode()).decode()
    return f"first {KEY[:12]} base64 {encoded} masked {KEY[:8]}****...{KEY[-4:]} done"


def test_quoted_keys_never_leave_the_engine(tmp_path, env, fake_llm_server, caplog, capsys,
                                            monkeypatch):
    caplog.set_level(logging.DEBUG)
    state = tmp_path / "state"
    monkeypatch.setenv("LLMDECK_CACHE_DIR", str(state))
    fake_llm_server.quote_key = True  # every answer says "(your key is <key>)"
    fake_llm_server.chunk_chars = 3  # and streams it 3 characters at a time
    deck = load_deck(loopback_deck(tmp_path / "deck", fake_llm_server.url))
    seen: list[str] = []
    deltas: list[str] = []

    class Answer(BaseModel):
        city: str
        notes: list[str]

    with Session(deck=deck, retry=RetryPolicy(base_delay_s=0.001, max_delay_s=0.002),
                 timeout=5) as session:
        for model in ("gpt-4o-mini", "claude-4.5-haiku"):
            for stream in (False, True):
                result = session.complete(quoting_prompt(), model, stream=stream,
                                          on_text=deltas.append if stream else None)
                assert "your key is [redacted]" in result.text and "first [redacted]" in result.text
                seen += [result.text, str(result.value), repr(result), result._repr_markdown_()]
            seen.append(repr(session.complete(quoting_prompt(), model)))  # from the cache
        for schema in (Answer, Answer.model_json_schema()):  # the parsed object, both kinds
            parsed = session.complete("where?", "gpt-4o-mini", schema=schema)
            assert "dummy [redacted]" in str(parsed.value)
            seen += [repr(parsed.value), str(parsed.value)]
        # provider errors quoting the key: in full, masked, and as the prompt's forms
        for status in (401, 400, 500):
            fake_llm_server.add_fault(status=status, times=None,
                                      message="Incorrect API key provided: {masked_key} ({key})")
            with pytest.raises(LLMDeckError) as failed:
                session.complete(f"fail {status}", "gpt-4o-mini", cache=False)
            seen += [str(failed.value), repr(failed.value)]
            fake_llm_server.reset()
        # a stream cut on every attempt: nothing of the partial answers is kept
        fake_llm_server.add_fault(cut_stream_after=4, times=None)
        cut: list[str] = []
        with pytest.raises(LLMDeckError):
            session.complete(quoting_prompt(), "gpt-4o-mini", stream=True, cache=False,
                             on_text=cut.append, on_reset=cut.clear)
        assert cut == []
        fake_llm_server.reset()
        seen += [session.calls().to_string(), session.calls().to_json(date_format="iso")]
    seen.append("".join(deltas))
    out = capsys.readouterr()
    for i, text in enumerate(seen):
        assert_no_form(text, f"output #{i}")
    assert_no_form(out.out + out.err, "stdout/stderr")
    assert_no_form(caplog.text, "logging")
    assert_no_form(files_text(state), "the SQLite log and the cache directory")
    assert "Incorrect API key provided: [redacted]" in " ".join(seen)


def test_split_keys_are_caught_whatever_the_chunking(env):
    from llmdeck_nb.redaction import register_secret
    from llmdeck_nb.stream_redaction import StreamRedactor

    register_secret(KEY)
    text = f"one {KEY} two Bearer abcdefghijklmnop three {quoting_prompt()} end"
    for size in (1, 2, 3, 5, 7, 11, 40):
        out: list[str] = []
        redactor = StreamRedactor(out.append)
        for i in range(0, len(text), size):
            redactor(text[i:i + size])
        redactor.flush()
        joined = "".join(out)
        assert_no_form(joined, f"{size}-character chunks")
        assert "abcdefghijklmnop" not in joined
        assert joined.startswith("one [redacted] two Bearer [redacted] three first [redacted]")
        assert joined.endswith(" done end")


def test_a_password_in_an_endpoint_url_never_shows(tmp_path, env, capsys):
    folder = loopback_deck(tmp_path / "deck", "http://proxyuser:hunter2-SENTINEL-pw@127.0.0.1:9")
    deck = load_deck(folder)
    with Session(deck=deck, cache=False, log=False,
                 retry=RetryPolicy(attempts_per_candidate=1)) as s:
        with pytest.raises(LLMDeckError) as refused:
            s.complete("anyone", "gpt-4o-mini")
        texts = [str(refused.value), s.check().to_string(), repr(deck.backends["openai"])]
    cli_main(["validate", "--live", "--deck", str(folder)])
    texts.append(capsys.readouterr().out)
    for text in texts:
        assert "hunter2" not in text
    assert "proxyuser:[redacted]@127.0.0.1" in texts[0]
