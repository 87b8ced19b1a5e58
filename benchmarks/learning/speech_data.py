"""Task 2, spoken words in music: a word said by espeak-ng, mixed into one second of real music.

Each split has its own bank of utterances (every word said ``variants`` times, each with its own
voice, variant, speed and pitch), and each sample draws from its own generator seeded by
``(seed, index)``: the word, an utterance of it, the music track and excerpt, the delay, the pan
and the speech-to-music ratio. Samples are stereo 44.1 kHz and peak-normalised.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from walloc_plugins.audiofile import read_audio
from walloc_plugins.wav import read_wav

from .words import SPOKEN

VERSION = 1  # of the mixing code: data sets made by another version are made again
RATE = 44100
ESPEAK_RATE = 22050
# The espeak-ng voices that need no extra package, and some of its voice variants ("en" is
# British English; "en-gb" would ignore a variant).
VOICES = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
          "en-029", "en-us-nyc")
VARIANTS = ("", "+m1", "+m3", "+m5", "+m7", "+f1", "+f2", "+f3", "+f4", "+klatt")


def espeak() -> str | None:
    """The espeak-ng binary, or None when it is not installed."""
    return shutil.which("espeak-ng")


@functools.cache
def say(word: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """float32 mono speech at ``RATE`` with leading and trailing silence cut."""
    binary = espeak()
    if binary is None:
        raise FileNotFoundError("espeak-ng is not installed (benchmarks/learning/setup_data.sh)")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "word.wav"
        subprocess.run([binary, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(path), word],
                       check=True, capture_output=True)
        with open(path, "rb") as fo:
            audio, rate = read_wav(fo)
    speech = resample_poly(audio[:, 0], RATE // rate, 1).astype(np.float32)
    loud = np.nonzero(np.abs(speech) > 0.01 * np.abs(speech).max())[0]
    return speech[loud[0] : loud[-1] + 1]


@dataclass(frozen=True)
class SpeechSample:
    """One generated clip and how it was made.

    Attributes:
        audio: float32 ``[RATE, 2]``, peak 0.9: music plus speech.
        label: index of the word in ``words.SPOKEN``.
        music: the music excerpt, ``speech`` the panned speech, both scaled like ``audio``
            (``audio == music + speech``).
        utterance: the espeak-ng settings ``(voice, speed, pitch)``.
        snr_db: speech-to-music ratio of mean powers over the speech's span, in dB.
    """

    audio: np.ndarray
    label: int
    music: np.ndarray
    speech: np.ndarray
    utterance: tuple[str, int, int]
    snr_db: float

    @property
    def word(self) -> str:
        return SPOKEN[self.label]


class SpeechTask:
    """Makes samples of the speech task from a folder of music.

    Args:
        music: folder of stereo 44.1 kHz music files (FLAC or any format ffmpeg reads).
        variants: utterances per word in this split's bank.
        snr_db: range of speech-to-music ratios.
        seconds: clip length.
    """

    def __init__(self, music: Path, variants: int = 40, snr_db: tuple[float, float] = (-6.0, 3.0),
                 seconds: float = 1.0) -> None:
        self.tracks = sorted(p for p in Path(music).iterdir() if p.suffix in (".flac", ".wav"))
        if not self.tracks:
            raise FileNotFoundError(f"no FLAC or WAV music in {music}")
        self.variants, self.snr_db, self.length = variants, snr_db, round(seconds * RATE)

    @property
    def settings(self) -> dict:
        """What decides the samples (for a data set's manifest)."""
        return {"music": str(self.tracks[0].parent), "variants": self.variants,
                "snr_db": list(self.snr_db), "length": self.length, "version": VERSION}

    def utterance(self, seed: int, label: int, variant: int) -> tuple[str, int, int]:
        """espeak-ng settings of utterance ``variant`` of word ``label`` in the bank of ``seed``."""
        rng = np.random.default_rng((seed, 1 << 20, label, variant))
        voice = VOICES[rng.integers(len(VOICES))] + VARIANTS[rng.integers(len(VARIANTS))]
        return voice, int(rng.integers(120, 221)), int(rng.integers(20, 81))

    def plan(self, seed: int, index: int) -> dict:
        """The random choices of sample ``index``, without any audio work."""
        rng = np.random.default_rng((seed, index))
        label = int(rng.integers(len(SPOKEN)))
        return {"label": label,
                "utterance": self.utterance(seed, label, int(rng.integers(self.variants))),
                "track": int(rng.integers(len(self.tracks))), "start": float(rng.random()),
                "delay": float(rng.random()), "pan": float(rng.uniform(0.15, 0.85)),
                "snr_db": round(float(rng.uniform(*self.snr_db)), 2)}

    def sample(self, seed: int, index: int, track: np.ndarray | None = None) -> SpeechSample:
        """Sample ``index`` of the set drawn with ``seed``; ``track`` is its music, already
        read (``read_track``), when the caller makes many samples of one track."""
        plan = self.plan(seed, index)
        if track is None:
            track = self.read_track(plan["track"])
        start = int(plan["start"] * (len(track) - self.length))
        music = track[start : start + self.length]
        speech = say(SPOKEN[plan["label"]], *plan["utterance"])[: self.length]
        delay = int(plan["delay"] * (self.length - len(speech)))
        span = slice(delay, delay + len(speech))
        # Constant-power panning; the ratio is of mean powers over the span and both channels.
        music_power = max(float(np.mean(music[span] ** 2)), 1e-8)
        gain = np.sqrt(2 * music_power / np.mean(speech**2) * 10 ** (plan["snr_db"] / 10))
        angle = plan["pan"] * np.pi / 2
        panned = np.zeros_like(music)
        panned[span] = gain * speech[:, None] * np.array([np.cos(angle), np.sin(angle)], np.float32)
        scale = 0.9 / max(float(np.abs(music + panned).max()), 1e-8)
        music, panned = music * scale, panned * scale
        return SpeechSample(music + panned, plan["label"], music, panned, plan["utterance"],
                            plan["snr_db"])

    def read_track(self, number: int) -> np.ndarray:
        """float32 ``[T, 2]`` samples of music track ``number`` at 44.1 kHz."""
        audio, _ = read_audio(self.tracks[number], sample_rate=RATE)
        if audio.shape[1] != 2 or len(audio) < self.length:
            raise ValueError(f"{self.tracks[number]} is not stereo music longer than the clips")
        return audio
