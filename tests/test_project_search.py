"""A kernel started in notebooks/ finds the project's .env and deck at the project root, and
the load line says which it used."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from deck_folders import SENTINEL_KEY, loopback_deck

from llmdeck_nb import load_deck
from llmdeck_nb.deck.project import find_env_file, search_folders


def project(root: Path, url: str) -> Path:
    """root/pyproject.toml, root/.env with both keys, root/.llmdeck/inference, root/notebooks/."""
    (root / "notebooks").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (root / ".env").write_text(f"OPENAI_API_KEY={SENTINEL_KEY}\n"
                               f"ANTHROPIC_API_KEY={SENTINEL_KEY}-a\n")
    loopback_deck(root / ".llmdeck" / "inference", url)
    return root


def load_line(cwd: Path, tmp_path: Path) -> str:
    code = textwrap.dedent("""
        from IPython.core.interactiveshell import InteractiveShell
        InteractiveShell.instance().run_line_magic("load_ext", "llmdeck_nb")
    """)
    env = {k: v for k, v in os.environ.items()
           if not (k.endswith("_API_KEY") or k.startswith("LLMDECK_"))}
    env["LLMDECK_CACHE_DIR"] = str(tmp_path / "state")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_kernel_in_notebooks_finds_the_root_env_and_deck(tmp_path, fake_llm_server):
    root = project(tmp_path / "proj", fake_llm_server.url)
    line = load_line(root / "notebooks", tmp_path)
    assert line == ("llmdeck: profile loopback, 4 of 4 backends available (openai, backup, "
                    "anthropic, demo), deck ../.llmdeck/inference, keys from ../.env")
    assert SENTINEL_KEY not in line


def test_the_nearest_env_wins_and_the_search_stops_at_the_project_root(tmp_path, fake_llm_server,
                                                                       monkeypatch):
    root = project(tmp_path / "outer" / "proj", fake_llm_server.url)
    (tmp_path / "outer" / ".env").write_text("OPENAI_API_KEY=from-outside-the-project\n")
    monkeypatch.chdir(root / "notebooks")
    assert search_folders() == [root / "notebooks", root]
    assert find_env_file() == root / ".env"
    (root / "notebooks" / ".env").write_text("ANTHROPIC_API_KEY=nearest\n")
    assert find_env_file() == root / "notebooks" / ".env"
    deck = load_deck()
    assert (deck.folder == root / ".llmdeck" / "inference"
            and deck.env_file == root / "notebooks" / ".env")
    # no OPENAI_API_KEY in the nearest .env
    assert deck.available_backends == ["backup", "anthropic", "demo"]


def test_the_search_stops_at_home_and_pipelex_folders_are_found_too(tmp_path, fake_llm_server,
                                                                    monkeypatch):
    home = tmp_path / "home"
    work = home / "a" / "b"
    work.mkdir(parents=True)
    (tmp_path / ".env").write_text("OPENAI_API_KEY=above-home\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    assert search_folders() == [work, home / "a", home]
    assert find_env_file() is None
    loopback_deck(home / "a" / ".pipelex" / "inference", fake_llm_server.url)
    deck = load_deck(env={})
    assert deck.folder == home / "a" / ".pipelex" / "inference" and deck.origin == "project"
    assert deck.env_file is None  # env given: no .env read
