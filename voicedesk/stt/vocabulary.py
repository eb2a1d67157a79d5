"""Context vocabulary: the agent names and command words Whisper should expect."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

COMMAND_WORDS: tuple[str, ...] = (
    "status", "job", "cancel", "stop", "queue", "experiment", "leaderboard", "confirm",
)
"""Words of the command language that tiny models mishear without a hint."""


PHRASE_FORMS: tuple[str, ...] = (
    "{agent}, add a test.",
    "Tell the {agent} agent to fix the bug.",
    "Give me a status update.",
    "What's running?",
    "What is the status of job 12?",
    "How is the {agent} agent doing?",
    "Cancel job 3.",
    "Stop the {agent} agent.",
    "Ask the {agent} agent to write the report.",
    "Queue an experiment that halves the warmup.",
    "What's the best result so far?",
    "Show me the leaderboard.",
    "Yes, go ahead.",
    "No, never mind.",
)
"""The command language's own forms (COMMANDS.md), one example each; `{agent}` slots take the
configured agents in turn, so every agent is heard in an addressing form."""


@dataclass(frozen=True)
class Vocabulary:
    """What is handed to Whisper: an initial prompt, a hotwords string, a phrase prompt.

    `phrases` is the second prompt of the decoding cascade: the command language spoken
    with the configured agent names, tried when the first prompt's reading is doubtful.
    """

    prompt: str
    hotwords: str
    phrases: str = ""


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
    return Vocabulary(
        prompt=" ".join(prompt_parts), hotwords=hotwords, phrases=phrase_prompt(names)
    )


def phrase_prompt(names: Sequence[str]) -> str:
    """The command language's forms with the agent names filled in, in config order, cycling."""
    if not names:
        return ""
    lines, turn = [], 0
    for form in PHRASE_FORMS:
        if "{agent}" in form:
            name, turn = names[turn % len(names)], turn + 1
            form = form.format(agent=name)
            form = form[0].upper() + form[1:]
        lines.append(form)
    return f"Voice commands to the {_spoken_list(names)} agents. " + " ".join(lines)


def _spoken_list(names: Sequence[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
