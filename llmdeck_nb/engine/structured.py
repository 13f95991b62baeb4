"""Structured output: a pydantic model class or a JSON schema in, a parsed object out."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmdeck_nb.backends.errors import schema_mismatch_error
from llmdeck_nb.errors import RequestRejectedError
from llmdeck_nb.json_types import JsonObject

if TYPE_CHECKING:
    from pydantic import BaseModel

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


@dataclass(frozen=True)
class SchemaSpec:
    json_schema: JsonObject
    model: type[BaseModel] | None = None  # the pydantic class, when one was given

    def parse(self, text: str, backend: str) -> Any:
        body = _FENCE.sub(r"\1", text)
        try:
            if self.model is not None:
                return self.model.model_validate_json(body)
            return json.loads(body)
        except ValueError as exc:  # json.JSONDecodeError and pydantic.ValidationError
            raise schema_mismatch_error(backend, str(exc)) from None


def schema_spec(schema: type[BaseModel] | JsonObject | None) -> SchemaSpec | None:
    if schema is None:
        return None
    if isinstance(schema, dict):
        return SchemaSpec(schema)
    if hasattr(schema, "model_json_schema") and hasattr(schema, "model_validate_json"):
        return SchemaSpec(schema.model_json_schema(), schema)
    raise RequestRejectedError(
        f"schema must be a pydantic model class or a JSON schema dict, not {type(schema).__name__}",
        hint="e.g. class Answer(BaseModel): city: str",
    )
