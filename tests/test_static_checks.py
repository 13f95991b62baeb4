"""The static gates run inside the one test command, so CI keeps them: mypy (strict on deck/,
engine/, backends/, cache/ and calllog/, as pyproject.toml's [tool.mypy] says) and ruff (the rule
set and the 100-character line length of [tool.ruff]). Each test fails with the tool's report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, check=False)


def test_mypy_finds_no_type_errors() -> None:
    done = run_tool("mypy")  # the files and flags come from pyproject.toml
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_finds_no_lint_errors() -> None:
    done = run_tool("ruff", "check", "--no-fix", "llmdeck_nb", "tests")
    assert done.returncode == 0, done.stdout + done.stderr
