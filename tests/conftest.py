"""Shared fixtures: real data from ../shared/data beside the repository, seeded randomness."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DEV_IMAGES = SHARED / "images" / "dev"
DEV_AUDIO = SHARED / "audio" / "dev"


def shared_folder(pattern: str, *folders: str) -> Path:
    """The first of ``folders`` (relative to the shared data) holding ``pattern`` files, else
    the first: training sets are fetched by scripts, and CI may only have the dev sets."""
    for folder in folders:
        if any((SHARED / folder).glob(pattern)):
            return SHARED / folder
    return SHARED / folders[0]


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def dev_image() -> np.ndarray:
    """A real 768x512 RGB photo."""
    from PIL import Image

    with Image.open(DEV_IMAGES / "lomiri-nuthatch.png") as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="session")
def small_image(dev_image: np.ndarray) -> np.ndarray:
    """A 61x45 crop (sizes not multiples of 8) of a real photo."""
    return np.ascontiguousarray(dev_image[200:245, 300:361])


@pytest.fixture(scope="session")
def music() -> tuple[np.ndarray, int]:
    """Ten seconds of real stereo music at 44.1 kHz, float32 [T, 2]."""
    from walloc_plugins.audiofile import read_audio

    return read_audio(DEV_AUDIO / "music-blues.flac")
