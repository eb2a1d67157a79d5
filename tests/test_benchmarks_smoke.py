"""The benchmark scripts still run: each one's --smoke size, as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.model
def test_serve_load_smoke(tmp_path: Path) -> None:
    out = tmp_path / "serve.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "serve_load.py"), "--smoke", "--out", str(out)],
        capture_output=True, text=True, timeout=180, cwd=ROOT, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| GET /jobs/{id}, 10 connections back to back |" in done.stdout
    assert "| GET /jobs/{id} at 50/s (open loop) |" in done.stdout
    assert "upload / direct:" in done.stdout
    results = json.loads(out.read_text())
    for phase in ("jobs_get", "jobs_get_while_transcribing"):
        assert results[phase]["requests"] == 20 and results[phase]["errors"] == 0
    assert results["jobs_get_while_transcribing"]["transcriptions"] >= 1
    for phase in ("paced", "paced_while_transcribing"):
        assert results[phase]["requests"] == 125 and results[phase]["errors"] == 0  # 2.5 s
    assert results["upload_vs_direct"]["ratio"] > 0


def test_tts_smoke(tmp_path: Path) -> None:
    out = tmp_path / "tts.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "tts.py"), "--smoke", "--out", str(out)],
        capture_output=True, text=True, timeout=180, cwd=ROOT, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "piper" in done.stdout
    assert json.loads(out.read_text())


@pytest.mark.model
def test_spoken_reply_smoke(tmp_path: Path) -> None:
    from pulse import pulse_unavailable_reason

    reason = pulse_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    out = tmp_path / "spoken.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "spoken_reply.py"), "--smoke", "--out",
         str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    for mode in ("push_to_talk", "hands_free"):
        measured = results[mode]["question_end_to_audio_ms"]
        assert measured["n"] == 2 and 0 < measured["median"] < 10_000
