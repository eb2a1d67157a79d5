"""Live-voice latency through a virtual PulseAudio microphone (a benchmark, not a test).

Measures, with the configured model (tiny.en by default) on this machine:
  1. push-to-talk: key release (`voicedesk ptt stop`) -> intent stored, p50/p95;
  2. hands-free: speech end -> intent, and the hangover's share of it;
  3. VAD CPU time per second of audio;
  4. optionally, dev-set intent accuracy through the live path (--dev-stream, --labels).

Usage (from the repo root, with PulseAudio and pulseaudio-utils installed):
  .venv/bin/python benchmarks/live_voice.py [--commands DIR] [--rounds 4]
      [--dev-stream ../shared/data/commands/dev/stream.wav
       --labels ../shared/data/commands/dev/labels.tsv
       --agents ../shared/data/commands/agents.toml --eval ../shared/tools/eval_commands.py]
Writes benchmarks/results/<date>-live-voice.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from live_process import LiveProcess, voicedesk  # noqa: E402
from pulse import VirtualMic, pulse_unavailable_reason  # noqa: E402, F401 (suite_e2e)

from benchmarks.suite_vad import (  # noqa: E402
    detector_cpu_ms_per_second as vad_cpu_ms_per_second,
)
from voicedesk.audio.files import load_audio  # noqa: E402
from voicedesk.stats import summarise  # noqa: E402

COMMAND_FIXTURES = ("dispatch_frontend", "status_job", "cancel_job", "experiment", "results")


def write_config(home: Path, socket_dir: Path, agents: Path | None, extra: str = "") -> Path:
    """A config for the benchmark listener: the virtual mic, a private socket, the agents,
    then `extra` TOML (an `[stt]` section, say)."""
    body = agents.read_text() if agents else ""
    config = home / "config.toml"
    config.write_text(
        f'{body}\n[listen]\ndevice = "pulse"\ncontrol_socket = "{control_socket(socket_dir)}"\n'
        f"{extra}"
    )
    return config


def control_socket(socket_dir: Path) -> Path:
    """The benchmark listener's control socket in `socket_dir` (as `write_config` sets it)."""
    return socket_dir / "c.sock"


def send_line(path: Path, line: str, timeout: float = 5.0) -> str:
    """Send one line straight to a listener's control socket, as `printf 'LINE\\n' | nc -UN
    PATH` would (no Python start-up, unlike `voicedesk ptt`); the listener's reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(line.encode() + b"\n")
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := sock.recv(1024):
            reply += chunk
    return reply.decode(errors="replace").strip()


def push_to_talk(
    mic: VirtualMic, clips: list[Path], home: Path, config: Path,
    control: Path | None = None, listen_args: Sequence[str] = (),
) -> list[dict[str, float]]:
    """Each clip between `ptt start` and `ptt stop`; the timings of every utterance heard.

    Without `control`, the lines are sent by running `voicedesk ptt start|stop`, and each
    record also has `ptt_stop_command`: the wall time of the `voicedesk ptt stop` process
    itself (Python start-up included), which a desktop shortcut adds to the release. With
    `control` (the listener's socket), they are written to it directly and each record has
    `ptt_stop_to_event`: wall ms from writing `ptt stop` to the utterance event being read
    from the listener's stdout. A clip the model did not hear is left out.
    """
    listener = LiveProcess(["--ptt", *listen_args], home, config)
    listener.wait_ready()
    records = []
    for clip in clips:
        count = len(listener.utterances())
        _ptt("start", home, config, control)
        mic.play(clip)
        began = time.perf_counter()
        command_ms = _ptt("stop", home, config, control)
        # a clip the model did not hear counts against accuracy, not latency
        with contextlib.suppress(AssertionError):
            listener.wait_for(lambda e, n=count: len(listener.utterances()) > n, 30)
            waited_ms = (time.perf_counter() - began) * 1000.0
            timings = dict(listener.utterances()[count]["timings_ms"])
            key = "ptt_stop_command" if control is None else "ptt_stop_to_event"
            records.append({**timings, key: command_ms if control is None else waited_ms})
    listener.stop()
    return records


def _ptt(action: str, home: Path, config: Path, control: Path | None) -> float:
    """`ptt ACTION` to the listener (through `control`, else `voicedesk ptt`); its wall ms."""
    began = time.perf_counter()
    if control is not None:
        reply = send_line(control, f"ptt {action}")
        if not reply.startswith("ok"):
            raise RuntimeError(f"ptt {action} failed: {reply}")
    else:
        done = voicedesk(["ptt", action], home, config)
        if done.returncode:
            raise RuntimeError(f"ptt {action} failed: {done.stderr}")
    return (time.perf_counter() - began) * 1000.0


def hands_free(
    mic: VirtualMic, clips: list[Path], home: Path, config: Path,
    listen_args: Sequence[str] = (),
) -> list[dict[str, float]]:
    """Each clip played with silence between; the timings of every utterance."""
    listener = LiveProcess(list(listen_args), home, config)
    listener.wait_ready()
    for clip in clips:
        count = len(listener.utterances())
        mic.play(clip)
        # a clip the model did not hear counts against accuracy, not latency
        with contextlib.suppress(AssertionError):
            listener.wait_for(lambda e, n=count: len(listener.utterances()) > n, 15)
    listener.stop()
    return [e["timings_ms"] for e in listener.utterances()]


def live_accuracy(mic: VirtualMic, args: argparse.Namespace, home: Path, config: Path) -> str:
    """Play the dev stream into a hands-free dry-run listener and score it."""
    listener = LiveProcess(["--dry-run"], home, config)
    listener.wait_ready()
    player = mic.play(args.dev_stream, wait=False)
    assert player is not None
    player.wait(timeout=len(load_audio(args.dev_stream)) / 32_000 + 60)
    time.sleep(3)
    listener.stop()
    out = ROOT / "benchmarks" / "results" / f"{date.today().isoformat()}-live-dev.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(e) + "\n" for e in listener.utterances()))
    scored = subprocess.run(
        [sys.executable, str(args.eval), str(args.labels), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    return scored.stdout.strip().splitlines()[-1]


def row(name: str, summary: dict[str, tuple[int, float, float]], key: str) -> str:
    """One markdown table row."""
    count, median, p95 = summary.get(key, (0, float("nan"), float("nan")))
    return f"| {name} | {key} | {count} | {median:.0f} | {p95:.0f} |"


def main() -> None:
    """Run the suites and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=Path, default=ROOT / "tests" / "fixtures")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--dev-stream", type=Path)
    parser.add_argument("--labels", type=Path)
    parser.add_argument("--agents", type=Path)
    parser.add_argument("--eval", type=Path)
    parser.add_argument(
        "--accuracy-runs",
        type=int,
        default=1,
        help="times to play the dev stream (its score varies run to run)",
    )
    parser.add_argument("--skip-latency", action="store_true", help="only the dev-set accuracy")
    args = parser.parse_args()
    clips = [args.commands / f"{name}.wav" for name in COMMAND_FIXTURES] * args.rounds
    mic = VirtualMic()
    mic.start()
    results: dict[str, Any] = {
        "machine": platform.platform(),
        "processor": platform.processor(),
        "date": date.today().isoformat(),
        "clips": len(clips),
    }
    try:
        with tempfile.TemporaryDirectory(prefix="vdb-", dir="/tmp") as tmp:
            home = Path(tmp)
            config = write_config(home, home, args.agents)
            if not args.skip_latency:
                ptt = summarise(push_to_talk(mic, clips, home, config))
                free = summarise(hands_free(mic, clips, home, config))
                results.update(push_to_talk=ptt, hands_free=free)
                wav = args.commands / "multi_command.wav"
                results["vad_cpu_ms_per_s"] = vad_cpu_ms_per_second(wav)
                report(results)
            if args.dev_stream and args.labels and args.eval:
                scores = [live_accuracy(mic, args, home, config) for _ in range(args.accuracy_runs)]
                results["live_dev_accuracy"] = scores
                print("dev set through the live path:", *scores, sep="\n  ")
                save(results)
    finally:
        mic.stop()


def report(results: dict[str, Any]) -> None:
    """Print the latency table and save the results so far."""
    ptt, free = results["push_to_talk"], results["hands_free"]
    share = free["segment_close"][1] / max(free["speech_end_to_intent"][1], 1e-9)
    results["hangover_share_of_hands_free"] = share
    lines = [
        "| mode | timing | n | median ms | p95 ms |",
        "|---|---|---|---|---|",
        *(
            row("push-to-talk", ptt, key)
            for key in ("closed_to_stored", "transcribe", "ptt_stop_command")
        ),
        *(
            row("hands-free", free, key)
            for key in ("segment_close", "speech_end_to_intent", "closed_to_stored")
        ),
    ]
    print("\n".join(lines))
    print(f"hangover share of hands-free speech-end->intent (medians): {share:.0%}")
    print(f"VAD CPU: {results['vad_cpu_ms_per_s']:.3f} ms per second of audio", flush=True)
    save(results)


def save(results: dict[str, Any]) -> None:
    """Write the results to benchmarks/results/<date>-live-voice.json."""
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{date.today().isoformat()}-live-voice.json").write_text(
        json.dumps(results, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
