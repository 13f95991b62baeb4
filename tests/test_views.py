"""What the magics' tables look like: compare (table, grid, plot), %llm_log and %llm_cache.
Formatting belongs to the displayed object only; the values stay what they were."""

from __future__ import annotations

import pandas as pd
import pytest

from llmdeck_nb.notebook import views
from llmdeck_nb.notebook.charts import chart_title, runs_chart, shows_demo

pytest_plugins = ["notebooks_magics.shell_fixtures"]  # session, ip, run


def html_of(ip, frame) -> str:
    return ip.display_formatter.format(frame)[0]["text/html"]


@pytest.mark.parametrize(("value", "shown"), [(0.000035123, "$0.000035"), (0.0123456, "$0.0123"),
                                              (1.23456, "$1.23"), (0.0, "$0"), (None, ""),
                                              (float("nan"), "")])
def test_costs_keep_significant_digits(value, shown):
    assert views.usd(value) == shown


def test_compare_view_formats_costs_hides_empty_columns_and_keeps_names_whole(ip, run, session,
                                                                               fake_llm_server):
    frame = run("%%llm_compare gpt-4o-mini,tiny-context --profile loopback\nSay hi").value
    html = html_of(ip, frame)
    cost = frame.cost_usd.iloc[0]
    assert 0 < cost < 0.0001 and views.usd(cost) in html  # e.g. $0.0000023, not 0.000
    assert ">ttft_s<" not in html and ">error<" not in html  # nothing in them: hidden in the view
    assert {"ttft_s", "error"} <= set(frame.columns)  # ...and kept in the DataFrame
    assert "white-space: nowrap" in html
    assert frame.cost_usd.dtype == "float64" and frame.cost_usd.iloc[0] == cost  # values untouched
    derived = frame[["target", "cost_usd"]]
    # a frame the user derives: pandas' own view
    assert html_of(ip, derived) == derived._repr_html_()
    assert html_of(ip, frame.head()) == frame.head()._repr_html_()


def test_errors_come_right_after_the_target(ip, run, fake_llm_server):
    fake_llm_server.add_fault(status=401, model="text-only", times=None)
    frame = run("%%llm_compare gpt-4o-mini,text-only --profile loopback\nx").value
    html = html_of(ip, frame)
    assert html.index(">error<") < html.index(">output<") < html.index(">latency_s<")
    assert "color: #b00020" in html and "HTTP 401" in html
    # the DataFrame keeps its order
    assert list(frame.columns).index("error") == len(frame.columns) - 1


def test_grid_puts_targets_side_by_side(ip, run):
    ran = run("%%llm_compare demo,precise --grid\nCompare us")
    frame = ran.value
    html = html_of(ip, frame)
    assert html.startswith("<table><thead><tr><th></th><th "
                           "style='text-align:left;white-space:nowrap'>demo</th>")
    assert html.index(">answer<") < html.index(">model<") < html.index(">cost_usd<")
    assert html.count("[demo answer") == 2 and "$0" in html
    assert isinstance(frame, pd.DataFrame) and ip.user_ns["_"] is frame


def test_repeat_plot_shows_every_run_titled_and_labelled_demo(ip, run, session):
    ran = run("%%llm_compare demo,precise --repeat 3 --plot --no-cache\nHow fast are you today?")
    assert ran.error is None and len(ran.bundles("image/png")) == 1
    frame = ran.value
    title = chart_title("How fast are you today?", 3)
    assert title == 'llmdeck compare: "How fast are you today?" (3 runs per target)'
    figure = runs_chart(frame, title, demo=shows_demo(frame, session.deck))
    latency = figure.axes[0]
    assert figure._suptitle.get_text() == title
    assert any("DEMO" in text.get_text() for text in figure.texts)
    assert [t.get_text() for t in latency.get_yticklabels()] == ["demo", "precise"]
    # per target: the runs, the mean
    runs, means = latency.collections[0::2], latency.collections[1::2]
    assert ([len(c.get_offsets()) for c in runs] == [3, 3]
            and [len(c.get_offsets()) for c in means] == [1, 1])
    assert (means[0].get_offsets()[0][0]
            == pytest.approx(frame.latency_s[frame.target == "demo"].mean()))
    assert (chart_title("x " * 80, 1).endswith("…\"")
            and "runs per target" not in chart_title("x", 1))
    assert not shows_demo(frame.assign(backend="openai"), session.deck)


def test_the_plot_is_displayed_as_one_png(ip, run):
    ran = run("%%llm_compare demo --repeat 2 --plot\nPlot me")
    images = ran.bundles("image/png")
    assert len(images) == 1


def test_log_is_compact_and_formatted_by_default(ip, run, session, fake_llm_server):
    run("%%llm demo\nfirst")
    fake_llm_server.add_fault(status=401, model="text-only", times=None)
    run("%%llm text-only --profile loopback\nfails")
    log = run("%llm_log").value
    assert list(log.columns) == list(views.LOG_COLUMNS)
    assert list(log.status) == ["ok", "error"] and "401" in log.error_message.iloc[-1]
    html = html_of(ip, log)
    assert ">time (UTC)<" in html and ">tokens<" in html and ">call_id<" not in html
    stamp = log.started_at.iloc[0].strftime("%Y-%m-%d %H:%M:%S")
    assert stamp in html and stamp + "." not in html  # seconds, not microseconds
    assert ">tags<" not in html  # no call had a tag
    full = run("%llm_log --all").value
    assert "call_id" in full.columns and len(full.columns) > 30
    assert len(run("%llm_log -n 1").value) == 1 and len(run("%llm_log -n all").value) == 2


def test_summary_numbers_are_rounded_in_the_view(ip, run):
    for i in range(3):
        run(f"%%llm demo\nq{i}")
    run("%%llm demo\nq0")
    summary = run("%llm_log --summary").value
    html = html_of(ip, summary)
    assert ">25%<" in html  # 1 hit out of 4 calls
    assert summary.cache_hit_rate.iloc[0] == 0.25


def test_cache_line_says_hits_misses_and_size(ip, run):
    run("%%llm demo\ncache me")
    run("%%llm demo\ncache me")
    line = run("%llm_cache").stdout.strip()
    assert line.startswith("llmdeck: 1 hit, 1 miss (50%), ") and (" KB used; 1 entry in the disk "
                                                                  "cache") in line
