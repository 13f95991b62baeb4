"""The /api routes: the deck's state as JSON (backends, routes, resolution, the call log).

Each function takes the Session and plain arguments and returns JSON-able data; errors
are raised as llmdeck errors or :class:`~llmdeck_nb.server.wire.ApiError` and turned
into OpenAI-format answers by the app.
"""

from __future__ import annotations

import json
import time
from difflib import get_close_matches
from typing import TYPE_CHECKING, Any

from llmdeck_nb.server.wire import ApiError, bad_request

if TYPE_CHECKING:
    from llmdeck_nb.engine.session import Session

CALLS_LIMIT = 1000  # rows /api/calls returns when no limit is given
# Session.resolve's own options; any other key of /api/resolve is a generation parameter.
RESOLVE_OPTIONS = ("model", "preset", "profile")


def backends(session: Session, checks: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every backend: enabled, available, why not, and the last connectivity test."""
    deck = session.deck
    return [{"name": b.name, "display_name": b.display_name, "strategy": b.strategy,
             "provider": b.provider, "enabled": b.enabled, "available": b.available,
             "reason": b.unavailable_reason, "endpoint_host": b.endpoint_host,
             "models": len(deck.specs.get(b.name) or {}), "last_check": checks.get(b.name)}
            for b in deck.backends.values()]


async def test_backend(session: Session, name: str,
                       checks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One live probe (as ``llmdeck validate --live``): status and latency; remembered."""
    from llmdeck_nb.engine.probe import check_backends, probe_timeout

    if name not in session.deck.backends:
        raise not_found("backend", name, session.deck.backends)
    frame = await check_backends(session.deck, [name], timeout=probe_timeout(session.timeout))
    row = json.loads(frame.to_json(orient="records"))[0]
    checks[name] = {"status": row["status"], "latency_s": row["latency_s"],
                    "detail": row["detail"], "model": row["model"], "checked_at": time.time()}
    return {"backend": name, **checks[name]}


def routes(session: Session, profile: str | None) -> dict[str, Any]:
    from llmdeck_nb.deck.presentation import routing_rows

    profile = profile or session.profile
    session.deck.routing_profile(profile)  # an unknown profile: 400 listing the profiles
    rows = [{"model": r.model, "backend": r.backend, "rule": r.rule, "available": r.callable,
             "model_id": r.spec.model_id if r.spec else None, "problem": r.why_not}
            for r in routing_rows(session.deck, profile)]
    return {"profile": profile, "routes": rows}


def resolve(session: Session, body: dict[str, Any]) -> dict[str, Any]:
    """What a call with these arguments would use, without sending it."""
    options = {k: body.pop(k) for k in RESOLVE_OPTIONS if k in body}
    for key, value in options.items():
        if value is not None and not isinstance(value, str):
            raise bad_request(f"'{key}' must be a string", key)
    resolution = session.resolve(options.get("model"), options.get("preset"),
                                 options.get("profile"), **body)
    return {
        "requested": resolution.requested, "kind": resolution.kind, "profile": resolution.profile,
        "preset": resolution.preset,
        "candidates": [{"model": c.model, "backend": c.backend.name, "model_id": c.spec.model_id,
                        "params": dict(c.params), "via": c.via, "adjustments": list(c.adjustments)}
                       for c in resolution.candidates],
        "skipped": [{"model": model, "reason": reason} for model, reason in resolution.skipped],
    }


def calls(session: Session, query: dict[str, str]) -> dict[str, Any]:
    """The call log as JSON rows, oldest first: ``since``, ``model``, ``backend``,
    ``status``, ``call_id``, ``limit`` (the most recent N, default 1000)."""
    unknown = query.keys() - {"since", "model", "backend", "status", "call_id", "limit"}
    if unknown:
        raise bad_request(f"unknown query parameter '{sorted(unknown)[0]}' (use since, model, "
                          "backend, status, call_id, limit)", sorted(unknown)[0])
    limit = query.get("limit", str(CALLS_LIMIT))
    if not limit.isdigit() or int(limit) < 1:
        raise bad_request("'limit' must be a positive integer", "limit")
    frame = session.log.frame(since=query.get("since") or None, model=query.get("model"),
                              backend=query.get("backend"), status=query.get("status"),
                              call_id=query.get("call_id"), last=int(limit))
    return {"object": "list",
            "data": json.loads(frame.to_json(orient="records", date_format="iso"))}


def not_found(what: str, name: str, known: Any) -> ApiError:
    close = get_close_matches(name, list(known), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ApiError(404, f"no {what} named '{name}'{hint} (known: {', '.join(known)})",
                    code=f"{what}_not_found")
