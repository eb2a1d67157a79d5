#!/usr/bin/env python3
"""Summarise the timings of a `voicedesk listen --json` run: median and p95 of each stage (ms).

Usage: python3 scripts/timings.py out.jsonl   (with voicedesk installed, e.g. .venv/bin/python)
"""

from __future__ import annotations

import json
import sys

from voicedesk.stats import format_summary


def main(path: str) -> None:
    """Print one line per timing key of the utterance records in a JSON-lines file."""
    with open(path) as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    timings = [r["timings_ms"] for r in records if "timings_ms" in r]
    print("\n".join(format_summary(timings)))


if __name__ == "__main__":
    main(sys.argv[1])
