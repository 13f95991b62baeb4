"""Argument declarations for the magics (``magic_arguments``, so ``%%llm?`` has real help)
and their translation into :meth:`Session.complete` keyword arguments."""

from __future__ import annotations

import json
import re
import shlex
from argparse import Namespace
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument

from llmdeck_nb.engine.params import timeout_argument
from llmdeck_nb.not_given import NOT_GIVEN, NotGiven
from llmdeck_nb.notebook.display import FORMATS

F = TypeVar("F", bound=Callable[..., Any])

#: keyword arguments of Session.acomplete that --param must not shadow
RESERVED_PARAMS = frozenset({"prompt", "model", "preset", "profile", "system", "schema",
                             "stream", "cache", "refresh", "tags", "on_text", "timeout",
                             "max_cost_usd", "conversation"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_TOKEN = re.compile(r"\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'|\S+")


def _stack(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(func: F) -> F:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func
    return apply


# magic_arguments lists options in the order the decorators are applied (bottom first),
# so each group below is written top-down as it reads in the help.

#: what to call and how: shared by %%llm and %%llm_compare
call_options = _stack(
    argument("-p", "--preset", help="a preset from the deck: its model and parameters "
             "(with MODEL: the preset's parameters on that model)"),
    argument("--profile", help="routing profile for this call only (see %%llm_profile)"),
    argument("-s", "--system", help="system prompt"),
    argument("-t", "--temperature", type=float, help="sampling temperature"),
    argument("--max-tokens", type=int, dest="max_tokens", help="maximum tokens in the answer"),
    argument("--timeout", type=timeout_argument, default=NOT_GIVEN, metavar="S",
             help="seconds to wait for the server (to answer, and between stream chunks); "
             "overrides the deck's `timeout`; none: no limit"),
    argument("--param", action="append", default=[], metavar="KEY=VALUE",
             help="any other generation parameter, repeatable; VALUE is read as JSON when it can "
             "be (--param top_p=0.9 --param stop='[\"##\"]'), else as text"),
    argument("--schema", metavar="NAME", help="a pydantic model (or JSON-schema dict) in the "
             "notebook: the answer is parsed into it"),
    argument("--no-cache", action="store_true", dest="no_cache",
             help="do not use the response cache"),
    argument("--refresh", action="store_true", help="call the model even if the answer is cached "
             "(and cache the new answer)"),
    argument("--prompt-cache", action="store_true", dest="prompt_cache",
             help="ask the provider to cache the system prompt and the conversation so far "
             "(Anthropic's cache_control; OpenAI and Gemini cache by themselves)"),
    argument("--tag", action="append", default=[], help="label the call in the log, repeatable"),
    argument("--image", action="append", default=[], metavar="PATH_OR_VAR",
             help="send an image with the prompt, repeatable: a file path, or a notebook variable "
             "holding a PIL image, a matplotlib figure or PNG/JPEG bytes ({var} in the cell works "
             "too)"),
    argument("--pdf", action="append", default=[], metavar="PATH_OR_VAR",
             help="send a PDF document with the prompt, repeatable (models whose inputs list pdf)"),
    argument("--max-cost", type=float, dest="max_cost_usd", metavar="USD",
             help="refuse a call whose worst-case cost is higher (nothing is sent)"),
    argument("--no-interpolate", action="store_false", dest="interpolate", default=None,
             help="send the cell as written: no {name} filling"),
    argument("--interpolate", action="store_true", dest="interpolate", default=None,
             help="fill {name} and {expression} from the notebook (the default; "
             "%%config LLMDeckMagics.interpolate)"),
)

#: how %%llm shows the answer
output_options = _stack(
    argument("-m", "--model", dest="model_option", metavar="MODEL",
             help="model, alias or preset (the line form's way to give MODEL)"),
    argument("-f", "--format", choices=FORMATS, default=None,
             help="how to show the answer (default: markdown; %%config LLMDeckMagics.format); "
             "code also inserts the code in a new cell below"),
    argument("-o", "--out", metavar="VAR", help="store the Result in this variable"),
    argument("--stream", action="store_true", dest="stream", default=None,
             help="show tokens as they arrive (%%config LLMDeckMagics.stream)"),
    argument("--no-stream", action="store_false", dest="stream", default=None,
             help="wait for the whole answer"),
)


#: conversation mode of %%llm
chat_options = _stack(
    argument("--chat", action="store_true", dest="chat", default=None,
             help="send the current conversation's earlier exchanges with the cell, and add this "
             "one to it (%%config LLMDeckMagics.chat; %%llm_chat new|show|list|switch|drop)"),
    argument("--no-chat", action="store_false", dest="chat", default=None,
             help="send the cell on its own"),
)


def parse_line(parser: Any, line: str) -> Namespace:
    """Shell-like splitting (``--param stop='["##"]'`` keeps its JSON), then argparse."""
    try:
        argv = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"cannot read the options: {exc} (check the quotes)") from None
    return parser.parse_args(argv)


def split_line(parser: Any, line: str) -> tuple[Namespace, str]:
    """``%llm [options] PROMPT``: the leading options parsed, the rest kept verbatim."""
    actions = parser._option_string_actions
    options: list[str] = []
    prompt = ""
    tokens = list(_TOKEN.finditer(line))
    i = 0
    while i < len(tokens):
        token = tokens[i].group()
        if token == "--":
            prompt = line[tokens[i].end():] if i + 1 < len(tokens) else ""
            break
        if not token.startswith("-") or _is_number(token):
            prompt = line[tokens[i].start():]
            break
        name = token.split("=", 1)[0]
        action = actions.get(name)
        if action is None and not name.startswith("--") and name[:2] in actions:
            action = actions[name[:2]]  # -t0.2
            name = name[:2]
        options.append(_unquote(token))
        takes_value = action is not None and action.nargs != 0 and token == name
        if takes_value and i + 1 < len(tokens):
            i += 1
            options.append(_unquote(tokens[i].group()))
        i += 1
    args = parser.parse_args(options)
    return args, prompt.strip()


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _unquote(token: str) -> str:
    try:
        parts = shlex.split(token)
    except ValueError:
        return token
    return parts[0] if len(parts) == 1 else token


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings -> dict; VALUE as JSON when it parses, else the text."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not _IDENTIFIER.match(key):
            raise UsageError(f"--param takes KEY=VALUE, got {pair!r}")
        if key in RESERVED_PARAMS:
            raise UsageError(f"--param {key}=... is not a generation parameter; use the {key} "
                             "option")
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    return params


def call_kwargs(args: Namespace, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments for ``Session.complete`` / ``compare`` (only what was given,
    so the panel's temperature is not overridden by an unset option)."""
    kwargs: dict[str, Any] = {**parse_params(args.param)}
    for name in ("preset", "profile", "system", "temperature", "max_tokens", "max_cost_usd"):
        value = getattr(args, name)
        if value is not None:
            kwargs[name] = value
    if not isinstance(args.timeout, NotGiven):  # None is given: `--timeout none`, no limit
        kwargs["timeout"] = args.timeout
    if args.schema:
        from llmdeck_nb.notebook.interpolation import evaluate

        kwargs["schema"] = evaluate(args.schema, namespace, what=f"--schema {args.schema}")
    if args.no_cache:
        kwargs["cache"] = False
    if args.refresh:
        kwargs["refresh"] = True
    if args.prompt_cache:
        kwargs["prompt_cache"] = True
    if args.tag:
        kwargs["tags"] = tuple(args.tag)
    return kwargs


def attachment_parts(args: Namespace, namespace: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The image and PDF parts of ``--image`` / ``--pdf``: a notebook variable of that name,
    else a file path."""
    from llmdeck_nb.engine.attachments import attachment_part, pdf_part

    parts = []
    for option, values, make in (("--image", args.image, attachment_part),
                                 ("--pdf", args.pdf, pdf_part)):
        for value in values:
            held = namespace.get(value) if value.isidentifier() else None
            parts.append(make(value if held is None else held, f"{option} {value}"))
    return parts


ALL_ROWS = -1


def log_rows(text: str) -> int:
    """``-n 5`` -> 5, ``-n all`` -> :data:`ALL_ROWS` (argparse reports a bad value)."""
    if text.strip().lower() == "all":
        return ALL_ROWS
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def variable_name(name: str | None) -> str | None:
    if name is not None and not name.isidentifier():
        raise UsageError(f"-o takes a variable name, got {name!r}")
    return name


def names_list(text: str | None) -> list[str] | None:
    """``a,b, c`` -> ["a", "b", "c"]; None or empty -> None."""
    if not text:
        return None
    names = [part.strip() for part in text.split(",") if part.strip()]
    return names or None


__all__ = ["ALL_ROWS", "attachment_parts", "call_kwargs", "call_options", "chat_options",
           "log_rows", "names_list", "output_options", "parse_line", "parse_params", "split_line",
           "variable_name"]
