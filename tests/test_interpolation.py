"""{name} / {expression} filling: the parser on its own, then through %%llm."""

from __future__ import annotations

import pytest

from llmdeck_nb.errors import PromptTemplateError
from llmdeck_nb.notebook.interpolation import Field, fill, parse

pytest_plugins = ["notebooks_magics.shell_fixtures"]  # session, ip, run


class Frame:
    def head(self, n: int = 2) -> str:
        return f"<first {n} rows>"


NS = {"name": "Ada", "x": 3.14159, "items": [1, 2, 3], "d": {"a": 1}, "df": Frame(),
      "In": ["", "x = 1", "print('hi')"], "Out": {1: 42}}


@pytest.mark.parametrize("template, expected", [
    ("Hello {name}", "Hello Ada"),
    ("{x:.2f}", "3.14"),
    ("{name!r}", "'Ada'"),
    ("{name!r:>8}", "   'Ada'"),
    ("{items[1:]}", "[2, 3]"),
    ("{d['a']}", "1"),
    ('{d["a"] + 1}', "2"),
    ("{df.head()} and {df.head(n=5)}", "<first 2 rows> and <first 5 rows>"),
    ("{In[2]} -> {Out[1]}", "print('hi') -> 42"),
    ("{len(items) != 2}", "True"),
    ("{{literal}} {{name}}", "{literal} {name}"),
    ("{{{name}}}", "{Ada}"),
    ("a lone } stays", "a lone } stays"),
    ("{x:{width}.1f}", "  3.1"),
    ("no fields at all", "no fields at all"),
    ("line one\n{name}\n", "line one\nAda\n"),
])
def test_fill(template, expected):
    assert fill(template, {**NS, "width": 5}) == expected


def test_parse_gives_literal_text_and_fields():
    pieces = list(parse("a {b!r:>3} c\n{d}"))
    assert pieces[0] == "a " and pieces[2] == " c\n"
    assert pieces[1] == Field("{b!r:>3}", "b", "r", ">3", 1)
    assert pieces[3].line == 2


@pytest.mark.parametrize("template, message", [
    ("Hi {missing}", "cannot fill {missing}: 'missing' is not defined in the notebook"),
    ("{In[99]}", "cannot fill {In[99]}: IndexError"),
    ("{Out[7]}", "cannot fill {Out[7]}: KeyError"),
    ("{name.nope}", "AttributeError"),
    ("unclosed {name", "opens a { field that is never closed"),
    ('Return {"a": 1}', 'looks like literal braces'),
    ("{}", "empty field {}"),
    ("{1 +}", "is not a Python expression"),
    ("{name!z}", "unknown conversion !z"),
    ("{name:.2f}", "cannot format {name:.2f}"),
])
def test_errors_name_the_field_and_say_how_to_escape(template, message):
    with pytest.raises(PromptTemplateError) as caught:
        fill(template, NS)
    assert message in str(caught.value)
    assert "{{" in str(caught.value) and "--no-interpolate" in str(caught.value)


# --- through the magics ---------------------------------------------------------------------


def sent(session) -> str:
    return session.calls().iloc[-1].prompt_preview


def test_cells_are_filled_from_the_namespace(ip, run, session):
    first = run("rows = 3\nimport math", store_history=True).result.execution_count
    second = run("'forty-two'", store_history=True).result.execution_count
    ran = run(f"%%llm\nThere are {{rows}} rows, pi is {{math.pi:.3f}}; {{{{not a field}}}}; "
              f"last input: {{In[{first}]}}; output: {{Out[{second}]}}")
    assert ran.error is None
    assert sent(session) == ("There are 3 rows, pi is 3.142; {not a field}; last input: "
                             "rows = 3\nimport math; output: forty-two")


def test_expressions_are_evaluated(ip, run, session):
    run("import pandas as pd\ndf = pd.DataFrame({'city': ['Paris', 'Rome', 'Oslo']})")
    run("%%llm\nSummarize:\n{df.head(2).to_string(index=False)}")
    assert sent(session) == "Summarize:\n" + ip.user_ns["df"].head(2).to_string(index=False)
    assert "Paris" in sent(session) and "Oslo" not in sent(session)


def test_line_form_is_filled_too_and_not_by_ipython(ip, run, session):
    run("who = 'Grace'")
    run("%llm Tell me about {who} and {who!r}")
    assert sent(session) == "Tell me about Grace and 'Grace'"


def test_no_interpolate_sends_the_cell_as_written(ip, run, session):
    ran = run("%%llm --no-interpolate\nReturn JSON like {\"a\": {missing}}")
    assert ran.error is None
    assert sent(session) == 'Return JSON like {"a": {missing}}'


def test_a_missing_name_is_a_usage_error_naming_it(ip, run, session, assert_usage_error):
    assert_usage_error(run("%%llm\nHello {nobody}"), "'nobody' is not defined", "--no-interpolate")
    assert_usage_error(run('%%llm\nReturn {"a": 1}'), "looks like literal braces")
    assert len(session.calls()) == 0  # nothing was sent
