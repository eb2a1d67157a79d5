"""Service: status latency with and without transcriptions, uploads, concurrent WS microphones.

One real app (the context's model, loaded and warmed up as `voicedesk serve` does) on uvicorn
on 127.0.0.1. First benchmarks/serve_load.py's phases: GET /jobs/{id} over 10 connections
back to back (throughput; its p99 is a saturated server's queueing) and paced at 50 a second
(the latency a poller sees: the p99 goal), each idle and while uploads to
/v1/audio/transcriptions run back to back, then upload latency next to direct model calls.
Then N hands-free WebSocket microphones at once on /ws/audio, for N in
(1, 2, 4, 8): each sends 16 kHz PCM in 20 ms messages paced by the clock, a command fixture's
speech ~30% of the time and silence the rest, and times each utterance from the moment the
message carrying its last voiced frame was sent to the moment its `final` message arrived.
The clients run in a separate process so that they do not share the server's GIL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import multiprocessing
import statistics
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import ROOT, Context, Figure, Goal, SuiteResult, command
from benchmarks.serve_load import CLIP, Size

log = logging.getLogger(__name__)

FULL = Size(requests=2000, seconds=20.0, calls=10, loops=2)
"""serve_load's default size: 2000 GETs (20 s cap) per phase, 2 upload loops, 10 uploads."""

SMOKE = Size(requests=100, seconds=3.0, calls=2, loops=1)
"""A few seconds of each phase, for CI."""

STREAMS_FULL, STREAMS_SMOKE = (1, 2, 4, 8), (1, 2)
"""How many WebSocket microphones at once."""

SECONDS_FULL, SECONDS_SMOKE = 60.0, 12.0
"""How long each set of concurrent streams sends audio."""

STATUS_P99_GOAL = Goal("<=", 50)
"""GET /jobs/{id} p99 in ms while transcriptions run: the event loop is not blocked."""

SAMPLE_RATE = 16_000
BYTES_PER_S = SAMPLE_RATE * 2
CHUNK_S = 0.02
CHUNK_BYTES = int(BYTES_PER_S * CHUNK_S)
FRAME_SAMPLES = 480
"""Clips start on the server's 30 ms frame grid, so its VAD sees the frames measured here."""

DUTY = 0.3
"""The share of each stream's time that is speech (voiced frames)."""

LEAD_S, TAIL_S = 0.6, 1.2
"""Silence before a stream's first clip, and at least this much after its last."""

CLIP_NAMES = ("dispatch_frontend", "status_job", "cancel_job", "experiment", "results")
FIXTURES = ROOT / "tests" / "fixtures"


@dataclass(frozen=True)
class Clip:
    """A command fixture's PCM and its voiced span (seconds into the clip)."""

    name: str
    pcm: bytes
    voiced_start: float
    voiced_end: float


@dataclass(frozen=True)
class Spoken:
    """A clip placed in a stream: its voiced span in stream seconds."""

    clip: str
    start: float
    end: float


@dataclass(frozen=True)
class Script:
    """What one stream sends: its PCM, and where the speech in it is."""

    pcm: bytes
    spoken: tuple[Spoken, ...]


def load_clips(vad: Any) -> list[Clip]:
    """The command fixtures, each with its voiced span as the server's VAD settings judge it."""
    from voicedesk.audio.files import load_audio
    from voicedesk.audio.framing import frames
    from voicedesk.audio.vad import webrtc_detector

    clips = []
    for name in CLIP_NAMES:
        pcm = load_audio(FIXTURES / f"{name}.wav")
        detector = webrtc_detector(vad.aggressiveness, energy_floor_dbfs=vad.energy_floor_dbfs)
        voiced = [f for f in frames(pcm, vad.frame_ms) if detector(f.pcm)]
        clips.append(Clip(name, pcm, voiced[0].start, voiced[-1].start + voiced[-1].duration))
    return clips


def _on_grid(seconds: float) -> int:
    """A byte offset at or after `seconds`, on the 30 ms frame grid."""
    return math.ceil(seconds * SAMPLE_RATE / FRAME_SAMPLES) * FRAME_SAMPLES * 2


def script(clips: Sequence[Clip], seconds: float, phase: float, first: int) -> Script:
    """Silence, then clips in turn (from `first`), each one's voiced time DUTY of its turn;
    the first clip `phase` seconds late; at least one clip; silence to `seconds` after."""
    pcm, spoken = bytearray(), []
    at, turn = _on_grid(LEAD_S + phase), first
    while True:
        clip = clips[turn % len(clips)]
        if spoken and (at + len(clip.pcm)) / BYTES_PER_S > seconds - TAIL_S:
            break
        pcm += bytes(at - len(pcm)) + clip.pcm
        start = at / BYTES_PER_S
        spoken.append(Spoken(clip.name, start + clip.voiced_start, start + clip.voiced_end))
        at = _on_grid(start + (clip.voiced_end - clip.voiced_start) / DUTY)
        turn += 1
    total = max(_on_grid(seconds), _on_grid(len(pcm) / BYTES_PER_S + TAIL_S))
    return Script(bytes(pcm) + bytes(total - len(pcm)), tuple(spoken))


def scripts(clips: Sequence[Clip], streams: int, seconds: float) -> list[Script]:
    """One script per stream, their speech phases spread evenly over a mean turn."""
    turn = statistics.mean((c.voiced_end - c.voiced_start) / DUTY for c in clips)
    return [script(clips, seconds, turn * k / streams, k) for k in range(streams)]


def _speech_end_chunk(spoken: Spoken) -> int:
    """The index of the 20 ms message that carries the last voiced sample."""
    return math.ceil(round(spoken.end * BYTES_PER_S) / CHUNK_BYTES) - 1


async def _stream(url: str, plan: Script, t0: float) -> dict[str, Any]:
    """One microphone: send `plan` in real time from `t0`, then `end`; what came back, timed."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    marks = {_speech_end_chunk(s): i for i, s in enumerate(plan.spoken)}
    sent_at: dict[int, float] = {}
    finals: list[tuple[float, dict[str, Any]]] = []
    late = 0.0
    async with connect(url, open_timeout=30, max_size=None) as ws:

        async def read() -> None:
            """Every message until the server closes; the finals kept with their arrival."""
            with contextlib.suppress(ConnectionClosed):
                async for data in ws:
                    message = json.loads(data)
                    if message.get("type") == "final":
                        finals.append((time.perf_counter(), message))

        reader = asyncio.create_task(read())
        for index in range(math.ceil(len(plan.pcm) / CHUNK_BYTES)):
            delay = t0 + index * CHUNK_S - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            late = max(late, -delay)
            await ws.send(plan.pcm[index * CHUNK_BYTES : (index + 1) * CHUNK_BYTES])
            if index in marks:
                sent_at[marks[index]] = time.perf_counter()
        await ws.send(json.dumps({"type": "end"}))
        async with asyncio.timeout(300):
            await reader
    return {"sent_at": sent_at, "finals": finals, "late_ms": late * 1000.0}


def match(plan: Script, sent_at: dict[int, float], finals: Sequence[tuple[float, dict[str, Any]]]
          ) -> tuple[list[float], list[dict[str, float]], int]:
    """(latency per clip heard, the server's timings of its final, finals matching no clip):
    a clip's final is the last whose utterance overlaps its voiced span."""
    latencies, timings, stray = [], [], 0
    last: dict[int, tuple[float, dict[str, Any]]] = {}
    for arrived, message in finals:
        hits = [i for i, s in enumerate(plan.spoken)
                if message["start"] < s.end and s.start < message["end"]]
        if not hits:
            stray += 1
        for i in hits:
            last[i] = (arrived, message)
    for i, (arrived, message) in sorted(last.items()):
        latencies.append((arrived - sent_at[i]) * 1000.0)
        timings.append(message.get("timings_ms", {}))
    return latencies, timings, stray


def ws_round(url: str, plans: list[Script]) -> dict[str, Any]:
    """All `plans` streamed at once (in the client process); latencies and what explains them."""

    async def all_streams() -> list[dict[str, Any]]:
        """Start every stream on the same clock."""
        t0 = time.perf_counter() + 1.0
        return await asyncio.gather(*(_stream(url, plan, t0) for plan in plans))

    latencies: list[float] = []
    timings: list[dict[str, float]] = []
    stray = 0
    logs = asyncio.run(all_streams())
    for plan, got in zip(plans, logs, strict=True):
        heard, their_timings, strays = match(plan, got["sent_at"], got["finals"])
        latencies += heard
        timings += their_timings
        stray += strays
    spoken = sum(len(plan.spoken) for plan in plans)
    return {
        "streams": len(plans), "utterances": spoken, "heard": len(latencies),
        "missed": spoken - len(latencies), "stray_finals": stray, "latencies_ms": latencies,
        "speech_share": sum(s.end - s.start for plan in plans for s in plan.spoken)
        / sum(len(plan.pcm) / BYTES_PER_S for plan in plans),
        "max_send_late_ms": max(got["late_ms"] for got in logs),
        **{f"server_{key}_median_ms": _median([t[key] for t in timings if key in t])
           for key in ("segment_close", "queued", "transcribe", "closed_to_stored")},
        "server_queued_max_ms": max((t.get("queued", 0.0) for t in timings), default=None),
    }


def _median(values: Sequence[float]) -> float | None:
    """The median, None for no values."""
    return statistics.median(values) if values else None


def ws_url(base: str) -> str:
    """The hands-free /ws/audio URL of a server at `base`."""
    return base.replace("http://", "ws://", 1) + "/ws/audio"


def measure(ctx: Context) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """Serve, then the load phases and each set of WS streams: (load, ws rounds, about)."""
    from benchmarks.serve_load import bench_settings, load_phases, serving
    from voicedesk.api.app import load_for_serving

    size = SMOKE if ctx.smoke else FULL
    counts = STREAMS_SMOKE if ctx.smoke else STREAMS_FULL
    seconds = float(ctx.extra.get("ws_seconds", SECONDS_SMOKE if ctx.smoke else SECONDS_FULL))
    with tempfile.TemporaryDirectory(prefix="vd-bench-service-") as tmp:
        settings = bench_settings(Path(tmp) / "data", model=ctx.model, device=ctx.device,
                                  compute_type=ctx.compute_type)
        transcriber = load_for_serving(settings)  # niced as `serve` does
        clips = load_clips(settings.vad)
        with serving(settings, transcriber) as (url, loop):
            log.info("service: status and upload phases")
            load = load_phases(url, loop, transcriber, size)
            rounds = []
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(1, mp_context=spawn) as client:
                for count in counts:
                    log.info("service: %d WebSocket stream(s) for %.0f s", count, seconds)
                    plans = scripts(clips, count, seconds)
                    rounds.append(client.submit(ws_round, ws_url(url), plans).result())
    about = {"size": asdict(size), "ws_seconds": seconds,
             "transcription_workers": settings.serve.transcription_workers,
             "device": transcriber.choice.device, "compute_type": transcriber.choice.compute_type}
    return load, rounds, about


def figures(load: dict[str, Any], rounds: Sequence[dict[str, Any]], loops: int) -> list[Figure]:
    """The suite's figures from the load phases and the WS rounds."""
    idle, busy = load["jobs_get"], load["jobs_get_while_transcribing"]
    polled, polled_busy = load["paced"], load["paced_while_transcribing"]
    uploads = load["upload_vs_direct"]
    during = f"while {loops} loop(s) upload {CLIP.name} back to back"
    rate = f"GET /jobs/{{id}} at {polled['rate']}/s, each sent on time (open loop)"
    out = [
        Figure.single("status p99 while transcribing", "ms", polled_busy["p99_ms"],
                      STATUS_P99_GOAL, f"{rate}, nearest-rank p99, {during}"),
        Figure.of("status latency while transcribing", "ms", polled_busy["latencies_ms"],
                  note=f"{rate}, {during}"),
        Figure.of("status latency, idle", "ms", polled["latencies_ms"],
                  note=f"{rate}, nothing else running"),
        Figure.single("status p99, idle", "ms", polled["p99_ms"]),
        Figure.single("status p99 at saturation while transcribing", "ms", busy["p99_ms"],
                      note=f"GET /jobs/{{id}} over 10 connections back to back (closed loop: "
                           f"queueing at full load), {during}"),
        Figure.single("status p99 at saturation, idle", "ms", idle["p99_ms"],
                      note="10 connections back to back, nothing else running"),
        Figure.single("status throughput, idle", "req/s", idle["req_per_s"]),
        Figure.single("status throughput while transcribing", "req/s", busy["req_per_s"],
                      note=during),
        Figure.of("upload latency POST /v1/audio/transcriptions", "ms", uploads["upload_ms"],
                  note=f"{CLIP.name}, one at a time, nothing else running"),
        Figure.single("upload / direct model.transcribe() (medians)", "ratio", uploads["ratio"],
                      Goal("<=", 1.15), "the service's overhead on the same model and options"),
    ]
    for got in rounds:
        out.append(Figure.of(
            f"WS final-transcript latency, N={got['streams']}", "ms", got["latencies_ms"],
            note=f"{got['streams']} hands-free /ws/audio stream(s) at once, 20 ms messages in "
                 f"real time, speech {DUTY:.0%} of the time: the message with an utterance's "
                 "last voiced frame sent → its final received (the 500 ms hangover included)",
        ))
    return out


def run(ctx: Context) -> SuiteResult:
    """Measure the service; figures, and in details what explains them."""
    load, rounds, about = measure(ctx)
    details = {
        **about,
        "status_loop_lag_ms": {phase: load[phase]["loop_lag"]
                               for phase in ("jobs_get", "jobs_get_while_transcribing")},
        "uploads_done_while_hammering": load["jobs_get_while_transcribing"]["transcriptions"],
        "errors": {phase: load[phase]["errors"]
                   for phase in ("jobs_get", "jobs_get_while_transcribing")},
        "direct_median_ms": load["upload_vs_direct"]["direct_median_ms"],
        "ws": [{k: v for k, v in got.items() if k != "latencies_ms"} for got in rounds],
    }
    return SuiteResult("service", command("service", ctx), ctx.model_label(),
                       tuple(figures(load, rounds, about["size"]["loops"])), details)
