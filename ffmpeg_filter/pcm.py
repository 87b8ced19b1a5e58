"""The PCM ends of the filter: WAV (what ffmpeg writes to a pipe) or raw s16le / f32le."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np

from walloc_plugins.errors import InputError
from walloc_plugins.wav import (
    FLOAT,
    PCM,
    WavFormat,
    pcm_bytes,
    read_wav_blocks,
    read_wav_format,
    write_wav_header,
)

__all__ = ["BLOCK", "RAW_FORMATS", "PcmWriter", "RawFormat", "read_pcm", "wav_bits"]

BLOCK = 16384  # samples per channel per read: small against a codec frame, so it adds no latency
RAW_FORMATS = {"s16le": (PCM, 16), "f32le": (FLOAT, 32)}  # name -> WAV format code and bits


@dataclass(frozen=True)
class RawFormat:
    """Headerless interleaved PCM: ``name`` (a key of ``RAW_FORMATS``), rate and channels."""

    name: str
    sample_rate: int
    channels: int

    def __post_init__(self) -> None:
        if self.name not in RAW_FORMATS:
            raise InputError(f"raw PCM format {self.name!r} is not one of {', '.join(RAW_FORMATS)}")
        if not 1 <= self.sample_rate <= 1_000_000 or not 1 <= self.channels <= 1024:
            raise InputError(
                f"raw PCM needs a rate in 1..1000000 Hz and 1..1024 channels, got "
                f"{self.sample_rate} Hz and {self.channels}"
            )

    @property
    def bits(self) -> int:
        """The ``bits`` argument of ``pcm_bytes``: 16 or -32 (float)."""
        code, bits = RAW_FORMATS[self.name]
        return -bits if code == FLOAT else bits


def read_pcm(fo: IO[bytes], raw: RawFormat | None = None) -> tuple[WavFormat, Iterator[np.ndarray]]:
    """The stream's format and its float32 ``[n, C]`` blocks; a WAV unless ``raw`` says otherwise.

    A WAV may give its sizes as unknown (0 or 0xFFFFFFFF, as ffmpeg does on a pipe): the
    samples then run to the end of the stream. A stream that ends before its stated size
    raises ``InputError`` when the blocks reach that point.
    """
    if raw is None:
        try:
            fmt = read_wav_format(fo)
        except InputError as exc:
            raise InputError(
                f"{exc}; raw PCM needs its format, rate and channels "
                "(walloc-ffmpeg --format s16le|f32le --rate R --channels C)"
            ) from None
    else:
        code, bits = RAW_FORMATS[raw.name]
        fmt = WavFormat(raw.sample_rate, raw.channels, code, bits, None)
    return fmt, read_wav_blocks(fo, fmt, BLOCK)


def wav_bits(fmt: WavFormat) -> int:
    """The output sample format that keeps the input's: 16/24/32-bit PCM, or -32 for float."""
    if fmt.code == FLOAT:
        return -32
    return max(16, fmt.bits)  # 8-bit PCM comes back as 16-bit


class PcmWriter:
    """Writes float ``[n, C]`` blocks as a WAV (``raw`` False) or raw PCM stream.

    With ``frames`` known in advance the WAV header has exact sizes from the start; otherwise
    it says "unknown" (what ffmpeg itself writes to pipes and reads back) and, on a seekable
    file, ``close`` rewrites it with the exact sizes.
    """

    def __init__(
        self,
        fo: IO[bytes],
        sample_rate: int,
        channels: int,
        bits: int,
        frames: int | None = None,
        raw: bool = False,
    ) -> None:
        self._fo, self._rate, self._channels, self._bits = fo, sample_rate, channels, bits
        self._frames, self._raw, self.written = frames, raw, 0
        if not raw:
            write_wav_header(fo, sample_rate, channels, frames, bits)

    def write(self, block: np.ndarray) -> None:
        if len(block):
            self._fo.write(pcm_bytes(block, self._bits))
            self.written += len(block)

    def close(self) -> None:
        """Flush, and give a WAV written with unknown sizes its exact sizes where it can."""
        if self._frames is not None and self._frames != self.written:
            raise RuntimeError(
                f"announced {self._frames} samples, wrote {self.written}"
            )  # a bug, not input
        if not self._raw and self._frames is None and _seekable(self._fo):
            end = self._fo.tell()
            self._fo.seek(0)
            write_wav_header(self._fo, self._rate, self._channels, self.written, self._bits)
            self._fo.seek(end)
        self._fo.flush()


def _seekable(fo: IO[bytes]) -> bool:
    try:
        return fo.seekable()
    except (AttributeError, OSError, ValueError):
        return False
