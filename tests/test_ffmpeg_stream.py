"""The ffmpeg door's pipelines in-process, fed by the real ffmpeg binary with real music."""

from __future__ import annotations

import io
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import DEV_AUDIO, SHARED
from helpers import mutate

import walloc_plugins as wp
from ffmpeg_filter import RawFormat, decode_stream, encode_stream, filter_stream
from ffmpeg_filter.resample import BETA, Resampler, resampled_length
from walloc_plugins import ContainerError, InputError, TruncatedError, WallocError
from walloc_plugins.audiofile import find_ffmpeg
from walloc_plugins.wav import read_wav, read_wav_format

MUSIC_DEV = SHARED / "music" / "dev"
TRACK = "ufoai__Crystan-Geosphere03.flac"  # quiet, tonal orchestral music: frame joints would show
pytestmark = pytest.mark.ffmpeg


def ffmpeg_pcm(path: Path, *options: str, seconds: float = 4.0, start: float = 0.0) -> bytes:
    """``seconds`` of ``path`` from ``start`` as ffmpeg writes them to a pipe (WAV by default)."""
    command = [
        find_ffmpeg(),
        "-v",
        "error",
        "-nostdin",
        "-ss",
        str(start),
        "-t",
        str(seconds),
        "-i",
        str(path),
    ]
    return subprocess.run(
        [*command, *(options or ("-f", "wav")), "-"], capture_output=True, check=True
    ).stdout


def music_track() -> Path:
    """A whole track of ``get-music.sh dev``, or a skip that says how to fetch it."""
    path = MUSIC_DEV / TRACK
    if not path.is_file():
        pytest.skip(f"{path} is absent: run ../shared/data/get-music.sh dev")
    return path


def snr(reference: np.ndarray, decoded: np.ndarray) -> np.ndarray:
    """Per-channel SNR in dB."""
    return 10 * np.log10(np.sum(reference**2, axis=0) / np.sum((reference - decoded) ** 2, axis=0))


def run(pipeline, data: bytes, *args, **kwargs) -> bytes:
    out = io.BytesIO()
    pipeline(io.BytesIO(data), out, *args, **kwargs)
    return out.getvalue()


class Trickle(io.RawIOBase):
    """A pipe-like reader that hands out at most ``piece`` bytes per read."""

    def __init__(self, data: bytes, piece: int = 4096) -> None:
        self._data, self._piece, self._at = data, piece, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._data[self._at : self._at + min(len(buffer), self._piece)]
        buffer[: len(chunk)] = chunk
        self._at += len(chunk)
        return len(chunk)


@pytest.mark.parametrize(
    ("clip", "sample_format", "min_snr"),
    [
        ("music-blues.flac", "pcm_s16le", 5.0),  # 44.1 kHz stereo, 16-bit
        ("music-ambient-48k.flac", "pcm_f32le", 9.0),  # 48 kHz stereo, float
        ("music-surround-5.1-48k.flac", "pcm_s24le", 18.0),  # 48 kHz 5.1, 24-bit extensible
        ("speech-en-16k-mono.flac", "pcm_s16le", 7.0),  # 16 kHz mono
    ],
)
def test_filter_keeps_rate_channels_length_and_sample_format(clip, sample_format, min_snr):
    wav = ffmpeg_pcm(DEV_AUDIO / clip, "-c:a", sample_format, "-f", "wav")
    source = read_wav_format(io.BytesIO(wav))
    assert source.frames is None  # ffmpeg on a pipe: sizes unknown
    out = run(filter_stream, wav)
    result = read_wav_format(io.BytesIO(out))
    audio, _ = read_wav(io.BytesIO(wav))
    assert (result.sample_rate, result.channels, result.code, result.bits) == (
        source.sample_rate,
        source.channels,
        source.code,
        source.bits,
    )
    assert result.frames == len(audio)  # exact sizes, written once the length was known
    decoded, _ = read_wav(io.BytesIO(out))
    assert snr(audio, decoded).min() > min_snr
    # encode then decode gives what the filter gives (decode writes 16-bit PCM)
    restored, rate = read_wav(io.BytesIO(run(decode_stream, run(encode_stream, wav))))
    assert rate == source.sample_rate and restored.shape == audio.shape
    np.testing.assert_allclose(restored, decoded, atol=2 / 32768)


def test_channel_mapping_is_recorded_in_the_stream():
    surround = ffmpeg_pcm(DEV_AUDIO / "music-surround-5.1-48k.flac", seconds=1.0)
    header = wp.read_header(run(encode_stream, surround))
    assert (header.channels, header.sample_rate, header.source_rate) == (6, 44100, 48000)
    mono = ffmpeg_pcm(DEV_AUDIO / "music-blues.flac", "-ac", "1", "-f", "wav", seconds=1.0)
    coded = run(encode_stream, mono)
    header = wp.read_header(coded)
    assert (header.channels, header.sample_rate, header.source_rate) == (1, 44100, None)
    assert wp.decompress(coded).shape == (44100, 1)  # the core reads the mapped stream too


def test_exact_unknown_and_zero_sizes_read_alike():
    streamed = ffmpeg_pcm(DEV_AUDIO / "music-ambient-48k.flac", seconds=1.0)
    data_at = streamed.index(b"data") + 4
    assert (
        streamed[4:8] == streamed[data_at : data_at + 4] == b"\xff\xff\xff\xff"
    )  # ffmpeg on a pipe
    zero = streamed[:4] + b"\0\0\0\0" + streamed[8:data_at] + b"\0\0\0\0" + streamed[data_at + 4 :]
    exact = (
        streamed[:4]
        + struct.pack("<I", len(streamed) - 8)
        + streamed[8:data_at]
        + struct.pack("<I", len(streamed) - data_at - 4)
        + streamed[data_at + 4 :]
    )
    outputs = [run(filter_stream, data) for data in (streamed, zero, exact)]
    assert outputs[0] == outputs[1] == outputs[2]
    assert read_wav_format(io.BytesIO(outputs[0])).frames == 48000


@pytest.mark.parametrize(("name", "codec_option"), [("s16le", "pcm_s16le"), ("f32le", "pcm_f32le")])
def test_raw_pcm_in_and_out(name, codec_option):
    clip = DEV_AUDIO / "music-ambient-48k.flac"
    raw = ffmpeg_pcm(clip, "-f", name, "-c:a", codec_option, seconds=2.0)
    wav = ffmpeg_pcm(clip, "-f", "wav", "-c:a", codec_option, seconds=2.0)
    out = run(filter_stream, raw, raw=RawFormat(name, 48000, 2))
    through_wav, _ = read_wav(io.BytesIO(run(filter_stream, wav)))
    dtype = "<i2" if name == "s16le" else "<f4"
    assert len(out) == len(raw)  # headerless, same length and layout
    samples = np.frombuffer(out, dtype).reshape(-1, 2).astype(np.float32) / (
        32768 if name == "s16le" else 1
    )
    np.testing.assert_array_equal(samples, through_wav)
    coded = run(encode_stream, raw, raw=RawFormat(name, 48000, 2))
    assert len(run(decode_stream, coded, output_format=name)) == len(raw)
    with pytest.raises(InputError, match="common rate"):  # 44101 / 44100 would need 44101 phases
        run(filter_stream, raw, raw=RawFormat(name, 44101, 2))


def test_streamed_decode_against_the_whole_signal_decode():
    """The frame boundaries: a pipe decode equals the core's whole-file decode, and framing
    changes the output far less than the codec does, with no extra error at frame joints."""
    import torch

    wav = ffmpeg_pcm(music_track(), "-c:a", "pcm_f32le", "-f", "wav", seconds=20.0, start=60.0)
    audio, _ = read_wav(io.BytesIO(wav))
    coded = run(encode_stream, wav)
    out = io.BytesIO()
    decode_stream(io.BufferedReader(Trickle(coded)), out, output_format="f32le")
    streamed = np.frombuffer(out.getvalue(), "<f4").reshape(-1, 2)
    np.testing.assert_array_equal(streamed, wp.decompress(coded))
    model = wp.load_codec("stereo-20x-linear")
    whole = (
        model.decode(model.encode(torch.from_numpy(audio.T.copy()))).numpy().T
    )  # one frame: no joints
    assert snr(whole, streamed).min() > 20
    assert snr(audio, streamed).mean() > snr(audio, whole).mean() - 0.5
    header = wp.read_header(coded)
    hop = header.frame_length - (header.overlap or 0)
    distance = np.arange(len(audio)) % hop
    near = np.minimum(distance, hop - distance) < 64
    error = np.sum((streamed - audio) ** 2, axis=1)
    assert 10 * np.log10(error[near].mean() / error[~near].mean()) < 3.0  # dB


def test_resampler_streams_what_resample_poly_gives_for_the_whole_signal():
    from scipy.signal import resample_poly

    audio, rate = read_wav(
        io.BytesIO(ffmpeg_pcm(DEV_AUDIO / "music-ambient-48k.flac", seconds=2.0))
    )
    rng = np.random.default_rng(0)
    for rate_out, (up, down) in [(44100, (147, 160)), (16000, (1, 3)), (96000, (2, 1))]:
        resampler = Resampler(rate, rate_out, 2)
        cuts = np.sort(rng.integers(0, len(audio), 12))
        pieces = [resampler.process(block) for block in np.split(audio, cuts)]
        pieces.append(resampler.flush(resampled_length(len(audio), rate, rate_out)))
        expected = resample_poly(audio, up, down, window=("kaiser", BETA))
        np.testing.assert_allclose(np.concatenate(pieces), expected, atol=2e-6)


def test_truncated_and_garbage_input_raise_walloc_errors():
    wav = ffmpeg_pcm(DEV_AUDIO / "music-blues.flac", seconds=1.0)
    exact = wav[:4] + struct.pack("<I", len(wav) - 8) + wav[8:]
    data_at = exact.index(b"data") + 4
    exact = exact[:data_at] + struct.pack("<I", len(exact) - data_at - 4) + exact[data_at + 4 :]
    with pytest.raises(InputError, match="ended .* early"):
        run(filter_stream, exact[: len(exact) // 2])
    for garbage in (b"", b"RIFF", np.random.default_rng(1).bytes(5000), b"fLaC" + wav[4:]):
        with pytest.raises(InputError, match="WAV"):
            run(encode_stream, garbage)
    coded = run(encode_stream, wav)
    with pytest.raises(TruncatedError):
        run(decode_stream, coded[:-20])
    with pytest.raises(ContainerError, match="not a .wlc"):
        run(decode_stream, wav)
    with pytest.raises(ContainerError, match="image"):
        run(decode_stream, wp.compress(np.zeros((8, 8, 3), np.uint8)))
    rng = np.random.default_rng(0)
    for _ in range(40):
        with pytest.raises(WallocError):
            run(decode_stream, mutate(coded, rng))
