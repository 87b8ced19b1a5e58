"""``walloc-ffmpeg`` as a process in real pipes with the real ffmpeg binary and real music."""

from __future__ import annotations

import io
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import DEV_AUDIO
from test_ffmpeg_stream import ffmpeg_pcm, music_track, snr

import walloc_plugins as wp
from walloc_plugins.audiofile import find_ffmpeg, read_audio
from walloc_plugins.wav import read_wav

pytestmark = pytest.mark.ffmpeg
FFMPEG = shlex.quote(find_ffmpeg())
WALLOC_FFMPEG = shutil.which("walloc-ffmpeg") or f"{shlex.quote(sys.executable)} -m ffmpeg_filter"
COMMAND = [sys.executable, "-m", "ffmpeg_filter"]


def shell(pipeline: str, cwd) -> subprocess.CompletedProcess:
    """Run a README-style pipeline (``ffmpeg`` and ``walloc-ffmpeg`` resolved) under pipefail."""
    line = pipeline.replace("walloc-ffmpeg", WALLOC_FFMPEG).replace(
        "ffmpeg -i", f"{FFMPEG} -v error -y -i"
    )
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", line],
        cwd=cwd,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    return result


@pytest.mark.slow
def test_the_readme_pipelines_on_a_music_track(tmp_path):
    excerpt = ["-ss", "60", "-t", "20", "-i", str(music_track())]
    subprocess.run(
        [find_ffmpeg(), "-v", "error", *excerpt, str(tmp_path / "song.flac")], check=True
    )
    subprocess.run(
        [find_ffmpeg(), "-v", "error", *excerpt, "-b:a", "192k", str(tmp_path / "in.mp3")],
        check=True,
    )
    song, rate = read_audio(tmp_path / "song.flac")

    shell("ffmpeg -i song.flac -f wav - | walloc-ffmpeg encode - song.wlc", tmp_path)
    decoded = wp.decompress(tmp_path / "song.wlc")
    assert rate == 44100 and decoded.shape == song.shape and snr(song, decoded).min() > 15

    shell("walloc-ffmpeg decode song.wlc - | ffmpeg -i - song.mp3", tmp_path)
    mp3, mp3_rate = read_audio(tmp_path / "song.mp3")
    assert mp3_rate == 44100 and mp3.shape[1] == 2 and abs(len(mp3) - len(song)) < 0.1 * rate

    shell("ffmpeg -i in.mp3 -f wav - | walloc-ffmpeg filter - - | ffmpeg -i - out.flac", tmp_path)
    heard, _ = read_audio(tmp_path / "in.mp3")
    out, out_rate = read_audio(tmp_path / "out.flac")
    assert out_rate == 44100 and out.shape == heard.shape and snr(heard, out).min() > 15


@pytest.mark.parametrize("command", ["encode", "filter", "decode"])
def test_output_begins_before_input_ends(command):
    """With the input still open after 10 s of music (3 frames), output has already come."""
    data = ffmpeg_pcm(DEV_AUDIO / "music-blues.flac", seconds=10.0)
    if command == "decode":
        coded = subprocess.run(
            [*COMMAND, "encode", "-q", "-", "-"], input=data, capture_output=True, check=True
        ).stdout
        data = coded[: len(coded) * 2 // 3]  # header and the first frames, no END chunk yet
    process = subprocess.Popen(
        [*COMMAND, command, "-q", "-", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    output, arrived = [], threading.Event()

    def drain() -> None:
        while piece := process.stdout.read1(1 << 16):
            output.append(piece)
            arrived.set()

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        process.stdin.write(data)
        process.stdin.flush()  # and stdin stays open
        assert (
            arrived.wait(120) and process.poll() is None
        )  # output came; the process waits for more
    finally:
        process.stdin.close()
        reader.join(120)
        process.wait(120)
    assert process.returncode == (1 if command == "decode" else 0)  # a cut .wlc stream is an error


def test_a_closed_downstream_pipe_ends_quietly(tmp_path):
    wav = ffmpeg_pcm(DEV_AUDIO / "music-blues.flac", seconds=10.0)
    (tmp_path / "blues.wlc").write_bytes(
        subprocess.run(
            [*COMMAND, "encode", "-q", "-", "-"], input=wav, capture_output=True, check=True
        ).stdout
    )
    process = subprocess.Popen(
        [*COMMAND, "decode", str(tmp_path / "blues.wlc"), "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert len(process.stdout.read(1000)) == 1000  # like `| head -c 1000`
    process.stdout.close()
    assert process.wait(timeout=120) == 141
    assert process.stderr.read() == b""


def test_ctrl_c_exits_130_and_leaves_no_partial_file(tmp_path):
    wav = ffmpeg_pcm(DEV_AUDIO / "music-blues.flac", seconds=4.0)
    process = subprocess.Popen(
        [*COMMAND, "encode", "-", str(tmp_path / "out.wlc")],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdin.write(wav)
    process.stdin.flush()  # stdin stays open: the process waits for more
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".out.wlc.*")) and time.monotonic() < deadline:
        time.sleep(0.05)  # the output file is open: the command is running
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130
    process.stdin.close()
    assert b"Traceback" not in process.stderr.read()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("command", "data", "message"),
    [
        ("encode", b"garbage " * 1000, b"not a WAV stream"),
        ("filter", "truncated wav", b"ended"),
        ("decode", b"\x89WLC\r\n\x1a\n garbage", b".wlc"),
        ("decode", "truncated wlc", b"truncated"),
    ],
    ids=["encode-garbage", "filter-truncated-wav", "decode-garbage", "decode-truncated-wlc"],
)
def test_bad_input_gives_one_line_and_no_file(tmp_path, command, data, message):
    wav = ffmpeg_pcm(DEV_AUDIO / "music-blues.flac", seconds=4.0)
    subprocess.run(
        [find_ffmpeg(), "-v", "error", "-f", "wav", "-i", "-", str(tmp_path / "x.wav")],
        input=wav,
        check=True,
    )
    exact = (tmp_path / "x.wav").read_bytes()  # a WAV file: exact sizes
    (tmp_path / "x.wav").unlink()
    if data == "truncated wav":
        data = exact[: len(exact) // 2]
    elif data == "truncated wlc":
        data = subprocess.run(
            [*COMMAND, "encode", "-q", "-", "-"], input=wav, capture_output=True, check=True
        ).stdout
        data = data[: len(data) - 100]
    result = subprocess.run(
        [*COMMAND, command, "-", str(tmp_path / "out")],
        input=data,
        capture_output=True,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.decode().splitlines()
    assert (
        len(lines) == 1
        and lines[0].startswith("walloc-ffmpeg: error: ")
        and message.decode() in lines[0]
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_logs_go_to_stderr_only():
    wav = ffmpeg_pcm(DEV_AUDIO / "speech-en-16k-mono.flac", seconds=2.0)
    quiet = subprocess.run(
        [*COMMAND, "filter", "--quiet", "-", "-"], input=wav, capture_output=True, check=True
    )
    assert quiet.stderr == b""
    audio, rate = read_wav(io.BytesIO(quiet.stdout))  # stdout is the WAV and nothing else
    assert rate == 16000 and audio.shape == (32000, 1)
    verbose = subprocess.run(
        [*COMMAND, "filter", "-v", "-", "-"], input=wav, capture_output=True, check=True
    )
    assert verbose.stdout == quiet.stdout
    log = verbose.stderr.decode()
    assert (
        "latency" in log
        and "channel group" in log
        and "filtered 2.0 s of 16000 Hz 1-channel audio" in log
    )


def test_usage_errors_and_help():
    result = subprocess.run(
        [*COMMAND, "encode", "--rate", "48000", "-", "-"], capture_output=True, check=False
    )
    assert result.returncode == 2 and b"raw input" in result.stderr
    result = subprocess.run(
        [*COMMAND, "filter", "--format", "s16le", "-", "-"], capture_output=True, check=False
    )
    assert result.returncode == 2 and b"--rate and --channels" in result.stderr
    help_text = subprocess.run(
        [*COMMAND, "--help"], capture_output=True, check=True
    ).stdout.decode()
    assert "ffmpeg -i song.flac -f wav - | walloc-ffmpeg encode - song.wlc" in help_text
