"""Spending limits: refused before sending (the server sees nothing), per call, per batch,
per session and per day (from the call log, across Sessions); cache hits are free."""

from __future__ import annotations

import pytest

from deck_folders import LOOPBACK_ENV, loopback_deck
from loopback import chat_requests, session_on
from llmdeck_nb import load_deck
from llmdeck_nb.engine.batch import SKIPPED_BUDGET
from llmdeck_nb.engine.budget import worst_case_usd
from llmdeck_nb.engine.result import format_cost
from llmdeck_nb.errors import BudgetExceededError, UnknownPriceError
# gpt-4o-mini in the loopback deck: $0.15 / $0.60 per 1M tokens, max_tokens 16384
WORST_AT_MAX_20 = (2 * 0.15 + 20 * 0.6) / 1e6  # a short prompt (~2 tokens) with max_tokens=20


def make_deck(tmp_path, url, budget: str = "", name: str = "deck"):
    folder = loopback_deck(tmp_path / name, url)
    specs = folder / "backends" / "openai.toml"
    specs.write_text(specs.read_text() + "\n[no-price]\nmodel_id = \"mystery\"\n")
    if budget:
        (folder / "deck" / "budget.toml").write_text(budget)
    return load_deck(folder, env=LOOPBACK_ENV)


@pytest.fixture
def deck(tmp_path, fake_llm_server):
    return make_deck(tmp_path, fake_llm_server.url)


new_session = session_on


def test_a_call_that_could_pass_the_limit_is_refused_before_sending(deck, tmp_path,
                                                                    fake_llm_server):
    with new_session(deck, tmp_path, budget_usd=0.001) as session:
        with pytest.raises(BudgetExceededError) as caught:
            # worst case: 16,384 tokens x $0.60/1M = $0.0098
            session.complete("hello", "gpt-4o-mini")
        assert len(chat_requests(fake_llm_server)) == 0
        error = caught.value
        assert (error.limit, error.spent, error.left) == ("session", 0.0, 0.001)
        assert error.worst_case == pytest.approx((1 * 0.15 + 16384 * 0.6) / 1e6)
        text = str(error)
        assert ("gpt-4o-mini@openai" in text and "$0.0098" in text
                and "session budget of $0.00" in text)
        assert "%llm_budget" in text and "nothing was sent" in text
        # a smaller max_tokens fits, and its real cost is what is spent
        result = session.complete("hello", "gpt-4o-mini", max_tokens=20)
        assert session.budget.spent == pytest.approx(result.cost_usd) and result.cost_usd > 0


def test_spending_is_counted_with_no_limit_and_a_limit_set_later_counts_it(deck, tmp_path,
                                                                          fake_llm_server):
    with new_session(deck, tmp_path) as session:  # no limit anywhere
        first = session.complete("hello", "gpt-4o-mini", max_tokens=20)
        assert first.cost_usd > 0
        assert session.budget.spent == pytest.approx(first.cost_usd)
        assert f"session: {format_cost(first.cost_usd)} spent" in session.budget.describe()
        # a session limit set now leaves only what the first call did not spend
        session.budget.set_limit("session", first.cost_usd + WORST_AT_MAX_20 / 2)
        with pytest.raises(BudgetExceededError) as caught:
            session.complete("hello again", "gpt-4o-mini", max_tokens=20)
        assert caught.value.spent == pytest.approx(first.cost_usd)
        assert len(chat_requests(fake_llm_server)) == 1


def test_per_call_limit(deck, tmp_path, fake_llm_server):
    with new_session(deck, tmp_path) as session:
        with pytest.raises(BudgetExceededError, match="call budget"):
            session.complete("hello", "gpt-4o-mini", max_cost_usd=0.000001)
        assert len(chat_requests(fake_llm_server)) == 0
        assert session.complete("hello", "gpt-4o-mini", max_cost_usd=0.05).text == "echo: hello"
        assert "max_cost_usd" not in fake_llm_server.requests[-1].json  # not sent as a parameter


def test_cache_hits_cost_nothing_and_are_never_refused(deck, tmp_path, fake_llm_server):
    with new_session(deck, tmp_path) as session:
        session.complete("remember me", "gpt-4o-mini")
    with new_session(deck, tmp_path, budget_usd=0.0) as broke:
        assert broke.complete("remember me", "gpt-4o-mini").cached
        with pytest.raises(BudgetExceededError):
            broke.complete("something new", "gpt-4o-mini")
    assert len(chat_requests(fake_llm_server)) == 1


@pytest.mark.parametrize("concurrency", [1, 8])
def test_a_batch_stops_at_its_budget_and_marks_the_rest_skipped(deck, tmp_path, fake_llm_server,
                                                                concurrency):
    limit = 3 * WORST_AT_MAX_20
    with new_session(deck, tmp_path) as session:
        frame = session.batch([f"r{i}" for i in range(50)], "{value}", "gpt-4o-mini", max_tokens=20,
                              budget_usd=limit, concurrency=concurrency, progress=False)
    answered = frame[frame["error"].isna()]
    skipped = frame[frame["error"] == SKIPPED_BUDGET]
    assert len(answered) + len(skipped) == 50 and len(answered) >= 3 and len(skipped) > 0
    assert answered["cost_usd"].sum() <= limit  # never overspent, even with 8 in flight
    assert len(chat_requests(fake_llm_server)) == len(answered)
    stats = frame.attrs["llmdeck_batch"]
    assert stats.stopped == "budget" and "batch budget" in stats.budget_error


def test_unknown_price_is_refused_while_a_budget_is_set_unless_allowed(deck, tmp_path,
                                                                       fake_llm_server):
    with new_session(deck, tmp_path, budget_usd=1.0) as session:
        with pytest.raises(UnknownPriceError) as caught:
            session.complete("hi", "no-price")
        assert "no-price@openai has no price in the deck" in str(caught.value)
        assert ("backends/openai.toml" in str(caught.value)
                and "allow_unknown_prices" in str(caught.value))
        assert len(chat_requests(fake_llm_server)) == 0
    with new_session(deck, tmp_path, budget_usd=1.0, allow_unknown_prices=True) as session:
        assert session.complete("hi", "no-price").text == "echo: hi"
    with new_session(deck, tmp_path) as session:  # no budget: nothing to refuse
        session.complete("hi again", "no-price")


def test_daily_budget_counts_every_session_of_the_day_from_the_log(tmp_path, fake_llm_server):
    plain = make_deck(tmp_path, fake_llm_server.url)
    with new_session(plain, tmp_path) as first:
        spent = sum(first.complete(f"call {i}", "gpt-4o-mini", max_tokens=20).cost_usd
                    for i in range(5))
    assert spent > 0

    # a new kernel: its session starts from what the log says was spent today
    tight = make_deck(tmp_path, fake_llm_server.url,
                      f"[budget]\ndaily_usd = {spent + WORST_AT_MAX_20 / 2}\n", name="tight")
    with new_session(tight, tmp_path) as second:
        assert second.budget.spent_today() == pytest.approx(spent)
        with pytest.raises(BudgetExceededError, match="daily budget") as caught:
            second.complete("one more", "gpt-4o-mini", max_tokens=20)
        assert caught.value.spent == pytest.approx(spent)
        assert "daily_usd" in str(caught.value)
    loose = make_deck(tmp_path, fake_llm_server.url,
                      f"[budget]\ndaily_usd = {spent + 3 * WORST_AT_MAX_20}\n", name="loose")
    with new_session(loose, tmp_path) as third:
        third.complete("one more", "gpt-4o-mini", max_tokens=20)
        assert third.budget.spent_today() > spent
    assert len(chat_requests(fake_llm_server)) == 6


def test_deck_budget_table_is_checked(tmp_path, fake_llm_server):
    from llmdeck_nb.errors import DeckError

    deck = make_deck(tmp_path, fake_llm_server.url, "[budget]\nsession_usd = 2.5\n")
    with new_session(deck, tmp_path) as session:
        assert session.budget.session.limit == 2.5
    with pytest.raises(DeckError, match=r"budget\.session_usd"):
        make_deck(tmp_path, fake_llm_server.url, "[budget]\nsession_usd = -1\n", name="bad")
    with pytest.raises(DeckError, match=r"budget\.monthly"):
        make_deck(tmp_path, fake_llm_server.url, "[budget]\nmonthly = 3\n", name="bad2")


def test_worst_case_uses_the_one_cost_function(deck):
    from llmdeck_nb.backends.base import BackendRequest

    spec = deck.resolve("gpt-4o-mini").primary.spec
    request = BackendRequest(backend="openai", provider="openai", model_id="gpt-4o-mini",
                             messages=[{"role": "user", "content": "x" * 400}],
                             params={"max_tokens": 10})
    assert worst_case_usd(spec, request) == pytest.approx((100 * 0.15 + 10 * 0.6) / 1e6)


def test_budget_usd_none_lifts_the_deck_session_limit_and_left_out_keeps_it(tmp_path,
                                                                            fake_llm_server):
    deck = make_deck(tmp_path, fake_llm_server.url, "[budget]\nsession_usd = 0.001\n")
    with new_session(deck, tmp_path) as session:  # left out: the deck's $0.001
        with pytest.raises(BudgetExceededError, match="session budget"):
            session.complete("hello", "gpt-4o-mini")
    with new_session(deck, tmp_path, budget_usd=None) as session:  # None: no session limit
        assert session.budget.session.limit is None
        assert session.complete("hello", "gpt-4o-mini").text == "echo: hello"
