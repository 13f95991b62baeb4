"""The offline demo backend: in process, deterministic, plainly labelled.

It lets a notebook run end to end without any key: the same model, messages and
parameters always give the same answer, after a small simulated latency (20-60 ms derived
from the request, or ``request.extra["latency_s"]`` / :attr:`DemoStrategy.latency_s`).
Plain answers start with :data:`DEMO_LABEL`; a prompt asking for code gets a fenced
Python block that runs; a JSON schema gets JSON that follows it. Cost is always 0.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import keyword
import re
import time
from typing import Any, ClassVar

from llmdeck_nb.backends.base import (BackendRequest, BackendResponse, BackendStrategy,
                                      TextCallback, part_data)

DEMO_LABEL = ("[demo answer from llmdeck's offline demo backend — set an API key to get "
              "real answers]")
STREAM_CHUNKS = 8

_CODE_REQUEST = re.compile(
    r"\b(code|function|python|script|snippet|implement|program|regex|sql|class|def)\b",
    re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{3,}")
_STOPWORDS = frozenset(
    "that this with what which from have your about into than then them they their there "
    "would could should please write give make tell explain using when where while does "
    "will some more most very just like also only each other".split())
_OPENINGS = (
    "You asked",
    "The prompt asks",
    "Your question asks",
)
_CLOSINGS = (
    "A real model would answer this properly; this one only shows the plumbing works.",
    "Switch the routing profile or set a key to see a real answer side by side.",
    "Everything else (cache, call log, cost table) behaves as with a real backend.",
)


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def _digest(request: BackendRequest) -> bytes:
    material = json.dumps(
        [request.model_id, request.messages, dict(request.params), request.schema],
        sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(material.encode()).digest()


def _keywords(prompt: str, limit: int = 4) -> list[str]:
    seen: list[str] = []
    for word in _WORD.findall(prompt.lower()):
        if word not in _STOPWORDS and word not in seen:
            seen.append(word)
        if len(seen) == limit:
            break
    return seen


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _plain_answer(prompt: str, model_id: str, digest: bytes) -> str:
    words = len(prompt.split())
    keywords = _keywords(prompt)
    opening = _OPENINGS[digest[0] % len(_OPENINGS)]
    lines = [
        DEMO_LABEL,
        "",
        f"{opening} ({words} word{'s' if words != 1 else ''}): \"{_short(prompt)}\"",
    ]
    if keywords:
        lines.append(f"It is mostly about {', '.join(keywords)}.")
    lines.append(f"This canned reply stands in for model '{model_id}'. "
                 + _CLOSINGS[digest[1] % len(_CLOSINGS)])
    return "\n".join(lines)


def _code_answer(prompt: str, digest: bytes) -> str:
    topic = [k for k in _keywords(prompt, 6) if not _CODE_REQUEST.fullmatch(k)][:2]
    name = "_".join(re.sub(r"[^a-z0-9_]", "_", k) for k in topic or ["demo"])
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        name += "_demo"
    sample = _short(prompt, 60)
    return "\n".join([
        DEMO_LABEL,
        "",
        "```python",
        f"def {name}(text: str) -> list[str]:",
        "    \"\"\"Demo code: the words of ``text`` longer than three letters.\"\"\"",
        "    return [w for w in text.split() if len(w) > 3]",
        "",
        "",
        f"print({name}({sample!r}))",
        "```",
        "",
        f"(demo variant {digest[2] % 10}: set an API key to get code written for your prompt)",
    ])


def _size(mime: str, data: bytes) -> str | None:
    """``640x480 px`` read from a PNG or GIF header (no image library), else None."""
    if mime == "image/png" and len(data) >= 24:
        return f"{int.from_bytes(data[16:20], 'big')}x{int.from_bytes(data[20:24], 'big')} px"
    if mime == "image/gif" and len(data) >= 10:
        return f"{int.from_bytes(data[6:8], 'little')}x{int.from_bytes(data[8:10], 'little')} px"
    return None


def _attachment_lines(content: object) -> list[str]:
    """One line per image or document part of the prompt: what it is and how big."""
    lines = []
    for part in content if isinstance(content, list) else []:
        found = part_data(part)
        if found is None:
            continue
        mime, data = found
        image = f"{mime.split('/')[-1].upper()} image"
        kind = "PDF document" if mime == "application/pdf" else image
        facts = [kind, _size(mime, data), f"{max(1, round(len(data) / 1024))} KB"]
        lines.append(f"- {', '.join(f for f in facts if f)}")
    return lines


def _attachment_answer(prompt: str, lines: list[str], model_id: str) -> str:
    what = "1 attachment" if len(lines) == 1 else f"{len(lines)} attachments"
    return "\n".join([
        DEMO_LABEL,
        "",
        f"Canned description: you sent {what} with the prompt \"{_short(prompt)}\":",
        *lines,
        f"A vision model standing behind '{model_id}' would describe what they show; the demo "
        "backend only reports what it received.",
    ])


def value_for_schema(schema: object, name: str, digest: bytes, depth: int = 0) -> Any:
    """A deterministic value that follows ``schema`` (required properties filled by type)."""
    if not isinstance(schema, dict) or depth > 8:
        return f"demo {name}"
    if schema.get("enum"):
        return schema["enum"][digest[depth % len(digest)] % len(schema["enum"])]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return value_for_schema(schema[key][0], name, digest, depth + 1)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    byte = digest[(depth + len(name)) % len(digest)]
    if kind == "object":
        props = schema.get("properties") or {}
        wanted = schema.get("required", list(props))
        return {key: value_for_schema(props.get(key, {}), key, digest, depth + 1) for key in wanted}
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        return [value_for_schema(schema.get("items", {}), name, digest, depth + 1 + i)
                for i in range(count)]
    if kind in ("integer", "number"):
        low: float = schema["minimum"] if "minimum" in schema else schema.get("exclusiveMinimum", 0)
        high: float = (schema["maximum"] if "maximum" in schema
                       else schema.get("exclusiveMaximum", low + 100))
        value = low + (byte % max(1, int(high - low))) if high > low else low
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            value = schema["exclusiveMinimum"] + 1
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return bool(byte % 2)
    if kind == "null":
        return None
    text = f"demo {name}"
    return text[: schema["maxLength"]] if "maxLength" in schema else text


def _count(text: str) -> int:
    return max(1, len(text.split()))


class DemoStrategy(BackendStrategy):
    kind = "demo"

    #: Fixed simulated latency in seconds; None: 20-60 ms derived from the request.
    latency_s: ClassVar[float | None] = None

    def _latency(self, request: BackendRequest, digest: bytes) -> float:
        override = request.extra.get("latency_s") if request.extra else None
        if override is not None:
            return max(0.0, float(override))
        if self.latency_s is not None:
            return max(0.0, self.latency_s)
        return 0.020 + (int.from_bytes(digest[:2], "big") % 41) / 1000.0

    def answer(self, request: BackendRequest, digest: bytes | None = None) -> BackendResponse:
        """The deterministic answer, without the simulated latency."""
        digest = digest or _digest(request)
        users = [m for m in request.messages if m.get("role") == "user"]
        prompt = _text((users or request.messages or [{}])[-1].get("content"))
        finish = "stop"
        attachments = _attachment_lines((users or [{}])[-1].get("content"))
        if request.schema is not None:
            text = json.dumps(value_for_schema(request.schema, "value", digest))
        elif attachments:
            text = _attachment_answer(prompt, attachments, request.model_id)
        elif _CODE_REQUEST.search(prompt):
            text = _code_answer(prompt, digest)
        else:
            text = _plain_answer(prompt, request.model_id, digest)
            limit = request.params.get("max_tokens")
            if isinstance(limit, int) and 0 < limit < _count(text):
                text = " ".join(text.split(" ")[:limit])
                finish = "length"
        input_tokens = max(1, sum(len(_text(m.get("content")).split()) for m in request.messages))
        return BackendResponse(text=text, input_tokens=input_tokens, output_tokens=_count(text),
                               model_id=request.model_id, finish_reason=finish,
                               provider_cost_usd=0.0)

    async def complete(self, request: BackendRequest) -> BackendResponse:
        digest = _digest(request)
        response = self.answer(request, digest)
        await asyncio.sleep(self._latency(request, digest))
        return response

    async def stream(self, request: BackendRequest, on_text: TextCallback) -> BackendResponse:
        start = time.perf_counter()
        digest = _digest(request)
        response = self.answer(request, digest)
        latency = self._latency(request, digest)
        pieces = re.findall(r"\S+\s*", response.text) or [response.text]
        size = -(-len(pieces) // STREAM_CHUNKS)  # ceil: at most STREAM_CHUNKS chunks
        chunks = ["".join(pieces[i:i + size]) for i in range(0, len(pieces), size)]
        leading = response.text[: len(response.text) - len(response.text.lstrip())]
        if leading:
            chunks[0] = leading + chunks[0]
        await asyncio.sleep(latency / 2)  # time to first token
        for i, chunk in enumerate(chunks):
            if i == 0:
                response.ttft_s = time.perf_counter() - start
            else:
                await asyncio.sleep(latency / 2 / max(1, len(chunks) - 1))
            on_text(chunk)
        return response

    async def probe(self, request: BackendRequest) -> None:
        return None
