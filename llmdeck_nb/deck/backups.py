"""Timestamped copies of a deck folder, kept next to it, and bringing one back.

A deck at ``.llmdeck/inference`` keeps its backups in ``.llmdeck/inference.backups/``,
one folder per change (``20261201T212733.123456Z``) holding a full copy and a
``BACKUP.json`` that says why it was taken. Every edit of ``llmdeck backend`` and
every ``llmdeck restore`` takes one first, so each step can be undone.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from llmdeck_nb.errors import DeckEditError

NOTE_FILE = "BACKUP.json"
STAMP = "%Y%m%dT%H%M%S.%fZ"


@dataclass(frozen=True)
class Backup:
    name: str
    path: Path
    created: datetime
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "created": self.created.isoformat(timespec="seconds"),
                "reason": self.reason, "path": str(self.path)}


def backups_dir(folder: Path) -> Path:
    return folder.parent / f"{folder.name}.backups"


def make_backup(folder: Path, reason: str) -> Backup:
    """Copy ``folder`` to a new timestamped backup and return it."""
    created = datetime.now(timezone.utc)
    target = backups_dir(folder) / created.strftime(STAMP)
    shutil.copytree(folder, target, ignore=shutil.ignore_patterns("__pycache__"))
    (target / NOTE_FILE).write_text(json.dumps({"created": created.isoformat(), "reason": reason,
                                                "folder": str(folder)}, indent=2) + "\n")
    return Backup(target.name, target, created, reason)


def list_backups(folder: Path) -> list[Backup]:
    """The backups of ``folder``, oldest first."""
    root = backups_dir(folder)
    found = []
    for path in sorted(root.iterdir()) if root.is_dir() else ():
        note = path / NOTE_FILE
        if not note.is_file():
            continue
        try:
            data = json.loads(note.read_text())
            found.append(Backup(path.name, path, datetime.fromisoformat(data["created"]),
                                str(data.get("reason", ""))))
        except (ValueError, KeyError):
            continue  # not one of ours
    return found


def restore_backup(folder: Path, name: str | None = None) -> tuple[Backup, Backup]:
    """Put backup ``name`` (default: the latest) back in place of ``folder``.

    Returns (the backup restored, the backup of what was there before).
    """
    backups = list_backups(folder)
    if not backups:
        raise DeckEditError(
            f"{folder} has no backups (none in {backups_dir(folder)})",
            hint="backups are taken by `llmdeck backend add|set|remove|enable|disable`")
    chosen = backups[-1] if name is None else next((b for b in backups if b.name == name), None)
    if chosen is None:
        raise DeckEditError(
            f"no backup named '{name}' in {backups_dir(folder)}",
            hint="list them with `llmdeck backup list`; latest: " + backups[-1].name)
    before = make_backup(folder, f"before restoring {chosen.name}")
    scratch = folder.with_name(folder.name + ".restoring")
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(chosen.path, scratch, ignore=shutil.ignore_patterns(NOTE_FILE))
    shutil.rmtree(folder)
    scratch.rename(folder)
    return chosen, before
