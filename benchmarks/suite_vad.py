"""vad: CPU time per second of audio of the VAD and segmenter over a long stream.

The stream is the command fixtures back to back, repeated to about a minute (smoke: about
five seconds). Three figures, each one sample per round: the whole cut (voicedesk's
detector, energy floor and webrtcvad, feeding the segmenter), the detector alone, and
webrtcvad alone on the same frames.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import webrtcvad

from benchmarks.harness import ROOT, Context, Figure, Goal, SuiteResult, command
from voicedesk.audio.files import load_audio
from voicedesk.audio.framing import frames
from voicedesk.audio.vad import utterances, webrtc_detector
from voicedesk.config import VadSettings
from voicedesk.types import SAMPLE_RATE, SAMPLE_WIDTH

FIXTURES = ROOT / "tests" / "fixtures"
STREAM_PIECES = (
    "multi_command", "dispatch_frontend", "status_job", "cancel_job", "experiment", "results",
    "infra_restart", "yes", "what_did_i_miss", "noise", "silence",
)
"""Fixtures concatenated (and repeated) into the stream."""

SECONDS, SMOKE_SECONDS = 60.0, 5.0
ROUNDS, SMOKE_ROUNDS = 5, 2
GOAL = Goal("<=", 0.5)
"""VAD CPU milliseconds per second of audio."""

_BYTES_PER_SECOND = SAMPLE_RATE * SAMPLE_WIDTH


def stream(seconds: float, folder: Path = FIXTURES) -> bytes:
    """The fixtures back to back, repeated and cut to `seconds` of 16 kHz mono s16le PCM."""
    pieces = [load_audio(folder / f"{name}.wav") for name in STREAM_PIECES]
    wanted = int(seconds * _BYTES_PER_SECOND) // SAMPLE_WIDTH * SAMPLE_WIDTH
    out = bytearray()
    while len(out) < wanted:
        for piece in pieces:
            out += piece
    return bytes(out[:wanted])


def cpu_ms_per_second(pcm: bytes, work: Callable[[bytes], object], repeats: int = 1) -> float:
    """CPU milliseconds `work(pcm)` spends per second of audio, over `repeats` passes."""
    began = time.process_time()
    for _ in range(repeats):
        work(pcm)
    spent = time.process_time() - began
    return spent * 1000.0 / (repeats * len(pcm) / _BYTES_PER_SECOND)


def cut(settings: VadSettings) -> Callable[[bytes], object]:
    """The VAD and segmenter over a whole recording: what `listen --file` runs."""
    return lambda pcm: list(utterances(pcm, settings))


def detector_only(settings: VadSettings) -> Callable[[bytes], object]:
    """voicedesk's per-frame detector (energy floor, then webrtcvad) on every frame."""

    def work(pcm: bytes) -> object:
        """Judge every frame of `pcm`."""
        detector = webrtc_detector(
            settings.aggressiveness, energy_floor_dbfs=settings.energy_floor_dbfs
        )
        return [detector(frame.pcm) for frame in frames(pcm, settings.frame_ms)]

    return work


def webrtc_only(settings: VadSettings) -> Callable[[bytes], object]:
    """Bare webrtcvad on every frame, with no energy floor and no segmenter."""

    def work(pcm: bytes) -> object:
        """Judge every frame of `pcm` with webrtcvad alone."""
        vad = webrtcvad.Vad(settings.aggressiveness)
        return [vad.is_speech(frame.pcm, SAMPLE_RATE) for frame in frames(pcm, settings.frame_ms)]

    return work


def detector_cpu_ms_per_second(clip: Path, repeats: int = 20) -> float:
    """CPU milliseconds the default detector spends per second of one clip's audio."""
    return cpu_ms_per_second(load_audio(clip), detector_only(VadSettings()), repeats)


def run(ctx: Context) -> SuiteResult:
    """Time the cut, the detector and bare webrtcvad over the stream for several rounds."""
    settings = VadSettings()
    pcm = stream(SMOKE_SECONDS if ctx.smoke else SECONDS)
    rounds = SMOKE_ROUNDS if ctx.smoke else ROUNDS
    samples: dict[str, list[float]] = {"cut": [], "detector": [], "webrtc": []}
    works = {"cut": cut(settings), "detector": detector_only(settings),
             "webrtc": webrtc_only(settings)}
    for work in works.values():
        work(pcm)  # warm: imports, first allocations
    for _ in range(rounds):
        for name, work in works.items():
            samples[name].append(cpu_ms_per_second(pcm, work))
    found = len(list(utterances(pcm, settings)))
    seconds = len(pcm) / _BYTES_PER_SECOND
    return SuiteResult(
        suite="vad",
        command=command("vad", ctx, model=False),
        model=f"webrtcvad aggressiveness {settings.aggressiveness}, {settings.frame_ms} ms frames",
        figures=(
            Figure.of(
                "VAD CPU per second of audio", "ms/s", samples["cut"], GOAL,
                note="detector + segmenter",
            ),
            Figure.of("detector alone (energy floor + webrtcvad)", "ms/s", samples["detector"]),
            Figure.of("webrtcvad alone", "ms/s", samples["webrtc"]),
        ),
        details={"stream_seconds": round(seconds, 2), "rounds": rounds,
                 "utterances_in_stream": found, "pieces": list(STREAM_PIECES)},
    )
