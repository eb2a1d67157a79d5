"""Read an audio file into 16 kHz mono s16le PCM, turning every failure into one clear line."""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av.error
import numpy as np
from faster_whisper.audio import decode_audio

from voicedesk.errors import AudioDecodeError, AudioError
from voicedesk.types import SAMPLE_RATE, SAMPLE_WIDTH

_PCM_FORMAT = 1
"""WAVE_FORMAT_PCM: the fmt chunk's format tag for plain integer PCM."""

_UNKNOWN_SIZES = frozenset({0xFFFFFFFF, 0x7FFFF000, 0x7FFFFFFF})
"""Data sizes that streaming writers leave when they cannot seek back: "read to the end"."""

_FIXED_FRAME_TAGS = frozenset({1, 3, 6, 7, 0xFFFE})
"""Format tags (PCM, float, A-law, mu-law, extensible) whose block align and byte rate follow
from channels, bits and rate; compressed formats (ADPCM, say) declare their own."""


class NotAudioError(AudioDecodeError):
    """Bytes no decoder recognises as audio (as opposed to audio that is cut short or empty)."""


@dataclass(frozen=True)
class _WavLayout:
    """What the RIFF chunks of a WAV file say about its audio."""

    format_tag: int | None
    channels: int | None
    rate: int | None
    bits: int | None
    byte_rate: int | None
    data_offset: int
    data_size: int
    block_align: int | None = None


def load_audio(path: Path) -> bytes:
    """Read an audio file (WAV or anything PyAV decodes) as 16 kHz mono s16le PCM."""
    path = Path(path)
    if path.is_dir():
        raise AudioError(f"audio path {path} is a directory, not a file")
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size == 0:
                raise AudioDecodeError(f"audio file {path} is empty (0 bytes)")
            layout = _read_wav_layout(handle, path, size)
            pcm = _native_pcm(handle, layout, path)
            if pcm is not None:
                return pcm
    except FileNotFoundError:
        raise AudioError(f"audio file {path} not found") from None
    except PermissionError:
        raise AudioError(f"cannot read audio file {path}: permission denied") from None
    except OSError as exc:
        raise AudioError(f"cannot read audio file {path}: {exc.strerror or exc}") from None
    return _decode(str(path), path)


def load_audio_bytes(data: bytes, name: str) -> bytes:
    """Decode uploaded bytes like load_audio (`name` in the errors), refusing inconsistent WAVs."""
    if not data:
        raise AudioDecodeError(f"audio file {name} is empty (0 bytes)")
    handle = io.BytesIO(data)
    layout = _read_wav_layout(handle, name, len(data))
    if layout is not None:
        _check_wav_header(layout, name)
    pcm = _native_pcm(handle, layout, name)
    if pcm is not None:
        return pcm
    return _decode(io.BytesIO(data), name)


def _native_pcm(handle: BinaryIO, layout: _WavLayout | None, name: Path | str) -> bytes | None:
    """The samples of a WAV that already holds 16 kHz mono s16le; None when it must be decoded."""
    if layout is not None and layout.data_size == 0:
        raise AudioDecodeError(f"audio file {name} has no audio samples")
    if layout is None or not _is_native(layout):
        return None
    handle.seek(layout.data_offset)
    pcm = handle.read(layout.data_size - layout.data_size % SAMPLE_WIDTH)
    if not pcm:
        raise AudioDecodeError(f"audio file {name} has no audio samples")
    return pcm


def _check_wav_header(layout: _WavLayout, name: str) -> None:
    """Refuse a WAV whose fmt chunk is missing or contradicts itself, naming the mismatch."""
    if layout.format_tag is None or layout.channels is None or layout.rate is None:
        raise AudioDecodeError(f"audio file {name} has a data chunk but no fmt chunk before it")
    if not layout.channels or not layout.rate:
        raise AudioDecodeError(
            f"audio file {name} declares {layout.channels} channels at {layout.rate} Hz"
        )
    bits = layout.bits or 0
    if layout.format_tag not in _FIXED_FRAME_TAGS or bits % 8:
        return
    align = layout.channels * bits // 8
    if layout.block_align != align:
        raise AudioDecodeError(
            f"audio file {name} has an inconsistent header: block align {layout.block_align} "
            f"but {layout.channels} channels x {bits} bits make {align}"
        )
    if layout.byte_rate != layout.rate * align:
        raise AudioDecodeError(
            f"audio file {name} has an inconsistent header: byte rate {layout.byte_rate} "
            f"but sample rate {layout.rate} x block align {align} make {layout.rate * align}"
        )


def _is_native(layout: _WavLayout) -> bool:
    """Whether the WAV already holds 16 kHz mono 16-bit PCM, so its bytes can be used as-is."""
    return (
        layout.format_tag == _PCM_FORMAT
        and layout.channels == 1
        and layout.rate == SAMPLE_RATE
        and layout.bits == 8 * SAMPLE_WIDTH
    )


def _read_wav_layout(handle: BinaryIO, path: Path | str, file_size: int) -> _WavLayout | None:
    """Walk a RIFF/WAVE file's chunk headers; None when it is not one, an error when cut short."""
    head = handle.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    fmt: tuple[int, int, int, int, int, int] | None = None
    offset = 12
    while True:
        header = handle.read(8)
        if len(header) < 8:
            raise AudioDecodeError(f"audio file {path} is truncated: it ends before its data chunk")
        chunk_id, size = header[:4], struct.unpack("<I", header[4:])[0]
        body = offset + 8
        if chunk_id == b"data":
            return _data_layout(path, fmt, body, size, file_size - body)
        offset = body + size + (size & 1)
        if offset > file_size:
            raise AudioDecodeError(
                f"audio file {path} is truncated: its {chunk_id.decode('latin-1')!r} chunk "
                f"runs {offset - file_size} bytes past the end"
            )
        if chunk_id == b"fmt " and size >= 16:
            tag, channels, rate, byte_rate, align, bits = struct.unpack("<HHIIHH", handle.read(16))
            fmt = (tag, channels, rate, byte_rate, bits, align)
        handle.seek(offset)


def _data_layout(
    path: Path | str,
    fmt: tuple[int, int, int, int, int, int] | None,
    offset: int,
    size: int,
    available: int,
) -> _WavLayout:
    """The layout once the data chunk is found, checking it fits in the file."""
    tag, channels, rate, byte_rate, bits, align = fmt if fmt is not None else (None,) * 6
    if size in _UNKNOWN_SIZES:
        size = available
    elif size > available:
        missing = size - available
        seconds = f", {missing / byte_rate:.2f} s of audio" if byte_rate else ""
        raise AudioDecodeError(
            f"audio file {path} is truncated: its data chunk claims {size} bytes but only "
            f"{available} are there ({missing} bytes{seconds} missing)"
        )
    return _WavLayout(tag, channels, rate, bits, byte_rate, offset, size, align)


def _decode(source: str | BinaryIO, name: Path | str) -> bytes:
    """Decode with faster-whisper's PyAV decoder, resampled and downmixed, as s16le bytes."""
    try:
        samples = decode_audio(source, sampling_rate=SAMPLE_RATE)
    except IndexError:
        raise NotAudioError(f"audio file {name} has no audio stream") from None
    except (av.error.FFmpegError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
        raise NotAudioError(f"audio file {name} cannot be decoded ({reason})") from None
    except OSError as exc:
        raise AudioError(f"cannot read audio file {name}: {exc.strerror or exc}") from None
    if len(samples) == 0:
        raise AudioDecodeError(f"audio file {name} has no audio samples")
    scaled = np.clip(np.round(np.asarray(samples, dtype=np.float32) * 32768.0), -32768, 32767)
    return scaled.astype("<i2").tobytes()
