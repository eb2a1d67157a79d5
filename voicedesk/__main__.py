"""Run the CLI as `python -m voicedesk`."""

from voicedesk.cli import main

main()
