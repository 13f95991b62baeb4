"""`llmdeck validate`: every problem of a deck in one report, instead of the first one.

Sections: backends, routing, aliases, presets, unknown keys, problems. The deck is
*usable* when there is no error and the text choice default resolves. A backend
without its key is not an error (it is reported as unavailable, with the variable).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmdeck_nb.deck.availability import backend_state, latency_text
from llmdeck_nb.deck.deck import Deck
from llmdeck_nb.deck.presentation import routing_rows
from llmdeck_nb.deck.problems import DeckProblem, Severity
from llmdeck_nb.deck.verdict import Reason, Unservable, serving_verdict
from llmdeck_nb.errors import (
    AliasCycleError,
    AliasDepthError,
    LLMDeckError,
    WrongReferenceKindError,
)

AddProblem = Callable[[DeckProblem], None]


@dataclass
class ValidationReport:
    source: str
    profile: str
    backends: list[dict[str, Any]] = field(default_factory=list)
    routing: list[dict[str, Any]] = field(default_factory=list)
    aliases: list[dict[str, Any]] = field(default_factory=list)
    presets: list[dict[str, Any]] = field(default_factory=list)
    problems: list[DeckProblem] = field(default_factory=list)
    live: list[dict[str, Any]] = field(default_factory=list)  # filled by `validate --live`

    @property
    def errors(self) -> list[DeckProblem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[DeckProblem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def usable(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "profile": self.profile, "usable": self.usable,
            "backends": self.backends, "routing": self.routing, "aliases": self.aliases,
            "presets": self.presets,
            "unknown_keys": [p.as_dict() for p in self.problems if p.section == "unknown_keys"],
            "problems": [p.as_dict() for p in self.problems if p.section != "unknown_keys"],
            "live": self.live,
        }

    def record_live(self, deck: Deck, rows: list[dict[str, Any]]) -> None:
        """The rows of a live check; each backend's state becomes what it found."""
        self.live = rows
        found = {row["backend"]: row for row in rows}
        for b in self.backends:
            b["state"] = backend_state(deck.backends[b["name"]], found.get(b["name"]))

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, default=str)

    def to_text(self) -> str:
        out = [f"deck: {self.source}", f"profile: {self.profile}", ""]
        out.append("BACKENDS")
        for b in self.backends:
            state = b["state"]
            usable = b["available"] and not state.startswith("unreachable")
            out.append(f"  {'ok' if usable else '--'} {b['name']:<14} {b['strategy']:<18} "
                       f"{b['models']:>3} models  {state}")
        callable_rows = [r for r in self.routing if r["callable"]]
        out += ["", f"ROUTING ({len(callable_rows)} of {len(self.routing)} models callable "
                    f"under '{self.profile}')"]
        for r in self.routing:
            mark = "ok" if r["callable"] else "--"
            tail = "" if r["callable"] else f"  ({r['why_not']})"
            out.append(f"  {mark} {r['model']:<28} -> {r['backend'] or '-':<14} by "
                       f"{r['rule']}{tail}")
        out += ["", "ALIASES"]
        for a in self.aliases:
            out.append(f"  {'ok' if a['resolves_to'] else '--'} {a['alias']:<22} -> "
                       + (" | ".join(a["resolves_to"]) or a["error"] or "nothing callable"))
            for model, why in a["skipped"]:
                out.append(f"       skips {model}: {why}")
        out += ["", "PRESETS"]
        for p in self.presets:
            out.append(f"  {'ok' if p['resolves_to'] else '--'} {p['preset']:<26} -> "
                       + (" | ".join(p["resolves_to"]) or p["error"] or "nothing callable"))
            for note in p["notes"]:
                out.append(f"       {note}")
        unknown = [p for p in self.problems if p.section == "unknown_keys"]
        out += ["", f"UNKNOWN KEYS ({len(unknown)})"] + [f"  {p.message}" for p in unknown]
        listed = [p for p in self.problems if p.section != "unknown_keys"]
        out += ["", f"PROBLEMS ({len(self.errors)} errors, {len(self.warnings)} warnings)"]
        out += [f"  {p.severity.upper():<7} {p.message}" for p in listed]
        if self.live:
            out += ["", "LIVE CHECK"]
            for row in self.live:
                detail = row.get("detail")
                detail = detail if isinstance(detail, str) else ""
                out.append(f"  {row['status']:<6} {row['backend']:<14} "
                           f"{latency_text(row.get('latency_s')):>8}  {detail}".rstrip())
        out += ["", "deck is usable" if self.usable else "deck is NOT usable: fix the errors above"]
        return "\n".join(out)


def validate_deck(deck: Deck, profile: str | None = None) -> ValidationReport:
    name = profile or deck.active_profile
    report = ValidationReport(source=deck.source, profile=name, problems=list(deck.problems))
    add = report.problems.append
    for b in deck.backends.values():
        report.backends.append({
            "name": b.name, "enabled": b.enabled, "available": b.available,
            "reason": b.unavailable_reason, "state": backend_state(b), "strategy": b.strategy,
            "endpoint_host": b.endpoint_host, "models": len(deck.specs.get(b.name, {})),
        })
    _check_profiles(deck, add, name)
    if name not in deck.profiles:
        add(DeckProblem("error", "routing", f"profile '{name}' is not defined; available: "
                        + ", ".join(deck.profiles) if deck.profiles else
                        "routing_profiles.toml defines no usable profile", key=name))
        return report
    for routed in routing_rows(deck, name):
        report.routing.append({"model": routed.model, "backend": routed.backend,
                               "rule": routed.rule, "callable": routed.callable,
                               "why_not": routed.why_not})
    blocked: dict[str, set[str]] = {}  # not-callable backend -> handles it stops
    for alias in deck.aliases:
        report.aliases.append(_resolution_row(deck, alias, name, "alias", add, blocked))
    for preset in deck.presets.values():
        row = _resolution_row(deck, preset.name, name, "preset", add, blocked)
        row["model"] = preset.model
        report.presets.append(row)
        _check_preset(deck, preset.name, name, row, add)
    for where, choices in (("choice default", deck.choice_defaults),
                           ("choice override", deck.choice_overrides)):
        for key, handle in choices.items():
            _resolution_row(deck, deck.choice_handle(handle), name, where, add, blocked,
                            label=f"{where} {key} = '{handle}'")
    for cause, handles in blocked.items():
        count = f"{len(handles)} alias(es), preset(s) or choice(s)"
        if cause == DISABLED_ONLY:
            message = (f"{count} name only models of disabled backends (each row says which): set "
                       "enabled = true for a backend in backends.toml to use them")
        else:
            message = (f"profile '{name}' sends {count} to backend '{cause}', which is "
                       f"{deck.backends[cause].unavailable_reason}: switch profile to call them "
                       f"from llmdeck{_profile_hint(deck, name)}")
        add(DeckProblem("warning", "routing", message, key=cause))
    return report


DISABLED_ONLY = "<disabled backends>"


def _summary_cause(unservable: Unservable) -> str | None:
    """Causes reported once for the profile rather than once per alias or preset: a
    backend llmdeck cannot call, or models listed only by disabled backends."""
    if unservable.reason in (Reason.NOT_CALLABLE, Reason.REMOTE):
        return unservable.backend or ""
    return DISABLED_ONLY if unservable.reason is Reason.DORMANT else None


def _profile_hint(deck: Deck, current: str) -> str:
    """" (e.g. LLMDECK_PROFILE=all_openai)": a profile that can call the choice default."""
    try:
        handle = deck.default_handle()
    except LLMDeckError:
        return ""
    for profile in deck.profiles:
        if profile == current:
            continue
        try:
            deck.resolve(handle, profile)
        except LLMDeckError:
            continue
        return f" (e.g. LLMDECK_PROFILE={profile})"
    return " (enable a provider's backend in backends.toml and pick a profile that routes to it)"


def _check_profiles(deck: Deck, add: AddProblem, active: str) -> None:
    """Routes to backends that do not exist are errors; to disabled ones, a warning for
    the profile in use (others are options a Pipelex folder ships: a note)."""
    for profile in deck.profiles.values():
        targets = [(r.pattern, r.backend) for r in profile.routes]
        if profile.default:
            targets.append(("default", profile.default))
        targets += [("fallback_order", b) for b in profile.fallback_order]
        for what, backend in targets:
            config = deck.backends.get(backend)
            where = f"{profile.source}: profile '{profile.name}', {what}"
            if config is None:
                add(DeckProblem("error", "routing", f"{where} -> backend '{backend}' is not "
                                "defined in backends.toml", file=profile.source, key=what))
            elif not config.enabled:
                add(DeckProblem("warning" if profile.name == active else "note", "routing",
                                f"{where} -> backend '{backend}' is disabled", file=profile.source,
                                key=what))


def _resolution_row(deck: Deck, handle: str, profile: str, kind: str, add: AddProblem,
                    blocked: dict[str, set[str]], *, label: str | None = None) -> dict[str, Any]:
    """Resolve one alias, preset or choice; report what stops it, worded by its cause:
    a broken reference is an error, a name found nowhere an error (a warning in an alias
    chain), a backend llmdeck cannot call one line for the whole profile, the rest warnings."""
    label = label or f"{kind} '{handle}'"
    section = "aliases" if kind == "alias" else "presets"
    row: dict[str, Any] = {kind: handle, "resolves_to": [], "skipped": [], "error": None}
    try:
        resolution = deck.resolve(handle, profile)
    except (AliasCycleError, AliasDepthError, WrongReferenceKindError) as exc:
        row["error"] = exc.message
        add(DeckProblem("error", section, f"{label}: {exc.message}", key=handle))
        return row
    except LLMDeckError as exc:
        row["error"] = exc.message
        leaves = _unservable_leaves(deck, handle, profile)
        causes = [_summary_cause(leaf) for leaf in leaves]
        if leaves and None not in causes:
            for cause in causes:
                blocked.setdefault(str(cause), set()).add(handle)
            return row
        unknown = not leaves or all(leaf.reason is Reason.UNKNOWN for leaf in leaves)
        severity: Severity = "error" if unknown and kind != "alias" else "warning"
        add(DeckProblem(severity, section, f"{label}: {exc.message}", key=handle))
        return row
    row["resolves_to"] = list(resolution.chain)
    row["skipped"] = [list(s) for s in resolution.skipped]
    for model, _ in resolution.skipped:
        found = serving_verdict(deck, model, profile)
        if isinstance(found, Unservable) and found.reason is Reason.UNKNOWN:
            add(DeckProblem("warning", "aliases", f"{label} lists '{model}', which "
                            "is neither a model nor an alias", key=handle))
    return row


def _unservable_leaves(deck: Deck, handle: str, profile: str) -> list[Unservable]:
    """The verdict of each model a handle expands to that cannot be served; [] if it is not
    a known name."""
    try:
        preset = handle in deck.presets and handle not in deck.aliases
        target = deck.presets[handle].model if preset else handle
        leaves = deck.expand(target)
    except LLMDeckError:
        return []
    found = [serving_verdict(deck, model, profile) for model, _ in leaves]
    return [verdict for verdict in found if isinstance(verdict, Unservable)]


def _check_preset(deck: Deck, preset: str, profile: str, row: dict[str, Any],
                  add: AddProblem) -> None:
    row["notes"] = []
    if not row["resolves_to"]:
        return
    limit = deck.presets[preset].max_tokens
    for candidate in deck.resolve(preset, profile).candidates:
        cap = candidate.spec.output_token_limit
        if isinstance(limit, int) and cap and limit > cap:
            message = (f"preset '{preset}': max_tokens {limit} exceeds {candidate.label}'s "
                       f"limit of {cap} output tokens (it will be lowered)")
            row["notes"].append(message)
            add(DeckProblem("warning", "presets", message, key=preset))
        row["notes"] += [f"{candidate.label}: {note}" for note in candidate.adjustments
                         if not note.startswith("max_tokens")]
