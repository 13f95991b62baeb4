"""The notebook experience in a real kernel (nbclient): a project whose .env and deck are at
its root, a kernel started in notebooks/, conversations that survive a restart, an image
prompt, a refusal before sending, the compare grid, the log and cache views, and the panel's
widget models (their state as nbclient stores it in the notebook).

The providers are the loopback fake server (tests/fake_llm_server.py), named by the project's
deck (tests/deck_folders.py); the keys come from the project's .env only.
"""

from __future__ import annotations

import json
from typing import Any

import nbformat
import pytest
from deck_folders import SENTINEL_KEY, loopback_deck
from fake_llm_server import FakeLLMServer
from notebook_runner import notebook_runner

FIRST_KERNEL = [
    "%load_ext llmdeck_nb",
    "%llm_chat new trip",
    "%%llm --chat gpt-4o-mini\nPlan a day in Lisbon",
    "%%llm --chat gpt-4o-mini\nAnd Porto?",
    "%llm_chat show",
    "from PIL import Image\n\nimg = Image.new('RGB', (8, 6), 'red')",
    "%%llm gpt-4o-mini\nWhat colour is {img}?",
    "%%llm text-only --image img\nWhat colour is it?",
    "%%llm_compare gpt-4o-mini,demo --grid\nSay hi",
    "%llm_log",
    "%%llm gpt-4o-mini\nWhat colour is {img}?",
    "%llm_cache",
    "panel = %llm_panel\npanel",
]
SECOND_KERNEL = [
    "%load_ext llmdeck_nb",
    "%llm_chat list",
    "%%llm --chat claude-4.5-haiku\nAnd Braga?",
]


def notebook(sources: list[str]) -> Any:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def text(cell: Any) -> str:
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type == "error":
            parts.append(f"{output.ename}: {output.evalue}")
        else:
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def mime(cell: Any, kind: str) -> str:
    return "\n".join(o.data[kind] for o in cell.outputs if kind in o.get("data", {}))


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    """Both notebooks executed, one kernel after the other, on one state folder."""
    runner = notebook_runner()
    root = tmp_path_factory.mktemp("project")
    (root / "notebooks").mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'analysis'\n")
    (root / ".env").write_text(f"OPENAI_API_KEY={SENTINEL_KEY}\n"
                               f"ANTHROPIC_API_KEY={SENTINEL_KEY}-a\n")
    setting = runner.new_setting()
    try:
        with FakeLLMServer() as server:
            loopback_deck(root / ".llmdeck" / "inference", server.url)
            env = setting.environment()
            first = runner.execute_notebook(notebook(FIRST_KERNEL), env=env, cwd=root / "notebooks",
                                            allow_errors=True)
            second = runner.execute_notebook(notebook(SECOND_KERNEL), env=env,
                                             cwd=root / "notebooks")
            requests = list(server.requests)
    finally:
        setting.remove()
    return first, second, requests


def test_the_kernel_finds_the_project_env_and_deck(kernels):
    first, _, _ = kernels
    assert text(first.cells[0]).strip() == (
        "llmdeck: profile loopback, 4 of 4 backends available (openai, backup, anthropic, demo), "
        "deck ../.llmdeck/inference, keys from ../.env")


def test_a_conversation_goes_on_and_survives_a_restart(kernels):
    first, second, requests = kernels
    assert "history 2 turns" in text(first.cells[3])
    chats = [r.json["messages"] for r in requests if r.path.endswith("/chat/completions")]
    assert [m["content"] for m in chats[1]] == ["Plan a day in Lisbon",
                                                "echo: Plan a day in Lisbon", "And Porto?"]
    assert "**3. you**\n\nAnd Porto?" in mime(first.cells[4], "text/markdown")
    assert text(second.cells[1]).startswith("* trip ") and "4 turns" in text(second.cells[1])
    assert ("history 4 turns" in text(second.cells[2])
            and "claude-4.5-haiku" in text(second.cells[2]))
    anthropic = [r.json for r in requests if r.path.endswith("/v1/messages")][-1]
    assert len(anthropic["messages"]) == 5


def test_an_image_is_sent_and_a_model_without_images_refuses_before_sending(kernels):
    first, _, requests = kernels
    chats = [r.json for r in requests if r.path.endswith("/chat/completions")]
    parts = chats[2]["messages"][-1]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "text"]
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
    refused = text(first.cells[7])  # IPython shows a UsageError as one message, no traceback
    assert refused.startswith("UsageError: 'text-only' cannot take this request: ")
    assert "does not take images (inputs: text)" in refused and "Traceback" not in refused
    assert not any(r.json.get("model") == "text-only" for r in requests if r.json)
    assert "from cache" in text(first.cells[10])  # the same image again: served from the cache


def test_the_compare_grid_the_log_and_the_cache_views(kernels):
    first, _, _ = kernels
    grid = mime(first.cells[8], "text/html")
    assert (grid.startswith("<table><thead><tr><th></th>")
            and grid.index(">answer<") < grid.index(">cost_usd<"))
    assert "echo: Say hi" in grid and "[demo answer" in grid
    log = mime(first.cells[9], "text/html")
    assert ">time (UTC)<" in log and ">call_id<" not in log and "gpt-4o-mini" in log
    assert text(first.cells[11]).startswith("llmdeck: 1 hit, ")


def test_the_panel_widget_models_show_the_header_status_and_calls(kernels):
    first, _, _ = kernels
    views = [o for o in first.cells[12].outputs
             if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) == 1
    states = first.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    html_values = [m["state"].get("value", "") for m in states.values()
                   if m["model_name"] == "HTMLModel"]
    header = next(v for v in html_values if "<b>llmdeck</b>" in v)
    assert "deck ../.llmdeck/inference" in header and "profile <b>loopback</b>" in header
    assert "chat &#x27;trip&#x27; (4 turns)" in header and "this session: " in header
    assert any("✓ %%llm uses precise -&gt; gpt-4o-mini on openai" in v for v in html_values)
    calls = next(v for v in html_values if "recent calls" in v)
    assert "gpt-4o-mini" in calls and "demo-chat" in calls
    sliders = [m["state"] for m in states.values() if m["model_name"] == "FloatSliderModel"]
    assert sliders[0]["disabled"] is True and sliders[0]["readout"] is False
    assert SENTINEL_KEY not in json.dumps(first)
