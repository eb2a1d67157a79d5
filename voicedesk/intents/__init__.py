"""Intent parsing: Whisper's text -> Intent, by grammar first (the LLM fallback lives beside it)."""

from voicedesk.intents.grammar import parse_command

__all__ = ["parse_command"]
