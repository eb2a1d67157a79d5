"""Quiet hours: a daily span of local time ('22:00-07:00') when nothing is spoken unasked."""

from __future__ import annotations

import re
from datetime import time as clock_time

_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def _at(hours: str, minutes: str) -> clock_time:
    """A time of day, or ValueError naming the bad part."""
    h, m = int(hours), int(minutes)
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise ValueError(f"{hours}:{minutes} is not a time of day")
    return clock_time(h, m)


def parse_quiet_hours(text: str) -> tuple[clock_time, clock_time]:
    """'22:00-07:00' → (start, end); ValueError when it is not that shape."""
    match = _SPAN.match(text)
    if match is None:
        raise ValueError(f"quiet hours must look like '22:00-07:00', not {text!r}")
    start, end = _at(*match.group(1, 2)), _at(*match.group(3, 4))
    if start == end:
        raise ValueError("quiet hours must start and end at different times")
    return start, end


def is_quiet(span: tuple[clock_time, clock_time] | None, now: clock_time) -> bool:
    """Whether `now` falls in the span (start included, end excluded; wraps past midnight)."""
    if span is None:
        return False
    start, end = span
    if start < end:
        return start <= now < end
    return now >= start or now < end
