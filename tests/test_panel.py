"""The widget panel, driven through its widget objects: the Session stays the one source
of truth, and panel and magics follow each other both ways."""

from __future__ import annotations

import pytest

import llmdeck_nb
from llmdeck_nb import load_deck
from llmdeck_nb.notebook.choices import choices
from llmdeck_nb.notebook.controls import controls_for
from llmdeck_nb.notebook.panel import DEFAULT, Panel

pytest_plugins = ["notebooks_magics.shell_fixtures"]  # session, ip, run


@pytest.fixture
def panel(session):
    made = Panel(session)
    yield made
    made.close()


def labels(panel: Panel) -> dict[str, str]:
    return {value: label for label, value in panel.model.options}


def test_panel_shows_the_session_state(panel, session):
    assert panel.profile.value == "offline"
    assert list(panel.profile.options) == list(session.deck.profiles)
    assert panel.model.value == DEFAULT
    assert labels(panel)[DEFAULT] == "(deck default: precise)"
    assert labels(panel)["precise"] == "[presets] precise -> gpt-4o-mini · available on demo"
    assert labels(panel)["sturdy"].startswith("[aliases] sturdy -> ")
    assert labels(panel)["text-only"] == "[models on demo] text-only · available on demo"
    assert panel.temperature_set.value is False and panel.temperature.disabled
    assert panel.temperature.readout is False  # a disabled slider shows no value it does not send
    assert panel.cache.value is True and not panel.cache.disabled
    assert "no calls in the log yet" in panel.calls.value
    header = panel.header.value
    assert "<b>llmdeck</b>" in header and "deck " in header and "profile <b>offline</b>" in header
    assert "this session: 0 calls, $0" in header
    assert panel.status.value.endswith("✓ %%llm uses precise -&gt; gpt-4o-mini on demo "
                                       "(offline demo answers: no key for its provider)</span>")


def test_widgets_change_what_the_next_call_uses(panel, session):
    panel.profile.value = "loopback"
    assert session.profile == "loopback"
    panel.model.value = "demo"
    assert session.default_model == "demo"
    panel.temperature_set.value = True
    panel.temperature.value = 0.35
    assert session.params == {"temperature": 0.35}
    panel.cache.value = False
    assert session.use_cache is False
    result = session.complete("through the panel's choices")
    assert (result.requested, result.model, result.cached) == ("demo", "demo-chat", False)
    assert session.calls().iloc[-1].temperature == 0.35
    panel.temperature_set.value = False  # unset: no temperature is sent
    assert "temperature" not in session.params and panel.temperature.disabled
    panel.model.value = DEFAULT
    assert session.default_model is None


def test_the_calls_table_updates_after_each_call(panel, session):
    session.complete("first", "demo")
    session.complete("first", "demo")  # a cache hit
    rows = panel.recent_calls
    assert [r["cached"] for r in rows] == [True, False]  # newest first
    assert rows[0]["model"] == "demo-chat" and rows[0]["backend"] == "demo"
    assert "demo-chat" in panel.calls.value and "<table" in panel.calls.value
    assert rows[1]["cost"] == "$0" and rows[1]["latency"].endswith(" s")
    panel.refresh_calls()  # what the panel does after each cell: the log read again
    assert panel.recent_calls[:2] == [dict(r, time=panel.recent_calls[i]["time"])
                                      for i, r in enumerate(rows)]
    assert "this session: 2 calls, $0" in panel.header.value


def test_recent_calls_include_earlier_and_failed_calls_and_follow_cells(ip, run, session,
                                                                        fake_llm_server):
    session.use_profile("loopback")
    session.complete("made before the panel opened", "gpt-4o-mini")
    fake_llm_server.add_fault(status=401, model="text-only", times=None)
    run("%%llm text-only\nthis one fails")
    panel = run("%llm_panel").value
    try:
        rows = panel.recent_calls
        assert [r["status"] for r in rows] == ["error", "ok"]
        assert rows[0]["model"] == "text-only" and "401" in rows[0]["error"]
        # significant digits
        assert rows[1]["cost"].startswith("$0.0000") and rows[1]["cost"] != "$0"
        assert "color:#b00020" in panel.calls.value and "401" in panel.calls.value
        # no Result: post_run_cell redraws
        run("%%llm text-only\nfails again, after the panel opened")
        assert [r["status"] for r in panel.recent_calls][:2] == ["error", "error"]
        assert "this session: 3 calls, $0.0000" in panel.header.value
    finally:
        panel.close()
    assert panel._after_cell not in ip.events.callbacks["post_run_cell"]


def test_models_are_grouped_and_filtered(panel, session):
    groups = [value for _, value in panel.group.options]
    assert groups == ["all", "presets", "aliases", "models on demo"]
    assert [label for label, _ in panel.group.options][:3] == [
        f"all ({len(panel._choices)})", "presets (1)", "aliases (2)"]
    panel.group.value = "aliases"
    assert sorted(v for _, v in panel.model.options) == sorted([DEFAULT, "demo", "sturdy"])
    panel.group.value = "all"
    panel.filter.value = "HAIKU"
    assert [v for _, v in panel.model.options] == [DEFAULT, "claude-4.5-haiku"]
    assert session.default_model is None  # filtering never changes the choice
    panel.model.value = "claude-4.5-haiku"
    panel.filter.value = "tiny"  # the current choice stays listed while filtered out
    assert [v for _, v in panel.model.options] == [DEFAULT, "claude-4.5-haiku", "tiny-context"]
    assert panel.model.value == "claude-4.5-haiku"


def test_the_status_line_says_at_once_when_the_choice_cannot_be_served(tmp_path, session,
                                                                       fake_llm_server,
                                                                        monkeypatch):
    from deck_folders import SENTINEL_KEY, loopback_deck

    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    folder = loopback_deck(tmp_path / "nokey", fake_llm_server.url)
    session.reload(folder)
    session.use_model("claude-4.5-haiku")  # served by demo under "offline"
    panel = Panel(session)
    try:
        assert panel.status.value.startswith('<span style="color:#1b7f3b">✓')
        assert panel.key_button.layout.display == "none"
        panel.profile.value = "loopback"  # nothing sent yet: the panel says it now
        status = panel.status.value
        assert ("✗ &#x27;claude-4.5-haiku&#x27; cannot be served under profile "
                "&#x27;loopback&#x27;") in status
        assert "missing ANTHROPIC_API_KEY" in status and ("press &#x27;set ANTHROPIC_API_KEY&#x27; "
                                                          "below") in status
        assert labels(panel)["claude-4.5-haiku"].endswith("· missing ANTHROPIC_API_KEY")
        assert (panel.key_button.layout.display == ""
                and panel.key_button.description == "set ANTHROPIC_API_KEY")
        monkeypatch.setenv("ANTHROPIC_API_KEY", SENTINEL_KEY)
        panel.reload_button.click()  # the fix the status line names, in the panel
        assert ("✓ %%llm uses claude-4.5-haiku -&gt; claude-4.5-haiku on anthropic"
                in panel.status.value)
        assert panel.key_button.layout.display == "none"
    finally:
        panel.close()


def test_the_key_button_stores_the_key_without_it_entering_the_notebook(tmp_path, session,
                                                                        fake_llm_server,
                                                                        monkeypatch):
    import ipywidgets
    from deck_folders import SENTINEL_KEY, loopback_deck
    from IPython.utils.capture import capture_output

    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLMDECK_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("LLMDECK_KEY_STORE", "file")
    monkeypatch.setenv("LLMDECK_SECRET", "panel test secret")
    session.reload(loopback_deck(tmp_path / "nokey", fake_llm_server.url))
    session.use_model("claude-4.5-haiku")  # served by demo under "offline"...
    session.use_profile("loopback")  # ...but not here: no key
    panel = Panel(session)
    try:
        with capture_output() as shown:
            panel.key_button.click()  # the password box of %llm_key set, in the panel's area
        boxes = [w for w in ipywidgets.widgets.widget._instances.values()
                 if isinstance(w, ipywidgets.Password) and w.description == "ANTHROPIC_API_KEY"]
        assert boxes and SENTINEL_KEY not in shown.stdout
        boxes[-1].value = SENTINEL_KEY  # what pressing Enter in the box sends to the kernel
        assert boxes[-1].value == ""  # the value left the widget at once
        panel.reload_button.click()
        assert ("✓ %%llm uses claude-4.5-haiku -&gt; claude-4.5-haiku on anthropic"
                in panel.status.value)
    finally:
        panel.close()


def test_a_check_marks_backends_that_do_not_answer(panel, session, fake_llm_server):
    session.use_profile("loopback")
    panel.refresh()
    fake_llm_server.add_fault(status=503, path="/models", times=None)
    panel.check_button.click()
    assert panel.check_button.description == "check" and not panel.check_button.disabled
    assert labels(panel)["gpt-4o-mini"].endswith("· openai not reachable (last check)")
    assert "did not answer the last check" in panel.status.value  # precise -> gpt-4o-mini on openai
    assert labels(panel)["demo"].endswith("available on demo")
    fake_llm_server.reset()
    panel.check_button.click()
    assert labels(panel)["gpt-4o-mini"].endswith("· available on openai")


def test_controls_that_do_not_apply_are_disabled(deck, tmp_path, state_dir):
    from llmdeck_nb.engine.session import Session

    with Session(deck=deck, cache=False, log=False, profile="offline") as uncached:
        panel = Panel(uncached)
        try:
            assert panel.cache.disabled and panel.cache.value is False
            assert "off" in panel.cache.description
            assert panel.temperature.disabled and panel.temperature.description == "(not sent)"
            panel.temperature_set.value = True
            assert not panel.temperature.disabled and panel.temperature.readout
        finally:
            panel.close()


def test_magics_move_the_dropdowns(ip, run, session):
    panel = run("%llm_panel").value
    try:
        assert isinstance(panel, Panel) and panel.session is session
        run("%llm_profile loopback")
        assert panel.profile.value == "loopback"
        run("%llm_use demo")
        assert panel.model.value == "demo"
        run("%config LLMDeckMagics.default_model = 'precise'")
        assert panel.model.value == "precise"
        run("%llm_cache off")
        assert panel.cache.value is False
        run("%llm_use --reset")
        assert panel.model.value == DEFAULT
        run("%%llm --profile offline\nshow me in the table")
        assert panel.recent_calls[0]["backend"] == "demo"
    finally:
        panel.close()


def test_the_dropdown_moves_the_magics_setting(ip, run, session):
    panel = run("%llm_panel").value
    try:
        panel.model.value = "demo"
        assert ip.run_line_magic("config", "LLMDeckMagics.default_model") == "demo"
        run("%%llm\nwhich model?")
        assert ip.user_ns["_llm"].model == "demo-chat"
        assert "demo" in run("%llm_use").stdout
    finally:
        panel.close()


def test_an_unavailable_choice_is_marked_and_refused(tmp_path, session, fake_llm_server):
    from deck_folders import loopback_deck

    folder = loopback_deck(tmp_path / "nokey", fake_llm_server.url)
    session.deck = load_deck(folder, env={})  # no OPENAI_API_KEY, no ANTHROPIC_API_KEY
    panel = Panel(session)
    try:
        panel.profile.value = "loopback"
        marked = labels(panel)
        assert marked["claude-4.5-haiku"] == ("[models on anthropic] claude-4.5-haiku · missing "
                                              "ANTHROPIC_API_KEY")
        # falls back
        assert marked["gpt-4o-mini"] == "[models on backup] gpt-4o-mini · available on backup"
        order = [value for _, value in panel.model.options]
        assert order.index("gpt-4o-mini") < order.index("claude-4.5-haiku")  # callable ones first
        panel.model.value = "claude-4.5-haiku"
        assert session.default_model is None  # refused: the session did not change...
        assert panel.model.value == DEFAULT  # ...and the dropdown went back to it
        assert "not changed: " in panel.status.value and "ANTHROPIC_API_KEY" in panel.status.value
        panel.model.value = "demo"
        assert (session.default_model == "demo"
                and "✓ %%llm uses demo -&gt; demo-chat on demo" in panel.status.value)
    finally:
        panel.close()


def test_choices_follow_the_profile(session):
    offline = {c.handle: c for c in choices(session)}
    assert offline["claude-4.5-haiku"].target == "claude-4.5-haiku on demo"
    loopback = {c.handle: c for c in choices(session, "loopback")}
    assert loopback["claude-4.5-haiku"].target == "claude-4.5-haiku on anthropic"


def test_two_panels_and_plain_python_stay_consistent(session):
    first, second = Panel(session), Panel(session)
    try:
        first.profile.value = "loopback"
        assert second.profile.value == "loopback"
        controls_for(session).set_temperature(0.5)
        assert first.temperature_set.value and second.temperature.value == 0.5
        session.use_profile("offline")  # bypassing the controls: refresh() catches up
        first.refresh()
        assert first.profile.value == "offline"
    finally:
        first.close()
        second.close()
    assert first._call_done not in session.listeners


def test_package_level_panel_uses_the_default_session(session):
    made = llmdeck_nb.panel()
    try:
        assert made.session is session
        assert "profile offline" in repr(made)
    finally:
        made.close()
