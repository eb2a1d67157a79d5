"""Lower CPU priority for the threads that run the model, so the API answers while it works.

On Linux a nice value belongs to a thread, and threads inherit it from the thread that starts
them. So the model is loaded in a fresh thread that first lowers its own priority: the
CTranslate2 worker and its OpenMP threads, started during the load, run at that priority
too. The pool's threads lower theirs before their first call. Elsewhere this does nothing.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


def lower_this_thread(niceness: int) -> bool:
    """Raise the calling thread's nice value by `niceness`; False where that is not possible."""
    if niceness <= 0 or not hasattr(os, "setpriority"):
        return False
    thread = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + niceness)
    except OSError as exc:
        log.warning("could not lower the model threads' priority: %s", exc)
        return False
    return True


def in_lowered_thread(niceness: int, work: Callable[[], T]) -> T:
    """Run `work` in a fresh thread `niceness` below this one (threads it starts inherit it)."""
    result: list[T] = []
    failure: list[BaseException] = []

    def body() -> None:
        """Lower, then run; keep the result or the error for the caller."""
        lower_this_thread(niceness)
        try:
            result.append(work())
        except BaseException as exc:  # handed to the caller's thread below
            failure.append(exc)

    thread = threading.Thread(target=body, name="stt-load", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]
