"""`llmdeck backend ...`, `backup list`, `restore` through the real console script:
TOML edited in place with comments kept, validated before writing, backed up first."""

import os
import subprocess
from pathlib import Path

import pytest

from deck_folders import loopback_deck, seed_deck
from serve_process import LLMDECK

COMMENT = "# my own note about the openai backend: keep me"


def run(*args: str, cwd: Path, env: dict | None = None,
        stdin: str | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items()
                   if not k.endswith("_API_KEY")
                   and not k.startswith(("LLMDECK_CONFIG", "LLMDECK_PROFILE"))}
    environment.update(env or {})
    return subprocess.run([LLMDECK, *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=60, input=stdin)


@pytest.fixture
def project(tmp_path):
    """A project folder with ./.llmdeck/inference (the loopback deck), a comment added."""
    deck = loopback_deck(tmp_path / ".llmdeck" / "inference", "http://127.0.0.1:9")
    text = (deck / "backends.toml").read_text()
    (deck / "backends.toml").write_text(text.replace("[openai]", f"{COMMENT}\n[openai]", 1))
    return tmp_path


def deck_files(project: Path) -> dict[str, str]:
    root = project / ".llmdeck" / "inference"
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*.toml"))}


def test_add_writes_backend_models_and_routes_keeping_comments(project, fake_llm_server):
    before = deck_files(project)
    done = run("backend", "add", "gpu_box", "--endpoint", fake_llm_server.url + "/v1",
               "--key-env", "GPU_BOX_API_KEY", "--models", "llama-3.3-70b,qwen3-coder", cwd=project)
    assert done.returncode == 0, done.stderr
    assert ("added backend 'gpu_box'" in done.stdout
            and "backup of the previous deck:" in done.stdout)
    after = deck_files(project)
    backends = after["backends.toml"]
    assert backends.startswith(before["backends.toml"])  # every byte before kept, comment included
    assert COMMENT in backends and 'api_key = "${GPU_BOX_API_KEY}"' in backends
    assert '["llama-3.3-70b"]' in after["backends/gpu_box.toml"]
    assert 'qwen3-coder = "gpu_box"' in after["routing_profiles.toml"]
    listed = run("backend", "list", cwd=project).stdout
    assert "gpu_box" in listed and "missing GPU_BOX_API_KEY" in listed
    # with the key, the new model is callable and routed to the new backend
    models = run("models", "--backend", "gpu_box", cwd=project,
                 env={"GPU_BOX_API_KEY": "k" * 12}).stdout
    assert "llama-3.3-70b" in models and "qwen3-coder" in models
    tested = run("backend", "test", "gpu_box", cwd=project, env={"GPU_BOX_API_KEY": "k" * 12})
    assert tested.returncode == 0 and "ok" in tested.stdout, tested.stdout + tested.stderr


def test_set_enable_disable_and_remove(project):
    assert run("backend", "set", "backup", 'display_name="Second box"', "timeout=5",
               cwd=project).returncode == 0
    text = deck_files(project)["backends.toml"]
    assert 'display_name = "Second box"' in text and "timeout = 5" in text and COMMENT in text
    assert run("backend", "disable", "backup", cwd=project).returncode == 0
    assert "disabled (enabled = false)" in run("backend", "list", cwd=project).stdout
    assert run("backend", "enable", "backup", cwd=project).returncode == 0
    removed = run("backend", "remove", "backup", cwd=project)
    assert removed.returncode == 0, removed.stderr
    assert "removed 'backup' from the fallback_order of profile 'loopback'" in removed.stdout
    files = deck_files(project)
    assert "[backup]" not in files["backends.toml"] and "backends/backup.toml" not in files
    assert '"backup"' not in files["routing_profiles.toml"] and COMMENT in files["backends.toml"]


def test_an_edit_that_breaks_the_deck_writes_nothing(project):
    before = deck_files(project)
    refused = run("backend", "set", "openai", 'enabled="sometimes"', cwd=project)
    assert refused.returncode == 1
    assert "would break the deck, so nothing was written" in refused.stderr
    assert "openai.enabled" in refused.stderr and "Traceback" not in refused.stderr
    removing_default = run("backend", "remove", "openai", cwd=project)  # the profile default
    assert removing_default.returncode == 1 and "nothing was written" in removing_default.stderr
    assert deck_files(project) == before
    assert not (project / ".llmdeck" / "inference.backups").exists()


def test_keys_are_never_written_into_the_deck(project):
    refused = run("backend", "set", "openai", "api_key=sk-live-0123456789abcdef", cwd=project)
    assert refused.returncode == 1 and "refusing to write a literal api_key" in refused.stderr
    assert "sk-live-0123456789abcdef" not in refused.stderr + refused.stdout
    assert (run("backend", "set", "openai", "api_key=${OTHER_OPENAI_KEY}", cwd=project).returncode
            == 0)


def test_backup_list_and_restore(project):
    original = deck_files(project)
    run("backend", "disable", "backup", cwd=project)
    run("backend", "remove", "anthropic", cwd=project)
    backups = run("backup", "list", cwd=project).stdout.splitlines()
    assert len(backups) == 2 and "backend disable backup" in backups[0]
    assert "backend remove anthropic" in backups[1]
    restored = run("restore", backups[0].split()[0], cwd=project)  # back to before both changes
    assert restored.returncode == 0 and "restored" in restored.stdout
    assert deck_files(project) == original
    # the restore is undoable
    assert len(run("backup", "list", cwd=project).stdout.splitlines()) == 3
    run("restore", cwd=project)  # the latest: the deck as it was before the restore
    assert "[anthropic]" not in deck_files(project)["backends.toml"]
    unknown = run("restore", "20000101T000000.000000Z", cwd=project)
    assert unknown.returncode == 1 and "llmdeck backup list" in unknown.stderr


def test_commands_never_touch_the_packaged_deck_or_an_unnamed_pipelex_folder(tmp_path):
    nothing = run("backend", "disable", "openai", cwd=tmp_path)
    assert nothing.returncode == 1 and "llmdeck init" in nothing.stderr
    pipelex = seed_deck(tmp_path / ".pipelex" / "inference")
    before = (pipelex / "backends.toml").read_text()
    refused = run("backend", "disable", "openai", cwd=tmp_path)
    assert refused.returncode == 1 and "Pipelex's own folder" in refused.stderr
    assert (pipelex / "backends.toml").read_text() == before
    named = run("backend", "set", "openai", "timeout=5", "--deck", str(pipelex), cwd=tmp_path)
    assert named.returncode == 0, named.stderr
    assert "timeout = 5" in (pipelex / "backends.toml").read_text()


def test_unknown_backend_names_the_known_ones(project):
    done = run("backend", "set", "opneai", "timeout=3", cwd=project)
    assert (done.returncode == 1 and "no backend named 'opneai'" in done.stderr
            and "openai" in done.stderr)
