"""The live routes: server-sent events and the remote microphone WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request, WebSocket
from fastapi.responses import StreamingResponse

from voicedesk.api.broker import sse_format
from voicedesk.api.deps import Refused, Services, admit, authorize, get_services, services
from voicedesk.api.stream import AudioStream

router = APIRouter()
KEEP_ALIVE_S = 15.0


@router.get(
    "/events",
    dependencies=[Depends(authorize)],
    response_class=StreamingResponse,
    tags=["events"],
    responses={200: {"content": {"text/event-stream": {}},
                     "description": "job, job_event, transcript and reply events"}},
)
async def events(
    request: Request, svc: Annotated[Services, Depends(get_services)]
) -> StreamingResponse:
    """Server-sent events: job status changes and progress, transcripts, replies."""
    queue = svc.broker.subscribe()
    svc.metrics.sse_clients.inc()

    async def stream() -> AsyncIterator[str]:
        """Events as they come, with a keep-alive comment when quiet."""
        try:
            yield ": connected\n\n"
            while not await request.is_disconnected():
                try:
                    name, data = await asyncio.wait_for(queue.get(), KEEP_ALIVE_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                yield sse_format(name, data)
        finally:
            svc.broker.unsubscribe(queue)
            svc.metrics.sse_clients.dec()

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


@router.websocket("/ws/audio")
async def audio(websocket: WebSocket) -> None:
    """A remote microphone (see voicedesk.api.stream for the protocol)."""
    svc = services(websocket)
    query = websocket.query_params
    mode, rate = query.get("mode", "hands_free"), query.get("rate", "16000")
    await websocket.accept()
    try:
        admit(websocket)
    except Refused as refused:  # 1008: the token; 1013: the rate limit (try again later)
        await websocket.close(code=1013 if refused.status == 429 else 1008, reason=refused.reason)
        return
    if mode not in ("hands_free", "push_to_talk"):
        reason = f"mode must be hands_free or push_to_talk, not {mode!r}"
        await websocket.close(code=1008, reason=reason)
        return
    if rate != "16000":
        reason = f"rate {rate!r} is not supported: send 16 kHz mono s16le"
        await websocket.close(code=1003, reason=reason)
        return
    partials = query.get("partials", "off") == "on"
    svc.metrics.ws_streams.inc()
    try:
        await AudioStream(svc, websocket, mode == "push_to_talk", partials).run()
    finally:
        svc.metrics.ws_streams.dec()
        with contextlib.suppress(Exception):
            await websocket.close()
