"""The widget panel: profile, model, temperature and cache switches, and the last calls.

Every widget change goes through the session's :class:`~llmdeck_nb.notebook.controls.Controls`
(so ``%llm_profile`` and ``%llm_use`` see it), and the panel redraws itself from the
session whenever the controls report a change (so it follows the magics). The table of
recent calls is fed by a listener in ``session.listeners``.
"""

from __future__ import annotations

import html
import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from llmdeck_nb.engine.result import format_cost
from llmdeck_nb.errors import LLMDeckError
from llmdeck_nb.notebook.choices import choices
from llmdeck_nb.notebook.controls import controls_for
from llmdeck_nb.notebook.display import calls_table_html, one_line

if TYPE_CHECKING:
    from llmdeck_nb.engine.result import Result
    from llmdeck_nb.engine.session import Session

DEFAULT = ""  # the model dropdown's value for "the profile's / deck's default"
RECENT_CALLS = 8


def panel(session: Session | None = None) -> Panel:
    """The panel for ``session`` (default: the magics' session). Display it, or make it a
    cell's last expression."""
    if session is None:
        from llmdeck_nb.engine.session import default_session

        session = default_session()
    return Panel(session)


class Panel:
    def __init__(self, session: Session) -> None:
        import ipywidgets as w

        self.session = session
        self.controls = controls_for(session)
        self._syncing = False
        self._lock = threading.Lock()
        self._recent: deque[dict[str, Any]] = deque(maxlen=RECENT_CALLS)

        self.profile = w.Dropdown(description="profile")
        self.model = w.Dropdown(description="model", layout=w.Layout(width="34em"))
        self.temperature_set = w.Checkbox(description="temperature", indent=False,
                                          layout=w.Layout(width="8em"))
        self.temperature = w.FloatSlider(value=0.7, min=0.0, max=2.0, step=0.05, readout_format=".2f",
                                         continuous_update=False)
        self.cache = w.Checkbox(description="cache", indent=False)
        self.status = w.HTML()
        self.calls = w.HTML()
        self.widget = w.VBox([
            w.HBox([self.profile, self.model]),
            w.HBox([self.temperature_set, self.temperature, self.cache]),
            self.status,
            self.calls,
        ])

        self.profile.observe(self._profile_chosen, names="value")
        self.model.observe(self._model_chosen, names="value")
        self.temperature_set.observe(self._temperature_chosen, names="value")
        self.temperature.observe(self._temperature_chosen, names="value")
        self.cache.observe(self._cache_chosen, names="value")
        self.controls.observe(self._session_changed)
        session.listeners.append(self._call_done)
        self.refresh()
        self._render_calls()

    # --- session -> widgets -------------------------------------------------------------------

    def refresh(self) -> None:
        """Redraw every switch from the session (the one source of truth)."""
        session = self.session
        self._syncing = True
        try:
            self.profile.options = list(session.deck.profiles)
            self.profile.value = session.profile
            options = [(self._default_label(), DEFAULT)]
            options += [(c.label, c.handle) for c in choices(session)]
            current = session.default_model or DEFAULT
            if current not in {value for _, value in options}:
                options.append((f"{current}  (set in the session)", current))
            self.model.options = options
            self.model.value = current
            temperature = session.params.get("temperature")
            self.temperature_set.value = temperature is not None
            if temperature is not None:
                self.temperature.value = float(temperature)
            self.temperature.disabled = temperature is None
            self.cache.value = bool(session.use_cache)
            self.cache.disabled = session.cache is None
        finally:
            self._syncing = False

    def _default_label(self) -> str:
        try:
            handle = self.session.deck.default_handle()
        except LLMDeckError:
            return "(deck default)"
        return f"(deck default: {handle})"

    def _session_changed(self, what: str) -> None:
        self.refresh()

    # --- widgets -> session -------------------------------------------------------------------

    def _profile_chosen(self, change: dict[str, Any]) -> None:
        if not self._syncing and change["new"]:
            self._apply(self.controls.use_profile, change["new"])

    def _model_chosen(self, change: dict[str, Any]) -> None:
        if not self._syncing and change["new"] is not None:
            self._apply(self.controls.use_model, change["new"] or None)

    def _temperature_chosen(self, change: dict[str, Any]) -> None:
        if not self._syncing:
            value = self.temperature.value if self.temperature_set.value else None
            self._apply(self.controls.set_temperature, value)

    def _cache_chosen(self, change: dict[str, Any]) -> None:
        if not self._syncing:
            self._apply(self.controls.set_cache, change["new"])

    def _apply(self, switch: Any, value: Any) -> None:
        try:
            switch(value)
        except LLMDeckError as exc:
            self.refresh()  # back to what the session really uses
            self.status.value = f'<span style="color:#b00">{html.escape(one_line(exc))}</span>'
        else:
            self.status.value = ""

    # --- recent calls ---------------------------------------------------------------------------

    def _call_done(self, result: Result) -> None:
        """A session listener (it runs on the engine's loop thread)."""
        with self._lock:
            self._recent.appendleft({
                "model": result.model, "backend": result.backend,
                "latency": f"{result.latency_s:.2f} s" if result.latency_s is not None else "",
                "cost": format_cost(result.cost_usd), "cached": result.cached})
        self._render_calls()

    def _render_calls(self) -> None:
        with self._lock:
            rows = list(self._recent)
        self.calls.value = calls_table_html(rows)

    @property
    def recent_calls(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._recent)

    # --- lifetime -------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop following the session and close the widgets."""
        self.controls.unobserve(self._session_changed)
        if self._call_done in self.session.listeners:
            self.session.listeners.remove(self._call_done)
        self.widget.close()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def __repr__(self) -> str:
        return (f"<llmdeck panel: profile {self.session.profile}, "
                f"model {self.session.default_model or '(deck default)'}>")


__all__ = ["Panel", "panel"]
