"""The live state handed to the transcriber (voicedesk.context), on a real store."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from voicedesk.config import Settings
from voicedesk.context import LiveContext
from voicedesk.store import Store


class Told:
    """Records what a transcriber is told."""

    def __init__(self) -> None:
        """Nothing yet."""
        self.told: list[tuple[int, ...]] = []

    def use_open_jobs(self, jobs: Sequence[int]) -> None:
        """Note the jobs."""
        self.told.append(tuple(jobs))


def test_the_transcriber_hears_of_open_jobs_when_they_change(tmp_path: Path) -> None:
    store = Store.in_dir(tmp_path)
    first = store.create_job("backend", "fix login")
    second = store.create_job("frontend", "dark mode")
    context, model = LiveContext(Settings(), store), Told()
    context.refresh(model)
    context.refresh(model)  # unchanged: not told twice
    store.cancel_jobs([first.id], "test")
    context.refresh(model)
    assert model.told == [(second.id, first.id), (second.id,)]


def test_without_a_store_or_with_live_context_off_nothing_is_told(tmp_path: Path) -> None:
    store = Store.in_dir(tmp_path)
    store.create_job("backend", "fix login")
    off = Settings(stt={"live_context": False})
    for context in (LiveContext(Settings(), None), LiveContext(off, store)):
        model = Told()
        context.refresh(model)
        assert model.told == [] and context.open_jobs() == ()
    LiveContext(Settings(), store).refresh(object())  # a transcriber that cannot be told
