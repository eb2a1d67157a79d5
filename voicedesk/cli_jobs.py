"""The job commands of the CLI: `run` (the runner), `jobs` (the table, or following it), `job`."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from voicedesk.agents.runner import Runner, ended_line
from voicedesk.alerts.policy import Routing
from voicedesk.alerts.watcher import AlertWatcher, OnAlert
from voicedesk.cli_display import err, json_line, out
from voicedesk.cli_options import ConfigOption, JsonOption, open_store
from voicedesk.config import Settings, load_settings
from voicedesk.errors import VoicedeskError

if TYPE_CHECKING:
    from voicedesk.store import Store
    from voicedesk.types import Alert, JobEvent

_STATUS_STYLE = {"queued": "cyan", "running": "yellow", "done": "green", "failed": "red",
                 "cancelled": "magenta"}


def _clock(at: float | None) -> str:
    """A timestamp as local 'YYYY-MM-DD HH:MM:SS' (or '-')."""
    return datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S") if at else "-"


def show_event(event: JobEvent, as_json: bool) -> None:
    """Print one job event as a line (or a JSON object)."""
    if as_json:
        json_line({"event": "job_event", "job": event.job_id, "at": event.at,
                   "kind": event.kind, "message": event.message})
        return
    stamp = datetime.fromtimestamp(event.at).strftime("%H:%M:%S")
    lines = event.message.splitlines() or [""]
    shown = lines[-1] if event.kind == "output" else lines[0]  # output: its latest line
    more = f" [dim](+{len(lines) - 1} lines)[/dim]" if len(lines) > 1 else ""
    out.print(f"[dim]{stamp}[/dim] #{event.job_id} {event.kind:<7} {escape(shown[:200])}{more}")


def print_jobs(store: Store, agent: str | None) -> None:
    """Print the jobs table, newest first."""
    jobs = store.jobs(agent=agent)
    if not jobs:
        out.print("No jobs yet.")
        return
    table = Table("id", "agent", "status", "task", "created", "result")
    for job in jobs:
        style = _STATUS_STYLE.get(job.status, "")
        outcome = job.error or job.result or ""
        table.add_row(str(job.id), job.agent, f"[{style}]{job.status}[/{style}]",
                      escape(job.task), _clock(job.created_at), escape(outcome[:80]))
    out.print(table)


async def follow_events(
    store: Store,
    after_id: int,
    as_json: bool,
    stop: asyncio.Event,
    jobs: Collection[int] = (),
    poll_s: float = 0.3,
) -> int:
    """Print job events (of `jobs` only, when given) as they are stored until `stop` is set;
    the id of the last event read."""
    while True:
        for event in store.events_since(after_id):
            if not jobs or event.job_id in jobs:
                show_event(event, as_json)
            after_id = event.id
        if stop.is_set():
            return after_id
        try:
            await asyncio.wait_for(stop.wait(), poll_s)
        except TimeoutError:
            continue


def _stop_on_signals(stop: asyncio.Event) -> None:
    """Ctrl-C and SIGTERM set `stop` (running jobs then end cleanly)."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)


async def run_runner(settings: Settings, only: Collection[int] = (), as_json: bool = False) -> None:
    """Run the runner (until stopped, or until the `only` jobs end), printing job events: all
    new ones, or with `only`, those jobs' events from their first."""
    store = open_store(settings)
    stop, printed = asyncio.Event(), asyncio.Event()
    _stop_on_signals(stop)
    runner = Runner(settings, store)
    firsts = [events[0].id for job_id in only if (events := store.events(job_id))]
    after = min(firsts) - 1 if firsts else store.last_event_id()
    if not only:
        err.print(f"[dim]runner {runner.owner}: agents {', '.join(settings.agents)}; "
                  "Ctrl-C to stop[/dim]")
    follower = asyncio.create_task(follow_events(store, after, as_json, printed, set(only)))
    watcher_stop = asyncio.Event()
    told = _print_alert(as_json) if not only else _ignore_alert
    watcher = asyncio.create_task(AlertWatcher(store.path, settings.alerts, told).run(watcher_stop))
    try:
        await runner.run(stop, only=only)
    finally:
        printed.set()
        watcher_stop.set()
        await follower
        await watcher


def _print_alert(as_json: bool) -> OnAlert:
    """Print each alert shown (the runner on its own has no voice)."""

    def told(alert: Alert, routing: Routing) -> None:
        """One alert line, or one JSON line."""
        if not routing.show:
            return
        if as_json:
            print(json.dumps({"event": "alert", **alert.to_dict()}), flush=True)
        else:
            err.print(f"[bold cyan]» {escape(alert.text)}[/bold cyan]")

    return told


def _ignore_alert(alert: Alert, routing: Routing) -> None:
    """`say` and `listen --file` print how their jobs ended; their alerts go to webhooks only."""


def run(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Run queued jobs on their agents until Ctrl-C (the runner on its own)."""
    asyncio.run(run_runner(load_settings(config), as_json=as_json))


def jobs(
    agent: Annotated[str | None, typer.Option(help="Only this agent's jobs.")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Then print events live.")] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """List jobs, newest first; --follow prints job events as they happen."""
    store = open_store(load_settings(config))
    if not as_json:
        print_jobs(store, agent)
    if follow:
        asyncio.run(_follow(store, as_json))


async def _follow(store: Store, as_json: bool) -> None:
    """Follow events until Ctrl-C."""
    stop = asyncio.Event()
    _stop_on_signals(stop)
    await follow_events(store, store.last_event_id(), as_json, stop)


def job(
    job_id: Annotated[int, typer.Argument(help="The job's number.")],
    log: Annotated[bool, typer.Option("--log", help="Also print the full log.")] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Show one job: its status, result, events and (with --log) the full log."""
    store = open_store(load_settings(config))
    found = store.job(job_id)
    if found is None:
        raise VoicedeskError(f"there is no job {job_id}")
    events = store.events(job_id)
    if as_json:
        record = {**found.__dict__, "events": [e.__dict__ for e in events]}
        print(json.dumps(record), flush=True)
        return
    out.print(f"[bold]{escape(ended_line(found))}[/bold]")
    out.print(f"task: {escape(found.task)}")
    for label, value in (("session", found.session_id), ("worktree", found.worktree),
                         ("cost", f"${found.cost_usd:.4f}" if found.cost_usd else None)):
        if value:
            out.print(f"{label}: {escape(value)}")
    for event in events:
        show_event(event, as_json=False)
    if log and found.log:
        out.print(escape(found.log), markup=True)
