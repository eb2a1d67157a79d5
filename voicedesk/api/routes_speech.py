"""Speech for the web page: how it should speak replies, and replies spoken by this server."""

from __future__ import annotations

import asyncio
import io
import threading
import wave
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel

from voicedesk.api.deps import Services, authorize, get_services
from voicedesk.api.schemas import Problem
from voicedesk.errors import SpeechError

router = APIRouter(dependencies=[Depends(authorize)], responses={401: {"model": Problem},
                                                                 429: {"model": Problem}})
Svc = Annotated[Services, Depends(get_services)]
MAX_SPEECH_CHARS = 1000
"""The longest text /speech will say (a reply or an alert is one or two sentences)."""
_synthesis = threading.Lock()  # one synthesis at a time: a voice model is not shared safely


class SpeechConfig(BaseModel):
    """How the page speaks: `web` is browser, server or off; `engine` is this server's voice."""

    web: str
    engine: str


def wav_bytes(pcm: bytes, sample_rate: int) -> bytes:
    """16-bit mono PCM as a WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm)
    return buffer.getvalue()


@router.get("/speech/config", response_model=SpeechConfig, tags=["speech"])
async def speech_config(svc: Svc) -> SpeechConfig:
    """How the page should speak replies and alerts ([speech] web)."""
    synthesizer = svc.synthesizer
    engine = synthesizer.name if synthesizer is not None else svc.settings.speech.engine
    return SpeechConfig(web=svc.settings.speech.web, engine=engine)


@router.get("/speech", tags=["speech"], response_class=Response,
            responses={200: {"content": {"audio/wav": {}}}, 404: {"model": Problem},
                       422: {"model": Problem}, 503: {"model": Problem}})
async def speech(
    svc: Svc, text: Annotated[str, Query(min_length=1, max_length=MAX_SPEECH_CHARS)]
) -> Response:
    """`text` spoken by this server's voice, as a WAV file."""
    synthesizer = svc.synthesizer
    if synthesizer is None or synthesizer.name == "none":
        raise HTTPException(404, "this server does not speak ([speech] engine = none)")
    if not text.strip():
        raise HTTPException(422, "text: nothing to say")

    def synthesize() -> bytes:
        """Synthesize off the event loop, one at a time."""
        with _synthesis:
            spoken = synthesizer.synthesize(text.strip())
        return wav_bytes(spoken.pcm, spoken.sample_rate)

    try:
        body = await asyncio.to_thread(synthesize)
    except SpeechError as exc:
        raise HTTPException(503, str(exc)) from None
    return Response(body, media_type="audio/wav", headers={"Cache-Control": "no-store"})
