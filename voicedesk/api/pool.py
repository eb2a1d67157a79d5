"""The shared model behind one FIFO queue: a few transcriptions at once, the rest wait in turn."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from voicedesk.api.metrics import Metrics
from voicedesk.stt.protocol import Transcriber
from voicedesk.types import Transcript

T = TypeVar("T")


class TranscriptionPool:
    """Runs model calls on a bounded thread pool, off the event loop, in arrival order."""

    def __init__(self, transcriber: Transcriber, workers: int, metrics: Metrics) -> None:
        """Serve `transcriber` with `workers` threads."""
        self.transcriber = transcriber
        self.metrics = metrics
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stt")

    async def call(self, source: str, work: Callable[[], T]) -> T:
        """Run one blocking model call in turn; counted, timed and visible in the metrics."""
        submitted = time.perf_counter()
        self.metrics.queued.inc()

        def run() -> T:
            """The call on a worker thread, leaving the queue when it starts."""
            started = time.perf_counter()
            self.metrics.queued.dec()
            self.metrics.queue_wait_seconds.observe(started - submitted)
            self.metrics.running.inc()
            try:
                return work()
            finally:
                self.metrics.running.dec()
                self.metrics.transcription_seconds.observe(time.perf_counter() - started)
                self.metrics.transcriptions.labels(source).inc()

        return await asyncio.get_running_loop().run_in_executor(self._executor, run)

    async def transcribe(self, pcm: bytes, source: str = "stream") -> Transcript:
        """Transcribe one utterance's 16 kHz mono s16le PCM."""
        return await self.call(source, lambda: self.transcriber.transcribe(pcm))

    def close(self) -> None:
        """Stop the worker threads once their calls are done."""
        self._executor.shutdown(wait=False, cancel_futures=True)
