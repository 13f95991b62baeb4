"""Where a project's files are looked for: the working directory, then its parents.

A kernel started in ``notebooks/`` should find the ``.env`` and the ``.llmdeck/inference``
(or ``.pipelex/inference``) folder at the project root, as git, pytest and python-dotenv's
``find_dotenv`` do. The search stops at the first folder that holds ``.git`` or
``pyproject.toml`` (the project root), or at the home directory.
"""

from __future__ import annotations

from pathlib import Path

ROOT_MARKERS = (".git", "pyproject.toml")
ENV_FILE = ".env"


def search_folders(start: str | Path | None = None) -> list[Path]:
    """``start`` (default: the working directory), then each parent up to and including
    the project root or the home directory, nearest first."""
    here = Path(start or Path.cwd()).resolve()
    home = Path.home().resolve()
    folders = []
    for folder in (here, *here.parents):
        folders.append(folder)
        if folder == home or any((folder / marker).exists() for marker in ROOT_MARKERS):
            break
    return folders


def find_env_file(start: str | Path | None = None) -> Path | None:
    """The nearest ``.env`` in :func:`search_folders`, or None."""
    for folder in search_folders(start):
        if (folder / ENV_FILE).is_file():
            return folder / ENV_FILE
    return None


__all__ = ["ENV_FILE", "ROOT_MARKERS", "find_env_file", "search_folders"]
