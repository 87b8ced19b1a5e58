"""`walloc train` end to end on a tiny run (the pipeline, not the quality: see docs/models.md)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from conftest import DEV_IMAGES

from walloc_plugins import load_codec
from walloc_plugins.cli import main
from walloc_plugins.train import PRESETS, TrainOptions, _lr_factor, train


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for path in sorted(DEV_IMAGES.glob("*.png"))[:4]:
        shutil.copy(path, folder / path.name)
    return folder


def test_cli_trains_exports_and_resumes(tmp_path, photos, capsys):
    args = ["train", "rgb-16x", str(photos), "--out", str(tmp_path), "--steps", "3", "--batch", "2",
            "--crop", "64", "--init", "rgb-16x-linear", "--device", "cpu", "-q"]
    assert main(args) == 0
    card = json.loads((tmp_path / "rgb-16x.json").read_text())
    assert card["config"] == PRESETS["rgb-16x"].to_dict()
    codec = load_codec(tmp_path / "rgb-16x.pt")
    assert codec.weights_sha256() == card["sha256"] and codec.name == "rgb-16x"
    assert [json.loads(line)["step"] for line in (tmp_path / "log.jsonl").read_text().splitlines()] == [3]
    assert main([*args[:6], "5", *args[7:], "--resume"]) == 0  # continues from step 3
    assert [json.loads(line)["step"] for line in (tmp_path / "log.jsonl").read_text().splitlines()] == [3, 5]


def test_starting_from_the_linear_codec_starts_at_its_quality(photos, tmp_path):
    options = TrainOptions(steps=1, batch=2, crop=64, lr=0.0, warmup=1)
    weights = train(PRESETS["rgb-16x"], photos, tmp_path, options, name="t", init="rgb-16x-linear")
    trained, linear = load_codec(weights), load_codec("rgb-16x-linear")
    x = torch.rand(1, 3, 64, 64)
    assert torch.allclose(trained.decode(trained.encode(x)), linear.decode(linear.encode(x)), atol=1e-6)


def test_learning_rate_schedule():
    options = TrainOptions(steps=1000, warmup=100)
    assert _lr_factor(0, options) == pytest.approx(0.01)
    assert _lr_factor(99, options) == pytest.approx(1.0)
    assert _lr_factor(1000, options) == pytest.approx(0.01)
