"""The magics: each parses its arguments, calls the Session, and displays the result.

Settings are traitlets (``%config LLMDeckMagics``); arguments are ``magic_arguments``
(``%%llm?``); every error a user can fix is a ``UsageError`` (one message, no traceback).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import (
    Magics,
    cell_magic,
    line_cell_magic,
    line_magic,
    magics_class,
    no_var_expand,
)
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Bool, Enum, Unicode, observe

from llmdeck_nb.errors import DeckError, LLMDeckError
from llmdeck_nb.notebook import display
from llmdeck_nb.notebook.arguments import (
    ALL_ROWS,
    attachment_parts,
    call_kwargs,
    call_options,
    chat_options,
    log_rows,
    names_list,
    output_options,
    parse_line,
    split_line,
    variable_name,
)
from llmdeck_nb.notebook.controls import Controls, controls_for
from llmdeck_nb.notebook.display import FORMATS, say

if TYPE_CHECKING:
    import pandas as pd
    from IPython.core.interactiveshell import InteractiveShell

    from llmdeck_nb.engine.session import Session


@contextmanager
def user_errors() -> Iterator[None]:
    """Our errors become UsageErrors: IPython shows the message (with its hint), no traceback."""
    try:
        yield
    except LLMDeckError as exc:
        raise display.usage_error(exc) from None


@magics_class
class LLMDeckMagics(Magics):
    """%%llm, %%llm_compare and the %llm_* line magics over the default Session."""

    shell: InteractiveShell  # never None: the extension registers the magics with its shell

    default_model = Unicode(
        None, allow_none=True,
        help="Model, alias or preset that %%llm uses when none is given (None: the routing "
             "profile's / deck's default). Kept in sync with the session and the panel.",
    ).tag(config=True)
    stream = Bool(False,
                  help="Show answers as they arrive (--stream / --no-stream).").tag(config=True)
    show_footer = Bool(
        True, help="Show the grey footer (model, backend, latency, tokens, cost) under answers."
    ).tag(config=True)
    format = Enum(FORMATS, default_value="markdown",
                  help="How %%llm shows answers: markdown, text, code, json or html (-f)."
                  ).tag(config=True)
    interpolate = Bool(
        True, help="Fill {name} / {expression} in cells from the notebook (--no-interpolate)."
    ).tag(config=True)
    chat = Bool(
        False, help="Send each %%llm cell with the current conversation's history (--chat / "
                    "--no-chat); %llm_chat starts, lists and switches conversations."
    ).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        self._bound: Session | None = None
        self._syncing = True  # values from a config file are applied by the extension, not here
        super().__init__(shell=shell, **kwargs)
        self._syncing = False

    # --- the session ------------------------------------------------------------------------

    @property
    def session(self) -> Session:
        """The default session (loaded again on each use until the deck loads)."""
        try:
            return self.load_session()
        except DeckError as exc:
            raise UsageError(f"the deck did not load: {exc}\n  -> then run %llm_reload") from None
        except LLMDeckError as exc:
            raise display.usage_error(exc) from None

    def load_session(self) -> Session:
        """:attr:`session`, raising the deck's own error if it does not load."""
        from llmdeck_nb.engine.session import default_session

        session = default_session()
        self.attach(session)
        return session

    @property
    def controls(self) -> Controls:
        return controls_for(self.session)

    def attach(self, session: Session) -> None:
        """Follow ``session``: its default model shows in ``default_model``."""
        if session is not self._bound:
            if self._bound is not None:
                controls_for(self._bound).unobserve(self._session_changed)
            self._bound = session
            controls_for(session).observe(self._session_changed)
        self._pull()

    def detach(self) -> None:
        if self._bound is not None:
            controls_for(self._bound).unobserve(self._session_changed)
            self._bound = None

    def _session_changed(self, what: str) -> None:
        if what in ("default_model", "deck"):
            self._pull()

    def _pull(self) -> None:
        if self._bound is not None and self.default_model != self._bound.default_model:
            self._syncing = True
            try:
                self.default_model = self._bound.default_model
            finally:
                self._syncing = False

    @observe("default_model")
    def _default_model_set(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        try:
            with user_errors():
                self.controls.use_model(change["new"] or None)
        except UsageError:
            self._pull()  # back to what the session uses
            raise

    # --- %%llm -----------------------------------------------------------------------------

    @magic_arguments()
    @argument("model", nargs="?", metavar="MODEL",
              help="model, alias or preset (default: %%llm_use / the panel's choice, else the "
                   "deck's)")
    @output_options
    @chat_options
    @call_options
    @no_var_expand
    @line_cell_magic
    def llm(self, line: str, cell: str | None = None) -> Any:
        """Send the cell (or, for %llm, the rest of the line) to an LLM; show the answer and
        a footer with model, backend, latency, tokens and cost.

        %%llm [MODEL] [options]   -- the cell below is the prompt
        %llm [options] PROMPT     -- one-line prompt (choose the model with -m MODEL)

        {name}, {In[3]}, {Out[3]}, {df.head()} and {x:.2f} are filled from the notebook;
        {{ and }} are literal braces; {fig} holding an image (PIL, matplotlib, PNG/JPEG
        bytes, a path) sends it as an image. The Result is in _llm (and in VAR with -o VAR);
        with --schema the parsed object is the cell's output. --chat continues the current
        conversation (%llm_chat).
        """
        if cell is None:
            args, text = split_line(self.llm.parser, line)
        else:
            args, text = parse_line(self.llm.parser, line), cell
        session = self.session
        with user_errors():
            content = self._content(text, args)
            kwargs = call_kwargs(args, self.shell.user_ns)
            model = args.model or args.model_option
            parsed = "schema" in kwargs
            fmt = args.format or self.format
            out = variable_name(args.out)
            if self.chat if args.chat is None else args.chat:
                send, prompt = session.chat, content
            else:
                send, prompt = session.complete, as_prompt(content)
            if self.stream if args.stream is None else args.stream:
                view = display.StreamView(self.shell)
                result = send(prompt, model, on_text=view, on_reset=view.reset, **kwargs)
                view.finish(result, fmt, footer=self.show_footer, parsed=parsed)
            else:
                result = send(prompt, model, **kwargs)
                display.show_result(result, fmt, footer=self.show_footer, parsed=parsed)
        self.shell.user_ns["_llm"] = result
        if out:
            self.shell.user_ns[out] = result
        if fmt == "code" and not parsed:
            self.shell.set_next_input(display.extract_code(result.text), replace=False)
        return result.value if parsed else None

    def _content(self, text: str, args: Any) -> str | list[dict[str, Any]]:
        """The cell as message content: text, or parts when it holds images or documents."""
        if not text.strip():
            raise UsageError("nothing to send: write the prompt in the cell below %%llm "
                             "(or after the options: %llm What is 2+2?)")
        from llmdeck_nb.engine.attachments import with_attachments

        content: str | list[dict[str, Any]] = text.strip()
        if self.interpolate if args.interpolate is None else args.interpolate:
            from llmdeck_nb.notebook.interpolation import fill_content

            content = fill_content(text, self.shell.user_ns)
            content = content.strip() if isinstance(content, str) else content
        return with_attachments(content, attachment_parts(args, self.shell.user_ns))

    # --- %%llm_compare -----------------------------------------------------------------------

    @magic_arguments()
    @argument("models", nargs="?", metavar="MODEL1,MODEL2,...",
              help="models, aliases or presets to compare (default: the current choice)")
    @argument("--profiles", metavar="P1,P2,...", help="routing profiles to compare "
              "(each model under each profile)")
    @argument("--repeat", type=int, default=1, metavar="N", help="send each target N times")
    @argument("--plot", action="store_true", help="add a chart of every run's latency and cost per "
              "target, the mean marked")
    @argument("--grid", action="store_true", help="show the targets side by side (answers next to "
              "each other, metrics below) instead of one row per target")
    @argument("-o", "--out", metavar="VAR", help="store the DataFrame in this variable")
    @call_options
    @no_var_expand
    @cell_magic
    def llm_compare(self, line: str, cell: str) -> pd.DataFrame:
        """Send the cell to several models (or profiles) at once; one row per target:
        target, backend, model, output, latency_s, ttft_s, tokens, cost_usd, cached, error.

        A failing target shows its error in its row; the others still complete. The
        cell's output is the DataFrame itself (``df = _``), shown with wrapped outputs.
        """
        args = parse_line(self.llm_compare.parser, line)
        if args.repeat < 1:
            raise UsageError("--repeat takes a number of runs of at least 1")
        session = self.session
        with user_errors():
            prompt = as_prompt(self._content(cell, args))
            kwargs = call_kwargs(args, self.shell.user_ns)
            profile = kwargs.pop("profile", None)
            profiles = names_list(args.profiles) or ([profile] if profile else None)
            out = variable_name(args.out)
            frame = session.compare(prompt, names_list(args.models), profiles,
                                    repeat=args.repeat, **kwargs)
        display.mark_compare(frame, grid=args.grid)
        if args.plot:
            from llmdeck_nb.notebook.charts import chart_title, shows_demo

            display.show_chart(frame, chart_title(prompt, args.repeat),
                               demo=shows_demo(frame, session.deck))
        if out:
            self.shell.user_ns[out] = frame
        return frame

    # --- conversations ----------------------------------------------------------------------------

    @magic_arguments()
    @argument("action", nargs="?", default="show",
              choices=["new", "show", "list", "switch", "drop"],
              help="new [NAME]: start a conversation (NAME again: start it over) and make it "
                   "current; show [NAME] (the default): its turns; list: every conversation; "
                   "switch NAME; drop [N]: forget the last N turns (default 2: the last prompt and "
                   "its answer)")
    @argument("value", nargs="?", metavar="NAME_OR_N")
    @line_magic
    def llm_chat(self, line: str) -> None:
        """The conversations %%llm --chat continues (kept in the call log file: they survive a
        kernel restart, and any model can continue one)."""
        from llmdeck_nb.notebook import chat_view

        args = parse_argstring(self.llm_chat, line)
        chats = self.session.conversations
        with user_errors():
            if args.action == "new":
                say(chat_view.started(*chats.new(args.value)))
            elif args.action == "switch":
                if not args.value:
                    raise UsageError("%llm_chat switch takes a NAME (%llm_chat list shows them)")
                say(chat_view.switched(chats.switch(args.value)))
            elif args.action == "drop":
                say(chat_view.dropped(chats.drop(chat_view.turn_count(args.value)), chats.current))
            elif args.action == "list":
                say(chat_view.listing(chats.listing(), chats.current.name))
            else:
                chat_view.show(chats.get(args.value) if args.value else chats.current)

    # --- %%llm_batch, budgets, replay ------------------------------------------------------------

    @magic_arguments()
    @argument("rows", metavar="DF", help="a DataFrame, Series or list in the notebook")
    @argument("model", nargs="?", metavar="MODEL",
              help="model, alias or preset (default: the current choice)")
    @argument("-o", "--out", metavar="VAR", help="store the result DataFrame in this variable")
    @argument("--concurrency", type=int, default=16, metavar="N",
              help="requests in flight at once (16)")
    @argument("--column", default="output", metavar="NAME",
              help="name of the answer column (output)")
    @argument("--budget", type=float, metavar="USD", help="stop this batch before it spends more")
    @argument("--on-error", choices=["record", "raise"], default="record", dest="on_error",
              help="record: a failed row keeps its error and the others go on (default); raise: "
                   "stop")
    @argument("--no-progress", action="store_false", dest="progress", help="no progress bar")
    @call_options
    @no_var_expand
    @cell_magic
    def llm_batch(self, line: str, cell: str) -> pd.DataFrame:
        """Run the cell, a prompt template, over every row of DF: {column} is filled from each
        row (and {name} from the notebook). The result keeps DF's index and columns and adds
        output, model, backend, latency_s, tokens, cost_usd, cached, error and call_id.

        Rows already answered come from the cache, so after an interrupt (the stop button
        returns the rows done so far) running the cell again sends only the rest.
        """
        from llmdeck_nb.engine.batch import summary_line
        from llmdeck_nb.notebook.interpolation import evaluate

        args = parse_line(self.llm_batch.parser, line)
        session = self.session
        with user_errors():
            rows = evaluate(args.rows, self.shell.user_ns, what=args.rows)
            kwargs = call_kwargs(args, self.shell.user_ns)
            out = variable_name(args.out)
            frame = session.batch(rows, cell.strip(), args.model, concurrency=args.concurrency,
                                  on_error=args.on_error, progress=args.progress,
                                  column=args.column, budget_usd=args.budget,
                                  variables=self.shell.user_ns, **kwargs)
        say(f"llmdeck: {summary_line(frame)}")
        if out:
            self.shell.user_ns[out] = frame
        return frame

    @magic_arguments()
    @argument("usd", nargs="?", metavar="USD",
              help="the session's limit in USD, or off (none: show)")
    @argument("--daily", metavar="USD",
              help="the daily limit (all sessions, counted from the call log), or off")
    @argument("--allow-unknown-prices", action="store_true", dest="allow_unknown",
              help="let models without a price in the deck through while a limit is set")
    @argument("--refuse-unknown-prices", action="store_true", dest="refuse_unknown",
              help="refuse them again (the default)")
    @line_magic
    def llm_budget(self, line: str) -> None:
        """Show what this session and today cost against their limits, or set the limits.
        A call whose worst-case cost could pass a limit is refused before it is sent."""
        args = parse_argstring(self.llm_budget, line)
        session = self.session
        with user_errors():
            for kind, value in (("session", args.usd), ("daily", args.daily)):
                if value is not None:
                    self.controls.set_budget(kind, _dollars(value))
            if args.allow_unknown or args.refuse_unknown:
                self.controls.allow_unknown_prices(args.allow_unknown)
            say(f"llmdeck budget: {session.budget.describe()}")

    @magic_arguments()
    @argument("mode", nargs="?", metavar="MODE", help="normal (send misses), replay (cache only, "
              "send nothing) or refresh (send everything again); none: show")
    @line_magic
    def llm_mode(self, line: str) -> None:
        """How calls use the response cache: normal, replay (a rerun with no key and the same
        answers; a miss is an error) or refresh."""
        args = parse_argstring(self.llm_mode, line)
        session = self.session
        if args.mode:
            with user_errors():
                self.controls.set_mode(args.mode)
        say(f"llmdeck: mode {session.mode}")

    # --- switching -----------------------------------------------------------------------------

    @magic_arguments()
    @argument("name", nargs="?", help="profile to switch to (none: list the profiles)")
    @line_magic
    def llm_profile(self, line: str) -> None:
        """Show the routing profiles (* marks the active one), or switch to NAME."""
        args = parse_argstring(self.llm_profile, line)
        session = self.session
        if args.name:
            with user_errors():
                self.controls.use_profile(args.name)
            say(f"llmdeck: profile {session.profile}; %%llm uses {self._choice(session)}")
        else:
            say(display.profiles_listing(session.deck.profiles, session.profile))

    @magic_arguments()
    @argument("handle", nargs="?", metavar="MODEL_OR_PRESET",
              help="model, alias or preset for %%%%llm when none is given")
    @argument("--reset", action="store_true", help="back to the profile's / deck's default")
    @line_magic
    def llm_use(self, line: str) -> None:
        """Set the model, alias or preset %%llm uses by default (shown by the panel too)."""
        args = parse_argstring(self.llm_use, line)
        session = self.session
        if args.handle or args.reset:
            with user_errors():
                self.controls.use_model(None if args.reset else args.handle)
        say(f"llmdeck: %%llm uses {self._choice(session)}")

    @staticmethod
    def _choice(session: Session) -> str:
        from llmdeck_nb.notebook.choices import describe

        return describe(session)

    # --- the deck --------------------------------------------------------------------------------

    @magic_arguments()
    @argument("--backend", help="only the models routed to this backend")
    @argument("--profile", help="routing under this profile (default: the active one)")
    @argument("--available", action="store_true", help="only the models that can be called")
    @line_magic
    def llm_models(self, line: str) -> pd.DataFrame:
        """The deck's models as a DataFrame: where the profile routes each one, whether it
        can be called (and why not), costs per 1M tokens, limits, aliases and presets."""
        from llmdeck_nb.deck.presentation import models_table

        args = parse_argstring(self.llm_models, line)
        session = self.session
        with user_errors():
            rows = models_table(session.deck, args.profile or session.profile)
        if args.backend:
            rows = [r for r in rows if r["backend"] == args.backend]
        if args.available:
            rows = [r for r in rows if r["available"]]
        return display.to_frame(rows)

    @line_magic
    def llm_presets(self, line: str) -> pd.DataFrame:
        """The deck's presets: model, parameters, and what each resolves to now."""
        from llmdeck_nb.notebook.choices import presets_rows

        return display.to_frame(presets_rows(self.session))

    @line_magic
    def llm_aliases(self, line: str) -> pd.DataFrame:
        """The deck's aliases and waterfalls, and what each resolves to now."""
        from llmdeck_nb.notebook.choices import aliases_rows

        return display.to_frame(aliases_rows(self.session))

    @line_magic
    def llm_reload(self, line: str) -> None:
        """Read the deck again (after setting a key or editing a file)."""
        had_session = self._bound is not None
        session = self.session  # a deck that failed to load is loaded here
        if had_session:
            with user_errors():
                self.controls.reload()
        say(display.load_line(session.deck, session.profile, session.reachability))

    # --- the log, the cache, live checks -------------------------------------------------------

    @magic_arguments()
    @argument("-n", type=log_rows, default=None, metavar="N",
              help="the last N attempts, or all (default: 20 shown; every row for --summary and "
                   "--export)")
    @argument("--all", action="store_true",
              help="every column (default: time, model, backend, status, "
              "latency, tokens, cost, cached, error, tags)")
    @argument("--summary", action="store_true", help="one row per backend/model: calls, errors, "
              "cache hit rate, p50/p95 latency, tokens, cost, and what caching saved")
    @argument("--export", metavar="PATH",
              help="also write the table, every column, to PATH (.csv or .parquet)")
    @line_magic
    def llm_log(self, line: str) -> pd.DataFrame:
        """The call log as a DataFrame (one row per attempt, oldest first), or its summary."""
        from llmdeck_nb.notebook import views

        args = parse_argstring(self.llm_log, line)
        session = self.session
        with user_errors():
            if args.summary:  # over the whole log unless -n says otherwise
                frame = session.summary(last=None if args.n == ALL_ROWS else args.n)
            else:
                whole = args.n == ALL_ROWS or (args.export and args.n is None)
                frame = session.calls(last=None if whole else (20 if args.n is None else args.n))
        if args.export:
            display.say(export(frame, args.export))
        if args.summary:
            saved = display.savings_line(frame)
            if saved:
                display.say(saved)
            return views.mark(frame, views.SUMMARY)
        return frame if args.all else views.log_frame(frame)

    @magic_arguments()
    @argument("--backend", action="append", help="only this backend (repeatable)")
    @line_magic
    def llm_check(self, line: str) -> pd.DataFrame:
        """Live connectivity and latency of each available backend (one tiny request each)."""
        args = parse_argstring(self.llm_check, line)
        session = self.session
        with user_errors():
            frame = self.controls.check(args.backend)
        say(display.load_line(session.deck, session.profile, session.reachability))
        return frame

    @magic_arguments()
    @argument("action", nargs="?", default="stats", choices=["stats", "clear", "on", "off"],
              help="stats (default), clear (delete every entry), on / off (use it for calls)")
    @line_magic
    def llm_cache(self, line: str) -> None:
        """The response cache: statistics, clear it, or switch it on/off for this session."""
        args = parse_argstring(self.llm_cache, line)
        session = self.session
        if args.action in ("on", "off"):
            self.controls.set_cache(args.action == "on")
        if session.cache is None:
            say("llmdeck: the response cache is off for this session (Session(cache=False))")
            return
        with user_errors():
            if args.action == "clear":
                say(f"llmdeck: cleared {session.cache.clear()} cached answers")
            else:
                say(display.cache_line(session.cache.stats(), session.use_cache))

    # --- the panel --------------------------------------------------------------------------------

    @line_magic
    def llm_panel(self, line: str) -> Any:
        """Widgets to switch profile, model, temperature and cache; a table of the last calls."""
        from llmdeck_nb.notebook.panel import Panel

        return Panel(self.session)


def as_prompt(content: str | list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """Content with images or documents becomes the one user message that carries them."""
    return content if isinstance(content, str) else [{"role": "user", "content": content}]

def _dollars(text: str) -> float | None:
    """``5``, ``5.00``, ``$5`` -> 5.0; ``off`` / ``none`` -> None (no limit)."""
    if text.strip().lower() in ("off", "none", "no"):
        return None
    try:
        return float(text.strip().lstrip("$"))
    except ValueError:
        raise UsageError(
            f"a budget is a number of dollars (e.g. 5.00) or off, not {text!r}") from None


def export(frame: pd.DataFrame, path: str) -> str:
    """Write ``frame`` to ``path`` (.csv or .parquet); the message saying where."""
    from pathlib import Path

    target = Path(path).expanduser()
    suffix = target.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise UsageError(f"--export writes .csv or .parquet files, not {target.name!r}")
    if target.parent and not target.parent.exists():
        raise UsageError(f"--export: the folder {target.parent} does not exist")
    if suffix == ".csv":
        frame.to_csv(target, index=False)
    else:
        try:
            frame.to_parquet(target, index=False)
        except ImportError:
            raise UsageError("--export .parquet needs pyarrow: pip install pyarrow "
                             "(or export .csv)") from None
    return f"llmdeck: wrote {len(frame)} rows to {target.resolve()}"


__all__ = ["LLMDeckMagics", "export", "user_errors"]
