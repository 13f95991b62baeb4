"""The OpenAI ``response_format`` for a JSON schema, sent by both strategies (litellm
translates it for the providers with other wire protocols)."""

from __future__ import annotations

import re

from llmdeck_nb.json_types import JsonObject

_SCHEMA_NAME = re.compile(r"[^a-zA-Z0-9_-]+")


def response_format_for(schema: JsonObject) -> JsonObject:
    """OpenAI ``response_format`` asking for JSON that follows ``schema``."""
    name = _SCHEMA_NAME.sub("_", str(schema.get("title") or "answer"))[:64] or "answer"
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}
