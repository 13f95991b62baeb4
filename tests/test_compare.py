"""%%llm_compare against the loopback fake server: one row per target, errors in their row,
readable outputs, concurrency."""

from __future__ import annotations


import pandas as pd
import pytest

from llmdeck_nb.engine.compare import COLUMNS
from llmdeck_nb.notebook import display

pytest_plugins = ["notebooks_magics.shell_fixtures"]  # session, ip, run


def test_one_row_per_target_and_a_failing_target_keeps_its_error(ip, run, fake_llm_server):
    fake_llm_server.add_fault(status=401, model="text-only", times=None)
    ran = run("""
        %%llm_compare gpt-4o-mini,text-only,demo,no-such-model --profile loopback
        Compare me
    """, store_history=True)
    assert ran.error is None
    frame = ran.value
    assert isinstance(frame, pd.DataFrame) and ip.user_ns["_"] is frame  # df = _ works
    assert list(frame.columns) == COLUMNS
    rows = frame.set_index("target")
    assert list(rows.index) == ["gpt-4o-mini", "text-only", "demo", "no-such-model"]
    assert rows.loc["gpt-4o-mini", "output"] == "echo: Compare me"
    assert (rows.loc["demo", "backend"], rows.loc["demo", "model"]) == ("demo", "demo-chat")
    assert "demo answer" in rows.loc["demo", "output"]
    assert "HTTP 401" in rows.loc["text-only", "error"]
    assert pd.isna(rows.loc["text-only", "output"])
    assert "no model, alias or preset named 'no-such-model'" in rows.loc["no-such-model", "error"]
    assert rows.loc["gpt-4o-mini", "cost_usd"] > 0 and rows.loc["gpt-4o-mini", "latency_s"] > 0
    assert tuple(rows.loc["gpt-4o-mini", ["input_tokens", "output_tokens"]]) == (2, 3)


def test_outputs_are_shown_whole_and_wrapped(ip, run):
    long_prompt = " ".join(f"word{i}" for i in range(80))
    frame = run(f"%%llm_compare demo,gpt-4o-mini\n{long_prompt}").value
    html = ip.display_formatter.format(frame)[0]["text/html"]
    assert "white-space: pre-wrap" in html
    assert frame.output[0] in html.replace("&#39;", "'").replace("&quot;", '"') or "word79" in html
    assert "..." not in frame.output[1][-5:]
    plain = pd.DataFrame({"a": [1]})
    assert ip.display_formatter.format(plain)[0]["text/html"] == plain._repr_html_()
    assert display.frame_html(frame[["target", "latency_s"]]).count("pre-wrap") == 0


def test_profiles_repeat_and_the_current_choice(ip, run, session, assert_usage_error):
    frame = run("%%llm_compare demo --profiles offline,loopback --repeat 2\nsame prompt").value
    assert list(frame.target) == ["demo [offline]"] * 2 + ["demo [loopback]"] * 2
    assert list(frame.run) == [1, 2, 1, 2]
    # repeats may hit
    assert list(frame.cached) == [False, False, False, False] or frame.cached.any()
    session.use_model("precise")
    frame = run("%%llm_compare --profiles offline,loopback\ncurrent choice").value
    assert list(frame.model) == ["gpt-4o-mini", "gpt-4o-mini"]
    assert list(frame.backend) == ["demo", "openai"]
    assert_usage_error(run("%%llm_compare demo --repeat 0\nx"), "--repeat")


def test_options_and_interpolation_apply_to_every_target(ip, run, fake_llm_server,
                                                         assert_usage_error):
    run("topic = 'latency'")
    run('%%llm_compare gpt-4o-mini,text-only --profile loopback -t 0.2 --param top_p=0.5 '
        '-s "Short" --no-cache\nExplain {topic}')
    bodies = [r.json for r in fake_llm_server.requests if r.path.endswith("/chat/completions")]
    assert len(bodies) == 2
    for body in bodies:
        assert (body["temperature"], body["top_p"]) == (0.2, 0.5)
        assert body["messages"] == [{"role": "system", "content": "Short"},
                                    {"role": "user", "content": "Explain latency"}]
    assert_usage_error(run("%%llm_compare demo\n{undefined_name}"),
                       "'undefined_name' is not defined")


def test_out_and_plot(ip, run):
    ran = run("%%llm_compare demo,precise -o table --plot\nchart me")
    assert ip.user_ns["table"] is ran.value
    images = [o for o in ran.outputs if "image/png" in o.data]
    assert len(images) == 1


def test_targets_run_concurrently(ip, run, fake_llm_server):
    run("%%llm gpt-4o-mini --profile loopback --no-cache\nwarm up the connection")
    fake_llm_server.default_delay = 0.5  # long enough for all six to be sent before one ends
    fake_llm_server.max_in_flight = 0
    frame = run("""
        %%llm_compare gpt-4o-mini,text-only,tiny-context --profile loopback --repeat 2 --no-cache
        at once
    """).value
    assert frame.error.isna().all(), frame.error.tolist()
    assert len(frame) == 6
    # counted at the server, not timed: a loaded machine slows calls but not their overlap
    assert fake_llm_server.max_in_flight == 6, (f"{fake_llm_server.max_in_flight} at once: not "
                                                "concurrent")


@pytest.mark.parametrize("models", ["demo,demo", "demo, precise"])
def test_model_lists_tolerate_spaces_and_repeats(ip, run, models):
    frame = run(f"%%llm_compare {models!s}\nx" if " " not in models else '%%llm_compare '
                                                                         f'"{models}"\nx').value
    assert len(frame) == 2 and frame.error.isna().all()


def test_repeats_are_real_calls_the_first_time_and_replayed_on_a_rerun(ip, run, fake_llm_server):
    # identical calls in flight go out once: repeats must not be folded into one sample
    cell = "%%llm_compare gpt-4o-mini --profile loopback --repeat 3\nsample me three times"
    first = run(cell).value
    sent = [r for r in fake_llm_server.requests if "sample me" in str(r.body)]
    assert len(sent) == 3, "every repeat is its own request"
    assert list(first.run) == [1, 2, 3] and not first.cached.any()
    again = run(cell).value
    assert len([r for r in fake_llm_server.requests if "sample me" in str(r.body)]) == 3
    assert again.cached.all(), "a rerun pays for nothing"


async def test_acompare_is_awaited_on_the_running_loop(session, fake_llm_server):
    # an async notebook cell or script awaits it, as it awaits acomplete / achat / abatch
    session.use_profile("loopback")
    frame = await session.acompare("Compare me", ["gpt-4o-mini", "demo"], repeat=2)
    assert list(frame.target) == ["gpt-4o-mini", "gpt-4o-mini", "demo", "demo"]
    assert list(frame.run) == [1, 2, 1, 2]
    rows = frame[frame.target == "gpt-4o-mini"]
    assert list(rows.output) == ["echo: Compare me"] * 2 and rows.error.isna().all()
