"""`voicedesk listen` through a real (virtual PulseAudio) microphone, as a user runs it."""

from __future__ import annotations

import json
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_helpers import make_repo
from live_process import LiveProcess, voicedesk
from pulse import VirtualMic

pytestmark = pytest.mark.model

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def control_dir() -> Iterator[Path]:
    """A short directory for the control socket (AF_UNIX paths are limited to ~107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="vd-", dir="/tmp") as path:
        yield Path(path)


def write_config(home: Path, control_dir: Path, extra: str = "") -> Path:
    """A config with the default agents, the test socket and any extra TOML."""
    config = home / "config.toml"
    config.write_text(
        f'[listen]\ndevice = "pulse"\ncontrol_socket = "{control_dir}/c.sock"\n{extra}'
    )
    return config


def intents(process: LiveProcess) -> list[dict[str, object]]:
    """The contract intents of the utterances heard so far."""
    return [e["intent"] for e in process.utterances()]


def test_hands_free_hears_every_command(
    virtual_mic: VirtualMic, tmp_path: Path, control_dir: Path
) -> None:
    repo = make_repo(tmp_path / "repo")
    agents = (  # the default agents, but backend is a shell agent whose job runs in-process
        '[agents.frontend]\nkind = "coding"\naliases = ["web", "ui"]\n'
        f'[agents.backend]\nkind = "shell"\naliases = ["api", "server"]\nrepo = "{repo}"\n'
        'commands = { "fix the flaky login test" = "echo fixed > fixed.txt" }\n'
        '[agents.infra]\nkind = "shell"\naliases = ["ops"]\n'
        '[agents.research]\nkind = "research"\naliases = ["researcher"]\n'
    )
    config = write_config(tmp_path, control_dir, agents)
    listener = LiveProcess(["--stats"], tmp_path, config)
    listener.wait_ready()
    virtual_mic.play(FIXTURES / "multi_command.wav")
    listener.wait_for(lambda e: e.get("intent", {}).get("type") == "cancel")
    listener.wait_for(
        lambda e: e.get("event") == "alert" and str(e["text"]).startswith("Job 1, backend, ")
    )
    assert listener.stop() == 0
    stats = listener.stderr()
    assert "closed_to_stored" in stats and "n=  4" in stats, stats
    heard = intents(listener)
    transcripts = [e["transcript"] for e in listener.utterances()]
    assert [i["type"] for i in heard] == ["dispatch", "status", "experiment", "cancel"], transcripts
    assert (heard[0]["agent"], heard[0]["job"]) == ("backend", None)
    assert "login test" in str(heard[0]["task"])
    assert (heard[1]["job"], heard[3]["job"]) == (12, 3)
    timings = listener.utterances()[0]["timings_ms"]
    assert 400 <= timings["segment_close"] <= 1500  # the hangover, measured on the wall clock
    assert timings["closed_to_stored"] > 0
    job = json.loads(voicedesk(["job", "1", "--json"], tmp_path, config).stdout)
    assert "login test" in job["task"] and job["status"] in ("done", "failed")
    assert job["status"] == "failed" or (repo / "fixed.txt").read_text() == "fixed\n"


def test_wake_word_gates_commands(
    virtual_mic: VirtualMic, tmp_path: Path, control_dir: Path
) -> None:
    config = write_config(tmp_path, control_dir, 'wake_word = "computer"\n')
    listener = LiveProcess(["--dry-run"], tmp_path, config)
    listener.wait_ready()
    virtual_mic.play(FIXTURES / "wake_word.wav")
    listener.wait_for(lambda e: e.get("event") == "utterance")
    assert listener.stop() == 0
    assert [i["type"] for i in intents(listener)] == ["results"]
    ignored = [e["text"] for e in listener.events if e.get("event") == "ignored"]
    assert len(ignored) == 1, ignored  # "What is running?" had no wake word


def test_push_to_talk_through_the_control_socket(
    virtual_mic: VirtualMic, tmp_path: Path, control_dir: Path
) -> None:
    config = write_config(tmp_path, control_dir)
    listener = LiveProcess(["--ptt", "--dry-run"], tmp_path, config)
    listener.wait_ready()
    assert voicedesk(["ptt", "start"], tmp_path, config).stdout.strip() == "talking"
    virtual_mic.play(FIXTURES / "status_job.wav")
    assert voicedesk(["ptt", "stop"], tmp_path, config).stdout.strip() == "idle"
    event = listener.wait_for(lambda e: e.get("event") == "utterance")
    assert event["intent"] == {"type": "status", "agent": None, "job": 12, "task": None}
    assert event["timings_ms"]["closed_to_stored"] > 0
    # Speech played while nobody holds the key is not heard.
    virtual_mic.play(FIXTURES / "cancel_job.wav")
    assert listener.stop() == 0
    assert len(listener.utterances()) == 1


def test_a_cancel_is_confirmed_by_yes(
    virtual_mic: VirtualMic, tmp_path: Path, control_dir: Path
) -> None:
    config = write_config(tmp_path, control_dir)
    for task in ("one", "two", "three"):
        said = voicedesk(["say", "--no-run", f"backend, task {task}"], tmp_path, config)
        assert said.returncode == 0
    listener = LiveProcess(["--no-run"], tmp_path, config)  # the jobs stay queued
    listener.wait_ready()
    virtual_mic.play(FIXTURES / "cancel_job.wav")
    asked = listener.wait_for(lambda e: e.get("action") == "asked")
    assert asked["reply"] == "Cancel job 3 (backend)? Say yes or no."
    virtual_mic.play(FIXTURES / "yes.wav")
    done = listener.wait_for(lambda e: str(e.get("action", "")).startswith("confirmed"))
    assert done["reply"] == "Cancelled job 3 (backend)."
    assert listener.stop() == 0
    assert "cancelled" in voicedesk(["jobs"], tmp_path, config).stdout


def test_an_unanswered_cancel_times_out(
    virtual_mic: VirtualMic, tmp_path: Path, control_dir: Path
) -> None:
    config = write_config(tmp_path, control_dir, "confirm_timeout_s = 1.5\n")
    for task in ("one", "two", "three"):
        voicedesk(["say", "--no-run", f"backend, task {task}"], tmp_path, config)
    listener = LiveProcess(["--no-run"], tmp_path, config)
    listener.wait_ready()
    virtual_mic.play(FIXTURES / "cancel_job.wav")
    listener.wait_for(lambda e: e.get("action") == "asked")
    notice = listener.wait_for(lambda e: e.get("event") == "notice", timeout=10)
    assert notice["text"] == "No answer, so I did not cancel job 3."
    assert listener.stop() == 0
    assert "cancelled" not in voicedesk(["jobs"], tmp_path, config).stdout


def test_sigterm_mid_utterance_finishes_it(
    virtual_mic: VirtualMic, tmp_path: Path, control_dir: Path
) -> None:
    listener = LiveProcess(["--dry-run"], tmp_path, write_config(tmp_path, control_dir))
    listener.wait_ready()
    player = virtual_mic.play(FIXTURES / "status_job.wav", wait=False)
    assert player is not None
    time.sleep(1.8)  # inside "What is the status of job twelve?"
    assert listener.stop(signal.SIGTERM) == 0
    player.wait(timeout=10)
    [event] = listener.utterances()  # the half-said command was transcribed, not dropped
    assert event["transcript"].strip(), event


def test_a_second_listener_on_the_same_socket_refuses(
    virtual_mic: VirtualMic, tmp_path: Path, control_dir: Path
) -> None:
    config = write_config(tmp_path, control_dir)
    first = LiveProcess(["--dry-run"], tmp_path, config)
    first.wait_ready()
    second = LiveProcess(["--dry-run"], tmp_path, config)
    assert second.process.wait(timeout=60) == 1
    message = second.stderr().strip()
    assert message.count("\n") == 0 and "already running" in message
    assert first.stop() == 0


def test_unknown_device_lists_the_devices(tmp_path: Path, control_dir: Path) -> None:
    config = write_config(tmp_path, control_dir)
    result = voicedesk(["listen", "--device", "no-such-microphone"], tmp_path, config)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "no-such-microphone" in result.stderr and "input devices:" in result.stderr


def test_ptt_without_a_listener_is_one_clear_line(tmp_path: Path, control_dir: Path) -> None:
    result = voicedesk(["ptt", "start"], tmp_path, write_config(tmp_path, control_dir))
    assert result.returncode == 1
    assert "no voicedesk listener is running" in result.stderr


def test_partial_transcripts_show_while_speaking(
    virtual_mic: VirtualMic, tmp_path: Path, control_dir: Path
) -> None:
    config = write_config(tmp_path, control_dir)
    listener = LiveProcess(["--partials", "on", "--dry-run"], tmp_path, config)
    listener.wait_ready()
    virtual_mic.play(FIXTURES / "experiment.wav")
    final = listener.wait_for(lambda e: e.get("event") == "utterance")
    assert listener.stop() == 0
    partials = [e["text"] for e in listener.events if e.get("event") == "partial"]
    assert partials, listener.events
    assert listener.events.index(final) > listener.events.index(
        next(e for e in listener.events if e.get("event") == "partial")
    )
    assert final["intent"]["type"] == "experiment"


def test_a_vanishing_microphone_ends_with_one_line_after_the_work_in_flight(
    virtual_mic: VirtualMic, tmp_path: Path, control_dir: Path
) -> None:
    listener = LiveProcess([], tmp_path, write_config(tmp_path, control_dir))
    listener.wait_ready()
    try:
        virtual_mic.play(FIXTURES / "results.wav", wait=False)
        time.sleep(3.0)  # the command has ended; its hangover may still be running
        virtual_mic.vanish()
        code = listener.process.wait(timeout=60)
        listener.stop()
    finally:
        virtual_mic.start()
    assert code == 1
    message = listener.stderr().strip().splitlines()
    assert message[-1].startswith("voicedesk: error: input device 'pulse' stopped"), message
    assert [e["intent"]["type"] for e in listener.utterances()] == ["results"]
