"""A whole hands-free session, as a user has it: `voicedesk listen` on the PulseAudio rig,
speaking its replies into the same null sink the virtual microphone hears.

The rig's microphone is the sink's monitor, so everything the console says reaches its own
microphone at full level: the worst echo there is. With `while_speaking = "mute"` it must
never hear itself. The test asks for a status and hears it, dispatches a shell job and hears
it finish (a webhook on 127.0.0.1 gets the alert once), then asks what it missed; a
recording of the sink, transcribed by tiny.en, holds the spoken answers.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_helpers import make_repo
from live_process import LiveProcess
from pulse import VirtualMic
from serve_helpers import running_server, serve_settings
from test_player import LOUD, Recorder, recorder, sink  # noqa: F401  (the recording fixtures)
from test_webhooks import Receiver

from voicedesk.audio.control import send_control_sync
from voicedesk.audio.vad import utterances
from voicedesk.config import VadSettings
from voicedesk.stt.whisper import WhisperTranscriber

pytestmark = pytest.mark.model

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def webhook() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1."""
    import threading

    server = Receiver()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def write_config(home: Path, control_dir: Path, webhook_url: str) -> Path:
    """A config with a shell agent, speech into the rig, and one webhook."""
    repo = make_repo(home / "repo")
    config = home / "config.toml"
    config.write_text(
        f'[listen]\ndevice = "pulse"\ncontrol_socket = "{control_dir}/c.sock"\n'
        '[speech]\nengine = "piper"\noutput_device = "pulse"\nwhile_speaking = "mute"\n'
        f'[alerts]\nwebhooks = ["{webhook_url}"]\npoll_s = 0.2\n'
        f'[agents.infra]\nkind = "shell"\naliases = ["ops"]\nrepo = "{repo}"\n'
        'commands = { "restart the server" = "echo server restarted" }\n'
        '[agents.frontend]\nkind = "coding"\naliases = ["web"]\n'
    )
    return config


def spoken_after(listener: LiveProcess, start: int, text: str) -> int:
    """Wait until the console, after event `start`, has said something containing `text` and
    then fallen quiet; the position of the quiet event."""
    said = listener.wait_index(
        lambda e: e.get("event") == "speaking" and text in str(e.get("text")), start, 90
    )
    return listener.wait_index(lambda e: e.get("event") == "quiet", said + 1, 60)


def heard_back(transcriber: WhisperTranscriber, pcm: bytes) -> str:
    """What tiny.en hears in a recording, utterance by utterance, lower-cased."""
    texts = [transcriber.transcribe(u.pcm).text for u in utterances(pcm, VadSettings())]
    return " ".join(texts).lower()


def test_a_hands_free_session_answers_out_loud_and_never_hears_itself(
    sink: VirtualMic,  # noqa: F811
    recorder: Recorder,  # noqa: F811
    webhook: Receiver,
    transcriber: WhisperTranscriber,
    tmp_path: Path,
) -> None:
    with tempfile.TemporaryDirectory(prefix="vd-", dir="/tmp") as control_dir:
        config = write_config(tmp_path, Path(control_dir), webhook.url("/hook"))
        listener = LiveProcess([], tmp_path, config, speak=True)
        listener.wait_ready()

        sink.play(FIXTURES / "status_job.wav")
        quiet = spoken_after(listener, 0, "There is no job 12")

        sink.play(FIXTURES / "infra_restart.wav")
        quiet = spoken_after(listener, quiet, "Job 1, infra, finished")

        sink.play(FIXTURES / "what_did_i_miss.wav")
        spoken_after(listener, quiet, "Since your last stand-up")
        assert listener.stop() == 0

    heard = listener.utterances()
    assert [u["intent"]["type"] for u in heard] == ["status", "dispatch", "standup"], heard
    assert heard[1]["intent"]["agent"] == "infra"
    said = [str(e["text"]) for e in listener.events if e.get("event") == "speaking"]
    assert said[0] == "There is no job 12."
    assert any(s.startswith("Job 1 queued for infra") for s in said)
    first = next(e for e in listener.events if e.get("event") == "speaking")
    assert first["latency_ms"] > 0

    alerts = [e for e in listener.events if e.get("event") == "alert"]
    assert next(a["text"] for a in alerts if "Job 1" in str(a["text"])).startswith(
        "Job 1, infra, finished"
    )
    hooks = webhook.of("/hook")
    assert [hit.body["alert"]["key"] for hit in hooks] == ["job:1:done"]

    recording = heard_back(transcriber, recorder.pcm)
    assert re.search(r"no job (12|twelve)", recording), recording
    assert "infra" in recording and "finished" in recording, recording
    assert re.search(r"stand.?up", recording), recording


def test_push_to_talk_stops_the_console_within_100_ms(
    sink: VirtualMic,  # noqa: F811
    recorder: Recorder,  # noqa: F811
    webhook: Receiver,
    tmp_path: Path,
) -> None:
    """A press while the console speaks its reply silences the sink within 100 ms.

    t0 is when the test writes `ptt start` to the listener's control socket; the end of the
    sound is the last 10 ms window of the sink's monitor louder than -40 dBFS, timed as in
    tests/test_player.py (an upper bound: recording latency only adds).
    """
    with tempfile.TemporaryDirectory(prefix="vd-", dir="/tmp") as control_dir:
        config = write_config(tmp_path, Path(control_dir), webhook.url("/hook"))
        socket_path = Path(control_dir) / "c.sock"
        listener = LiveProcess(["--ptt", "--no-run"], tmp_path, config, speak=True)
        listener.wait_ready()
        assert send_control_sync(socket_path, "ptt start") == "ok talking"
        sink.play(FIXTURES / "dispatch_frontend.wav")
        assert send_control_sync(socket_path, "ptt stop") == "ok idle"
        said = listener.wait_index(lambda e: e.get("event") == "speaking", 0, 60)
        assert str(listener.events[said]["text"]).startswith("Job 1 queued for frontend")
        time.sleep(1.2)  # well into "Job 1 queued for frontend: please add a dark mode toggle."
        t0 = time.monotonic()
        assert send_control_sync(socket_path, "ptt start") == "ok talking"
        time.sleep(1.2)
        assert send_control_sync(socket_path, "ptt stop") == "ok idle"
        assert listener.stop() == 0
    recorder.stop()
    times, levels = recorder.windows()
    loud = levels > LOUD
    assert loud[(times > t0 - 0.5) & (times <= t0)].any(), "the reply was not playing at t0"
    stop_ms = float(times[loud & (times < t0 + 1.0)].max() - t0) * 1000
    print(f"\npush-to-talk barge-in: the sink went quiet {stop_ms:.1f} ms after the press")
    assert stop_ms < 100
    assert [u["intent"]["type"] for u in listener.utterances()] == ["dispatch"]


def test_a_remote_microphone_hears_its_answers_and_alerts_here(
    sink: VirtualMic,  # noqa: F811
    recorder: Recorder,  # noqa: F811
    transcriber: WhisperTranscriber,
    tmp_path: Path,
) -> None:
    """`listen --remote` from the rig's microphone: the server hears and acts, this client
    speaks its replies and the job's alert into the sink, and the server never hears them."""
    repo = make_repo(tmp_path / "repo")
    agents = {"infra": {"kind": "shell", "repo": repo,
                        "commands": {"restart the server": "echo server restarted"}}}
    settings = serve_settings(tmp_path / "server", agents=agents, alerts={"poll_s": 0.2})
    with (
        tempfile.TemporaryDirectory(prefix="vd-", dir="/tmp") as control_dir,
        running_server(settings, transcriber, run_jobs=True) as url,
    ):
        config = tmp_path / "config.toml"
        config.write_text(
            f'[listen]\ndevice = "pulse"\ncontrol_socket = "{control_dir}/c.sock"\n'
            '[speech]\noutput_device = "pulse"\n'
        )
        client = LiveProcess(["--remote", url], tmp_path, config, speak=True)
        client.wait_for(lambda e: e.get("type") == "ready", timeout=60)
        sink.play(FIXTURES / "status_job.wav")
        said = client.wait_index(lambda e: e.get("type") == "speaking", 0, 60)
        time.sleep(2.5)  # "There is no job 12." plays out, and its echo tail
        sink.play(FIXTURES / "infra_restart.wav")
        client.wait_index(
            lambda e: e.get("type") == "speaking" and "finished" in str(e.get("text")),
            said + 1, 60,
        )
        time.sleep(5.0)  # the alert plays out before the stream ends
        assert client.stop() == 0, client.stderr()
    finals = [e for e in client.events if e.get("type") == "final"]
    assert [f["intent"]["type"] for f in finals] == ["status", "dispatch"], finals
    alerts = [e for e in client.events if e.get("type") == "alert"]
    assert alerts and alerts[0]["text"].startswith("Job 1, infra, finished")
    recording = heard_back(transcriber, recorder.pcm)
    assert re.search(r"no job (12|twelve)", recording), recording
    assert "finished" in recording, recording
