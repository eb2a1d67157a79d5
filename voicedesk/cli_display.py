"""How the CLI shows what was heard: readable rich lines on a terminal, or JSON lines."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from rich.console import Console as RichConsole
from rich.markup import escape

if TYPE_CHECKING:
    from voicedesk.listener import Heard
    from voicedesk.live import LiveEvent

out = RichConsole(highlight=False, soft_wrap=True)
if not out.is_terminal and "COLUMNS" not in os.environ:
    out.width = 200  # piped to a file or a program: tables are not squeezed into 80 columns
err = RichConsole(stderr=True, highlight=False, soft_wrap=True)


def span(start: float, end: float) -> str:
    """'[  3.42-  6.10s]' for an utterance's place in its stream."""
    return f"[{start:6.2f}-{end:6.2f}s]"


def json_line(record: dict[str, Any]) -> None:
    """Print one JSON object on its own line, flushed at once."""
    print(json.dumps(record), flush=True)


def show_heard(heard: Heard, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    """Print one heard command as a JSON line or a readable block."""
    if as_json:
        json_line({**(extra or {}), **heard.to_json()})
        return
    for notice in heard.notices:
        out.print(f"[yellow]! {escape(notice.reply)}[/yellow]")
    intent = heard.intent
    fields = [f"{k}={v}" for k, v in intent.contract().items() if v is not None and k != "type"]
    utterance = heard.utterance
    stamp = f"{span(utterance.start, utterance.end)} " if utterance.pcm else ""
    out.print(f"{escape(stamp)}[bold]{escape(heard.transcript.text)}[/bold]")
    out.print(
        f"    → {intent.type} {escape(' '.join(fields))} "
        f"[dim](confidence {intent.confidence:.2f})[/dim]"
    )
    if heard.outcome is not None:
        mark = "?" if heard.outcome.kind == "question" else "✔"
        out.print(f"    {mark} {escape(heard.outcome.reply)}")


def show_event(event: LiveEvent, as_json: bool) -> None:
    """Print one live event: a state change, a partial, a command heard, a notice."""
    if event.kind == "heard" and event.heard is not None:
        show_heard(event.heard, as_json, {"event": "utterance"})
    elif as_json:
        latency = {} if event.latency_ms is None else {"latency_ms": event.latency_ms}
        json_line({"event": event.kind, "text": event.text, **latency})
    elif event.kind == "ready":
        out.print(f"[dim]Listening: {escape(event.text)}. Ctrl-C to stop.[/dim]")
    elif event.kind == "talking":
        out.print("[red]● talking[/red] [dim](space or enter, or `voicedesk ptt stop`)[/dim]")
    elif event.kind == "partial":
        out.print(f"[dim]… {escape(event.text)}[/dim]")
    elif event.kind == "ignored":
        out.print(f"[dim](no wake word) {escape(event.text)}[/dim]")
    elif event.kind == "notice":
        out.print(f"[yellow]! {escape(event.text)}[/yellow]")
    elif event.kind == "alert":
        out.print(f"[bold cyan]» {escape(event.text)}[/bold cyan]")
    elif event.kind == "speaking":
        out.print(f"[dim]  (says) {escape(event.text)}[/dim]")
