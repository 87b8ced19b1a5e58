"""encode_file / decode_file: any format ffmpeg reads or writes, with ffmpeg's errors surfaced."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import DEV_AUDIO
from test_ffmpeg_stream import snr

import walloc_plugins as wp
from ffmpeg_filter import FfmpegError, decode_file, encode_file
from walloc_plugins import ContainerError
from walloc_plugins.audiofile import find_ffmpeg, read_audio

pytestmark = pytest.mark.ffmpeg


def test_surround_flac_round_trip_keeps_rate_channels_and_length(tmp_path):
    source = DEV_AUDIO / "music-surround-5.1-48k.flac"
    report = encode_file(source, tmp_path / "s.wlc")
    header = wp.read_header(tmp_path / "s.wlc")
    assert (header.channels, header.source_rate, report.sample_rate) == (6, 48000, 48000)
    decode_file(tmp_path / "s.wlc", tmp_path / "s.flac")
    original, _ = read_audio(source)
    restored, rate = read_audio(tmp_path / "s.flac")
    assert rate == 48000 and restored.shape == original.shape
    assert snr(original, restored).min() > 18
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.flac", "s.wlc"]  # no temporary files


def test_decode_to_mp3_with_ffmpeg_options(tmp_path):
    encode_file(DEV_AUDIO / "speech-en-16k-mono.flac", tmp_path / "speech.wlc")
    decode_file(tmp_path / "speech.wlc", tmp_path / "speech.mp3", audio_bitrate="32k")
    audio, rate = read_audio(tmp_path / "speech.mp3")
    assert rate == 16000 and audio.shape[1] == 1
    assert (tmp_path / "speech.mp3").stat().st_size < 32_000 / 8 * 16  # about 32 kbit/s for 15 s


def test_ffmpeg_errors_carry_its_stderr_and_leave_no_file(tmp_path):
    (tmp_path / "notes.flac").write_text("not audio at all\n" * 100)
    with pytest.raises(FfmpegError, match="could not read .*notes.flac") as caught:
        encode_file(tmp_path / "notes.flac", tmp_path / "notes.wlc")
    assert caught.value.returncode != 0 and "Invalid data" in caught.value.stderr
    encode_file(DEV_AUDIO / "music-blues.flac", tmp_path / "blues.wlc")
    with pytest.raises(FfmpegError, match="could not write .*blues.nosuchformat") as caught:
        decode_file(tmp_path / "blues.wlc", tmp_path / "blues.nosuchformat")
    assert "output format" in caught.value.stderr
    (tmp_path / "cut.wlc").write_bytes((tmp_path / "blues.wlc").read_bytes()[:-50])
    with pytest.raises(ContainerError, match="truncated"):
        decode_file(tmp_path / "cut.wlc", tmp_path / "cut.wav")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blues.wlc", "cut.wlc", "notes.flac"]


@pytest.mark.slow
def test_a_long_stream_through_both_helpers(tmp_path):
    """Three minutes of music each way: far more than a pipe buffer on every pipe."""
    clip = tmp_path / "long.flac"
    loop = ["-stream_loop", "17", "-i", str(DEV_AUDIO / "music-metal.flac")]  # 18 x 10 s
    subprocess.run([find_ffmpeg(), "-v", "error", *loop, str(clip)], check=True)
    report = encode_file(clip, tmp_path / "long.wlc")
    assert report.duration == pytest.approx(180, abs=1)
    decode_file(tmp_path / "long.wlc", tmp_path / "long.wav")
    audio, _ = read_audio(tmp_path / "long.wav")
    assert len(audio) == report.samples and np.abs(audio).max() > 0.1


def test_a_missing_ffmpeg_says_how_to_install_it(tmp_path):
    code = (
        "import sys; sys.modules['imageio_ffmpeg'] = None\n"
        "from ffmpeg_filter import encode_file\n"
        "try:\n    encode_file(sys.argv[1], sys.argv[2])\n"
        "except ImportError as exc:\n    print(type(exc).__name__, exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(DEV_AUDIO / "music-blues.flac"), str(tmp_path / "x.wlc")],
        capture_output=True,
        text=True,
        env={"PATH": str(tmp_path)},
        check=True,
    )
    assert "MissingDependencyError" in result.stdout and "pip install" in result.stdout
    assert list(tmp_path.iterdir()) == []
