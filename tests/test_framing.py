"""Tests for voicedesk.audio.framing."""

from __future__ import annotations

import pytest

from voicedesk.audio.framing import frame_bytes, frames


def _pcm(samples: int) -> bytes:
    """Distinct, non-zero s16le samples so padding and order are visible."""
    return b"".join(((i % 1000) + 1).to_bytes(2, "little", signed=True) for i in range(samples))


@pytest.mark.parametrize(("frame_ms", "size"), [(10, 320), (20, 640), (30, 960)])
def test_frame_bytes(frame_ms: int, size: int) -> None:
    assert frame_bytes(frame_ms) == size


def test_frames_are_consecutive_and_timed() -> None:
    pcm = _pcm(480 * 4)
    out = list(frames(pcm, 30))
    assert [f.start for f in out] == pytest.approx([0.0, 0.03, 0.06, 0.09])
    assert all(len(f.pcm) == 960 for f in out)
    assert b"".join(f.pcm for f in out) == pcm
    assert all(f.duration == pytest.approx(0.03) for f in out)


def test_last_partial_frame_is_zero_padded() -> None:
    pcm = _pcm(480 + 100)
    out = list(frames(pcm, 30))
    assert len(out) == 2
    assert out[1].pcm[:200] == pcm[960:]
    assert out[1].pcm[200:] == bytes(760)
    assert len(out[1].pcm) == 960


def test_start_offset_shifts_every_frame() -> None:
    out = list(frames(_pcm(320 * 3), 20, start=12.5))
    assert [f.start for f in out] == pytest.approx([12.5, 12.52, 12.54])


def test_empty_pcm_gives_no_frames() -> None:
    assert list(frames(b"", 30)) == []


def test_times_do_not_drift_over_long_streams() -> None:
    out = list(frames(bytes(960 * 10_000), 30))
    assert out[-1].start == pytest.approx(9999 * 0.03, abs=1e-9)


@pytest.mark.parametrize("frame_ms", [0, -30])
def test_bad_frame_length_is_refused_at_once(frame_ms: int) -> None:
    with pytest.raises(ValueError, match="frame_ms"):
        frames(b"\x00\x00", frame_ms)
