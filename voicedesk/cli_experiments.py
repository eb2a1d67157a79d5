"""The experiment commands of the CLI: `experiments` (the table, `export`), `submit`, `worker`."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Protocol

import typer
from rich.markup import escape
from rich.table import Table

from voicedesk.cli_display import err, json_line, out
from voicedesk.cli_options import ConfigOption, JsonOption, open_store
from voicedesk.config import Settings, load_settings
from voicedesk.errors import VoicedeskError
from voicedesk.experiments.export import EXPORTED, results_tsv
from voicedesk.experiments.ledger import Ledger, Submission

if TYPE_CHECKING:
    from voicedesk.types import Experiment

STATUSES = ("queued", "running", "keep", "discard", "crash", "cancelled", "needs_change")
_STYLE = {"queued": "cyan", "running": "blue", "keep": "green", "discard": "yellow",
          "crash": "red", "cancelled": "magenta", "needs_change": "yellow"}
WATCH_POLL_S = 1.0
"""How often `worker` looks for status changes to print."""

experiments_app = typer.Typer(no_args_is_help=False)


def _ledger(settings: Settings) -> Ledger:
    """The ledger in the configured store."""
    return Ledger(open_store(settings), settings.experiments)


def _metric(e: Experiment) -> str:
    """The metric value for the table ('' when none)."""
    return f"{e.metric_value:.6g}" if e.metric_value is not None else ""


def _memory_gb(e: Experiment) -> str:
    """Peak GPU memory in GB ('' when none)."""
    return f"{e.peak_vram_mb / 1024:.1f}" if e.peak_vram_mb is not None else ""


def print_experiments(found: list[Experiment], metric_name: str) -> None:
    """Print the experiments table."""
    table = Table("id", "status", metric_name, "memory GB", "description", "proposed by",
                  "reason")
    for e in found:
        style = _STYLE.get(e.status, "")
        table.add_row(str(e.id), f"[{style}]{e.status}[/{style}]", _metric(e), _memory_gb(e),
                      escape(e.description), escape(e.proposed_by), escape(e.reason or ""))
    out.print(table)


@experiments_app.callback(invoke_without_command=True)
def experiments(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """List experiments, newest first; `experiments export` writes results.tsv."""
    if ctx.invoked_subcommand is not None:
        return
    if status is not None and status not in STATUSES:
        raise VoicedeskError(f"unknown status {status!r}: use {', '.join(STATUSES)}")
    settings = load_settings(config)
    found = _ledger(settings).all((status,) if status else ())
    if as_json:
        for e in found:
            json_line({k: v for k, v in e.__dict__.items() if k != "patch"})
    elif not found:
        out.print(f"No {status} experiments." if status else "No experiments yet.")
    else:
        print_experiments(found, settings.experiments.metric_name)


@experiments_app.command()
def export(
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here (default: standard output).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Finished runs as autoresearch's results.tsv, oldest first."""
    settings = load_settings(config)
    found = _ledger(settings).all(EXPORTED, limit=1_000_000)
    text = results_tsv(found, settings.experiments.metric_name)
    if out_file is None:
        sys.stdout.write(text)
        return
    try:
        out_file.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise VoicedeskError(f"cannot write {out_file}: {exc.strerror}") from None
    err.print(f"wrote {len(found)} runs to {out_file}", markup=False)


def _read_patch(path: Path) -> str:
    """A patch file's text, or a one-line error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VoicedeskError(f"no patch file {path}") from None
    except IsADirectoryError:
        raise VoicedeskError(f"{path} is a folder, not a patch file") from None
    except UnicodeDecodeError:
        raise VoicedeskError(f"patch file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise VoicedeskError(f"cannot read patch file {path}: {exc.strerror}") from None
    if not text.strip():
        raise VoicedeskError(f"patch file {path} is empty")
    return text


def _submission(settings: Settings, command: str | None, patch: Path | None,
                description: str | None, budget: float | None) -> Submission:
    """The checked parts of a submission: command, patch, description and budget."""
    if command is not None and not command.strip():
        raise VoicedeskError("--command is blank")
    if description is not None and not description.strip():
        raise VoicedeskError("--description is blank")
    hard = settings.experiments.hard_limit_s
    if budget is not None and not 0 < budget <= hard:
        raise VoicedeskError(f"--budget must be above 0 and at most [experiments] hard_limit_s "
                             f"({hard:g} s), not {budget:g}")
    run = command.strip() if command else settings.experiments.command
    told = " ".join(description.split()) if description else None
    return Submission(
        description=told or (f"{run} with {patch.name}" if patch else run),
        proposed_by="cli", command=run, patch=_read_patch(patch) if patch else None,
        budget_s=budget,
    )


def submit(
    command: Annotated[str | None, typer.Option(
        help="How the run starts (default: the config's experiments.command).")] = None,
    patch: Annotated[Path | None, typer.Option(help="A unified diff to apply first.")] = None,
    description: Annotated[str | None, typer.Option(help="What the change is.")] = None,
    repo: Annotated[Path | None, typer.Option(help="The training repo.")] = None,
    branch: Annotated[str | None, typer.Option(help="Start from this branch.")] = None,
    budget: Annotated[float | None, typer.Option(help="Time budget in seconds.")] = None,
    key: Annotated[str | None, typer.Option(help="Idempotency key: a repeat is a no-op.")] = None,
    config: ConfigOption = None,
) -> None:
    """Queue an experiment (one change, a time budget, one metric); prints its number."""
    settings = load_settings(config)
    if key is not None and not key.strip():
        raise VoicedeskError("--key is blank")
    sub = _submission(settings, command, patch, description, budget)
    sub = replace(sub, repo=str(repo.expanduser().resolve()) if repo else None,
                  branch=branch or None, idempotency_key=key.strip() if key else None)
    experiment, created = _ledger(settings).submit(sub)
    if not created:
        err.print(f"experiment {experiment.id} was already submitted with this key",
                  markup=False)
    print(experiment.id, flush=True)


def parse_gpus(spec: str | None) -> list[str]:
    """`--gpus`: '0,1' or 'cpu'; without it, $CUDA_VISIBLE_DEVICES, nvidia-smi's, or cpu."""
    if spec is None:
        return _detected_gpus()
    if spec.strip().lower() == "cpu":
        return ["cpu"]
    parts = [part.strip() for part in spec.split(",")]
    if not all(re.fullmatch(r"[0-9]{1,4}", part) for part in parts):
        raise VoicedeskError(f"--gpus takes GPU numbers like 0,1 or cpu, not {spec!r}")
    gpus = [str(int(part)) for part in parts]
    if len(set(gpus)) != len(gpus):
        raise VoicedeskError(f"--gpus names a GPU twice: {spec!r}")
    return gpus


def _detected_gpus() -> list[str]:
    """The GPUs this machine offers: $CUDA_VISIBLE_DEVICES, else nvidia-smi's list, else cpu."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g.strip() for g in visible.split(",") if g.strip() not in ("", "-1")] or ["cpu"]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return ["cpu"]
    try:
        listed = subprocess.run([smi, "--query-gpu=index", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError):
        return ["cpu"]
    return [line.strip() for line in listed.stdout.splitlines() if line.strip()] or ["cpu"]


class _Runs(Protocol):
    """A worker or a dispatcher: runs experiments until `stop` is set."""

    async def run(self, stop: asyncio.Event) -> None:
        """Run until stopped."""


def _runner(settings: Settings, gpus: list[str]) -> _Runs:
    """The embedded Worker on `gpus`, or the RayDispatcher (imported only when used)."""
    runner: _Runs
    if settings.experiments.backend == "ray":
        from voicedesk.experiments.ray_backend import RayDispatcher

        runner = RayDispatcher(settings, open_store(settings))
    else:
        from voicedesk.experiments.worker import Worker

        runner = Worker(settings, open_store(settings), gpus)
    return runner


def change_line(e: Experiment) -> str:
    """One printed line for an experiment's new status."""
    stamp = datetime.now().strftime("%H:%M:%S")
    detail = ""
    if e.status == "running":
        detail = f" on {e.worker or '?'}" + (f" gpu {e.gpu}" if e.gpu else "")
    elif e.reason:
        detail = f": {e.reason}"
    return f"{stamp} #{e.id} {e.status} {e.description[:80]}{detail}"


async def watch(ledger: Ledger, stop: asyncio.Event, poll_s: float = WATCH_POLL_S) -> None:
    """Print a line for each experiment status change until `stop` is set."""
    seen = {e.id: (e.status, e.attempts) for e in ledger.all(limit=10_000)}
    while True:
        for e in reversed(ledger.all(limit=10_000)):
            if seen.get(e.id) != (e.status, e.attempts):
                seen[e.id] = (e.status, e.attempts)
                style = _STYLE.get(e.status, "")
                out.print(f"[{style}]{escape(change_line(e))}[/{style}]")
        if stop.is_set():
            return
        try:
            await asyncio.wait_for(stop.wait(), poll_s)
        except TimeoutError:
            continue


async def run_worker(settings: Settings, gpus: list[str]) -> None:
    """Run the worker (or dispatcher) until Ctrl-C or SIGTERM, printing status changes."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    runner = _runner(settings, gpus)
    where = f"gpus {','.join(gpus)}" if gpus else settings.experiments.ray_address or "ray"
    err.print(f"[dim]worker ({settings.experiments.backend}, {escape(where)}); "
              "Ctrl-C to stop[/dim]")
    watcher = asyncio.create_task(watch(_ledger(settings), stop))
    try:
        await runner.run(stop)
    finally:
        stop.set()
        await watcher


def worker(
    gpus: Annotated[str | None, typer.Option(
        help="GPUs to run on: 0,1 or cpu (default: all this machine has).")] = None,
    config: ConfigOption = None,
) -> None:
    """Run queued experiments until Ctrl-C: one per GPU (backend "ray": on the cluster)."""
    settings = load_settings(config)
    if settings.experiments.backend == "ray" and gpus is not None:
        raise VoicedeskError('--gpus is for the embedded backend; with backend = "ray" '
                             "the Ray cluster places each run")
    chosen = parse_gpus(gpus) if settings.experiments.backend == "embedded" else []
    asyncio.run(run_worker(settings, chosen))
