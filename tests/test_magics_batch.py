"""%%llm_batch, %llm_budget and %llm_mode in a real IPython shell."""

from __future__ import annotations

import pandas as pd

pytest_plugins = ["notebooks_magics.shell_fixtures"]


def test_llm_batch_runs_the_cell_over_the_frame(ip, run, session):
    ip.user_ns["tickets"] = pd.DataFrame({"text": ["printer on fire", "password reset"]},
                                         index=[10, 20])
    ip.user_ns["tone"] = "politely"
    ran = run("""
        %%llm_batch tickets gpt-4o-mini -o labelled --no-progress --column label --tag triage
        Answer {tone}: {text}
    """)
    assert ran.error is None, ran.stderr
    frame = ip.user_ns["labelled"]
    assert ran.value is frame and list(frame.index) == [10, 20]
    assert frame["label"].str.contains("demo answer").all() and frame["backend"].eq("demo").all()
    assert "llmdeck: batch: 2 rows, 2 answered (0 from the cache), 0 errors" in ran.stdout
    log = session.calls()
    assert (log["tags"].eq("triage").all()
            and log["prompt_preview"].str.startswith("Answer politely:").all())


def test_llm_batch_errors_are_usage_errors(ip, run, assert_usage_error):
    assert_usage_error(run("%%llm_batch missing\n{text}"), "'missing' is not defined")
    ip.user_ns["rows"] = ["a"]
    assert_usage_error(run("%%llm_batch rows\n{nope}"), "'nope' is not defined")
    assert_usage_error(run("%%llm_batch rows\n   "), "cell body is empty")


def test_llm_budget_shows_and_sets_the_limits(ip, run, session, assert_usage_error):
    ran = run("%llm_budget")
    assert ran.stdout.startswith("llmdeck budget: session: $0 spent, no limit; today: $0 spent, no "
                                 "limit")
    ran = run("%llm_budget 5.00 --daily 20")
    assert "session: $0 spent of $5.00 ($0 left)" not in ran.stdout
    assert "session: $0 spent of $5.00" in ran.stdout and "today: $0 spent of $20.00" in ran.stdout
    assert (session.budget.session.limit, session.budget.daily.limit) == (5.0, 20.0)
    run("%llm_budget off --allow-unknown-prices")
    assert session.budget.session.limit is None and session.budget.allow_unknown_prices
    assert_usage_error(run("%llm_budget lots"), "a budget is a number of dollars")


def test_a_refused_cell_says_why(ip, run, session, assert_usage_error):
    session.use_profile("loopback")
    run("%llm_budget 0.0001")
    assert_usage_error(run("%%llm gpt-4o-mini\nhello"), "could cost up to", "%llm_budget")
    assert run("%%llm gpt-4o-mini --max-tokens 5\nhello").error is None


def test_llm_mode_switches_replay(ip, run, session, assert_usage_error):
    run("%%llm demo\nremember this")
    assert run("%llm_mode replay").stdout.strip() == "llmdeck: mode replay"
    assert session.mode == "replay"
    assert run("%%llm demo\nremember this").error is None
    assert_usage_error(run("%%llm demo\nnever asked"), "replay mode: no cached answer",
                       "'never asked'")
    assert_usage_error(run("%llm_mode sometimes"), "not a cache mode", "normal, replay, refresh")
    assert run("%llm_mode normal").stdout.strip() == "llmdeck: mode normal"
