"""The `voicedesk` command line: parses arguments, loads config, builds the parts, runs them."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import click
import typer

try:
    from typer._click.exceptions import ClickException as ClickUsage
except ImportError:  # a typer that uses click itself
    from click import ClickException as ClickUsage  # type: ignore[assignment]
from pydantic import ValidationError
from rich.markup import escape

from voicedesk import cli_bench, cli_experiments, cli_jobs, cli_speech, cli_tools
from voicedesk.agents.runner import ended_line
from voicedesk.cli_display import err, out, show_event, show_heard
from voicedesk.cli_options import (
    ConfigOption,
    DryRunOption,
    JsonOption,
    NoRunOption,
    control_path,
    open_store,
)
from voicedesk.config import ListenSettings, Settings, load_settings
from voicedesk.errors import VoicedeskError

if TYPE_CHECKING:  # the heavy parts are imported by the commands that use them
    from voicedesk.listener import Heard

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="voicedesk: whisper to your agents.",
)

SAMPLE_WAV = Path(__file__).parent / "data" / "sample_commands.wav"


def _run_created(settings: Settings, job_ids: list[int], as_json: bool) -> None:
    """Run the jobs just created to their end, showing their events, then how each ended."""
    if not job_ids:
        return
    asyncio.run(cli_jobs.run_runner(settings, only=job_ids, as_json=as_json))
    store = open_store(settings)
    for job in filter(None, map(store.job, job_ids)):
        if as_json:
            print(json.dumps({"event": "job_ended", **job.__dict__, "log": None}), flush=True)
        else:
            style = "green" if job.status == "done" else "red"
            out.print(f"[{style}]{escape(ended_line(job))}[/{style}]")


def _listen_file(
    path: Path, settings: Settings, dry_run: bool, as_json: bool, run_jobs: bool = True
) -> int:
    """Run one audio file through the whole pipeline (then its jobs); the exit code."""
    from voicedesk.audio.files import load_audio
    from voicedesk.listener import Listener

    pcm = load_audio(path)
    store = None if dry_run else open_store(settings)
    listener = Listener(settings, cli_tools.load_model(settings), store)
    created: list[int] = []
    count = 0
    for heard in listener.run(pcm, source=f"file:{path.name}"):
        show_heard(heard, as_json)
        created += _created_jobs(heard)
        count += 1
    if count == 0:
        err.print(f"no speech found in {path}")
    if run_jobs and not dry_run:
        _run_created(settings, created, as_json)
    return 0


def _created_jobs(heard: Heard) -> list[int]:
    """The jobs a heard command queued (none for status answers, cancels, questions)."""
    outcome = heard.outcome
    if outcome is None or not outcome.action.endswith(("job_created", "experiment_queued")):
        return []
    return list(outcome.job_ids)


def _listen_live(settings: Settings, options: LiveOptions) -> int:
    """Listen to the microphone until Ctrl-C or SIGTERM; the exit code."""
    from voicedesk.audio.capture import resolve_device
    from voicedesk.session import SessionOptions, run_session
    from voicedesk.stats import format_summary

    if options.push_to_talk and not sys.stdin.isatty():
        err.print("[dim]no terminal: drive push-to-talk with `voicedesk ptt start|stop`[/dim]")
    device = resolve_device(options.device or settings.listen.device)
    store = None if options.dry_run else open_store(settings)
    transcriber = cli_tools.load_model(settings)
    short_decode_s = transcriber.short_decode_s  # measured by the warm-up in load_model
    partials = settings.listen.partials == "on" or (
        settings.listen.partials == "auto"
        and short_decode_s is not None
        and short_decode_s < 0.25 * settings.listen.partial_interval_s
    )
    session = SessionOptions(
        device=device,
        push_to_talk=options.push_to_talk,
        partials=partials,
        control_path=control_path(settings),
        run_jobs=options.run_jobs,
        speak=options.speak,
    )
    listener = asyncio.run(
        run_session(settings, transcriber, store, session, lambda e: show_event(e, options.as_json))
    )
    if options.stats:
        for line in format_summary(listener.timings) or ["no commands heard"]:
            err.print(line, markup=False)
    return 0


@dataclass(frozen=True)
class LiveOptions:
    """The command-line switches of a live `listen`."""

    device: str | None
    push_to_talk: bool
    dry_run: bool
    as_json: bool
    stats: bool
    run_jobs: bool
    speak: bool = True


@app.command()
def listen(
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Audio file to hear.")] = None,
    device: Annotated[
        str | None, typer.Option("--device", "-d", help="Input device: index or name part.")
    ] = None,
    ptt: Annotated[bool, typer.Option("--ptt", help="Push-to-talk instead of hands-free.")] = False,
    wake_word: Annotated[
        str | None, typer.Option("--wake-word", help="Only commands starting with this word.")
    ] = None,
    partials: Annotated[
        str | None, typer.Option("--partials", help="Partial transcripts: auto, on or off.")
    ] = None,
    stats: Annotated[bool, typer.Option("--stats", help="Print p50/p95 timings at exit.")] = False,
    remote: Annotated[
        str | None, typer.Option("--remote", help="Stream to this voicedesk server instead.")
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", help="The --remote server's token ($VOICEDESK_TOKEN).")
    ] = None,
    fast: Annotated[
        bool, typer.Option("--fast", help="With --remote --file: send as fast as possible.")
    ] = False,
    silent: Annotated[
        bool, typer.Option("--silent", help="Do not speak replies and alerts (print them).")
    ] = False,
    dry_run: DryRunOption = False,
    no_run: NoRunOption = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Hear commands from the microphone (or an audio file) and act on them, running the jobs."""
    settings = load_settings(config)
    overrides = {"wake_word": wake_word, "partials": partials}
    listen_settings = {k: v for k, v in overrides.items() if v is not None}
    if listen_settings:
        settings = _with_listen(settings, listen_settings)
    if remote is not None:
        from voicedesk.remote import RemoteOptions, listen_remote, refuse_local_only

        refuse_local_only(dry_run, no_run, wake_word)
        remote_options = RemoteOptions(
            remote, token, file, fast, ptt, settings.listen.partials == "on", as_json, stats,
            control_path(settings), speech=None if silent else settings.speech,
        )
        device_spec = device or settings.listen.device
        raise typer.Exit(listen_remote(remote_options, settings.vad.frame_ms, device_spec))
    if token is not None or fast:
        raise VoicedeskError("--token and --fast only go with --remote URL")
    if file is not None:
        raise typer.Exit(_listen_file(file, settings, dry_run, as_json, not no_run))
    options = LiveOptions(device, ptt, dry_run, as_json, stats, not no_run, not silent)
    raise typer.Exit(_listen_live(settings, options))


def _with_listen(settings: Settings, values: dict[str, str]) -> Settings:
    """Settings with `[listen]` keys replaced, validated like the config file."""
    merged = {**settings.listen.model_dump(), **values}
    try:
        listen_settings = ListenSettings.model_validate(merged)
    except ValidationError as exc:
        raise VoicedeskError(f"bad option: {exc.errors()[0]['msg']}") from None
    return settings.model_copy(update={"listen": listen_settings})


@app.command()
def demo(config: ConfigOption = None) -> None:
    """Run the bundled sample WAV through the pipeline into a throwaway store."""
    settings = load_settings(config)
    with tempfile.TemporaryDirectory(prefix="voicedesk-demo-") as data_dir:
        settings = settings.model_copy(
            update={"store": settings.store.model_copy(update={"data_dir": Path(data_dir)})}
        )
        out.print(f"[dim]Hearing {SAMPLE_WAV.name} (a throwaway store; yours is untouched)[/dim]")
        _listen_file(SAMPLE_WAV, settings, dry_run=False, as_json=False, run_jobs=False)
        cli_jobs.print_jobs(open_store(settings), agent=None)


@app.command()
def say(
    text: Annotated[str, typer.Argument(help="The command, as you would say it.")],
    dry_run: DryRunOption = False,
    no_run: NoRunOption = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Type a command instead of speaking it: same parser, same console; runs the job it makes."""
    from voicedesk.listener import Listener

    settings = load_settings(config)
    if not text.strip():
        raise VoicedeskError('say needs some text, e.g. voicedesk say "status"')
    store = None if dry_run else open_store(settings)
    listener = Listener(settings, transcriber=None, store=store)
    heard = listener.say(text)
    show_heard(heard, as_json)
    if not dry_run and not no_run:
        _run_created(settings, _created_jobs(heard), as_json)


app.command()(cli_tools.devices)
app.command("ptt")(cli_tools.ptt_command)
app.command()(cli_tools.transcribe)
app.command()(cli_tools.serve)
app.command("speak")(cli_speech.speak)
app.command()(cli_jobs.run)
app.command()(cli_jobs.jobs)
app.command()(cli_jobs.job)
app.add_typer(cli_experiments.experiments_app, name="experiments")
app.command()(cli_experiments.submit)
app.command()(cli_experiments.worker)
app.command("bench", context_settings=cli_bench.CONTEXT_SETTINGS, add_help_option=False)(
    cli_bench.bench
)


def main() -> None:
    """Entry point: run the app; every error is one line on stderr and a non-zero exit."""
    command = typer.main.get_command(app)
    try:
        code = command.main(standalone_mode=False)
    except VoicedeskError as exc:
        err.print(f"voicedesk: error: {exc}", markup=False)
        code = 1
    except (click.exceptions.Exit, typer.Exit) as exc:
        code = exc.exit_code
    except (click.ClickException, ClickUsage) as exc:  # typer >= 0.20 bundles its own click
        exc.show()
        code = exc.exit_code
    except (click.exceptions.Abort, typer.Abort, KeyboardInterrupt):
        err.print("voicedesk: interrupted")
        code = 130
    except Exception as exc:  # the last line of defence: one line, never a traceback
        if os.environ.get("VOICEDESK_DEBUG"):
            traceback.print_exc()
        err.print(
            f"voicedesk: internal error: {type(exc).__name__}: {exc} "
            "(set VOICEDESK_DEBUG=1 for the traceback)",
            markup=False,
        )
        code = 70
    sys.exit(code if isinstance(code, int) else 0)
