"""The shapes of the deck files: the type each key takes, checked where a file is read.

Every value of ``backends.toml``, ``routing_profiles.toml`` and ``deck/*.toml`` is checked
here (model specs, presets and profiles by their pydantic models in specs.py, whose errors
are worded here too), so a wrong type is one :class:`DeckSchemaError` naming the file, the
table, the key, the type expected and the value found, never a ``TypeError`` deeper down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from urllib.parse import urlsplit

from pydantic import ValidationError

from llmdeck_nb.errors import DeckSchemaError


@dataclass(frozen=True, slots=True)
class Expect:
    """What a key takes: ``description`` is what the message says was expected."""

    description: str
    accepts: Callable[[object], bool]


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


STRING = Expect("a string", lambda v: isinstance(v, str))
BOOL = Expect("true or false", lambda v: isinstance(v, bool))
NUMBER = Expect("a number", _is_number)
INTEGER = Expect("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool))
TABLE = Expect("a table", lambda v: isinstance(v, dict))
STRINGS = Expect("a list of strings", _strings)
STRING_OR_STRINGS = Expect("a string or a list of strings", lambda v: isinstance(v, str)
                           or _strings(v))
STRING_TABLE = Expect("a table of string values",
                      lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()))
CACHE = Expect("a table such as { url = \"redis://...\" } or { directory = \"...\" }, "
               "a path or URL string, or true/false",
               lambda v: isinstance(v, (dict, str, bool)))

# backends.toml: one table per backend. Pipelex's keys, then llmdeck's own.
BACKEND_FIELDS: dict[str, Expect] = {
    "enabled": BOOL, "display_name": STRING, "endpoint": STRING_OR_STRINGS, "api_key": STRING,
    "api_version": STRING, "aws_region": STRING, "aws_access_key_id": STRING,
    "aws_secret_access_key": STRING, "gcp_project_id": STRING, "gcp_location": STRING,
    "gcp_credentials_file_path": STRING, "claude_4_tokens_limit": INTEGER,
    "endpoints": STRING_OR_STRINGS, "strategy": STRING, "provider": STRING,
    "serves_any_model": BOOL, "headers": STRING_TABLE, "timeout": NUMBER,
    "rpm": NUMBER, "tpm": NUMBER, "max_concurrency": INTEGER,
}
ROUTING_FILE_FIELDS: dict[str, Expect] = {"active": STRING, "profiles": TABLE}
PROFILE_FIELDS: dict[str, Expect] = {
    "description": STRING, "default": STRING, "routes": STRING_TABLE,
    "optional_routes": STRING_TABLE, "fallback_order": STRINGS,
}
SPEC_FILE_FIELDS: dict[str, Expect] = {
    "defaults": TABLE, "default_sdk": STRING, "default_prompting_target": STRING,
    "default_model_type": STRING, "models": TABLE,
}
ALIASES = Expect("a model name (a string) or a list of names", lambda v: isinstance(v, str)
                 or _strings(v))
CHOICE_FIELDS: dict[str, Expect] = {"for_text": STRING, "for_object": STRING,
                                    "default_temperature": NUMBER}
# Sections of a deck file that hold a table of names; [llm] nests the same ones.
DECK_TABLES = ("aliases", "waterfalls", "fallbacks", "presets", "choice_defaults",
               "choice_overrides")


def got(value: object) -> str:
    """The value found, in TOML words: ``integer 123``, ``string 'yes'``, ``a table``."""
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"{'integer' if isinstance(value, int) else 'number'} {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"string {shown!r}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    return type(value).__name__


def type_error(file: str, key: str, expect: Expect | str, value: object, *,
               hint: str | None = None) -> DeckSchemaError:
    expected = expect.description if isinstance(expect, Expect) else expect
    return DeckSchemaError(file, key, f"expected {expected}, got {got(value)}", hint=hint)


def check_fields(table: Mapping[str, object], fields: Mapping[str, Expect], file: str,
                 prefix: str) -> list[DeckSchemaError]:
    """Type errors of the known keys of ``table`` (``prefix`` is the table's dotted name)."""
    errors = []
    for key, expect in fields.items():
        if key in table and not expect.accepts(table[key]):
            errors.append(type_error(file, f"{prefix}.{key}" if prefix else key, expect,
                                     table[key]))
    return errors


def suggestion(key: str, known: Iterable[str]) -> str:
    """`` (did you mean 'endpoint'?)`` for a misspelt key, else ``""``."""
    close = get_close_matches(key, list(known), n=1, cutoff=0.75)
    return f" (did you mean '{close[0]}'?)" if close else ""


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be an endpoint, or None when it can."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "is not an http:// or https:// URL with a host"
    return None


_PYDANTIC_EXPECTED = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "float_type": "a number", "float_parsing": "a number", "string_type": "a string",
    "bool_type": "true or false", "bool_parsing": "true or false", "dict_type": "a table",
    "model_type": "a table", "model_attributes_type": "a table", "list_type": "a list",
    "tuple_type": "a list", "literal_error": None,
}


def from_validation_error(exc: ValidationError, file: str, table: str) -> list[DeckSchemaError]:
    """pydantic's errors as deck errors: ``file: key 'gpt-4o.costs.input': expected ...``."""
    errors = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        key = f"{table}.{loc}" if loc else table
        expected = _PYDANTIC_EXPECTED.get(err["type"])
        if expected and "input" in err:
            errors.append(type_error(file, key, expected, err["input"]))
        else:
            detail = err["msg"].removeprefix("Value error, ")
            if "input" in err and err["type"] not in ("missing", "extra_forbidden"):
                detail += f", got {got(err['input'])}"
            errors.append(DeckSchemaError(file, key, detail))
    return errors
