"""POST /v1/audio/transcriptions on a real server: the OpenAI client, formats, bad input."""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI
from serve_helpers import running_server, serve_settings

from voicedesk.api.routes_transcriptions import srt, timestamp, vtt
from voicedesk.audio.files import NotAudioError, load_audio, load_audio_bytes
from voicedesk.errors import AudioDecodeError
from voicedesk.stt.whisper import FileSegment, WhisperTranscriber

pytestmark = pytest.mark.model

FIXTURES = Path(__file__).parent / "fixtures"
SPEECH = FIXTURES / "dispatch_frontend.wav"
SMALL_LIMIT_MB = 0.1
"""The protected server's upload limit: 104857 bytes, above yes.wav, below dispatch_frontend."""

SRT_TIME = r"\d\d:\d\d:\d\d,\d\d\d"
VTT_TIME = r"\d\d:\d\d:\d\d\.\d\d\d"


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory, transcriber: WhisperTranscriber) -> Iterator[str]:
    """An open server with the default upload limit."""
    settings = serve_settings(tmp_path_factory.mktemp("open"))
    with running_server(settings, transcriber) as base:
        yield base


@pytest.fixture(scope="module")
def guarded(
    tmp_path_factory: pytest.TempPathFactory, transcriber: WhisperTranscriber
) -> Iterator[str]:
    """A server with token "t0k", a 0.1 MB upload limit and a 5 s audio limit."""
    serve = {"token": "t0k", "max_upload_mb": SMALL_LIMIT_MB, "max_upload_seconds": 5.0}
    settings = serve_settings(tmp_path_factory.mktemp("guarded"), serve=serve)
    with running_server(settings, transcriber) as base:
        yield base


def client(url: str, key: str = "unused") -> OpenAI:
    """The official client pointed at the test server, without retries."""
    return OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


def post(url: str, content: bytes, name: str = "a.wav", **fields: str) -> httpx.Response:
    """A multipart upload of `content` with the given form fields (model defaults to tiny.en)."""
    data = {"model": "tiny.en", **fields}
    files = {"file": (name, content, "audio/wav")}
    return httpx.post(f"{url}/v1/audio/transcriptions", data=data, files=files, timeout=60)


def refused(response: httpx.Response, status: int) -> str:
    """Assert a refusal with a one-line reason; the reason."""
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail
    return detail


def with_fmt_field(offset: int, value: int, size: str) -> bytes:
    """The speech fixture with one fmt-chunk field overwritten."""
    data = bytearray(SPEECH.read_bytes())
    struct.pack_into(size, data, offset, value)
    return bytes(data)


def test_json_through_the_openai_client(url: str) -> None:
    with SPEECH.open("rb") as audio:
        result = client(url).audio.transcriptions.create(model="tiny.en", file=audio)
    assert "dark mode" in result.text.lower()


def test_text(url: str) -> None:
    with SPEECH.open("rb") as audio:
        text = client(url).audio.transcriptions.create(
            model="whisper-1", file=audio, response_format="text"
        )
    assert isinstance(text, str) and "dark mode" in text.lower()


def test_verbose_json_segments_are_timed_within_the_file(url: str) -> None:
    with SPEECH.open("rb") as audio:
        result = client(url).audio.transcriptions.create(
            model="tiny.en", file=audio, response_format="verbose_json", language="en"
        )
    assert "dark mode" in result.text.lower()
    assert result.language == "en"
    assert result.duration == pytest.approx(len(load_audio(SPEECH)) / 32_000, abs=0.01)
    segments = result.segments or []
    assert segments and [s.id for s in segments] == list(range(len(segments)))
    ends = 0.0
    for segment in segments:
        assert ends <= segment.start < segment.end <= result.duration + 0.01
        assert segment.seek == 0 and segment.tokens == []
        assert segment.avg_logprob <= 0.0 and 0.0 <= segment.no_speech_prob <= 1.0
        ends = segment.end


def test_srt(url: str) -> None:
    with SPEECH.open("rb") as audio:
        text = client(url).audio.transcriptions.create(
            model="tiny.en", file=audio, response_format="srt"
        )
    assert isinstance(text, str)
    assert re.match(rf"1\n{SRT_TIME} --> {SRT_TIME}\n", text), text
    assert "dark mode" in text.lower()


def test_vtt(url: str) -> None:
    with SPEECH.open("rb") as audio:
        text = client(url).audio.transcriptions.create(
            model="tiny.en", file=audio, response_format="vtt"
        )
    assert isinstance(text, str)
    assert re.match(rf"WEBVTT\n\n{VTT_TIME} --> {VTT_TIME}\n", text), text
    assert "dark mode" in text.lower()


def test_prompt_is_accepted(url: str) -> None:
    response = post(url, SPEECH.read_bytes(), prompt="Frontend, dark mode.", temperature="0.2")
    assert response.status_code == 200
    assert "dark mode" in response.json()["text"].lower()


def test_the_token_is_sent_as_bearer(guarded: str) -> None:
    with (FIXTURES / "yes.wav").open("rb") as audio:
        result = client(guarded, "t0k").audio.transcriptions.create(model="tiny.en", file=audio)
    assert "yes" in result.text.lower()
    with (FIXTURES / "yes.wav").open("rb") as audio, pytest.raises(openai.AuthenticationError):
        client(guarded, "wrong").audio.transcriptions.create(model="tiny.en", file=audio)


def test_no_token_is_401_before_the_body_matters(guarded: str) -> None:
    assert "needs a token" in refused(post(guarded, SPEECH.read_bytes()), 401)
    assert "needs a token" in refused(post(guarded, b"not even audio"), 401)


def test_over_the_limit_is_413(guarded: str) -> None:
    auth = {"Authorization": "Bearer t0k"}
    files = {"file": ("big.wav", SPEECH.read_bytes(), "audio/wav")}
    response = httpx.post(f"{guarded}/v1/audio/transcriptions", data={"model": "m"},
                          files=files, headers=auth, timeout=60)
    assert "max_upload_mb = 0.1" in refused(response, 413)


def test_audio_longer_than_the_limit_is_413(guarded: str) -> None:
    auth = {"Authorization": "Bearer t0k"}
    files = {"file": ("long.wav", _seconds_of_silence(6), "audio/wav")}
    response = httpx.post(f"{guarded}/v1/audio/transcriptions", data={"model": "m"},
                          files=files, headers=auth, timeout=60)
    assert refused(response, 413) == (
        "the audio is 6 s long; the limit is 5 s ([serve] max_upload_seconds)"
    )


def _seconds_of_silence(seconds: float) -> bytes:
    """An 8 kHz mono WAV of silence (96 kB for 6 s: under the byte limit)."""
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(int(8000 * seconds) * 2))
    return buffer.getvalue()


def test_a_declared_length_over_the_limit_is_413_unread(guarded: str) -> None:
    body = (FIXTURES / "multi_command.wav").read_bytes()
    files = {"file": ("big.wav", body, "audio/wav")}
    response = httpx.post(f"{guarded}/v1/audio/transcriptions", data={"model": "m"},
                          files=files, headers={"Authorization": "Bearer t0k"}, timeout=60)
    assert "Content-Length" in refused(response, 413)


def test_a_body_without_a_length_is_counted(guarded: str) -> None:
    request = httpx.Request("POST", f"{guarded}/v1/audio/transcriptions", data={"model": "m"},
                            files={"file": ("big.wav", bytes(600_000), "audio/wav")})
    head = {key: value for key, value in request.headers.items() if key != "content-length"}
    whole = request.read()

    def chunks() -> Iterator[bytes]:
        """The body in 16 KiB pieces, sent chunked."""
        for at in range(0, len(whole), 16_384):
            yield whole[at:at + 16_384]

    head["Authorization"] = "Bearer t0k"
    response = httpx.post(request.url, content=chunks(), headers=head, timeout=60)
    assert "limit" in refused(response, 413)


def test_not_audio_is_415(url: str) -> None:
    detail = refused(post(url, (FIXTURES / "not_audio.wav").read_bytes(), "notes.wav"), 415)
    assert "cannot be decoded" in detail and "notes.wav" in detail


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        ((FIXTURES / "empty.wav").read_bytes(), "no audio samples"),
        ((FIXTURES / "truncated.wav").read_bytes(), "truncated"),
        (with_fmt_field(28, 16_000, "<I"), "byte rate 16000"),
        (with_fmt_field(24, 44_100, "<I"), "sample rate 44100"),
        (with_fmt_field(32, 4, "<H"), "block align 4"),
        (with_fmt_field(40, 10**6, "<I"), "data chunk claims 1000000 bytes"),
    ],
    ids=["zero-bytes", "empty-wav", "truncated", "byte-rate", "sample-rate", "block-align",
         "data-size"],
)
def test_bad_wavs_are_400(url: str, content: bytes, reason: str) -> None:
    assert reason in refused(post(url, content), 400)


def test_another_language_on_an_english_model_is_400(url: str) -> None:
    assert "English-only" in refused(post(url, SPEECH.read_bytes(), language="fr"), 400)
    assert post(url, SPEECH.read_bytes(), language="EN").status_code == 200


def test_missing_fields_and_unknown_formats_are_422(url: str) -> None:
    no_file = httpx.post(f"{url}/v1/audio/transcriptions", data={"model": "tiny.en"})
    assert "file" in refused(no_file, 422)
    assert "model" in refused(httpx.post(f"{url}/v1/audio/transcriptions",
                                         files={"file": ("a.wav", b"x")}), 422)
    bad = post(url, SPEECH.read_bytes(), response_format="diarized_json")
    assert "response_format" in refused(bad, 422)


def test_still_healthy_after_the_bad_inputs(url: str, guarded: str) -> None:
    for base in (url, guarded):
        post(base, b"RIFF....WAVEjunk")
        assert httpx.get(f"{base}/healthz").json()["status"] == "ok"


def test_openapi_documents_the_form_and_the_json_forms(url: str) -> None:
    spec = httpx.get(f"{url}/openapi.json").json()
    operation = spec["paths"]["/v1/audio/transcriptions"]["post"]
    assert "multipart/form-data" in operation["requestBody"]["content"]
    ok = operation["responses"]["200"]["content"]
    assert {"application/json", "text/plain", "text/vtt"} <= set(ok)
    assert {"TranscriptionOut", "VerboseTranscriptionOut"} <= set(spec["components"]["schemas"])
    assert {"400", "401", "413", "415", "422"} <= set(operation["responses"])


def test_timestamps_and_cues() -> None:
    assert timestamp(3661.25, ",") == "01:01:01,250"
    assert timestamp(1.2504, ".") == "00:00:01.250"
    assert timestamp(59.9996, ",") == "00:01:00,000"
    cue = FileSegment(0, 1.25, 3.0, "hello", -0.1, 0.01, 1.0, 0.0)
    assert srt((cue,)) == "1\n00:00:01,250 --> 00:00:03,000\nhello\n"
    assert vtt((cue,)) == "WEBVTT\n\n00:00:01.250 --> 00:00:03.000\nhello\n"
    assert vtt(()) == "WEBVTT\n"


def test_load_audio_bytes_matches_load_audio() -> None:
    for name in ("dispatch_frontend.wav", "dispatch_8k_stereo.wav"):
        path = FIXTURES / name
        assert load_audio_bytes(path.read_bytes(), name) == load_audio(path)
    with pytest.raises(NotAudioError, match=r"x\.wav cannot be decoded"):
        load_audio_bytes((FIXTURES / "not_audio.wav").read_bytes(), "x.wav")
    with pytest.raises(AudioDecodeError, match="no fmt chunk"):
        load_audio_bytes(b"RIFF\x10\x00\x00\x00WAVEdata\x02\x00\x00\x00\x00\x00", "y.wav")
