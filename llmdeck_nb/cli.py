"""`llmdeck`: init, validate, models, show, cassette export|import.

Exit status: 0 when the command did what was asked (for ``validate``: the deck is
usable), 1 when the deck has errors, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from llmdeck_nb.commands import register_commands
from llmdeck_nb.commands.tables import format_table
from llmdeck_nb.errors import LLMDeckError

INIT_TARGET = Path(".llmdeck") / "inference"


def _deck_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--deck", metavar="PATH",
                        help="deck folder (default: the search order: $LLMDECK_CONFIG_DIR, "
                             "./.llmdeck/inference, ./.pipelex/inference, packaged)")
    parser.add_argument("--profile", metavar="NAME",
                        help="routing profile (default: the active one)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmdeck",
                                     description="Inspect and check an llmdeck deck.")
    commands = parser.add_subparsers(dest="command", required=True)

    init = commands.add_parser(
        "init", help=f"write an editable copy of the default deck to ./{INIT_TARGET}")
    init.add_argument("--force", action="store_true", help="overwrite an existing folder")
    init.add_argument("--dir", metavar="PATH", default=str(INIT_TARGET), help="where to write it")

    validate = commands.add_parser("validate", help="check the deck; exit 1 if it is not usable")
    _deck_argument(validate)
    validate.add_argument("--json", action="store_true", help="the report as JSON")
    validate.add_argument("--live", action="store_true",
                          help="also send one tiny request to every available backend")

    models = commands.add_parser("models", help="list every model with its backend and prices")
    _deck_argument(models)
    models.add_argument("--json", action="store_true", help="rows as JSON")
    models.add_argument("--backend", metavar="NAME", help="only models routed to this backend")

    show = commands.add_parser("show", help="the deck summary: backends, profile, aliases, presets")
    _deck_argument(show)

    cassette = commands.add_parser("cassette",
                                   help="export logged answers to a file, or import one "
                                   "into the response cache (to replay a notebook elsewhere)")
    action = cassette.add_subparsers(dest="action", required=True)
    export = action.add_parser("export", help="write the cached answers of the logged calls to OUT")
    export.add_argument("out", metavar="OUT", help="the cassette file to write (JSON)")
    export.add_argument("--tag", help="only calls with this tag")
    export.add_argument("--since", metavar="DATE",
                        help="only calls since then ('2025-06-01', '2h', '1d')")
    export.add_argument("--session", metavar="ID",
                        help="only the calls of this session (the log's session_id)")
    load = action.add_parser("import", help="store the answers of a cassette in the response cache")
    load.add_argument("file", metavar="FILE",
                      help="a cassette written by `llmdeck cassette export`")
    for sub in (export, load):
        sub.add_argument("--cache", metavar="DIR_OR_URL",
                         help="response cache (default: the deck's "
                         "[cache], else $LLMDECK_CACHE_DIR/responses)")
    export.add_argument("--log", metavar="FILE",
                        help="call log (default: $LLMDECK_CACHE_DIR/calls.sqlite)")
    register_commands(commands, _deck_argument)  # serve, backend, backup, restore, keys
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from llmdeck_nb.deck.problems import DeckWarning

    args = build_parser().parse_args(argv)
    try:
        handler = getattr(args, "handler", None) or _COMMANDS[args.command]
        with warnings.catch_warnings():  # deck warnings are report lines, not Python warnings
            warnings.simplefilter("ignore", DeckWarning)
            status = handler(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below
        return status
    except LLMDeckError as exc:
        print(f"llmdeck: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # `llmdeck models | head`: the reader has what it wanted. Point stdout at devnull so
        # the interpreter's final flush does not fail again, and exit like `cat` would.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE


def _warning_lines(deck, limit: int = 10) -> None:
    """The deck's warnings as report lines on stderr (after the table or summary)."""
    found = [p.message for p in deck.problems if p.severity == "warning"]
    if not found:
        return
    lines = [f"WARNINGS ({len(found)})"] + [f"  {m}" for m in found[:limit]]
    if len(found) > limit:
        lines.append(f"  ... and {len(found) - limit} more: `llmdeck validate` lists them all")
    print("\n".join(lines), file=sys.stderr)


def _init(args: argparse.Namespace) -> int:
    from llmdeck_nb.deck.locate import PACKAGED_DECK_DIR

    target = Path(args.dir)
    if target.exists() and any(target.iterdir()) and not args.force:
        print(f"llmdeck: {target} already exists; nothing written (use --force to overwrite it)",
              file=sys.stderr)
        return 1
    shutil.copytree(PACKAGED_DECK_DIR, target, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    print(f"wrote the default deck to {target}/\n"
          "edit its TOML files, put keys in the environment or a .env file, then run `llmdeck "
          "validate`")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from llmdeck_nb.deck import load_deck
    from llmdeck_nb.deck.validation import validate_deck

    deck = load_deck(args.deck, strict=False)
    report = validate_deck(deck, args.profile)
    if args.live and report.usable:
        from llmdeck_nb.engine.session import Session

        with Session(deck=deck, cache=False, log=False) as session:
            report.record_live(deck, session.check().to_dict("records"))
    print(report.to_json() if args.json else report.to_text())
    return 0 if report.usable else 1


def _models(args: argparse.Namespace) -> int:
    from llmdeck_nb.deck import load_deck
    from llmdeck_nb.deck.presentation import models_table

    deck = load_deck(args.deck)
    rows = models_table(deck, args.profile)
    if args.backend:
        rows = [r for r in rows if r["backend"] == args.backend]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(format_table(rows,
                       ["model", "type", "backend", "model_id", "inputs", "outputs",
                        "input_usd_per_1m",
                              "output_usd_per_1m", "max_tokens", "aliases", "presets", "note"]))
    _warning_lines(deck)
    return 0


def _show(args: argparse.Namespace) -> int:
    from llmdeck_nb.deck import load_deck
    from llmdeck_nb.deck.presentation import deck_summary

    deck = load_deck(args.deck)
    print(deck_summary(deck, args.profile))
    _warning_lines(deck)
    return 0


def _cassette(args: argparse.Namespace) -> int:
    from llmdeck_nb.cache.cassette import cassette_command

    return cassette_command(args.action, args)


_COMMANDS = {"init": _init, "validate": _validate, "models": _models, "show": _show,
             "cassette": _cassette}

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
