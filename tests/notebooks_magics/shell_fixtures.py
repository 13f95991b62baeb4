"""Shared fixtures for the notebook front-end tests (test_magics, test_panel,
test_interpolation, test_compare): a Session over the loopback deck made the default, a
real IPython shell with ``%load_ext llmdeck_nb``, and ``run(cell)`` capturing everything.

Used as ``pytest_plugins = ["notebooks_magics.shell_fixtures"]``.
"""

from __future__ import annotations

import copy
import textwrap
from dataclasses import dataclass

import pytest
from deck_folders import LOOPBACK_ENV, loopback_deck
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from llmdeck_nb import load_deck
from llmdeck_nb.engine.retry import RetryPolicy
from llmdeck_nb.engine.session import Session, set_default_session

FAST_RETRY = RetryPolicy(base_delay_s=0.01, max_delay_s=0.02)


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    """Caches and logs of sessions made by default_session() go to a per-test folder."""
    state = tmp_path / "state"
    monkeypatch.setenv("LLMDECK_CACHE_DIR", str(state))
    monkeypatch.delenv("LLMDECK_CONFIG_DIR", raising=False)
    monkeypatch.delenv("LLMDECK_PROFILE", raising=False)
    return state


@pytest.fixture
def deck(tmp_path, fake_llm_server):
    """The loopback deck: openai/backup/anthropic on the fake server, demo in process.
    The active profile is set to "offline" (everything on demo) by ``session``."""
    return load_deck(loopback_deck(tmp_path / "deck", fake_llm_server.url), env=LOOPBACK_ENV)


@pytest.fixture
def session(deck, tmp_path, state_dir):
    with Session(deck=deck, cache=tmp_path / "cache", log=tmp_path / "calls.sqlite",
                 profile="offline", retry=FAST_RETRY, timeout=5) as s:
        set_default_session(s)
        yield s
    set_default_session(None)


@pytest.fixture
def ip(session):
    """The IPython shell with the extension loaded over ``session``."""
    shell = InteractiveShell.instance()
    shell.reset(new_session=False)
    config = copy.deepcopy(shell.config)  # %config persists settings in shell.config
    with capture_output():
        shell.run_line_magic("load_ext", "llmdeck_nb")
    yield shell
    with capture_output():
        shell.run_line_magic("unload_ext", "llmdeck_nb")
    shell.config = config
    shell.reset(new_session=False)
    shell.rl_next_input = None


@dataclass
class Ran:
    result: object  # ExecutionResult
    out: object  # CapturedIO

    @property
    def value(self):
        return self.result.result

    @property
    def error(self):
        return self.result.error_in_exec

    @property
    def outputs(self):
        return self.out.outputs

    @property
    def stdout(self) -> str:
        return self.out.stdout

    @property
    def stderr(self) -> str:
        return self.out.stderr

    def bundles(self, mime: str) -> list[str]:
        return [o.data[mime] for o in self.outputs if mime in o.data]


@pytest.fixture
def run(ip):
    """run(cell) -> Ran: execute a cell, capturing stdout, stderr and rich outputs."""

    def run_cell(cell: str, *, store_history: bool = False) -> Ran:
        with capture_output() as out:
            result = ip.run_cell(textwrap.dedent(cell).strip("\n"), store_history=store_history)
        return Ran(result, out)

    return run_cell


def check_usage_error(ran: Ran, *fragments: str) -> None:
    """A user error: UsageError, its message printed, no traceback."""
    assert isinstance(ran.error, UsageError), ran.error
    text = ran.stdout + ran.stderr
    assert "Traceback" not in text and "File \"" not in text
    for fragment in fragments:
        assert fragment in text, text


@pytest.fixture
def assert_usage_error():
    """assert_usage_error(ran, *fragments): a UsageError, its message printed, no traceback."""
    return check_usage_error
