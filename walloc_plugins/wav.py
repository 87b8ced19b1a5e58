"""WAV reading and writing with numpy: PCM 8/16/24/32-bit, float, extensible, streamed sizes."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np

from .errors import InputError

__all__ = ["WavFormat", "read_wav", "read_wav_blocks", "read_wav_format", "write_wav", "write_wav_header"]

PCM, FLOAT, EXTENSIBLE = 1, 3, 0xFFFE
UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # what ffmpeg writes when it streams to a pipe
_DTYPES = {(PCM, 8): "u1", (PCM, 16): "<i2", (PCM, 32): "<i4", (FLOAT, 32): "<f4", (FLOAT, 64): "<f8"}


@dataclass(frozen=True)
class WavFormat:
    """Sample layout of a WAV stream; ``frames`` is None when the size is unknown."""

    sample_rate: int
    channels: int
    code: int
    bits: int
    frames: int | None

    @property
    def frame_bytes(self) -> int:
        return self.channels * self.bits // 8


def read_wav_format(fo: IO[bytes]) -> WavFormat:
    """Read RIFF/WAVE headers up to the start of the sample data."""
    riff = _read(fo, 12)
    if riff[:4] != b"RIFF" or riff[8:] != b"WAVE":
        raise InputError("not a WAV stream (no RIFF/WAVE header)")
    fmt = None
    while True:
        kind, size = struct.unpack("<4sI", _read(fo, 8))
        if kind == b"fmt ":
            fmt = _parse_fmt(_read(fo, size + size % 2)[:size])
        elif kind == b"data":
            if fmt is None:
                raise InputError("WAV data chunk before its fmt chunk")
            frames = None if size in UNKNOWN_SIZES else size // fmt.frame_bytes
            return WavFormat(fmt.sample_rate, fmt.channels, fmt.code, fmt.bits, frames)
        else:
            if size > 1 << 26:
                raise InputError(f"WAV chunk {kind!r} of {size} bytes is too large")
            _read(fo, size + size % 2)


def read_wav_blocks(fo: IO[bytes], fmt: WavFormat, block_frames: int) -> Iterator[np.ndarray]:
    """Yield float32 ``[frames, C]`` blocks in [-1, 1] until the data (or the stream) ends."""
    left = fmt.frames
    while left is None or left > 0:
        want = block_frames if left is None else min(block_frames, left)
        raw = fo.read(want * fmt.frame_bytes)
        usable = len(raw) - len(raw) % fmt.frame_bytes
        if usable:
            yield _to_float(raw[:usable], fmt)
            if left is not None:
                left -= usable // fmt.frame_bytes
        if len(raw) < want * fmt.frame_bytes:
            if left:
                raise InputError(f"WAV stream ended {left} frames early")
            return


def read_wav(fo: IO[bytes]) -> tuple[np.ndarray, int]:
    """The whole stream as float32 ``[T, C]`` and its sample rate."""
    fmt = read_wav_format(fo)
    blocks = list(read_wav_blocks(fo, fmt, 1 << 16))
    audio = np.concatenate(blocks) if blocks else np.zeros((0, fmt.channels), np.float32)
    return audio, fmt.sample_rate


def write_wav_header(fo: IO[bytes], sample_rate: int, channels: int, frames: int | None, bits: int = 16) -> None:
    """A canonical PCM (16/24/32-bit) or float (bits=-32) header; unknown ``frames`` streams.

    Sizes past the format's 4 GiB limit are written as unknown too: readers then read to the end.
    """
    code, width = (FLOAT, 32) if bits == -32 else (PCM, bits)
    block = channels * width // 8
    if frames is not None and 36 + frames * block >= 0xFFFFFFFF:
        frames = None
    data = 0xFFFFFFFF if frames is None else frames * block
    riff = 0xFFFFFFFF if frames is None else 36 + data
    fo.write(struct.pack("<4sI4s", b"RIFF", riff, b"WAVE"))
    fo.write(struct.pack("<4sIHHIIHH", b"fmt ", 16, code, channels, sample_rate, sample_rate * block, block, width))
    fo.write(struct.pack("<4sI", b"data", data))


def write_wav(fo: IO[bytes], audio: np.ndarray, sample_rate: int, bits: int = 16) -> None:
    """Write float ``[T, C]`` audio in [-1, 1] as a WAV stream of exact size."""
    audio = audio.reshape(len(audio), -1)
    write_wav_header(fo, sample_rate, audio.shape[1], len(audio), bits)
    fo.write(pcm_bytes(audio, bits))


def pcm_bytes(audio: np.ndarray, bits: int = 16) -> bytes:
    """Float ``[T, C]`` samples as interleaved little-endian PCM (or float32 for bits=-32)."""
    if bits == -32:
        return np.ascontiguousarray(audio, "<f4").tobytes()
    scale = float(2 ** (bits - 1))
    ints = np.clip(np.round(audio * scale), -scale, scale - 1).astype("<i4")
    if bits == 24:
        return ints.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    return ints.astype({16: "<i2", 32: "<i4"}[bits]).tobytes()


def _parse_fmt(body: bytes) -> WavFormat:
    if len(body) < 16:
        raise InputError("WAV fmt chunk is too short")
    code, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
    if code == EXTENSIBLE:
        if len(body) < 40:
            raise InputError("WAVE_FORMAT_EXTENSIBLE fmt chunk is too short")
        code = struct.unpack_from("<H", body, 24)[0]  # first two bytes of the sub-format GUID
    if (code, bits) not in _DTYPES and (code, bits) != (PCM, 24):
        raise InputError(f"unsupported WAV sample format (code {code}, {bits} bits)")
    if not 1 <= channels <= 1024 or not 1 <= rate <= 1_000_000:
        raise InputError(f"WAV header has {channels} channels at {rate} Hz")
    return WavFormat(rate, channels, code, bits, None)


def _to_float(raw: bytes, fmt: WavFormat) -> np.ndarray:
    if (fmt.code, fmt.bits) == (PCM, 24):
        bytes3 = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        ints = (bytes3[:, 0].astype(np.int32) | bytes3[:, 1].astype(np.int32) << 8 | bytes3[:, 2].astype(np.int32) << 16)
        samples = ((ints << 8) >> 8).astype(np.float32) / 2**23
    else:
        data = np.frombuffer(raw, _DTYPES[(fmt.code, fmt.bits)])
        if fmt.code == FLOAT:
            samples = data.astype(np.float32)
        elif fmt.bits == 8:
            samples = (data.astype(np.float32) - 128) / 128
        else:
            samples = data.astype(np.float32) / float(2 ** (fmt.bits - 1))
    return samples.reshape(-1, fmt.channels)


def _read(fo: IO[bytes], size: int) -> bytes:
    data = fo.read(size)
    if len(data) < size:
        raise InputError("WAV stream ends inside its header")
    return data
