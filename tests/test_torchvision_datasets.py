"""walloc convert, .wlc folders as datasets, and latent crops, flips and batching, on real photos."""

from __future__ import annotations

import subprocess
import sys
from functools import partial

import numpy as np
import pytest
import torch
from conftest import DEV_AUDIO, DEV_IMAGES
from PIL import Image

import walloc_plugins as wp
from torchvision_ext import (
    LatentRandomCrop,
    LatentRandomHorizontalFlip,
    WlcFolder,
    collate_latents,
    flip_classes,
    hflip_latent,
    io,
    is_wlc_file,
    wlc_loader,
)
from walloc_plugins.cli import main
from walloc_plugins.codec import WallocCodec
from walloc_plugins.convert import convert_folder

RGB = "rgb-16x-linear"
MARGIN = 4  # latent positions that the J = 3 analysis filters reach past a crop's edge


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """ImageFolder layout of 12 dev photos cropped to 200x136 (not multiples of 8), plus a
    grayscale JPEG, classes by source package."""
    root = tmp_path_factory.mktemp("photos")
    for path in sorted(DEV_IMAGES.glob("*.png"))[::2]:
        folder = root / path.name.split("-")[0]
        folder.mkdir(exist_ok=True)
        with Image.open(path) as image:
            image.convert("RGB").crop((300, 200, 500, 336)).save(folder / path.name)
    with Image.open(DEV_IMAGES / "mate-dune.png") as image:
        image.convert("L").crop((0, 0, 64, 48)).save(root / "mate" / "gray.jpg", quality=90)
    return root


@pytest.fixture(scope="module")
def converted(photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("converted")
    report = convert_folder(photos, out, [RGB], workers=2)
    assert (report.converted, report.skipped, report.failed) == (13, 0, [])
    return out


@pytest.fixture(scope="module")
def codec():
    return wp.load_codec(RGB)


# -- walloc convert ----------------------------------------------------------------------------
def test_convert_mirrors_the_tree_in_the_codecs_mode(photos, converted):
    written = sorted(p.relative_to(converted).as_posix() for p in converted.rglob("*.wlc"))
    sources = sorted(
        p.relative_to(photos).with_suffix(".wlc").as_posix() for p in photos.rglob("*.*")
    )
    assert written == sources
    gray = wp.read_header(converted / "mate" / "gray.wlc")
    assert (gray.codec, gray.mode, gray.size) == (RGB, "RGB", (48, 64))
    assert not list(converted.rglob(".*.tmp"))


def test_convert_resumes_and_never_overwrites_without_the_flag(photos, tmp_path, capsys, caplog):
    out = tmp_path / "out"
    target = out / "lomiri" / "lomiri-bridge.wlc"
    target.parent.mkdir(parents=True)
    wp.save(
        target,
        wp.decompress(io.encode_wlc(torch.zeros(3, 8, 8, dtype=torch.uint8)).numpy().tobytes()),
    )
    assert main(["convert", str(photos), str(out), "-j", "1", "-q"]) == 0
    assert "12 converted, 1 already there, 0 failed" in capsys.readouterr().out
    assert wp.read_header(target).size == (8, 8)  # kept: same codec, so taken as done
    assert main(["convert", str(photos), str(out), "-c", "rgb-4x-linear", "-q"]) == 1
    assert "0 converted, 0 already there, 13 failed" in capsys.readouterr().out
    assert "pass --overwrite to replace it" in caplog.text
    assert wp.read_header(target).codec == RGB
    assert (
        main(
            [
                "convert",
                str(photos),
                str(out),
                "-c",
                "rgb-4x-linear",
                "--overwrite",
                "-j",
                "2",
                "-q",
            ]
        )
        == 0
    )
    assert "13 converted" in capsys.readouterr().out
    assert wp.read_header(target).codec == "rgb-4x-linear" and wp.read_header(target).size == (
        136,
        200,
    )


def test_convert_reports_bad_files_and_bad_arguments(photos, tmp_path, capsys, caplog):
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    (src / "a" / "broken.png").write_bytes(b"not a png")
    (src / "a" / "ok.png").write_bytes(
        (photos / "mate" / "gray.jpg").read_bytes()
    )  # a JPEG named .png opens
    assert main(["convert", str(src), str(tmp_path / "out"), "-j", "1"]) == 1
    assert "1 converted, 0 already there, 1 failed" in capsys.readouterr().out
    assert "a/broken: UnidentifiedImageError" in caplog.text
    (src / "a" / "ok.jpg").write_bytes(b"")
    assert main(["convert", str(src), str(tmp_path / "out")]) == 1
    assert "would both become a/ok.wlc" in capsys.readouterr().err
    assert main(["convert", str(src), str(tmp_path / "out"), "-c", RGB, "-c", "rgb-4x-linear"]) == 1
    assert "two image codecs" in capsys.readouterr().err


def test_convert_audio_resamples_to_the_codec(tmp_path):
    src = tmp_path / "music"
    src.mkdir()
    (src / "ambient.flac").symlink_to(DEV_AUDIO / "music-ambient-48k.flac")
    report = convert_folder(src, tmp_path / "out", ["stereo-5x-linear"], workers=1)
    assert report.converted == 1
    header = wp.read_header(tmp_path / "out" / "ambient.wlc")
    assert (header.codec, header.sample_rate) == ("stereo-5x-linear", 44100)
    waveform, rate = io.load(tmp_path / "out" / "ambient.wlc")
    assert rate == 44100 and waveform.shape[0] == 2 and waveform.shape[1] == header.num_samples


def test_convert_module_and_cli_import_without_torch(tmp_path):
    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(name, name=name)
sys.meta_path.insert(0, Block())
import walloc_plugins.convert, walloc_plugins.cli
try:
    walloc_plugins.cli.main(["convert", "--help"])
except SystemExit:
    pass
"""
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=tmp_path
    )
    assert "--overwrite" in out.stdout


# -- datasets ----------------------------------------------------------------------------------
def test_wlc_folder_gives_latents_or_images(photos, converted, codec):
    latents = WlcFolder(converted)
    assert latents.classes == sorted(p.name for p in photos.iterdir())
    assert len(latents) == 13 and latents.targets == [t for _, t in latents.samples]
    q, target = latents[0]
    path = latents.samples[0][0]
    with Image.open(
        photos / latents.classes[target] / (path.rsplit("/", 1)[1][:-4] + ".png")
    ) as image:
        pixels = torch.from_numpy(np.array(image)).permute(2, 0, 1)
    assert q.dtype == torch.int8 and torch.equal(q, codec.encode(pixels).q)
    images = WlcFolder(converted, output="image", target_transform=lambda t: -t)
    image, negative = images[0]
    assert image.shape == (3, 136, 200) and image.dtype == torch.uint8 and negative == -target
    assert torch.equal(image, io.decode_wlc(path))
    assert "samples=13" in repr(latents)
    with pytest.raises(FileNotFoundError, match="holds no .wlc"):
        (converted.parent / "empty" / "cls").mkdir(parents=True)
        WlcFolder(converted.parent / "empty")


def test_torchvision_image_folder_reads_wlc(converted):
    from torchvision.datasets import ImageFolder

    with pytest.raises(FileNotFoundError):
        ImageFolder(str(converted))  # its default extensions skip .wlc
    ours = WlcFolder(converted)
    pil = ImageFolder(str(converted), is_valid_file=is_wlc_file)  # the Pillow door opens .wlc
    image, target = pil[3]
    assert image.mode == "RGB" and target == ours[3][1]
    assert torch.equal(
        torch.from_numpy(np.array(image)).permute(2, 0, 1), WlcFolder(converted, "image")[3][0]
    )
    assert wlc_loader(pil.samples[3][0]).tobytes() == image.tobytes()
    latents = ImageFolder(str(converted), loader=io.read_latent, is_valid_file=is_wlc_file)
    assert latents.samples == [(p, t) for p, t in ours.samples] and torch.equal(
        latents[5][0], ours[5][0]
    )


# -- latent crops, flips and batches -----------------------------------------------------------
@pytest.fixture(scope="module")
def image(dev_image) -> torch.Tensor:
    """A 256x384 region of a real photo, float (3, H, W)."""
    return torch.from_numpy(dev_image[128:384, 192:576].copy()).permute(2, 0, 1).float() / 255


def test_a_latent_crop_is_the_latent_of_the_pixel_crop_away_from_its_edges(image, codec):
    q = codec.encode(image).q
    crop = LatentRandomCrop((16, 20))
    torch.manual_seed(3)
    top, left = int(torch.randint(32 - 16 + 1, ())), int(torch.randint(48 - 20 + 1, ()))
    torch.manual_seed(3)
    cropped = crop(q)  # draws its offset the same way, from torch's RNG
    assert torch.equal(cropped, q[:, top : top + 16, left : left + 20])
    direct = codec.encode(image[:, 8 * top : 8 * (top + 16), 8 * left : 8 * (left + 20)]).q
    differs = (cropped != direct).any(0)
    assert not differs[MARGIN:-MARGIN, MARGIN:-MARGIN].any()
    assert differs.any()  # the edges do differ: the claim above is not vacuous
    assert (cropped.int() - direct.int()).abs().float().mean() < 2
    assert crop(torch.zeros(2, 5, 12, 16, 20)).shape == (2, 5, 12, 16, 20)
    assert LatentRandomCrop((7,))(torch.zeros(27, 30)).shape == (27, 7)
    with pytest.raises(wp.InputError, match="cannot crop"):
        crop(torch.zeros(12, 8, 40))


def test_flip_classes_follow_the_wavelet_bands(codec):
    odd, leak = flip_classes(codec)
    assert odd.tolist() == [
        False,
        False,
        False,
        True,
        False,
        True,
        False,
        False,
        False,
        True,
        False,
        True,
    ]
    assert (leak[:3] < 1e-4).all() and (leak[6:8] > 0.4).all()


def test_flip_is_exact_for_channels_that_read_one_band_class(image, codec):
    """A codec whose projection reads, per channel, only bands of one class flips exactly: the
    flipped latent is the latent of the image mirrored about its first column."""
    from torchvision_ext.latents import _band_classes

    pure = WallocCodec(codec.config)
    pure.load_state_dict(codec.state_dict())
    odd, _ = flip_classes(codec)
    classes = _band_classes(3).repeat(3)
    with torch.no_grad():
        weight = pure.encoder[0].weight
        weight *= (classes[None, :] == odd[:, None].long()).to(weight)[..., None, None]
    assert (flip_classes(pure)[1] < 1e-12).all()
    mirrored = image.flip(-1).roll(1, -1)
    assert torch.allclose(
        hflip_latent(pure.analysis(image), pure), pure.analysis(mirrored), atol=1e-3
    )
    assert torch.equal(hflip_latent(pure.encode(image).q, pure), pure.encode(mirrored).q)


def test_flip_of_a_shipped_codec_is_close_where_the_bands_allow(image, codec):
    q = codec.encode(image).q
    flipped = hflip_latent(q, codec)
    assert torch.equal(hflip_latent(flipped, codec), q)  # an involution
    assert torch.equal(LatentRandomHorizontalFlip(RGB, p=1.0)(q), flipped)
    assert torch.equal(LatentRandomHorizontalFlip(RGB, p=0.0)(q), q)
    _, leak = flip_classes(codec)
    clean = leak < 1e-4  # channels 0-2 of rgb-16x-linear
    latent = codec.analysis(image).detach()
    flipped_floats = hflip_latent(latent, codec)

    def error(other: torch.Tensor) -> torch.Tensor:  # RMS per channel, relative to its spread
        return (flipped_floats - other.detach()).square().mean((1, 2)).sqrt() / latent.std(
            dim=(1, 2)
        )

    mirrored = error(codec.analysis(image.flip(-1).roll(1, -1)))
    assert (mirrored[clean] < 0.02).all() and (mirrored[leak < 0.04] < 0.35).all(), mirrored
    equal = flipped == codec.encode(image.flip(-1).roll(1, -1)).q
    assert equal[clean].float().mean() > 0.95
    plain = error(codec.analysis(image.flip(-1)))  # a plain flip mirrors between two pixels
    assert (plain[clean] < 0.1).all() and (mirrored[clean] < plain[clean] / 5).all(), plain


def test_collate_pads_mixed_sizes(converted):
    dataset = WlcFolder(converted, transform=LatentRandomHorizontalFlip(RGB))
    gray = next(i for i, (path, _) in enumerate(dataset.samples) if path.endswith("gray.wlc"))
    batch = [dataset[0], dataset[gray]]  # 17x25 and 6x8 latents
    latents, targets = collate_latents(batch)
    assert latents.shape == (2, 12, 17, 25) and targets.tolist() == [batch[0][1], batch[1][1]]
    assert torch.equal(latents[1, :, :6, :8], batch[1][0]) and not latents[1, :, 6:].any()
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=5, collate_fn=partial(collate_latents, sizes=True)
    )
    for latents, sizes, targets in loader:
        assert latents.shape[0] == sizes.shape[0] == targets.shape[0] and sizes.shape[1] == 2
    padded = collate_latents([torch.ones(3, 4), torch.ones(3, 6)], pad_value=-1)
    assert padded.shape == (2, 3, 6) and padded[0, 0].tolist() == [1, 1, 1, 1, -1, -1]
