"""`llmdeck` subcommand groups beyond the deck inspection ones in cli.py, one module each.

Each module's ``register(commands, deck_argument)`` adds its subparsers and sets
``handler`` on them; cli.py calls :func:`register_commands` once. Modules import their
heavy parts inside the handlers, so ``llmdeck --help`` stays quick.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from llmdeck_nb.commands import backend_commands, keys_commands, serve_command

GROUPS = (serve_command, backend_commands, keys_commands)


def register_commands(commands: argparse._SubParsersAction,
                      deck_argument: Callable[[argparse.ArgumentParser], None]) -> None:
    for group in GROUPS:
        group.register(commands, deck_argument)
