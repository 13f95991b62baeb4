"""Conversations: %%llm --chat sends the earlier exchanges, %llm_chat manages them, the
history is trimmed to the context window, kept in the call log file, and cached with it.

The loopback fake server records every request, so the tests read the messages sent.
"""

from __future__ import annotations


from llmdeck_nb.engine.session import Session

pytest_plugins = ["notebooks_magics.shell_fixtures"]  # session, ip, run


def sent_messages(fake_llm_server) -> list[list[dict]]:
    return [r.json["messages"] for r in fake_llm_server.requests
            if r.path.endswith("/chat/completions")]


def test_follow_ups_send_the_history_and_the_footer_counts_it(ip, run, session, fake_llm_server):
    session.use_profile("loopback")
    run("%llm_chat new trip")
    first = run("%%llm --chat gpt-4o-mini\nPlan a day in Lisbon")
    assert first.error is None
    assert "new conversation 'trip'" in first.bundles("text/plain")[-1]
    second = run("%%llm --chat gpt-4o-mini\nAnd Porto?")
    assert sent_messages(fake_llm_server)[-1] == [
        {"role": "user", "content": "Plan a day in Lisbon"},
        {"role": "assistant", "content": "echo: Plan a day in Lisbon"},
        {"role": "user", "content": "And Porto?"},
    ]
    footer = second.bundles("text/plain")[-1]
    assert "history 2 turns, ~" in footer and "tokens ('trip')" in footer
    assert ip.user_ns["_llm"].history.turns == 2
    run("%%llm gpt-4o-mini\nA cell on its own")  # without --chat: no history, not recorded
    assert sent_messages(fake_llm_server)[-1] == [{"role": "user", "content": "A cell on its own"}]
    assert len(session.conversations.current) == 4


def test_config_chat_and_system_prompt(ip, run, session, fake_llm_server):
    session.use_profile("loopback")
    run("%config LLMDeckMagics.chat = True")
    run("%%llm gpt-4o-mini -s 'Be brief'\nfirst")
    run("%%llm gpt-4o-mini -s 'Be brief'\nsecond")
    assert sent_messages(fake_llm_server)[-1] == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "echo: first"},
        {"role": "user", "content": "second"},
    ]
    run("%%llm gpt-4o-mini --no-chat\nalone")
    assert sent_messages(fake_llm_server)[-1] == [{"role": "user", "content": "alone"}]


def test_a_conversation_continues_on_another_model_and_after_a_restart(deck, tmp_path, state_dir,
                                                                       fake_llm_server):
    log = tmp_path / "calls.sqlite"
    with Session(deck=deck, cache=False, log=log, profile="loopback") as before:
        before.conversations.new("ideas")
        before.chat("Name a colour", "gpt-4o-mini")
    with Session(deck=deck, cache=False, log=log, profile="loopback") as after:  # a new kernel
        assert after.conversations.current.name == "ideas"
        result = after.chat("Another one?", "claude-4.5-haiku")
    assert result.model == "claude-4.5-haiku" and result.history.turns == 2
    anthropic = [r.json for r in fake_llm_server.requests if r.path.endswith("/v1/messages")][-1]
    assert [m["role"] for m in anthropic["messages"]] == ["user", "assistant", "user"]
    assert "Name a colour" in str(anthropic["messages"][0]["content"])


def test_history_is_trimmed_to_the_context_window_with_a_note(ip, run, session, fake_llm_server):
    session.use_profile("loopback")
    run("%llm_chat new small")
    for i in range(4):
        run(f"%%llm --chat tiny-context\nquestion {i} " + "word " * 12)
    messages = sent_messages(fake_llm_server)[-1]
    assert messages[-1]["content"].startswith("question 3")
    # the oldest exchanges left out, in pairs
    assert len(messages) < 7 and messages[0]["role"] == "user"
    footer = run("%%llm --chat tiny-context\nlast").bundles("text/plain")[-1]
    assert ("history trimmed: the " in footer
            and "to fit tiny-context's context window of 50 tokens" in footer)
    assert len(session.conversations.current) == 10  # trimming sends less, forgets nothing


def test_the_cache_key_includes_the_history_so_a_rerun_replays(ip, run, session):
    def ask():
        assert run("%%llm --chat demo\nHello").error is None
        return ip.user_ns["_llm"]

    run("%llm_chat new replay")
    first, follow = ask(), ask()
    assert not first.cached and not follow.cached  # same words, another history: a new call
    run("%llm_chat new replay")  # the notebook run again from the top
    again = [ask(), ask()]
    assert [r.cached for r in again] == [True, True]
    assert [r.text for r in again] == [first.text, follow.text]


def test_llm_chat_new_show_list_switch_drop(ip, run, session, assert_usage_error):
    assert run("%llm_chat new first").stdout.strip() == (
        "llmdeck: conversation 'first' is new and current; %%llm --chat cells continue it")
    run("%%llm --chat demo\nalpha question")
    run("%%llm --chat demo\nbeta question")
    shown = run("%llm_chat show")
    text = shown.bundles("text/plain")[0]
    assert text.startswith("[1] you: alpha question\n\n[2] demo-chat: [demo answer")
    assert "conversation 'first': 4 turns, ~" in text
    assert "**3. you**\n\nbeta question" in shown.bundles("text/markdown")[0]
    run("%llm_chat new")
    listing = run("%llm_chat list").stdout.splitlines()
    assert listing[0].startswith("* chat-2 ") and listing[0].rstrip().endswith("empty")
    assert listing[1].startswith("  first ") and "4 turns" in listing[1]
    switched = run("%llm_chat switch first").stdout
    assert switched.startswith("llmdeck: conversation 'first' is current (4 turns")
    assert (run("%llm_chat drop").stdout.strip()
            == "llmdeck: forgot the last 2 turns of 'first'; 2 turns left")
    assert session.conversations.current.turns[0].content == "alpha question"
    assert "started over: 2 turns forgotten" in run("%llm_chat new first").stdout
    assert_usage_error(run("%llm_chat switch nowhere"), "no conversation named 'nowhere'",
                       "%llm_chat new nowhere")
    assert_usage_error(run("%llm_chat drop many"), "drop takes a number of turns")
    assert_usage_error(run("%llm_chat new 'bad name!'"), "is not a conversation name")
    assert "has no turns yet" in run("%llm_chat show").bundles("text/plain")[0]


def test_turns_in_the_log_file_are_redacted(deck, tmp_path, state_dir):
    from deck_folders import SENTINEL_KEY

    log = tmp_path / "calls.sqlite"
    with Session(deck=deck, cache=False, log=log, profile="offline") as s:
        s.chat(f"my key is {SENTINEL_KEY}", "demo")
    assert SENTINEL_KEY.encode() not in log.read_bytes()
    with Session(deck=deck, cache=False, log=log, profile="offline") as s:
        assert SENTINEL_KEY not in str(s.conversations.current.turns)


def test_call_options_are_told_from_generation_parameters():
    # a call option taken for a generation parameter would be sent to the provider
    from llmdeck_nb.engine.conversation import split_options
    from llmdeck_nb.engine.session import Session

    call, params = split_options({"on_reset": print, "max_cost_usd": 1.0, "timeout": 3,
                                  "tags": ("a",), "top_p": 0.5, "seed": 7}, Session.acomplete)
    assert set(call) == {"on_reset", "max_cost_usd", "timeout", "tags"}
    assert params == {"top_p": 0.5, "seed": 7}


def test_chat_streams_and_sends_parameters_but_no_call_option(ip, run, session, fake_llm_server):
    session.use_profile("loopback")
    run("%%llm --chat gpt-4o-mini --stream --param top_p=0.5\nfirst")
    ran = run("%%llm --chat gpt-4o-mini --stream -t 0.3 --max-cost 1\nsecond")
    assert ran.error is None, ran.stderr
    body = [r.json for r in fake_llm_server.requests if r.path.endswith("/chat/completions")][-1]
    assert body["stream"] is True and body["temperature"] == 0.3
    assert not {"on_reset", "on_text", "max_cost_usd", "tags"} & set(body)
    assert len(body["messages"]) == 3 and "history 2 turns" in ran.bundles("text/plain")[-1]


async def test_achat_follows_up_on_the_running_loop(session, fake_llm_server):
    session.use_profile("loopback")
    session.conversations.new("async")
    await session.achat("Name a colour", "gpt-4o-mini", cache=False)
    second = await session.achat("And a fruit?", "gpt-4o-mini", cache=False)
    assert sent_messages(fake_llm_server)[-1] == [
        {"role": "user", "content": "Name a colour"},
        {"role": "assistant", "content": "echo: Name a colour"},
        {"role": "user", "content": "And a fruit?"},
    ]
    assert second.history is not None and second.history.turns == 2
