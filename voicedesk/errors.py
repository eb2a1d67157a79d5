"""The one exception tree of voicedesk.

VoicedeskError                 every error meant for the user: one clear line, no traceback
├── ConfigError                a config file or VOICEDESK_* value that cannot be used
├── AudioError                 audio that cannot be read
│   └── AudioDecodeError       a file that exists but is not decodable audio (or is truncated)
├── ModelError                 a speech model that cannot be found or loaded
├── TranscriptionError         the model failed on audio it was given
├── SpeechError                speech out: a voice that cannot load, an output device missing
├── StoreError                 the SQLite store cannot be opened or written
├── AgentError                 an agent could not do its job (the job fails with this reason)
└── LlmError                   the Anthropic API is not configured or did not answer usefully
"""

from __future__ import annotations


class VoicedeskError(Exception):
    """Base of every error shown to the user as one line."""


class ConfigError(VoicedeskError):
    """A config file or environment value that cannot be used."""


class AudioError(VoicedeskError):
    """Audio that cannot be read."""


class AudioDecodeError(AudioError):
    """A file that exists but is not decodable audio, or is cut short."""


class ModelError(VoicedeskError):
    """A speech model that cannot be found or loaded."""


class TranscriptionError(VoicedeskError):
    """The speech model failed on audio it was given."""


class SpeechError(VoicedeskError):
    """Speech out failed: a voice that cannot be loaded or an output device that is missing."""


class StoreError(VoicedeskError):
    """The SQLite store cannot be opened, migrated or written."""


class AgentError(VoicedeskError):
    """An agent could not do its job; the message is the job's failure reason."""

    def __init__(self, reason: str, log: str = "") -> None:
        """The one-line reason, and whatever log the agent had written by then."""
        super().__init__(reason)
        self.log = log


class LlmError(VoicedeskError):
    """The Anthropic API is not configured, or did not answer usefully."""
