"""Where the deck folder is: the search order every entry point uses."""

from __future__ import annotations

import os
from pathlib import Path

from llmdeck_nb.deck.project import search_folders
from llmdeck_nb.errors import DeckNotFoundError

CONFIG_DIR_VARIABLE = "LLMDECK_CONFIG_DIR"
PROFILE_VARIABLE = "LLMDECK_PROFILE"  # overrides the active profile of routing_profiles.toml
PROJECT_DECK_DIRS = (Path(".llmdeck") / "inference", Path(".pipelex") / "inference")
PACKAGED_DECK_DIR = Path(__file__).resolve().parent.parent / "default_deck" / "inference"


def locate_deck(path: str | Path | None = None) -> tuple[Path, str]:
    """Return (folder, how it was found).

    Order: explicit ``path``; ``$LLMDECK_CONFIG_DIR``; ``.llmdeck/inference`` then
    ``.pipelex/inference`` in the working directory, then in each parent up to the project
    root (a folder with ``.git`` or ``pyproject.toml``) or the home directory; the packaged
    default deck.
    """
    if path is not None:
        return _checked(Path(path), "argument"), "argument"
    from_env = os.environ.get(CONFIG_DIR_VARIABLE)
    if from_env:
        return _checked(Path(from_env), f"${CONFIG_DIR_VARIABLE}"), f"${CONFIG_DIR_VARIABLE}"
    for folder in search_folders():
        for candidate in PROJECT_DECK_DIRS:
            if (folder / candidate / "backends.toml").is_file():
                return (folder / candidate).resolve(), "project"
    return PACKAGED_DECK_DIR, "packaged default"


def _checked(folder: Path, origin: str) -> Path:
    folder = folder.expanduser()
    if folder.is_dir() and (folder / "backends.toml").is_file():
        return folder.resolve()
    if folder.is_dir() and (folder / "inference" / "backends.toml").is_file():
        # e.g. ".pipelex" given instead of ".pipelex/inference"
        return (folder / "inference").resolve()
    what = "does not exist" if not folder.exists() else "has no backends.toml"
    raise DeckNotFoundError(
        f"deck folder {folder} (from {origin}) {what}",
        hint="point at a folder holding backends.toml, routing_profiles.toml and deck/, "
        "or run `llmdeck init` to write an editable copy of the default deck",
    )
