"""CI runs the README's test command, with dependencies upgraded as a new user gets them."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_test_command() -> str:
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert block, "the README starts with a bash block of the two setup commands"
    commands = [line for line in block.group(1).splitlines() if line and not line.startswith("#")]
    assert len(commands) == 2, commands
    return commands[1]


def test_the_readme_test_command_upgrades_every_dependency_eagerly():
    command = readme_test_command()
    assert "-U " in command and "--upgrade-strategy eager" in command
    assert command.endswith("python -m pytest")


def test_ci_runs_the_readme_test_command():
    command = readme_test_command().replace("pip install", "python -m pip install -q", 1)
    assert command in (ROOT / ".ci" / "run").read_text()
