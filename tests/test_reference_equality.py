"""Equality with the authors' implementation (PyPI ``walloc==1.2.1``), run in its own venv.

``tests/reference/setup_env.sh`` makes that venv (CI runs it before pytest; without it these
tests skip). There the reference builds random-weight checkpoints of the four published
shapes in its own file layout (``NAME.pth`` + ``NAME.json``, and training logs) and codes real
photos and music (``reference/reference_tool.py``). Our codec loads the same files, with none
of the reference's dependencies, and must give the same latents except at rounding ties and
the same reconstructions within 1e-4. Crops and excerpts are small: the reference's 57 M
parameter image decoder is slow on a CPU.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import DEV_AUDIO, DEV_IMAGES
from PIL import Image

import walloc_plugins as wp
from walloc_plugins import registry
from walloc_plugins.codec import Latent
from walloc_plugins.reference.codec import ReferenceCodec, _filters

VENV = Path(os.environ.get("WALLOC_REFERENCE_VENV", "/tmp/walloc-reference-venv"))
PYTHON = VENV / "bin" / "python"
TOOL = Path(__file__).parent / "reference" / "reference_tool.py"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not PYTHON.exists(), reason="no reference environment: run tests/reference/setup_env.sh (needs PyPI)"
    ),
]

NAMES = ("RGB_16x", "RGB_4x", "stereo_5x", "stereo_20x")
LOGGED = ("RGB_16x", "stereo_20x")  # reference_tool.py also writes these as training logs
# (file, (top, left, height, width)); 67 x 101 is not a multiple of 8, so it is padded
CROPS = [
    ("lomiri-nuthatch.png", (200, 300, 128, 192)),
    ("mate-ladybird.png", (100, 50, 67, 101)),
    ("plasma-path.png", (0, 0, 256, 256)),
]
CLIPS = [("music-blues.flac", 3.0, 1.5), ("music-metal.flac", 1.0, 2.3)]  # (file, start s, seconds)
TIE = 1e-3  # a latent may round the other way only this close to a .5 boundary


def run_tool(*args: object) -> None:
    done = subprocess.run(
        [str(PYTHON), "-W", "ignore", str(TOOL), *map(str, args)], capture_output=True, text=True, timeout=900
    )
    if done.returncode:
        pytest.fail(f"the reference failed:\n{done.stderr[-3000:]}")


def clip(name: str, start: float, seconds: float) -> torch.Tensor:
    """int16 ``[2, T]`` as the reference loads music (without scaling)."""
    from walloc_plugins.audiofile import read_audio

    audio, rate = read_audio(DEV_AUDIO / name)
    excerpt = audio[int(start * rate) : int((start + seconds) * rate)]
    return torch.from_numpy(np.round(excerpt.T * 32768).astype(np.int16))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> SimpleNamespace:
    folder = tmp_path_factory.mktemp("reference")
    images = []
    for name, (top, left, height, width) in CROPS:
        with Image.open(DEV_IMAGES / name) as image:
            pixels = np.asarray(image.convert("RGB"))[top : top + height, left : left + width]
        images.append(torch.from_numpy(pixels.copy()))
    inputs = {"images": images, "audio": [clip(*c) for c in CLIPS]}
    torch.save(inputs, folder / "inputs.pt")
    models = folder / "models"
    run_tool("checkpoints", models)
    run_tool("run", folder / "inputs.pt", folder / "results.pt", *(models / f"{n}.pth" for n in NAMES))
    return SimpleNamespace(models=models, inputs=inputs, results=torch.load(folder / "results.pt"))


@pytest.fixture(scope="module")
def ours(reference) -> dict[str, ReferenceCodec]:
    return {name: wp.load_codec(reference.models / f"{name}.pth") for name in NAMES}


def signals(codec: ReferenceCodec, reference: SimpleNamespace) -> list[torch.Tensor]:
    """The inputs as our codec takes them: ``[3, H, W]`` uint8, or ``[2, T]`` in [-1, 1]."""
    if codec.config.modality == "audio":
        return [a.float() / 32768 for a in reference.inputs["audio"]]
    return [i.permute(2, 0, 1) for i in reference.inputs["images"]]


@pytest.mark.parametrize("name", NAMES)
def test_module_names_and_shapes_are_the_references(reference, ours, name):
    codec = ours[name]
    layout = {k: tuple(v.shape) for k, v in {**_filters(codec.config.ndim), **codec.state_dict()}.items()}
    assert layout == dict(reference.results[name]["keys"])


@pytest.mark.parametrize("name", NAMES)
def test_latents_equal_the_references_except_at_rounding_ties(reference, ours, name):
    codec = ours[name]
    for signal, coded in zip(signals(codec, reference), reference.results[name]["coded"]):
        latent, u = codec.encode(signal), codec.analysis(signal).detach()
        q = coded["q"].to(torch.int8)
        assert latent.q.shape == q.shape
        assert (u - coded["u"]).abs().max() < 1e-3
        differ = latent.q != q
        distance = (coded["u"] - coded["u"].floor() - 0.5).abs()
        assert (distance[differ] < TIE).all()
        assert ((latent.q.int() - q.int()).abs() <= 1).all()
        assert differ.float().mean() < 1e-3
        assert q.float().std() > 2 and q.min() < -2 and q.max() > 2  # the latents are not trivial


@pytest.mark.parametrize("name", NAMES)
def test_reconstructions_match_the_references_within_1e_4(reference, ours, name):
    codec = ours[name]
    audio = codec.config.modality == "audio"
    for signal, coded in zip(signals(codec, reference), reference.results[name]["coded"]):
        size = tuple(signal.shape[-codec.config.ndim :])
        # gain 1/2 undoes the halving of the normalised clip: the reference's own scale
        latent = Latent(q=coded["q"].to(torch.int8), size=size, gain=torch.tensor(0.5) if audio else None)
        decoded = codec.decode(latent) - (0 if audio else 0.5)
        expected = coded["x_hat"]
        assert decoded.shape == expected.shape
        assert (decoded - expected).abs().max() <= 1e-4
        assert (expected.abs() < 0.5).float().mean() > 0.5  # mostly not clamped


@pytest.mark.parametrize("name", LOGGED)
def test_training_logs_load_as_the_same_codec(reference, ours, name):
    logged = wp.load_codec(reference.models / "logs" / f"{name}.pth")  # no JSON beside it
    assert logged.config == ours[name].config
    assert logged.weights_sha256() == ours[name].weights_sha256()


@pytest.fixture
def registered(reference, monkeypatch):
    monkeypatch.setenv("WALLOC_MODELS", str(reference.models))
    registry.clear_caches()
    yield
    registry.clear_caches()


def test_a_published_image_codec_through_a_file_and_image_open(reference, registered, tmp_path):
    crop = reference.inputs["images"][0].numpy()
    path = tmp_path / "crop.wlc"
    wp.save(path, crop, "RGB_16x")
    header = wp.read_header(path)
    assert (header.codec, header.weights) == ("RGB_16x", wp.load_codec("RGB_16x").weights_sha256())
    expected = (reference.results["RGB_16x"]["coded"][0]["x_hat"] + 0.5) * 255
    with Image.open(path) as image:
        pixels = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float()
    assert (pixels - expected).abs().max() <= 0.5 + 1e-2  # we round to 8 bits


def test_a_published_audio_codec_through_a_file(reference, registered):
    int16 = reference.inputs["audio"][0]
    music = int16.float().T.numpy() / 32768
    decoded = wp.decompress(wp.compress(music, "stereo_5x", sample_rate=44100))
    centred = music - music.mean()
    gain = np.abs(centred).max() + 1e-8  # the clip's peak: its normalisation is undone
    expected = reference.results["stereo_5x"]["coded"][0]["x_hat"].numpy().T * 2 * gain
    assert decoded.shape == music.shape
    assert np.abs(decoded - expected).max() <= 1e-4
