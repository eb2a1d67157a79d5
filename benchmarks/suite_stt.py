"""stt: voicedesk's transcriber per utterance next to a bare faster-whisper call, same model.

Both run on the same loaded model object and the same clips in the same process,
interleaved per clip (the order flips every round), after a warm-up of each. Also times the
encoder alone on one short clip padded to Whisper's 30-second window: what every short
command pays whatever its length.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    ROOT,
    Context,
    Figure,
    Goal,
    SuiteResult,
    agents_config,
    command,
    settings_for,
)
from benchmarks.scoring import load_labels
from voicedesk.audio.files import load_audio
from voicedesk.stt.whisper import load_transcriber, pcm_to_float
from voicedesk.types import SAMPLE_RATE, SAMPLE_WIDTH

FIXTURES = ROOT / "tests" / "fixtures"
COMMAND_CLIPS = (
    "dispatch_frontend", "status_job", "cancel_job", "experiment", "results",
    "infra_restart", "yes", "what_did_i_miss",
)
"""The fixture commands timed by default (tests/fixtures/NAME.wav)."""

ROUNDS, SMOKE_ROUNDS, SMOKE_CLIPS = 6, 1, 2
"""Rounds over the clips (each times ours, bare and bare with our prompt, order rotating)."""
OVERHEAD_GOAL = Goal("<=", 1.05)
ENCODER_REPEATS, SMOKE_ENCODER_REPEATS = 10, 2

log = logging.getLogger("benchmarks")


def clip_paths(ctx: Context) -> list[Path]:
    """The clips to time: the labelled set's `file` column with --labelled, else the fixtures."""
    if ctx.labelled is not None:
        paths = [ctx.labelled / label.file for label in load_labels(ctx.labelled / "labels.tsv")]
    else:
        paths = [FIXTURES / f"{name}.wav" for name in COMMAND_CLIPS]
    return paths[:SMOKE_CLIPS] if ctx.smoke else paths


def bare(model: Any, audio: Any, prompt: str | None = None) -> float:
    """One plain faster-whisper transcription (optionally with `prompt`); its seconds."""
    began = time.perf_counter()
    segments, _info = model.transcribe(
        audio, language="en", beam_size=5, vad_filter=False,
        condition_on_previous_text=False, without_timestamps=True, initial_prompt=prompt,
    )
    list(segments)
    return time.perf_counter() - began


def encoder_seconds(model: Any, audio: Any, repeats: int) -> list[float]:
    """Seconds of `model.encode` alone on the clip's features padded to 3000 frames (30 s)."""
    from faster_whisper.audio import pad_or_trim

    features = pad_or_trim(model.feature_extractor(audio))
    model.encode(features)  # warm
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        model.encode(features)
        times.append(time.perf_counter() - began)
    return times


def run(ctx: Context) -> SuiteResult:
    """Time ours, bare and bare with our prompt per clip, then the 30-second encoder window."""
    config = agents_config(ctx.labelled) if ctx.labelled is not None else None
    settings = settings_for(ctx, config)
    log.info("bench: stt: loading %s", ctx.model_label())
    transcriber = load_transcriber(settings)  # built and warmed up as `voicedesk listen` does
    model = transcriber.model
    clips = [(path, load_audio(path)) for path in clip_paths(ctx)]
    bare(model, pcm_to_float(clips[0][1]))  # warm the bare path as well
    prompt = transcriber.options["initial_prompt"]
    spent: dict[str, list[float]] = {"ours": [], "bare": [], "prompted": []}
    rtf: list[float] = []
    ours_by_clip: dict[Path, list[float]] = {path: [] for path, _ in clips}
    for round_no in range(SMOKE_ROUNDS if ctx.smoke else ROUNDS):
        for path, pcm in clips:
            audio = pcm_to_float(pcm)
            kinds = list(spent)
            for kind in kinds[round_no % 3 :] + kinds[: round_no % 3]:  # rotate the order
                if kind == "ours":
                    began = time.perf_counter()
                    transcriber.transcribe(pcm)
                    seconds = time.perf_counter() - began
                    ours_by_clip[path].append(seconds * 1000)
                    rtf.append(seconds / (len(pcm) / (SAMPLE_RATE * SAMPLE_WIDTH)))
                else:
                    seconds = bare(model, audio, prompt if kind == "prompted" else None)
                spent[kind].append(seconds * 1000)
    short_path, short_pcm = min(clips, key=lambda clip: len(clip[1]))
    encode_ms = [
        s * 1000
        for s in encoder_seconds(
            model, pcm_to_float(short_pcm), SMOKE_ENCODER_REPEATS if ctx.smoke else ENCODER_REPEATS
        )
    ]
    ours = Figure.of("ours per utterance", "ms", spent["ours"], note="vocabulary prompt included")
    plain = Figure.of("bare transcribe() per utterance", "ms", spent["bare"], note="no prompt")
    ratio = (ours.median or 0.0) / (plain.median or 1.0)
    short_s = len(short_pcm) / (SAMPLE_RATE * SAMPLE_WIDTH)
    encoder = Figure.of("encoder, 30 s window", "ms", encode_ms)
    short_ours = Figure.of("ours on that clip", "ms", ours_by_clip[short_path])
    share = (encoder.median or 0.0) / (short_ours.median or 1.0)
    extra = ("--labelled", str(ctx.labelled)) if ctx.labelled is not None else ()
    return SuiteResult(
        suite="stt",
        command=command("stt", ctx, *extra),
        model=ctx.model_label(),
        figures=(
            ours,
            plain,
            Figure.of("RTF ours", "x", rtf, note="transcribe seconds / audio seconds"),
            Figure.single("overhead ratio (ours/bare, medians)", "x", ratio, OVERHEAD_GOAL),
            Figure.of(
                "bare transcribe() with our prompt", "ms", spent["prompted"],
                note="the vocabulary prompt's share of the overhead",
            ),
            Figure.of(
                "encoder, 30 s window", "ms", encode_ms,
                note=f"{short_path.name} ({short_s:.1f} s) padded to 3000 frames; "
                f"{share:.0%} of ours on that clip",
            ),
            Figure.of(
                f"ours per utterance, {short_path.stem} only", "ms", ours_by_clip[short_path]
            ),
        ),
        details={
            "clips": [str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
                      for path, _ in clips],
            "rounds": SMOKE_ROUNDS if ctx.smoke else ROUNDS,
            "config": str(config) if config else None,
            "decode_options": {k: v for k, v in transcriber.options.items()
                               if k not in ("initial_prompt", "hotwords")},
            "initial_prompt": transcriber.options["initial_prompt"],
            "n_best": getattr(transcriber, "decoder", None) is not None,
            "encoder_clip_seconds": round(short_s, 3),
            "encoder_share_of_short_utterance": round(share, 3),
        },
    )
