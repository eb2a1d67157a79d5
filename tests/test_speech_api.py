"""GET /speech and /speech/config on a real server: the page's replies in the server's voice."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import httpx
import numpy as np
import pytest
from serve_helpers import running_server, serve_settings

from voicedesk.speech.synth import Speech, resample
from voicedesk.stt.whisper import WhisperTranscriber

pytestmark = pytest.mark.model


def test_speech_is_a_wav_that_reads_back(tmp_path: Path, transcriber: WhisperTranscriber) -> None:
    settings = serve_settings(tmp_path, speech={"web": "server"})
    with running_server(settings, transcriber) as url:
        config = httpx.get(f"{url}/speech/config", timeout=10).json()
        assert config == {"web": "server", "engine": "piper"}
        answer = httpx.get(f"{url}/speech", params={"text": "Job 12, frontend, finished."},
                           timeout=60)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "audio/wav"
        with wave.open(io.BytesIO(answer.content)) as wav:
            rate, pcm = wav.getframerate(), wav.readframes(wav.getnframes())
        assert wav.getnchannels() == 1 and len(pcm) / 2 / rate > 1.0
        heard = transcriber.transcribe(resample(Speech(pcm, rate), 16000).pcm).text.lower()
        assert "12" in heard or "twelve" in heard, heard
        assert "finished" in heard, heard
        too_long = httpx.get(f"{url}/speech", params={"text": "a" * 1001}, timeout=10)
        assert too_long.status_code == 422
        blank = httpx.get(f"{url}/speech", params={"text": "   "}, timeout=10)
        assert blank.status_code == 422 and "nothing to say" in blank.json()["detail"]
        assert httpx.get(f"{url}/speech", timeout=10).status_code == 422


def test_a_browser_voice_server_does_not_speak(
    tmp_path: Path, transcriber: WhisperTranscriber
) -> None:
    with running_server(serve_settings(tmp_path), transcriber) as url:
        assert httpx.get(f"{url}/speech/config", timeout=10).json()["web"] == "browser"
        refused = httpx.get(f"{url}/speech", params={"text": "hello"}, timeout=10)
        assert refused.status_code == 404 and "does not speak" in refused.json()["detail"]


def test_speech_needs_the_token(tmp_path: Path, transcriber: WhisperTranscriber) -> None:
    settings = serve_settings(tmp_path, serve={"token": "t0k"}, speech={"web": "server"})
    with running_server(settings, transcriber) as url:
        assert httpx.get(f"{url}/speech", params={"text": "hi"}).status_code == 401
        ok = httpx.get(f"{url}/speech", params={"text": "hi"},
                       headers={"Authorization": "Bearer t0k"}, timeout=60)
        assert ok.status_code == 200
        samples = np.frombuffer(ok.content[44:], dtype="<i2")
        assert np.abs(samples).max() > 1000  # sound, not silence
