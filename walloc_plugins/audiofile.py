"""Reading audio files for the CLI: WAV natively, any other format through the ffmpeg binary."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np

from .errors import InputError, MissingDependencyError
from .wav import read_wav

__all__ = ["AUDIO_SUFFIXES", "find_ffmpeg", "read_audio"]

AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".wma", ".aif", ".aiff"}


def find_ffmpeg() -> str:
    """The ffmpeg binary: on PATH, else the one in the imageio-ffmpeg wheel."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        raise MissingDependencyError("ffmpeg (the binary)", extra="ffmpeg") from None


def read_audio(path: str | Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Float32 ``[T, C]`` samples and their rate; ``sample_rate`` resamples through ffmpeg."""
    path = Path(path)
    with open(path, "rb") as fo:
        is_wav = fo.read(12)[8:] == b"WAVE"
        if is_wav:
            fo.seek(0)
            audio, rate = read_wav(fo)
            if sample_rate in (None, rate):
                return audio, rate
    command = [find_ffmpeg(), "-v", "error", "-nostdin", "-i", str(path), "-f", "wav", "-c:a", "pcm_f32le"]
    if sample_rate is not None:
        command += ["-ar", str(sample_rate)]
    result = subprocess.run(command + ["-"], capture_output=True, check=False)
    if result.returncode != 0:
        tail = result.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise InputError(f"ffmpeg could not read {path}: {' / '.join(tail)}")
    return read_wav(io.BytesIO(result.stdout))
