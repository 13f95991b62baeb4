"""Keys at rest: the Fernet file store, the keyring store, `llmdeck keys`, and the order in
which ${VAR} is resolved (environment, then .env, then the key store)."""

import json
import os
import stat
import subprocess
import sys

import pytest
from keyring.backend import KeyringBackend

from deck_folders import loopback_deck
from llmdeck_nb import load_deck
from llmdeck_nb.errors import KeyStoreError
from llmdeck_nb.keys.store import FileKeyStore, KeyringStore, open_key_store
from llmdeck_nb.redaction import redact
from serve_process import LLMDECK

VALUE = "sk-stored-0123456789abcdefSECRET"


@pytest.fixture
def keys_dir(tmp_path, monkeypatch):
    folder = tmp_path / "keys"
    monkeypatch.setenv("LLMDECK_KEYS_DIR", str(folder))
    monkeypatch.setenv("LLMDECK_KEY_STORE", "file")
    monkeypatch.delenv("LLMDECK_SECRET", raising=False)
    return folder


def test_file_store_encrypts_and_is_private(keys_dir):
    store = FileKeyStore()
    store.set("OPENAI_API_KEY", VALUE)
    assert store.get("OPENAI_API_KEY") == VALUE and store.names() == ["OPENAI_API_KEY"]
    for name in ("keys.json", "keys.secret"):
        path = keys_dir / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert VALUE not in path.read_text()
    assert json.loads((keys_dir / "keys.json").read_text())["keyed_by"] == "keys.secret"
    assert store.remove("OPENAI_API_KEY") and not store.remove("OPENAI_API_KEY")
    assert store.get("OPENAI_API_KEY") is None
    assert redact(f"echo {VALUE}") == "echo [redacted]"  # a stored value is scrubbed everywhere


def test_file_store_keyed_by_llmdeck_secret(keys_dir, monkeypatch):
    monkeypatch.setenv("LLMDECK_SECRET", "correct horse battery staple")
    FileKeyStore().set("MISTRAL_API_KEY", VALUE)
    assert not (keys_dir / "keys.secret").exists()
    assert FileKeyStore().get("MISTRAL_API_KEY") == VALUE
    monkeypatch.setenv("LLMDECK_SECRET", "wrong")
    with pytest.raises(KeyStoreError, match="wrong \\$LLMDECK_SECRET"):
        FileKeyStore().get("MISTRAL_API_KEY")
    monkeypatch.delenv("LLMDECK_SECRET")
    with pytest.raises(KeyStoreError, match="LLMDECK_SECRET, which is not set"):
        FileKeyStore().get("MISTRAL_API_KEY")


def test_bad_names_and_empty_values_are_refused(keys_dir):
    with pytest.raises(KeyStoreError, match="not a variable name"):
        FileKeyStore().set("OPENAI API KEY", VALUE)
    with pytest.raises(KeyStoreError, match="empty value"):
        FileKeyStore().set("OPENAI_API_KEY", "")


def memory_keyring() -> KeyringBackend:
    """A real keyring backend (keyring's own interface), kept in memory. Defined only
    after keyring chose its default, so that choice is not this class."""

    class MemoryKeyring(KeyringBackend):
        priority = 1

        def __init__(self):
            super().__init__()
            self.values = {}

        def get_password(self, service, username):
            return self.values.get((service, username))

        def set_password(self, service, username, password):
            self.values[(service, username)] = password

        def delete_password(self, service, username):
            self.values.pop((service, username), None)

    return MemoryKeyring()


def test_keyring_store_is_chosen_when_a_keyring_exists(keys_dir, monkeypatch):
    import keyring
    from keyring.backends import fail

    monkeypatch.delenv("LLMDECK_KEY_STORE")
    previous = keyring.get_keyring()
    memory = memory_keyring()
    try:
        keyring.set_keyring(fail.Keyring())  # headless: no keyring backend
        assert isinstance(open_key_store(), FileKeyStore)
        with pytest.raises(KeyStoreError, match="no OS keyring"):
            open_key_store("keyring")
        keyring.set_keyring(memory)
        store = open_key_store()
        assert isinstance(store, KeyringStore)
        store.set("ANTHROPIC_API_KEY", VALUE)
        assert memory.values[("llmdeck_nb", "ANTHROPIC_API_KEY")] == VALUE
        assert VALUE not in (keys_dir / "keyring-names.json").read_text()
        deck = load_deck(loopback_deck(keys_dir.parent / "deck", "http://127.0.0.1:9"), env=None)
        assert deck.backends["anthropic"].available
        assert deck.backends["anthropic"].api_key.get() == VALUE
        assert (store.remove("ANTHROPIC_API_KEY")
                and ("llmdeck_nb", "ANTHROPIC_API_KEY") not in memory.values)
    finally:
        keyring.set_keyring(previous)


def test_resolution_order_environment_then_dotenv_then_key_store(keys_dir, tmp_path, monkeypatch):
    deck_folder = loopback_deck(tmp_path / "deck", "http://127.0.0.1:9")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    store = FileKeyStore()
    store.set("OPENAI_API_KEY", "sk-from-the-key-store-0123456789")
    key = lambda: load_deck(deck_folder).backends["openai"].api_key.get()  # noqa: E731
    assert key() == "sk-from-the-key-store-0123456789"
    (tmp_path / ".env").write_text("OPENAI_API_KEY=sk-from-dotenv-0123456789\n")
    assert key() == "sk-from-dotenv-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment-0123456789")
    assert key() == "sk-from-the-environment-0123456789"


def test_deck_loading_imports_no_crypto_unless_a_stored_key_is_used(keys_dir, tmp_path):
    FileKeyStore().set("SOMETHING_ELSE_API_KEY", VALUE)
    code = ("import sys, llmdeck_nb; llmdeck_nb.load_deck(); "
            "print(sorted(m for m in ('cryptography', 'keyring', 'tomlkit', 'starlette', 'openai')"
            " if m in sys.modules))")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env=env, cwd=tmp_path)
    assert out.stdout.strip() == "[]", out.stderr


def keys_cli(*args, cwd, stdin=None):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return subprocess.run([LLMDECK, "keys", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, input=stdin, env=env)


def test_keys_cli_set_list_remove_never_print_values(keys_dir, tmp_path):
    deck = loopback_deck(tmp_path / ".llmdeck" / "inference", "http://127.0.0.1:9")
    assert deck.is_dir()
    stored = keys_cli("set", "OPENAI_API_KEY", cwd=tmp_path, stdin=VALUE + "\n")
    assert stored.returncode == 0, stored.stderr
    assert "stored OPENAI_API_KEY in the encrypted file" in stored.stdout
    (tmp_path / ".env").write_text("ANTHROPIC_API_KEY=sk-dotenv-0123456789abc\n"
                                   "OPENAI_API_KEY=sk-x-0123456789\n")
    listed = keys_cli("list", cwd=tmp_path)
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    assert rows["OPENAI_API_KEY"].split()[1:] == [".env", "key", "store"]
    assert rows["ANTHROPIC_API_KEY"].split()[1] == ".env"
    as_json = {r["name"]: r for r in json.loads(keys_cli("list", "--json", cwd=tmp_path).stdout)}
    assert as_json["OPENAI_API_KEY"] == {"name": "OPENAI_API_KEY", "used": ".env",
                                         "also_in": "key store"}
    assert keys_cli("remove", "OPENAI_API_KEY", cwd=tmp_path).returncode == 0
    assert keys_cli("remove", "OPENAI_API_KEY", cwd=tmp_path).returncode == 1
    for result in (stored, listed):
        assert VALUE not in result.stdout + result.stderr
        assert "sk-dotenv" not in result.stdout + result.stderr
    bad = keys_cli("set", "not a name", cwd=tmp_path, stdin="x\n")
    assert bad.returncode == 1 and "not a variable name" in bad.stderr


def test_keys_set_on_a_terminal_asks_without_echo(keys_dir, tmp_path):
    import pty
    import select

    leader, follower = pty.openpty()
    env = {**os.environ, "LLMDECK_KEYS_DIR": str(keys_dir), "LLMDECK_KEY_STORE": "file"}
    process = subprocess.Popen([LLMDECK, "keys", "set", "TYPED_API_KEY"], stdin=follower,
                               stdout=follower, stderr=follower, env=env, cwd=tmp_path)
    os.close(follower)
    seen = b""

    def read_until(marker: bytes) -> None:
        nonlocal seen
        while marker not in seen:
            ready, _, _ = select.select([leader], [], [], 30)
            assert ready, f"no {marker!r} from llmdeck keys set; got {seen!r}"
            try:
                seen += os.read(leader, 1024)
            except OSError:  # the terminal closed: the process ended
                return

    read_until(b"(not shown): ")
    os.write(leader, VALUE.encode() + b"\n")
    read_until(b"stored TYPED_API_KEY")
    assert process.wait(timeout=30) == 0
    os.close(leader)
    assert VALUE.encode() not in seen
    assert FileKeyStore().get("TYPED_API_KEY") == VALUE
