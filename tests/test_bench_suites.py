"""The e2e and service benchmark suites at smoke size, each run in a subprocess from the root."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `benchmarks` is a folder of the checkout, not installed
    sys.path.insert(0, str(ROOT))

_RUN = """
import json, sys
from benchmarks.harness import Context
from benchmarks import suite_{name} as suite
result = suite.run(Context(smoke=True))
open(sys.argv[1], "w").write(json.dumps(result.to_json()))
"""


def run_suite(name: str, tmp_path: Path) -> dict[str, Any]:
    """`benchmarks.suite_<name>.run(Context(smoke=True))` in a fresh interpreter; its JSON."""
    out = tmp_path / f"{name}.json"
    done = subprocess.run(
        [sys.executable, "-c", _RUN.format(name=name), str(out)],
        capture_output=True, text=True, timeout=150, cwd=ROOT, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


def by_name(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The suite's figures by name."""
    return {figure["name"]: figure for figure in result["figures"]}


def assert_measured(figure: dict[str, Any], count: int, upper: float) -> None:
    """`count` samples (at least), a positive median below `upper`, p95 not under it."""
    assert figure["n"] >= count, figure
    assert 0 < figure["median"] < upper and figure["p95"] >= figure["median"], figure


@pytest.mark.model
def test_e2e_smoke_times_both_modes(tmp_path: Path) -> None:
    from pulse import pulse_unavailable_reason

    reason = pulse_unavailable_reason()
    if reason is not None:
        print(f"e2e suite skipped: {reason}")
        pytest.skip(reason)
    result = run_suite("e2e", tmp_path)
    assert result["suite"] == "e2e" and result["command"].startswith("python -m benchmarks e2e")
    figures = by_name(result)
    release = figures["push-to-talk: release → intent"]
    assert release["goal"] == "≤ 700" and release["met"] in (True, False)
    assert_measured(release, 2, 10_000)
    outside = figures["push-to-talk: `ptt stop` sent → utterance event (outside check)"]
    assert_measured(outside, 2, 10_000)
    assert outside["median"] >= release["median"]  # the outside view contains the inside one
    hangover = figures["hands-free: speech end → segment closed"]
    assert_measured(hangover, 2, 5_000)
    intent = figures["hands-free: speech end → intent"]
    assert_measured(intent, 2, 15_000)
    assert intent["median"] > hangover["median"]
    assert_measured(figures["hands-free: speech end → job stored"], 2, 15_000)


@pytest.mark.model
def test_e2e_without_pulseaudio_feeds_the_live_listener_in_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import benchmarks.live_voice as live_voice
    from benchmarks import suite_e2e
    from benchmarks.harness import Context

    monkeypatch.setattr(live_voice, "pulse_unavailable_reason", lambda: "no pulseaudio here")
    result = suite_e2e.run(Context(smoke=True))
    assert result.details["path"].startswith("in-process frames (no pulseaudio here)")
    assert result.details["push_to_talk_heard"] == 2 and result.details["hands_free_heard"] == 2
    figures = {figure.name: figure for figure in result.figures}
    release = figures["push-to-talk: release → intent"]
    assert release.n == 2 and 0 < (release.median or 0) < 15_000
    hangover = figures["hands-free: speech end → segment closed"]
    assert hangover.n == 2 and 400 <= (hangover.median or 0) <= 600  # the 500 ms hangover


@pytest.mark.model
def test_service_smoke_times_status_uploads_and_streams(tmp_path: Path) -> None:
    result = run_suite("service", tmp_path)
    figures = by_name(result)
    p99 = figures["status p99 while transcribing"]
    assert p99["goal"] == "≤ 50" and p99["n"] == 1 and p99["median"] > 0
    for name in ("status latency while transcribing", "status latency, idle"):
        assert_measured(figures[name], 75, 5_000)  # 1.5 s paced at 50 requests a second
    for name in ("status p99 at saturation while transcribing", "status p99 at saturation, idle"):
        assert figures[name]["n"] == 1 and figures[name]["median"] > 0
    for name in ("status throughput, idle", "status throughput while transcribing"):
        assert figures[name]["median"] > 0
    assert_measured(figures["upload latency POST /v1/audio/transcriptions"], 2, 30_000)
    for streams in (1, 2):
        ws = figures[f"WS final-transcript latency, N={streams}"]
        assert_measured(ws, streams, 30_000)
        assert ws["median"] > 300  # it waits out the 500 ms hangover, at least most of it
    assert result["details"]["errors"] == {"jobs_get": 0, "jobs_get_while_transcribing": 0}
    assert [r["streams"] for r in result["details"]["ws"]] == [1, 2]


def test_stream_scripts_keep_speech_near_the_duty_and_on_the_frame_grid() -> None:
    from benchmarks import suite_service as service

    clip = service.Clip("c", bytes(2 * 16_000 * 2), voiced_start=0.39, voiced_end=1.59)
    plans = service.scripts([clip], streams=2, seconds=60.0)
    for plan in plans:
        assert len(plan.pcm) == 60 * 32_000
        speech = sum(s.end - s.start for s in plan.spoken)
        assert 0.25 < speech / 60.0 <= 0.31, speech
        for spoken in plan.spoken:
            assert round((spoken.start - 0.39) * 16_000) % service.FRAME_SAMPLES == 0
    assert plans[0].spoken[0].start < plans[1].spoken[0].start  # phases spread
    short = service.script([clip], seconds=1.0, phase=0.0, first=0)
    assert len(short.spoken) == 1 and len(short.pcm) / 32_000 >= short.spoken[0].end + 1.0
