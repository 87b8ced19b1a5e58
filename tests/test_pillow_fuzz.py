"""Fuzzing the Pillow door: damaged and hostile .wlc files raise only Pillow's own errors."""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
import pytest
from helpers import mutate
from PIL import Image, ImageFile, UnidentifiedImageError
from test_pillow_plugin import with_header

import walloc_plugins as wp
from walloc_plugins import container as wlc

# What Pillow's own fuzzer accepts (Tests/oss-fuzz/test_fuzzers.py); we promise less, below.
PILLOW_ALLOWED = (
    OSError,
    SyntaxError,
    MemoryError,
    ValueError,
    NotImplementedError,
    OverflowError,
    Image.DecompressionBombError,
    UnidentifiedImageError,
)


@pytest.fixture(scope="module")
def sample(small_image) -> bytes:
    """A real 61x45 RGBA crop with all three metadata chunks: every chunk type of an image."""
    alpha = np.tile(np.arange(61, dtype=np.uint8) * 4, (45, 1))
    metadata = {"exif": b"Exif\x00\x00MM\x00*", "icc_profile": b"icc" * 10, "xmp": b"<x/>"}
    return wp.compress(np.dstack([small_image, alpha]), metadata=metadata)


@pytest.fixture
def load_truncated(request):
    ImageFile.LOAD_TRUNCATED_IMAGES = request.param
    yield request.param
    ImageFile.LOAD_TRUNCATED_IMAGES = False


def open_and_load(data: bytes) -> tuple[str, Image.Image | BaseException]:
    """("unidentified" | "unloadable", the error) or ("loaded", the image); anything else raises."""
    try:
        image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        return "unidentified", exc
    try:
        image.load()
    except OSError as exc:
        return "unloadable", exc
    return "loaded", image


@pytest.mark.parametrize("load_truncated", [False, True], indirect=True)
def test_mutated_files_raise_only_pillow_errors(sample, load_truncated):
    """Byte edits, insertions and cuts: unidentified at open or OSError at load, nothing else."""
    expected = np.asarray(Image.open(io.BytesIO(sample)))
    rng = np.random.default_rng(11)
    outcomes = {"unidentified": 0, "unloadable": 0, "loaded": 0}
    for _ in range(300):
        corrupt = mutate(sample, rng)
        outcome, result = open_and_load(corrupt)
        outcomes[outcome] += 1
        assert isinstance(result, (Image.Image, *PILLOW_ALLOWED))
        if outcome == "loaded":
            assert result.size == (61, 45) and result.mode == "RGBA"
            if not load_truncated:  # only harmless edits load whole: the pixels cannot change
                assert np.array_equal(np.asarray(result), expected)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                Image.open(io.BytesIO(corrupt)).verify()
            except (UnidentifiedImageError, OSError):
                pass
    assert (
        outcomes["unidentified"] and outcomes["loaded"]
    )  # header damage and harmless edits both seen
    assert (
        outcomes["unloadable"]
        if not load_truncated
        else outcomes["loaded"] > outcomes["unloadable"]
    )


def test_truncation_at_every_byte(sample):
    for cut in range(len(sample)):
        outcome, result = open_and_load(sample[:cut])
        assert outcome in ("unidentified", "unloadable"), cut
        assert not isinstance(result, Image.DecompressionBombError)


@pytest.mark.parametrize(
    ("changes", "outcome", "message"),
    [
        ({"size": [32768, 32768], "padding": [[0, 0], [0, 0]]}, "unidentified", "exceeds limit"),
        ({"mode": "L"}, "unidentified", "invalid mode"),
        ({"tile": [1, 1]}, "unloadable", "WebP latent"),
        ({"alpha": False, "mode": "RGB"}, "unloadable", "unexpected 'ALPH' chunk"),
        ({"latent_channels": 13}, "unloadable", "does not fit codec"),
        ({"levels": 2, "padding": [[0, 3], [0, 3]]}, "unloadable", "does not fit codec"),
        ({"coder": "brotli"}, "unloadable", "unknown entropy coder 'brotli'"),
        ({"codec": "rgb-1000x", "weights": "0" * 64}, "unloadable", "unknown codec 'rgb-1000x'"),
        ({"size": [45, 200]}, "unidentified", "invalid padding"),
        ({"size": [45, 200], "padding": [[0, 3], [0, 0]]}, "unloadable", "WebP latent"),
    ],
)
def test_hostile_headers_with_valid_checksums(sample, changes, outcome, message):
    """Header edits that pass the checksum: rejected by validation, the codec or the tiles."""
    result = open_and_load(with_header(sample, **changes))
    assert result[0] == outcome
    assert message in str(result[1])


@pytest.mark.parametrize(
    "text", [b"[" * 100_000, b'"a string"', b"{}", b'{"size": [1e400, 1]}', b"\xff\xfe"]
)
def test_hostile_json_in_a_checksummed_header(text):
    data = (
        wlc.PREFIX.pack(wlc.MAGIC, 1, b"I", 0, len(text))
        + text
        + struct.pack("<I", zlib.crc32(text))
    )
    outcome, error = open_and_load(data)
    assert outcome == "unidentified" and "corrupt .wlc header" in str(error)
