"""WallocCodec on tensors: shapes, batching, dtypes, devices, training mode and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import psnr

from walloc_plugins import ConfigError, InputError, load_codec
from walloc_plugins.codec import Latent, WallocCodec
from walloc_plugins.model import Compander, Decompander, compander_constants

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]


@pytest.fixture(scope="module")
def rgb():
    return load_codec("rgb-16x-linear")


@pytest.fixture(scope="module")
def photo(dev_image):
    return torch.from_numpy(dev_image[:120, :200].copy()).permute(2, 0, 1).float() / 255


def test_encode_decode_shapes(rgb, photo):
    latent = rgb.encode(photo)
    assert latent.q.dtype == torch.int8 and latent.q.shape == (12, 15, 25) and latent.size == (120, 200)
    x_hat = rgb.decode(latent)
    assert x_hat.shape == photo.shape and x_hat.dtype == torch.float32
    assert 0 <= x_hat.min() and x_hat.max() <= 1
    assert psnr(photo.numpy(), x_hat.numpy(), peak=1.0) > 27


def test_batch_equals_items_and_any_leading_dims(rgb, photo):
    batch = torch.stack([photo, photo.flip(-1)])
    latent = rgb.encode(batch)
    assert latent.q.shape == (2, 12, 15, 25)
    assert torch.equal(latent.q[1], rgb.encode(photo.flip(-1)).q)
    nested = rgb.encode(batch[None])
    assert nested.q.shape == (1, 2, 12, 15, 25)
    assert rgb.decode(nested).shape == (1, 2, 3, 120, 200)


def test_uint8_and_float64_inputs_agree(rgb, photo):
    as_uint8 = (photo * 255).round().to(torch.uint8)
    assert torch.equal(rgb.encode(as_uint8).q, rgb.encode(as_uint8.double() / 255).q)


def test_analysis_is_the_float_latent_before_rounding(rgb, photo):
    features = rgb.analysis(photo)
    assert features.dtype == torch.float32 and features.shape == (12, 15, 25)
    assert torch.equal(torch.round(features).to(torch.int8), rgb.encode(photo).q)
    assert features.abs().max() < 127.5


@pytest.mark.parametrize("device", DEVICES)
def test_device(device, photo):
    codec = WallocCodec(load_codec("rgb-16x-linear").config)
    codec.load_state_dict(load_codec("rgb-16x-linear").state_dict())
    codec.to(device)
    latent = codec.encode(photo.to(device))
    assert latent.q.device.type == device
    cpu = load_codec("rgb-16x-linear").decode(Latent(latent.q.cpu(), latent.size))
    assert torch.allclose(codec.decode(latent).cpu(), cpu, atol=1e-4)


def test_training_mode_adds_noise_and_passes_gradients(photo):
    codec = WallocCodec(load_codec("rgb-16x-linear").config)
    codec.load_state_dict(load_codec("rgb-16x-linear").state_dict())
    codec.train()
    x = (photo[:, :64, :64] - 0.5).requires_grad_()
    x_hat = codec(x)
    assert x_hat.shape == x.shape
    ((x_hat - x) ** 2).mean().backward()
    assert codec.encoder[0].weight.grad is not None and codec.encoder[0].weight.grad.abs().sum() > 0
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert not torch.equal(codec(x.detach()), codec(x.detach()))  # uniform noise, not rounding


def test_companding_constants_and_inverse():
    assert compander_constants(8) == pytest.approx((68.6486486, 127.499))
    y = torch.linspace(-300, 300, 1001)
    u = Compander(8)(y)
    assert u.abs().max() < 127.499
    assert Compander(8)(torch.tensor([10.0, 100.0])).tolist() == pytest.approx([14.7666, 108.986], abs=1e-3)
    inner = y.abs() < 150
    assert torch.allclose(Decompander(8)(u)[inner], y[inner], atol=1e-2)
    assert Decompander(8)(torch.tensor([127.0, -127.0])).tolist() == pytest.approx([198.053, -198.053], abs=1e-2)


def test_audio_codec_gain_round_trip(music):
    codec = load_codec("stereo-20x-linear")
    x = torch.from_numpy(music[0][:20000].T.copy()) * 0.25
    latent = codec.encode(x)
    assert latent.gain.shape == () and float(latent.gain) == pytest.approx(float(x.abs().max()))
    assert codec.decode(latent).shape == x.shape


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (torch.zeros(4, 16, 16), "C=3"),
        (torch.zeros(16, 16), "C=3"),
        (torch.zeros(3, 0, 16), "empty"),
        (torch.full((3, 16, 16), float("nan")), "NaN"),
        (torch.zeros(3, 16, 16, dtype=torch.int32), "uint8 or floating"),
        (np.zeros((3, 16, 16)), "torch.Tensor"),
    ],
)
def test_bad_input(rgb, x, message):
    with pytest.raises(InputError, match=message):
        rgb.encode(x)


def test_bad_latents(rgb, photo):
    latent = rgb.encode(photo)
    with pytest.raises(InputError, match="does not fit"):
        rgb.decode(Latent(latent.q[:5], latent.size))
    with pytest.raises(InputError, match="does not fit"):
        rgb.decode(Latent(latent.q, (500, 500)))
    with pytest.raises(InputError, match="int8"):
        rgb.decode(Latent(latent.q.float(), latent.size))
    with pytest.raises(ConfigError):
        WallocCodec({"modality": "image"})  # type: ignore[arg-type]
