"""Lowering the model threads' CPU priority (voicedesk.api.priority), on real Linux threads."""

from __future__ import annotations

import os
import threading

import pytest

from voicedesk.api.priority import in_lowered_thread, lower_this_thread


def nice_of_this_thread() -> int:
    """The calling thread's own nice value."""
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_only_the_lowered_thread_and_the_threads_it_starts_run_lower() -> None:
    before = nice_of_this_thread()
    seen: dict[str, int] = {}

    def work() -> str:
        """Note this thread's nice and that of a thread it starts."""
        seen["loader"] = nice_of_this_thread()
        child = threading.Thread(target=lambda: seen.setdefault("child", nice_of_this_thread()))
        child.start()
        child.join()
        return "loaded"

    assert in_lowered_thread(5, work) == "loaded"
    assert seen == {"loader": min(before + 5, 19), "child": min(before + 5, 19)}
    assert nice_of_this_thread() == before  # the caller's thread is untouched


def test_zero_changes_nothing_and_errors_reach_the_caller() -> None:
    assert lower_this_thread(0) is False

    def broken() -> None:
        """A load that fails."""
        raise RuntimeError("no model")

    with pytest.raises(RuntimeError, match="no model"):
        in_lowered_thread(3, broken)
