"""The listener: wires audio → segmenter → transcriber → parser → dialogue for one file."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from voicedesk.audio.segmenter import SegmenterSettings
from voicedesk.audio.vad import utterances
from voicedesk.config import Settings
from voicedesk.console import Console
from voicedesk.context import LiveContext
from voicedesk.dialogue import Dialogue, doubt_heard
from voicedesk.errors import LlmError, TranscriptionError
from voicedesk.experiments.spoken import patch_writer
from voicedesk.intents.grammar import parse_command
from voicedesk.intents.wake import command_text
from voicedesk.store import Store
from voicedesk.stt.protocol import Transcriber
from voicedesk.types import Intent, Outcome, Transcript, Utterance

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Heard:
    """One utterance taken all the way: what was said, what it meant, what was done, how long."""

    utterance: Utterance
    transcript: Transcript
    intent: Intent
    outcome: Outcome | None
    timings_ms: dict[str, float] = field(default_factory=dict)
    notices: tuple[Outcome, ...] = ()

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
        if self.transcript.alternatives:
            record["score"] = round(self.transcript.avg_logprob, 3)
            record["alternatives"] = [
                {"text": h.text, "score": round(h.score, 3)} for h in self.transcript.alternatives
            ]
        if self.outcome is not None:
            record["action"] = self.outcome.action
            record["reply"] = self.outcome.reply
            record["job_ids"] = list(self.outcome.job_ids)
        if self.notices:
            record["notices"] = [notice.reply for notice in self.notices]
        return record


def ms(seconds: float) -> float:
    """Seconds to milliseconds, rounded for output."""
    return round(seconds * 1000.0, 1)


class IntentClassifier(Protocol):
    """The LLM fallback's seam: text to intent, raising LlmError when it cannot say."""

    def classify(self, text: str) -> Intent:
        """Classify one utterance's text."""
        ...


def configured_classifier(settings: Settings) -> IntentClassifier | None:
    """The LLM intent fallback when `[llm] intent_fallback` and the API key allow it."""
    from voicedesk.llm import fallback_enabled

    if not fallback_enabled(settings.llm):
        return None
    from voicedesk.intents.fallback import LlmIntentClassifier
    from voicedesk.llm import sync_client

    try:
        client = sync_client(settings.llm)
    except LlmError as exc:  # intent_fallback = "on" with no key: the grammar alone
        log.warning("intent fallback is off: %s", exc)
        return None
    return LlmIntentClassifier(
        client,
        settings.llm.intent_model,
        settings.agent_aliases(),
        timeout_s=settings.llm.intent_timeout_s,
    )


class Responder:
    """Transcript text → intent → dialogue → audit log; shared by the file and live listeners."""

    def __init__(
        self,
        settings: Settings,
        store: Store | None,
        confirm: bool = True,
        classifier: IntentClassifier | None = None,
    ) -> None:
        """Act against `store` (None: a dry run that only parses); `confirm` enables read-backs;
        `classifier` is the LLM fallback (default: the configured one, if any)."""
        self.settings = settings
        self.store = store
        self.agents = settings.agent_aliases()
        self.console = (
            Console(store, settings.agents, experiments=settings.experiments,
                    patch_writer=patch_writer(settings))
            if store is not None else None
        )
        self.dialogue = Dialogue(self.console, settings) if self.console and confirm else None
        self.classifier = classifier if classifier is not None else configured_classifier(settings)

    def command_text(self, text: str) -> str | None:
        """The text to parse (with a wake word configured, what follows it); None: no command."""
        return command_text(text, self.settings.listen.wake_word)

    def parse(self, text: str) -> Intent:
        """Text to intent: the grammar, then the LLM fallback when the grammar is unsure."""
        intent = parse_command(
            text, self.agents, min_confidence=self.settings.intents.min_confidence
        )
        unsure = intent.type == "unknown" or intent.confidence < self.settings.intents.confirm_below
        if self.classifier is None or not unsure:
            return intent
        try:
            guess = self.classifier.classify(text)
        except LlmError as exc:
            log.warning("intent fallback failed, keeping the grammar's parse: %s", exc)
            return intent
        return guess if guess.type != "unknown" else intent

    def respond(self, intent: Intent, now: float) -> list[Outcome]:
        """Act on an intent: through the dialogue, straight to the console, or not at all."""
        if self.dialogue is not None:
            return self.dialogue.handle(intent, now)
        return [self.console.act(intent)] if self.console is not None else []

    def expire(self, now: float, source: str) -> Outcome | None:
        """Drop a read-back whose time is up, recording the notice in the audit log."""
        notice = self.dialogue.expire(now) if self.dialogue is not None else None
        if notice is not None:
            self.record(source, None, "", Intent("unknown"), notice, {})
        return notice

    def record(
        self,
        source: str,
        utterance: Utterance | None,
        text: str,
        intent: Intent,
        outcome: Outcome,
        timings: dict[str, float],
    ) -> None:
        """Append one row to the audit log (nothing in a dry run)."""
        if self.store is None:
            return
        self.store.record_utterance(
            {
                "source": source,
                "transcript": text,
                "intent": intent.to_dict(),
                "start": utterance.start if utterance else None,
                "end": utterance.end if utterance else None,
                "action": outcome.action,
                "reply": outcome.reply,
                "timings": timings,
            }
        )

    def conclude(
        self,
        source: str,
        utterance: Utterance,
        transcript: Transcript,
        command: str,
        now: float,
        timings: dict[str, float],
        clock: Callable[[], float],
        intent: Intent | None = None,
    ) -> Heard:
        """Parse `command` (the transcript less any wake word) unless `intent` is given, act,
        time and audit it."""
        began = clock()
        if intent is None:
            intent = self.parse(command)
            timings["parse"] = ms(clock() - began)
        intent = doubt_heard(intent, transcript.avg_logprob, self.settings.intents)
        parsed = clock()
        outcomes = self.respond(intent, now)
        timings["act"] = ms(clock() - parsed)
        if "transcribe" in timings:  # heard, not typed: what the speaker waited for
            stages = ("segment_close", "queued", "transcribe", "parse")
            timings["speech_end_to_intent"] = round(sum(timings.get(k, 0.0) for k in stages), 1)
        for outcome in outcomes:
            self.record(source, utterance, transcript.text, intent, outcome, timings)
        notices, main = tuple(outcomes[:-1]), (outcomes[-1] if outcomes else None)
        return Heard(utterance, transcript, intent, main, timings, notices)


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
        self.responder = Responder(settings, store)
        self.context = LiveContext(settings, store)
        self.clock = clock
        segmenting = SegmenterSettings.from_vad(settings.vad)
        self._hangover_s = segmenting.hangover_frames * segmenting.frame_ms / 1000.0

    def utterances(self, pcm: bytes) -> Iterator[Utterance]:
        """Cut 16 kHz mono s16le PCM into utterances with the configured VAD."""
        return utterances(pcm, self.settings.vad)

    def hear(self, utterance: Utterance, source: str = "file") -> Heard | None:
        """Transcribe, parse and act on one utterance; None when no command was said."""
        if self.transcriber is None:
            raise TranscriptionError("no speech model is loaded (a typed-command listener)")
        self.context.refresh(self.transcriber)
        began = self.clock()
        transcript = self.transcriber.transcribe(utterance.pcm)
        text = self.responder.command_text(transcript.text)
        if not text:
            return None
        wait = self._hangover_s if utterance.closed_by == "silence" else 0.0
        timings = {"segment_close": ms(wait), "transcribe": ms(self.clock() - began)}
        return self.responder.conclude(
            source, utterance, transcript, text, utterance.end, timings, self.clock
        )

    def run(self, pcm: bytes, source: str = "file") -> Iterator[Heard]:
        """Every command heard in a stream, in order (stream time is the dialogue's clock)."""
        for utterance in self.utterances(pcm):
            heard = self.hear(utterance, source)
            if heard is not None:
                yield heard

    def say(self, text: str) -> Heard:
        """A typed command through the same parser, console and audit log; never read back."""
        utterance = Utterance(pcm=b"", start=0.0, end=0.0, speech_end=0.0, closed_by="silence")
        typed = Responder(self.settings, self.responder.store, confirm=False)
        command = text.strip()
        return typed.conclude(
            "typed", utterance, Transcript(text=command), command, 0.0, {}, self.clock
        )
