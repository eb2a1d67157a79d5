#!/usr/bin/env python3
"""How robustly tiny.en hears a fixture: its intents at 10 frame phases (0-27 ms of lead-in).

Live capture starts at an arbitrary point of the 30 ms frame grid, and tiny.en's words can
change with a shift of a few milliseconds, so a fixture the live tests rely on should give
the same intents at every phase. Usage (from the repo root):
  .venv/bin/python scripts/fixture_phases.py tests/fixtures/multi_command.wav [--wake-word W]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from voicedesk.audio.files import load_audio
from voicedesk.config import Settings
from voicedesk.listener import Listener
from voicedesk.stt.vocabulary import build_vocabulary
from voicedesk.stt.whisper import WhisperTranscriber


def main() -> None:
    """Print, per fixture, each distinct list of intents and the phases (ms) that gave it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", type=Path, nargs="+")
    parser.add_argument("--wake-word")
    args = parser.parse_args()
    settings = Settings()
    if args.wake_word:
        listen = settings.listen.model_copy(update={"wake_word": args.wake_word})
        settings = settings.model_copy(update={"listen": listen})
    transcriber = WhisperTranscriber(settings.stt, build_vocabulary(settings.agent_aliases()))
    for path in args.files:
        audio = load_audio(path)
        outcomes: dict[tuple[tuple[str, str | None, int | None], ...], list[int]] = {}
        for phase_ms in range(0, 30, 3):
            heard = Listener(settings, transcriber).run(bytes(phase_ms * 32) + audio)
            key = tuple((h.intent.type, h.intent.agent, h.intent.job) for h in heard)
            outcomes.setdefault(key, []).append(phase_ms)
        print(path.name)
        for intents, phases in outcomes.items():
            print(f"  phases {phases}: {list(intents)}")


if __name__ == "__main__":
    main()
