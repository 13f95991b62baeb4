"""Generation parameters are checked when the call is built: a clear error naming the
parameter, nothing sent. The call log never crashes on an odd value; a {field} whose
__format__ raises is a short message naming it."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from notebooks_magics.shell_fixtures import check_usage_error

from llmdeck_nb.calllog.records import CallRecord
from llmdeck_nb.calllog.store import CallLog
from llmdeck_nb.errors import InvalidParameterError, PromptTemplateError
from llmdeck_nb.notebook.interpolation import fill

pytest_plugins = ["notebooks_magics.shell_fixtures"]


@pytest.mark.parametrize(("params", "named", "allowed"), [
    ({"temperature": "abc"}, "temperature", "a number from 0 to 2"),
    ({"temperature": 1e400}, "temperature", "a number from 0 to 2"),
    ({"temperature": 7.0}, "temperature", "a number from 0 to 2"),
    ({"max_tokens": -5}, "max_tokens", "a whole number of at least 1"),
    ({"max_tokens": 2.5}, "max_tokens", "a whole number"),
    ({"top_p": 1.5}, "top_p", "from 0 to 1"),
    ({"seed": "x"}, "seed", "a whole number"),
    ({"presence_penalty": -3}, "presence_penalty", "from -2 to 2"),
    ({"stop": 5}, "stop", "a string or a list of strings"),
    ({"logit_bias": {"50256": math.inf}}, "logit_bias", "plain JSON"),
])
def test_bad_parameters_are_refused_before_sending(session, fake_llm_server, params,
                                                   named, allowed):
    session.use_profile("loopback")
    with pytest.raises(InvalidParameterError) as bad:
        session.complete("hi", "gpt-4o-mini", **params)
    message = str(bad.value)
    assert f"parameter {named}=" in message and allowed in message and "nothing was sent" in message
    assert fake_llm_server.requests == []
    assert len(session.calls()) == 0


def test_good_parameters_still_go_out(session, fake_llm_server):
    session.use_profile("loopback")
    session.complete("hi", "gpt-4o-mini", temperature=0, top_p=0.5, seed=3, stop=["##"],
                     max_tokens=20, logit_bias={"1": -1})
    body = fake_llm_server.requests[-1].json
    assert (body["temperature"], body["top_p"], body["seed"], body["stop"]) == (0, 0.5, 3, ["##"])


def test_repeated_per_call_parameters_reach_the_server_as_given(session, fake_llm_server):
    # the deck keeps what a handle resolves to with the same parameters: the same values of
    # another type (1 and True, 1 and 1.0) or in other calls are not confused with them
    session.use_profile("loopback")
    sent = []
    for value in (1, 1.0, True, 1, "1"):  # a parameter of the provider's own, sent as given
        session.complete("hi", "gpt-4o-mini", vendor_option=value, cache=False)
        sent.append(fake_llm_server.requests[-1].json["vendor_option"])
    assert [(v, type(v)) for v in sent] == [(1, int), (1.0, float), (True, bool), (1, int),
                                            ("1", str)]


@pytest.mark.parametrize(("line", "fragment"), [
    ("--param temperature=abc", "parameter temperature='abc' is not allowed"),
    ("--param temperature=1e400", "parameter temperature=inf is not allowed"),
    ("--max-tokens -5", "parameter max_tokens=-5 is not allowed"),
    ("-t 7", "parameter temperature=7.0 is not allowed"),
])
def test_the_magic_shows_one_message_and_sends_nothing(ip, run, session, fake_llm_server, line,
                                                       fragment):
    session.use_profile("loopback")
    check_usage_error(run(f"%%llm gpt-4o-mini {line}\nhi"), fragment, "takes")
    assert fake_llm_server.requests == []


def test_the_log_stores_odd_values_instead_of_crashing(tmp_path):
    log = CallLog(tmp_path / "calls.sqlite")
    log.append(CallRecord(temperature="abc", max_tokens="many", latency_s=math.inf,
                          params={"top_p": math.nan, "x": object()}))
    row = log.frame().iloc[0]
    assert pd.isna(row.temperature) and pd.isna(row.max_tokens) and pd.isna(row.latency_s)
    params = json.loads(row.params)
    assert params["top_p"] is None and params["x"].startswith("<object object")


class Grumpy:
    def __format__(self, spec: str) -> str:
        raise RuntimeError("no formatting today")


def test_a_field_whose_format_raises_names_the_expression():
    with pytest.raises(PromptTemplateError) as bad:
        fill("Describe {thing}", {"thing": Grumpy()})
    message = str(bad.value)
    assert message.startswith("cannot format {thing} (a Grumpy): RuntimeError: no formatting today")
    assert "Traceback" not in message


def test_the_magic_reports_it_without_a_traceback(ip, run):
    ip.user_ns["thing"] = Grumpy()
    check_usage_error(run("%%llm\nDescribe {thing}"), "cannot format {thing}", "RuntimeError")


def test_a_parameter_set_to_none_unsets_the_preset_value(session, fake_llm_server):
    session.use_profile("loopback")  # preset precise: gpt-4o-mini, temperature 0.1, max_tokens 200
    session.complete("hi", preset="precise", cache=False)
    assert fake_llm_server.requests[-1].json["temperature"] == 0.1
    session.complete("hi", preset="precise", temperature=None, cache=False)
    body = fake_llm_server.requests[-1].json
    assert "temperature" not in body and body["max_tokens"] == 200  # the rest of the preset stays
    session.complete("hi", "gpt-4o-mini", preset="precise", max_tokens=None, cache=False)
    body = fake_llm_server.requests[-1].json
    assert "max_tokens" not in body and body["temperature"] == 0.1


def test_the_magic_unsets_a_preset_parameter_with_null(ip, run, session, fake_llm_server):
    session.use_profile("loopback")
    ran = run("%%llm -p precise --param temperature=null --no-cache\nhi")
    assert ran.error is None, ran.stderr
    body = fake_llm_server.requests[-1].json
    assert "temperature" not in body and body["max_tokens"] == 200
