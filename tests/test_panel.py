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
    assert labels(panel)["precise"] == "precise  (preset, gpt-4o-mini on demo)"
    assert labels(panel)["sturdy"].startswith("sturdy  (alias, ")
    assert panel.temperature_set.value is False and panel.temperature.disabled
    assert panel.cache.value is True
    assert "no calls yet" in panel.calls.value


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
        assert marked["claude-4.5-haiku"] == "claude-4.5-haiku  (unavailable: missing ANTHROPIC_API_KEY)"
        assert marked["gpt-4o-mini"] == "gpt-4o-mini  (on backup)"  # falls back to backup
        order = [value for _, value in panel.model.options]
        assert order.index("gpt-4o-mini") < order.index("claude-4.5-haiku")  # callable ones first
        panel.model.value = "claude-4.5-haiku"
        assert session.default_model is None  # refused: the session did not change...
        assert panel.model.value == DEFAULT  # ...and the dropdown went back to it
        assert "ANTHROPIC_API_KEY" in panel.status.value
        panel.model.value = "demo"
        assert session.default_model == "demo" and panel.status.value == ""
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
