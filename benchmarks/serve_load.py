"""Load on `voicedesk serve` (a benchmark, not a test): is the event loop free while it transcribes?

Starts the real app (the configured model, tiny.en by default, loaded and warmed up as `serve`
does; a throwaway store; a rate limit too high to matter) on uvicorn on 127.0.0.1 in a thread,
on a socket from `voicedesk.api.server.bind` as `voicedesk serve` makes it (with TCP_NODELAY on
its connections), queues a few jobs, then measures from a
separate client process (httpx, async, 10 connections):
  1. GET /jobs/{id}: requests per second and p50/p95/p99 latency;
  2. the same while two loops POST a WAV to /v1/audio/transcriptions back to back;
  3. GET /jobs/{id} paced at 50 a second (open loop: each request sent on time, as pollers
     do), idle and while the uploads run (goal: p99 at most 50 ms while transcribing, i.e.
     the transcriptions do not hold the API up; the closed-loop phases above measure
     throughput, and their p99 is the queueing of a saturated server);
with the server's event-loop lag (how late a 5 ms sleep on its loop wakes) in each phase,
and then, in this process, the median latency of ~10 uploads of the WAV next to the median of
direct faster-whisper `model.transcribe()` calls on the same model with the same options (goal:
ratio at most 1.15).

Usage (from the repo root; loopback only, bounded in requests and seconds):
  .venv/bin/python benchmarks/serve_load.py [--requests 2000] [--seconds 20] [--calls 10]
  .venv/bin/python benchmarks/serve_load.py --smoke [--out FILE]   # a few seconds, for the tests
Writes benchmarks/results/<date>-serve.json (--smoke: only with --out) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "tests" / "fixtures" / "dispatch_frontend.wav"
CONNECTIONS = 10
ROUTE = "/v1/audio/transcriptions"


@dataclass(frozen=True)
class Size:
    """How much to measure: GET requests (and a time cap), upload calls, transcription loops."""

    requests: int
    seconds: float
    calls: int
    loops: int


def latency_summary(latencies_ms: list[float], elapsed_s: float, errors: int) -> dict[str, Any]:
    """Count, errors, requests per second and latency percentiles (nearest rank) in ms."""
    from voicedesk.stats import percentile

    ordered = sorted(latencies_ms) or [float("nan")]
    return {
        "requests": len(latencies_ms), "errors": errors,
        "req_per_s": len(latencies_ms) / elapsed_s if elapsed_s > 0 else 0.0,
        "p50_ms": percentile(ordered, 0.50), "p95_ms": percentile(ordered, 0.95),
        "p99_ms": percentile(ordered, 0.99), "max_ms": ordered[-1],
    }


async def watch_loop(stop: threading.Event, lags: list[tuple[float, float]]) -> None:
    """On the server's loop: (wall time, ms late) of back-to-back 5 ms sleeps until `stop`."""
    while not stop.is_set():
        began = time.perf_counter()
        await asyncio.sleep(0.005)
        lags.append((time.time(), (time.perf_counter() - began - 0.005) * 1000.0))


def lag_summary(lags: list[tuple[float, float]], window: list[float]) -> dict[str, float]:
    """p99 and max event-loop lag in ms within a phase's [start, end] wall-clock window."""
    from voicedesk.stats import percentile

    inside = [late for at, late in lags if window[0] <= at <= window[1]] or [float("nan")]
    return {"samples": len(inside), "p99_ms": percentile(inside, 0.99), "max_ms": max(inside)}


async def hammer(url: str, job_ids: list[int], requests: int, seconds: float) -> dict[str, Any]:
    """GET /jobs/{id} over 10 connections until `requests` were sent or `seconds` passed."""
    latencies: list[float] = []
    errors = issued = 0
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        await asyncio.gather(*(client.get(f"/jobs/{job_ids[0]}") for _ in range(CONNECTIONS)))
        began = time.perf_counter()
        deadline = began + seconds

        async def worker() -> None:
            """One connection's requests, back to back."""
            nonlocal errors, issued
            while issued < requests and time.perf_counter() < deadline:
                issued += 1
                sent = time.perf_counter()
                response = await client.get(f"/jobs/{job_ids[issued % len(job_ids)]}")
                latencies.append((time.perf_counter() - sent) * 1000.0)
                errors += response.status_code != 200

        window = [time.time()]
        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        elapsed = time.perf_counter() - began
        window.append(time.time())
    return {**latency_summary(latencies, elapsed, errors), "window": window,
            "latencies_ms": latencies}


PACED_RATE = 50
"""Requests per second of the paced phase: a few pages polling, not a load test."""


async def paced(url: str, job_ids: list[int], seconds: float) -> dict[str, Any]:
    """GET /jobs/{id} at PACED_RATE a second for `seconds`, each sent on time whatever the
    others do (open loop): the latency a poller sees, not the server's saturation."""
    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        await client.get(f"/jobs/{job_ids[0]}")

        async def one(number: int) -> None:
            """One request, timed."""
            nonlocal errors
            sent = time.perf_counter()
            response = await client.get(f"/jobs/{job_ids[number % len(job_ids)]}")
            latencies.append((time.perf_counter() - sent) * 1000.0)
            errors += response.status_code != 200

        began, tasks = time.perf_counter(), []
        for number in range(int(seconds * PACED_RATE)):
            await asyncio.sleep(max(0.0, began + number / PACED_RATE - time.perf_counter()))
            tasks.append(asyncio.create_task(one(number)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - began
    return {**latency_summary(latencies, elapsed, errors), "latencies_ms": latencies,
            "rate": PACED_RATE}


async def with_uploads(url: str, size: Size, work: Any) -> dict[str, Any]:
    """Run the coroutine `work` while `size.loops` loops upload the clip back to back."""
    clip = CLIP.read_bytes()
    stop = asyncio.Event()
    finished: list[float] = []

    async def transcribe_loop() -> None:
        """Upload the clip until told to stop, at least once."""
        async with httpx.AsyncClient(base_url=url, timeout=300) as client:
            while True:
                files = {"file": (CLIP.name, clip, "audio/wav")}
                sent = time.perf_counter()
                response = await client.post(ROUTE, data={"model": "tiny.en"}, files=files)
                response.raise_for_status()
                finished.append((time.perf_counter() - sent) * 1000.0)
                if stop.is_set():
                    return

    loops = [asyncio.create_task(transcribe_loop()) for _ in range(size.loops)]
    await asyncio.sleep(0.3)  # both uploads sent and on the model before the clock starts
    result: dict[str, Any] = await work
    stop.set()
    await asyncio.gather(*loops)
    result["transcriptions"] = len(finished)
    result["transcription_median_ms"] = statistics.median(finished)
    return result


async def under_transcription(url: str, job_ids: list[int], size: Size) -> dict[str, Any]:
    """`hammer` while `size.loops` loops upload the clip back to back."""
    return await with_uploads(url, size, hammer(url, job_ids, size.requests, size.seconds))


def client_phases(url: str, job_ids: list[int], size: Size) -> dict[str, Any]:
    """The load phases (the hammer and the paced poller, each idle and while transcribing),
    run in a separate process so the client does not share the GIL."""
    return {
        "jobs_get": asyncio.run(hammer(url, job_ids, size.requests, size.seconds)),
        "jobs_get_while_transcribing": asyncio.run(under_transcription(url, job_ids, size)),
        "paced": asyncio.run(paced(url, job_ids, size.seconds / 2)),
        "paced_while_transcribing": asyncio.run(
            with_uploads(url, size, paced(url, job_ids, size.seconds / 2))
        ),
    }


def overhead(url: str, transcriber: Any, calls: int) -> dict[str, Any]:
    """Median upload latency against direct `model.transcribe()` calls, interleaved."""
    from voicedesk.audio.files import load_audio
    from voicedesk.stt.whisper import pcm_to_float

    samples = pcm_to_float(load_audio(CLIP))
    options = transcriber.file_options()
    clip = CLIP.read_bytes()
    http_ms: list[float] = []
    direct_ms: list[float] = []
    with httpx.Client(base_url=url, timeout=300) as client:
        for turn in range(calls + 1):  # the first round warms both paths and is not counted
            sent = time.perf_counter()
            files = {"file": (CLIP.name, clip, "audio/wav")}
            client.post(ROUTE, data={"model": "tiny.en"}, files=files).raise_for_status()
            uploaded = time.perf_counter()
            segments, _info = transcriber.model.transcribe(samples, **options)
            list(segments)
            if turn:
                http_ms.append((uploaded - sent) * 1000.0)
                direct_ms.append((time.perf_counter() - uploaded) * 1000.0)
    upload, direct = statistics.median(http_ms), statistics.median(direct_ms)
    return {"calls": calls, "upload_median_ms": upload, "direct_median_ms": direct,
            "ratio": upload / direct, "upload_ms": http_ms, "direct_ms": direct_ms}


def create_jobs(url: str, count: int) -> list[int]:
    """Queue `count` jobs (none run: the runner is off); their ids."""
    ids = []
    for number in range(count):
        body = {"agent": "frontend", "task": f"benchmark job {number}"}
        response = httpx.post(f"{url}/jobs", json=body, timeout=30)
        response.raise_for_status()
        ids.append(int(response.json()["id"]))
    return ids


@contextmanager
def serving(
    settings: Any, transcriber: Any
) -> Iterator[tuple[str, asyncio.AbstractEventLoop]]:
    """The app on uvicorn in a thread, on `serve`'s own kind of socket; its URL and loop."""
    from voicedesk.api.app import create_app
    from voicedesk.api.server import server_url, serving_in_thread

    with serving_in_thread(create_app(settings, transcriber, run_jobs=False)) as server:
        yield server_url(server), server.servers[0].get_loop()


def bench_settings(data_dir: Path, **stt: str) -> Any:
    """Settings for a load run: a throwaway store, a rate limit too high to matter, `stt`."""
    from voicedesk.config import Settings

    return Settings(store={"data_dir": data_dir}, stt=stt,
                    serve={"rate_limit_per_minute": 10**9, "rate_burst": 10**9})


def load_phases(
    url: str, loop: asyncio.AbstractEventLoop, transcriber: Any, size: Size
) -> dict[str, Any]:
    """On a serving app (its URL and loop): both client phases with the loop's lag, then the
    upload overhead; each phase's GET latencies stay in `latencies_ms`."""
    job_ids = create_jobs(url, 5)
    lags: list[tuple[float, float]] = []
    stop = threading.Event()
    watcher = asyncio.run_coroutine_threadsafe(watch_loop(stop, lags), loop)
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as client:
        results = client.submit(client_phases, url, job_ids, size).result()
    stop.set()
    watcher.result(10)
    for phase in ("jobs_get", "jobs_get_while_transcribing"):
        results[phase]["loop_lag"] = lag_summary(lags, results[phase].pop("window"))
    results["upload_vs_direct"] = overhead(url, transcriber, size.calls)
    return results


def run(size: Size) -> dict[str, Any]:
    """Serve, load, measure; the results."""
    from voicedesk.api.app import load_for_serving

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="vd-serve-") as tmp:
        settings = bench_settings(Path(tmp) / "data")
        transcriber = load_for_serving(settings)  # niced as `serve` does
        with serving(settings, transcriber) as (url, loop):
            results = load_phases(url, loop, transcriber, size)
    for phase in ("jobs_get", "jobs_get_while_transcribing", "paced", "paced_while_transcribing"):
        results[phase].pop("latencies_ms")
    return {
        "machine": platform.platform(), "processor": platform.processor(),
        "cpus": os.cpu_count(), "date": date.today().isoformat(),
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "model": settings.stt.model, "device": transcriber.choice.device,
        "compute_type": transcriber.choice.compute_type,
        "transcription_workers": settings.serve.transcription_workers,
        "connections": CONNECTIONS, "clip": CLIP.name, "size": asdict(size), **results,
    }


def table(results: dict[str, Any]) -> str:
    """The results as markdown tables, the goals underneath."""
    socket_kind = "as serve binds it"
    lines = [f"socket: {socket_kind}; {results['cpus']} CPUs, load average "
             f"{results['load_average_before'][0]:.1f} before; {results['model']} on "
             f"{results['device']}", "",
             "| measure | n | req/s | p50 ms | p95 ms | p99 ms | max ms | loop lag p99 / max ms |",
             "|---|---|---|---|---|---|---|---|"]
    loops = results["size"]["loops"]
    busy = f"{loops} transcription(s) running"
    for key, name in (("jobs_get", "GET /jobs/{id}, 10 connections back to back"),
                      ("jobs_get_while_transcribing", f"the same, {busy}"),
                      ("paced", f"GET /jobs/{{id}} at {PACED_RATE}/s (open loop)"),
                      ("paced_while_transcribing", f"the same, {busy}")):
        r, lag = results[key], results[key].get("loop_lag")
        lagged = f"{lag['p99_ms']:.1f} / {lag['max_ms']:.1f}" if lag else "-"
        lines.append(f"| {name} | {r['requests']} | {r['req_per_s']:.0f} | {r['p50_ms']:.1f} | "
                     f"{r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} | {lagged} |")
    loaded, cost = results["paced_while_transcribing"], results["upload_vs_direct"]
    return "\n".join([
        *lines, "", f"| transcription of {results['clip']} | n | median ms |", "|---|---|---|",
        f"| POST {ROUTE} | {cost['calls']} | {cost['upload_median_ms']:.0f} |",
        f"| direct model.transcribe() | {cost['calls']} | {cost['direct_median_ms']:.0f} |", "",
        f"p99 polled while transcribing: {loaded['p99_ms']:.1f} ms (goal <= 50 ms; "
        f"{loaded['transcriptions']} uploads done meanwhile, "
        f"median {loaded['transcription_median_ms']:.0f} ms)",
        f"upload / direct: {cost['ratio']:.3f} (goal <= 1.15)",
    ])


def main() -> None:
    """Parse the options, run, print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="GET requests per phase")
    parser.add_argument("--seconds", type=float, default=20.0, help="time cap per phase")
    parser.add_argument("--calls", type=int, default=10, help="uploads and direct calls")
    parser.add_argument("--smoke", action="store_true", help="a tiny run, for the tests")
    parser.add_argument("--out", type=Path, help="the JSON file to write")
    args = parser.parse_args()
    size = (Size(20, 5.0, calls=1, loops=1) if args.smoke
            else Size(args.requests, args.seconds, args.calls, loops=2))
    results = run(size)
    print(table(results))
    out = args.out
    if out is None and not args.smoke:
        out = ROOT / "benchmarks" / "results" / f"{date.today().isoformat()}-serve.json"
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
