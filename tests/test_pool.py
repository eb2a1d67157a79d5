"""The shared transcription queue: bounded, off the loop, live speech ahead of uploads."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import pytest

from voicedesk.api.metrics import Metrics
from voicedesk.api.pool import TranscriptionPool
from voicedesk.types import Transcript


class NoModel:
    """A transcriber stand-in that is never called: these tests queue their own work."""

    def transcribe(self, pcm: bytes) -> Transcript:
        """Not used."""
        raise AssertionError("not called")


def test_streams_go_ahead_of_uploads_and_order_holds_within_each() -> None:
    pool = TranscriptionPool(NoModel(), workers=1, metrics=Metrics())
    gate, ran = threading.Event(), []

    def work(name: str) -> str:
        """Record the order calls run in."""
        ran.append(name)
        return name

    async def scenario() -> list[str]:
        blocker = asyncio.ensure_future(pool.call("stream", gate.wait))
        await asyncio.sleep(0.05)  # the one worker is now busy
        calls = [asyncio.ensure_future(pool.call(source, lambda n=name: work(n)))  # type: ignore[misc]
                 for source, name in [("upload", "u1"), ("stream", "s1"), ("upload", "u2"),
                                      ("stream", "s2")]]
        await asyncio.sleep(0.05)
        assert pool.metrics.queued._value.get() == 4
        gate.set()
        await blocker
        return [await call for call in calls]

    assert asyncio.run(scenario()) == ["u1", "s1", "u2", "s2"]  # each caller gets its own result
    assert ran == ["s1", "s2", "u1", "u2"]
    pool.close()


def test_errors_reach_the_caller_and_the_worker_goes_on() -> None:
    pool = TranscriptionPool(NoModel(), workers=1, metrics=Metrics())

    def broken() -> None:
        """Fail."""
        raise ValueError("model failed")

    async def scenario() -> str:
        with pytest.raises(ValueError, match="model failed"):
            await pool.call("stream", broken)
        return await pool.call("stream", lambda: "still serving")

    assert asyncio.run(scenario()) == "still serving"
    pool.close()


def test_a_cancelled_caller_frees_its_place() -> None:
    pool = TranscriptionPool(NoModel(), workers=1, metrics=Metrics())
    gate, ran = threading.Event(), []

    async def scenario() -> None:
        blocker = asyncio.ensure_future(pool.call("stream", gate.wait))
        await asyncio.sleep(0.05)
        gone = asyncio.ensure_future(pool.call("upload", lambda: ran.append("gone")))
        await asyncio.sleep(0.05)
        gone.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await gone  # the cancel has reached the queued call before the worker is free
        gate.set()
        await blocker
        await pool.call("stream", lambda: ran.append("next"))

    asyncio.run(scenario())
    assert ran == ["next"]
    pool.close()


class Batching:
    """A transcriber that says which batch each utterance was decoded in."""

    def __init__(self) -> None:
        """No batches yet."""
        self.batches: list[list[bytes]] = []

    def transcribe(self, pcm: bytes) -> Transcript:
        """One utterance alone."""
        self.batches.append([pcm])
        return Transcript(text=pcm.decode())

    def transcribe_batch(self, pcms: list[bytes]) -> list[Transcript]:
        """Several at once."""
        self.batches.append(list(pcms))
        return [Transcript(text=pcm.decode()) for pcm in pcms]


def test_utterances_waiting_together_are_decoded_as_one_batch() -> None:
    model = Batching()
    pool = TranscriptionPool(model, workers=1, metrics=Metrics(), max_batch=3)
    gate = threading.Event()

    async def scenario() -> list[str]:
        blocker = asyncio.ensure_future(pool.call("stream", gate.wait))
        await asyncio.sleep(0.05)  # the one worker is busy; five utterances and an upload wait
        upload = asyncio.ensure_future(pool.call("upload", lambda: "file"))
        calls = [asyncio.ensure_future(pool.transcribe(name.encode()))
                 for name in ("a", "b", "c", "d", "e")]
        await asyncio.sleep(0.05)
        gate.set()
        await blocker
        heard = [(await call).text for call in calls]
        return [*heard, await upload]

    assert asyncio.run(scenario()) == ["a", "b", "c", "d", "e", "file"]
    assert model.batches == [[b"a", b"b", b"c"], [b"d", b"e"]]  # max_batch, then the rest
    pool.close()


def test_a_transcriber_without_batches_is_called_one_by_one() -> None:
    class OneAtATime:
        """Only transcribe()."""

        def transcribe(self, pcm: bytes) -> Transcript:
            """One utterance."""
            return Transcript(text=pcm.decode())

    pool = TranscriptionPool(OneAtATime(), workers=1, metrics=Metrics(), max_batch=8)
    assert pool.max_batch == 1

    async def scenario() -> list[str]:
        calls = [pool.transcribe(name.encode()) for name in ("x", "y")]
        return [(await call).text for call in calls]

    assert asyncio.run(scenario()) == ["x", "y"]
    pool.close()
