"""How `listen --remote` prints the server's messages: JSON lines, or lines like `listen`."""

from __future__ import annotations

from typing import Any, cast

from rich.markup import escape

from voicedesk.cli_display import err, json_line, out, show_event, span
from voicedesk.live import EventKind, LiveEvent

_SHOWN = ("talking", "partial", "ignored", "notice", "alert")
"""Server messages shown as the local listener shows its own events."""


class Display:
    """Prints the server's messages: JSON lines as received, or lines like local `listen`."""

    def __init__(self, as_json: bool) -> None:
        """Show JSON lines when `as_json`."""
        self.as_json = as_json
        self.timings: list[dict[str, float]] = []  # every final's timings_ms, for --stats
        self._said: str | None = None  # a notice's text, which the next reply message repeats

    def show(self, message: dict[str, Any]) -> None:
        """Print one server message (ready, idle and done only as JSON lines)."""
        kind, text = str(message.get("type")), str(message.get("text", ""))
        if kind == "alert" and message.get("show") is False:
            return
        if kind == "final" and isinstance(message.get("timings_ms"), dict):
            self.timings.append(message["timings_ms"])
        if self.as_json:
            json_line(message)
        elif kind == "final":
            self._final(message)
        elif kind == "reply" and text != self._said:
            mark = "?" if message.get("kind") == "question" else "✔"
            out.print(f"    {mark} {escape(text)}")
        elif kind == "error":
            err.print(f"[red]server: {escape(str(message.get('message', '')))}[/red]")
        elif kind in _SHOWN:
            show_event(LiveEvent(cast(EventKind, kind), text), as_json=False)
        self._said = text if kind == "notice" else None

    def _final(self, message: dict[str, Any]) -> None:
        """A heard command as `show_heard` prints one (its reply follows as a message)."""
        intent = message.get("intent") or {}
        fields = [f"{k}={v}" for k, v in intent.items() if v is not None and k != "type"]
        stamp = span(float(message.get("start", 0.0)), float(message.get("end", 0.0)))
        out.print(f"{escape(stamp)} [bold]{escape(str(message.get('transcript', '')))}[/bold]")
        out.print(f"    → {escape(str(intent.get('type')))} {escape(' '.join(fields))} "
                  f"[dim](confidence {float(message.get('confidence', 0.0)):.2f})[/dim]")
