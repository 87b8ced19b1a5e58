"""The compressed-learning tasks' generators: deterministic, and they draw or say the labelled word."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_folder

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.learning import speech_data, text_data
from benchmarks.learning.words import PRINTED, SPOKEN

PHOTOS = shared_folder("*.png", "images/train", "images/dev")
MUSIC = shared_folder("*.flac", "music/train", "music/dev")
SETUP = "run benchmarks/learning/setup_data.sh"

needs_fonts = pytest.mark.skipif(bool(text_data.missing_fonts()),
                                 reason=f"text task fonts not installed ({SETUP})")
needs_espeak = pytest.mark.skipif(speech_data.espeak() is None, reason=f"espeak-ng not installed ({SETUP})")
needs_music = pytest.mark.skipif(not any(MUSIC.glob("*.flac")),
                                 reason="no music in ../shared/data/music/train or dev (get-music.sh dev)")


def test_vocabularies():
    assert len(PRINTED) == len(set(PRINTED)) == 100
    assert len(SPOKEN) == len(set(SPOKEN)) == 20


@pytest.fixture(scope="module")
def text_task() -> text_data.TextTask:
    return text_data.TextTask(PHOTOS)


@needs_fonts
def test_text_samples_are_deterministic(text_task):
    first, again, other = text_task.sample(3, 7), text_task.sample(3, 7), text_task.sample(4, 7)
    assert np.array_equal(first.image, again.image) and first.label == again.label
    assert not np.array_equal(first.image, other.image)
    assert first.image.shape == (256, 256, 3) and first.image.dtype == np.uint8


@needs_fonts
def test_text_is_small_and_only_where_the_word_is(text_task):
    for index in range(10):
        sample = text_task.sample(0, index)
        changed = np.abs(sample.image.astype(int) - np.round(sample.background)).max(-1) > 1
        assert not changed[sample.alpha == 0].any()
        assert changed.any()
        x_height = sample.font_size * text_data.x_height_per_size(sample.font)
        assert 4.9 <= x_height <= 8.1


@needs_fonts
def test_text_image_shows_the_labelled_word(text_task):
    """The coverage recovered from the pixels (how far each moved from the photo towards the
    word's colour) has the shape of the labelled word, drawn with the sample's font, size and
    angle, better than of any other word of the vocabulary."""

    def box(mask: np.ndarray) -> np.ndarray:
        rows, cols = np.nonzero(mask)
        return mask[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]

    for index in range(12):
        sample = text_task.sample(1, index)
        towards = np.asarray(sample.colour, np.float32) - sample.background
        channel = np.abs(towards).argmax(-1)[..., None]
        moved = np.take_along_axis(sample.image - sample.background, channel, -1)[..., 0]
        coverage = moved / np.take_along_axis(towards, channel, -1)[..., 0]
        drawn = box(coverage > 0.5)

        def overlap(word: str) -> float:
            mask = box(text_data.word_mask(word, sample.font, sample.font_size, sample.angle) > 0.5)
            height, width = max(mask.shape[0], drawn.shape[0]), max(mask.shape[1], drawn.shape[1])
            a, b = np.zeros((height, width), bool), np.zeros((height, width), bool)
            a[: mask.shape[0], : mask.shape[1]], b[: drawn.shape[0], : drawn.shape[1]] = mask, drawn
            return (a & b).sum() / (a | b).sum()

        scores = {word: overlap(word) for word in PRINTED}
        assert max(scores, key=scores.get) == sample.word, (index, sample.word, sample.font)
        assert scores[sample.word] > 0.9


@pytest.fixture(scope="module")
def speech_task() -> speech_data.SpeechTask:
    return speech_data.SpeechTask(MUSIC, variants=4)


@needs_espeak
@needs_music
def test_speech_samples_are_deterministic(speech_task):
    plan = speech_task.plan(5, 2)
    track = speech_task.read_track(plan["track"])
    first, again = speech_task.sample(5, 2, track), speech_task.sample(5, 2, track)
    assert np.array_equal(first.audio, again.audio) and first.label == again.label
    assert first.audio.shape == (44100, 2) and np.abs(first.audio).max() == pytest.approx(0.9)
    assert speech_task.plan(5, 3) != plan


@needs_espeak
@needs_music
def test_speech_clip_says_the_labelled_word_at_its_snr(speech_task):
    """What was added to the music is the labelled word as espeak-ng says it with the sample's
    settings: it correlates with that utterance better than with any other word's."""
    for index in range(4):
        plan = speech_task.plan(2, index)
        sample = speech_task.sample(2, index, speech_task.read_track(plan["track"]))
        added = (sample.audio - sample.music).sum(1)
        span = np.nonzero(np.abs(added) > 1e-6)[0]
        during = slice(span[0], span[-1] + 1)
        ratio = np.mean(sample.speech[during] ** 2) / np.mean(sample.music[during] ** 2)
        assert 10 * np.log10(ratio) == pytest.approx(sample.snr_db, abs=1.0)

        def match(word: str) -> float:
            reference = speech_data.say(word, *sample.utterance)
            correlation = np.correlate(added, reference, mode="valid") if len(reference) <= len(added) else [0]
            return float(np.max(np.abs(correlation)) / np.linalg.norm(reference) / np.linalg.norm(added))

        scores = {word: match(word) for word in SPOKEN}
        assert max(scores, key=scores.get) == sample.word
        assert scores[sample.word] > 0.99
