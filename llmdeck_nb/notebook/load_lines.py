"""The ``%load_ext`` status line, remembered for the deck inputs it was computed from.

Loading the deck (pydantic, every TOML file, validation) is most of what ``%load_ext``
would cost, yet the line it prints depends only on: the deck folder the search order
finds, the bytes of its TOML files, the nearest ``.env`` file, the names in the key store
(``llmdeck keys``), the environment variables the files name, ``$LLMDECK_PROFILE``, the
working directory (the folder is shown relative to it) and this package's code. Each time
``%load_ext`` really loads the deck, the line is
stored under a fingerprint of all of these; a later ``%load_ext`` whose fingerprint
matches prints the stored line, and the deck is loaded by the first magic that needs it.

The fingerprint holds no secret: of a variable whose name looks secret (``*_API_KEY``)
only "set or not" counts, which is all a deck's availability depends on; the ``.env``
file counts by its size and modification time, not its content; the key store by the
names it holds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from llmdeck_nb.deck.locate import PROFILE_VARIABLE, locate_deck
from llmdeck_nb.deck.project import find_env_file
from llmdeck_nb.errors import LLMDeckError
from llmdeck_nb.keys.lookup import stored_names
from llmdeck_nb.paths import state_dir
from llmdeck_nb.redaction import looks_secret

FILE_NAME = "load_lines.json"
KEEP = 32  # fingerprints remembered (projects, profiles, environments)

_PLACEHOLDER = re.compile(rb"\$\{([^}]*)\}")
_NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")
_PACKAGE = Path(__file__).resolve().parent.parent


def fingerprint() -> str | None:
    """A digest of everything the load line depends on; None if no deck folder is found."""
    try:
        folder, origin = locate_deck()
    except LLMDeckError:
        return None
    digest = hashlib.sha256()

    def feed(*parts: object) -> None:
        for part in parts:
            digest.update(part if isinstance(part, bytes) else str(part).encode())
            digest.update(b"\0")

    feed(os.getcwd(), folder, origin)
    for path in sorted(_PACKAGE.rglob("*.py")):  # the code that computes the line
        stat = path.stat()
        feed(path, stat.st_mtime_ns, stat.st_size)
    names = {PROFILE_VARIABLE.encode()}
    for path in sorted(folder.rglob("*.toml")):
        data = path.read_bytes()
        feed(path.relative_to(folder), data)
        for inside in _PLACEHOLDER.findall(data):
            names.update(_NAME.findall(inside))
    env_file = find_env_file()
    if env_file is not None:
        stat = env_file.stat()
        feed(env_file, stat.st_mtime_ns, stat.st_size, stat.st_ino)
    feed(sorted(stored_names().items()))
    for raw in sorted(names):
        name = raw.decode()
        value = os.environ.get(name)
        feed(name, "unset" if value is None else ("set" if looks_secret(name) else value))
    return digest.hexdigest()


def _store() -> Path:
    return state_dir() / FILE_NAME


def _read() -> dict[str, str]:
    try:
        data = json.loads(_store().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remembered(key: str | None) -> str | None:
    """The line stored for this fingerprint, if any."""
    if key is None:
        return None
    line = _read().get(key)
    return line if isinstance(line, str) else None


def remember(key: str | None, line: str) -> None:
    """Store ``line`` under ``key`` (the newest :data:`KEEP` are kept); never fails the load."""
    if key is None:
        return
    lines = _read()
    lines.pop(key, None)
    lines[key] = line
    kept = dict(list(lines.items())[-KEEP:])
    path = _store()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(kept), encoding="utf-8")
        os.replace(partial, path)  # atomic: another kernel never reads half a file
    except OSError:
        pass


__all__ = ["fingerprint", "remember", "remembered"]
