"""OpenAI-compatible file transcription: POST /v1/audio/transcriptions on the loaded model."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.types import Message

from voicedesk.api.deps import (
    Refused,
    Services,
    authorize,
    check_token,
    get_services,
    http_error,
    services,
)
from voicedesk.api.schemas import Problem
from voicedesk.audio.files import NotAudioError, load_audio_bytes
from voicedesk.errors import AudioError
from voicedesk.stt.whisper import FileSegment, FileTranscript, WhisperTranscriber
from voicedesk.types import SAMPLE_RATE, SAMPLE_WIDTH

ResponseFormat = Literal["json", "text", "verbose_json", "srt", "vtt"]
"""The response formats OpenAI's transcription endpoint offers that a Whisper model can give."""

FORM_OVERHEAD = 64 * 1024
"""Bytes a multipart body may carry beyond the file itself: boundaries and the small fields."""


class TranscriptionOut(BaseModel):
    """`response_format=json`: the text alone."""

    text: str


class SegmentOut(BaseModel):
    """One timed segment of `verbose_json`, in OpenAI's shape (`seek` 0, `tokens` empty)."""

    id: int
    seek: int = 0
    start: float
    end: float
    text: str
    tokens: list[int] = Field(default_factory=list)
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float

    @classmethod
    def of(cls, segment: FileSegment) -> SegmentOut:
        """The API view of a kept segment."""
        return cls.model_validate(segment.__dict__)


class VerboseTranscriptionOut(BaseModel):
    """`response_format=verbose_json`: text, language code, seconds of audio and segments."""

    task: Literal["transcribe"] = "transcribe"
    language: str
    duration: float
    text: str
    segments: list[SegmentOut]

    @classmethod
    def of(cls, result: FileTranscript) -> VerboseTranscriptionOut:
        """The API view of a file transcription."""
        return cls(language=result.language, duration=result.duration, text=result.text,
                   segments=[SegmentOut.of(segment) for segment in result.segments])


def upload_limit(svc: Services) -> int:
    """The largest file accepted, in bytes: `[serve] max_upload_mb` MiB."""
    return int(svc.settings.serve.max_upload_mb * 1024 * 1024)


def too_large(svc: Services, size: str) -> HTTPException:
    """413 naming the size and the limit."""
    mb = svc.settings.serve.max_upload_mb
    return HTTPException(
        413, f"the upload is {size}; the limit is [serve] max_upload_mb = {mb:g} "
             f"({upload_limit(svc)} bytes)"
    )


class UploadRoute(APIRoute):
    """A route that checks the token before the body, and caps the body (declared and counted)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler behind the token check and a byte-counting `receive`."""
        handler = super().get_route_handler()

        async def bounded(request: Request) -> Response:
            """Refuse early, then run the handler on a body that cannot grow past the cap."""
            svc = services(request)
            try:
                check_token(request)  # no body is read for a wrong token
            except Refused as refused:
                raise http_error(refused) from None
            cap = upload_limit(svc) + FORM_OVERHEAD
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > cap:
                raise too_large(svc, f"{int(declared)} bytes (Content-Length)")
            received = 0
            upstream = request.receive

            async def receive() -> Message:
                """The next body chunk, refused once the body passes the cap."""
                nonlocal received
                message = await upstream()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > cap:
                        raise too_large(svc, f"over {cap} bytes (counted as it arrived)")
                return message

            return await handler(Request(request.scope, receive))

        return bounded


router = APIRouter(
    dependencies=[Depends(authorize)],
    route_class=UploadRoute,
    responses={
        400: {"model": Problem, "description": "empty, inconsistent or unsupported input"},
        401: {"model": Problem},
        413: {"model": Problem, "description": "over `[serve] max_upload_mb`"},
        415: {"model": Problem, "description": "not audio"},
        422: {"model": Problem},
        429: {"model": Problem},
        503: {"model": Problem, "description": "no file model, or the model failed"},
    },
)
Svc = Annotated[Services, Depends(get_services)]
TEXT_CONTENT = {"text/plain": {"schema": {"type": "string"}},
                "text/vtt": {"schema": {"type": "string"}}}


@router.post(
    "/v1/audio/transcriptions",
    tags=["transcriptions"],
    response_model=TranscriptionOut | VerboseTranscriptionOut,
    responses={200: {"content": TEXT_CONTENT,
                     "description": "json, verbose_json, or text / srt / vtt as text"}},
)
async def transcriptions(
    svc: Svc,
    file: Annotated[UploadFile, File(description="the audio: WAV, FLAC, MP3, OGG, M4A...")],
    model: Annotated[str, Form(description="required by OpenAI; the loaded model serves")],
    language: Annotated[str | None, Form(max_length=20)] = None,
    prompt: Annotated[str | None, Form(max_length=4000)] = None,
    response_format: Annotated[ResponseFormat, Form()] = "json",
    temperature: Annotated[float, Form(ge=0.0, le=1.0, description="accepted, ignored")] = 0.0,
) -> Response:
    """Transcribe an uploaded audio file, as OpenAI's endpoint of the same path does."""
    whisper = svc.whisper
    if whisper is None:
        raise HTTPException(503, "this server's model cannot transcribe files")
    code = _language(whisper, language)
    data = await file.read()
    if len(data) > upload_limit(svc):
        raise too_large(svc, f"{len(data)} bytes")
    name = " ".join((file.filename or "").split())[:120] or "upload"
    limit_s = svc.settings.serve.max_upload_seconds

    def decode_and_transcribe() -> FileTranscript:
        """Decode, check the length, transcribe: one call on the model's queue."""
        pcm = load_audio_bytes(data, name)
        seconds = len(pcm) / (SAMPLE_RATE * SAMPLE_WIDTH)
        if seconds > limit_s:
            raise _TooLong(f"the audio is {seconds:.0f} s long; the limit is {limit_s:.0f} s "
                           "([serve] max_upload_seconds)")
        return whisper.transcribe_file(pcm, prompt, code)

    try:
        result = await svc.pool.call("upload", decode_and_transcribe)
    except _TooLong as exc:
        raise HTTPException(413, str(exc)) from None
    except NotAudioError as exc:
        raise HTTPException(415, str(exc)) from None
    except AudioError as exc:
        raise HTTPException(400, str(exc)) from None
    return render(result, response_format)


class _TooLong(Exception):
    """Decoded audio longer than `[serve] max_upload_seconds`."""


def _language(whisper: WhisperTranscriber, language: str | None) -> str | None:
    """The language code to decode in, None to detect; 400 for one the model cannot do."""
    code = (language or "").strip().lower()
    if not code:
        return None
    known = whisper.languages
    if code in known:
        return code
    if known == ("en",):
        raise HTTPException(
            400, f"language {language!r} is not supported: the loaded model "
                 f"{whisper.choice.requested!r} is English-only (send en, or no language)"
        )
    raise HTTPException(400, f"language {language!r} is not an ISO-639-1 code Whisper knows")


def render(result: FileTranscript, response_format: ResponseFormat) -> Response:
    """The transcription in the requested format."""
    if response_format == "json":
        return JSONResponse(TranscriptionOut(text=result.text).model_dump())
    if response_format == "verbose_json":
        return JSONResponse(VerboseTranscriptionOut.of(result).model_dump())
    if response_format == "text":
        return PlainTextResponse(result.text)
    if response_format == "srt":
        return PlainTextResponse(srt(result.segments))
    return Response(vtt(result.segments), media_type="text/vtt")


def timestamp(seconds: float, separator: str) -> str:
    """HH:MM:SS plus milliseconds after `separator`: "," for SRT, "." for WebVTT."""
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    whole, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole:02d}{separator}{millis:03d}"


def srt(segments: tuple[FileSegment, ...]) -> str:
    """SubRip subtitles: numbered cues from 1, `00:00:01,250 --> 00:00:03,000`."""
    cues = [
        f"{number}\n{timestamp(s.start, ',')} --> {timestamp(s.end, ',')}\n{s.text}\n"
        for number, s in enumerate(segments, start=1)
    ]
    return "\n".join(cues)


def vtt(segments: tuple[FileSegment, ...]) -> str:
    """WebVTT subtitles: the `WEBVTT` header, then `00:00:01.250 --> 00:00:03.000` cues."""
    cues = [f"{timestamp(s.start, '.')} --> {timestamp(s.end, '.')}\n{s.text}\n" for s in segments]
    return "\n".join(["WEBVTT\n", *cues])
