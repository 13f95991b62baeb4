"""`llmdeck init | validate | models | show` through the real console script."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from deck_folders import seed_deck
from serve_process import LLMDECK  # this Python's console script, not another one on PATH

if not LLMDECK:
    pytest.fail("the llmdeck console script is not installed (pip install -e .)")


def run(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items()
                   if not k.endswith(("_API_KEY", "_API_BASE")) and not k.startswith("LLMDECK_")}
    environment.update(env or {})
    return subprocess.run([LLMDECK, *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=60)


def test_init_writes_the_default_deck_and_refuses_to_overwrite(tmp_path):
    first = run("init", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    target = tmp_path / ".llmdeck" / "inference"
    assert (target / "backends.toml").is_file() and (target / "deck" / "base_deck.toml").is_file()
    (target / "backends.toml").write_text("# my edits\n" + (target / "backends.toml").read_text())
    second = run("init", cwd=tmp_path)
    assert second.returncode == 1 and "--force" in second.stderr
    assert (target / "backends.toml").read_text().startswith("# my edits")
    assert run("init", "--force", cwd=tmp_path).returncode == 0
    assert not (target / "backends.toml").read_text().startswith("# my edits")


def test_the_initialised_deck_is_found_and_valid_with_no_key(tmp_path):
    run("init", cwd=tmp_path)
    result = run("validate", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert ".llmdeck/inference (project)" in result.stdout
    assert "openai" in result.stdout and "missing OPENAI_API_KEY" in result.stdout
    assert result.stdout.rstrip().endswith("deck is usable")


def test_validate_reports_every_problem_and_exits_1(tmp_path):
    folder = seed_deck(tmp_path / "inference")
    (folder / "deck" / "cycle.toml").write_text(
        '[aliases]\nping = "pong"\npong = "ping"\n[llm_presets]\nbroken = { llm_handle = '
        '"nothing-here" }\n')
    (folder / "backends" / "openai.toml").write_text(
        (folder / "backends" / "openai.toml").read_text() + "\nmystery_key = 1\n")
    result = run("validate", "--deck", str(folder), "--profile", "mixed", cwd=tmp_path)
    assert result.returncode == 1
    out = result.stdout
    assert "aliases form a cycle: ping -> pong -> ping" in out
    assert "preset 'broken'" in out and "nothing-here" in out
    assert "profile 'mixed', gemini-* -> backend 'vertexai' is not defined in backends.toml" in out
    assert "unknown key 'gpt-4-turbo.mystery_key'" in out
    assert "deck is NOT usable" in out


def test_validate_json_has_the_same_sections(tmp_path):
    folder = seed_deck(tmp_path / "inference")
    result = run("validate", "--deck", str(folder), "--json", cwd=tmp_path,
                 env={"PIPELEX_INFERENCE_API_KEY": "test-key-123456"})
    report = json.loads(result.stdout)
    assert set(report) >= {"backends", "routing", "aliases", "presets", "unknown_keys",
                           "problems", "usable"}
    backends = {b["name"]: b for b in report["backends"]}
    # Pipelex's own service is in the catalog (its endpoint is in real 0.10 folders)
    pipelex = backends["pipelex_inference"]
    assert (pipelex["available"], pipelex["endpoint_host"]) == (True, "inference.pipelex.com")
    assert backends["openai"]["reason"] == "missing OPENAI_API_KEY"
    assert "test-key-123456" not in result.stdout


def test_syntax_error_names_file_and_line(tmp_path):
    folder = seed_deck(tmp_path / "inference")
    (folder / "routing_profiles.toml").write_text('active = "mixed"\n[profiles.mixed\n')
    result = run("models", "--deck", str(folder), cwd=tmp_path)
    assert result.returncode == 1
    assert "routing_profiles.toml, line 2: TOML syntax error" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_folder_is_a_clear_error(tmp_path):
    result = run("show", "--deck", str(tmp_path / "nope"), cwd=tmp_path)
    assert result.returncode == 1
    assert "does not exist" in result.stderr and "llmdeck init" in result.stderr


def test_models_lists_routing_prices_and_references(tmp_path):
    result = run("models", "--json", cwd=tmp_path)
    rows = {r["model"]: r for r in json.loads(result.stdout)}
    assert (rows["demo-chat"]["backend"] == "demo"
            and "demo" in rows["demo-chat"]["aliases"].split(","))
    mini = rows["gpt-4o-mini"]
    assert (mini["backend"], mini["available"]) == ("demo", True)  # auto profile, no key
    # the deck's own prices, not the demo stand-in's zeros
    assert (mini["input_usd_per_1m"], mini["note"]) == (0.15,
                                                        "offline demo stand-in (prices: openai's)")
    table = run("models", "--backend", "demo", cwd=tmp_path).stdout
    assert table.splitlines()[0].split()[:4] == ["model", "type", "backend", "model_id"]


def test_models_with_a_key_routes_to_the_native_provider(tmp_path):
    listed = run("models", "--json", cwd=tmp_path,
                 env={"OPENAI_API_KEY": "sk-test-0123456789abcdefgh"})
    rows = {r["model"]: r for r in json.loads(listed.stdout)}
    mini = rows["gpt-4o-mini"]
    assert (mini["backend"], mini["input_usd_per_1m"]) == ("openai", 0.15)


def test_profile_variable_switches_everything(tmp_path):
    out = run("show", cwd=tmp_path, env={"LLMDECK_PROFILE": "local"}).stdout
    assert "active profile: local (from $LLMDECK_PROFILE)" in out


def test_pipelex_project_folder_is_found(tmp_path):
    seed_deck(tmp_path / ".pipelex" / "inference")
    out = run("show", cwd=tmp_path).stdout
    assert ".pipelex/inference (project)" in out and "active profile: all_pipelex" in out


def test_package_import_stays_light():
    code = ("import sys, llmdeck_nb; llmdeck_nb.load_deck(); "
            "print(sorted(m for m in ('litellm', 'pandas', 'ipywidgets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


def test_validate_live_probes_each_available_backend(tmp_path, fake_llm_server):
    from deck_folders import loopback_deck

    folder = loopback_deck(tmp_path / "deck", fake_llm_server.url)
    result = run("validate", "--live", "--deck", str(folder), cwd=tmp_path,
                 env={"OPENAI_API_KEY": "sk-test-live-0123456789abcdef",
                      "LLMDECK_CACHE_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    live = result.stdout.split("LIVE CHECK")[1]
    assert re.search(r"ok +openai +\d+ ms", live) and re.search(r"ok +demo +\d+ ms", live)
    assert "nan" not in live  # OK rows show their latency
    assert "anthropic" not in live  # unavailable (no key): not probed
    assert any(r.path == "/v1/models" for r in fake_llm_server.requests)
