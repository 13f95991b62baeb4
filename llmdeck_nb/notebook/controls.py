"""The one path by which the notebook changes the session's settings for the next call.

The :class:`~llmdeck_nb.engine.session.Session` owns the state (profile, default model,
temperature, cache switch, mode, budget, deck; ``session.conversations`` switches the
current conversation itself). The magics and the widget panel both change it through
the session's :class:`Controls`, which tell every observer what changed, so a dropdown
follows ``%llm_use`` and ``%config LLMDeckMagics.default_model`` follows the dropdown.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from llmdeck_nb.deck import Deck
    from llmdeck_nb.engine.session import Session

logger = logging.getLogger("llmdeck_nb")

#: called with the name of what changed: "profile", "default_model", "temperature",
#: "use_cache", "mode", "budget", "deck" or "checks"
Observer = Callable[[str], None]

_by_session: weakref.WeakKeyDictionary[Session, Controls] = weakref.WeakKeyDictionary()


def controls_for(session: Session) -> Controls:
    """The one :class:`Controls` of ``session`` (made on first use)."""
    controls = _by_session.get(session)
    if controls is None:
        controls = _by_session[session] = Controls(session)
    return controls


class Controls:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._observers: list[Observer] = []
        #: the last live check of each backend: None when it answered, else why not
        self.unreachable: dict[str, str | None] = {}

    # --- observers ----------------------------------------------------------------------------

    def observe(self, observer: Observer) -> None:
        if observer not in self._observers:
            self._observers.append(observer)

    def unobserve(self, observer: Observer) -> None:
        if observer in self._observers:
            self._observers.remove(observer)

    def _changed(self, what: str) -> None:
        for observer in list(self._observers):
            try:
                observer(what)
            except Exception:  # a broken widget must not break a magic
                logger.exception("llmdeck: a notebook observer failed")

    # --- switches (each a plain Session call, then one notification) ----------------------------

    def use_profile(self, name: str) -> None:
        self.session.use_profile(name)
        self._changed("profile")

    def use_model(self, handle: str | None) -> None:
        if handle == self.session.default_model:
            return
        self.session.use_model(handle or None)
        self._changed("default_model")

    def set_temperature(self, value: float | None) -> None:
        """``None`` unsets it: no temperature is sent unless a preset or option gives one."""
        if value is None:
            self.session.params.pop("temperature", None)
        else:
            self.session.params["temperature"] = float(value)
        self._changed("temperature")

    def set_cache(self, on: bool) -> None:
        self.session.use_cache = bool(on)
        self._changed("use_cache")

    def check(self, backends: list[str] | None = None) -> pd.DataFrame:
        """Probe the backends live (:meth:`Session.check`) and remember which answered."""
        frame = self.session.check(backends)
        for row in frame.itertuples():
            if row.status in ("ok", "error"):
                self.unreachable[row.backend] = None if row.status == "ok" else (row.detail
                                                                                 or "no answer")
        self._changed("checks")
        return frame

    def set_mode(self, mode: str) -> None:
        """``"normal"``, ``"replay"`` or ``"refresh"`` (see llmdeck_nb.engine.modes)."""
        from llmdeck_nb.engine.modes import check_mode

        self.session.mode = check_mode(mode)
        self._changed("mode")

    def set_budget(self, kind: str, usd: float | None) -> None:
        """The ``"session"`` or ``"daily"`` spending limit in USD (None: no limit)."""
        self.session.budget.set_limit(kind, usd)
        self._changed("budget")

    def allow_unknown_prices(self, allow: bool) -> None:
        self.session.budget.allow_unknown_prices = bool(allow)
        self._changed("budget")

    def reload(self) -> Deck:
        deck = self.session.reload()
        self._changed("deck")
        return deck


__all__ = ["Controls", "Observer", "controls_for"]
