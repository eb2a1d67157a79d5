"""The CLI's speech command: say a text with the configured voice, or write it to a WAV file."""

from __future__ import annotations

import os
import wave
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from voicedesk.cli_display import err, out
from voicedesk.cli_options import ConfigOption
from voicedesk.config import SpeechSettings, load_settings
from voicedesk.errors import VoicedeskError

if TYPE_CHECKING:
    from voicedesk.speech.synth import Speech, Synthesizer

ENGINES = ("piper", "espeak", "none")
"""The values `--engine` takes, as `[speech] engine` does."""


def speak(
    text: Annotated[str, typer.Argument(help="What to say.")],
    out_path: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write a WAV file instead of playing.")
    ] = None,
    engine: Annotated[
        str | None, typer.Option("--engine", help="piper, espeak or none (default [speech]).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Speak TEXT with the configured voice and output device, or write it to --out."""
    from voicedesk.speech.synth import make_synthesizer

    if not text.strip():
        raise VoicedeskError('speak needs some text, e.g. voicedesk speak "job 3 is done"')
    settings = speech_settings(load_settings(config).speech, engine)
    if out_path is not None:
        check_writable(out_path)
    synthesizer = make_synthesizer(settings)
    if synthesizer.name == "none":
        if out_path is not None:
            raise VoicedeskError("engine 'none' makes no audio: use --engine piper or espeak")
        err.print("[dim]speech is off ([speech] engine = none)[/dim]")
        return
    if out_path is not None:
        speech = synthesizer.synthesize(text)
        write_wav(out_path, speech)
        out.print(
            f"wrote {out_path} ({speech.duration:.2f} s, {speech.sample_rate} Hz, "
            f"{synthesizer.name})",
            markup=False,
        )
        return
    play_all(synthesizer, text, settings.output_device)


def speech_settings(settings: SpeechSettings, engine: str | None) -> SpeechSettings:
    """`[speech]` with `--engine` applied; a VoicedeskError for an engine that does not exist."""
    if engine is None:
        return settings
    if engine not in ENGINES:
        raise VoicedeskError(f"unknown engine {engine!r}: use {', '.join(ENGINES)}")
    voice = settings.voice if engine == settings.engine else None  # a voice is per engine
    return settings.model_copy(update={"engine": engine, "voice": voice})


def check_writable(path: Path) -> None:
    """A VoicedeskError unless a WAV file can be written at `path`."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise VoicedeskError(f"cannot write {path}: it is a folder")
    if not folder.is_dir():
        raise VoicedeskError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise VoicedeskError(f"cannot write {path}: permission denied")


def write_wav(path: Path, speech: Speech) -> None:
    """Write `speech` as a 16-bit mono WAV file."""
    try:
        with path.open("wb") as file, wave.open(file, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(speech.sample_rate)
            wav.writeframes(speech.pcm)
    except OSError as exc:
        raise VoicedeskError(f"cannot write {path}: {exc.strerror or exc}") from None


def play_all(synthesizer: Synthesizer, text: str, device: str | None) -> None:
    """Play `text` sentence by sentence on `device`, waiting until it has been heard."""
    from voicedesk.speech.player import Player

    player = Player(device)
    try:
        for speech in synthesizer.sentences(text):
            player.play(speech)
    except BaseException:
        player.stop()
        raise
    finally:
        player.close()
