"""Changing a deck's TOML files in place: comments and layout kept, checked before writing.

A :class:`DeckEdit` holds tomlkit documents of the files it touches. ``commit`` writes
the changed files into a scratch copy of the folder and validates it under every
profile; if that adds an error the deck did not have, nothing is written and the error
says which. Otherwise the folder is backed up (:mod:`llmdeck_nb.deck.backups`) and the
files are replaced atomically.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import tomlkit

from llmdeck_nb.deck.backups import Backup, make_backup
from llmdeck_nb.deck.locate import locate_deck
from llmdeck_nb.errors import DeckEditError, DeckError

if TYPE_CHECKING:
    from tomlkit.toml_document import TOMLDocument


def editable_folder(path: str | Path | None) -> Path:
    """The deck folder commands may change: one the user named or made, never the packaged
    default, and a Pipelex folder (``.pipelex/``) only when named explicitly."""
    folder, origin = locate_deck(path)
    if origin == "packaged default":
        raise DeckEditError(
            "no editable deck here: the packaged default deck is part of the installation",
            hint="run `llmdeck init` (writes ./.llmdeck/inference) or pass --deck PATH")
    if origin == "project" and ".pipelex" in folder.parts:
        raise DeckEditError(
            f"the deck found is Pipelex's own folder ({folder}); llmdeck changes it only when "
            "you point at it", hint=f"pass --deck {folder} to edit it, or run `llmdeck init`")
    return folder


class DeckEdit:
    """The pending changes to one deck folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._documents: dict[str, TOMLDocument] = {}
        self._originals: dict[str, str | None] = {}
        self._removed: set[str] = set()

    def document(self, relative: str) -> TOMLDocument:
        """The parsed file (an empty document if it does not exist yet)."""
        if relative not in self._documents:
            path = self.folder / relative
            text = path.read_text(encoding="utf-8") if path.is_file() else None
            self._originals[relative] = text
            try:
                self._documents[relative] = tomlkit.parse(text or "")
            except tomlkit.exceptions.ParseError as exc:
                raise DeckEditError(f"{path}: TOML syntax error: {exc}",
                                    hint="fix the file by hand first (llmdeck validate)") from None
        self._removed.discard(relative)
        return self._documents[relative]

    def exists(self, relative: str) -> bool:
        return (self.folder / relative).is_file() and relative not in self._removed

    def remove(self, relative: str) -> None:
        if (self.folder / relative).is_file():
            self._removed.add(relative)
        self._documents.pop(relative, None)

    def changes(self) -> dict[str, str | None]:
        """relative path -> new text (None: delete), for files that really change."""
        out: dict[str, str | None] = {r: None for r in self._removed}
        for relative, document in self._documents.items():
            text = tomlkit.dumps(document)
            if text != self._originals.get(relative):
                out[relative] = text
        return out

    def commit(self, reason: str) -> Backup | None:
        """Validate, back up, write. Returns the backup (None when nothing changed)."""
        changes = self.changes()
        if not changes:
            return None
        added = _new_errors(self.folder, changes)
        if added:
            raise DeckEditError(
                "the change would break the deck, so nothing was written: " + "; ".join(added),
                hint="see `llmdeck validate`; the deck files are unchanged")
        backup = make_backup(self.folder, reason)
        for relative, text in changes.items():
            _write(self.folder / relative, text)
        return backup


def _write(path: Path, text: str | None) -> None:
    if text is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(path.name + ".tmp")
    scratch.write_text(text, encoding="utf-8")
    os.replace(scratch, path)


def _new_errors(folder: Path, changes: dict[str, str | None]) -> list[str]:
    """Errors the edited deck has that the current one has not (under any profile)."""
    with tempfile.TemporaryDirectory(prefix="llmdeck-edit-") as scratch:
        before, after = Path(scratch) / "before", Path(scratch) / "after"
        for copy in (before, after):
            shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("__pycache__"))
        for relative, text in changes.items():
            _write(after / relative, text)
        old = set(_errors(before))
        return [message for message in _errors(after) if message not in old]


def _errors(folder: Path) -> list[str]:
    from llmdeck_nb.deck import load_deck
    from llmdeck_nb.deck.validation import validate_deck

    try:
        deck = load_deck(folder, strict=False)
    except DeckError as exc:
        return [exc.message]
    except Exception as exc:  # noqa: BLE001 - a value the loader does not expect at all: refuse it
        return [f"the deck does not load ({type(exc).__name__}: {exc})"]
    messages: dict[str, None] = {}
    for profile in deck.profiles or [deck.active_profile]:
        for problem in validate_deck(deck, profile).errors:
            messages[problem.message] = None
    return list(messages)
