"""Checks shared by the tests."""

from __future__ import annotations

import numpy as np


def psnr(reference: np.ndarray, decoded: np.ndarray, peak: float = 255.0) -> float:
    a, b = np.asarray(reference, np.float64), np.asarray(decoded, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(10 * np.log10(peak**2 / np.mean((a - b) ** 2)))


def lanczos_psnr(image: np.ndarray, factor: int) -> float:
    """PSNR of Lanczos down- and up-sampling by ``factor`` per side (the resizing baseline)."""
    from PIL import Image

    height, width = image.shape[:2]
    small = Image.fromarray(image).resize((width // factor, height // factor), Image.LANCZOS)
    return psnr(image, np.asarray(small.resize((width, height), Image.LANCZOS)))


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One to three random byte edits, insertions or cuts (for fuzz tests)."""
    corrupt = bytearray(data)
    for _ in range(rng.integers(1, 4)):
        position = int(rng.integers(len(corrupt)))
        action = rng.integers(3)
        if action == 0:
            corrupt[position] = int(rng.integers(256))
        elif action == 1:
            corrupt[position:position] = bytes(
                rng.integers(0, 256, int(rng.integers(1, 9)), dtype=np.uint8)
            )
        else:
            del corrupt[position:]
    return bytes(corrupt)
