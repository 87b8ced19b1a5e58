"""torchvision_ext transforms and IO on real photos and music, with real torchvision."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import DEV_AUDIO, DEV_IMAGES
from helpers import psnr
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2

import walloc_plugins as wp
from torchvision_ext import WallocDecode, WallocEncode, WallocRoundTrip, WlcFolder, io, resample
from walloc_plugins.api import encode_audio_frames
from walloc_plugins.audiofile import read_audio

RGB = "rgb-16x-linear"


@pytest.fixture(scope="module")
def photo(small_image) -> torch.Tensor:
    """A 45x61 crop of a real photo, uint8 (3, H, W)."""
    return torch.from_numpy(small_image).permute(2, 0, 1).contiguous()


@pytest.fixture(scope="module")
def codec():
    return wp.load_codec(RGB)


def test_encode_every_image_kind_gives_the_codec_latent(photo, codec):
    expected = codec.encode(photo).q
    pil = Image.fromarray(photo.permute(1, 2, 0).numpy())
    kinds = {
        "uint8": photo,
        "float": photo.float() / 255,
        "PIL": pil,
        "PIL P mode": pil.convert(
            "P", palette=Image.Palette.ADAPTIVE, colors=64
        ),  # converted to RGB
        "tv Image": tv_tensors.Image(photo),
    }
    encode = WallocEncode(RGB, dtype=torch.int8)
    for kind, x in kinds.items():
        q = encode(x)
        assert type(q) is torch.Tensor and q.dtype == torch.int8, kind
        if kind == "PIL P mode":
            assert q.shape == expected.shape and (q.int() - expected.int()).abs().float().mean() < 3
        else:
            assert torch.equal(q, expected), kind
    floats = WallocEncode(RGB)(photo)
    assert floats.dtype == torch.float32 and torch.equal(floats, expected.float())
    batch = torch.stack([photo, photo.flip(-1)])
    assert torch.equal(encode(batch)[1], codec.encode(photo.flip(-1)).q)
    assert encode(batch[None]).shape == (1, 2, 12, 6, 8)
    video = tv_tensors.Video(batch)  # (T, C, H, W)
    assert torch.equal(encode(video), encode(batch))


def test_unquantized_latents_are_differentiable(photo, codec):
    x = (photo.float() / 255).requires_grad_()
    latent = WallocEncode(RGB, quantize=False)(x)
    assert (latent - codec.encode(photo).q).abs().max() <= 0.5 + 1e-4
    latent.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    q = WallocEncode(RGB)(photo)  # made under inference_mode inside, usable for training
    torch.nn.Conv2d(12, 4, 1)(q[None]).sum().backward()


def test_decode_and_round_trip_keep_the_input_kind(photo, codec):
    latent = codec.encode(photo)
    decoded = WallocDecode(RGB, dtype=torch.uint8)(latent.q)
    assert decoded.shape == (3, 48, 64) and decoded.dtype == torch.uint8
    reference = (codec.decode(latent) * 255).round().to(torch.uint8)
    assert torch.equal(decoded[:, :45, :61], reference)
    assert torch.equal(WallocDecode(RGB)(latent.q.float())[:, :45, :61], codec.decode(latent))

    trip = WallocRoundTrip(RGB)
    out = trip(photo)
    assert out.dtype == torch.uint8 and torch.equal(out, reference)
    assert psnr(photo.numpy(), out.numpy()) > 25
    half = trip(photo.half() / 255)
    assert half.dtype == torch.float16 and half.shape == photo.shape
    pil = trip(Image.fromarray(photo.permute(1, 2, 0).numpy()))
    assert (
        isinstance(pil, Image.Image)
        and pil.mode == "RGB"
        and np.array_equal(np.asarray(pil), reference.permute(1, 2, 0).numpy())
    )
    gray = WallocRoundTrip("gray-16x-linear")(Image.fromarray(photo[0].numpy()))
    assert gray.mode == "L" and gray.size == (61, 45)
    video = trip(tv_tensors.Video(torch.stack([photo] * 2)))
    assert isinstance(video, tv_tensors.Video) and torch.equal(video[1], reference)


def test_compose_transforms_images_and_leaves_masks_and_boxes_alone(photo):
    mask = tv_tensors.Mask(photo[0] > 128)
    boxes = tv_tensors.BoundingBoxes([[3, 4, 20, 30]], format="XYXY", canvas_size=(45, 61))
    pipeline = v2.Compose(
        [
            v2.ToImage(),
            WallocRoundTrip([RGB, "rgb-4x-linear"]),
            v2.ToDtype(torch.float32, scale=True),
        ]
    )
    sample = {"image": tv_tensors.Image(photo), "mask": mask, "boxes": boxes, "label": 3}
    out = pipeline(sample)
    assert isinstance(out["image"], tv_tensors.Image) and out["image"].dtype == torch.float32
    assert out["mask"] is mask and out["boxes"] is boxes and out["label"] == 3
    assert psnr(photo.numpy() / 255, out["image"].numpy(), peak=1.0) > 25
    # a plain tensor is the image only when the sample has no explicit one (v2's rule)
    image, target = WallocRoundTrip(RGB)(photo, torch.tensor([1, 2]))
    assert image.shape == photo.shape and torch.equal(target, torch.tensor([1, 2]))


def test_a_codec_list_draws_from_torchs_rng(photo):
    trip = WallocRoundTrip([RGB, "rgb-4x-linear"])
    outputs = {WallocRoundTrip(name)(photo).numpy().tobytes(): name for name in trip.codecs}
    torch.manual_seed(1)
    drawn = [outputs[trip(photo).numpy().tobytes()] for _ in range(12)]
    assert set(drawn) == set(trip.codecs)
    torch.manual_seed(1)
    assert drawn == [outputs[trip(photo).numpy().tobytes()] for _ in range(12)]


def test_repr_pickle_and_errors(photo):
    trip = WallocRoundTrip([RGB, "rgb-4x-linear"])
    assert repr(trip) == "WallocRoundTrip(codec=['rgb-16x-linear', 'rgb-4x-linear'])"
    assert (
        repr(WallocEncode(RGB, dtype=torch.int8))
        == "WallocEncode(codec='rgb-16x-linear', dtype=torch.int8)"
    )
    audio = WallocDecode("stereo-20x-linear", sample_rate=48000)
    assert (
        repr(audio)
        == "WallocDecode(codec='stereo-20x-linear', sample_rate=48000, dtype=torch.float32)"
    )
    assert len(pickle.dumps(trip)) < 2000  # names only, never a model
    with pytest.raises(wp.UnknownCodecError, match="rgb-16x-linear"):
        WallocEncode("no-such-codec")
    with pytest.raises(wp.InputError, match="mix images and audio"):
        WallocRoundTrip([RGB, "stereo-20x-linear"])
    with pytest.raises(wp.InputError, match=r"\(\.\.\., 3, H, W\)"):
        WallocEncode(RGB)(photo[:1])
    with pytest.raises(wp.InputError, match="float dtype"):
        WallocEncode(RGB, dtype=torch.int8, quantize=False)
    with pytest.raises(wp.InputError, match="sample_rate"):
        WallocEncode(RGB, sample_rate=44100)


def test_transforms_import_torch_only(tmp_path):
    code = """
import sys
import torchvision_ext, torchvision_ext.hooks
assert "torch" not in sys.modules  # names resolve on first use; the registry loads the hooks
import torch
from PIL import Image
x = torch.zeros(3, 16, 16, dtype=torch.uint8)
assert torchvision_ext.WallocRoundTrip("rgb-16x-linear")(x).shape == x.shape
assert torchvision_ext.WallocEncode("rgb-16x-linear")(Image.new("RGB", (16, 16))).shape == (12, 2, 2)
print("torchvision" in sys.modules)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=tmp_path
    )
    assert out.stdout.split() == ["False"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_inputs_stay_on_the_device(photo, codec):
    cuda = photo.cuda()
    q = WallocEncode(RGB, dtype=torch.int8)(cuda[None])
    assert q.is_cuda and (q.cpu().int() - codec.encode(photo).q.int()).abs().max() <= 1
    out = WallocRoundTrip(RGB)(cuda)
    assert out.is_cuda and out.dtype == torch.uint8 and psnr(photo.numpy(), out.cpu().numpy()) > 25
    assert WallocDecode(RGB)(q).is_cuda
    wave = torch.rand(2, 2, 48000, device="cuda") - 0.5
    assert WallocRoundTrip("stereo-20x-linear", sample_rate=48000)(wave).shape == wave.shape


# -- IO --------------------------------------------------------------------------------------
def test_encode_wlc_decode_wlc_and_read_latent(photo, codec, tmp_path):
    data = io.encode_wlc(photo)
    assert data.dtype == torch.uint8 and data.ndim == 1
    assert torch.equal(
        io.decode_wlc(data),
        torch.from_numpy(wp.decompress(data.numpy().tobytes())).permute(2, 0, 1),
    )
    path = tmp_path / "x.wlc"
    path.write_bytes(data.numpy().tobytes())
    assert torch.equal(io.decode_wlc(str(path)), io.decode_wlc(data))
    assert io.decode_wlc(data, reduce=1).shape == (3, 23, 31)
    assert torch.equal(io.read_latent(path), codec.encode(photo).q)
    assert torch.equal(io.read_latent(path), WallocEncode(RGB, dtype=torch.int8)(photo))
    rgba = torch.cat([photo, photo[:1]])
    assert torch.equal(io.decode_wlc(io.encode_wlc(rgba))[3], photo[0])  # alpha is lossless
    with pytest.raises(wp.InputError, match="1-D uint8"):
        io.decode_wlc(data.int())


# -- audio -------------------------------------------------------------------------------------
@pytest.fixture(
    scope="module", params=["music-blues.flac", "music-ambient-48k.flac"], ids=["44.1k", "48k"]
)
def clip(request) -> tuple[torch.Tensor, int]:
    """Two seconds of real stereo music at its own rate, float32 (2, T)."""
    audio, rate = read_audio(DEV_AUDIO / request.param)
    return torch.from_numpy(audio[rate * 3 : rate * 5].T.copy()), rate


def test_audio_round_trip_resamples_to_the_codec_and_back(clip):
    wave, rate = clip
    out = WallocRoundTrip("stereo-5x-linear", sample_rate=rate)(wave)
    assert out.shape == wave.shape and out.dtype == wave.dtype
    snr = 10 * torch.log10(wave.square().sum() / (wave - out).square().sum())
    assert snr > 12, float(snr)
    batch = WallocRoundTrip("stereo-5x-linear", sample_rate=rate)(torch.stack([wave, wave * 0.5]))
    assert torch.allclose(batch[1], batch[0] * 0.5, atol=1e-4)  # the peak gain is per signal


def test_audio_encode_decode_and_files(clip, tmp_path):
    wave, rate = clip
    encode = WallocEncode("stereo-20x-linear", dtype=torch.int8, sample_rate=rate)
    q = encode(wave)
    at_codec_rate = resample(wave, rate, 44100)
    assert q.shape == (27, -(-at_codec_rate.shape[-1] // 256))
    path = tmp_path / "clip.wlc"
    io.save(path, wave, rate, "stereo-20x-linear")
    assert torch.equal(
        io.read_latent(path), q
    )  # one frame (< 2**17 samples): one gain, same latent
    loaded, loaded_rate = io.load(path)
    assert loaded_rate == 44100 and loaded.shape == at_codec_rate.shape
    decoded = WallocDecode("stereo-20x-linear", sample_rate=rate)(q)
    assert (
        decoded.shape[0] == 2 and abs(decoded.shape[1] - wave.shape[1]) <= 256 * rate // 44100 + 1
    )
    peak = at_codec_rate.abs().max()
    assert torch.allclose(
        decoded[:, : wave.shape[1] - 64] * peak,
        resample(loaded, 44100, rate)[:, : wave.shape[1] - 64],
        atol=2e-3,
    )
    image = tmp_path / "image.wlc"
    wp.save(image, np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(wp.InputError, match="holds an image"):
        io.load(image)


def test_long_audio_latents_are_the_files_frames(music, tmp_path):
    audio, rate = music
    path = tmp_path / "long.wlc"
    wp.save(path, audio[: 3 * 2**17 // 2], "stereo-20x-linear", sample_rate=rate)
    stored = wp.read_latent(path)
    frames = list(encode_audio_frames(wp.load_codec("stereo-20x-linear"), audio[: 3 * 2**17 // 2]))
    assert torch.equal(
        stored.q, torch.from_numpy(np.concatenate([q for _, _, q in frames], axis=1))
    )
    assert stored.gains.tolist() == pytest.approx(np.ravel([g for _, g, _ in frames]).tolist())


def test_resample_is_band_limited_and_keeps_a_tone():
    t = torch.arange(48000, dtype=torch.float64) / 48000
    tone = torch.sin(2 * torch.pi * 1000 * t)
    out = resample(tone, 48000, 44100)
    expected = torch.sin(2 * torch.pi * 1000 * torch.arange(44100, dtype=torch.float64) / 44100)
    assert out.shape == (44100,) and (out - expected)[200:-200].abs().max() < 1e-4
    alias = resample(torch.sin(2 * torch.pi * 23000 * t), 48000, 44100)  # above the new Nyquist
    assert alias[200:-200].abs().max() < 1e-3


# -- DataLoader workers ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """ImageFolder layout: 96x128 crops of dev photos, classes by source package."""
    root = tmp_path_factory.mktemp("images")
    for path in sorted(DEV_IMAGES.glob("*.png"))[::4]:
        (root / path.name.split("-")[0]).mkdir(exist_ok=True)
        with Image.open(path) as image:
            image.convert("RGB").crop((200, 100, 328, 196)).save(
                root / path.name.split("-")[0] / path.name
            )
    return root


def loader_output(dataset, context: str | None):
    workers = 2 if context else 0
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=3, num_workers=workers, multiprocessing_context=context
    )
    latents, targets = zip(*loader)
    return torch.cat(latents), torch.cat(targets)


@pytest.mark.slow
@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_dataloader_workers_fork_and_spawn(folder, context):
    """Transforms pickle by codec name and load models in the workers (a torch-only pipeline:
    spawned workers import no torchvision, so they start faster)."""
    from walloc_plugins.convert import convert_folder

    wlc = folder.parent / f"{folder.name}-wlc"
    convert_folder(folder, wlc, [RGB], workers=1)
    pipeline = torch.nn.Sequential(WallocRoundTrip(RGB), WallocEncode(RGB, dtype=torch.int8))
    dataset = WlcFolder(wlc, output="image", transform=pipeline)
    latents, targets = loader_output(dataset, context)
    assert latents.shape == (len(dataset), 12, 12, 16) and targets.tolist() == dataset.targets
    assert torch.equal(latents, loader_output(dataset, None)[0])


@pytest.mark.slow
def test_dataloader_workers_with_torchvision_compose(folder):
    from torchvision.datasets import ImageFolder

    transform = v2.Compose(
        [v2.PILToTensor(), v2.RandomHorizontalFlip(), WallocRoundTrip(RGB), WallocEncode(RGB)]
    )
    dataset = ImageFolder(str(folder), transform=transform)
    latents, targets = loader_output(dataset, "fork")
    assert latents.shape == (len(dataset), 12, 12, 16) and latents.dtype == torch.float32
    assert targets.tolist() == dataset.targets
