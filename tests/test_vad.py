"""Tests for the webrtcvad adapter and the segmenter on the committed speech fixtures."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from voicedesk.audio.files import load_audio
from voicedesk.audio.framing import frames
from voicedesk.audio.vad import utterances, webrtc_detector
from voicedesk.types import Utterance

SAMPLE = Path(__file__).parents[1] / "voicedesk" / "data" / "sample_commands.wav"


def find(path: Path) -> list[Utterance]:
    """The utterances the default [vad] settings find in a file."""
    return list(utterances(load_audio(path)))


def test_detector_judges_frames() -> None:
    is_speech = webrtc_detector(2)
    assert is_speech(bytes(960)) is False
    assert webrtc_detector(3, sample_rate=8000)(bytes(160)) is False


@pytest.mark.parametrize(("aggressiveness", "rate"), [(-1, 16000), (4, 16000), (2, 22050)])
def test_detector_refuses_bad_arguments(aggressiveness: int, rate: int) -> None:
    with pytest.raises(ValueError):
        webrtc_detector(aggressiveness, rate)


def test_dispatch_with_a_comma_pause_is_one_utterance(fixtures_dir: Path) -> None:
    [utt] = find(fixtures_dir / "dispatch_frontend.wav")
    assert utt.closed_by == "silence"
    # The speech starts at 0.4 s and stops 0.7 s before the end of the file.
    assert utt.start < 0.4 < utt.speech_end
    assert utt.speech_end > 2.6


def test_dispatch_fixture_really_has_a_comma_pause(fixtures_dir: Path) -> None:
    is_speech = webrtc_detector(2)
    marks = "".join(
        "#" if is_speech(f.pcm) else "."
        for f in frames(load_audio(fixtures_dir / "dispatch_frontend.wav"))
    )
    inner_pauses = marks.strip(".").split("#")
    longest_ms = 30 * max(len(p) for p in inner_pauses)
    assert 250 <= longest_ms < 500


@pytest.mark.parametrize(
    "name",
    ["dispatch_8k_stereo.wav", "status_job.wav", "cancel_job.wav", "experiment.wav", "results.wav"],
)
def test_each_single_command_fixture_is_one_utterance(fixtures_dir: Path, name: str) -> None:
    [utt] = find(fixtures_dir / name)
    assert utt.closed_by == "silence"


def test_multi_command_gives_four_utterances_on_the_expected_spans(fixtures_dir: Path) -> None:
    with (fixtures_dir / "multi_command.tsv").open(newline="") as handle:
        spans = [(float(row[0]), float(row[1])) for row in csv.reader(handle, delimiter="\t")]
    found = find(fixtures_dir / "multi_command.wav")
    assert len(spans) == 4
    assert len(found) == 4
    for utt, (start, end) in zip(found, spans, strict=True):
        assert utt.start < end and start < utt.end, (utt, start, end)
        assert utt.start <= start + 0.1 and utt.end >= end - 0.1, (utt, start, end)


def test_the_demo_sample_gives_four_utterances() -> None:
    found = find(SAMPLE)
    assert [u.closed_by for u in found] == ["silence"] * 4


@pytest.mark.parametrize("name", ["silence.wav", "noise.wav"])
def test_no_speech_gives_no_utterance(fixtures_dir: Path, name: str) -> None:
    assert find(fixtures_dir / name) == []
