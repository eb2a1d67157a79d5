"""The shared model behind one queue: a few calls at once, live speech ahead of uploads.

A spoken command is waited for by a person; an uploaded file by a script. So the queue is
ordered by priority (streams first), then by arrival: an upload never makes someone who is
talking wait behind it, and uploads among themselves keep their order.

Utterances waiting when a worker comes free are decoded together, up to `max_batch` of
them, when the transcriber can (`transcribe_batch`): one batched encoder pass and beam
search instead of one after another, so many microphones at once wait less.
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
from typing import Any, Protocol, TypeVar, runtime_checkable

from voicedesk.api.metrics import Metrics
from voicedesk.api.priority import lower_this_thread
from voicedesk.stt.protocol import Transcriber
from voicedesk.types import Transcript

T = TypeVar("T")

PRIORITY = {"stream": 0, "upload": 1}
"""Lower runs first; a source not listed runs with uploads."""


@runtime_checkable
class BatchTranscriber(Protocol):
    """A transcriber that can also take several utterances in one call."""

    def transcribe_batch(self, pcms: list[bytes]) -> list[Transcript]:
        """Transcribe each utterance; results in order."""
        ...


@dataclass(order=True)
class _Call:
    """One model call waiting in line (`pcm`: an utterance that may join a batch)."""

    priority: int
    seq: int
    work: Callable[[], Any] = field(compare=False)
    future: Future[Any] = field(compare=False)
    source: str = field(compare=False)
    submitted: float = field(compare=False)
    pcm: bytes | None = field(default=None, compare=False)


class TranscriptionPool:
    """Runs model calls on `workers` threads, off the event loop, by priority then arrival."""

    def __init__(
        self,
        transcriber: Transcriber,
        workers: int,
        metrics: Metrics,
        niceness: int = 0,
        max_batch: int = 1,
    ) -> None:
        """Serve `transcriber` with `workers` threads, `niceness` below the event loop's,
        decoding up to `max_batch` waiting utterances together."""
        self.transcriber = transcriber
        self.metrics = metrics
        self.niceness = niceness
        self.max_batch = max_batch if isinstance(transcriber, BatchTranscriber) else 1
        self._line: queue.PriorityQueue[_Call] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._threads = [
            threading.Thread(target=self._serve, name=f"stt-{n}", daemon=True)
            for n in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    async def call(self, source: str, work: Callable[[], T], pcm: bytes | None = None) -> T:
        """Run one blocking model call in its turn; counted, timed, visible in the metrics."""
        future: Future[T] = Future()
        priority = PRIORITY.get(source, max(PRIORITY.values()))
        self.metrics.queued.inc()
        self._line.put(
            _Call(priority, next(self._seq), work, future, source, time.perf_counter(), pcm)
        )
        return await asyncio.wrap_future(future)

    async def transcribe(self, pcm: bytes, source: str = "stream") -> Transcript:
        """Transcribe one utterance's 16 kHz mono s16le PCM (batched with others waiting)."""
        return await self.call(source, lambda: self.transcriber.transcribe(pcm), pcm)

    def _serve(self) -> None:
        """A worker thread: take the most urgent call (and utterances waiting behind it), run
        it, hand back the results."""
        lower_this_thread(self.niceness)
        while (item := self._line.get()).priority >= 0:
            batch = [item, *self._more_utterances(item)]
            started = time.perf_counter()
            live = []
            for call in batch:
                self.metrics.queued.dec()
                self.metrics.queue_wait_seconds.observe(started - call.submitted)
                if call.future.set_running_or_notify_cancel():
                    live.append(call)  # else its caller went away while it waited
            if not live:
                continue
            self.metrics.running.inc(len(live))
            try:
                self._run(live)
            finally:
                self.metrics.running.dec(len(live))
                self.metrics.transcription_seconds.observe(time.perf_counter() - started)
                for call in live:
                    self.metrics.transcriptions.labels(call.source).inc()

    def _more_utterances(self, first: _Call) -> list[_Call]:
        """Utterances waiting right behind `first`, up to max_batch in all (none for a file)."""
        more: list[_Call] = []
        while first.pcm is not None and len(more) + 1 < self.max_batch:
            try:
                waiting = self._line.get_nowait()
            except queue.Empty:
                break
            if waiting.pcm is None or waiting.priority != first.priority:
                self._line.put(waiting)  # not an utterance of the same kind: back in line
                break
            more.append(waiting)
        return more

    def _run(self, calls: list[_Call]) -> None:
        """One call's work, or one batched transcription of several utterances."""
        if len(calls) == 1:
            try:
                calls[0].future.set_result(calls[0].work())
            except BaseException as exc:  # the caller gets the error, the worker goes on
                calls[0].future.set_exception(exc)
            return
        assert isinstance(self.transcriber, BatchTranscriber)
        try:
            results = self.transcriber.transcribe_batch([call.pcm or b"" for call in calls])
        except BaseException as exc:  # every caller in the batch gets the error
            for call in calls:
                call.future.set_exception(exc)
            return
        for call, result in zip(calls, results, strict=True):
            call.future.set_result(result)

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
