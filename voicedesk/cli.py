"""The `voicedesk` command line: parses arguments, loads config, builds the parts, runs them."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console as RichConsole
from rich.markup import escape
from rich.table import Table

from voicedesk.audio.files import load_audio
from voicedesk.config import Settings, load_settings
from voicedesk.errors import VoicedeskError
from voicedesk.listener import Heard, Listener
from voicedesk.store import Store
from voicedesk.stt.vocabulary import build_vocabulary
from voicedesk.stt.whisper import WhisperTranscriber
from voicedesk.types import SAMPLE_RATE, SAMPLE_WIDTH

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="voicedesk: whisper to your agents.",
)
out = RichConsole(highlight=False, soft_wrap=True)
err = RichConsole(stderr=True, highlight=False, soft_wrap=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Config file (default: $VOICEDESK_CONFIG).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Report intents; change nothing.")]
SAMPLE_WAV = Path(__file__).parent / "data" / "sample_commands.wav"


def _transcriber(settings: Settings) -> WhisperTranscriber:
    """Load and warm up the configured model with the vocabulary built from the config."""
    vocabulary = build_vocabulary(settings.agent_aliases(), settings.stt.vocabulary)
    transcriber = WhisperTranscriber(settings.stt, vocabulary)
    transcriber.warm_up()  # so the first command's timings are not the model's lazy setup
    return transcriber


def _store(settings: Settings) -> Store:
    """Open the store in the configured data directory."""
    return Store.in_dir(settings.data_dir())


def _show(heard: Heard, as_json: bool) -> None:
    """Print one heard command as a JSON line or a readable block."""
    if as_json:
        print(json.dumps(heard.to_json()), flush=True)
        return
    intent = heard.intent
    fields = [f"{k}={v}" for k, v in intent.contract().items() if v is not None and k != "type"]
    span = heard.utterance
    stamp = f"{_span(span.start, span.end)} " if span.pcm else ""
    out.print(f"{escape(stamp)}[bold]{escape(heard.transcript.text)}[/bold]")
    out.print(f"    → {intent.type} {escape(' '.join(fields))} "
              f"[dim](confidence {intent.confidence:.2f})[/dim]")
    if heard.outcome is not None:
        out.print(f"    ✔ {escape(heard.outcome.reply)}")


def _span(start: float, end: float) -> str:
    """'[  3.42-  6.10s]' for an utterance's place in its file."""
    return f"[{start:6.2f}-{end:6.2f}s]"


def _listen_file(path: Path, settings: Settings, dry_run: bool, as_json: bool) -> int:
    """Run one audio file through the whole pipeline; the exit code."""
    pcm = load_audio(path)
    store = None if dry_run else _store(settings)
    listener = Listener(settings, _transcriber(settings), store)
    count = 0
    for heard in listener.run(pcm, source=f"file:{path.name}"):
        _show(heard, as_json)
        count += 1
    if count == 0:
        err.print(f"no speech found in {path}")
    return 0


@app.command()
def listen(
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Audio file to hear.")] = None,
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Hear commands in an audio file and act on them."""
    if file is None:
        raise VoicedeskError("listen needs --file FILE: microphone capture is not built yet")
    raise typer.Exit(_listen_file(file, load_settings(config), dry_run, as_json))


@app.command()
def demo(config: ConfigOption = None) -> None:
    """Run the bundled sample WAV through the pipeline into a throwaway store."""
    settings = load_settings(config)
    with tempfile.TemporaryDirectory(prefix="voicedesk-demo-") as data_dir:
        settings = settings.model_copy(
            update={"store": settings.store.model_copy(update={"data_dir": Path(data_dir)})}
        )
        out.print(f"[dim]Hearing {SAMPLE_WAV.name} (a throwaway store; yours is untouched)[/dim]")
        _listen_file(SAMPLE_WAV, settings, dry_run=False, as_json=False)
        _print_jobs(_store(settings), agent=None)


@app.command()
def transcribe(
    file: Annotated[Path, typer.Argument(help="Audio file to transcribe.")],
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Print what the model hears in each utterance of a file, with timings."""
    settings = load_settings(config)
    pcm = load_audio(file)
    began = time.perf_counter()
    transcriber = _transcriber(settings)
    load_s = time.perf_counter() - began
    listener = Listener(settings, transcriber)
    total, heard_any = 0.0, False
    for utterance in listener.utterances(pcm):
        result = transcriber.transcribe(utterance.pcm)
        total += result.seconds
        heard_any = heard_any or bool(result.text)
        rtf = result.seconds / max(utterance.duration, 1e-6)
        row = {"start": round(utterance.start, 3), "end": round(utterance.end, 3),
               "text": result.text, "transcribe_ms": round(result.seconds * 1000, 1),
               "rtf": round(rtf, 3)}
        if as_json:
            print(json.dumps(row), flush=True)
        elif result.text:
            out.print(f"{escape(_span(utterance.start, utterance.end))} {escape(result.text)} "
                      f"[dim]({row['transcribe_ms']:.0f} ms, RTF {rtf:.2f})[/dim]")
    audio_s = len(pcm) / (SAMPLE_RATE * SAMPLE_WIDTH)
    if not heard_any:
        err.print(f"no speech found in {file}")
    if not as_json:
        out.print(f"[dim]{audio_s:.1f} s of audio; model load and warm-up {load_s:.2f} s; "
                  f"transcription {total:.2f} s ({transcriber.choice.device}, "
                  f"{transcriber.choice.compute_type})[/dim]")


@app.command()
def say(
    text: Annotated[str, typer.Argument(help="The command, as you would say it.")],
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Type a command instead of speaking it: same parser, same console."""
    settings = load_settings(config)
    if not text.strip():
        raise VoicedeskError("say needs some text, e.g. voicedesk say \"status\"")
    store = None if dry_run else _store(settings)
    listener = Listener(settings, transcriber=None, store=store)
    _show(listener.say(text), as_json)


def _print_jobs(store: Store, agent: str | None) -> None:
    """Print the jobs table."""
    jobs = store.jobs(agent=agent)
    if not jobs:
        out.print("No jobs yet.")
        return
    table = Table("id", "agent", "status", "task", "created")
    for job in jobs:
        created = datetime.fromtimestamp(job.created_at).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(str(job.id), job.agent, job.status, job.task, created)
    out.print(table)


@app.command()
def jobs(
    agent: Annotated[str | None, typer.Option(help="Only this agent's jobs.")] = None,
    config: ConfigOption = None,
) -> None:
    """List jobs, newest first."""
    _print_jobs(_store(load_settings(config)), agent)


def main() -> None:
    """Entry point: run the app; every error is one line on stderr and a non-zero exit."""
    command = typer.main.get_command(app)
    try:
        code = command.main(standalone_mode=False)
    except VoicedeskError as exc:
        err.print(f"voicedesk: error: {exc}", markup=False)
        code = 1
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        err.print("voicedesk: interrupted")
        code = 130
    except Exception as exc:  # the last line of defence: one line, never a traceback
        if os.environ.get("VOICEDESK_DEBUG"):
            traceback.print_exc()
        err.print(f"voicedesk: internal error: {type(exc).__name__}: {exc} "
                  "(set VOICEDESK_DEBUG=1 for the traceback)", markup=False)
        code = 70
    sys.exit(code if isinstance(code, int) else 0)
