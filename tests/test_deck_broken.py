"""Broken decks, written by hand: each gets a precise message, never a traceback, never
silence. One test per reported case."""

import contextlib
import io
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from deck_folders import write_deck
from llmdeck_nb import cli, load_deck
from llmdeck_nb.deck.problems import DeckWarning
from llmdeck_nb.deck.presentation import models_table
from llmdeck_nb.engine.session import Session
from llmdeck_nb.errors import AliasDepthError, DeckError, LLMDeckError

KEY = {"OPENAI_API_KEY": "sk-test-broken-0123456789abcdef"}


def small_deck(root: Path, *, backends: str | None = None, routing: str | None = None,
               deck: str | None = None, specs: str | None = None) -> Path:
    return write_deck(root, {
        "backends.toml": backends or '[openai]\napi_key = "${OPENAI_API_KEY}"\n',
        "backends/openai.toml": specs or '[gpt-4o-mini]\ncosts = { input = 0.15, output = 0.6 }\n',
        "routing_profiles.toml": routing or 'active = "p"\n[profiles.p]\ndefault = "openai"\n',
        "deck/base_deck.toml": deck or '[aliases]\nsmall = "gpt-4o-mini"\n',
    })


def strict_error(folder: Path) -> str:
    with pytest.raises(DeckError) as info:
        load_deck(folder, env=KEY)
    return info.value.message


def validate(folder: Path, *args: str) -> tuple[int, str, str]:
    """`llmdeck validate` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["validate", "--deck", str(folder), *args])
    return code, out.getvalue(), err.getvalue()


def test_endpoint_of_the_wrong_type_names_file_table_key_and_type(tmp_path):
    folder = small_deck(tmp_path,
                        backends='[openai]\nendpoint = 123\napi_key = "${OPENAI_API_KEY}"\n')
    assert strict_error(folder) == ("backends.toml: key 'openai.endpoint': expected a string or a "
                                    "list of strings, got integer 123")
    code, out, _ = validate(folder)
    assert code == 1 and "key 'openai.endpoint': expected a string or a list of strings" in out


def test_routes_given_as_a_string(tmp_path):
    folder = small_deck(tmp_path,
                        routing='active = "p"\n[profiles.p]\ndefault = "openai"\n'
                                'routes = "gpt-*"\n')
    assert strict_error(folder) == ("routing_profiles.toml: key 'profiles.p.routes': expected a "
                                    "table of string values, got string 'gpt-*'")


def test_aliases_given_as_a_number(tmp_path):
    folder = small_deck(tmp_path, deck="aliases = 5\n")
    assert (strict_error(folder)
            == "deck/base_deck.toml: key 'aliases': expected a table, got integer 5")


def test_a_3000_deep_alias_chain_is_one_message_in_validate_and_complete(tmp_path):
    chain = "".join(f'a{i} = "a{i + 1}"\n' for i in range(3000)) + 'a3000 = "gpt-4o-mini"\n'
    folder = small_deck(tmp_path, deck="[aliases]\n" + chain)
    code, out, _ = validate(folder)
    assert code == 1
    assert "alias 'a0': alias 'a0' nests aliases more than 64 deep (at 'a63' -> 'a64')" in out
    deck = load_deck(folder, env=KEY)
    assert deck.resolve("a2950").primary.model == "gpt-4o-mini"  # a chain of 51 is fine
    assert models_table(deck)[0]["model"] == "gpt-4o-mini"  # `llmdeck models` still lists
    with Session(deck=deck, cache=False, log=False) as session:
        with pytest.raises(AliasDepthError, match="nests aliases more than 64 deep"):
            session.complete("hi", model="a0")


def _unprivileged(run) -> str:
    """``run()`` in a child process that cannot read what its mode forbids (root can read
    any file, so the child drops to uid 65534 first); returns what ``run`` returned."""
    if os.geteuid() != 0:
        return run()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read_end)
        try:
            os.setgid(65534)
            os.setuid(65534)
            text = run()
        except BaseException as exc:  # noqa: BLE001 - report it to the parent, whatever it is
            text = f"{type(exc).__name__}: {exc}"
        os.write(write_end, text.encode())
        os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode()


@pytest.fixture
def shared_dir():
    """A folder another user can reach (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="llmdeck-perm-"))
    path.chmod(0o755)
    yield path
    for sub in path.rglob("*"):
        sub.chmod(0o755)
    shutil.rmtree(path)


def _tree_readable(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


@pytest.mark.parametrize("unreadable, expected", [
    ("backends.toml", "backends.toml: cannot read this file (permission denied)"),
    ("backends/openai.toml", "backends/openai.toml: cannot read this file (permission denied)"),
    ("deck", "deck/: cannot read this folder (permission denied)"),
])
def test_unreadable_files_and_folders_are_errors_not_tracebacks(shared_dir, monkeypatch,
                                                                unreadable, expected):
    keys = shared_dir / "keys"  # a key store the unprivileged child may read
    keys.mkdir(mode=0o777)
    monkeypatch.setenv("LLMDECK_KEYS_DIR", str(keys))
    folder = small_deck(shared_dir / "inference")
    _tree_readable(folder)
    (folder / unreadable).chmod(0o000)

    def run() -> str:
        code, out, err = validate(folder)
        return f"exit {code}\n{out}{err}"

    report = _unprivileged(run)
    assert report.startswith("exit 1"), report
    assert expected in report and "Traceback" not in report and "PermissionError" not in report


def test_enabled_must_be_a_boolean_and_nothing_is_sent(tmp_path, fake_llm_server):
    folder = small_deck(tmp_path,
                        backends='[openai]\nenabled = "yes"\nendpoint = '
                                 f'"{fake_llm_server.url}/v1"\n'
                                           'api_key = "${OPENAI_API_KEY}"\n')
    assert (strict_error(folder)
            == "backends.toml: key 'openai.enabled': expected true or false, got string 'yes'")
    deck = load_deck(folder, env=KEY, strict=False)
    with Session(deck=deck, cache=False, log=False) as session, pytest.raises(LLMDeckError) as info:
        session.complete("hi", model="gpt-4o-mini")
    assert "backend 'openai' is misconfigured" in str(info.value)
    assert fake_llm_server.requests == []


def test_an_unclosed_placeholder_is_an_error_and_never_sent(tmp_path, fake_llm_server):
    folder = small_deck(tmp_path, backends=f'[openai]\nendpoint = "{fake_llm_server.url}/v1"\n'
                                           'api_key = "${UNCLOSED"\n')
    assert (strict_error(folder)
            == "backends.toml: key 'openai.api_key': has a '${' without its closing '}'")
    deck = load_deck(folder, env=KEY, strict=False)
    with Session(deck=deck, cache=False, log=False) as session, pytest.raises(LLMDeckError):
        session.complete("hi", model="gpt-4o-mini")
    assert fake_llm_server.requests == []


def test_a_route_pattern_that_matches_nothing_is_a_warning(tmp_path):
    folder = small_deck(tmp_path, routing='active = "p"\n[profiles.p]\ndefault = "openai"\n'
                                          '[profiles.p.routes]\n"**" = "openai"\n"gpt-*-mini" = '
                                          '"openai"\n')
    with pytest.warns(DeckWarning):
        messages = [p.message for p in load_deck(folder, env=KEY).problems
                    if p.severity == "warning"]
    assert ("routing_profiles.toml: profile 'p', routes pattern '**' matches only model names that "
            "start with '*': write \"*\" to match every model") in messages
    assert any("pattern 'gpt-*-mini' has a '*' that is not at its start or end" in m
               for m in messages)


def test_a_cache_table_session_would_refuse_is_a_validate_error(tmp_path):
    folder = small_deck(tmp_path,
                        deck='[aliases]\nsmall = "gpt-4o-mini"\n[cache]\nurl = '
                             '"http://cache.local:6379"\n')
    code, out, _ = validate(folder)
    assert code == 1
    assert ("deck/base_deck.toml: key 'cache': cache url must start with redis://, rediss:// or "
            "unix://" in out)


@pytest.mark.parametrize("change, expected", [
    ({"deck": 'cache = 5\n'}, "deck/base_deck.toml: key 'cache': expected a table such as"),
    ({"specs": '[gpt-4o-mini]\ncosts = { input = -1, output = 0.6 }\n'},
     "backends/openai.toml: key 'gpt-4o-mini.costs.input': Input should be greater than or equal "
     "to 0, got integer -1"),
    ({"backends": '[openai]\nendpoint = "not a url"\napi_key = "${OPENAI_API_KEY}"\n'},
     "backends.toml: key 'openai.endpoint': 'not a url' is not an http:// or https:// URL with a "
     "host"),
    ({"specs": '[gpt-4o-mini]\nmax_tokens = "8192"\n'},
     "backends/openai.toml: key 'gpt-4o-mini.max_tokens': expected an integer, got string '8192'"),
    ({"deck": '[llm.choice_defaults]\ndefault_temperature = "warm"\n'},
     "deck/base_deck.toml: key 'llm.choice_defaults.default_temperature': expected a number, got "
     "string 'warm'"),
])
def test_values_once_silently_accepted_are_errors(tmp_path, change, expected):
    message = strict_error(small_deck(tmp_path, **change))
    assert message.startswith(expected), message


def test_misspelt_backend_key_is_reported_with_a_suggestion(tmp_path):
    folder = small_deck(tmp_path, backends='[openai]\nendpont = "https://api.openai.com/v1"\n'
                                           'api_key = "${OPENAI_API_KEY}"\n')
    with pytest.warns(DeckWarning, match="did you mean 'endpoint'"):  # in Python: a DeckWarning
        warnings = [p.message for p in load_deck(folder, env=KEY).problems
                    if p.severity == "warning"]
    assert warnings == ["backends.toml: unknown key 'openai.endpont' in backend 'openai' (ignored) "
                        "(did you mean 'endpoint'?)"]


def test_unknown_provider_message_is_not_garbled(tmp_path):
    folder = small_deck(tmp_path, backends='[mystery]\napi_key = "x"\n',
                        routing='active = "p"\n[profiles.p]\ndefault = "mystery"\n',
                        specs='[gpt-4o-mini]\n')
    (folder / "backends" / "openai.toml").rename(folder / "backends" / "mystery.toml")
    with pytest.warns(DeckWarning, match="backend 'mystery' is not a known provider"):
        deck = load_deck(folder, env={})
    with pytest.raises(LLMDeckError) as info:
        deck.resolve("gpt-4o-mini")
    assert ("gpt-4o-mini: backend 'mystery' is not a known provider and has no endpoint"
            in str(info.value))
    assert "is backend" not in str(info.value)


def test_the_cli_shows_warnings_as_report_lines_not_python_warnings(tmp_path):
    folder = small_deck(tmp_path, specs='[gpt-4o-mini]\ncontext_windw = 5\n')
    code, out, err = validate(folder)
    assert code == 0 and "unknown key 'gpt-4o-mini.context_windw'" in out
    assert "DeckWarning" not in out + err and ".py:" not in out + err
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert cli.main(["models", "--deck", str(folder)]) == 0
    assert err.getvalue().startswith("WARNINGS (1)\n  backends/openai.toml: unknown key")
    assert "DeckWarning" not in err.getvalue()
