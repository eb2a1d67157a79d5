"""N-best decoding of one short utterance: one encoder pass, then a beam search per prompt.

faster-whisper's `transcribe()` returns only the best hypothesis. For a command, the second
or third hypothesis is often the one that names a real agent ("Infra, bump ..." under
"And for, bump ..."), so this module calls CTranslate2's `generate` directly with
`num_hypotheses`, on the encoder output that all prompts share.

The prompts form a cascade: the first prompt is always decoded; each later one only when
`enough(hypotheses so far)` is False, so an utterance that already reads well pays nothing
for the rest.

The encoder normally sees Whisper's full 30 s window (the utterance, zero-padded), which is
most of a short command's cost. `window_s` shrinks it (CTranslate2 takes any width): about
four times faster at 10 s, at some cost in accuracy (README, "How it hears").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from voicedesk.types import Hypothesis

WINDOW_FRAMES = 3000
"""Whisper's encoder window: 30 s of 10 ms mel frames, padded with zeros as faster-whisper does."""


@dataclass(frozen=True)
class Decoded:
    """The n-best hypotheses of one utterance (best score first) and its no-speech probability."""

    hypotheses: tuple[Hypothesis, ...]
    no_speech_prob: float
    prompts_used: int


class NBestDecoder:
    """Decodes 16 kHz float audio of at most 30 s into scored hypotheses with one loaded model."""

    def __init__(
        self,
        model: Any,
        prompts: Sequence[str | None],
        beam_size: int,
        hypotheses: int,
        window_s: float = 30.0,
    ) -> None:
        """Tokenise the prompts once; `hypotheses` per prompt (at most `beam_size`); the
        encoder sees `window_s` seconds (the utterance, padded), never less than the utterance."""
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        self.model = model
        self.tokenizer = Tokenizer(
            model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language="en"
        )
        self.suppress = get_suppressed_tokens(self.tokenizer, [-1])
        self.beam_size = max(beam_size, hypotheses)
        self.window_frames = min(WINDOW_FRAMES, max(1, round(window_s * 100)))
        self.hypotheses = hypotheses
        self.prompts = [self._prompt_tokens(prompt) for prompt in (prompts or [None])]

    def _prompt_tokens(self, prompt: str | None) -> list[int]:
        """The decoder's start sequence for a text prompt, as faster-whisper builds it."""
        previous = self.tokenizer.encode(" " + prompt.strip()) if prompt else []
        tokens: list[int] = self.model.get_prompt(
            self.tokenizer, previous, without_timestamps=True
        )
        return tokens

    def features(
        self, audios: Sequence[np.ndarray[Any, np.dtype[np.float32]]]
    ) -> np.ndarray[Any, np.dtype[np.float32]]:
        """Each audio's log-mel features, zero-padded to one shared window: [batch, mels, time]."""
        mels = [self.model.feature_extractor(audio)[..., :-1] for audio in audios]
        widest = max(mel.shape[-1] for mel in mels)
        window = min(WINDOW_FRAMES, max(self.window_frames, widest + (widest % 2)))
        padded = [np.pad(mel, ((0, 0), (0, max(0, window - mel.shape[-1]))))[:, :window]
                  for mel in mels]
        return np.ascontiguousarray(np.stack(padded))

    def _generate_batch(
        self, encoded: Any, prompts: list[list[int]]
    ) -> list[tuple[list[Hypothesis], float]]:
        """A beam search per batch item (encoder output or features): hypotheses, no-speech."""
        results = self.model.model.generate(
            encoded, prompts, beam_size=self.beam_size, num_hypotheses=self.hypotheses,
            return_scores=True, return_no_speech_prob=True, max_length=448,
            suppress_blank=True, suppress_tokens=self.suppress,
        )
        return [
            ([Hypothesis(self.tokenizer.decode(ids).strip(), float(score))
              for ids, score in zip(result.sequences_ids, result.scores, strict=True)],
             float(result.no_speech_prob))
            for result in results
        ]

    def decode_batch(
        self,
        audios: Sequence[np.ndarray[Any, np.dtype[np.float32]]],
        enough: Callable[[Sequence[Hypothesis]], bool] = lambda _found: False,
    ) -> list[Decoded]:
        """`decode` for several utterances at once: one batched encoder pass, then a batched
        beam search per prompt while any utterance is not yet `enough` (the later prompts'
        readings are kept only for those: decoding the whole batch again costs less than
        encoding the doubtful ones again)."""
        if not audios:
            return []
        features = self.features(audios)
        pools: list[dict[str, Hypothesis]] = [{} for _ in audios]
        no_speech = [0.0] * len(audios)
        used = [0] * len(audios)
        todo = list(range(len(audios)))
        encoded = self.model.encode(features)
        for number, prompt in enumerate(self.prompts):
            if not todo:
                break
            found = self._generate_batch(encoded, [prompt] * len(audios))
            still = []
            for index in todo:
                hypotheses, no_speech_here = found[index]
                if number == 0:  # the no-speech probability is the first prompt's
                    no_speech[index] = no_speech_here
                used[index] += 1
                for hypothesis in hypotheses:
                    held = pools[index].get(hypothesis.text)
                    if held is None or hypothesis.score > held.score:
                        pools[index][hypothesis.text] = hypothesis
                if not enough(sorted(pools[index].values(), key=lambda h: -h.score)):
                    still.append(index)
            todo = still
        return [
            Decoded(tuple(sorted(pool.values(), key=lambda h: -h.score)), no_speech[i], used[i])
            for i, pool in enumerate(pools)
        ]

    def decode(
        self,
        audio: np.ndarray[Any, np.dtype[np.float32]],
        enough: Callable[[Sequence[Hypothesis]], bool] = lambda _found: False,
    ) -> Decoded:
        """Every prompt's hypotheses until `enough` says so, merged: one per text, best first."""
        return self.decode_batch([audio], enough)[0]
