"""voicedesk: whisper to your agents."""

__version__ = "0.1.0"
