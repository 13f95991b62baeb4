"""The key store as the last layer of the deck's environment (after os.environ and .env).

:func:`with_key_store` is the hook :func:`llmdeck_nb.deck.envsubst.deck_environment` calls.
It costs one ``stat`` when no key store exists, and imports the store (and
cryptography or keyring) only when a ``${VAR}`` names a key that is in it.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Iterator, Mapping, MutableMapping
from typing import cast

from llmdeck_nb.keys.store import KEYRING_INDEX, STORE_FILE, keys_dir, read_names


def stored_names() -> dict[str, str]:
    """name -> "file" or "keyring", for every key stored (read from the name lists only)."""
    folder = keys_dir()
    found: dict[str, str] = {}
    for kind, file in (("keyring", KEYRING_INDEX), ("file", STORE_FILE)):
        path = folder / file
        if path.is_file():
            found.update(dict.fromkeys(read_names(path), kind))
    return found


class KeyStoreView(Mapping[str, str]):
    """Read-only mapping over the stored keys; values are fetched (decrypted) on access."""

    def __init__(self, names: dict[str, str]) -> None:
        self._names = names
        self._values: dict[str, str] = {}

    def __getitem__(self, name: str) -> str:
        if name not in self._names:
            raise KeyError(name)
        if name not in self._values:
            from llmdeck_nb.keys.store import FileKeyStore, KeyringStore

            store = KeyringStore() if self._names[name] == "keyring" else FileKeyStore()
            value = store.get(name)
            if value is None:
                raise KeyError(name)
            self._values[name] = value
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def with_key_store(environment: dict[str, str]) -> Mapping[str, str]:
    """``environment`` first, then the key store (the environment unchanged if it is empty)."""
    names = stored_names()
    if not names:
        return environment
    # ChainMap writes only to its first map: the key store view is read, never written
    return ChainMap(environment, cast("MutableMapping[str, str]", KeyStoreView(names)))
