"""The CLI's tool commands: input devices, push-to-talk control, transcription, the service."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from voicedesk.audio.control import send_control_sync
from voicedesk.cli_display import err, out, span
from voicedesk.cli_options import ConfigOption, JsonOption, NoRunOption, control_path
from voicedesk.config import Settings, load_settings
from voicedesk.errors import VoicedeskError

if TYPE_CHECKING:
    from voicedesk.stt.whisper import WhisperTranscriber


def load_model(settings: Settings) -> WhisperTranscriber:
    """Load and warm up the configured speech model (imported only when a command needs it)."""
    from voicedesk.stt.whisper import load_transcriber

    return load_transcriber(settings)


def devices() -> None:
    """List the input devices `listen --device` can use."""
    from voicedesk.audio.capture import list_input_devices

    table = Table("index", "name", "channels", "default rate", "default")
    for device in list_input_devices():
        table.add_row(
            str(device.index),
            device.name,
            str(device.channels),
            f"{device.default_rate:.0f}",
            "*" if device.is_default else "",
        )
    out.print(table)


def ptt_command(
    action: Annotated[str, typer.Argument(help="start, stop, toggle, status or hush.")],
    config: ConfigOption = None,
) -> None:
    """Tell the running `listen --ptt` to start or stop listening (for desktop shortcuts);
    `hush` stops the console speaking (any listener)."""
    if action not in ("start", "stop", "toggle", "status", "hush"):
        raise VoicedeskError(
            f"unknown ptt action {action!r}: use start, stop, toggle, status or hush"
        )
    settings = load_settings(config)
    path = control_path(settings)
    line = action if action in ("status", "hush") else f"ptt {action}"
    reply = send_control_sync(path, line)
    if reply.startswith("error"):
        raise VoicedeskError(reply.removeprefix("error: "))
    out.print(reply.removeprefix("ok "), markup=False)


def transcribe(
    file: Annotated[Path, typer.Argument(help="Audio file to transcribe.")],
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Print what the model hears in each utterance of a file, with timings."""
    from voicedesk.audio.files import load_audio
    from voicedesk.listener import Listener
    from voicedesk.types import SAMPLE_RATE, SAMPLE_WIDTH

    settings = load_settings(config)
    pcm = load_audio(file)
    began = time.perf_counter()
    transcriber = load_model(settings)
    load_s = time.perf_counter() - began
    listener = Listener(settings, transcriber)
    total, heard_any = 0.0, False
    for utterance in listener.utterances(pcm):
        result = transcriber.transcribe(utterance.pcm)
        total += result.seconds
        heard_any = heard_any or bool(result.text)
        rtf = result.seconds / max(utterance.duration, 1e-6)
        row = {
            "start": round(utterance.start, 3),
            "end": round(utterance.end, 3),
            "text": result.text,
            "transcribe_ms": round(result.seconds * 1000, 1),
            "rtf": round(rtf, 3),
        }
        if as_json:
            print(json.dumps(row), flush=True)
        elif result.text:
            out.print(
                f"{escape(span(utterance.start, utterance.end))} {escape(result.text)} "
                f"[dim]({row['transcribe_ms']:.0f} ms, RTF {rtf:.2f})[/dim]"
            )
    audio_s = len(pcm) / (SAMPLE_RATE * SAMPLE_WIDTH)
    if not heard_any:
        err.print(f"no speech found in {file}")
    if not as_json:
        out.print(
            f"[dim]{audio_s:.1f} s of audio; model load and warm-up {load_s:.2f} s; "
            f"transcription {total:.2f} s ({transcriber.choice.device}, "
            f"{transcriber.choice.compute_type})[/dim]"
        )


def serve(
    host: Annotated[str | None, typer.Option(help="Address (default [serve] host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default [serve] port).")] = None,
    no_run: NoRunOption = False,
    config: ConfigOption = None,
) -> None:
    """Serve the API, the push-to-talk page and remote microphones (FastAPI on uvicorn)."""
    from voicedesk.api.auth import check_bind, service_token
    from voicedesk.api.server import serve as run_server

    settings = load_settings(config)
    changes = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    if changes:
        merged = {**settings.serve.model_dump(), **changes}
        settings = settings.model_copy(update={"serve": type(settings.serve)(**merged)})
    check_bind(settings.serve.host, service_token(settings))  # before the model loads
    err.print(f"[dim]loading {settings.stt.model} ...[/dim]")
    run_jobs = settings.serve.run_jobs and not no_run
    run_server(settings, load_model(settings), run_jobs=run_jobs)
