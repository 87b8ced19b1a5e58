"""Wavelet packet transform: equality to PyWavelets, perfect reconstruction, stop levels, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pywt
import torch
import torch.nn.functional as F

from walloc_plugins.wavelets import wpt_analysis, wpt_synthesis

DEV_IMAGES = Path(__file__).parents[2] / "shared" / "data" / "images" / "dev"


def pywt_packets(x: np.ndarray, levels: int, ndim: int) -> np.ndarray:
    """[..., C, *size] -> [..., C * 2**(ndim*J), *size / 2**J] by PyWavelets, channel by channel."""
    cls = pywt.WaveletPacket if ndim == 1 else pywt.WaveletPacket2D
    out = []
    for channel in x.reshape(-1, *x.shape[-ndim:]):
        tree = cls(channel, "bior4.4", mode="periodization", maxlevel=levels)
        out.append(np.stack([node.data for node in tree.get_level(levels, "natural")]))
    return np.stack(out).reshape(*x.shape[: -ndim - 1], -1, *out[0].shape[1:])


def signal(shape: tuple[int, ...], dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Seeded uniform noise in [-0.5, 0.5], like the codec's normalised inputs."""
    return torch.rand(shape, generator=torch.Generator().manual_seed(0), dtype=dtype) - 0.5


@pytest.fixture(scope="module")
def flower() -> torch.Tensor:
    """The real 768x512 photo as [1, 3, 512, 768] in [-0.5, 0.5], float64."""
    from PIL import Image

    with Image.open(DEV_IMAGES / "jxl-flower.png") as image:
        array = np.asarray(image.convert("RGB"), np.float64) / 255 - 0.5
    return torch.from_numpy(array).permute(2, 0, 1)[None].contiguous()


@pytest.mark.parametrize("levels", [1, 2, 3])
@pytest.mark.parametrize("channels", [1, 2, 3, 5])
def test_analysis_2d_matches_pywavelets(levels: int, channels: int) -> None:
    x = signal((channels, 3 << levels, (4 * channels) << levels))  # non-square
    X = wpt_analysis(x, levels, 2)
    assert X.shape == (channels << (2 * levels), 3, 4 * channels) and X.dtype == torch.float64
    np.testing.assert_allclose(X.numpy(), pywt_packets(x.numpy(), levels, 2), rtol=0, atol=1e-12)


@pytest.mark.parametrize("levels", [1, 3, 8])
@pytest.mark.parametrize("channels", [1, 2, 3, 5])
def test_analysis_1d_matches_pywavelets(levels: int, channels: int) -> None:
    x = signal((channels, 3 << levels))
    X = wpt_analysis(x, levels, 1)
    assert X.shape == (channels << levels, 3)
    np.testing.assert_allclose(X.numpy(), pywt_packets(x.numpy(), levels, 1), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("ndim", "levels", "shape"), [(2, 3, (2, 3, 3, 16, 40)), (1, 8, (2, 3, 2, 512))]
)
def test_batched_leading_dims_float32(ndim: int, levels: int, shape: tuple[int, ...]) -> None:
    x = signal(shape, torch.float32)
    X = wpt_analysis(x, levels, ndim)
    assert X.dtype == torch.float32
    assert X.shape[:-ndim] == (*shape[: -ndim - 1], shape[-ndim - 1] << (ndim * levels))
    reference = pywt_packets(x.double().numpy(), levels, ndim)
    np.testing.assert_allclose(X.numpy(), reference, rtol=0, atol=2e-5)
    # a batch element on its own gives the same packets
    torch.testing.assert_close(wpt_analysis(x[1, 2], levels, ndim), X[1, 2], rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("ndim", "levels", "shape"), [(2, 1, (4, 2)), (2, 3, (8, 8)), (1, 8, (256,)), (1, 1, (2,))]
)
def test_smallest_sizes(ndim: int, levels: int, shape: tuple[int, ...]) -> None:
    """One sample per band: the kernels wrap around the signal several times."""
    x = signal((2, *shape))
    X = wpt_analysis(x, levels, ndim)
    np.testing.assert_allclose(X.numpy(), pywt_packets(x.numpy(), levels, ndim), atol=1e-12)
    torch.testing.assert_close(wpt_synthesis(X, levels, ndim), x, rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    ("ndim", "levels", "shape"),
    [
        (2, 1, (1, 2, 6, 10)),
        (2, 3, (2, 3, 24, 40)),
        (2, 3, (1, 3, 64, 96)),
        (2, 4, (1, 1, 32, 48)),
        (1, 3, (2, 2, 96)),
        (1, 8, (1, 2, 768)),
        (1, 9, (1, 1024)),
    ],
)
def test_perfect_reconstruction(ndim: int, levels: int, shape: tuple[int, ...]) -> None:
    x64 = signal(shape)
    assert (wpt_synthesis(wpt_analysis(x64, levels, ndim), levels, ndim) - x64).abs().max() < 1e-10
    x32 = x64.float()
    y32 = wpt_synthesis(wpt_analysis(x32, levels, ndim), levels, ndim)
    assert y32.dtype == torch.float32 and y32.shape == x32.shape
    assert (y32 - x32).abs().max() < 1e-5


@pytest.mark.parametrize(
    ("ndim", "levels", "shape"),
    [(2, 3, (2, 3, 32, 48)), (2, 4, (1, 2, 32, 16)), (1, 8, (2, 512)), (1, 5, (3, 64))],
)
def test_stop_level_is_analysis_with_fewer_levels(
    ndim: int, levels: int, shape: tuple[int, ...]
) -> None:
    """The packet tree is nested, so inverting levels J..k+1 gives the k-level packets."""
    x = signal(shape)
    X = wpt_analysis(x, levels, ndim)
    for k in range(1, levels):
        partial = wpt_synthesis(X, levels, ndim, stop_level=k)
        expected = wpt_analysis(x, k, ndim)
        assert partial.shape == expected.shape
        torch.testing.assert_close(partial, expected, rtol=0, atol=1e-10)
    torch.testing.assert_close(wpt_synthesis(X, levels, ndim, stop_level=0), x, rtol=0, atol=1e-10)


def test_real_photo_matches_pywavelets_and_reconstructs(flower: torch.Tensor) -> None:
    crop = flower[..., 128:384, 256:512]  # a non-contiguous view
    X = wpt_analysis(crop, 3, 2)
    np.testing.assert_allclose(X.numpy(), pywt_packets(crop.numpy(), 3, 2), rtol=0, atol=1e-12)
    x32 = flower.float()
    X32 = wpt_analysis(x32, 3, 2)
    assert X32.shape == (1, 192, 64, 96)
    assert (wpt_synthesis(X32, 3, 2) - x32).abs().max() < 1e-5


def test_reduced_size_decoding_approximates_the_signal(flower: torch.Tensor) -> None:
    image = flower.float()
    X = wpt_analysis(image, 3, 2)
    for k in (1, 2):
        low = wpt_synthesis(X, 3, 2, stop_level=k)[:, :: 4**k] / 2**k  # band a..a per channel
        small = F.avg_pool2d(image, 2**k)
        assert low.shape == small.shape == (1, 3, 512 >> k, 768 >> k)
        torch.testing.assert_close(low.mean((-2, -1)), image.mean((-2, -1)), rtol=0, atol=1e-5)
        assert (low - small).abs().mean() < 0.05
    sine = 0.4 * torch.sin(torch.linspace(0, 10 * torch.pi, 2048))[None, None]
    half = wpt_synthesis(wpt_analysis(sine, 4, 1), 4, 1, stop_level=1)[:, :1] / 2**0.5
    assert (half - F.avg_pool1d(sine, 2)).abs().max() < 0.01


@pytest.mark.parametrize(("ndim", "levels", "shape"), [(2, 2, (1, 1, 4, 8)), (1, 5, (1, 32))])
def test_gradients_are_the_adjoint_maps(ndim: int, levels: int, shape: tuple[int, ...]) -> None:
    """Backward runs the adjoint through the other direction's code; check it numerically."""
    x = signal(shape).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: wpt_analysis(t, levels, ndim), (x,))
    X = wpt_analysis(signal(shape), levels, ndim).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: wpt_synthesis(t, levels, ndim), (X,))
    assert torch.autograd.gradgradcheck(lambda t: wpt_synthesis(t, levels, ndim), (X,))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: wpt_analysis(signal((3, 12, 16)), 3, 2), "not a multiple of 2\\*\\*levels"),
        (lambda: wpt_analysis(signal((3, 100)), 3, 1), "not a multiple of 2\\*\\*levels"),
        (lambda: wpt_analysis(torch.zeros(3, 16, 16, dtype=torch.int64), 2, 2), "floating-point"),
        (lambda: wpt_analysis(np.zeros((3, 16)), 2, 1), "floating-point"),
        (lambda: wpt_analysis(signal((3, 16)), 0, 1), "levels"),
        (lambda: wpt_analysis(signal((3, 16, 16)), 2, 3), "ndim"),
        (lambda: wpt_analysis(signal((16,)), 2, 1), "\\[..., C, L\\]"),
        (lambda: wpt_synthesis(signal((6, 4, 4)), 2, 2), "bands"),
        (lambda: wpt_synthesis(signal((16, 4, 4)), 2, 2, stop_level=2), "stop_level"),
        (lambda: wpt_synthesis(signal((16, 4, 4)), 2, 2, stop_level=-1), "stop_level"),
    ],
)
def test_bad_inputs_raise_value_error(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
