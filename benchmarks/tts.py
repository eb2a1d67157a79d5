"""Text-to-speech speed: Piper's real-time factor and time to the first sentence chunk.

For each engine (Piper with the bundled joe voice; espeak-ng for comparison) over a set of
short console replies: the real-time factor (synthesis seconds / audio seconds, whole reply
through synthesize()) and the time from asking sentences() to its first chunk, which is
when a Speaker could start playing. Median and p95 of each, after one warm-up reply; the
voice's load time on its own.

Usage (from the repo root):
  .venv/bin/python benchmarks/tts.py [--rounds 3]
  .venv/bin/python benchmarks/tts.py --smoke [--out FILE]   # a tiny run, for the tests
Writes benchmarks/results/<date>-tts.json (--smoke: only with --out) and prints a markdown
table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from voicedesk.speech.synth import Synthesizer

ROOT = Path(__file__).resolve().parent.parent

REPLIES = [
    "Job 12, frontend: running for 4 minutes, last step: editing settings.tsx.",
    "Job 3 is done.",
    "Job 7 failed: the tests did not pass. Say retry job 7 to run it again.",
    "Queued job 14 for backend: fix the flaky login test.",
    "Cancel job 9? Say yes to confirm.",
    "Three jobs running, two queued, one failed.",
    "Experiment 5 finished: validation loss 0.42 after 3 epochs.",
    "I did not catch that. Try: status of job 12.",
    "Research agent: the summary is ready, 4 sources.",
    "Job 21, docs: waiting for your confirmation to push.",
]
"""Short replies of the kind the console speaks."""


def percentile(values: list[float], share: float) -> float:
    """The value at `share` (0..1) of the sorted values, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(make: Callable[[], Synthesizer], replies: list[str], rounds: int) -> dict[str, Any]:
    """Load one engine, warm it up, and time every reply `rounds` times."""
    began = time.perf_counter()
    synthesizer = make()
    load_s = time.perf_counter() - began
    synthesizer.synthesize(replies[0])
    rtfs, firsts, audio = [], [], 0.0
    for _ in range(rounds):
        for text in replies:
            began = time.perf_counter()
            speech = synthesizer.synthesize(text)
            rtfs.append((time.perf_counter() - began) / speech.duration)
            audio += speech.duration
            began = time.perf_counter()
            next(iter(synthesizer.sentences(text)))
            firsts.append((time.perf_counter() - began) * 1000)
    return {
        "engine": synthesizer.name, "load_s": round(load_s, 3), "replies": len(rtfs),
        "audio_s": round(audio, 2),
        "rtf_median": round(statistics.median(rtfs), 4),
        "rtf_p95": round(percentile(rtfs, 0.95), 4),
        "first_chunk_ms_median": round(statistics.median(firsts), 1),
        "first_chunk_ms_p95": round(percentile(firsts, 0.95), 1),
    }


def piper() -> Synthesizer:
    """The bundled Piper voice."""
    from voicedesk.speech.piper_voice import PiperSynthesizer

    return PiperSynthesizer()


def espeak() -> Synthesizer:
    """espeak-ng's en-us voice."""
    from voicedesk.speech.espeak import EspeakSynthesizer

    return EspeakSynthesizer()


def table(results: dict[str, Any]) -> str:
    """The results as a markdown table."""
    lines = ["| engine | load s | replies | RTF median | RTF p95 | first chunk ms median |"
             " first chunk ms p95 |", "|---|---|---|---|---|---|---|"]
    for row in results["engines"]:
        lines.append(
            f"| {row['engine']} | {row['load_s']} | {row['replies']} | {row['rtf_median']} |"
            f" {row['rtf_p95']} | {row['first_chunk_ms_median']} | {row['first_chunk_ms_p95']} |"
        )
    lines.append(f"\ntts {results['date']}: {results['cpus']} CPUs, {results['machine']}")
    return "\n".join(lines)


def main() -> None:
    """Parse the options, run, print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="times through the replies")
    parser.add_argument("--smoke", action="store_true", help="a tiny run, for the tests")
    parser.add_argument("--out", type=Path, help="the JSON file to write")
    args = parser.parse_args()
    replies, rounds = (REPLIES[:2], 1) if args.smoke else (REPLIES, args.rounds)
    engines = [piper] + ([espeak] if shutil.which("espeak-ng") else [])
    results = {
        "date": date.today().isoformat(), "cpus": os.cpu_count(),
        "machine": f"{platform.machine()} {platform.processor() or platform.system()}",
        "python": platform.python_version(), "rounds": rounds,
        "engines": [measure(make, replies, rounds) for make in engines],
    }
    sys.stdout.write(table(results) + "\n")
    out = args.out
    if out is None and not args.smoke:
        out = ROOT / "benchmarks" / "results" / f"{results['date']}-tts.json"
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
        sys.stdout.write(f"wrote {out}\n")


if __name__ == "__main__":
    main()
