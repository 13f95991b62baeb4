"""The quickstart notebook with a key set: the same cells route to OpenAI instead of the demo.

The "provider" is the loopback fake server (tests/fake_llm_server.py), reached through the
packaged deck's own settings: ``OPENAI_API_KEY`` makes the openai backend available, and
``OPENAI_BASE_URL`` (the deck's endpoint is ``${OPENAI_BASE_URL:-https://api.openai.com/v1}``)
points it at the fake server. Everything else is the notebooks' clean setting
(notebooks/conftest.py): no other key, an empty LLMDECK_CACHE_DIR, an empty working folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from notebook_runner import notebook_runner
from fake_llm_server import FakeLLMServer

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "notebooks" / "01_quickstart.ipynb"
FAKE_KEY = "sk-fake-notebook-test-0123456789abcdef"
QUESTION = "In two sentences, what is a context window in a large language model?"


def text_of(cell: Any) -> str:
    """Everything a reader sees in a code cell's outputs, as text."""
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output["text"])
        parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def code_cell(nb: Any, source: str, occurrence: int = 0) -> Any:
    found = [cell for cell in nb.cells
             if cell.cell_type == "code" and cell.source.strip() == source.strip()]
    assert len(found) > occurrence, f"no cell {source!r} (#{occurrence}) in {QUICKSTART.name}"
    return found[occurrence]


@pytest.fixture(scope="module")
def live_run() -> tuple[Any, list[Any]]:
    """The quickstart, executed with OPENAI_API_KEY set and the fake server as OpenAI."""
    runner = notebook_runner()
    setting = runner.new_setting()
    try:
        with FakeLLMServer() as server:
            env = setting.environment()
            env["OPENAI_API_KEY"] = FAKE_KEY
            env["OPENAI_BASE_URL"] = server.url + "/v1"
            nb = nbformat.read(QUICKSTART, as_version=4)
            for cell in nb.cells:
                if cell.cell_type == "code":
                    cell.outputs = []
            runner.execute_notebook(nb, env=env, cwd=setting.cwd)
            requests = list(server.requests)
    finally:
        setting.remove()
    return nb, requests


def test_the_load_line_lists_openai(live_run):
    nb, _ = live_run
    line = text_of(code_cell(nb, "%load_ext llmdeck_nb"))
    assert "profile auto" in line
    assert "(openai, " in line, line


def test_the_answers_come_from_openai_not_the_demo(live_run):
    nb, _ = live_run
    first = text_of(code_cell(nb, f"%%llm\n{QUESTION}"))
    assert f"echo: {QUESTION}" in first  # the fake server's answer
    assert "gpt-6-luna · via openai" in first
    assert "demo" not in first.lower()
    assert "$0 " not in first  # priced from the deck: tokens x OpenAI's prices

    again = text_of(code_cell(nb, f"%%llm\n{QUESTION}", occurrence=1))
    assert "via openai" in again and "from cache" in again

    line_prompt = text_of(code_cell(nb, "%llm -m cheap What is the capital of France?"))
    assert "echo: What is the capital of France?" in line_prompt and "via openai" in line_prompt

    python_api = next(text_of(cell) for cell in nb.cells
                      if cell.cell_type == "code" and "session.complete(" in cell.source)
    assert "echo: Name three prime numbers." in python_api and "via openai" in python_api


def test_models_without_a_key_still_go_to_the_demo(live_run):
    nb, _ = live_run
    claude = text_of(code_cell(nb, f"%%llm best-claude\n{QUESTION}"))
    assert "claude-5.5-opus · via demo" in claude and "DEMO (no API key used)" in claude


def test_the_call_log_says_openai(live_run):
    nb, _ = live_run
    log = text_of(code_cell(nb, "%llm_log --summary"))
    assert "openai" in log and "gpt-6-luna" in log
    assert "demo" in log  # best-claude


def test_the_fake_server_received_the_calls_with_the_key(live_run):
    _, requests = live_run
    chats = [r for r in requests if r.path.endswith("/chat/completions")]
    # three calls reach OpenAI: the first question, the France one-liner, the Python API call
    # (the repeated question is served from the cache, best-claude by the demo)
    assert len(chats) == 3, [(r.path, r.json) for r in requests]
    assert {r.model for r in chats} == {"gpt-6-luna"}
    assert all(r.headers.get("authorization") == f"Bearer {FAKE_KEY}" for r in chats)
    prompts = [r.json["messages"][-1]["content"] for r in chats]
    assert prompts[0] == QUESTION


def test_the_key_never_reaches_the_notebook(live_run):
    nb, _ = live_run
    assert FAKE_KEY not in json.dumps([cell.get("outputs", []) for cell in nb.cells])
