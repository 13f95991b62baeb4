"""Configured is not reachable: local servers are "configured (not checked)" until a live
check has run; then the load line and `validate --live` say what it found (with latency)."""

from __future__ import annotations

import re

import pytest

from llmdeck_nb import load_deck
from llmdeck_nb.cli import main as cli_main
from llmdeck_nb.engine.session import Session
from llmdeck_nb.notebook.display import load_line

pytest_plugins = ["notebooks_magics.shell_fixtures"]

DEAD = "http://127.0.0.1:9/v1"


@pytest.fixture
def local_servers(monkeypatch, fake_llm_server):
    """Ollama answers (the fake server); LM Studio and the self-hosted proxy are not running."""
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "LLMDECK_CONFIG_DIR", "LLMDECK_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OLLAMA_BASE_URL", fake_llm_server.url + "/v1")
    monkeypatch.setenv("LMSTUDIO_BASE_URL", DEAD)
    monkeypatch.setenv("LLMDECK_SELF_HOSTED_URL", DEAD)
    return fake_llm_server


def backend_line(text: str, name: str) -> str:
    return next(line for line in text.splitlines() if re.match(rf"\s+(ok|--) {name}\s", line))


def test_validate_says_configured_not_checked(local_servers, capsys):
    cli_main(["validate"])
    out = capsys.readouterr().out
    for name in ("ollama", "lmstudio", "self_hosted"):
        assert backend_line(out, name).endswith("configured (not checked)")
    assert backend_line(out, "demo").endswith("available (offline demo)")


def test_validate_live_shows_reachability_and_latency(local_servers, capsys):
    cli_main(["validate", "--live"])
    out = capsys.readouterr().out
    assert re.search(r"reachable \(\d+ ms\)$", backend_line(out, "ollama"))
    assert "-- lmstudio" in backend_line(out, "lmstudio")
    assert "unreachable: cannot reach backend 'lmstudio'" in backend_line(out, "lmstudio")
    live = out.split("LIVE CHECK", 1)[1]
    assert "nan" not in live
    assert re.search(r"ok\s+ollama\s+\d+ ms\s+answered", live)


def test_the_load_line_after_a_live_check(local_servers, tmp_path):
    with Session(deck=load_deck(), cache=False, log=False) as session:
        before = load_line(session.deck, session.profile, session.reachability)
        session.check()
        after = load_line(session.deck, session.profile, session.reachability)
    assert "configured (not checked): ollama, lmstudio, self_hosted" in before
    assert "(ollama, demo; unreachable: lmstudio, self_hosted)" in after


def test_llm_check_prints_what_it_found(ip, run, session):
    ran = run("%llm_check")
    assert ran.error is None
    assert "backends available" in ran.stdout and "not checked" not in ran.stdout
