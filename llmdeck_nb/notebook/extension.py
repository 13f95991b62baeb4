"""``%load_ext llmdeck_nb``: register the magics, load the deck, say one line about it.

A deck that does not load (bad TOML...) is reported in one line; the magics are still
registered so the user can fix the file and run ``%llm_reload``.
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Any

from llmdeck_nb.errors import LLMDeckError
from llmdeck_nb.keys import magic as key_magic
from llmdeck_nb.notebook import load_lines
from llmdeck_nb.notebook.display import (
    load_line,
    one_line,
    register_frame_formatter,
    say,
    unregister_frame_formatter,
)

if TYPE_CHECKING:
    from llmdeck_nb.engine.session import Session

MAGICS_NAME = "LLMDeckMagics"


def load_ipython_extension(shell: Any) -> None:
    from llmdeck_nb.notebook.magics import LLMDeckMagics

    if MAGICS_NAME in shell.magics_manager.registry:  # loaded under another name: start clean
        unload_ipython_extension(shell)
    magics = LLMDeckMagics(shell)
    shell.register_magics(magics)
    key_magic.register(shell)
    register_frame_formatter(shell)
    if keep_question_marks not in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.append(keep_question_marks)
    try:
        say(_status(magics))
    except LLMDeckError as exc:
        say(f"llmdeck: magics loaded, but the deck did not load: {one_line(exc)}; then run "
            "%llm_reload")


def _status(magics: Any) -> str:
    """The load line. The Session itself (call log, cache) is only opened here if one
    exists already or a config file sets a default model; otherwise on the first magic
    that needs it, and the deck too when its line is remembered for the same inputs
    (:mod:`llmdeck_nb.notebook.load_lines`), which keeps ``%load_ext`` fast."""
    configured = magics.default_model  # from a config file, if any
    session = _existing_session()
    if session is None and configured is None:
        key = load_lines.fingerprint()
        line = load_lines.remembered(key)
        if line is None:  # first load with these deck inputs
            from llmdeck_nb.deck import load_deck

            deck = load_deck()
            line = load_line(deck, deck.active_profile)
            load_lines.remember(key, line)
        return line
    session = magics.load_session()
    if configured is not None and configured != session.default_model:
        try:
            magics.controls.use_model(configured)
        except LLMDeckError as exc:
            say(f"llmdeck: LLMDeckMagics.default_model = {configured!r} ignored: {one_line(exc)}")
        magics.attach(session)
    return load_line(session.deck, session.profile, session.reachability)


def _existing_session() -> Session | None:
    """The default session if the engine has been used in this process (never made here)."""
    module = sys.modules.get("llmdeck_nb.engine.session")
    return module.default_session() if module is not None else None


def unload_ipython_extension(shell: Any) -> None:
    key_magic.unregister(shell)
    manager = shell.magics_manager
    magics = manager.registry.pop(MAGICS_NAME, None)
    if magics is None:
        return
    for kind, table in magics.magics.items():
        for name in table:
            manager.magics[kind].pop(name, None)
    if magics in shell.configurables:
        shell.configurables.remove(magics)
    magics.detach()
    unregister_frame_formatter(shell)
    if keep_question_marks in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.remove(keep_question_marks)


_LINE_PROMPT = re.compile(r"^([ \t]*)%llm[ \t]+(.*\?)[ \t]*$")


def keep_question_marks(lines: list[str]) -> list[str]:
    """``%llm What is the capital of France?`` is a prompt, not IPython's ``France?`` help:
    such lines become the equivalent ``run_line_magic`` call before IPython looks for ``?``.
    (``%llm?`` alone still shows the help; ``%%llm`` cells are left alone.)"""
    if not lines or lines[0].lstrip().startswith("%%"):
        return lines
    out = []
    for line in lines:
        match = _LINE_PROMPT.match(line.rstrip("\r\n"))
        if match:
            newline = line[len(line.rstrip("\r\n")):]
            indent, rest = match.groups()
            line = f"{indent}get_ipython().run_line_magic('llm', {rest!r}){newline}"
        out.append(line)
    return out


__all__ = ["load_ipython_extension", "unload_ipython_extension"]
