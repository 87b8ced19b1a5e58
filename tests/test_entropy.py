from __future__ import annotations

import numpy as np
import pytest

from walloc_plugins import ContainerError, InputError
from walloc_plugins.entropy import WebPCoder, ZlibCoder, mosaic_layout
from walloc_plugins.registry import entropy_coders

CODERS = [WebPCoder(), WebPCoder(name="webp-max", method=6, quality=100), ZlibCoder()]


def latent(shape, spread=20):
    """A latent with the statistics of real ones: smooth, centred, within [-127, 127]."""
    rng = np.random.default_rng(1)
    values = np.cumsum(rng.normal(0, spread / 4, shape), axis=-1) * 0.3
    return np.clip(np.round(values), -127, 127).astype(np.int8)


@pytest.mark.parametrize("coder", CODERS, ids=lambda c: c.name)
@pytest.mark.parametrize(
    "shape", [(12, 64, 96), (48, 5, 7), (4, 3, 3), (1, 1, 1), (5, 2, 9), (27, 1000), (108, 3), (7, 300)]
)
def test_lossless_for_any_channel_count(coder, shape):
    q = latent(shape)
    q.reshape(-1)[[0, -1]] = [-128, 127]  # the extremes survive too
    assert np.array_equal(coder.decode(coder.encode(q), shape), q)


def test_mosaic_matches_the_reference_layout():
    # 12 channels: red plane holds channels 0-3 as 2x2 tiles, green 4-7, blue 8-11
    assert mosaic_layout(12) == (4, 2, 2)
    assert mosaic_layout(48) == (16, 4, 4)
    assert mosaic_layout(108) == (36, 6, 6)
    q = np.zeros((12, 2, 3), np.int8)
    for k in range(12):
        q[k] = k
    planes = WebPCoder._to_mosaic(q)
    assert planes.shape == (4, 6, 3)
    assert planes[0, 0, 0] == 128 and planes[0, 3, 0] == 129 and planes[2, 0, 0] == 130
    assert planes[0, 0, 1] == 132 and planes[3, 5, 2] == 139


@pytest.mark.parametrize("coder", CODERS, ids=lambda c: c.name)
def test_decode_rejects_wrong_shapes_and_garbage(coder):
    q = latent((12, 8, 8))
    data = coder.encode(q)
    with pytest.raises(ContainerError):
        coder.decode(data, (12, 8, 9))
    with pytest.raises(ContainerError):
        coder.decode(data[: len(data) // 2], (12, 8, 8))
    with pytest.raises(ContainerError):
        coder.decode(b"\x00" * 40, (12, 8, 8))


def test_zlib_bomb_is_cut_off():
    bomb = ZlibCoder().encode(np.zeros((1, 4096, 4096), np.int8))
    with pytest.raises(ContainerError, match="expected 16 bytes"):
        ZlibCoder().decode(bomb, (1, 4, 4))


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.int16), np.zeros(5, np.int8), [[1, 2]]])
def test_encode_rejects_non_latents(bad):
    with pytest.raises(InputError):
        ZlibCoder().encode(bad)


def test_builtin_coders_are_registered():
    assert {"webp", "webp-max", "zlib"} <= set(entropy_coders())


def test_any_webp_effort_decodes_with_the_default_coder():
    q = latent((12, 64, 96))
    assert np.array_equal(WebPCoder().decode(WebPCoder(method=6, quality=100).encode(q), q.shape), q)
