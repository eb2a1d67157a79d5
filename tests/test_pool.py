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
