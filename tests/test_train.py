"""`walloc train` end to end on a tiny run (the pipeline, not the quality: see docs/models.md)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from conftest import DEV_IMAGES

import walloc_plugins.train as walloc_train
from walloc_plugins import InputError, load_codec
from walloc_plugins.cli import main
from walloc_plugins.codec import WallocCodec
from walloc_plugins.train import PRESETS, TrainOptions, _lr_factor, train
from walloc_plugins.wavelets import wpt_analysis


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for path in sorted(DEV_IMAGES.glob("*.png"))[:4]:
        shutil.copy(path, folder / path.name)
    return folder


def test_cli_trains_exports_and_resumes(tmp_path, photos, capsys):
    args = ["train", "rgb-16x", str(photos), "--out", str(tmp_path), "--steps", "3", "--batch", "2",
            "--crop", "64", "--pool", "8", "--init", "rgb-16x-linear", "--device", "cpu", "-q"]
    assert main(args) == 0
    card = json.loads((tmp_path / "rgb-16x.json").read_text())
    assert card["config"] == PRESETS["rgb-16x"].to_dict()
    codec = load_codec(tmp_path / "rgb-16x.pt")
    assert codec.weights_sha256() == card["sha256"] and codec.name == "rgb-16x"
    assert [json.loads(line)["step"] for line in (tmp_path / "log.jsonl").read_text().splitlines()] == [0, 3]
    assert main([*args[:6], "5", *args[7:], "--resume"]) == 0  # continues from step 3
    assert [json.loads(line)["step"] for line in (tmp_path / "log.jsonl").read_text().splitlines()] == [0, 3, 5]


def test_starting_from_the_linear_codec_starts_at_its_quality(photos, tmp_path):
    options = TrainOptions(steps=1, batch=2, crop=64, pool=4, lr=0.0, warmup=1)
    weights = train(PRESETS["rgb-16x"], photos, tmp_path, options, name="t", init="rgb-16x-linear")
    trained, linear = load_codec(weights), load_codec("rgb-16x-linear")
    x = torch.rand(1, 3, 64, 64)
    assert torch.allclose(trained.decode(trained.encode(x)), linear.decode(linear.encode(x)), atol=1e-6)


def test_learning_rate_schedule():
    options = TrainOptions(steps=1000, warmup=100)
    assert _lr_factor(0, options) == pytest.approx(0.01)
    assert _lr_factor(99, options) == pytest.approx(1.0)
    assert _lr_factor(1000, options) == pytest.approx(0.01)


def test_a_resumed_run_equals_an_uninterrupted_one(photos, tmp_path, monkeypatch):
    options = TrainOptions(steps=4, batch=2, crop=64, pool=6, checkpoint_every=2, validate_every=1)
    whole = train(PRESETS["gray-16x"], photos, tmp_path / "whole", options, name="t", init="gray-16x-linear")

    def record_then_die(out, history, **record):  # killed after step 3's record, past the step-2 checkpoint
        keep(out, history, **record)
        if record["step"] == 3:
            raise KeyboardInterrupt

    keep = walloc_train._record
    monkeypatch.setattr(walloc_train, "_record", record_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(PRESETS["gray-16x"], photos, tmp_path / "parts", options, name="t", init="gray-16x-linear")
    monkeypatch.setattr(walloc_train, "_record", keep)
    parts = train(PRESETS["gray-16x"], photos, tmp_path / "parts", options, name="t", resume=True)
    a, b = torch.load(whole, weights_only=True), torch.load(parts, weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
    linear = load_codec("gray-16x-linear").state_dict()
    assert any(not torch.equal(a[k], linear[k]) for k in a if "skip" in k)  # it did train
    logs = [(tmp_path / run / "log.jsonl").read_text() for run in ("whole", "parts")]
    assert [json.loads(line)["step"] for line in logs[1].splitlines()] == [0, 1, 2, 3, 4]  # step 3 once
    assert [json.loads(line)["val_psnr"] for line in logs[1].splitlines()] == \
        [json.loads(line)["val_psnr"] for line in logs[0].splitlines()]


@pytest.mark.parametrize("preset", ["rgb-16x", "stereo-20x"])
def test_the_loss_on_bands_is_the_signal_mse(preset):
    """Training never builds the signal: its loss must still be the reference's signal-domain MSE."""
    codec = WallocCodec(PRESETS[preset])
    torch.manual_seed(0)
    x = torch.rand(2, codec.config.channels, *(64,) * codec.config.ndim) - 0.5 if preset == "rgb-16x" else \
        torch.rand(2, 2, 64 * codec.config.stride) - 0.5
    bands = wpt_analysis(x, codec.config.levels, codec.config.ndim)
    estimate = codec.decoder(codec.encoder(bands))
    expected = torch.mean((codec(x) - x) ** 2)
    assert walloc_train._signal_mse(codec.config, estimate, bands).item() == pytest.approx(expected.item(), rel=1e-4)


def test_a_crop_larger_than_every_file_is_refused(photos, tmp_path):
    with pytest.raises(InputError, match="lower --crop"):
        train(PRESETS["rgb-16x"], photos, tmp_path, TrainOptions(steps=1, crop=1 << 14, pool=2), name="t")
