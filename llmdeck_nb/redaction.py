"""Secrets scrubbed from text (:func:`redact`), and the one rule for credential names.

Every message, log row, exception, repr and display goes through :func:`redact`.
Two layers:

* the exact values of every secret the deck resolved (``register_secret`` is called
  by the deck loader for API keys and any variable whose name looks secret), together
  with the forms a key takes when it is echoed back: its base64 form, its first 12
  characters, and a masked echo
  (``sk-SENTI****...f36e``: a recognisable prefix, mask characters, maybe the suffix), and
* patterns for well-known key shapes (OpenAI/Anthropic ``sk-...``, Google ``AIza...``,
  AWS ``AKIA...``, ``Bearer ...`` headers, ``key=`` in URLs, the password of
  ``scheme://user:password@host``), for keys we never saw.

:class:`llmdeck_nb.engine.stream_redaction.StreamRedactor` applies :func:`redact` to
streamed text, holding back a tail of :func:`longest_secret` characters so a key split
across chunks is still caught.

Which *names* hold a credential is decided once, by :func:`looks_secret`: the deck loader,
the call log's ``params`` column and the cache key all ask it. One value is masked before
it gets here: the password of a Redis cache URL, which may be shorter than a key
(:func:`llmdeck_nb.cache.redis.redact_url`).
"""

from __future__ import annotations

import base64
import functools
import logging
import re
import threading
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from itertools import accumulate
from typing import Any

REDACTED = "[redacted]"

# A name's words: split at "_", "-", "." and camelCase humps ("xApiKey" -> x, Api, Key).
_NAME_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
# Words that make a name a credential's name, anywhere in it.
_CREDENTIAL_WORDS = frozenset({"key", "apikey", "secret", "password", "passwd", "passphrase",
                               "credential", "credentials", "token", "authorization", "cookie"})
# Words that end a credential's name written without separators ("APIKEY", "accesstoken").
_CREDENTIAL_ENDINGS = ("apikey", "accesskey", "secretkey", "privatekey", "token", "secret",
                       "password", "passwd")
# "token" followed by one of these counts tokens ("token_limit"), it is no credential.
_TOKEN_COUNT_WORDS = frozenset({"limit", "count", "budget"})
# Provider parameters whose name has a credential word but whose value is no secret (OpenAI's
# prompt-cache routing hint); exact names only: a variable like REDIS_CACHE_KEY stays secret.
_NOT_CREDENTIALS = frozenset({"prompt_cache_key"})

# Key shapes redacted even when we never saw the value; group 1 (a label) is kept. Each
# comes with the lowercased texts one of which every match of it contains: a text holding
# none of them is not scanned for that shape (Python's regex engine is slow on long texts,
# ~0.5 us a character for all of them together).
_KEY_SHAPES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("sk-", "aiza", "akia"),
     r"()(?:sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{12,}|AIza[0-9A-Za-z_\-]{20,}|AKIA[0-9A-Z]{16})"),
    (("bearer",), r"([Bb]earer\s+)[A-Za-z0-9._\-~+/=]{8,}"),
    (("key=", "token="), r"([?&](?:key|api[-_]?key|token)=)[^&\s\"']+"),
    (("api-key", "api_key"), r"((?:x-)?api[-_]key[\"']?\s*[:=]\s*[\"']?)[^\"'\s,}]{6,}"),
    (("://",), r"([a-z][a-z0-9+.\-]*://[^\s:/@]*:)[^\s/@]+(?=@)"),  # scheme://user:PASSWORD@host
)
_URL_SHAPE = 1 << (len(_KEY_SHAPES) - 1)  # needs an "@" too
_ANCHORS = tuple(anchor for anchors, _ in _KEY_SHAPES for anchor in anchors)  # "://" last


def _shapes_in(lowered: str) -> int:
    """The key shapes ``lowered`` may hold, as a bit set (0: none, no scan needed)."""
    found = 0
    for bit, (anchors, _) in enumerate(_KEY_SHAPES):
        if any(map(lowered.__contains__, anchors)):
            found |= 1 << bit
    if found & _URL_SHAPE and "@" not in lowered:
        found &= ~_URL_SHAPE
    return found


@functools.cache
def _shapes_pattern(shapes: int) -> re.Pattern[str]:
    """One regex for the key shapes in ``shapes``: the alternatives of the whole pattern that
    can match, in the same order, so it finds what the whole pattern would."""
    chosen = (pattern for bit, (_, pattern) in enumerate(_KEY_SHAPES) if shapes & 1 << bit)
    return re.compile("|".join(chosen), re.IGNORECASE)


_PATTERNS = _shapes_pattern((1 << len(_KEY_SHAPES)) - 1)


def _has_anchor(lowered: str) -> bool:
    """A cheap test before the scan (:func:`_shapes_in`, stopping at the first anchor)."""
    return any(map(lowered.__contains__, _ANCHORS[:-1])) or ("://" in lowered and "@" in lowered)


def _keep_label(match: re.Match[str]) -> str:
    label = next((g for g in match.groups() if g), "")
    return label + REDACTED


_lock = threading.Lock()
_secrets: set[str] = set()
_secrets_re: re.Pattern[str] | None = None
# Texts one of which every match of _secrets_re contains: the first MASK_PREFIX_CHARS
# characters of each form's literal start (the key's, so its first characters' and a masked
# echo's too, and its base64 forms'; every literal is at least that long). Python's regex
# engine tries the trie at each character that can start a form (frequent letters: the "s"
# of "sk-"...), ~15 ns a character; str.__contains__ skips through a text, so a few needles
# cost a fraction of that, and only a text holding one is scanned by the regex.
_needles: tuple[str, ...] = ()
_MAX_NEEDLES = 24  # past this many, the one regex is the cheaper test
_longest = 0  # the longest text the registry matches (what a stream holds back)
_version = 0  # bumped by each new secret: what redact() removes has changed

# Shorter values would redact ordinary words ("dummy", "none"); keys are never this short.
MIN_SECRET_LENGTH = 6
# A key's first characters are recognisable on their own from this length on.
PREFIX_CHARS = 12
# Masked echoes: at least this much of the key's start, then mask characters.
MASK_PREFIX_CHARS = 4
_MASK = r"[*•…·xX]{3,}[.…]*[*•…·xX]*"


@functools.lru_cache(maxsize=1024)
def looks_secret(name: str) -> bool:
    """True when ``name`` names a credential: the one rule for deck keys and variables (the
    deck loader wraps their values in :class:`Secret`), call-log parameters (written as
    ``[redacted]``) and cache-key parameters (left out of the key).

    Credentials: ``api_key``, ``x-api-key``, ``Authorization``, ``aws_secret_access_key``,
    ``HF_TOKEN``, ``GOOGLE_APPLICATION_CREDENTIALS``, ``auth`` (a whole name, or its last
    word). Not credentials: token counts and tools (``max_tokens``, ``token_limit``,
    ``tokenizer``), nor words that merely contain one (``keywords``, ``auth_type``), nor
    OpenAI's ``prompt_cache_key`` (a routing hint).
    """
    if name.lower() in _NOT_CREDENTIALS:
        return False
    words = [word.lower() for word in _NAME_WORD.findall(name)]
    for index, word in enumerate(words):
        following = words[index + 1] if index + 1 < len(words) else None
        if word == "token" and following in _TOKEN_COUNT_WORDS:
            continue
        if word == "auth" and following is None:
            return True
        if word in _CREDENTIAL_WORDS or word.endswith(_CREDENTIAL_ENDINGS):
            return True
    return False


def _base64_forms(value: str) -> list[str]:
    """The key's base64 text (standard and URL-safe alphabets), without the padding."""
    encoded = base64.b64encode(value.encode()).decode().rstrip("=")
    core = encoded[: len(value) * 8 // 6]  # the last character may hold padding bits
    return list(dict.fromkeys((core, core.replace("+", "-").replace("/", "_"))))


def _forms(value: str) -> list[tuple[str, str]]:
    """Every recognisable form of one secret as (literal start, regex rest)."""
    forms = [(value, ""), *((core, "") for core in _base64_forms(value))]
    if len(value) >= 2 * MASK_PREFIX_CHARS:
        # the key's start (>= MASK_PREFIX_CHARS), mask characters
        rest = value[MASK_PREFIX_CHARS:PREFIX_CHARS]
        head = "".join(f"(?:{re.escape(char)}" for char in rest) + ")?" * len(rest)
        # then whatever short tail the echo shows (the key's end, in practice)
        forms.append((value[:MASK_PREFIX_CHARS], f"{head}{_MASK}[A-Za-z0-9_\\-]{{0,8}}"))
    if len(value) > PREFIX_CHARS:
        forms.append((value[:PREFIX_CHARS], ""))
    return forms


def _trie_pattern(forms: list[tuple[str, str]]) -> str:
    """One regex for many forms, their literal starts factored into a trie: at each
    position the engine follows one path instead of trying every alternative (with a
    hundred forms this keeps a clean text's scan as cheap as with a few)."""
    trie: dict[str, Any] = {}
    for literal, rest in forms:
        node = trie
        for char in literal:
            node = node.setdefault(char, {})
        node.setdefault("", set()).add(rest)

    def build(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + build(child) for char, child in node.items() if char]
        ends = node.get("")
        if ends:  # longer matches first: children, then the regex rests, then the end here
            branches += sorted((r for r in ends if r), key=len, reverse=True)
            if "" in ends:
                branches.append("")
        if len(branches) == 1:
            return branches[0]
        return "(?:" + "|".join(branches) + ")"

    return build(trie)


def register_secret(value: str | None) -> None:
    """Remember a secret value so that :func:`redact` removes it wherever it appears
    (and its base64 form, its first characters and masked echoes of it)."""
    global _secrets_re, _longest, _version, _needles
    if not value or len(value) < MIN_SECRET_LENGTH or value in _secrets:
        return
    with _lock:
        _secrets.add(value)
        forms = [f for s in _secrets for f in _forms(s)]
        _secrets_re = re.compile(_trie_pattern(forms))
        _needles = tuple(sorted({literal[:MASK_PREFIX_CHARS] for literal, _ in forms}))
        _version += 1
        # the base64 form is the longest (4/3 of the key); a masked echo whose mask runs
        # on is held by StreamRedactor until it ends
        _longest = max(_longest, len(value) * 4 // 3 + 4)


def register_url_password(url: str | None) -> None:
    """Register the password of ``scheme://user:password@host`` (an endpoint URL)."""
    if not url or "@" not in url:
        return
    netloc = url.partition("://")[2].split("/", 1)[0]
    userinfo = netloc.rpartition("@")[0]
    if ":" in userinfo:
        register_secret(userinfo.split(":", 1)[1])


def registry_version() -> int:
    """A number that changes whenever a secret is registered: a text found clean (or
    redacted) at one version may need redacting at a later one (memos key on it)."""
    return _version


def longest_secret() -> int:
    """How many characters a text must be seen together to be redacted reliably: the
    longest registered form, or enough for the shortest key-shape pattern match."""
    return max(_longest, 32)


def redact(text: str) -> str:
    """Return ``text`` with every known secret value and key-shaped string replaced."""
    if not text:
        return text
    if _secrets_re is not None:
        text = _secrets_re.sub(REDACTED, text)
    shapes = _shapes_in(text.lower()) if len(text) >= MIN_SECRET_LENGTH else 0
    if shapes:
        text = _shapes_pattern(shapes).sub(_keep_label, text)
    return text


def may_hold_secret(text: str) -> bool:
    """False when :func:`redact` would return ``text`` unchanged (a cheap, conservative test).

    Callers with many strings at once (a log row, a batch of rows) test them joined, then
    redact one by one only when this says so: one scan instead of one per string.
    """
    if _secrets_re is not None and _may_hold_registered(text) and _secrets_re.search(text):
        return True
    return len(text) >= MIN_SECRET_LENGTH and _has_anchor(text.lower())


def _may_hold_registered(text: str) -> bool:
    """False when no registered secret's form can be in ``text`` (see ``_needles``)."""
    needles = _needles
    return len(needles) > _MAX_NEEDLES or any(map(text.__contains__, needles))


def suspects(texts: Sequence[str | None]) -> list[int]:
    """The indices of ``texts`` for which :func:`may_hold_secret` is true (or a little more),
    found for many texts at once (a column of log rows, once ``may_hold_secret`` of them
    joined said yes): one scan of their joined text per form (the registered secrets, each
    anchor), then a look at the texts the hits fall in. The Python work grows with the
    hits, not with the number of texts."""
    pieces = [text or "" for text in texts]
    joined = "\0".join(pieces)
    hits: set[int] = set()
    if _secrets_re is not None and _may_hold_registered(joined):
        hits.update(_pieces_at([m.start() for m in _secrets_re.finditer(joined)], pieces))
    if joined.isascii():  # lower() keeps every position
        lowered, lowered_pieces = joined.lower(), pieces
    else:  # lower() may change a text's length: lower them one by one
        lowered_pieces = list(map(str.lower, pieces))
        lowered = "\0".join(lowered_pieces)
    found = [at for anchor in _ANCHORS for at in _occurrences(lowered, anchor)]
    # the anchors are enough for all shapes but one ("://" needs an "@" too)
    hits.update(i for i in _pieces_at(found, lowered_pieces) if _has_anchor(pieces[i].lower()))
    return sorted(hits)


def _occurrences(text: str, needle: str) -> Iterator[int]:
    position = text.find(needle)
    while position >= 0:
        yield position
        position = text.find(needle, position + 1)


def _pieces_at(positions: list[int], pieces: Sequence[str]) -> set[int]:
    """The index of the piece each position of ``"\0".join(pieces)`` falls in."""
    if not positions:
        return set()
    starts = list(accumulate(map((1).__add__, map(len, pieces)), initial=0))
    return {bisect_right(starts, position) - 1 for position in positions}


def secret_spans(text: str) -> list[tuple[int, int]]:
    """Where :func:`redact` would replace something in ``text`` (start, end) pairs."""
    spans = [m.span() for m in _secrets_re.finditer(text)] if _secrets_re is not None else []
    if _has_anchor(text.lower()):
        spans += [m.span() for m in _PATTERNS.finditer(text)]
    return spans


def redact_value(value: Any) -> Any:
    """Redact strings inside nested dicts/lists/tuples and pydantic models (a parsed
    ``schema=`` answer), leaving other values alone; unchanged parts are not copied."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        items = {k: redact_value(v) for k, v in value.items()}
        changed = any(items[k] is not v for k, v in value.items())
        return items if changed or not isinstance(value, dict) else value
    if isinstance(value, (list, tuple)):
        parts = [redact_value(v) for v in value]
        if all(a is b for a, b in zip(parts, value)):
            return value
        return type(value)(parts) if isinstance(value, list) else tuple(parts)
    fields = getattr(type(value), "model_fields", None)
    if fields is not None and hasattr(value, "model_copy"):  # a pydantic model
        update = {}
        for name in fields:
            old = getattr(value, name, None)
            new = redact_value(old)
            if new is not old:
                update[name] = new
        return value.model_copy(update=update) if update else value
    return value


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's message (for third-party loggers such as
    litellm's, whose DEBUG output prints request arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def redact_logger(name: str) -> None:
    """Install :class:`RedactingFilter` on the logger ``name`` (once)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())


class Secret:
    """A credential value that never shows itself: repr/str print a placeholder.

    Creating one registers the value with :func:`redact`, so even if the value is
    copied into a message by a third-party library, it is scrubbed on the way out.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(value)

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled (it would write the key to disk)")


def revealed(value: Any) -> Any:
    """A deck value as a provider must receive it: a :class:`Secret`'s own value (the loader
    wraps every value under a secret-looking name), anything else as it is."""
    return value.get() if isinstance(value, Secret) else value
