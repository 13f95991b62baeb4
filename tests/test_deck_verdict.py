"""One routing verdict: for a model the profile cannot serve, `llmdeck validate`, `llmdeck
models`, the panel's rows and the error a call raises all give the same reason, in the same
words (deck/verdict.py)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import warnings
from pathlib import Path

import pytest
from deck_folders import write_deck
from serve_process import LLMDECK

from llmdeck_nb import load_deck
from llmdeck_nb.deck import Deck
from llmdeck_nb.deck.verdict import Reason, Unservable, serving_verdict
from llmdeck_nb.engine.session import Session
from llmdeck_nb.errors import CredentialsMissingError, LLMDeckError, RoutingError
from llmdeck_nb.notebook.choices import choices

LOCAL = "http://127.0.0.1:9/v1"  # never called: the tests only route
FILES = {
    "backends.toml": f'''
        [openai]
        api_key = "${{OPENAI_API_KEY}}"

        [local]
        endpoint = "{LOCAL}"

        [parked]
        enabled = false
        endpoint = "{LOCAL}"

        [broken]
        endpoint = "{LOCAL}"
        strategy = "carrier-pigeon"

        [internal]
        ''',
    "backends/openai.toml": '[models.keyless-model]\nmodel_id = "gpt-4o-mini"\n',
    "backends/local.toml": '''
        [models.served-model]
        model_id = "m0"
        [models.parked-model]
        model_id = "m1"
        [models.broken-model]
        model_id = "m2"
        [models.stray-model]
        model_id = "m3"
        [models.off-model]
        model_id = "m4"
        enabled = false
        [models.lost-model]
        model_id = "m5"
        [models.gated-model]
        model_id = "m7"
        ''',
    "backends/broken.toml": '[models.unlisted-model]\nmodel_id = "m6"\n',
    "routing_profiles.toml": '''
        active = "p"
        [profiles.p]
        description = "one exact route per case, no default"
        [profiles.p.routes]
        "served-model" = "local"
        "keyless-model" = "openai"
        "parked-model" = "parked"
        "broken-model" = "broken"
        "stray-model" = "nowhere"
        "unlisted-model" = "local"
        "off-model" = "local"
        "gated-model" = "internal"
        ''',
    "deck/base_deck.toml": '''
        [aliases]
        ghosts = ["ghost-model", "ghost-two"]
        ''',
}
# model -> the reason the verdict gives (lost-model: no route of profile p reaches it)
CASES = {
    "keyless-model": Reason.MISSING_KEY,
    "parked-model": Reason.BACKEND_DISABLED,
    "broken-model": Reason.MISCONFIGURED,
    "stray-model": Reason.NO_BACKEND,
    "unlisted-model": Reason.NO_SPEC,
    "off-model": Reason.SPEC_DISABLED,
    "lost-model": Reason.NO_ROUTE,
    "gated-model": Reason.NOT_CALLABLE,
}


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.endswith(("_API_KEY", "_API_BASE")) and not k.startswith("LLMDECK_")}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_deck(tmp_path_factory.mktemp("verdict") / "inference", FILES)


@pytest.fixture(scope="module")
def deck(folder: Path) -> Deck:
    # read from where the CLI runs, so that files are named alike ("inference/backends/...")
    with warnings.catch_warnings(), contextlib.chdir(folder.parent):
        warnings.simplefilter("ignore")  # the unknown strategy of 'broken' is a DeckWarning
        return load_deck(folder, env={})


def _cli(folder: Path, *args: str) -> object:
    result = subprocess.run([LLMDECK, *args, "--deck", str(folder), "--profile", "p", "--json"],
                            cwd=folder.parent, env={**_clean_env(), "LLMDECK_KEYS_DIR":
                                                    str(folder.parent / "keys")},
                            capture_output=True, text=True, timeout=60, check=False)
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def validate_rows(folder: Path) -> dict[str, dict[str, object]]:
    report = _cli(folder, "validate")
    assert isinstance(report, dict)
    return {row["model"]: row for row in report["routing"]}


@pytest.fixture(scope="module")
def models_rows(folder: Path) -> dict[str, dict[str, object]]:
    rows = _cli(folder, "models")
    assert isinstance(rows, list)
    return {row["model"]: row for row in rows}


def _verdict(deck: Deck, model: str) -> Unservable:
    found = serving_verdict(deck, model, "p")
    assert isinstance(found, Unservable), found
    return found


def test_the_verdict_serves_a_routable_model(deck: Deck) -> None:
    found = serving_verdict(deck, "served-model", "p")
    assert not isinstance(found, Unservable)
    assert (found.backend.name, found.spec.model_id) == ("local", "m0")


@pytest.mark.parametrize("model", CASES)
def test_every_surface_gives_the_verdicts_reason(model: str, deck: Deck,
                                                 validate_rows: dict[str, dict[str, object]],
                                                 models_rows: dict[str, dict[str, object]]) -> None:
    verdict = _verdict(deck, model)
    assert verdict.reason is CASES[model]
    # `llmdeck validate`: the routing row
    row = validate_rows[model]
    assert (row["callable"], row["why_not"]) == (False, verdict.text)
    # `llmdeck models`: the note
    listed = models_rows[model]
    assert listed["available"] is False and str(listed["note"]).endswith(verdict.text)
    # the panel's row (its group names the backend; the reason follows)
    with Session(deck=deck, cache=False, log=False) as session:
        panel_row = {c.handle: c for c in choices(session, "p")}[model]
    assert panel_row.why_not == verdict.short
    assert panel_row.label.endswith(f"(unavailable: {verdict.short})")
    # the error a call raises
    with pytest.raises(LLMDeckError) as info:
        deck.resolve(model, "p")
    if verdict.reason is Reason.MISSING_KEY:
        assert isinstance(info.value, CredentialsMissingError)
        exc = info.value
        assert (exc.backend, tuple(exc.variables)) == (verdict.backend, verdict.missing)
    else:
        assert isinstance(info.value, RoutingError) and verdict.text in info.value.message


def test_the_wordings(deck: Deck) -> None:
    texts = {model: _verdict(deck, model).text for model in CASES}
    assert texts["keyless-model"] == "backend 'openai' is missing OPENAI_API_KEY"
    assert _verdict(deck, "keyless-model").short == "missing OPENAI_API_KEY"
    assert texts["parked-model"] == "backend 'parked' is disabled (enabled = false)"
    assert texts["broken-model"].startswith("backend 'broken' is ") and "carrier-pigeon" in texts[
        "broken-model"]
    assert texts["stray-model"] == ("routed (exact 'stray-model') to backend 'nowhere', which is "
                                    "not defined in backends.toml")
    assert texts["unlisted-model"] == "backend 'local' has no spec for it (backends/local.toml)"
    assert texts["off-model"].startswith("disabled in ") and "local.toml" in texts["off-model"]
    assert texts["lost-model"] == "no route in profile 'p' reaches it"
    assert texts["gated-model"].startswith("backend 'internal' is not callable from llmdeck (")
    assert texts["gated-model"].endswith("; set up backend 'local' and switch to a profile that "
                                         "routes to it")


def test_a_model_in_no_backend_file_has_one_reason_too(deck: Deck, folder: Path) -> None:
    """`llmdeck models` and the panel list the deck's models only; a name no file lists shows
    where an alias names it: in the resolution error and in the validation report."""
    assert _verdict(deck, "ghost-model").reason is Reason.UNKNOWN
    text = _verdict(deck, "ghost-model").text
    assert text == "not a model in any backends/*.toml file"
    with pytest.raises(RoutingError) as info:
        deck.resolve("ghosts", "p")
    assert f"ghost-model: {text}; ghost-two: {text}" in info.value.message
    report = _cli(folder, "validate")
    assert isinstance(report, dict)
    assert any(p["message"].startswith("alias 'ghosts': 'ghosts' cannot be served")
               and text in p["message"] for p in report["problems"])
