"""``llmdeck serve``: one Session behind the Starlette app, served by uvicorn."""

from __future__ import annotations

import sys
from pathlib import Path

from llmdeck_nb.server.auth import server_token


def serve(deck: str | Path | None = None, profile: str | None = None, *, host: str = "127.0.0.1",
          port: int = 8765, token: str | None = None, timeout: float | None = 60.0,
          cache: bool = True, log_level: str = "info") -> None:
    """Serve the deck on ``host:port`` until interrupted (Ctrl-C)."""
    import uvicorn

    from llmdeck_nb.engine.session import Session
    from llmdeck_nb.server.app import create_app

    token = server_token(host, token)  # refuses a non-loopback host without a token
    session = Session(deck=deck, profile=profile, cache=None if cache else False, timeout=timeout)
    app = create_app(session, token=token)
    shown = f"[{host}]" if ":" in host else host
    print(f"llmdeck serve: http://{shown}:{port}/v1 (profile {session.profile}, "
          f"deck {session.deck.source}, token {'required' if token else 'not required'})",
          file=sys.stderr, flush=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level, lifespan="on")
