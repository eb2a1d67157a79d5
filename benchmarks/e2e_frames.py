"""The end-to-end path without PulseAudio: the live listener fed real-time frames in-process.

The same `LiveListener` that `voicedesk listen` runs, with the configured model, a throwaway
store and the command fixtures as 30 ms frames paced by the clock (as a microphone delivers
them). Push-to-talk presses before a clip and releases right after its last frame;
hands-free lets the VAD cut it. For machines where no PulseAudio can run (a bare GPU box).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from voicedesk.audio.files import load_audio
from voicedesk.audio.framing import frames
from voicedesk.config import Settings
from voicedesk.live import LiveEvent, LiveListener
from voicedesk.store import Store
from voicedesk.stt.whisper import load_transcriber
from voicedesk.types import AudioFrame

GAP_S = 1.5
"""Silence after each clip, so hands-free closes it and the model is idle before the next."""


async def _paced(
    clips: Sequence[bytes], frame_ms: int, listener: LiveListener, push_to_talk: bool
) -> AsyncIterator[AudioFrame]:
    """Every clip then GAP_S of silence, frame by frame at real time; PTT around each clip."""
    began, sent = time.monotonic(), 0
    gap = bytes(int(GAP_S * 16_000) * 2)
    for pcm in clips:
        if push_to_talk:
            listener.set_talking(True)
        for part, is_clip in ((pcm, True), (gap, False)):
            for frame in frames(part, frame_ms, start=sent * frame_ms / 1000):
                sent += 1
                await asyncio.sleep(max(0.0, began + sent * frame_ms / 1000 - time.monotonic()))
                yield frame
            if is_clip and push_to_talk:
                listener.set_talking(False)


def run_listener(
    settings: Settings, paths: Sequence[Path], push_to_talk: bool
) -> list[dict[str, float]]:
    """Each clip through a fresh live listener; the timings of every utterance it acted on."""
    transcriber = load_transcriber(settings)
    clips = [load_audio(path) for path in paths]
    events: list[LiveEvent] = []
    with tempfile.TemporaryDirectory(prefix="vdb-e2e-") as tmp:
        store = Store.in_dir(Path(tmp))
        listener = LiveListener(settings, transcriber, store, events.append, push_to_talk)
        asyncio.run(listener.run(_paced(clips, settings.vad.frame_ms, listener, push_to_talk)))
        store.close()
    return list(listener.timings)
