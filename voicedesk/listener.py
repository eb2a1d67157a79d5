"""The listener: wires audio → segmenter → transcriber → parser → console for one stream."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from voicedesk.audio.segmenter import SegmenterSettings
from voicedesk.audio.vad import utterances
from voicedesk.config import Settings
from voicedesk.console import Console
from voicedesk.errors import TranscriptionError
from voicedesk.intents.grammar import parse_command
from voicedesk.store import Store
from voicedesk.stt.protocol import Transcriber
from voicedesk.types import Intent, Outcome, Transcript, Utterance


@dataclass(frozen=True)
class Heard:
    """One utterance taken all the way: what was said, what it meant, what was done, how long."""

    utterance: Utterance
    transcript: Transcript
    intent: Intent
    outcome: Outcome | None
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON contract of COMMANDS.md plus confidence, source, timings and the action."""
        record: dict[str, Any] = {
            "start": round(self.utterance.start, 3),
            "end": round(self.utterance.end, 3),
            "transcript": self.transcript.text,
            "intent": self.intent.contract(),
            "confidence": round(self.intent.confidence, 3),
            "source": self.intent.source,
            "timings_ms": self.timings_ms,
        }
        if self.outcome is not None:
            record["action"] = self.outcome.action
            record["reply"] = self.outcome.reply
            record["job_ids"] = list(self.outcome.job_ids)
        return record


def _ms(seconds: float) -> float:
    """Seconds to milliseconds, rounded for output."""
    return round(seconds * 1000.0, 1)


class Listener:
    """Hears one stream of PCM and acts on every command in it."""

    def __init__(
        self,
        settings: Settings,
        transcriber: Transcriber | None,
        store: Store | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        """Act against `store`, or only report (a dry run) when it is None; no model for typing."""
        self.settings = settings
        self.transcriber = transcriber
        self.store = store
        self.console = Console(store, settings.agents) if store is not None else None
        self.agents = settings.agent_aliases()
        segmenting = SegmenterSettings.from_vad(settings.vad)
        self._hangover_s = segmenting.hangover_frames * segmenting.frame_ms / 1000.0
        self.clock = clock

    def utterances(self, pcm: bytes) -> Iterator[Utterance]:
        """Cut 16 kHz mono s16le PCM into utterances with the configured VAD."""
        return utterances(pcm, self.settings.vad)

    def parse(self, text: str) -> Intent:
        """Text to intent with the configured agents and threshold."""
        return parse_command(text, self.agents, min_confidence=self.settings.intents.min_confidence)

    def hear(self, utterance: Utterance, source: str = "file") -> Heard | None:
        """Transcribe, parse and act on one utterance; None when nothing was said."""
        if self.transcriber is None:
            raise TranscriptionError("no speech model is loaded (a typed-command listener)")
        began = self.clock()
        transcript = self.transcriber.transcribe(utterance.pcm)
        if not transcript.text:
            return None
        wait = self._hangover_s if utterance.closed_by == "silence" else 0.0
        timings = {"segment_close": _ms(wait), "transcribe": _ms(self.clock() - began)}
        return self._conclude(utterance, transcript, source, timings)

    def _conclude(
        self, utterance: Utterance, transcript: Transcript, source: str, timings: dict[str, float]
    ) -> Heard:
        """Parse, act, time and audit one transcript."""
        began = self.clock()
        intent = self.parse(transcript.text)
        parsed = self.clock()
        outcome = self.console.act(intent) if self.console is not None else None
        timings.update(parse=_ms(parsed - began), act=_ms(self.clock() - parsed))
        if "transcribe" in timings:  # heard, not typed: what the speaker waited for
            waited = timings["segment_close"] + timings["transcribe"] + timings["parse"]
            timings["speech_end_to_intent"] = round(waited, 1)
        if self.store is not None and outcome is not None:
            self.store.record_utterance({
                "source": source, "start": utterance.start, "end": utterance.end,
                "transcript": transcript.text, "intent": intent.to_dict(),
                "action": outcome.action, "reply": outcome.reply, "timings": timings,
            })
        return Heard(utterance, transcript, intent, outcome, timings)

    def run(self, pcm: bytes, source: str = "file") -> Iterator[Heard]:
        """Every command heard in a stream, in order."""
        for utterance in self.utterances(pcm):
            heard = self.hear(utterance, source)
            if heard is not None:
                yield heard

    def say(self, text: str) -> Heard:
        """A typed command through the same parser, console and audit log."""
        utterance = Utterance(pcm=b"", start=0.0, end=0.0, speech_end=0.0, closed_by="silence")
        return self._conclude(utterance, Transcript(text=text.strip()), "typed", {})
