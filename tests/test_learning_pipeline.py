"""The compressed-learning benchmark end to end on a tiny configuration, its cost matching, and
the example recipe script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SHARED, shared_folder
from PIL import Image
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
import compressed_learning

from benchmarks.learning import inputs, speech_data, text_data, training
from benchmarks.learning.nets import Classifier, cost, to_grid

SETUP = "run benchmarks/learning/setup_data.sh"


@pytest.mark.parametrize("modality, codecs, recipe", [
    ("image", ["rgb-4x-linear", "rgb-16x-linear"], compressed_learning.FULL["text"]["recipe"]),
    ("audio", ["stereo-5x-linear", "stereo-20x-linear"], compressed_learning.FULL["speech"]["recipe"]),
])
def test_models_of_every_input_cost_the_same(modality, codecs, recipe):
    """A resize and the latents of the same codec get identical models; the models of all
    reduced inputs are within 10% of each other in parameters and FLOPs."""
    figures = {}
    for kind in inputs.kinds(modality, codecs):
        x = to_grid(torch.zeros(1, *kind.shape), kind.patch)
        model = Classifier(x.shape[1], len(kind.patch), recipe.width, 20, recipe.blocks, recipe.kernel)
        figures[kind.name] = (kind, cost(model, x[0]))
        assert model.trunk(model.stem(x)).shape[2:] == (
            (inputs.IMAGE_GRID // 4,) * 2 if modality == "image" else (inputs.AUDIO_GRID // 4 + 1,))
    for codec in codecs:
        same = [f for kind, f in figures.values() if kind.codec == codec]
        assert len(same) == 3 and same[0] == same[1] == same[2]
    reduced = [f for kind, f in figures.values() if kind.source != "signal"]
    for key in ("params", "mflops"):
        low, high = min(f[key] for f in reduced), max(f[key] for f in reduced)
        assert high <= 1.1 * low, key


def test_controls_hold_what_they_claim():
    """packets-256 is the whole image in the codec's bands; lanczos-64+codec is the codec's
    latent of the resized image: its coarse channel matches the image's, its detail does not."""
    from walloc_plugins.wavelets import wpt_synthesis

    with Image.open(sorted((SHARED / "images" / "dev").glob("*.png"))[0]) as image:
        crops = np.stack([np.asarray(image.convert("RGB"))[y : y + 256, :256].transpose(2, 0, 1)
                          for y in (0, 128)])
    found = {k.source: k for k in inputs.kinds("image", ["rgb-16x-linear"], controls=True)}
    packets = inputs.derive(crops, found["packets"])
    assert packets.shape == (2, *found["packets"].shape) == (2, 192, 32, 32)
    back = (wpt_synthesis(torch.from_numpy(packets).float(), 3, 2) + 0.5) * 255
    assert np.abs(back.numpy() - crops).max() < 1.0
    resized = inputs.derive(crops, found["resized+float"]).astype(np.float32)
    latents = inputs.derive(crops, found["float"]).astype(np.float32)
    assert resized.shape == latents.shape == (2, 12, 32, 32)
    assert np.corrcoef(resized[:, 0].ravel(), latents[:, 0].ravel())[0, 1] > 0.99
    detail = np.abs(resized[:, 4:] - latents[:, 4:]).mean() / np.abs(latents[:, 4:]).mean()
    assert detail > 0.3


@pytest.mark.parametrize("shape, patch", [((2, 3, 64, 64), (8, 8)), ((2, 2, 1000), (11,))])
def test_a_grid_input_and_a_1x1_stem_are_a_patchifying_convolution(shape, patch):
    """``to_grid`` puts each patch into channels in the order of a convolution's weights, and
    drops what fills no patch, as the strided convolution does."""
    torch.manual_seed(0)
    x = torch.randn(shape)
    conv = (nn.Conv2d if len(patch) == 2 else nn.Conv1d)(shape[1], 5, patch, patch)
    grid = to_grid(x, patch)
    mixing = (nn.Conv2d if len(patch) == 2 else nn.Conv1d)(grid.shape[1], 5, 1)
    mixing.load_state_dict({"weight": conv.weight.reshape(mixing.weight.shape), "bias": conv.bias})
    assert torch.allclose(mixing(grid), conv(x), atol=1e-5)
    assert len(patch) == 1 or grid.is_contiguous(memory_format=torch.channels_last)


def test_training_crop_cuts_the_same_region_from_every_sample():
    generator = torch.Generator().manual_seed(0)
    grid = to_grid(torch.arange(2 * 3 * 64 * 64, dtype=torch.float32).view(2, 3, 64, 64), (2, 2))
    mean, std = torch.zeros(1, 12, 1, 1), torch.full((1, 12, 1, 1), 2.0)
    crop = training._normalised(training._crops(grid, torch.tensor([1, 0]), 2, generator), mean, std)
    assert crop.shape == (2, 12, 30, 30) and crop.is_contiguous(memory_format=torch.channels_last)
    for sample, original in zip(crop, grid[[1, 0]]):
        top, left = (int(v) for v in np.argwhere((original == 2 * sample[0, 0, 0]).numpy())[0][1:])
        assert top <= 2 and left <= 2
        assert torch.equal(2 * sample, original[:, top : top + 30, left : left + 30])


@pytest.fixture(scope="module")
def small_shared(tmp_path_factory) -> Path:
    """A shared-data folder with a few real photos and real music per split."""
    root = tmp_path_factory.mktemp("shared")
    picks = {"images/train": sorted(shared_folder("*.png", "images/train", "images/dev").glob("*.png"))[:3],
             "images/dev": sorted((SHARED / "images" / "dev").glob("*.png"))[:2],
             "music/train": sorted(shared_folder("*.flac", "music/train", "music/dev").glob("*.flac"))[:1],
             "music/dev": sorted((SHARED / "music" / "dev").glob("*.flac"))[:1]}
    for folder, files in picks.items():
        if not files:
            pytest.skip(f"no {folder} under {SHARED}")
        (root / folder).mkdir(parents=True)
        for path in files:
            (root / folder / path.name).symlink_to(path)
    return root


@pytest.mark.slow
def test_benchmark_runs_end_to_end(small_shared, tmp_path):
    if text_data.missing_fonts() or speech_data.espeak() is None:
        pytest.skip(f"fonts or espeak-ng not installed ({SETUP})")
    out = tmp_path / "result.json"
    assert compressed_learning.main([
        "--quick", "--train", "48", "--test", "24", "--epochs", "1", "-j", "1",
        "--image-codecs", "rgb-16x-linear", "--audio-codecs", "stereo-20x-linear",
        "--shared", str(small_shared), "--data", str(tmp_path / "data"), "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["results"]
    assert [(r["task"], r["input"]) for r in rows] == [
        ("text", "pixels-256"), ("text", "lanczos-64"), ("text", "rgb-16x-linear/float"),
        ("text", "rgb-16x-linear/int8"), ("speech", "audio-44.1k"), ("speech", "resample-2.33k"),
        ("speech", "stereo-20x-linear/float"), ("speech", "stereo-20x-linear/int8")]
    for row in rows:
        assert 0 <= row["accuracy"] <= 100 and row["train_samples_per_s"] > 0
        assert row["values"] == {"pixels-256": 196608, "lanczos-64": 12288, "audio-44.1k": 88200,
                                 "resample-2.33k": 4652}.get(row["input"], row["values"])
    assert out.with_suffix(".png").stat().st_size > 10_000
    table = out.with_suffix(".md").read_text().splitlines()
    assert len(table) == 2 + len(rows) and table[2].startswith("| text | pixels-256 | 196608 |")
    assert len(list((tmp_path / "data" / "text" / "train-rgb-16x-linear").rglob("*.wlc"))) == 48


@pytest.mark.slow
def test_example_recipe_trains_on_wlc_folders(tmp_path):
    """examples/train_on_latents.py on two classes of real photo crops, converted with walloc."""
    from PIL import Image

    photos = sorted(shared_folder("*.png", "images/train", "images/dev").glob("*.png"))[:4]
    for split, offset in (("train", 0), ("test", 128)):
        for label, path in enumerate(photos[:2]):
            folder = tmp_path / "png" / split / f"class{label}"
            folder.mkdir(parents=True)
            with Image.open(path) as image:
                for i in range(6):
                    image.crop((offset + 32 * i, 0, offset + 32 * i + 128, 128)).save(folder / f"{i}.png")
        subprocess.run([sys.executable, "-m", "walloc_plugins", "convert", str(tmp_path / "png" / split),
                        str(tmp_path / "wlc" / split), "-c", "rgb-16x-linear", "-j", "1", "-q"], check=True)
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "train_on_latents.py"),
                           str(tmp_path / "wlc" / "train"), str(tmp_path / "wlc" / "test"),
                           "--epochs", "2", "--crop", "14", "--workers", "0"],
                          capture_output=True, text=True, check=True)
    assert "epoch 2: loss" in done.stdout and "test accuracy" in done.stdout
