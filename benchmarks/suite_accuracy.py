"""accuracy: intent accuracy and transcript WER of the real CLI on a labelled command set.

Runs `voicedesk listen --file DIR/stream.wav --dry-run --json --config agents.toml` as a
subprocess (the LLM fallback off, so the figure is the grammar's and needs no network) and
scores its JSON lines with benchmarks/scoring.py, the shared scorer's rules. Without
--labelled it uses tests/fixtures/labelled. With --speech DIR, also the word error rate of
whole-file transcription over DIR's WAV + transcript pairs.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
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
from benchmarks.scoring import Score, corpus_wer, load_labels, score, speech_pairs, wer
from voicedesk.types import SAMPLE_RATE, SAMPLE_WIDTH

DEFAULT_LABELLED = ROOT / "tests" / "fixtures" / "labelled"
ACCURACY_GOAL = Goal(">=", 0.95)
SMOKE_SPEECH_FILES = 2
LISTEN_TIMEOUT_S = 3600

log = logging.getLogger("benchmarks")


STEPS: tuple[tuple[str, dict[str, str]], ...] = (
    ("one-best transcribe()", {"VOICEDESK_STT__HYPOTHESES": "1",
                               "VOICEDESK_STT__PHRASE_PROMPT": "false"}),
    ("+ n-best, grammar-aware choice", {"VOICEDESK_STT__PHRASE_PROMPT": "false"}),
    ("+ phrase-prompt cascade (default)", {}),
    ("default with window_s = 10", {"VOICEDESK_STT__WINDOW_S": "10"}),
)
"""--steps: each way of hearing, as the config switches it, scored on its own."""


def listen_env(
    ctx: Context, home: Path, overrides: dict[str, str] | None = None
) -> dict[str, str]:
    """The CLI's environment: the context's model, no LLM fallback, a throwaway data home."""
    return {
        **os.environ,
        "VOICEDESK_STT__MODEL": ctx.model,
        "VOICEDESK_STT__DEVICE": ctx.device,
        "VOICEDESK_STT__COMPUTE_TYPE": ctx.compute_type,
        "VOICEDESK_LLM__INTENT_FALLBACK": "off",
        "XDG_DATA_HOME": str(home),
        **(overrides or {}),
    }


def listen(
    ctx: Context, stream: Path, config: Path | None, overrides: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Run `voicedesk listen --file STREAM --dry-run --json`; its utterance records."""
    with tempfile.TemporaryDirectory(prefix="voicedesk-bench-") as home:
        if config is None:  # an empty config: the defaults, never the user's own file
            config = Path(home) / "empty.toml"
            config.write_text("")
        done = subprocess.run(
            [sys.executable, "-m", "voicedesk", "listen", "--file", str(stream), "--dry-run",
             "--json", "--config", str(config)],
            capture_output=True, text=True, cwd=ROOT, env=listen_env(ctx, Path(home), overrides),
            timeout=LISTEN_TIMEOUT_S, check=False,
        )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise RuntimeError(f"voicedesk listen failed: {last}")
    records = []
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if "intent" in record:
                records.append(record)
    return records


def command_figures(ctx: Context, folder: Path) -> tuple[list[Figure], dict[str, Any]]:
    """Accuracy, transcript WER and transcribe ms on a labelled folder, with the details."""
    config = agents_config(folder)
    labels = load_labels(folder / "labels.tsv")
    log.info("bench: accuracy: listening to %s (%d commands)", folder / "stream.wav", len(labels))
    records = listen(ctx, folder / "stream.wav", config)
    scored: Score = score(labels, records)
    for miss in scored.misses:
        log.info("%s", miss.line())
    counts = (
        f"{scored.right}/{scored.labels}; {scored.utterances} utterances out ({scored.extra:+d})"
    )
    figures = [
        Figure.single("intent accuracy", "", scored.accuracy, ACCURACY_GOAL, note=counts),
        Figure.single(
            "transcript WER", "", scored.transcript_wer,
            note=f"{scored.word_errors}/{scored.reference_words} words",
        ),
        Figure.of(
            "transcribe per utterance", "ms",
            [r["timings_ms"]["transcribe"] for r in records
             if "transcribe" in r.get("timings_ms", {})],
            note="timings_ms.transcribe of the CLI's lines",
        ),
    ]
    if ctx.extra.get("steps"):
        figures += step_figures(ctx, folder, config, labels)
    details = {
        "labelled": str(folder), "config": str(config) if config else None,
        "llm_fallback": "off", "labels": scored.labels, "utterances": scored.utterances,
        "right": scored.right, "misses": [asdict(miss) for miss in scored.misses],
    }
    return figures, details


def step_figures(
    ctx: Context, folder: Path, config: Path | None, labels: list[Any]
) -> list[Figure]:
    """Intent accuracy, transcript WER and transcribe ms of each step in STEPS."""
    figures = []
    for name, overrides in STEPS:
        log.info("bench: accuracy: step %s", name)
        records = listen(ctx, folder / "stream.wav", config, overrides)
        scored = score(labels, records)
        figures += [
            Figure.single(f"intent accuracy, {name}", "", scored.accuracy,
                          note=f"{scored.right}/{scored.labels}"),
            Figure.single(f"transcript WER, {name}", "", scored.transcript_wer),
            Figure.of(f"transcribe per utterance, {name}", "ms",
                      [r["timings_ms"]["transcribe"] for r in records
                       if "transcribe" in r.get("timings_ms", {})]),
        ]
    return figures


def speech_figures(ctx: Context, folder: Path) -> tuple[list[Figure], dict[str, Any]]:
    """Corpus WER and real-time factor of whole-file transcription over a speech folder."""
    from voicedesk.audio.files import load_audio
    from voicedesk.stt.vocabulary import build_vocabulary
    from voicedesk.stt.whisper import WhisperTranscriber

    pairs = speech_pairs(folder)
    if not pairs:
        raise ValueError(f"no WAV + transcript pairs in {folder}")
    pairs = pairs[:SMOKE_SPEECH_FILES] if ctx.smoke else pairs
    settings = settings_for(ctx)
    log.info("bench: accuracy: transcribing %d files of %s", len(pairs), folder)
    transcriber = WhisperTranscriber(
        settings.stt, build_vocabulary(settings.agent_aliases(), settings.stt.vocabulary)
    )
    transcriber.warm_up()
    heard, rtf = [], []
    for wav, _text in pairs:
        pcm = load_audio(wav)
        began = time.perf_counter()
        result = transcriber.transcribe_file(pcm)
        seconds_of_audio = len(pcm) / (SAMPLE_RATE * SAMPLE_WIDTH)
        rtf.append((time.perf_counter() - began) / max(seconds_of_audio, 1e-9))
        heard.append(result.text)
    references = [text for _wav, text in pairs]
    total = corpus_wer(zip(references, heard, strict=True))
    figures = [
        Figure.single("speech WER", "", total, note=f"{folder.name}, {len(pairs)} files"),
        Figure.of("speech transcribe_file RTF", "x", rtf),
    ]
    details = {
        "speech": str(folder),
        "speech_files": [
            {"file": wav.name, "wer": round(wer(ref, hyp), 4), "heard": hyp}
            for (wav, ref), hyp in zip(pairs, heard, strict=True)
        ],
    }
    return figures, details


def shown(path: Path) -> str:
    """A path as the reproducing command names it: relative to the repo root when inside it."""
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


def run(ctx: Context) -> SuiteResult:
    """Score the labelled set (the repo's small one by default) and, with --speech, the WER."""
    folder = ctx.labelled if ctx.labelled is not None else DEFAULT_LABELLED
    figures, details = command_figures(ctx, folder)
    extra = ["--labelled", shown(folder), *(["--steps"] if ctx.extra.get("steps") else [])]
    if ctx.speech is not None:
        more, speech_details = speech_figures(ctx, ctx.speech)
        figures += more
        details.update(speech_details)
        extra += ["--speech", shown(ctx.speech)]
    return SuiteResult(
        suite="accuracy", command=command("accuracy", ctx, *extra), model=ctx.model_label(),
        figures=tuple(figures), details=details,
    )
