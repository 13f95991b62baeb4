"""`llmdeck backend list|add|set|enable|disable|remove|test`, `backup list`, `restore`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from llmdeck_nb.backends.catalog import LITELLM, OPENAI_COMPATIBLE

KINDS = (OPENAI_COMPATIBLE, LITELLM)


def register(commands: argparse._SubParsersAction,
             deck_argument: Callable[[argparse.ArgumentParser], None]) -> None:
    backend = commands.add_parser("backend", help="list, add, change, remove or test backends")
    actions = backend.add_subparsers(dest="action", required=True)

    listing = actions.add_parser("list", help="every backend: enabled, available, why not")
    deck_argument(listing)
    listing.add_argument("--json", action="store_true", help="rows as JSON")
    listing.set_defaults(handler=_list)

    add = actions.add_parser("add", help="add a backend to backends.toml (and its models)")
    _folder_argument(add)
    add.add_argument("name")
    add.add_argument("--kind", choices=KINDS, default=OPENAI_COMPATIBLE,
                     help="how to call it (default openai_compatible)")
    add.add_argument("--endpoint", metavar="URL", help="base URL, e.g. http://localhost:8000/v1")
    add.add_argument("--key-env", metavar="VAR", help="variable holding its API key")
    add.add_argument("--models", metavar="A,B", help="models it serves (written to "
                     "backends/NAME.toml and routed to it)")
    add.add_argument("--provider", help="litellm provider prefix (litellm backends)")
    add.add_argument("--display-name", metavar="TEXT")
    add.add_argument("--profile", metavar="NAME",
                     help="profile to route --models in (default: active)")
    add.set_defaults(handler=_add)

    setter = actions.add_parser("set", help="set KEY=VALUE in a backend's table")
    _folder_argument(setter)
    setter.add_argument("name")
    setter.add_argument("assignments", nargs="+", metavar="KEY=VALUE")
    setter.set_defaults(handler=_set)

    for action, enabled in (("enable", True), ("disable", False)):
        toggle = actions.add_parser(action,
                                    help=f"{action} a backend (enabled = {str(enabled).lower()})")
        _folder_argument(toggle)
        toggle.add_argument("name")
        toggle.set_defaults(handler=_toggle, enabled=enabled)

    remove = actions.add_parser("remove", help="remove a backend, its model file and its routes")
    _folder_argument(remove)
    remove.add_argument("name")
    remove.set_defaults(handler=_remove)

    test = actions.add_parser("test", help="one live request per available backend (or NAME)")
    deck_argument(test)
    test.add_argument("name", nargs="?")
    test.set_defaults(handler=_test)

    backup = commands.add_parser("backup", help="the deck's backups")
    backup_actions = backup.add_subparsers(dest="action", required=True)
    backup_list = backup_actions.add_parser("list", help="backups of the deck, oldest first")
    _folder_argument(backup_list)
    backup_list.set_defaults(handler=_backups)

    restore = commands.add_parser("restore",
                                  help="bring back a backup of the deck (default: the latest)")
    _folder_argument(restore)
    restore.add_argument("backup", nargs="?", help="backup name (from `llmdeck backup list`)")
    restore.set_defaults(handler=_restore)


def _folder_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--deck", metavar="PATH", help="deck folder to change (default: the "
                        "search order; never the packaged default deck)")


def _commit(args: argparse.Namespace, change: Callable, *arguments, **options) -> int:
    from llmdeck_nb.deck.editing import DeckEdit, editable_folder

    edit = DeckEdit(editable_folder(args.deck))
    done = change(edit, *arguments, **options)
    backup = edit.commit(f"before `llmdeck backend {args.action} {args.name}`")
    for line in done:
        print(line)
    print(f"backup of the previous deck: {backup.name} (undo with `llmdeck restore`)" if backup
          else "nothing changed")
    return 0


def _add(args: argparse.Namespace) -> int:
    from llmdeck_nb.deck.backend_edits import add_backend

    models = [m.strip() for m in (args.models or "").split(",") if m.strip()]
    return _commit(args, add_backend, args.name, kind=args.kind, endpoint=args.endpoint,
                   key_env=args.key_env, models=models, provider=args.provider,
                   display_name=args.display_name, profile=args.profile)


def _set(args: argparse.Namespace) -> int:
    from llmdeck_nb.deck.backend_edits import set_values

    return _commit(args, set_values, args.name, args.assignments)


def _toggle(args: argparse.Namespace) -> int:
    from llmdeck_nb.deck.backend_edits import set_enabled

    return _commit(args, set_enabled, args.name, args.enabled)


def _remove(args: argparse.Namespace) -> int:
    from llmdeck_nb.deck.backend_edits import remove_backend

    return _commit(args, remove_backend, args.name)


def _list(args: argparse.Namespace) -> int:
    from llmdeck_nb.commands.tables import format_table
    from llmdeck_nb.deck import load_deck

    deck = load_deck(args.deck, strict=False)
    rows = [{"backend": b.name, "enabled": b.enabled, "available": b.available,
             "strategy": b.strategy, "endpoint_host": b.endpoint_host,
             "models": len(deck.specs.get(b.name) or {}), "reason": b.unavailable_reason}
            for b in deck.backends.values()]
    print(json.dumps(rows, indent=2) if args.json else
          format_table(rows, ["backend", "enabled", "available", "strategy", "endpoint_host",
                              "models", "reason"]))
    return 0


def _test(args: argparse.Namespace) -> int:
    from llmdeck_nb.commands.tables import format_table
    from llmdeck_nb.engine.session import Session

    with Session(deck=args.deck, profile=args.profile, cache=False, log=False) as session:
        rows = session.check([args.name] if args.name else None).to_dict("records")
    for row in rows:
        row["latency_ms"] = f"{row['latency_s'] * 1000:.0f}" if row["status"] != "skipped" else ""
    print(format_table(rows,
                       ["backend", "status", "latency_ms", "model", "endpoint_host", "detail"]))
    return 1 if any(r["status"] == "error" for r in rows) else 0


def _backups(args: argparse.Namespace) -> int:
    from llmdeck_nb.deck.backups import backups_dir, list_backups
    from llmdeck_nb.deck.editing import editable_folder

    folder = editable_folder(args.deck)
    backups = list_backups(folder)
    if not backups:
        print(f"no backups of {folder} yet (they go to {backups_dir(folder)})")
        return 0
    for backup in backups:
        print(f"{backup.name}  {backup.created:%Y-%m-%d %H:%M:%S} UTC  {backup.reason}")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from llmdeck_nb.deck.backups import restore_backup
    from llmdeck_nb.deck.editing import editable_folder

    folder = Path(editable_folder(args.deck))
    restored, before = restore_backup(folder, args.backup)
    print(f"restored {folder} from backup {restored.name} ({restored.reason})\n"
          f"the deck as it was is saved as backup {before.name}")
    return 0
