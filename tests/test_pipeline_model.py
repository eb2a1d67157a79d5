"""The whole pipeline in-process with the real tiny.en model on the committed fixtures."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from voicedesk.audio.files import load_audio
from voicedesk.config import Settings
from voicedesk.listener import Listener
from voicedesk.store import Store
from voicedesk.stt.whisper import WhisperTranscriber

pytestmark = pytest.mark.model

SINGLE_COMMANDS = [
    ("dispatch_frontend.wav", {"type": "dispatch", "agent": "frontend", "job": None}),
    ("status_job.wav", {"type": "status", "agent": None, "job": 12}),
    ("cancel_job.wav", {"type": "cancel", "agent": None, "job": 3}),
    ("experiment.wav", {"type": "experiment", "agent": None, "job": None}),
    ("results.wav", {"type": "results", "agent": None, "job": None}),
    ("dispatch_8k_stereo.wav", {"type": "dispatch", "agent": "frontend", "job": None}),
]


@pytest.mark.parametrize(("name", "expected"), SINGLE_COMMANDS)
def test_single_command_fixture(
    fixtures_dir: Path, transcriber: WhisperTranscriber, name: str, expected: dict[str, object]
) -> None:
    listener = Listener(Settings(), transcriber)
    [heard] = list(listener.run(load_audio(fixtures_dir / name)))
    intent = heard.intent.contract()
    assert {k: intent[k] for k in expected} == expected, heard.transcript.text


def test_tasks_are_the_words_after_the_addressing(
    fixtures_dir: Path, transcriber: WhisperTranscriber
) -> None:
    listener = Listener(Settings(), transcriber)
    [dispatch] = list(listener.run(load_audio(fixtures_dir / "dispatch_frontend.wav")))
    assert dispatch.intent.task == "please add a dark mode toggle"
    [experiment] = list(listener.run(load_audio(fixtures_dir / "experiment.wav")))
    assert experiment.intent.task is not None and experiment.intent.task.startswith("with half")


def test_multi_command_file_acts_on_every_command_in_order(
    fixtures_dir: Path, transcriber: WhisperTranscriber, tmp_path: Path
) -> None:
    store = Store.in_dir(tmp_path)
    listener = Listener(Settings(), transcriber, store)
    heard = list(listener.run(load_audio(fixtures_dir / "multi_command.wav"), source="test"))
    with (fixtures_dir / "multi_command.tsv").open() as handle:
        spans = [(float(row[0]), float(row[1])) for row in csv.reader(handle, delimiter="\t")]
    assert len(heard) == len(spans) == 4
    for item, (start, end) in zip(heard, spans, strict=True):
        assert item.utterance.start <= start + 0.1 and item.utterance.end >= end - 0.1
    assert [h.intent.type for h in heard] == ["dispatch", "status", "experiment", "cancel"]
    [job] = store.jobs()
    assert (job.agent, job.task, job.status) == ("backend", "fix the flaky login test", "queued")
    assert heard[1].outcome is not None and heard[1].outcome.reply == "There is no job 12."
    assert heard[3].outcome is not None and heard[3].outcome.reply == "There is no job 3."
    assert [e.description for e in store.experiments()] == [heard[2].intent.task]
    audit = store.utterances()
    assert [row["intent"]["type"] for row in reversed(audit)] == [
        "dispatch", "status", "experiment", "cancel",
    ]
    assert all(row["timings"]["speech_end_to_intent"] > 0 for row in audit)


@pytest.mark.parametrize("name", ["silence.wav", "noise.wav"])
def test_silence_and_noise_give_no_command(
    fixtures_dir: Path, transcriber: WhisperTranscriber, name: str
) -> None:
    assert list(Listener(Settings(), transcriber).run(load_audio(fixtures_dir / name))) == []


def test_the_model_invents_nothing_on_raw_silence(transcriber: WhisperTranscriber) -> None:
    result = transcriber.transcribe(bytes(2 * 16_000 * 2))
    assert result.text == ""


def test_comma_pause_stays_inside_one_utterance(
    fixtures_dir: Path, transcriber: WhisperTranscriber
) -> None:
    utterances = list(Listener(Settings(), transcriber).utterances(
        load_audio(fixtures_dir / "dispatch_frontend.wav")
    ))
    assert len(utterances) == 1
    assert utterances[0].closed_by in ("silence", "end_of_stream")
