"""The shared model behind one queue: a few calls at once, live speech ahead of uploads.

A spoken command is waited for by a person; an uploaded file by a script. So the queue is
ordered by priority (streams first), then by arrival: an upload never makes someone who is
talking wait behind it, and uploads among themselves keep their order.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from voicedesk.api.metrics import Metrics
from voicedesk.api.priority import lower_this_thread
from voicedesk.stt.protocol import Transcriber
from voicedesk.types import Transcript

T = TypeVar("T")

PRIORITY = {"stream": 0, "upload": 1}
"""Lower runs first; a source not listed runs with uploads."""


@dataclass(order=True)
class _Call:
    """One model call waiting in line."""

    priority: int
    seq: int
    work: Callable[[], Any] = field(compare=False)
    future: Future[Any] = field(compare=False)
    source: str = field(compare=False)
    submitted: float = field(compare=False)


class TranscriptionPool:
    """Runs model calls on `workers` threads, off the event loop, by priority then arrival."""

    def __init__(
        self, transcriber: Transcriber, workers: int, metrics: Metrics, niceness: int = 0
    ) -> None:
        """Serve `transcriber` with `workers` threads, `niceness` below the event loop's."""
        self.transcriber = transcriber
        self.metrics = metrics
        self.niceness = niceness
        self._line: queue.PriorityQueue[_Call] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._threads = [
            threading.Thread(target=self._serve, name=f"stt-{n}", daemon=True)
            for n in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    async def call(self, source: str, work: Callable[[], T]) -> T:
        """Run one blocking model call in its turn; counted, timed, visible in the metrics."""
        future: Future[T] = Future()
        priority = PRIORITY.get(source, max(PRIORITY.values()))
        self.metrics.queued.inc()
        self._line.put(_Call(priority, next(self._seq), work, future, source, time.perf_counter()))
        return await asyncio.wrap_future(future)

    async def transcribe(self, pcm: bytes, source: str = "stream") -> Transcript:
        """Transcribe one utterance's 16 kHz mono s16le PCM."""
        return await self.call(source, lambda: self.transcriber.transcribe(pcm))

    def _serve(self) -> None:
        """A worker thread: take the most urgent call, run it, hand back its result."""
        lower_this_thread(self.niceness)
        while (item := self._line.get()).priority >= 0:
            started = time.perf_counter()
            self.metrics.queued.dec()
            self.metrics.queue_wait_seconds.observe(started - item.submitted)
            if not item.future.set_running_or_notify_cancel():
                continue  # its caller went away while it waited
            self.metrics.running.inc()
            try:
                item.future.set_result(item.work())
            except BaseException as exc:  # the caller gets the error, the worker goes on
                item.future.set_exception(exc)
            finally:
                self.metrics.running.dec()
                self.metrics.transcription_seconds.observe(time.perf_counter() - started)
                self.metrics.transcriptions.labels(item.source).inc()

    def close(self) -> None:
        """Cancel the calls still waiting; the workers finish what they run, then stop."""
        while True:
            try:
                waiting = self._line.get_nowait()
            except queue.Empty:
                break
            waiting.future.cancel()
            self.metrics.queued.dec()
        for _ in self._threads:  # sorts first: each worker stops at its next take
            self._line.put(_Call(-1, -1, lambda: None, Future(), "stop", 0.0))
