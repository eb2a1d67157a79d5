"""Context vocabulary: the agent names and command words Whisper should expect."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

COMMAND_WORDS: tuple[str, ...] = (
    "status", "job", "cancel", "stop", "queue", "experiment", "leaderboard", "confirm",
)
"""Words of the command language that tiny models mishear without a hint."""


@dataclass(frozen=True)
class Vocabulary:
    """What is handed to Whisper: an initial prompt and a hotwords string."""

    prompt: str
    hotwords: str


def _unique(words: Sequence[str]) -> list[str]:
    """Words in first-seen order without repeats."""
    return list(dict.fromkeys(word for word in words if word))


def build_vocabulary(
    agents: Mapping[str, Sequence[str]], extra: Sequence[str] = ()
) -> Vocabulary:
    """Build the prompt and hotwords from the configured agents, their aliases and extra words."""
    names = _unique(list(agents))
    aliases = _unique([alias for name in names for alias in agents[name]])
    prompt_parts = []
    if names:
        spoken = ", ".join(names)
        also = f" (also {', '.join(aliases)})" if aliases else ""
        prompt_parts.append(f"Voice commands to the agents {spoken}{also}.")
    prompt_parts.append(
        "Status of job 12. Cancel job 3. Queue an experiment. Show me the leaderboard."
    )
    if extra:
        prompt_parts.append(", ".join(_unique(extra)) + ".")
    hotwords = " ".join(_unique([*names, *aliases, *COMMAND_WORDS, *extra]))
    return Vocabulary(prompt=" ".join(prompt_parts), hotwords=hotwords)
