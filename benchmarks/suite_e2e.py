"""End to end through a virtual microphone: speech end or key release → intent → job stored.

A real `voicedesk listen --json --no-run` hears the command fixtures through a private
PulseAudio microphone (benchmarks/live_voice.py does the driving), once with push-to-talk and
once hands-free. Every time below comes from the listener's own `timings_ms` (one monotonic
clock in the listener process) except the outside check, which is this process's wall clock.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.harness import ROOT, Context, Figure, Goal, SuiteResult, command

log = logging.getLogger(__name__)

Timings = dict[str, float]
"""One utterance's `timings_ms` (plus the benchmark's own keys)."""

FIXTURES = ROOT / "tests" / "fixtures"
ROUNDS = 4
"""Full size: every command fixture this many times per mode (5 fixtures: 20 clips)."""

SMOKE_CLIPS = 2
"""Smoke size: clips per mode."""

LISTEN_ARGS = ("--no-run",)
"""Jobs are queued, not run: a running agent would compete for the CPU being measured."""

PTT_RELEASE_GOAL = Goal("<=", 700)
"""Push-to-talk release → intent, median, on a 2-core CPU with tiny.en."""


def _sum(*keys: str) -> Callable[[Timings], float]:
    """A figure's value for one utterance: the sum of these stages of its timings."""
    return lambda timings: sum(timings[key] for key in keys)


PTT_FIGURES: tuple[tuple[str, Callable[[Timings], float], Goal | None, str], ...] = (
    ("push-to-talk: release → intent", _sum("queued", "transcribe", "parse"), PTT_RELEASE_GOAL,
     "the listener receives `ptt stop` on its control socket (the segment closes at once) → "
     "intent parsed: queued + transcribe + parse"),
    ("push-to-talk: release → job stored", _sum("closed_to_stored"), None,
     "as release → intent, plus acting on it (job queued, audit row written): closed_to_stored"),
    ("push-to-talk: transcribe", _sum("transcribe"), None,
     "the model's call on the utterance alone"),
    ("push-to-talk: `ptt stop` sent → utterance event (outside check)",
     _sum("ptt_stop_to_event"), None,
     "this process's wall clock: `ptt stop` written to the control socket (no `voicedesk ptt` "
     "start-up) → the utterance's JSON line read from the listener's stdout"),
)

HANDS_FREE_FIGURES: tuple[tuple[str, Callable[[Timings], float], Goal | None, str], ...] = (
    ("hands-free: speech end → segment closed", _sum("segment_close"), None,
     "end of the last voiced frame → the segmenter closes the utterance: the hangover"),
    ("hands-free: speech end → transcript", _sum("segment_close", "queued", "transcribe"), None,
     "segment_close + queued + transcribe"),
    ("hands-free: speech end → intent", _sum("speech_end_to_intent"), None,
     "segment_close + queued + transcribe + parse (the listener's speech_end_to_intent)"),
    ("hands-free: speech end → job stored", _sum("segment_close", "closed_to_stored"), None,
     "segment_close + closed_to_stored (acted on: job queued, audit row written)"),
)


def clips(smoke: bool) -> list[Path]:
    """The command fixtures to speak: 2 for a smoke run, each of them ROUNDS times else."""
    from benchmarks.live_voice import COMMAND_FIXTURES

    every = [FIXTURES / f"{name}.wav" for name in COMMAND_FIXTURES]
    return every[:SMOKE_CLIPS] if smoke else every * ROUNDS


def stt_toml(ctx: Context) -> str:
    """The `[stt]` section that makes the listener use the context's model."""
    return (f'[stt]\nmodel = "{ctx.model}"\ndevice = "{ctx.device}"\n'
            f'compute_type = "{ctx.compute_type}"\n')


def figures(
    records: Sequence[Timings],
    specs: Sequence[tuple[str, Callable[[Timings], float], Goal | None, str]],
) -> list[Figure]:
    """One figure per spec over the utterances that have every stage it needs."""
    out = []
    for name, value, goal, note in specs:
        samples = []
        for timings in records:
            try:
                samples.append(value(timings))
            except KeyError:
                continue
        out.append(Figure.of(name, "ms", samples, goal, note))
    return out


def measure(ctx: Context) -> tuple[list[Timings], list[Timings], int]:
    """Both modes through a fresh virtual microphone: (push-to-talk, hands-free, clips each)."""
    from benchmarks.live_voice import (
        VirtualMic,
        control_socket,
        hands_free,
        push_to_talk,
        write_config,
    )

    spoken = clips(ctx.smoke)
    mic = VirtualMic()
    mic.start()
    try:
        with tempfile.TemporaryDirectory(prefix="vdb-", dir="/tmp") as tmp:
            home = Path(tmp)
            config = write_config(home, home, None, stt_toml(ctx))
            log.info("e2e: push-to-talk, %d clips", len(spoken))
            ptt = push_to_talk(mic, spoken, home, config, control_socket(home), LISTEN_ARGS)
            log.info("e2e: hands-free, %d clips", len(spoken))
            free = hands_free(mic, spoken, home, config, LISTEN_ARGS)
    finally:
        mic.stop()
    return ptt, free, len(spoken)


def measure_in_process(ctx: Context) -> tuple[list[Timings], list[Timings], int]:
    """Both modes with the live listener fed real-time frames in this process (no PulseAudio)."""
    from benchmarks.e2e_frames import run_listener
    from benchmarks.harness import settings_for

    spoken = clips(ctx.smoke)
    settings = settings_for(ctx)
    log.info("e2e: in-process frames, push-to-talk, %d clips", len(spoken))
    ptt = run_listener(settings, spoken, push_to_talk=True)
    log.info("e2e: in-process frames, hands-free, %d clips", len(spoken))
    free = run_listener(settings, spoken, push_to_talk=False)
    return ptt, free, len(spoken)


def run(ctx: Context) -> SuiteResult:
    """Measure both modes through the virtual mic, or in-process where PulseAudio cannot run."""
    from benchmarks.live_voice import pulse_unavailable_reason

    reproduce = command("e2e", ctx, *(["--in-process"] if ctx.extra.get("in_process") else []))
    reason = pulse_unavailable_reason()
    if reason is not None or ctx.extra.get("in_process"):
        ptt, free, count = measure_in_process(ctx)
        path = f"in-process frames ({reason or 'asked for'}); no outside check"
        return SuiteResult(
            "e2e", reproduce, ctx.model_label(),
            (*figures(ptt, PTT_FIGURES[:3]), *figures(free, HANDS_FREE_FIGURES)),
            {"path": path, "clips_per_mode": count, "push_to_talk_heard": len(ptt),
             "hands_free_heard": len(free)},
        )
    ptt, free, count = measure(ctx)
    return SuiteResult(
        "e2e", reproduce, ctx.model_label(),
        (*figures(ptt, PTT_FIGURES), *figures(free, HANDS_FREE_FIGURES)),
        {"clips_per_mode": count, "push_to_talk_heard": len(ptt), "hands_free_heard": len(free),
         "path": "virtual PulseAudio microphone", "listen_args": list(LISTEN_ARGS),
         "load_average_after": list(os.getloadavg()),
         "note": "hands-free may hear one clip as two utterances, or miss one; each utterance "
                 "heard is one sample"},
    )
