"""`%llm_key set NAME` in a real notebook run by nbclient: the key goes into the key store
and is used by the deck, and the saved notebook holds no trace of it (cells, outputs,
widget state: the whole file is scanned)."""

from __future__ import annotations

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from notebook_runner import notebook_runner

from fake_llm_server import FakeLLMServer
from llmdeck_nb.keys.store import FileKeyStore

TYPED_KEY = "sk-typed-into-the-box-0123456789abcdefXYZ"

# What the user does: load the extension, ask for the box, type the key and press Enter.
# The kernel cannot type into the browser, so the third cell does what the front end does
# on Enter: set the box's value (read from the kernel's environment, so that the key
# itself is not in the cell's source either).
CELLS = [
    "%load_ext llmdeck_nb",
    "%llm_key set OPENAI_API_KEY",
    "import os\n"
    "from ipywidgets.widgets.widget import _instances\n"
    "box = next(w for w in list(_instances.values()) if type(w).__name__ == 'Password')\n"
    "box.value = os.environ['KEY_THE_USER_TYPES']\n"
    "del box",
    "%llm_key list",
    "%llm_reload",
    "%%llm gpt-4o-mini\nWhich backend answers now?",
]


@pytest.fixture
def run(tmp_path):
    runner = notebook_runner()
    setting = runner.new_setting()
    try:
        with FakeLLMServer() as server:
            env = setting.environment()
            env["KEY_THE_USER_TYPES"] = TYPED_KEY
            env["OPENAI_BASE_URL"] = server.url + "/v1"  # the packaged deck's openai endpoint
            env["LLMDECK_KEY_STORE"] = "file"
            nb = new_notebook(cells=[new_code_cell(source) for source in CELLS])
            runner.execute_notebook(nb, env=env, cwd=setting.cwd)
            saved = tmp_path / "saved.ipynb"
            nbformat.write(nb, saved)
            yield nb, saved, list(server.requests), setting.state / "keys"
    finally:
        setting.remove()


def outputs_text(cell) -> str:
    return json.dumps(cell.get("outputs", []))


def test_the_key_reaches_the_store_and_the_deck_but_not_the_notebook(run, monkeypatch):
    nb, saved, requests, keys_dir = run
    monkeypatch.setenv("LLMDECK_KEYS_DIR", str(keys_dir))
    assert FileKeyStore().get("OPENAI_API_KEY") == TYPED_KEY  # stored, encrypted
    assert TYPED_KEY not in (keys_dir / "keys.json").read_text()
    assert "OPENAI_API_KEY: key store" in outputs_text(nb.cells[3])
    # the deck picked it up: the call went to the openai backend (the fake server) with it
    chat = [r for r in requests if r.path.endswith("/chat/completions")]
    assert chat and chat[-1].headers["authorization"] == f"Bearer {TYPED_KEY}"
    assert "echo: Which backend answers now?" in outputs_text(nb.cells[5])
    # the saved notebook, every byte of it: no key (the widget state is in it too)
    text = saved.read_text()
    assert "application/vnd.jupyter.widget-state+json" in text
    assert TYPED_KEY not in text and TYPED_KEY[:20] not in text
    assert "OPENAI_API_KEY" in text  # the name is fine to show
