"""Golden vectors: every committed .wlc file still reads, bit-exact in its latents."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import walloc_plugins as wp

VECTORS = Path(__file__).parent / "vectors"
FILES = sorted(VECTORS.glob("v*/*.wlc"))


def test_vectors_exist_for_the_current_version():
    names = {p.stem for p in (VECTORS / f"v{wp.FORMAT_VERSION}").glob("*.wlc")}
    assert {"rgb-16x-linear-webp", "gray-16x-linear-meta", "rgba-16x-linear", "stereo-20x-linear",
            "stereo-20x-linear-3ch-48k"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_vector_reads_back(path):
    import sys

    sys.path.insert(0, str(VECTORS))
    from make_vectors import latents

    data = path.read_bytes()
    expected_header = json.loads(path.with_suffix(".header.json").read_text())
    assert json.loads(json.dumps(wp.read_header(data).to_json())) == expected_header
    expected_latents = np.load(path.with_suffix(".latent.npz"))
    found = latents(data)
    assert sorted(found) == sorted(expected_latents.files)
    for key in found:
        assert np.array_equal(found[key], expected_latents[key]), key
    decoded = wp.decompress(data)
    expected = np.load(path.with_suffix(".decoded.npz"))["decoded"]
    if expected.dtype == np.int16:
        decoded = np.round(decoded * 32767).astype(np.int16)
    assert decoded.shape == expected.shape
    assert np.abs(decoded.astype(np.int32) - expected.astype(np.int32)).max() <= 1
