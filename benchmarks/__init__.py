"""voicedesk's benchmark harness: `python -m benchmarks [SUITE...]`."""
