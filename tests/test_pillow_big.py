"""A 6000x4000 photo mosaic through Pillow: tiled decoding without seams, in bounded memory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import DEV_IMAGES
from PIL import Image

import walloc_plugins as wp
from walloc_plugins.api import read_image

pytestmark = pytest.mark.slow
SIZE = (6000, 4000)


@pytest.fixture(scope="module")
def big_wlc(tmp_path_factory) -> Path:
    """Dev photos tiled 8x8 and cropped: real detail everywhere, photo edges across windows."""
    photos = sorted(DEV_IMAGES.glob("*.png"))
    canvas = Image.new("RGB", (8 * 768, 8 * 512))
    for i in range(64):
        with Image.open(photos[i % len(photos)]) as photo:
            canvas.paste(photo.convert("RGB"), ((i % 8) * 768, (i // 8) * 512))
    path = tmp_path_factory.mktemp("big") / "mosaic.wlc"
    canvas.crop((0, 0, *SIZE)).save(path)
    return path


def test_big_image_loads_without_seams(big_wlc):
    with Image.open(big_wlc) as image:
        assert image.size == SIZE
        loaded = np.asarray(image)
    coded = read_image(big_wlc)
    whole = coded.codec.decode(coded.latent)  # one piece: no windows, ~1.7 GB
    expected = (whole * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    del whole
    difference = np.abs(loaded.astype(np.int16) - expected)
    assert difference.max() <= 1
    assert (difference > 0).mean() < 1e-4  # rare rounding flips, not seams


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_big_image_decodes_in_bounded_memory(big_wlc):
    """Growth of the peak resident set (VmHWM) once the imports and the codec are loaded."""
    code = f"""
import re
from pathlib import Path
import walloc_plugins
from PIL import Image
walloc_plugins.load_codec("rgb-16x-linear")

def status_mb(key):
    return int(re.search(key + r":\\s+(\\d+) kB", Path("/proc/self/status").read_text())[1]) // 1024

Path("/proc/self/clear_refs").write_text("5")  # the peak restarts from what is held now
before = status_mb("VmRSS")
with Image.open({str(big_wlc)!r}) as image:
    image.load()
print(status_mb("VmHWM") - before)
"""
    grown_mb = int(
        subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout
    )
    image_mb = SIZE[0] * SIZE[1] * 4 / 2**20  # Pillow keeps RGB as 4 bytes a pixel: 92 MB
    assert image_mb < grown_mb < image_mb + 200  # a whole-image decode grows by ~1.7 GB


def test_big_thumbnail_decodes_at_one_eighth(big_wlc):
    with Image.open(big_wlc) as image:
        image.thumbnail((375, 250))  # draft (750, 500): 1/8
        assert image.size == (375, 250)
    with Image.open(big_wlc) as image:
        image.draft("RGB", (750, 500))
        assert np.array_equal(np.asarray(image), wp.decompress(big_wlc, reduce=3))
