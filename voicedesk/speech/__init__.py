"""Speech out: text-to-speech (Piper, espeak-ng) and interruptible playback of the replies."""
