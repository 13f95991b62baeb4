"""Replay and refresh modes, and cassettes carried between two cache folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from deck_folders import SENTINEL_KEY
from loopback import chat_requests, deck_on, session_on
from llmdeck_nb.cache import open_cache
from llmdeck_nb.cache.cassette import export_cassette, import_cassette
from llmdeck_nb.engine.session import Session
from llmdeck_nb.errors import CacheError, InvalidModeError, ReplayMissError

new_session = session_on


@pytest.fixture
def deck(tmp_path, fake_llm_server):
    return deck_on(tmp_path / "deck", fake_llm_server.url)


def test_replay_serves_hits_and_a_miss_sends_nothing(deck, tmp_path, fake_llm_server):
    with new_session(deck, tmp_path) as recording:
        first = recording.complete("What is the capital of France? Answer in one word.",
                                   "gpt-4o-mini")
    with new_session(deck, tmp_path, mode="replay") as replay:
        again = replay.complete("What is the capital of France? Answer in one word.", "gpt-4o-mini")
        assert again.cached and again.text == first.text
        with pytest.raises(ReplayMissError) as caught:
            replay.complete("A question that was never asked before, with a long tail of words",
                            "gpt-4o-mini")
    assert len(chat_requests(fake_llm_server)) == 1
    message = str(caught.value)
    assert "'gpt-4o-mini'" in message and "A question that was never asked before" in message
    assert "nothing was sent" in message and "cassette import" in message


def test_replay_without_a_cache_says_so(deck, tmp_path, fake_llm_server):
    with Session(deck=deck, cache=False, log=False, mode="replay") as session:
        with pytest.raises(ReplayMissError, match="cache is off"):
            session.complete("hi", "gpt-4o-mini")
    assert len(chat_requests(fake_llm_server)) == 0


def test_mode_from_the_environment_and_bad_values(deck, tmp_path, monkeypatch):
    monkeypatch.setenv("LLMDECK_MODE", "Replay")
    with new_session(deck, tmp_path) as session:
        assert session.mode == "replay"
    monkeypatch.setenv("LLMDECK_MODE", "offline")
    with pytest.raises(InvalidModeError, match=r"\$LLMDECK_MODE = 'offline' is not a cache mode"):
        new_session(deck, tmp_path)
    with pytest.raises(InvalidModeError, match="normal, replay, refresh"):
        new_session(deck, tmp_path, mode="fast")


def test_refresh_sends_again_and_overwrites(deck, tmp_path, fake_llm_server):
    with new_session(deck, tmp_path) as session:
        session.complete("again", "gpt-4o-mini")
        session.mode = "refresh"
        assert not session.complete("again", "gpt-4o-mini").cached
        session.mode = "normal"
        assert session.complete("again", "gpt-4o-mini").cached
    assert len(chat_requests(fake_llm_server)) == 2


def test_replay_in_a_batch_records_misses_as_row_errors(deck, tmp_path, fake_llm_server):
    with new_session(deck, tmp_path) as session:
        session.batch(["a", "b"], "{value}", "gpt-4o-mini", progress=False)
        session.mode = "replay"
        frame = session.batch(["a", "b", "c"], "{value}", "gpt-4o-mini", progress=False)
    assert list(frame["cached"].iloc[:2]) == [True, True]
    assert frame["error"].iloc[2].startswith("replay mode: no cached answer")
    assert len(chat_requests(fake_llm_server)) == 2


def test_cassette_carries_answers_between_two_cache_folders(deck, tmp_path, fake_llm_server):
    prompts = [f"Summarise ticket {i}" for i in range(5)]
    with new_session(deck, tmp_path, cache="cache-a", log="a.sqlite", tags=("nb1",)) as recording:
        for prompt in prompts:
            recording.complete(prompt, "gpt-4o-mini")
        recording.complete(f"my key is {SENTINEL_KEY}, keep it", "gpt-4o-mini")
        recording.complete(prompts[0], "gpt-4o-mini")  # a cache hit: the same entry, once
    with new_session(deck, tmp_path, cache="cache-a", log="a.sqlite") as untagged:
        untagged.complete("not part of the notebook", "gpt-4o-mini")
    sent = len(chat_requests(fake_llm_server))

    with open_cache(tmp_path / "cache-a") as cache_a, \
            new_session(deck, tmp_path, "cache-a", "a.sqlite") as s:
        report = export_cassette(s.log, cache_a, tmp_path / "nb1.cassette.json", tag="nb1")
    assert report.entries == 6 and report.missing == 0
    text = (tmp_path / "nb1.cassette.json").read_text()
    assert SENTINEL_KEY not in text and "SENTINEL" not in text and "[redacted]" in text
    assert "not part of the notebook" not in text

    with open_cache(tmp_path / "cache-b") as cache_b:
        assert import_cassette(cache_b, tmp_path / "nb1.cassette.json").entries == 6
    with new_session(deck, tmp_path, cache="cache-b", log="b.sqlite", mode="replay") as elsewhere:
        assert [elsewhere.complete(p, "gpt-4o-mini").text for p in prompts] == [f"echo: {p}"
                                                                                for p in prompts]
        with pytest.raises(ReplayMissError):
            elsewhere.complete("not part of the notebook", "gpt-4o-mini")
    assert len(chat_requests(fake_llm_server)) == sent


def test_cassette_commands_export_and_import(deck, tmp_path, fake_llm_server):
    with new_session(deck, tmp_path, cache="cache-a", log="a.sqlite", tags=("eval",)) as recording:
        recording.complete("first", "gpt-4o-mini")
        recording.complete("second", "gpt-4o-mini")
    env = {**os.environ, "LLMDECK_CACHE_DIR": str(tmp_path / "state")}
    llmdeck = [sys.executable, "-m", "llmdeck_nb.cli", "cassette"]
    out = tmp_path / "eval.json"
    done = subprocess.run([*llmdeck, "export", str(out), "--tag", "eval", "--since", "1d",
                           "--cache", str(tmp_path / "cache-a"), "--log",
                           str(tmp_path / "a.sqlite")],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("exported 2 cached answers")
    done = subprocess.run([*llmdeck, "import", str(out)], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("imported 2 cached answers"), done.stderr
    with new_session(deck, tmp_path, cache="state/responses", log="c.sqlite",
                     mode="replay") as replay:
        assert replay.complete("second", "gpt-4o-mini").cached

    (tmp_path / "bad.json").write_text(json.dumps({"format": "something else"}))
    done = subprocess.run([*llmdeck, "import", str(tmp_path / "bad.json")],
                          capture_output=True, text=True, env=env, timeout=60)
    assert (done.returncode == 1 and "is not an llmdeck cassette" in done.stderr
            and "Traceback" not in done.stderr)


def test_a_damaged_cassette_imports_nothing(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"format": "llmdeck-cassette", "version": 1, "cache_format": 1,
                                "entries": [{"key": "a" * 64, "value": {"text": "ok"}},
                                            {"key": "nope"}]}))
    with open_cache(tmp_path / "cache") as cache:
        with pytest.raises(CacheError, match="entry 2 is not a cache entry"):
            import_cassette(cache, path)
        assert cache.stats().entries == 0
