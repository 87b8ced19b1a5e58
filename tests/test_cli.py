"""The `walloc` command, run in-process and as a real console script."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import DEV_AUDIO, DEV_IMAGES
from helpers import psnr
from PIL import Image

from walloc_plugins.cli import main


def test_encode_then_decode_prints_the_psnr(tmp_path, capsys):
    source = DEV_IMAGES / "lxqt-hills.png"
    wlc, png = tmp_path / "kite.wlc", tmp_path / "kite.png"
    assert main(["encode", str(source), str(wlc), "-c", "rgb-16x-linear"]) == 0
    assert "bpp" in capsys.readouterr().out
    assert main(["decode", str(wlc), str(png), "--reference", str(source)]) == 0
    reported = float(capsys.readouterr().out.split("PSNR ")[1].split(" dB")[0])
    original = np.asarray(Image.open(source).convert("RGB"))
    assert reported == pytest.approx(psnr(original, np.asarray(Image.open(png))), abs=0.01)


def test_output_is_never_overwritten_without_force(tmp_path, capsys):
    source = tmp_path / "in.png"
    Image.new("RGB", (20, 12), (200, 30, 40)).save(source)
    assert main(["encode", str(source)]) == 0
    before = (tmp_path / "in.wlc").read_bytes()
    assert main(["encode", str(source), "-c", "rgb-4x-linear"]) == 1
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / "in.wlc").read_bytes() == before
    assert main(["encode", str(source), "-c", "rgb-4x-linear", "--force"]) == 0


def test_info_reads_the_header(tmp_path, capsys):
    source = tmp_path / "in.png"
    Image.new("L", (33, 17), 90).save(source)
    main(["encode", str(source), "-q"])
    capsys.readouterr()
    assert main(["info", str(tmp_path / "in.wlc"), "--json"]) == 0
    fields = json.loads(capsys.readouterr().out)
    assert (fields["codec"], fields["size"], fields["mode"]) == ("gray-16x-linear", [17, 33], "L")


def test_codecs_lists_codecs_coders_and_plugins(capsys):
    assert main(["codecs", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert {"rgb-16x-linear", "stereo-20x-linear"} <= {c["name"] for c in listing["codecs"]}
    assert {"webp", "zlib"} <= {c["name"] for c in listing["coders"]}
    assert listing["plugins"][0]["source"].startswith("walloc-plugins")


def test_errors_are_one_line_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.wlc"
    bad.write_bytes(b"\x89WLC\r\n\x1a\n" + b"\x00" * 40)
    assert main(["decode", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("walloc: error:") and "Traceback" not in err and err.count("\n") == 1
    assert main(["encode", str(tmp_path / "missing.png")]) == 1
    with pytest.raises(SystemExit):
        main(["encode"])


@pytest.mark.ffmpeg
def test_flac_through_ffmpeg(tmp_path, capsys):
    wlc, wav = tmp_path / "a.wlc", tmp_path / "a.wav"
    assert main(["encode", str(DEV_AUDIO / "music-orchestral.flac"), str(wlc), "-c", "stereo-20x-linear"]) == 0
    assert "bits/sample" in capsys.readouterr().out
    assert main(["decode", str(wlc), str(wav), "-r", str(DEV_AUDIO / "music-orchestral.flac")]) == 0
    assert float(capsys.readouterr().out.split("PSNR ")[1].split(" dB")[0]) > 25


def test_console_script_demo_and_help():
    help_text = subprocess.run([sys.executable, "-m", "walloc_plugins", "--help"], capture_output=True, text=True, check=True).stdout
    assert "walloc demo" in help_text and "encode" in help_text
    demo = subprocess.run([sys.executable, "-m", "walloc_plugins", "demo"], capture_output=True, text=True, check=True).stdout
    codec_psnr = float(demo.split("PSNR ")[1].split(" dB")[0])
    lanczos = float(demo.split("Lanczos resize 4x per side: ")[1].split(" dB")[0])
    assert codec_psnr > lanczos
