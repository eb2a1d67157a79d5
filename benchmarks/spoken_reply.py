"""Spoken-reply latency through the PulseAudio rig (a benchmark, not a test).

A `voicedesk listen` process (tiny.en, Piper) hears "What is the status of job twelve?"
played into the rig's null sink and speaks its answer into the same sink. parec records the
sink's monitor: the end of the question and the first audible sample of the answer are both
read off that one recording, so no clock is shared with the listener. Each round waits until
the console is quiet again. Push-to-talk rounds release the key (the control socket, written
directly) 100 ms after the last word; hands-free rounds wait for the segmenter's hangover.

Usage (from the repo root, with PulseAudio and pulseaudio-utils installed):
  .venv/bin/python benchmarks/spoken_reply.py [--rounds 20] [--smoke] [--out FILE]
Writes benchmarks/results/<date>-spoken-reply.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from live_process import LiveProcess  # noqa: E402
from pulse import VirtualMic  # noqa: E402
from test_player import LOUD, Recorder  # noqa: E402

from voicedesk.audio.control import send_control_sync  # noqa: E402
from voicedesk.audio.files import load_audio  # noqa: E402
from voicedesk.stats import percentile  # noqa: E402

QUESTION = ROOT / "tests" / "fixtures" / "status_job.wav"
SPEECH_ENDS_S = len(load_audio(QUESTION)) / 32_000 - 0.7
"""Where the words end in the fixture (make_fixtures.sh pads 0.4 s before, 0.7 s after)."""
RELEASE_AFTER_S = 0.1
"""How long after the last word the push-to-talk rounds let go."""
QUESTION_SLACK_S = 0.25
"""How late the question's last word may sound after its place in the file (paplay's start)."""
MIN_GAP_S = 0.15
"""The answer cannot start this soon after the question: a pause inside it is not the end."""


def write_config(home: Path) -> Path:
    """The default agents, the rig's devices, the default voice."""
    config = home / "config.toml"
    config.write_text(
        f'[listen]\ndevice = "pulse"\ncontrol_socket = "{home}/c.sock"\n'
        '[speech]\noutput_device = "pulse"\n'
    )
    return config


def run_rounds(
    mic: VirtualMic, home: Path, rounds: int, push_to_talk: bool
) -> list[tuple[float, float, float | None]]:
    """(play start, play end, the listener's own latency_ms) for each round played."""
    config = write_config(home)
    listener = LiveProcess(["--ptt"] if push_to_talk else [], home, config, speak=True)
    listener.wait_ready()
    played: list[tuple[float, float, float | None]] = []
    for _ in range(rounds):
        seen = len(listener.events)
        if push_to_talk:
            send_control_sync(home / "c.sock", "ptt start")
        began = time.monotonic()
        playing = mic.play(QUESTION, wait=False)
        assert playing is not None
        if push_to_talk:  # let go as the words end, not after the file's trailing silence
            time.sleep(SPEECH_ENDS_S + RELEASE_AFTER_S)
            send_control_sync(home / "c.sock", "ptt stop")
        playing.wait(30)
        ended = time.monotonic()
        said = listener.wait_index(lambda e: e.get("event") == "speaking", seen, 60)
        listener.wait_index(lambda e: e.get("event") == "quiet", said + 1, 60)
        played.append((began, ended, listener.events[said].get("latency_ms")))
        time.sleep(0.3)
    listener.stop()
    return played


def gaps_ms(recorder: Recorder, played: list[tuple[float, float, float | None]]) -> list[float]:
    """Question end to answer start, per round, from the recording."""
    times, levels = recorder.windows()
    loud = levels > LOUD
    gaps = []
    for began, ended, _ in played:
        words_end = began + SPEECH_ENDS_S + QUESTION_SLACK_S  # the answer may start before `ended`
        question = loud & (times >= began) & (times <= min(ended, words_end))
        if not question.any():
            continue
        question_end = float(times[question].max())
        answer = loud & (times > question_end + MIN_GAP_S)
        if answer.any():
            gaps.append((float(times[answer].min()) - question_end) * 1000.0)
    return gaps


def summary(values: list[float]) -> dict[str, float]:
    """Count, median and p95."""
    if not values:
        return {"n": 0, "median": float("nan"), "p95": float("nan")}
    return {"n": len(values), "median": round(statistics.median(values), 1),
            "p95": round(percentile(values, 0.95), 1)}


def measure(mic: VirtualMic, rounds: int, push_to_talk: bool) -> dict[str, Any]:
    """One mode's rounds, recorded and read back."""
    recorder = Recorder(mic)
    recorder.start()
    try:
        with tempfile.TemporaryDirectory(prefix="vdr-", dir="/tmp") as tmp:
            played = run_rounds(mic, Path(tmp), rounds, push_to_talk)
    finally:
        recorder.stop()
    own = [latency for _, _, latency in played if latency is not None]
    return {"question_end_to_audio_ms": summary(gaps_ms(recorder, played)),
            "listener_speech_end_to_audio_ms": summary(own)}


def main() -> None:
    """Run both modes and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="2 rounds per mode")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rounds = 2 if args.smoke else args.rounds
    mic = VirtualMic()
    mic.start()
    try:
        results: dict[str, Any] = {
            "machine": platform.platform(), "processor": platform.processor(),
            "date": date.today().isoformat(), "model": "tiny.en", "voice": "piper joe-medium",
            "rounds": rounds, "command": " ".join(["benchmarks/spoken_reply.py", *sys.argv[1:]]),
            "push_to_talk": measure(mic, rounds, push_to_talk=True),
            "hands_free": measure(mic, rounds, push_to_talk=False),
        }
    finally:
        mic.stop()
    out = args.out or ROOT / "benchmarks" / "results" / f"{date.today()}-spoken-reply.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print("| mode | measure | n | median ms | p95 ms |\n|---|---|---|---|---|")
    for mode in ("push_to_talk", "hands_free"):
        for key, value in results[mode].items():
            print(f"| {mode} | {key} | {value['n']} | {value['median']} | {value['p95']} |")


if __name__ == "__main__":
    main()
