"""The sections of ``deck/*.toml``: aliases, waterfalls, presets, choice defaults and
overrides, llmdeck's ``[cache]``, and the decks of other model kinds.

Layouts read: 0.10 (top-level ``[aliases]``, ``[llm_presets]`` with ``llm_handle``,
``[llm_choice_defaults]``, ``[llm_choice_overrides]``), 0.11+ (``[llm.presets]`` with
``model``, ``[llm.choice_defaults]``, ``[waterfalls]``/``[fallbacks]``) and 2026
(``[llm.aliases]``, ``[llm.waterfalls]``, ``default_temperature``, ``[llm.choice_overrides]``,
references with sigils, ``[img_gen.*]`` / ``[extract.*]`` / ``[search.*]`` decks).
A later file's value replaces the whole value of a key (an alias, a preset).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from llmdeck_nb.deck.problems import ProblemLog
from llmdeck_nb.deck.schema import (
    ALIASES,
    CACHE,
    CHOICE_FIELDS,
    STRING,
    TABLE,
    check_fields,
    from_validation_error,
    got,
    type_error,
)
from llmdeck_nb.deck.specs import BudgetSettings, Preset
from llmdeck_nb.deck.toml_files import TomlTable
from llmdeck_nb.errors import CacheError, DeckSchemaError

ALIAS_SECTIONS = ("aliases", "waterfalls", "fallbacks")
PRESET_KEYS = {"model", "llm_handle", "temperature", "max_tokens", "description",
               "prompting_target"}
LLM_KEYS = {*ALIAS_SECTIONS, "presets", "choice_defaults", "choice_overrides"}
TOP_LEVEL_KEYS = {*ALIAS_SECTIONS, "llm", "llm_presets", "llm_choice_defaults",
                  "llm_choice_overrides", "cache", "budget"}
# Pipelex decks of models that are not LLMs: loaded and listed, never sent by %%llm.
OTHER_KINDS = ("img_gen", "extract", "search", "doc_gen", "judgment", "ocr")
NO_OVERRIDE = "disabled"  # a choice override of "disabled" leaves the default in force


@dataclass
class OtherDeck:
    """The deck of one non-LLM kind (``[img_gen]``, ``[extract]``...): names only."""

    kind: str
    aliases: dict[str, str | tuple[str, ...]] = field(default_factory=dict)
    presets: dict[str, str] = field(default_factory=dict)  # preset -> its model reference
    choice_default: str | None = None
    source: dict[str, str] = field(default_factory=dict)  # alias or preset -> file


@dataclass
class DeckChoices:
    """What the deck files say, merged across files."""

    aliases: dict[str, str | tuple[str, ...]] = field(default_factory=dict)
    presets: dict[str, Preset] = field(default_factory=dict)
    choice_defaults: dict[str, str] = field(default_factory=dict)
    choice_overrides: dict[str, str] = field(default_factory=dict)  # without "disabled" ones
    default_temperature: float | None = None
    other_decks: dict[str, OtherDeck] = field(default_factory=dict)
    cache_settings: dict[str, Any] | None = None
    cache_source: str | None = None
    budget: BudgetSettings = field(default_factory=BudgetSettings)  # llmdeck's [budget] table


class DeckFileReader:
    """Reads the sections of each deck file into one :class:`DeckChoices`."""

    def __init__(self, log: ProblemLog, substitute: Callable[[Any, str, list[str]], Any]) -> None:
        self.log = log
        self.substitute = substitute
        self.choices = DeckChoices()

    def read(self, data: Mapping[str, Any], file: str) -> None:
        llm = self._table(data, "llm", file) or {}
        for key in llm.keys() - LLM_KEYS:
            self.log.unknown_key(file, f"llm.{key}", "[llm]", LLM_KEYS)
        for section in ALIAS_SECTIONS:
            for where, table in ((section, data.get(section)),
                                 (f"llm.{section}", llm.get(section))):
                self._aliases(self._table({where: table}, where, file), where, file,
                              self.choices.aliases)
        for where, table in (("llm_presets", data.get("llm_presets")),
                             ("llm.presets", llm.get("presets"))):
            for name, value in (self._table({where: table}, where, file) or {}).items():
                self._preset(name, value, f"{where}.{name}", file)
        for where, table in (("llm_choice_defaults", data.get("llm_choice_defaults")),
                             ("llm.choice_defaults", llm.get("choice_defaults"))):
            self._choices(self._table({where: table}, where, file), where, file, overrides=False)
        for where, table in (("llm_choice_overrides", data.get("llm_choice_overrides")),
                             ("llm.choice_overrides", llm.get("choice_overrides"))):
            self._choices(self._table({where: table}, where, file), where, file, overrides=True)
        if "cache" in data:
            self._cache(data["cache"], file)
        if "budget" in data:
            self._budget(data["budget"], file)
        for key in data.keys() - TOP_LEVEL_KEYS:
            if key in OTHER_KINDS:
                self._other_deck(key, data[key], file)
            else:
                self.log.unknown_key(file, key, "deck file", [*TOP_LEVEL_KEYS, *OTHER_KINDS])

    # --- one section each ------------------------------------------------------------------

    def _table(self, data: Mapping[str, Any], key: str, file: str) -> TomlTable | None:
        value = data.get(key)
        if value is None or isinstance(value, dict):
            return value
        self.log.errors([type_error(file, key, TABLE, value)])
        return None

    def _aliases(self, table: TomlTable | None, where: str, file: str,
                 into: dict[str, str | tuple[str, ...]]) -> None:
        for name, target in (table or {}).items():
            if ALIASES.accepts(target):
                into[name] = target if isinstance(target, str) else tuple(target)
            else:
                self.log.errors([type_error(file, f"{where}.{name}", ALIASES, target)], "aliases")

    def _preset(self, name: str, table: object, key: str, file: str) -> None:
        if not isinstance(table, dict) or not (table.get("model") or table.get("llm_handle")):
            detail = ("a preset needs `model` (or `llm_handle`)" if isinstance(table, dict)
                      else f"expected a table, got {got(table)}")
            error = DeckSchemaError(file, key, detail,
                                    hint='e.g. my_preset = { model = "gpt-4o-mini", temperature = '
                                         '0.2 }')
            self.log.errors([error], "presets")
            return
        fields = {k: v for k, v in table.items() if k in PRESET_KEYS}
        model = fields.pop("model", None) or fields.pop("llm_handle")
        fields.pop("llm_handle", None)
        params = {k: v for k, v in table.items() if k not in PRESET_KEYS}
        try:
            self.choices.presets[name] = Preset(name=name, model=model, params=params,
                                                source=file, **fields)
        except ValidationError as exc:
            self.log.errors(from_validation_error(exc, file, key), "presets")

    def _choices(self, table: TomlTable | None, where: str, file: str, *,
                 overrides: bool) -> None:
        if not table:
            return
        if self.log.errors(check_fields(table, CHOICE_FIELDS, file, where), "presets"):
            return
        for key in table.keys() - CHOICE_FIELDS.keys():
            self.log.unknown_key(file, f"{where}.{key}", f"[{where}]", CHOICE_FIELDS)
        temperature = table.get("default_temperature")
        if temperature is not None:
            if overrides or not 0 <= temperature <= 2:
                detail = ("belongs in choice_defaults" if overrides else
                          f"must be between 0 and 2, got {temperature!r}")
                self.log.errors([DeckSchemaError(file, f"{where}.default_temperature", detail)],
                                "presets")
            else:
                self.choices.default_temperature = float(temperature)
        target = self.choices.choice_overrides if overrides else self.choices.choice_defaults
        for key in ("for_text", "for_object"):
            if key in table:
                if overrides and table[key] == NO_OVERRIDE:
                    target.pop(key, None)
                else:
                    target[key] = table[key]

    def _cache(self, value: object, file: str) -> None:
        from llmdeck_nb.cache import check_cache_setting

        if not CACHE.accepts(value):
            self.log.errors([type_error(file, "cache", CACHE, value)])
            return
        missing: list[str] = []
        settings = self.substitute(value, "cache", missing)
        if missing:
            for name in missing:
                self.log.report("warning", "files",
                                f"{file}: [cache] needs {name}; using the default "
                                 "disk cache", file=file, key="cache")
            return
        try:
            check_cache_setting(settings)
        except CacheError as exc:
            self.log.errors([DeckSchemaError(file, "cache", exc.message, hint=exc.hint)])
            return
        self.choices.cache_settings, self.choices.cache_source = settings, file

    def _budget(self, table: object, file: str) -> None:
        """``[budget] session_usd = 5.0, daily_usd = 20.0`` (a later file replaces the table)."""
        if not isinstance(table, dict):
            self.log.errors([type_error(file, "budget", TABLE, table,
                                        hint="e.g. [budget] then session_usd = 5.0 and daily_usd = "
                                             "20.0")])
            return
        try:
            self.choices.budget = BudgetSettings(**table)
        except ValidationError as exc:
            self.log.errors(from_validation_error(exc, file, "budget"))

    def _other_deck(self, kind: str, table: object, file: str) -> None:
        if not isinstance(table, dict):
            self.log.errors([type_error(file, kind, TABLE, table)])
            return
        deck = self.choices.other_decks.setdefault(kind, OtherDeck(kind))
        aliases = self._table(table, "aliases", file)
        self._aliases(aliases, f"{kind}.aliases", file, deck.aliases)
        presets = self._table(table, "presets", file) or {}
        for name, preset in presets.items():
            # 2026: `model`; 0.11: `img_gen_handle`, `ocr_handle`...
            model = (next((v for k, v in preset.items() if k == "model" or k.endswith("_handle")),
                          None) if isinstance(preset, dict) else None)
            if isinstance(model, str):
                deck.presets[name] = model
            else:
                self.log.errors([type_error(file, f"{kind}.presets.{name}",
                                            "a table with a `model` (or `<kind>_handle`) string",
                                            preset)], "presets")
        deck.source.update({name: file for name in (*(aliases or {}), *presets)})
        choice = table.get("choice_default")
        if choice is not None:
            if STRING.accepts(choice):
                deck.choice_default = choice
            else:
                self.log.errors([type_error(file, f"{kind}.choice_default", STRING, choice)],
                                "presets")
