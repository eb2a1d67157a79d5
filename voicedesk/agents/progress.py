"""A running job's last step, in words fit to be spoken ("editing settings.tsx")."""

from __future__ import annotations

from collections.abc import Sequence

from voicedesk.types import JobEvent

_VERBS = {
    "Edit": "editing", "MultiEdit": "editing", "Write": "writing", "NotebookEdit": "editing",
    "Read": "reading", "Bash": "running", "Grep": "searching for", "Glob": "looking for",
    "WebFetch": "fetching", "WebSearch": "searching the web for", "Task": "delegating",
    "TodoWrite": "updating its to-do list", "$": "running",
}
_LIMIT = 80


def spoken_step(message: str) -> str:
    """'Edit src/settings.tsx' → 'editing src/settings.tsx'; '$ pytest -q (…)' → 'running
    pytest -q'."""
    tool, _, detail = message.strip().partition(" ")
    verb = _VERBS.get(tool)
    if tool == "$":
        detail = detail.split("  (matched", 1)[0]
    if verb is None:
        return message.strip()[:_LIMIT]
    if tool == "TodoWrite":
        return verb
    return f"{verb} {detail.strip()}"[:_LIMIT].rstrip()


def last_step(events: Sequence[JobEvent]) -> str | None:
    """The newest tool call among a job's events, spoken; None when it has made none."""
    for event in reversed(events):
        if event.kind == "tool" and event.message.strip():
            return spoken_step(event.message)
    return None
