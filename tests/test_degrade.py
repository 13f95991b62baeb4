"""Degrade, don't die: a Redis that is down at start, identical calls in flight at once, a
closed pipe under the CLI."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from deck_folders import LOOPBACK_ENV, loopback_deck
from redis_server import SKIP_REASON, free_port, start_redis

from llmdeck_nb import load_deck
from llmdeck_nb.cache import deferred
from llmdeck_nb.engine.session import Session


def deck_with_cache(tmp_path: Path, url: str, cache_url: str):
    folder = loopback_deck(tmp_path / "deck", url)
    (folder / "deck" / "cache.toml").write_text(f'[cache]\nurl = "{cache_url}"\nttl = 3600\n')
    return load_deck(folder, env=LOOPBACK_ENV)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason=SKIP_REASON)
def test_redis_down_at_start_warns_goes_on_uncached_then_uses_it(tmp_path, fake_llm_server,
                                                                 caplog, monkeypatch):
    monkeypatch.setattr(deferred, "RETRY_INTERVAL_S", 0.0)  # try again on every call
    port = free_port()
    deck = deck_with_cache(tmp_path, fake_llm_server.url, f"redis://127.0.0.1:{port}/0")
    with caplog.at_level(logging.WARNING, logger="llmdeck_nb"):
        session = Session(deck=deck, log=False)  # raised CacheError before
    assert "calls go on uncached" in caplog.text and f"127.0.0.1:{port}" in caplog.text
    with session:
        assert not session.complete("hello", "gpt-4o-mini").cached
        assert not session.complete("hello", "gpt-4o-mini").cached  # no cache: called again
        assert len(fake_llm_server.requests) == 2
        redis = start_redis(tmp_path / "redis", port=port)
        try:
            assert not session.complete("hello", "gpt-4o-mini").cached  # stored in Redis now
            again = session.complete("hello", "gpt-4o-mini")
            assert again.cached and len(fake_llm_server.requests) == 3
            assert "redis://127.0.0.1" in str(session.cache.stats())
        finally:
            redis.stop()
    assert caplog.text.count("uncached") == 1  # one warning, not one per call


def test_load_ext_with_redis_down_still_loads_the_deck(tmp_path, fake_llm_server, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from llmdeck_nb.engine.session import set_default_session

    folder = loopback_deck(tmp_path / "deck", fake_llm_server.url)
    (folder / "deck" / "cache.toml").write_text(f'[cache]\nurl = "redis://127.0.0.1:{free_port()}/0"\n')
    monkeypatch.setenv("LLMDECK_CONFIG_DIR", str(folder))
    monkeypatch.setenv("LLMDECK_CACHE_DIR", str(tmp_path / "state"))
    for name, value in LOOPBACK_ENV.items():
        monkeypatch.setenv(name, value)
    set_default_session(None)
    shell = InteractiveShell.instance()
    try:
        with capture_output() as out:
            shell.run_line_magic("load_ext", "llmdeck_nb")
            shell.run_cell("%%llm gpt-4o-mini\nhello")
        assert "did not load" not in out.stdout + out.stderr
        assert "echo: hello" in "".join(o.data.get("text/plain", "") for o in out.outputs)
    finally:
        with capture_output():
            shell.run_line_magic("unload_ext", "llmdeck_nb")
        set_default_session(None)


def test_identical_calls_in_flight_go_out_once(tmp_path, fake_llm_server):
    fake_llm_server.default_delay = 0.3
    deck = load_deck(loopback_deck(tmp_path / "deck", fake_llm_server.url), env=LOOPBACK_ENV)
    with Session(deck=deck, cache=tmp_path / "cache", log=tmp_path / "calls.sqlite") as session:
        async def together():
            return await asyncio.gather(*(session.acomplete("same question", "gpt-4o-mini")
                                          for _ in range(3)))

        results = asyncio.run(together())
        calls = session.calls()
    assert len(fake_llm_server.requests) == 1
    assert sorted(r.cached for r in results) == [False, True, True]
    assert len({r.text for r in results}) == 1
    assert sorted(calls.status) == ["cache_hit", "cache_hit", "ok"]
    assert set(calls.cache_where.dropna()) == {"local"}


def test_different_calls_in_flight_are_not_held_back(tmp_path, fake_llm_server):
    fake_llm_server.default_delay = 0.2
    deck = load_deck(loopback_deck(tmp_path / "deck", fake_llm_server.url), env=LOOPBACK_ENV)
    with Session(deck=deck, cache=tmp_path / "cache", log=False) as session:
        async def together():
            return await asyncio.gather(session.acomplete("one", "gpt-4o-mini"),
                                        session.acomplete("two", "gpt-4o-mini"))

        results = asyncio.run(together())
    assert [r.cached for r in results] == [False, False] and len(fake_llm_server.requests) == 2


def test_models_into_a_closed_pipe_exits_quietly():
    llmdeck = Path(sys.executable).with_name("llmdeck")
    process = subprocess.Popen([str(llmdeck), "models"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    process.stdout.close()  # like `| head` once it has read what it wanted
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
