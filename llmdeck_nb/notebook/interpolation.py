"""Fill ``{expression}`` fields in a cell from the notebook namespace.

Like ``str.format`` (``{{`` and ``}}`` are literal braces; ``{x!r}`` and ``{x:.2f}`` work),
except that each field is a Python expression evaluated in the user's namespace, so
``{df.head()}``, ``{In[3]}`` and ``{Out[3]}`` work too. A field that cannot be filled is a
:class:`~llmdeck_nb.errors.PromptTemplateError` naming it.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from llmdeck_nb.errors import PromptTemplateError

_HINT = "write {{ and }} for literal braces, or use --no-interpolate"
_OPENERS = {"(": ")", "[": "]", "{": "}"}


@dataclass(frozen=True)
class Field:
    """One ``{...}`` of a template: the expression, its conversion and format spec."""

    text: str  # as written, braces included (for messages)
    expression: str
    conversion: str | None
    spec: str
    line: int


def fill(template: str, namespace: Mapping[str, Any]) -> str:
    """The template with every field replaced by its value formatted as ``str.format`` would."""
    out: list[str] = []
    for piece in parse(template):
        if isinstance(piece, str):
            out.append(piece)
        else:
            out.append(_render(piece, namespace))
    return "".join(out)


def fill_content(template: str, namespace: Mapping[str, Any]) -> str | list[dict[str, Any]]:
    """:func:`fill`, except that a plain ``{name}`` whose value is an image or a document (a
    PIL image, a matplotlib figure, PNG/JPEG/PDF bytes, a path to such a file) becomes an
    image or file part at that place: the result is then a list of message parts."""
    from llmdeck_nb.engine.attachments import attachment_part, is_attachment

    parts: list[dict[str, Any]] = []
    text: list[str] = []
    for piece in parse(template):
        if isinstance(piece, str):
            text.append(piece)
            continue
        value = evaluate(piece.expression, namespace, what=piece.text)
        if piece.conversion is None and not piece.spec and is_attachment(value):
            if "".join(text).strip():
                parts.append({"type": "text", "text": "".join(text)})
            text = []
            parts.append(attachment_part(value, piece.text))
        else:
            text.append(_formatted(piece, value, namespace))
    if not parts:
        return "".join(text)
    if "".join(text).strip():
        parts.append({"type": "text", "text": "".join(text)})
    texts = [part for part in parts if part["type"] == "text"]
    if texts:  # the cell's own leading and trailing blank lines are not part of the prompt
        texts[0]["text"], texts[-1]["text"] = texts[0]["text"].lstrip(), texts[-1]["text"].rstrip()
    return parts


def evaluate(expression: str, namespace: Mapping[str, Any], *, what: str | None = None) -> Any:
    """Evaluate one expression in ``namespace``; a clear PromptTemplateError if it fails."""
    label = what or "{" + expression + "}"
    try:
        code = compile(expression.strip(), "<llmdeck prompt>", "eval")
    except SyntaxError:
        raise PromptTemplateError(f"{label} is not a Python expression", hint=_HINT) from None
    try:
        return eval(code, dict(namespace) if not isinstance(namespace, dict) else namespace)
    except NameError as exc:
        name = getattr(exc, "name", None) or str(exc)
        raise PromptTemplateError(
            f"cannot fill {label}: '{name}' is not defined in the notebook",
            hint="define it in a cell above, " + _HINT,
        ) from None
    except Exception as exc:  # noqa: BLE001 - IndexError from In[99], KeyError from Out[5]...
        raise PromptTemplateError(f"cannot fill {label}: {type(exc).__name__}: {exc}",
                                  hint=_HINT) from None


def parse(template: str) -> Iterator[str | Field]:
    """Literal text and fields, in order. A lone ``}`` is kept as text."""
    i, n = 0, len(template)
    literal: list[str] = []
    while i < n:
        char = template[i]
        if char == "{" and template.startswith("{{", i):
            literal.append("{")
            i += 2
        elif char == "}" and template.startswith("}}", i):
            literal.append("}")
            i += 2
        elif char == "{":
            end = _closing(template, i)
            if literal:
                yield "".join(literal)
                literal = []
            yield _field(template[i:end + 1], template.count("\n", 0, i) + 1)
            i = end + 1
        else:
            literal.append(char)
            i += 1
    if literal:
        yield "".join(literal)


def _closing(template: str, start: int) -> int:
    """Index of the ``}`` closing the field opened at ``start`` (brackets and quotes nest)."""
    stack: list[str] = []
    quote: str | None = None
    i = start + 1
    while i < len(template):
        char = template[i]
        if quote:
            if char == "\\":
                i += 1
            elif template.startswith(quote, i):
                i += len(quote) - 1
                quote = None
        elif char in "'\"":
            quote = char * 3 if template.startswith(char * 3, i) else char
            i += len(quote) - 1
        elif char in _OPENERS:
            stack.append(_OPENERS[char])
        elif char in ")]}":
            if not stack:
                if char == "}":
                    return i
                break
            if char != stack.pop():
                break
        i += 1
    line = template.count("\n", 0, start) + 1
    snippet = template[start:start + 30].split("\n")[0]
    raise PromptTemplateError(f"line {line}: '{snippet}' opens a {{ field that is never closed",
                              hint=_HINT)


def _field(text: str, line: int) -> Field:
    body = text[1:-1]
    expression, conversion, spec = _split(body)
    if not expression.strip():
        raise PromptTemplateError(f"line {line}: empty field {text}", hint=_HINT)
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise PromptTemplateError(f"line {line}: {text} is not a Python expression",
                                  hint=_HINT) from None
    if isinstance(tree.body, ast.Constant):  # {"a": 1} in a prompt is JSON, not a field
        raise PromptTemplateError(f"line {line}: {text} looks like literal braces, not a field",
                                  hint=_HINT)
    if conversion not in (None, "r", "s", "a"):
        raise PromptTemplateError(f"line {line}: {text}: unknown conversion !{conversion}",
                                  hint=_HINT)
    return Field(text, expression, conversion, spec, line)


def _split(body: str) -> tuple[str, str | None, str]:
    """``expr!c:spec`` -> (expr, c, spec), splitting only at the top level."""
    depth = 0
    quote: str | None = None
    i = 0
    while i < len(body):
        char = body[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0 and char == "!" and i + 1 < len(body) and body[i + 1] != "=":
            rest = body[i + 1:]
            conversion, _, spec = rest.partition(":")
            return body[:i], conversion, spec
        elif depth == 0 and char == ":":
            return body[:i], None, body[i + 1:]
        i += 1
    return body, None, ""


def compile_template(template: str) -> Callable[[Mapping[str, Any]], str]:
    """:func:`fill` for many namespaces: the template is parsed once (a batch fills one per row)."""
    pieces = list(parse(template))

    def render(namespace: Mapping[str, Any]) -> str:
        return "".join(p if isinstance(p, str) else _render(p, namespace) for p in pieces)

    return render


def _render(field: Field, namespace: Mapping[str, Any]) -> str:
    name = field.expression.strip()
    if name.isidentifier() and name in namespace:  # a plain {column}: no eval needed
        value = namespace[name]
    else:
        value = evaluate(field.expression, namespace, what=field.text)
    return _formatted(field, value, namespace)


_CONVERSIONS: dict[str, Callable[[object], str]] = {"r": repr, "s": str, "a": ascii}


def _formatted(field: Field, value: Any, namespace: Mapping[str, Any]) -> str:
    spec = fill(field.spec, namespace) if "{" in field.spec else field.spec
    convert = _CONVERSIONS.get(field.conversion or "")
    try:
        return format(convert(value) if convert else value, spec)
    except Exception as exc:  # noqa: BLE001 - the object's own __format__/__str__/__repr__
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise PromptTemplateError(
            f"cannot format {field.text} (a {type(value).__name__}): {detail}"[:300],
            hint="fix that object's __format__/__str__, write {" + field.expression.strip()
                 + "!r}, or " + _HINT) from None


__all__ = ["Field", "compile_template", "evaluate", "fill", "fill_content", "parse"]
