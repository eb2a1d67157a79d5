"""Grammar-aware choice among an utterance's hypotheses: the best-scoring one that parses well.

Each hypothesis gets a *tier* from how the grammar reads it:
  3  a command the grammar is sure of (confidence >= `[intents] confirm_below`);
  2  a command it would read back first (confidence >= `min_confidence`);
  1  nothing the grammar knows (`unknown`);
  0  no command at all (a wake word is configured and the text does not start with it).
Among the hypotheses whose score is within `margin` of the best one (scores are Whisper's
length-normalised log-probabilities), the highest tier wins, then the higher score. So the
decoder's first choice stands unless a nearly-as-likely reading makes sense where it does not:
"And for, bump the base image" (unknown) loses to "Infra, bump the base image" (infra).
A reading far below the best is never chosen, however well it parses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from voicedesk.intents.grammar import parse_command
from voicedesk.types import Hypothesis

SURE = 3
"""The tier of a reading that needs no read-back: no further decoding can improve on it."""


@dataclass(frozen=True)
class Reader:
    """Chooses the reading of an utterance that the command grammar makes sense of."""

    agents: Mapping[str, Sequence[str]]
    min_confidence: float
    confirm_below: float
    margin: float
    command_text: Callable[[str], str | None] = lambda text: text or None

    def tier(self, text: str) -> int:
        """How well the grammar reads one text (see the module docstring)."""
        command = self.command_text(text)
        if not command:
            return 0
        intent = parse_command(command, self.agents, min_confidence=self.min_confidence)
        if intent.type == "unknown":
            return 1
        return SURE if intent.confidence >= self.confirm_below else 2

    def choose(self, hypotheses: Sequence[Hypothesis]) -> Hypothesis | None:
        """The hypothesis to act on, or None when there are none."""
        if not hypotheses:
            return None
        top = max(h.score for h in hypotheses)
        near = [h for h in hypotheses if top - h.score <= self.margin]
        return max(near, key=lambda h: (self.tier(h.text), h.score))

    def sure(self, hypotheses: Sequence[Hypothesis]) -> bool:
        """Whether the chosen reading is one the grammar is sure of (stop decoding)."""
        chosen = self.choose(hypotheses)
        return chosen is not None and self.tier(chosen.text) == SURE
