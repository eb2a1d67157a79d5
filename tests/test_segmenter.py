"""Tests for the segmenter's logic alone, on synthetic audio with a simple energy detector.

Every piece of audio is a whole number of 30 ms frames, so each frame is all tone ("speech")
or all zeros ("silence") and the expected times are exact.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from voicedesk.audio.framing import frames
from voicedesk.audio.segmenter import Segmenter, SegmenterSettings, segment
from voicedesk.config import VadSettings
from voicedesk.types import AudioFrame, Utterance

RATE = 16_000
FRAME_S = 0.03
BYTES_PER_S = 32_000


def tone(ms: int) -> np.ndarray:
    """A loud 220 Hz tone standing in for speech."""
    t = np.arange(RATE * ms // 1000) / RATE
    return (8000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)


def quiet(ms: int) -> np.ndarray:
    """Digital silence."""
    return np.zeros(RATE * ms // 1000, dtype=np.int16)


def stream(*pieces: np.ndarray) -> bytes:
    """The pieces back to back as s16le PCM."""
    return np.concatenate(pieces).astype("<i2").tobytes()


def energy_detector(pcm: bytes) -> bool:
    """Speech means an RMS above a fixed threshold."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return bool(np.sqrt(np.mean(samples**2)) > 500)


def run(
    pcm: bytes, settings: SegmenterSettings | None = None, start: float = 0.0
) -> list[Utterance]:
    """All utterances of a stream, end of stream included."""
    return list(segment(frames(pcm, 30, start), Segmenter(energy_detector, settings)))


def close_times(pcm: bytes, settings: SegmenterSettings | None = None) -> list[float]:
    """The start time of each frame on which `feed` returned an utterance."""
    segmenter = Segmenter(energy_detector, settings)
    return [f.start for f in frames(pcm, 30) if segmenter.feed(f)]


def test_one_burst_with_pre_roll_tail_and_times() -> None:
    pcm = stream(quiet(990), tone(1200), quiet(990))
    [utt] = run(pcm)
    assert utt.closed_by == "silence"
    assert utt.start == pytest.approx(0.99 - 0.30)
    assert utt.speech_end == pytest.approx(0.99 + 1.2)
    assert utt.end == pytest.approx(0.99 + 1.2 + 0.30)
    assert len(utt.pcm) == round((utt.end - utt.start) * BYTES_PER_S)
    first = round(utt.start * BYTES_PER_S)
    assert utt.pcm == pcm[first : first + len(utt.pcm)]


@pytest.mark.parametrize(("pre_roll_ms", "expected_start"), [(0, 0.99), (150, 0.84), (600, 0.39)])
def test_pre_roll_length_follows_the_setting(pre_roll_ms: int, expected_start: float) -> None:
    pcm = stream(quiet(990), tone(600), quiet(990))
    [utt] = run(pcm, SegmenterSettings(pre_roll_ms=pre_roll_ms))
    assert utt.start == pytest.approx(expected_start)


def test_pre_roll_is_clipped_at_the_stream_start() -> None:
    [utt] = run(stream(quiet(90), tone(600), quiet(990)))
    assert utt.start == 0.0


def test_hangover_closes_after_the_configured_time_and_not_before() -> None:
    pcm = stream(quiet(300), tone(600), quiet(1500))
    # default hangover 500 ms = 17 frames (510 ms): the frame starting at 0.9 + 0.48 closes it.
    assert close_times(pcm) == [pytest.approx(0.9 + 0.48)]
    assert close_times(pcm, SegmenterSettings(hangover_ms=300)) == [pytest.approx(0.9 + 0.27)]


@pytest.mark.parametrize(("gap_ms", "count"), [(300, 1), (390, 1), (480, 1), (510, 2), (600, 2)])
def test_a_pause_splits_only_from_the_hangover_on(gap_ms: int, count: int) -> None:
    pcm = stream(quiet(300), tone(600), quiet(gap_ms), tone(600), quiet(990))
    assert len(run(pcm)) == count


def test_a_comma_pause_stays_inside_the_utterance() -> None:
    pcm = stream(quiet(300), tone(600), quiet(300), tone(900), quiet(990))
    [utt] = run(pcm)
    assert utt.start == pytest.approx(0.0)
    assert utt.speech_end == pytest.approx(0.3 + 0.6 + 0.3 + 0.9)
    assert utt.duration == pytest.approx(utt.speech_end + 0.3)


def test_min_speech_drops_short_bursts_and_keeps_long_ones() -> None:
    # 180 ms starts an utterance (5 of 8 frames voiced) but is under min_speech_ms=200.
    assert run(stream(quiet(600), tone(180), quiet(990))) == []
    [kept] = run(stream(quiet(600), tone(240), quiet(990)))
    assert kept.speech_end - kept.start == pytest.approx(0.3 + 0.24)
    lenient = SegmenterSettings(min_speech_ms=150)
    assert len(run(stream(quiet(600), tone(180), quiet(990)), lenient)) == 1


def test_clicks_never_start_an_utterance() -> None:
    clicks = [piece for _ in range(10) for piece in (tone(30), quiet(90))]
    pairs = [piece for _ in range(5) for piece in (tone(60), quiet(90), tone(30), quiet(600))]
    assert run(stream(quiet(300), *clicks, quiet(600))) == []
    assert run(stream(quiet(300), *pairs)) == []
    assert run(stream(quiet(300), *clicks), SegmenterSettings(min_speech_ms=0)) == []


def test_max_length_cuts_with_no_audio_lost() -> None:
    pcm = stream(quiet(300), tone(3420), quiet(990))
    utts = run(pcm, SegmenterSettings(max_utterance_s=1.5))
    assert [u.closed_by for u in utts] == ["max_length", "max_length", "silence"]
    assert [u.duration for u in utts[:2]] == [pytest.approx(1.5), pytest.approx(1.5)]
    for before, after in itertools.pairwise(utts):
        assert after.start == pytest.approx(before.end)
    assert utts[0].start == 0.0
    assert utts[-1].speech_end == pytest.approx(0.3 + 3.42)
    joined = b"".join(u.pcm for u in utts)
    assert len(joined) == round((utts[-1].end - utts[0].start) * BYTES_PER_S)
    assert joined == pcm[: len(joined)]


def test_the_rest_of_a_cut_utterance_is_kept_however_short() -> None:
    pcm = stream(tone(1590), quiet(990))
    utts = run(pcm, SegmenterSettings(max_utterance_s=1.5))
    assert [u.closed_by for u in utts] == ["max_length", "silence"]
    assert utts[1].speech_end - utts[1].start == pytest.approx(0.09)


def test_flush_closes_speech_at_the_end_of_the_stream() -> None:
    pcm = stream(quiet(600), tone(900))
    segmenter = Segmenter(energy_detector)
    assert [u for f in frames(pcm) for u in segmenter.feed(f)] == []
    assert segmenter.in_speech
    [utt] = segmenter.flush()
    assert utt.closed_by == "end_of_stream"
    assert utt.speech_end == pytest.approx(1.5)
    assert utt.end == pytest.approx(1.5)
    assert not segmenter.in_speech
    assert segmenter.flush() == []


def test_flush_keeps_only_a_short_tail_of_trailing_silence() -> None:
    [utt] = run(stream(quiet(600), tone(900), quiet(450)))
    assert utt.closed_by == "end_of_stream"
    assert utt.end == pytest.approx(1.5 + 0.3)


def test_back_to_back_utterances_share_no_samples() -> None:
    pcm = stream(quiet(300), tone(600), quiet(600), tone(600), quiet(990))
    first, second = run(pcm)
    assert first.end == pytest.approx(0.9 + 0.3)
    assert second.start >= first.end - 1e-9
    assert second.speech_end == pytest.approx(0.9 + 0.6 + 0.6)


def test_times_follow_the_frames_start_offset() -> None:
    [utt] = run(stream(quiet(990), tone(600), quiet(990)), start=100.0)
    assert utt.start == pytest.approx(100.69)
    assert utt.speech_end == pytest.approx(101.59)


def test_segment_matches_feeding_by_hand() -> None:
    pcm = stream(quiet(300), tone(600), quiet(990), tone(600))
    segmenter = Segmenter(energy_detector)
    by_hand = [u for f in frames(pcm) for u in segmenter.feed(f)] + segmenter.flush()
    assert run(pcm) == by_hand
    assert [u.closed_by for u in by_hand] == ["silence", "end_of_stream"]


def test_settings_from_vad_config() -> None:
    vad = VadSettings.model_validate(
        {
            "frame_ms": 20,
            "pre_roll_ms": 200,
            "hangover_ms": 700,
            "min_speech_ms": 100,
            "max_utterance_s": 9.0,
        }
    )
    settings = SegmenterSettings.from_vad(vad)
    assert (settings.frame_ms, settings.pre_roll_ms, settings.hangover_ms) == (20, 200, 700)
    assert (settings.min_speech_ms, settings.max_utterance_s) == (100, 9.0)
    assert settings.hangover_frames == 35
    assert settings.tail_frames == 15


@pytest.mark.parametrize(
    "bad",
    [
        {"frame_ms": 0},
        {"hangover_ms": 0},
        {"pre_roll_ms": -1},
        {"trigger_ratio": 0.0},
        {"max_utterance_s": 0.001},
    ],
)
def test_bad_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SegmenterSettings(**bad)  # type: ignore[arg-type]


def test_a_frame_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(ValueError, match="expected 960"):
        Segmenter(energy_detector).feed(AudioFrame(pcm=bytes(640), start=0.0))
