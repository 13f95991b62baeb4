"""The magics through a real IPython shell: demo backend and the loopback fake server.

Fixtures (``session``, ``ip``, ``run``) are in tests/notebooks_magics/shell_fixtures.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from deck_folders import SENTINEL_KEY, loopback_deck, seed_deck
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from llmdeck_nb import load_deck
from llmdeck_nb.engine.result import Result
from llmdeck_nb.engine.session import Session, default_session, set_default_session
from llmdeck_nb.notebook import display

pytest_plugins = ["notebooks_magics.shell_fixtures"]


# --- loading --------------------------------------------------------------------------------


def test_load_ext_in_a_fresh_interpreter_is_light_and_says_one_line(tmp_path):
    code = textwrap.dedent("""
        import sys
        from IPython.core.interactiveshell import InteractiveShell
        shell = InteractiveShell.instance()
        shell.run_line_magic("load_ext", "llmdeck_nb")
        print("HEAVY", [m for m in ("litellm", "pandas", "ipywidgets", "tqdm", "starlette",
                                    "uvicorn", "openai", "tomlkit", "keyring", "cryptography")
                          if m in sys.modules])
        magics = shell.magics_manager.magics
        print("MAGICS", sorted(n for n in magics["line"] if n.startswith("llm")))
        print("CELL", sorted(n for n in magics["cell"] if n.startswith("llm")))
    """)
    env = {**os.environ, "LLMDECK_CACHE_DIR": str(tmp_path), "LLMDECK_PROFILE": "demo"}
    env.pop("LLMDECK_CONFIG_DIR", None)
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("llmdeck: profile demo, ") and "backends available (" in lines[0]
    assert "demo" in lines[0] and lines[0].endswith(", packaged default deck")
    assert "HEAVY []" in lines
    assert ("MAGICS ['llm', 'llm_aliases', 'llm_budget', 'llm_cache', 'llm_chat', 'llm_check', "
            "'llm_key', 'llm_log', 'llm_mode', 'llm_models', 'llm_panel', 'llm_presets', "
            "'llm_profile', 'llm_reload', 'llm_use']") in lines
    assert "CELL ['llm', 'llm_batch', 'llm_compare']" in lines
    assert not (tmp_path / "calls.sqlite").exists()  # the session (log, cache) opens on first use


LOAD_AND_REPORT = textwrap.dedent("""
    import sys
    from IPython.core.interactiveshell import InteractiveShell
    InteractiveShell.instance().run_line_magic("load_ext", "llmdeck_nb")
    print("DECK LOADED", "pydantic" in sys.modules)
""")


def test_the_load_line_is_remembered_for_the_same_deck_and_environment(tmp_path):
    # the 2nd %load_ext prints the 1st one's line without loading the deck (no pydantic);
    # a key set, a file edited or a profile chosen makes the line be computed again
    project = tmp_path / "project"
    (project / ".llmdeck").mkdir(parents=True)
    seed_deck(project / ".llmdeck" / "inference")
    env = {k: v for k, v in os.environ.items()
           if not k.endswith("_API_KEY") and k not in ("LLMDECK_CONFIG_DIR", "LLMDECK_PROFILE")}
    env["LLMDECK_CACHE_DIR"] = str(tmp_path / "state")

    def load(**extra: str) -> tuple[str, bool]:
        done = subprocess.run([sys.executable, "-c", LOAD_AND_REPORT],
                              capture_output=True, text=True, env={**env, **extra}, cwd=project,
                              timeout=60, check=True)
        line, loaded = done.stdout.splitlines()
        return line, loaded == "DECK LOADED True"

    first, loaded = load()
    assert loaded and first.startswith("llmdeck: profile all_pipelex, 0 of 4 backends available")
    assert load() == (first, False)
    with_key, loaded = load(OPENAI_API_KEY=SENTINEL_KEY)
    assert loaded and with_key.startswith("llmdeck: profile all_pipelex, 1 of 4 backends available "
                                          "(openai)")
    assert load(OPENAI_API_KEY=SENTINEL_KEY) == (with_key, False)
    # set is what counts
    assert load(OPENAI_API_KEY="sk-another-key-9876543210") == (with_key, False)
    routing = project / ".llmdeck" / "inference" / "routing_profiles.toml"
    routing.write_text(routing.read_text().replace('active = "all_pipelex"', 'active = "mixed"'))
    edited, loaded = load()
    assert loaded and edited.startswith("llmdeck: profile mixed, 0 of 4 backends available")
    chosen, loaded = load(LLMDECK_PROFILE="all_pipelex")
    assert loaded and chosen == first
    stored = (tmp_path / "state" / "load_lines.json").read_bytes()
    assert SENTINEL_KEY.encode() not in stored and b"sk-another" not in stored


def test_load_line_describes_the_session(session):
    shell = InteractiveShell.instance()
    with capture_output() as out:
        shell.run_line_magic("load_ext", "llmdeck_nb")
    try:
        line = out.stdout.strip()
        assert line.count("\n") == 0
        assert line.startswith("llmdeck: profile offline, 4 of 4 backends available "
                               "(openai, backup, anthropic, demo), deck ")
        assert str(Path(session.deck.folder).name) in line
    finally:
        with capture_output():
            shell.run_line_magic("unload_ext", "llmdeck_nb")


def test_unload_and_reload_ext(ip, run, assert_usage_error):
    run("%unload_ext llmdeck_nb")
    assert_usage_error(run("%llm hi"), "not found")
    assert not any(type(c).__name__ == "LLMDeckMagics" for c in ip.configurables)
    loaded = run("%load_ext llmdeck_nb")
    assert loaded.stdout.startswith("llmdeck: profile offline")
    reloaded = run("%reload_ext llmdeck_nb")
    assert reloaded.error is None and reloaded.stdout.startswith("llmdeck: ")
    assert sum(type(c).__name__ == "LLMDeckMagics" for c in ip.configurables) == 1
    assert run("%llm hi").error is None


def test_a_bad_deck_is_one_line_and_the_magics_still_work_after_a_fix(tmp_path, state_dir,
                                                                      monkeypatch,
                                                                     fake_llm_server):
    folder = loopback_deck(tmp_path / "bad", fake_llm_server.url)
    good = (folder / "routing_profiles.toml").read_text()
    (folder / "routing_profiles.toml").write_text(good + "\n[profiles.broken\n")
    monkeypatch.setenv("LLMDECK_CONFIG_DIR", str(folder))
    set_default_session(None)
    shell = InteractiveShell.instance()
    try:
        with capture_output() as out:
            shell.run_line_magic("load_ext", "llmdeck_nb")
        assert out.stdout.count("\n") == 1
        assert out.stdout.startswith("llmdeck: magics loaded, but the deck did not load: ")
        assert "routing_profiles.toml" in out.stdout and "%llm_reload" in out.stdout
        with capture_output() as out:
            ran = shell.run_cell("%llm hi")
        assert isinstance(ran.error_in_exec, UsageError)
        assert "routing_profiles.toml" in out.stderr and "Traceback" not in out.stderr
        (folder / "routing_profiles.toml").write_text(good)
        with capture_output() as out:
            ran = shell.run_cell("%llm_reload")
        assert ran.error_in_exec is None
        assert out.stdout.startswith("llmdeck: profile loopback, ")
        with capture_output():
            ran = shell.run_cell("%llm --profile offline hi")
        assert ran.error_in_exec is None
    finally:
        with capture_output():
            shell.run_line_magic("unload_ext", "llmdeck_nb")
        if default_session_made():
            default_session().close()
        set_default_session(None)


def default_session_made() -> bool:
    from llmdeck_nb.engine import session as engine

    return engine._default is not None


def test_reload_rereads_the_deck_and_keeps_going_on_errors(ip, run, session, assert_usage_error):
    folder = Path(session.deck.folder)
    deck_before = session.deck
    ran = run("%llm_reload")
    assert ran.error is None and ran.stdout.startswith("llmdeck: profile offline")
    assert session.deck is not deck_before
    (folder / "backends.toml").write_text("[openai\n")
    assert_usage_error(run("%llm_reload"), "backends.toml", "line 1")
    assert run("%llm hi").error is None  # the previous deck stays in use


# --- %%llm ---------------------------------------------------------------------------------


def test_cell_answer_is_markdown_with_a_grey_footer_and_stored_in__llm(ip, run):
    ran = run("""
        %%llm
        Say hello to the notebook
    """)
    assert ran.error is None and ran.value is None  # displayed, not returned (no double output)
    answer, footer = ran.outputs
    result = ip.user_ns["_llm"]
    assert isinstance(result, Result)
    assert answer.data == {"text/markdown": result.text, "text/plain": result.text}
    assert footer.data["text/html"].startswith('<div style="color:#888;font-size:smaller">')
    assert footer.data["text/plain"].startswith(result.footer())
    assert "via demo" in footer.data["text/plain"] and "gpt-4o-mini" in footer.data["text/plain"]
    assert result.requested == "precise"  # the deck's for_text default


def test_cached_answer_says_so_in_the_footer(ip, run):
    run("%%llm\nsame question")
    again = run("%%llm\nsame question")
    assert "from cache" in again.bundles("text/plain")[-1]
    uncached = run("%%llm --no-cache\nsame question")
    assert "from cache" not in uncached.bundles("text/plain")[-1]
    refreshed = run("%%llm --refresh\nsame question")
    assert "from cache" not in refreshed.bundles("text/plain")[-1]
    assert ip.user_ns["_llm"].cached is False


@pytest.mark.parametrize("fmt, mime, check", [
    ("text", "text/plain", lambda text, data: data == {"text/plain": text}),
    ("html", "text/html", lambda text, data: data["text/html"] == text),
    ("markdown", "text/markdown", lambda text, data: data["text/markdown"] == text),
])
def test_formats(ip, run, fmt, mime, check):
    ran = run(f"%%llm -f {fmt}\nA short answer please")
    assert ran.error is None
    assert check(ip.user_ns["_llm"].text, ran.outputs[0].data)


def test_json_format_pretty_prints(ip, run):
    ip.user_ns["Point"] = {"type": "object", "properties": {"x": {"type": "integer"}},
                           "required": ["x"]}
    # a dict schema: the parsed value is returned
    ran = run("%%llm -f json --schema Point\nA point")
    assert ran.value == json.loads(ip.user_ns["_llm"].text)
    ran = (run("%%llm -f json --param response_format='{\"type\": \"json_object\"}'\nnot json at "
               "all"))
    # not JSON: shown as it is
    assert ran.outputs[0].data == {"text/plain": ip.user_ns["_llm"].text}
    assert display.pretty_json('```json\n{"a": [1, 2]}\n```') == ('{\n  "a": [\n    1,\n    2\n  '
                                                                  ']\n}')


def test_code_format_inserts_the_code_in_a_new_cell(ip, run):
    ran = run("%%llm -f code\nWrite a python function that reverses a string")
    assert ran.error is None
    code = ip.rl_next_input
    assert code.startswith("def ") and "```" not in code and "demo answer" not in code
    assert ran.outputs[0].data["text/markdown"] == f"```python\n{code}\n```"
    compile(code, "<inserted>", "exec")  # the demo's code runs


def test_extract_code_strips_fences():
    assert (display.extract_code("Here:\n```python\nx = 1\n```\nand\n```\ny = 2\n```")
            == "x = 1\n\ny = 2")
    assert display.extract_code("  plain code  ") == "plain code"


def test_out_variable_holds_the_result(ip, run, assert_usage_error):
    ran = run("%%llm -o answer\nStore me")
    assert ran.value is None
    assert ip.user_ns["answer"] is ip.user_ns["_llm"]
    assert_usage_error(run("%%llm -o not-a-name\nx"), "variable name")


def test_schema_returns_the_parsed_object(ip, run, assert_usage_error):
    run("""
        from pydantic import BaseModel
        class City(BaseModel):
            name: str
            population: int
    """)
    ran = run("%%llm --schema City\nThe largest city in France", store_history=True)
    assert ran.error is None
    city = ran.value
    assert type(city).__name__ == "City" and isinstance(city.population, int)
    assert ip.user_ns["_llm"].value is city
    assert ran.bundles("text/html")[0].startswith("<div style=")  # only the footer is displayed
    assert len(ran.outputs) == 1
    assert_usage_error(run("%%llm --schema Nope\nx"), "--schema Nope", "'Nope' is not defined")


def test_stream_updates_the_display_several_times(ip, run, monkeypatch):
    monkeypatch.setattr(display, "STREAM_REFRESH_S", 0.0)
    ran = run("%%llm --stream\nTell me about streaming tokens one by one")
    assert ran.error is None
    updates = [o for o in ran.outputs if getattr(o, "update", False)]
    assert len(updates) > 2  # several partial renderings, then the final one, in one area
    handle_outputs = [o for o in ran.outputs if o.data.get("text/markdown") is not None]
    partial = [o.data["text/markdown"] for o in handle_outputs]
    assert partial[-1] == ip.user_ns["_llm"].text
    assert len(partial[0]) < len(partial[-1])
    assert "via demo" in ran.outputs[-1].data["text/plain"]  # the footer follows


def test_stream_is_a_config_setting_too(ip, run, monkeypatch):
    counted = []
    original = display.StreamView.__call__

    def count(self, delta):
        counted.append(delta)
        original(self, delta)

    monkeypatch.setattr(display.StreamView, "__call__", count)
    run("%config LLMDeckMagics.stream = True")
    run("%%llm\nStream because the setting says so")
    assert len(counted) > 1 and "".join(counted) == ip.user_ns["_llm"].text
    counted.clear()
    run("%%llm --no-stream\nNot streamed")
    assert counted == []


def test_line_form_takes_options_then_the_prompt(ip, run, session, assert_usage_error):
    ran = run("%llm -t 0.3 -m demo What's 2+2? -not an option")
    assert ran.error is None
    result = ip.user_ns["_llm"]
    assert result.requested == "demo"
    assert "What's 2+2? -not an option" in session.calls().iloc[-1].prompt_preview
    assert session.calls().iloc[-1].temperature == 0.3
    ran = run('%llm -s "You are terse" -- -5 is negative?')
    assert ran.error is None and "-5 is negative?" in session.calls().iloc[-1].prompt_preview
    ran = run("%llm What is the capital of France?")  # a prompt, not IPython's `France?` help
    assert ran.error is None and session.calls().iloc[-1].prompt_preview == ("What is the capital "
                                                                             "of France?")
    assert "Object `France` not found" not in ran.stdout
    assert_usage_error(run("%llm --bogus hi"), "unrecognized")
    assert_usage_error(run("%llm"), "nothing to send")


def test_options_reach_the_server(ip, run, session, fake_llm_server):
    ran = run('%%llm gpt-4o-mini --profile loopback -s "Be brief" -t 0.2 --max-tokens 50 '
              "--param top_p=0.9 --param stop='[\"##\"]' --param user=alice --tag exp1 --tag exp2\n"
              "Options, please")
    assert ran.error is None, ran.stderr
    body = fake_llm_server.requests[-1].json
    assert body["messages"][0] == {"role": "system", "content": "Be brief"}
    assert (body["temperature"], body["max_tokens"], body["top_p"], body["stop"], body["user"]) == (
        0.2, 50, 0.9, ["##"], "alice")
    row = session.calls().iloc[-1]
    assert row.profile == "loopback" and row.backend == "openai"
    assert "exp1" in row.tags and "exp2" in row.tags
    assert ip.user_ns["_llm"].text == "echo: Options, please"


def test_preset_option_and_preset_as_model(ip, run, session, fake_llm_server):
    run("%%llm --profile loopback -p precise\nwith the preset")
    body = fake_llm_server.requests[-1].json
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("gpt-4o-mini", 0.1, 200)
    run("%%llm text-only --profile loopback -p precise\npreset parameters on another model")
    body = fake_llm_server.requests[-1].json
    assert (body["model"], body["temperature"]) == ("text-only", 0.1)
    run("%%llm precise --profile loopback\nthe preset as MODEL")
    assert ip.user_ns["_llm"].preset == "precise"


def test_user_errors_are_short_messages_with_a_hint(ip, run, session, assert_usage_error):
    # no Anthropic key
    session.deck = load_deck(session.deck.folder, env={"OPENAI_API_KEY": "sk-test"})
    assert_usage_error(run("%%llm gpt-4o-mni\nhi"), "no model, alias or preset named 'gpt-4o-mni'",
                       "did you mean 'gpt-4o-mini'")
    assert_usage_error(run("%%llm claude-4.5-haiku --profile loopback\nhi"),
                       "ANTHROPIC_API_KEY", "->")
    assert_usage_error(run("%%llm --profile nowhere\nhi"),
                       "routing profile 'nowhere' is not defined", "use one of")
    assert_usage_error(run("%%llm -p nothing\nhi"), "no preset named 'nothing'")
    assert_usage_error(run("%%llm --param novalue\nhi"), "KEY=VALUE")
    assert_usage_error(run("%%llm --param stream=true\nhi"), "not a generation parameter")
    assert_usage_error(run("%%llm -f yaml\nhi"), "invalid choice")
    assert_usage_error(run("%%llm\n   \n"), "cell body is empty")  # IPython's own check
    with pytest.raises(UsageError, match="nothing to send"):
        ip.run_cell_magic("llm", "", "  \n  \n")


def test_a_failed_call_is_a_usage_error_naming_the_attempts(ip, run, fake_llm_server,
                                                            assert_usage_error):
    fake_llm_server.add_fault(status=401, times=None)
    ran = run("%%llm text-only --profile loopback\nhi")
    assert_usage_error(ran, "'text-only' failed after", "%llm_log")


def test_llm_help_is_real(ip):
    doc = ip.find_line_magic("llm").__doc__
    for option in ("--preset", "--profile", "--system", "--temperature", "--max-tokens", "--param",
                   "--format", "--out", "--schema", "--stream", "--no-cache", "--refresh", "--tag",
                   "--no-interpolate"):
        assert option in doc
    for name in ("llm_profile", "llm_use", "llm_models", "llm_presets", "llm_aliases", "llm_log",
                 "llm_check", "llm_cache", "llm_reload", "llm_panel"):
        assert ip.find_line_magic(name).__doc__.strip()
    assert "--export" in ip.find_line_magic("llm_log").__doc__
    assert "--plot" in ip.find_cell_magic("llm_compare").__doc__


# --- switching --------------------------------------------------------------------------------


def test_profile_lists_and_switches(ip, run, session, assert_usage_error):
    listing = run("%llm_profile")
    assert "* offline" in listing.stdout and "  loopback" in listing.stdout
    switched = run("%llm_profile loopback")
    assert switched.error is None and session.profile == "loopback"
    assert switched.stdout.strip() == ("llmdeck: profile loopback; %%llm uses precise -> "
                                       "gpt-4o-mini via openai")
    assert_usage_error(run("%llm_profile nowhere"), "use one of")
    assert session.profile == "loopback"


def test_use_sets_the_default_for_cells_and_the_config_trait(ip, run, session, assert_usage_error):
    ran = run("%llm_use demo")
    assert ran.stdout.strip() == "llmdeck: %%llm uses demo -> demo-chat via demo"
    assert session.default_model == "demo"
    assert ip.run_line_magic("config", "LLMDeckMagics.default_model") == "demo"
    run("%%llm\nwhich model?")
    assert ip.user_ns["_llm"].model == "demo-chat"
    assert_usage_error(run("%llm_use nothing-like-it"), "no model, alias or preset")
    assert session.default_model == "demo"
    run("%llm_use --reset")
    assert session.default_model is None
    assert run("%llm_use").stdout.strip() == "llmdeck: %%llm uses precise -> gpt-4o-mini via demo"


# --- the deck, the log, the cache -----------------------------------------------------------


def test_models_presets_and_aliases_are_dataframes(ip, run):
    models = run("%llm_models").value
    assert isinstance(models, pd.DataFrame)
    assert {"model", "backend", "available", "note"} <= set(models.columns)
    assert set(models.backend) == {"demo"}  # the offline profile routes everything to demo
    routed = run("%llm_models --profile loopback --backend openai").value
    assert set(routed.model) == {"gpt-4o-mini", "tiny-context", "text-only"}
    presets = run("%llm_presets").value
    assert list(presets.preset) == ["precise"]
    assert presets.iloc[0].resolves_to == "gpt-4o-mini on demo"
    aliases = run("%llm_aliases").value
    assert set(aliases.alias) == {"demo", "sturdy"}
    assert aliases.set_index("alias").loc["sturdy", "kind"] == "waterfall"


def test_log_shows_exports_and_summarizes(ip, run, tmp_path, assert_usage_error):
    for i in range(3):
        run(f"%%llm\ncall number {i}")
    run("%%llm\ncall number 0")  # a cache hit
    last_two = run("%llm_log -n 2").value
    assert isinstance(last_two, pd.DataFrame) and len(last_two) == 2
    assert list(last_two.status) == ["ok", "cache_hit"]
    summary = run("%llm_log --summary").value
    row = summary.iloc[0]
    assert (row.calls, row.cache_hits) == (4, 1)
    assert ({"p50_latency_s", "p95_latency_s", "cost_usd", "errors", "cache_hit_rate"}
            <= set(summary.columns))
    target = tmp_path / "log.csv"
    exported = run(f"%llm_log --export {target}")
    assert exported.stdout.splitlines()[0] == f"llmdeck: wrote 4 rows to {target}"
    written = pd.read_csv(target)
    assert len(written) == 4 and list(written.prompt_preview)[-1] == "call number 0"
    assert len(run("%llm_log --summary -n 1").value) == 1
    assert_usage_error(run(f"%llm_log --export {tmp_path / 'log.xlsx'}"), ".csv or .parquet")


def test_parquet_export_without_pyarrow_is_a_clear_error(ip, run, tmp_path, assert_usage_error):
    pytest.importorskip("pandas")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        assert_usage_error(run(f"%llm_log --export {tmp_path / 'log.parquet'}"), "needs pyarrow")
    else:
        run("%llm hi")
        ran = run(f"%llm_log --export {tmp_path / 'log.parquet'}")
        assert ran.error is None and (tmp_path / "log.parquet").exists()


def test_check_probes_the_available_backends(ip, run):
    frame = run("%llm_check --backend demo").value
    assert list(frame.backend) == ["demo"] and list(frame.status) == ["ok"]


def test_cache_stats_clear_and_switch(ip, run, session, assert_usage_error):
    run("%%llm\ncache me")
    stats = run("%llm_cache")
    assert stats.stdout.startswith("llmdeck: 0 hits, 1 miss (0%), ")
    assert " KB used; 1 entry in the disk cache at " in stats.stdout
    run("%%llm\ncache me")
    assert run("%llm_cache").stdout.startswith("llmdeck: 1 hit, 1 miss (50%), ")
    assert run("%llm_cache clear").stdout.strip() == "llmdeck: cleared 1 cached answers"
    run("%llm_cache off")
    assert session.use_cache is False
    run("%%llm\ncache me")
    run("%%llm\ncache me")
    assert ip.user_ns["_llm"].cached is False
    run("%llm_cache on")
    assert session.use_cache is True
    assert_usage_error(run("%llm_cache sometimes"), "invalid choice")


# --- configuration --------------------------------------------------------------------------


def test_config_lists_the_settings(ip, run):
    listing = run("%config LLMDeckMagics").stdout
    for trait in ("default_model", "stream", "show_footer", "format", "interpolate"):
        assert f"LLMDeckMagics.{trait}" in listing
    assert "LLMDeckMagics" in run("%config").stdout


def test_config_settings_change_the_magics(ip, run, session):
    run("%config LLMDeckMagics.format = 'text'")
    assert run("%%llm\nplain please").outputs[0].data == {"text/plain": ip.user_ns["_llm"].text}
    run("%config LLMDeckMagics.show_footer = False")
    assert len(run("%%llm\nno footer").outputs) == 1
    run("%config LLMDeckMagics.interpolate = False")
    run("%%llm\nkeep {braces}")
    assert "keep {braces}" in session.calls().iloc[-1].prompt_preview
    run("%%llm --interpolate\nfill {1+1}")
    assert "fill 2" in session.calls().iloc[-1].prompt_preview


def test_config_default_model_stays_in_sync_with_the_session(ip, run, session):
    run("%config LLMDeckMagics.default_model = 'demo'")
    assert session.default_model == "demo"
    run("%config LLMDeckMagics.default_model = 'no-such-model'")  # reported by %config, refused
    assert session.default_model == "demo"
    assert ip.run_line_magic("config", "LLMDeckMagics.default_model") == "demo"
    session.use_model("precise")  # a plain Python call: the trait follows at the next magic
    run("%llm_use")
    assert ip.run_line_magic("config", "LLMDeckMagics.default_model") == "precise"
    run("%config LLMDeckMagics.default_model = None")
    assert session.default_model is None


def test_a_config_file_default_model_applies_at_load(session):
    from traitlets.config import Config

    shell = InteractiveShell.instance()
    saved = shell.config
    config = Config()
    config.LLMDeckMagics.default_model = "demo"
    shell.config = config
    try:
        with capture_output():
            shell.run_line_magic("load_ext", "llmdeck_nb")
        assert session.default_model == "demo"
    finally:
        with capture_output():
            shell.run_line_magic("unload_ext", "llmdeck_nb")
        shell.config = saved


def test_top_level_lazy_exports():
    import llmdeck_nb

    assert llmdeck_nb.Session is Session
    assert llmdeck_nb.default_session is default_session
    assert llmdeck_nb.Result is Result
    from llmdeck_nb.notebook.panel import panel

    assert llmdeck_nb.panel is panel
    assert (callable(llmdeck_nb.load_ipython_extension)
            and callable(llmdeck_nb.unload_ipython_extension))


# --- a real notebook, executed by nbval ------------------------------------------------------

NOTEBOOKS = Path(__file__).parent / "notebooks_magics"


def test_the_magics_notebook_runs_under_nbval(tmp_path):
    pytest.importorskip("nbval")
    # the notebook sets the rest
    env = {k: v for k, v in os.environ.items() if k != "LLMDECK_CONFIG_DIR"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
         "--nbval", "--nbval-current-env", str(NOTEBOOKS / "magics_tour.ipynb")],
        check=False, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
