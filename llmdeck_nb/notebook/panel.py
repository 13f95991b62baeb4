"""The widget panel: what the next ``%%llm`` uses, whether it can be served, the last calls.

Every widget change goes through the session's :class:`~llmdeck_nb.notebook.controls.Controls`
(so ``%llm_profile`` and ``%llm_use`` see it), and the panel redraws itself from the
session whenever the controls report a change (so it follows the magics). The recent
calls come from the call log (calls made before the panel opened and failed ones too),
redrawn after every call (a session listener) and after every cell (IPython's
``post_run_cell``, which also catches calls that failed). ipywidgets is imported here only.
"""

from __future__ import annotations

import html
import threading
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from llmdeck_nb.calllog.schema import TABLE
from llmdeck_nb.errors import LLMDeckError
from llmdeck_nb.notebook.choices import Choice, choices, serving_status
from llmdeck_nb.notebook.controls import controls_for
from llmdeck_nb.notebook.display import calls_table_html, deck_location, one_line

if TYPE_CHECKING:
    from llmdeck_nb.engine.result import Result
    from llmdeck_nb.engine.session import Session

DEFAULT = ""  # the model dropdown's value for "the profile's / deck's default"
ALL_GROUPS = "all"
RECENT_CALLS = 8
OK_STYLE = "color:#1b7f3b"
PROBLEM_STYLE = "color:#b00020;font-weight:bold"


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
        self._recent: list[dict[str, Any]] = []
        self._choices: list[Choice] = []
        self._missing: tuple[str, ...] = ()

        self.header = w.HTML()
        self.profile = w.Dropdown(description="profile")
        self.reload_button = w.Button(description="reload", icon="refresh",
                                      tooltip="read the deck, "
                                      "the environment and .env again (after setting a key)",
                                      layout=w.Layout(width="8em"))
        self.check_button = w.Button(description="check", icon="plug",
                                     tooltip="send one tiny request "
                                     "to each available backend", layout=w.Layout(width="8em"))
        self.filter = w.Text(placeholder="filter models, aliases, presets", description="find",
                             continuous_update=True, layout=w.Layout(width="22em"))
        self.group = w.Dropdown(description="group", layout=w.Layout(width="22em"))
        self.model = w.Dropdown(description="model", layout=w.Layout(width="46em"))
        self.temperature_set = w.Checkbox(description="temperature", indent=False,
                                          layout=w.Layout(width="8em"))
        self.temperature = w.FloatSlider(value=0.7, min=0.0, max=2.0, step=0.05,
                                         readout_format=".2f", continuous_update=False)
        self.cache = w.Checkbox(description="cache", indent=False)
        self.status = w.HTML()
        self.key_button = w.Button(icon="key",
                                   tooltip="type the key in a password box: it is stored "
                                   "encrypted and never enters the notebook",
                                   layout=w.Layout(display="none"))
        self.key_area = w.Output()
        self.calls = w.HTML()
        self.widget = w.VBox([
            self.header,
            w.HBox([self.profile, self.reload_button, self.check_button]),
            w.HBox([self.filter, self.group]),
            self.model,
            w.HBox([self.temperature_set, self.temperature, self.cache]),
            self.status,
            w.HBox([self.key_button, self.key_area]),
            self.calls,
        ])

        self.profile.observe(self._profile_chosen, names="value")
        self.filter.observe(self._filter_changed, names="value")
        self.group.observe(self._filter_changed, names="value")
        self.model.observe(self._model_chosen, names="value")
        self.temperature_set.observe(self._temperature_chosen, names="value")
        self.temperature.observe(self._temperature_chosen, names="value")
        self.cache.observe(self._cache_chosen, names="value")
        self.reload_button.on_click(self._reload_clicked)
        self.check_button.on_click(self._check_clicked)
        self.key_button.on_click(self._key_clicked)
        self.controls.observe(self._session_changed)
        session.listeners.append(self._call_done)
        self._shell = _shell()
        if self._shell is not None:
            self._shell.events.register("post_run_cell", self._after_cell)
        self.refresh()
        self.refresh_calls()

    # --- session -> widgets -------------------------------------------------------------------

    def refresh(self) -> None:
        """Redraw every switch from the session (the one source of truth)."""
        session = self.session
        self._syncing = True
        try:
            self.profile.options = list(session.deck.profiles)
            self.profile.value = session.profile
            self._choices = choices(session)
            groups = list(dict.fromkeys(c.group for c in self._choices))
            self.group.options = [(f"all ({len(self._choices)})", ALL_GROUPS)] + [
                (f"{g} ({sum(c.group == g for c in self._choices)})", g) for g in groups]
            if self.group.value not in {ALL_GROUPS, *groups}:
                self.group.value = ALL_GROUPS
            self._fill_models()
            temperature = session.params.get("temperature")
            self.temperature_set.value = temperature is not None
            if temperature is not None:
                self.temperature.value = float(temperature)
            self.temperature.disabled = temperature is None
            self.temperature.readout = temperature is not None  # no value shown when none is sent
            self.temperature.description = "" if temperature is not None else "(not sent)"
            self.cache.value = bool(session.use_cache) and session.cache is not None
            self.cache.disabled = session.cache is None
            self.cache.description = ("cache" if session.cache is not None
                                      else "cache (off: Session(cache=False))")
        finally:
            self._syncing = False
        self._show_status()
        self._show_header()

    def _fill_models(self) -> None:
        """The model dropdown: the default, then the choices of the group that match the filter."""
        text = self.filter.value.strip().lower()
        shown = [c for c in self._choices
                 if (self.group.value == ALL_GROUPS or c.group == self.group.value)
                 and (not text or text in c.handle.lower() or text in (c.model or "").lower())]
        options = [(self._default_label(), DEFAULT)] + [(self._label(c), c.handle) for c in shown]
        current = self.session.default_model or DEFAULT
        if current not in {value for _, value in options}:
            options.insert(1, (f"{current}  (current choice)", current))
        self.model.options = options
        self.model.value = current

    def _label(self, c: Choice) -> str:
        """``[presets] precise -> gpt-4o-mini on openai · available``."""
        target = ("" if c.kind == "model" and c.model == c.handle else f" -> {c.model}"
                  if c.model else "")
        if c.why_not:
            state = c.why_not
        elif self.controls.unreachable.get(c.backend or ""):
            state = f"{c.backend} not reachable (last check)"
        else:
            state = f"available on {c.backend}"
        return f"[{c.group}] {c.handle}{target} · {state}"

    def _default_label(self) -> str:
        try:
            handle = self.session.deck.default_handle()
        except LLMDeckError:
            return "(deck default)"
        return f"(deck default: {handle})"

    def _show_status(self, problem: str | None = None) -> None:
        serving = serving_status(self.session, self.controls.unreachable)
        ok, text = serving.ok, serving.text
        if problem:
            ok, text = False, f"{problem} ({text})" if ok else f"{problem}. {text}"
        self._missing = serving.missing
        self.key_button.description = f"set {serving.missing[0]}" if serving.missing else ""
        self.key_button.layout.display = "" if serving.missing else "none"
        mark, style = ("✓", OK_STYLE) if ok else ("✗", PROBLEM_STYLE)
        self.status.value = f'<span style="{style}">{mark} {html.escape(text)}</span>'

    def _show_header(self) -> None:
        from llmdeck_nb.notebook.views import usd

        session = self.session
        calls, spent = session_spend(session)
        parts = ["<b>llmdeck</b>", html.escape(deck_location(session.deck)),
                 f"profile <b>{html.escape(session.profile)}</b>",
                 f"this session: {calls} call{'s' if calls != 1 else ''}, {usd(spent) or '$0'}"]
        chat = session.conversations.current
        parts.append(html.escape(f"chat '{chat.name}' ({len(chat)} turns)"))
        self.header.value = '<div style="font-size:1.05em">' + " · ".join(parts) + "</div>"

    def _session_changed(self, what: str) -> None:
        self.refresh()

    # --- widgets -> session -------------------------------------------------------------------

    def _profile_chosen(self, change: dict[str, Any]) -> None:
        if not self._syncing and change["new"]:
            self._apply(self.controls.use_profile, change["new"])

    def _filter_changed(self, change: dict[str, Any]) -> None:
        if not self._syncing:
            self._syncing = True
            try:
                self._fill_models()
            finally:
                self._syncing = False

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

    def _reload_clicked(self, _: Any) -> None:
        self._apply(lambda _value: self.controls.reload(), None)

    def _check_clicked(self, _: Any) -> None:
        self.check_button.disabled = True
        self.check_button.description = "checking..."
        try:
            self._apply(lambda _value: self.controls.check(), None)
        finally:
            self.check_button.disabled = False
            self.check_button.description = "check"

    def _key_clicked(self, _: Any) -> None:
        """The password box of ``%llm_key set NAME``, in the panel (then: reload)."""
        from llmdeck_nb.keys.magic import ask_for_key

        if self._missing:
            self.key_area.clear_output()
            with self.key_area:
                ask_for_key(self._missing[0])

    def _apply(self, switch: Any, value: Any) -> None:
        try:
            switch(value)
        except LLMDeckError as exc:
            self.refresh()  # back to what the session really uses
            self._show_status(f"not changed: {one_line(exc)}")

    # --- recent calls ---------------------------------------------------------------------------

    def _call_done(self, result: Result) -> None:
        """A session listener (it runs on the engine's loop thread, once per call of a batch
        too): the answered call goes on top without reading the log; after the cell, the
        table is read from the log again (failed calls included)."""
        with self._lock:
            self._recent = [result_row(result), *self._recent][:RECENT_CALLS]
            rows = list(self._recent)
        self.calls.value = calls_table_html(rows)

    def _after_cell(self, *_: Any) -> None:
        self.refresh_calls()

    def refresh_calls(self) -> None:
        """Redraw the recent calls (every session's, failed ones too) and the spend."""
        rows = recent_calls(self.session)
        with self._lock:
            self._recent = rows
        self.calls.value = calls_table_html(rows)
        self._show_header()

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
        if self._shell is not None:
            try:
                self._shell.events.unregister("post_run_cell", self._after_cell)
            except ValueError:
                pass
        self.widget.close()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def __repr__(self) -> str:
        return (f"<llmdeck panel: profile {self.session.profile}, "
                f"model {self.session.default_model or '(deck default)'}>")


def _shell() -> Any:
    from IPython import get_ipython

    return get_ipython()


def session_spend(session: Session) -> tuple[int, float]:
    """(calls, USD) this session has made, from the call log."""
    calls, spent = session.log.query(
        f"SELECT count(DISTINCT call_id), ifnull(sum(cost_usd), 0) FROM {TABLE} WHERE session_id = "
        "?",
        (session.id,))[0]
    return int(calls), float(spent)


def result_row(result: Result) -> dict[str, Any]:
    """A row of the recent calls for an answered call, as :func:`recent_calls` reads it back."""
    from llmdeck_nb.notebook.views import usd

    return {"time": datetime.now(timezone.utc).strftime("%H:%M:%S"), "model": result.model,
            "backend": result.backend, "status": "cache_hit" if result.cached else "ok",
            "latency": f"{result.latency_s:.2f} s" if result.latency_s is not None else "",
            "cost": usd(result.cost_usd), "cached": result.cached, "error": ""}


def recent_calls(session: Session, count: int = RECENT_CALLS) -> list[dict[str, Any]]:
    """The last attempts in the log, newest first, as the panel's table shows them."""
    from llmdeck_nb.notebook.views import usd

    frame = session.log.frame(last=count)
    rows = []
    for row in frame.iloc[::-1].itertuples():
        error = row.error_message if isinstance(row.error_message, str) else ""
        rows.append({
            "time": row.started_at.tz_convert(None).strftime("%H:%M:%S"),
            "model": row.model or row.requested,
            "backend": row.backend, "status": row.status,
            "latency": f"{row.latency_s:.2f} s" if row.latency_s == row.latency_s else "",
            "cost": usd(row.cost_usd), "cached": bool(row.cache_hit), "error": error})
    return rows


__all__ = ["Panel", "panel", "recent_calls", "result_row", "session_spend"]
