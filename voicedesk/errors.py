"""The one exception tree of voicedesk.

VoicedeskError                 every error meant for the user: one clear line, no traceback
├── ConfigError                a config file or VOICEDESK_* value that cannot be used
├── AudioError                 audio that cannot be read
│   └── AudioDecodeError       a file that exists but is not decodable audio (or is truncated)
├── ModelError                 a speech model that cannot be found or loaded
├── TranscriptionError         the model failed on audio it was given
└── StoreError                 the SQLite store cannot be opened or written
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


class StoreError(VoicedeskError):
    """The SQLite store cannot be opened, migrated or written."""
