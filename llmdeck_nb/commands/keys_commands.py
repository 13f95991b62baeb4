"""`llmdeck keys set|list|remove`: API keys in the key store, never printed."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable


def register(commands: argparse._SubParsersAction,
             deck_argument: Callable[[argparse.ArgumentParser], None]) -> None:
    keys = commands.add_parser("keys",
                               help="store API keys encrypted (keyring or file); list where each "
                                    "is found")
    actions = keys.add_subparsers(dest="action", required=True)

    setter = actions.add_parser("set", help="store a key (asked without echo; or read from a pipe)")
    setter.add_argument("name", help="the variable the deck refers to, e.g. OPENAI_API_KEY")
    setter.add_argument("--store", choices=["keyring", "file"],
                        help="where (default $LLMDECK_KEY_STORE, else the keyring if there is one)")
    setter.set_defaults(handler=_set)

    listing = actions.add_parser("list", help="key names and where each is found (never values)")
    deck_argument(listing)
    listing.add_argument("--json", action="store_true", help="rows as JSON")
    listing.set_defaults(handler=_list)

    remove = actions.add_parser("remove", help="forget a stored key")
    remove.add_argument("name")
    remove.add_argument("--store", choices=["keyring", "file"])
    remove.set_defaults(handler=_remove)


def _set(args: argparse.Namespace) -> int:
    from llmdeck_nb.keys.store import check_name, open_key_store

    check_name(args.name)
    store = open_key_store(args.store)
    if sys.stdin.isatty():
        value = getpass.getpass(f"{args.name} (not shown): ")
    else:
        value = sys.stdin.readline()
    store.set(args.name, value.strip())
    print(f"stored {args.name} in the {store.describe()}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from llmdeck_nb.commands.tables import format_table
    from llmdeck_nb.deck.locate import locate_deck
    from llmdeck_nb.keys.sources import deck_key_names, key_sources

    folder, _ = locate_deck(args.deck)
    rows = key_sources(deck_key_names(folder))
    print(json.dumps(rows, indent=2) if args.json
          else format_table(rows, ["name", "used", "also_in"]))
    return 0


def _remove(args: argparse.Namespace) -> int:
    from llmdeck_nb.keys.store import open_key_store

    store = open_key_store(args.store)
    if not store.remove(args.name):
        print(f"llmdeck: {args.name} is not in the {store.describe()}", file=sys.stderr)
        return 1
    print(f"removed {args.name} from the {store.describe()}")
    return 0
