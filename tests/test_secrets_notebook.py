"""A real kernel (nbclient) runs ``%%llm --stream`` and ``--schema`` against a server that
quotes the key back: no form of the key reaches any message the kernel sends (each
``display_data`` / ``update_display_data`` / stream message) nor the saved .ipynb, and a
stream cut on every attempt leaves no partial answer behind."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from deck_folders import loopback_deck
from fake_llm_server import FakeLLMServer
from nbclient import NotebookClient
from notebook_runner import notebook_runner

KEY = "SENTINEL-notebook-4e6a8c0b2d"
FORMS = {"full": KEY, "first 12": KEY[:12], "base64": base64.b64encode(KEY.encode()).decode()[:-4],
         "masked start": KEY[:8] + "****"}

CELLS = [
    "%load_ext llmdeck_nb",
    "%%llm gpt-4o-mini --stream -o streamed\nSay my key",
    "from pydantic import BaseModel\n\nclass Answer(BaseModel):\n    city: str\n    notes: "
    "list[str]",
    "%%llm gpt-4o-mini --schema Answer\nWhere?",
    "print(_llm.value, _llm.text)",
    "print(streamed.text, streamed.value)",
    "%%llm gpt-4o-mini --stream --no-cache\nThis stream is cut every time",
    "%%llm gpt-4o-mini --stream --no-cache\nThis stream is cut once",
]


class RecordingClient(NotebookClient):
    """Keeps every iopub message the kernel sent, not only the final outputs."""

    messages: list[dict[str, Any]]

    def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
        self.messages.append({**msg, "cell_index": cell_index})
        return super().process_message(msg, cell, cell_index)


def assert_clean(text: str, where: str) -> None:
    for name, form in FORMS.items():
        assert form not in text, f"the key's {name} ({form}) leaked into {where}"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Any, list[dict[str, Any]], Path]:
    runner = notebook_runner()
    setting = runner.new_setting()
    root = tmp_path_factory.mktemp("secrets_nb")
    try:
        with FakeLLMServer() as server:
            server.quote_key = True
            server.chunk_chars = 4  # the key arrives split over many stream chunks
            env = setting.environment()
            env.update(OPENAI_API_KEY=KEY, ANTHROPIC_API_KEY=KEY + "-anthropic",
                       LLMDECK_CONFIG_DIR=str(loopback_deck(root / "deck", server.url)))
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
            client = RecordingClient(nb, km=runner.kernel_manager(), timeout=runner.CELL_TIMEOUT,
                                     allow_errors=True,
                                     resources={"metadata": {"path": str(setting.cwd)}})
            client.messages = []
            # cells run one by one so each gets its faults just before it runs
            with client.setup_kernel(env=env):
                for index, cell in enumerate(nb.cells):
                    if "cut every time" in cell.source:
                        server.add_fault(cut_stream_after=3, times=None)
                    elif "cut once" in cell.source:
                        server.reset()
                        server.add_fault(cut_stream_after=3, times=1)
                    client.execute_cell(cell, index)
            saved = root / "saved.ipynb"
            nbformat.write(nb, saved)
    finally:
        setting.remove()
    return nb, client.messages, saved


def outputs_text(cell: Any) -> str:
    return json.dumps(cell.get("outputs", []))


def test_no_message_and_no_saved_byte_holds_the_key(run):
    nb, messages, saved = run
    assert any(m["msg_type"] == "update_display_data" for m in messages)  # it really streamed
    for i, message in enumerate(messages):
        assert_clean(json.dumps(message.get("content", {})),
                     f"kernel message #{i} ({message['msg_type']})")
    assert_clean(saved.read_text(encoding="utf-8"), "the saved notebook")
    streamed = outputs_text(nb.cells[1])
    assert "your key is [redacted]" in streamed
    assert "dummy [redacted]" in outputs_text(nb.cells[4])  # _llm.value of --schema


def test_a_stream_cut_on_every_attempt_leaves_no_partial_answer(run):
    nb, _, _ = run
    cell = nb.cells[6]
    text = outputs_text(cell)
    assert "failed after 6 attempt(s)" in text  # 3 on openai, 3 on backup
    assert "This stream" not in text and "echo:" not in text  # nothing of the partial answers


def test_a_stream_retried_after_a_cut_shows_the_answer_once(run):
    nb, messages, _ = run
    updates = [m["content"]["data"] for m in messages
               if m["cell_index"] == 7 and m["msg_type"] == "update_display_data"]
    cleared = updates.index({"text/plain": ""})  # the cut attempt's text is withdrawn...
    assert all(not u.get("text/markdown", "").startswith("echo: This stream is cut once echo")
               for u in updates)
    assert updates[-1]["text/plain"].startswith("echo: This stream is cut once")  # ...then once
    assert cleared < len(updates) - 1
    text = outputs_text(nb.cells[7])
    assert text.count("echo: This stream is cut once") == 2  # text/markdown and text/plain
    assert "2 attempts" in text
