"""End-to-end codec speed: compress (transform + projection + entropy coding + container) and
decompress, for a 768x512 RGB photo and 10 s of stereo music, against baselines timed in the
same run (Pillow's lossy WebP and JPEG; zlib on 16-bit PCM).

    python benchmarks/bench_codec.py                 # table + benchmarks/results/codec.json
    python benchmarks/bench_codec.py --repeat 3 --codecs rgb-16x-linear
"""

from __future__ import annotations

import argparse
import io
import sys
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import env_info, print_table, time_call, write_json

import walloc_plugins as wp
from walloc_plugins.audiofile import read_audio

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
IMAGE = DATA / "images" / "dev" / "lomiri-nuthatch.png"
AUDIO = DATA / "audio" / "dev" / "music-blues.flac"
IMAGE_CODECS = ["rgb-16x", "rgb-16x-linear", "rgb-4x-linear"]
AUDIO_CODECS = ["stereo-20x-linear", "stereo-5x-linear"]


def image_rows(codecs: list[str], repeat: int, warmup: int) -> list[dict]:
    image = np.asarray(Image.open(IMAGE).convert("RGB"))
    mpix = image.shape[0] * image.shape[1] / 1e6
    rows = []

    def pillow(fmt: str, **options: object) -> bytes:
        out = io.BytesIO()
        Image.fromarray(image).save(out, fmt, **options)
        return out.getvalue()

    for fmt, options in (("WEBP", {"quality": 75}), ("JPEG", {"quality": 75})):
        data = pillow(fmt, **options)
        enc = time_call(lambda: pillow(fmt, **options), repeat, warmup)
        dec = time_call(lambda: Image.open(io.BytesIO(data)).load(), repeat, warmup)
        rows.append(_row(f"Pillow {fmt} q75", mpix, enc, dec, len(data) * 8 / mpix / 1e6, "MPix/s"))
    baseline = rows[0]["encode"]
    for name in codecs:
        wp.load_codec(name)
        data = wp.compress(image, name)
        enc = time_call(lambda: wp.compress(image, name), repeat, warmup)
        dec = time_call(lambda: wp.decompress(data), repeat, warmup)
        rows.append(_row(name, mpix, enc, dec, len(data) * 8 / mpix / 1e6, "MPix/s"))
    for row in rows:
        row["encode_vs_webp"] = row["encode"] / baseline
    return rows


def audio_rows(codecs: list[str], repeat: int, warmup: int) -> list[dict]:
    audio, rate = read_audio(AUDIO)
    audio = np.ascontiguousarray(audio[: 10 * rate])
    msamples = audio.size / 1e6  # both channels, as the reference counts them
    pcm = (audio * 32767).astype(np.int16).tobytes()
    data = zlib.compress(pcm, 6)
    rows = [
        _row(
            "zlib on PCM16",
            msamples,
            time_call(lambda: zlib.compress(pcm, 6), repeat, warmup),
            time_call(lambda: zlib.decompress(data), repeat, warmup),
            len(data) * 8 / audio.size,
            "MSamples/s",
        )
    ]
    for name in codecs:
        wp.load_codec(name)
        data = wp.compress(audio, name, sample_rate=rate)
        enc = time_call(lambda: wp.compress(audio, name, sample_rate=rate), repeat, warmup)
        dec = time_call(lambda: wp.decompress(data), repeat, warmup)
        rows.append(_row(name, msamples, enc, dec, len(data) * 8 / audio.size, "MSamples/s"))
    for row in rows:
        row["realtime_encode"] = 10 / (row["encode_ms"] / 1e3)
        row["realtime_decode"] = 10 / (row["decode_ms"] / 1e3)
    return rows


def _row(name: str, amount: float, enc: dict, dec: dict, rate: float, unit: str) -> dict:
    return {
        "codec": name,
        "unit": unit,
        "encode": amount / (enc["median_ms"] / 1e3),
        "decode": amount / (dec["median_ms"] / 1e3),
        "encode_ms": enc["median_ms"],
        "decode_ms": dec["median_ms"],
        "bits_per_value": rate,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--codecs", nargs="*", help="codec names (default: the shipped ones)")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "codec.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    chosen = args.codecs
    images = image_rows([c for c in IMAGE_CODECS if not chosen or c in chosen], args.repeat, args.warmup)
    print("768x512 RGB photo (images/dev/lomiri-nuthatch.png); compress = numpy uint8 -> .wlc bytes")
    print_table(images, [("codec", "codec", "s"), ("encode", "encode MPix/s", ".1f"), ("decode", "decode MPix/s", ".1f"),
                         ("encode_ms", "encode ms", ".1f"), ("decode_ms", "decode ms", ".1f"),
                         ("bits_per_value", "bpp", ".3f"), ("encode_vs_webp", "encode / WebP", ".2f")])
    sounds = audio_rows([c for c in AUDIO_CODECS if not chosen or c in chosen], args.repeat, args.warmup)
    print("\n10 s stereo 44.1 kHz (audio/dev/music-blues.flac); MSamples/s count both channels")
    print_table(sounds, [("codec", "codec", "s"), ("encode", "encode MS/s", ".1f"), ("decode", "decode MS/s", ".1f"),
                         ("realtime_encode", "encode x realtime", ".0f"), ("realtime_decode", "decode x realtime", ".0f"),
                         ("bits_per_value", "bits/sample", ".3f")])
    path = write_json(args.out, "codec", "end-to-end compress/decompress speed and rate", env_info(args.threads),
                      images + sounds)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
