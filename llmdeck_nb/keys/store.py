"""Where keys are kept: the OS keyring, or a Fernet-encrypted file readable only by the user.

``$LLMDECK_KEY_STORE`` picks one (``keyring`` or ``file``); by default the keyring when
the machine has a real backend, else the file (headless servers, Binder, CI).

The file store is ``keys.json`` in ``$LLMDECK_KEYS_DIR`` (default: the per-user config
folder, ``~/.config/llmdeck_nb`` on Linux), mode 0600. The key names are stored in clear
(they are not secret, and the deck's lookups read them without decrypting anything);
the values are one Fernet token, keyed by ``$LLMDECK_SECRET`` (through PBKDF2) when it is
set, else by a generated ``keys.secret`` file (0600) next to it.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from abc import ABC, abstractmethod
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from llmdeck_nb.errors import KeyStoreError
from llmdeck_nb.redaction import register_secret

KEYS_DIR_VARIABLE = "LLMDECK_KEYS_DIR"
SECRET_VARIABLE = "LLMDECK_SECRET"
STORE_VARIABLE = "LLMDECK_KEY_STORE"
STORE_FILE = "keys.json"
KEY_FILE = "keys.secret"
KEYRING_INDEX = "keyring-names.json"
KEYRING_SERVICE = "llmdeck_nb"
PBKDF2_ITERATIONS = 300_000
FORMAT = 1


def keys_dir() -> Path:
    configured = os.environ.get(KEYS_DIR_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("llmdeck_nb"))


def check_name(name: str) -> str:
    if not name.isidentifier() or not name.isascii():
        raise KeyStoreError(f"'{name}' is not a variable name",
                            hint="use the name the deck refers to, e.g. OPENAI_API_KEY")
    return name


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` so that only the user can read it (0600), replacing atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    scratch = path.with_name(path.name + ".tmp")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(scratch, 0o600)
    os.replace(scratch, path)


def read_names(path: Path) -> list[str]:
    """The names a store file or index lists (no decryption)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    names = data.get("names") if isinstance(data, dict) else None
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


class KeyStore(ABC):
    kind: str  # "keyring" | "encrypted file"

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the keys are, for messages (never a value)."""

    @abstractmethod
    def names(self) -> list[str]: ...

    @abstractmethod
    def get(self, name: str) -> str | None: ...

    @abstractmethod
    def set(self, name: str, value: str) -> None: ...

    @abstractmethod
    def remove(self, name: str) -> bool:
        """Forget ``name``; False when it was not stored."""

    def describe(self) -> str:
        return f"{self.kind} {self.location}"


@lru_cache(maxsize=8)
def _derived_key(secret: str, salt: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=PBKDF2_ITERATIONS)
    return base64.urlsafe_b64encode(kdf.derive(secret.encode()))


class FileKeyStore(KeyStore):
    kind = "encrypted file"

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or keys_dir()
        self.path = self.folder / STORE_FILE

    @property
    def location(self) -> str:
        return str(self.path)

    def names(self) -> list[str]:
        return read_names(self.path)

    def get(self, name: str) -> str | None:
        return self._values().get(name)

    def set(self, name: str, value: str) -> None:
        check_name(name)
        if not value:
            raise KeyStoreError(f"empty value for {name}: nothing stored")
        values = self._values()
        values[name] = value
        self._save(values)

    def remove(self, name: str) -> bool:
        values = self._values()
        if values.pop(name, None) is None:
            return False
        self._save(values)
        return True

    # --- encryption ---------------------------------------------------------------------------

    def _values(self) -> dict[str, str]:
        if not self.path.is_file():
            return {}
        from cryptography.fernet import Fernet, InvalidToken

        try:
            data = json.loads(self.path.read_text())
            key = self._key(data.get("keyed_by"), base64.b64decode(data.get("salt") or ""))
            values = json.loads(Fernet(key).decrypt(data["token"].encode()))
        except InvalidToken:
            raise KeyStoreError(
                f"cannot decrypt {self.path}: wrong ${SECRET_VARIABLE} or a changed {KEY_FILE}",
                hint=f"set the {SECRET_VARIABLE} it was written with, or remove the file and "
                     "store the keys again") from None
        except (ValueError, KeyError, TypeError):
            raise KeyStoreError(f"{self.path} is not an llmdeck key store",
                                hint="move it away; `llmdeck keys set` writes a new one") from None
        for value in values.values():
            register_secret(value)
        return values

    def _key(self, keyed_by: str | None, salt: bytes) -> bytes:
        if keyed_by == SECRET_VARIABLE:
            secret = os.environ.get(SECRET_VARIABLE)
            if not secret:
                raise KeyStoreError(f"{self.path} was encrypted with ${SECRET_VARIABLE}, which "
                                    "is not set", hint=f"export {SECRET_VARIABLE}=... first")
            return _derived_key(secret, salt)
        key_file = self.folder / KEY_FILE
        try:
            return key_file.read_bytes().strip()
        except OSError:
            raise KeyStoreError(f"{self.path} needs its key file {key_file}, which is missing",
                                hint="restore the file, or remove the store and set the keys "
                                     "again") from None

    def _save(self, values: dict[str, str]) -> None:
        from cryptography.fernet import Fernet

        secret = os.environ.get(SECRET_VARIABLE)
        salt = secrets.token_bytes(16)
        if secret:
            keyed_by, key = SECRET_VARIABLE, _derived_key(secret, salt)
        else:
            keyed_by, key_file = KEY_FILE, self.folder / KEY_FILE
            if not key_file.is_file():
                write_private(key_file, Fernet.generate_key())
            key = self._key(KEY_FILE, salt)
        token = Fernet(key).encrypt(json.dumps(values).encode()).decode()
        document = {"format": FORMAT, "names": sorted(values), "keyed_by": keyed_by,
                    "salt": base64.b64encode(salt).decode() if secret else "", "token": token}
        write_private(self.path, (json.dumps(document, indent=1) + "\n").encode())


class KeyringStore(KeyStore):
    """The OS keyring (service ``llmdeck_nb``); the names it holds are listed in a small
    index file, since keyrings cannot list their entries."""

    kind = "keyring"

    def __init__(self, folder: Path | None = None) -> None:
        import keyring

        self._keyring = keyring
        self.index = (folder or keys_dir()) / KEYRING_INDEX

    @property
    def location(self) -> str:
        return f"{type(self._keyring.get_keyring()).__name__} (service {KEYRING_SERVICE!r})"

    def names(self) -> list[str]:
        return read_names(self.index)

    def get(self, name: str) -> str | None:
        value = self._call(self._keyring.get_password, KEYRING_SERVICE, name)
        if value:
            register_secret(value)
        return value or None

    def set(self, name: str, value: str) -> None:
        check_name(name)
        if not value:
            raise KeyStoreError(f"empty value for {name}: nothing stored")
        self._call(self._keyring.set_password, KEYRING_SERVICE, name, value)
        self._save_index({*self.names(), name})

    def remove(self, name: str) -> bool:
        if name not in self.names():
            return False
        try:
            self._call(self._keyring.delete_password, KEYRING_SERVICE, name)
        except KeyStoreError:
            pass  # already gone from the keyring: forget the name anyway
        self._save_index(set(self.names()) - {name})
        return True

    def _save_index(self, names: Iterable[str]) -> None:
        write_private(self.index, (json.dumps({"names": sorted(names)}) + "\n").encode())

    def _call(self, method, *args):
        from keyring.errors import KeyringError

        try:
            return method(*args)
        except KeyringError as exc:
            raise KeyStoreError(
                f"the OS keyring failed: {type(exc).__name__}",
                hint=f"use the encrypted file instead: {STORE_VARIABLE}=file") from None


def keyring_usable() -> bool:
    """True when the keyring package has a real backend here (not the 'fail' one)."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return False
    backend = keyring.get_keyring()
    return not isinstance(backend, fail.Keyring) and getattr(backend, "priority", 0) > 0


def open_key_store(kind: str | None = None) -> KeyStore:
    kind = kind or os.environ.get(STORE_VARIABLE) or "auto"
    if kind not in ("auto", "file", "keyring"):
        raise KeyStoreError(f"unknown key store '{kind}' (${STORE_VARIABLE})",
                            hint="use keyring or file")
    if kind == "file":
        return FileKeyStore()
    if keyring_usable():
        return KeyringStore()
    if kind == "keyring":
        raise KeyStoreError("no OS keyring backend is available on this machine",
                            hint=f"use the encrypted file: {STORE_VARIABLE}=file")
    return FileKeyStore()
