"""`llmdeck serve`: the deck as an OpenAI-compatible endpoint."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from llmdeck_nb.engine.params import timeout_argument
from llmdeck_nb.server.auth import TOKEN_VARIABLE


def register(commands: argparse._SubParsersAction,
             deck_argument: Callable[[argparse.ArgumentParser], None]) -> None:
    serve = commands.add_parser(
        "serve", help="serve the deck as an OpenAI-compatible API (/v1/chat/completions)")
    deck_argument(serve)
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default 127.0.0.1; any other needs a token)")
    serve.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    serve.add_argument("--token",
                       help=f"bearer token clients must send (default ${TOKEN_VARIABLE})")
    serve.add_argument("--timeout", type=timeout_argument, default=60.0, metavar="SECONDS",
                       help="per-attempt backend timeout where the deck sets none "
                       "(default 60; none: no limit)")
    serve.add_argument("--no-cache", action="store_true", help="do not use the response cache")
    serve.add_argument("--log-level", default="info",
                       choices=["critical", "error", "warning", "info", "debug"])
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from llmdeck_nb.server.run import serve

    serve(args.deck, args.profile, host=args.host, port=args.port, token=args.token,
          timeout=args.timeout, cache=not args.no_cache, log_level=args.log_level)
    return 0
