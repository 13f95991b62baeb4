"""Who may call the server: loopback by default, a bearer token everywhere else.

The token is compared in constant time (:func:`hmac.compare_digest`) and never
printed, logged or echoed in an error.
"""

from __future__ import annotations

import hmac
import ipaddress
import os

from llmdeck_nb.errors import ServerSetupError

TOKEN_VARIABLE = "LLMDECK_SERVE_TOKEN"
OPEN_PATHS = frozenset({"/health"})  # answered without a token (nothing secret in them)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def server_token(host: str, token: str | None) -> str | None:
    """The token the server will require (``--token``, else ``$LLMDECK_SERVE_TOKEN``).

    Binding to anything but loopback without one is refused: an open endpoint would
    spend the deck's keys for anyone who can reach the port.
    """
    token = token or os.environ.get(TOKEN_VARIABLE) or None
    if token is None and not is_loopback(host):
        raise ServerSetupError(
            f"refusing to serve on {host} without a token: anyone who can reach it could "
            "spend your API keys",
            hint=f"pass --token (or set {TOKEN_VARIABLE}), or bind to 127.0.0.1",
        )
    return token


def token_matches(authorization: bytes | None, token: bytes) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time."""
    if not authorization:
        return False
    scheme, _, presented = authorization.partition(b" ")
    if scheme.lower() != b"bearer":
        return False
    return hmac.compare_digest(presented.strip(), token)
