"""The faster-whisper adapter: one loaded model, our own segmentation, no phantom text."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from voicedesk.config import Settings, SttSettings
from voicedesk.errors import ModelError, TranscriptionError
from voicedesk.stt.decoding import WINDOW_FRAMES, Decoded, NBestDecoder
from voicedesk.stt.models import ModelChoice, choose_model
from voicedesk.stt.vocabulary import Vocabulary
from voicedesk.types import Hypothesis, Transcript

_WINDOW_SAMPLES = WINDOW_FRAMES * 160
"""The most 16 kHz samples the n-best path takes; a longer utterance is decoded in windows."""


class Reader(Protocol):
    """Chooses among hypotheses (voicedesk.intents.choice.Reader is the real one)."""

    def choose(self, hypotheses: Sequence[Hypothesis]) -> Hypothesis | None:
        """The hypothesis to act on."""
        ...

    def sure(self, hypotheses: Sequence[Hypothesis]) -> bool:
        """Whether decoding can stop: the chosen reading needs nothing better."""
        ...

    def with_open_jobs(self, jobs: Sequence[int]) -> Reader:
        """The same reader, knowing which job numbers exist now."""
        ...

_ONLY_PUNCTUATION = re.compile(r"^[\W_]*$")


@dataclass(frozen=True)
class SegmentGuard:
    """Whisper's invented-text rule: drop a segment that is probably not speech."""

    no_speech_threshold: float
    logprob_threshold: float

    def keeps(self, text: str, no_speech_prob: float, avg_logprob: float) -> bool:
        """True for a segment worth keeping; False for silence, noise or bare punctuation."""
        if _ONLY_PUNCTUATION.match(text):
            return False
        unsure = avg_logprob < self.logprob_threshold
        return not (no_speech_prob > self.no_speech_threshold and unsure)


@dataclass(frozen=True)
class FileSegment:
    """One kept segment of a file transcription: its times in seconds, text and Whisper's scores."""

    id: int
    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    temperature: float


@dataclass(frozen=True)
class FileTranscript:
    """A whole file's transcription: text, language code, seconds of audio, timed segments."""

    text: str
    language: str
    duration: float
    segments: tuple[FileSegment, ...]


def pcm_to_float(pcm: bytes) -> np.ndarray[Any, np.dtype[np.float32]]:
    """s16le bytes to the float32 samples in [-1, 1) that faster-whisper takes."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    samples *= 1.0 / 32768.0
    return samples


def load_whisper(choice: ModelChoice, cpu_threads: int) -> Any:
    """Load a WhisperModel, turning every failure into one ModelError naming `stt.model`."""
    try:
        from faster_whisper import WhisperModel

        return WhisperModel(
            choice.source,
            device=choice.device,
            compute_type=choice.compute_type,
            cpu_threads=cpu_threads,
        )
    except Exception as exc:  # faster-whisper, CTranslate2 and huggingface_hub raise many kinds
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(
            f"cannot load stt.model = {choice.requested!r} ({choice.device}, "
            f"{choice.compute_type}); tried "
            f"{'; '.join(choice.tried)}: {reason}"
        ) from None


class WhisperTranscriber:
    """Transcribes utterances with one faster-whisper model, biased toward the command words."""

    def __init__(
        self,
        settings: SttSettings,
        vocabulary: Vocabulary,
        model: Any = None,
        reader: Reader | None = None,
    ) -> None:
        """Load the configured model (or use `model`) and keep the decoding options; with a
        `reader`, utterances are decoded n-best and the reader picks the text."""
        self.choice = choose_model(settings)
        self.model = model if model is not None else load_whisper(self.choice, settings.cpu_threads)
        self.reader = reader
        self.short_decode_s: float | None = None  # set by warm_up
        self.guard = SegmentGuard(settings.no_speech_threshold, settings.logprob_threshold)
        self.options: dict[str, Any] = {
            "language": "en",
            "beam_size": settings.beam_size,
            "vad_filter": False,
            "condition_on_previous_text": False,
            "without_timestamps": True,
            "initial_prompt": vocabulary.prompt if settings.use_prompt else None,
            "hotwords": vocabulary.hotwords if settings.use_hotwords else None,
        }
        prompts = [vocabulary.prompt if settings.use_prompt else None]
        if settings.phrase_prompt and vocabulary.phrases:
            prompts.append(vocabulary.phrases)
        nbest = reader is not None and (settings.hypotheses > 1 or len(prompts) > 1)
        self.decoder = (
            NBestDecoder(
                self.model, prompts, settings.beam_size, settings.hypotheses, settings.window_s
            )
            if nbest else None
        )  # hypotheses = 1 without the phrase prompt: faster-whisper's own transcribe()

    def use_open_jobs(self, jobs: Sequence[int]) -> None:
        """Let the reader prefer readings that name one of these jobs (the live state)."""
        if self.reader is not None:
            self.reader = self.reader.with_open_jobs(jobs)

    def warm_up(self) -> float:
        """Decode a second of silence twice so lazy setup is paid; the second decode's seconds."""
        self.transcribe(bytes(32_000))
        self.short_decode_s = self.transcribe(bytes(32_000)).seconds
        return self.short_decode_s

    def transcribe(self, pcm: bytes) -> Transcript:
        """Transcribe one utterance; segments that fail the guard are dropped, not returned."""
        if self.decoder is not None and len(pcm) // 2 <= _WINDOW_SAMPLES:
            return self._transcribe_nbest(pcm)
        began = time.perf_counter()
        try:
            segments, _info = self.model.transcribe(pcm_to_float(pcm), **self.options)
            decoded = list(segments)  # the generator does the work: consume it here
        except Exception as exc:
            raise TranscriptionError(f"transcription failed: {exc}") from None
        kept, dropped = [], []
        for segment in decoded:
            text = segment.text.strip()
            if self.guard.keeps(text, segment.no_speech_prob, segment.avg_logprob):
                kept.append(segment)
            elif text:
                dropped.append(text)
        return Transcript(
            text=" ".join(segment.text.strip() for segment in kept),
            avg_logprob=min((s.avg_logprob for s in kept), default=0.0),
            no_speech_prob=max((s.no_speech_prob for s in decoded), default=1.0),
            dropped=tuple(dropped),
            seconds=time.perf_counter() - began,
        )

    def _transcribe_nbest(self, pcm: bytes) -> Transcript:
        """One window decoded n-best; the reader chooses the text, the guard judges the best."""
        return self._nbest_batch([pcm])[0]

    def transcribe_batch(self, pcms: Sequence[bytes]) -> list[Transcript]:
        """Several utterances (from different streams) at once: one batched decode of those
        that fit a window, the rest one by one; each Transcript as `transcribe` gives it."""
        fits = [i for i, pcm in enumerate(pcms) if len(pcm) // 2 <= _WINDOW_SAMPLES]
        if self.decoder is None or len(fits) < 2:
            return [self.transcribe(pcm) for pcm in pcms]
        batched = dict(zip(fits, self._nbest_batch([pcms[i] for i in fits]), strict=True))
        return [batched.get(i) or self.transcribe(pcm) for i, pcm in enumerate(pcms)]

    def _nbest_batch(self, pcms: Sequence[bytes]) -> list[Transcript]:
        """Windows decoded n-best together; each one's reading chosen and guarded."""
        assert self.decoder is not None and self.reader is not None
        began = time.perf_counter()
        try:
            audios = [pcm_to_float(pcm) for pcm in pcms]
            decoded = self.decoder.decode_batch(audios, self.reader.sure)
        except Exception as exc:
            raise TranscriptionError(f"transcription failed: {exc}") from None
        seconds = time.perf_counter() - began
        return [self._reading(one, seconds) for one in decoded]

    def _reading(self, decoded: Decoded, seconds: float) -> Transcript:
        """The Transcript of one decoded window: empty when the guard drops its best reading."""
        assert self.reader is not None
        hypotheses = decoded.hypotheses
        best = hypotheses[0] if hypotheses else Hypothesis("", -10.0)
        if not self.guard.keeps(best.text, decoded.no_speech_prob, best.score):
            dropped = (best.text,) if best.text.strip() else ()
            return Transcript(
                text="", avg_logprob=best.score, no_speech_prob=decoded.no_speech_prob,
                dropped=dropped, seconds=seconds,
            )
        chosen = self.reader.choose(hypotheses) or best
        return Transcript(
            text=chosen.text, avg_logprob=chosen.score, no_speech_prob=decoded.no_speech_prob,
            seconds=seconds, alternatives=hypotheses,
        )

    @property
    def languages(self) -> tuple[str, ...]:
        """The language codes the loaded model knows: just ("en",) for a `.en` model."""
        known = getattr(self.model, "supported_languages", None)
        return tuple(known) if known else ("en",)

    def file_options(
        self, prompt: str | None = None, language: str | None = None
    ) -> dict[str, Any]:
        """Whole-file decode options: timestamps, context, the caller's prompt, no vocabulary."""
        if language is None and self.languages == ("en",):
            language = "en"
        return {
            **self.options,
            "language": language,
            "condition_on_previous_text": True,
            "without_timestamps": False,
            "initial_prompt": prompt or None,
            "hotwords": None,
        }

    def transcribe_file(
        self, pcm: bytes, prompt: str | None = None, language: str | None = None
    ) -> FileTranscript:
        """Transcribe a whole file's 16 kHz mono s16le PCM into timed segments, phantoms dropped."""
        try:
            segments, info = self.model.transcribe(
                pcm_to_float(pcm), **self.file_options(prompt, language)
            )
            decoded = list(segments)  # the generator does the work: consume it here
        except Exception as exc:
            raise TranscriptionError(f"transcription failed: {exc}") from None
        kept = [
            s for s in decoded if self.guard.keeps(s.text.strip(), s.no_speech_prob, s.avg_logprob)
        ]
        return FileTranscript(
            text=" ".join(s.text.strip() for s in kept),
            language=str(info.language),
            duration=float(info.duration),
            segments=tuple(
                FileSegment(
                    id=number, start=float(s.start), end=float(s.end), text=s.text.strip(),
                    avg_logprob=float(s.avg_logprob), no_speech_prob=float(s.no_speech_prob),
                    compression_ratio=float(s.compression_ratio),
                    temperature=float(s.temperature or 0.0),
                )
                for number, s in enumerate(kept)
            ),
        )


def load_transcriber(settings: Settings) -> WhisperTranscriber:
    """Load and warm up the configured model, with the vocabulary built from the config."""
    from voicedesk.stt.vocabulary import build_vocabulary

    vocabulary = build_vocabulary(settings.agent_aliases(), settings.stt.vocabulary)
    transcriber = WhisperTranscriber(settings.stt, vocabulary, reader=command_reader(settings))
    transcriber.warm_up()  # so the first command's timings are not the model's lazy setup
    return transcriber


def command_reader(settings: Settings) -> Reader:
    """The grammar-aware reader for this config's agents, thresholds and wake word."""
    from voicedesk.intents.choice import Reader as CommandReader
    from voicedesk.intents.wake import command_text

    wake = settings.listen.wake_word
    return CommandReader(
        agents=settings.agent_aliases(),
        min_confidence=settings.intents.min_confidence,
        confirm_below=settings.intents.confirm_below,
        margin=settings.intents.hypothesis_margin,
        command_text=lambda text: command_text(text, wake),
    )
