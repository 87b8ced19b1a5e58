from __future__ import annotations

import io
import struct

import numpy as np
import pytest

from walloc_plugins import InputError
from walloc_plugins.wav import (
    pcm_bytes,
    read_wav,
    read_wav_blocks,
    read_wav_format,
    write_wav,
    write_wav_header,
)


def tone(frames=1000, channels=2):
    t = np.arange(frames)[:, None] / 44100
    return (0.6 * np.sin(2 * np.pi * 440 * t * np.arange(1, channels + 1))).astype(np.float32)


@pytest.mark.parametrize(("bits", "atol"), [(16, 1 / 32768), (24, 1 / 2**23), (32, 1 / 2**31), (-32, 0)])
def test_round_trip(bits, atol):
    audio = tone()
    out = io.BytesIO()
    write_wav(out, audio, 44100, bits)
    decoded, rate = read_wav(io.BytesIO(out.getvalue()))
    assert rate == 44100 and decoded.shape == audio.shape
    np.testing.assert_allclose(decoded, audio, atol=atol)


def test_matches_the_stdlib_wave_module():
    import wave

    audio = tone(channels=3)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(3)
        w.setsampwidth(2)
        w.setframerate(48000)
        w.writeframes(pcm_bytes(audio, 16))
    decoded, rate = read_wav(io.BytesIO(out.getvalue()))
    assert rate == 48000 and decoded.shape == (1000, 3)
    np.testing.assert_allclose(decoded, audio, atol=1 / 32768)


def test_streamed_unknown_size_reads_to_the_end():
    audio = tone(5000)
    out = io.BytesIO()
    write_wav_header(out, 44100, 2, None, 16)
    out.write(pcm_bytes(audio))
    stream = io.BytesIO(out.getvalue())
    fmt = read_wav_format(stream)
    assert fmt.frames is None
    blocks = list(read_wav_blocks(stream, fmt, 1024))
    assert [len(b) for b in blocks] == [1024] * 4 + [904]
    np.testing.assert_allclose(np.concatenate(blocks), audio, atol=1 / 32768)


def test_extensible_float_with_extra_chunks():
    audio = tone(100, 6)
    body = struct.pack("<HHIIHH", 0xFFFE, 6, 48000, 48000 * 24, 24, 32)
    body += struct.pack("<HHI", 22, 32, 0x3F) + struct.pack("<H", 3) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    data = audio.astype("<f4").tobytes()
    riff = b"WAVE" + b"LIST" + struct.pack("<I", 3) + b"abc\x00" + b"fmt " + struct.pack("<I", len(body)) + body
    riff += b"data" + struct.pack("<I", len(data)) + data
    decoded, rate = read_wav(io.BytesIO(b"RIFF" + struct.pack("<I", len(riff)) + riff))
    assert rate == 48000
    np.testing.assert_array_equal(decoded, audio)


@pytest.mark.parametrize(
    "data",
    [b"", b"RIFF\x00\x00\x00\x00WAVX", b"RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00", b"OggS" + b"\x00" * 40],
)
def test_bad_streams_raise_input_error(data):
    with pytest.raises(InputError):
        read_wav(io.BytesIO(data))


def test_truncated_data_is_reported():
    out = io.BytesIO()
    write_wav(out, tone(1000), 44100)
    with pytest.raises(InputError, match="ended 500 frames early"):
        read_wav(io.BytesIO(out.getvalue()[:-2000]))


def test_sizes_past_4_gib_are_written_as_unknown():
    out = io.BytesIO()
    write_wav_header(out, 48000, 8, 1 << 28, 32)  # 8 GiB of samples
    assert read_wav_format(io.BytesIO(out.getvalue())).frames is None
