"""Metrics against the reference figures of BASELINES.md, and `walloc eval` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import DEV_IMAGES, SHARED
from PIL import Image

from walloc_plugins.cli import main
from walloc_plugins.evaluate import _at_rate
from walloc_plugins.metrics import ms_ssim, psnr, snr


def test_metrics_match_the_baselines_file():
    reference = json.loads((SHARED / "baselines.json").read_text())["images"]["per_image"][0]
    image = np.asarray(Image.open(DEV_IMAGES / reference["file"]).convert("RGB"))
    height, width = image.shape[:2]
    small = Image.fromarray(image).resize((width // 4, height // 4), Image.LANCZOS)
    restored = np.asarray(small.resize((width, height), Image.LANCZOS))
    expected = reference["resize"]["x4_lanczos"]
    assert psnr(image, restored) == pytest.approx(expected["psnr"], abs=1e-9)
    assert ms_ssim(image, restored) == pytest.approx(expected["ms_ssim"], abs=1e-6)
    assert ms_ssim(image, image) == pytest.approx(1.0)
    assert np.isnan(ms_ssim(image[:100], image[:100]))
    assert snr(np.ones(4), np.ones(4) * 0.9) == pytest.approx(20.0)


def test_rate_interpolation_is_log_linear_and_flags_extrapolation():
    sweep = [{"bpp": 0.25, "psnr": 30.0, "ms_ssim": 0.9}, {"bpp": 1.0, "psnr": 40.0, "ms_ssim": 1.0}]
    assert _at_rate(sweep, 0.5) == {"psnr": pytest.approx(35.0), "ms_ssim": pytest.approx(0.95), "clamped": False}
    assert _at_rate(sweep, 4.0)["clamped"] and _at_rate(sweep, 4.0)["psnr"] == 40.0


def test_eval_command_writes_json_and_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    photos = tmp_path / "photos"
    photos.mkdir()
    with Image.open(DEV_IMAGES / "mate-wood.png") as image:
        image.crop((0, 0, 384, 256)).save(photos / "wood.png")  # small: MS-SSIM needs 176 px
    assert main(["eval", "rgb-16x-linear", "--data", str(photos), "--out", str(tmp_path / "out"), "--no-avif"]) == 0
    result = json.loads((tmp_path / "out" / "eval.json").read_text())
    mean = result["mean"]["rgb-16x-linear"]
    assert mean["dimensionality_reduction"] == 16 and 0 < mean["bpp"] < 1
    assert set(mean) >= {"psnr", "ms_ssim", "jpeg", "webp", "lanczos_x4", "encode_mpix_s", "compression_ratio"}
    assert (tmp_path / "out" / "rd.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "rgb-16x-linear" in capsys.readouterr().out


@pytest.mark.ffmpeg
def test_eval_audio_against_opus_mp3_and_resampling(tmp_path, capsys):
    import shutil

    from conftest import DEV_AUDIO

    clips = tmp_path / "clips"
    clips.mkdir()
    for name in ("music-blues.flac", "speech-en-16k-mono.flac"):  # the 16 kHz mono clip is skipped
        shutil.copy(DEV_AUDIO / name, clips)
    assert main(["eval", "stereo-20x-linear", "--data", str(clips), "--out", str(tmp_path / "out")]) == 0
    result = json.loads((tmp_path / "out" / "eval.json").read_text())
    assert [row["file"] for row in result["per_clip"]] == ["music-blues.flac"]
    mean = result["mean"]["stereo-20x-linear"]
    assert 0.1 < mean["bits_per_sample"] < 0.5 and mean["compression_ratio"] > 30
    for baseline in ("opus", "mp3", "resample"):
        assert np.isfinite(mean[baseline]["snr"])
    assert mean["mp3"]["snr"] > 5  # aligned: an unaligned MP3 would score near 0 dB
    assert "stereo-20x-linear" in capsys.readouterr().out
