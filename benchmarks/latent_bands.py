"""What a codec's latents and a resize of the same size keep of each frequency band.

    python benchmarks/latent_bands.py             # both tasks of compressed_learning.py
    python benchmarks/latent_bands.py --samples 50

The compressed-learning tasks hide a small target (a printed word, a spoken word) in a real
signal (a photo, music). A classifier can only use what its input keeps, so this prints, per
frequency band: the target's share of its energy, and how well each input keeps the band,
as the SNR in dB of the round trip (codec: encode and decode; resize: down and back up with
the same filter as the benchmark), measured on the whole signal. 0 dB means the band is gone.
Frequencies are in cycles per pixel (images, radial) and kHz (audio). Writes JSON.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.signal import resample

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from _common import env_info, print_table, write_json

from benchmarks.learning.inputs import kinds, lanczos_round_trip
from benchmarks.learning.speech_data import SpeechTask
from benchmarks.learning.text_data import TextTask
from walloc_plugins import load_codec

SHARED = ROOT.parent / "shared" / "data"
# Band edges chosen at the resizes' Nyquist frequencies: 64 and 128 pixels of 256 keep up to
# 1/8 and 1/4 cycle per pixel; 2.33 and 9.30 kHz sampling keep up to 1.16 and 4.65 kHz.
IMAGE_EDGES = (0.0, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 0.5 * 2**0.5)
AUDIO_EDGES = (0.0, 0.3, 0.58, 1.16, 2.33, 4.65, 9.3, 22.05)


def band_energy(x: np.ndarray, edges: tuple[float, ...], rate: float = 1.0) -> np.ndarray:
    """Energy of ``x`` (``[C, H, W]`` image or ``[C, T]`` audio) in each band of ``edges``."""
    axes = tuple(range(1, x.ndim))
    power = np.abs(np.fft.rfftn(x, axes=axes)) ** 2
    if x.ndim == 3:
        fy = np.fft.fftfreq(x.shape[1])[:, None]
        fx = np.fft.rfftfreq(x.shape[2])[None, :]
        freq = np.hypot(fy, fx)
    else:
        freq = np.fft.rfftfreq(x.shape[1], 1 / rate) / 1000
    index = np.clip(np.digitize(freq, edges) - 1, 0, len(edges) - 2)
    total = power.sum(0)
    return np.bincount(index.ravel(), total.ravel(), minlength=len(edges) - 1)


def codec_round_trip(codec, signal: torch.Tensor) -> np.ndarray:
    return codec.decode(codec.encode(signal)).numpy()


def resized_sizes(modality: str, codecs: list[str]) -> dict[str, int]:
    """Per codec, the side (images) or length (audio) of the benchmark's resize of its size."""
    return {kind.codec: kind.shape[-1] for kind in kinds(modality, codecs) if kind.source == "resized"}


def image_rows(task: TextTask, samples: int, resizes: dict[str, int]) -> list[dict]:
    codecs = {name: load_codec(name) for name in resizes}
    target = np.zeros(len(IMAGE_EDGES) - 1)
    kept = {key: [np.zeros_like(target), np.zeros_like(target)] for key in
            [*resizes, *(f"lanczos-{side}" for side in resizes.values())]}
    for i in range(samples):
        sample = task.sample(10, i)
        pixels = sample.image.transpose(2, 0, 1)  # uint8 [3, H, W]
        image = pixels.astype(np.float32)
        target += band_energy(image - sample.background.astype(np.float32).transpose(2, 0, 1), IMAGE_EDGES)
        for name, side in resizes.items():
            decoded = 255 * codec_round_trip(codecs[name], torch.from_numpy(pixels))
            resized = lanczos_round_trip(pixels[None], side)[0].astype(np.float32)
            for key, copy in ((name, decoded), (f"lanczos-{side}", resized)):
                kept[key][0] += band_energy(image, IMAGE_EDGES)
                kept[key][1] += band_energy(image - copy, IMAGE_EDGES)
    return _rows("text", IMAGE_EDGES, "cyc/px", target, kept)


def audio_rows(task: SpeechTask, samples: int, resamples: dict[str, int]) -> list[dict]:
    codecs = {name: load_codec(name) for name in resamples}
    target = np.zeros(len(AUDIO_EDGES) - 1)
    kept = {key: [np.zeros_like(target), np.zeros_like(target)] for key in
            [*resamples, *(f"resample-{n / 1000:.2f}k" for n in resamples.values())]}
    rate = 44100
    for i in range(samples):
        sample = task.sample(11, i)
        mix = sample.audio.T.astype(np.float32)  # [2, T]
        target += band_energy(sample.speech.T, AUDIO_EDGES, rate)
        for name, length in resamples.items():
            decoded = codec_round_trip(codecs[name], torch.from_numpy(mix))
            back = resample(resample(mix, length, axis=-1), mix.shape[-1], axis=-1)
            for key, copy in ((name, decoded), (f"resample-{length / 1000:.2f}k", back)):
                kept[key][0] += band_energy(mix, AUDIO_EDGES, rate)
                kept[key][1] += band_energy(mix - copy, AUDIO_EDGES, rate)
    return _rows("speech", AUDIO_EDGES, "kHz", target, kept)


def _rows(task: str, edges: tuple[float, ...], unit: str, target: np.ndarray, kept: dict) -> list[dict]:
    rows = []
    for b in range(len(edges) - 1):
        row = {"task": task, "band": f"{edges[b]:.3g}-{edges[b + 1]:.3g} {unit}",
               "target_share": 100 * target[b] / target.sum()}
        for key, (signal, error) in kept.items():
            row[key] = 10 * np.log10(signal[b] / max(error[b], 1e-20))
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=100, help="test samples per task (default: %(default)s)")
    parser.add_argument("--shared", type=Path, default=SHARED, help="the shared data folder")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "latent_bands.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    image = image_rows(TextTask(args.shared / "images" / "dev"), args.samples,
                       resized_sizes("image", ["rgb-16x-linear", "rgb-4x-linear"]))
    audio = audio_rows(SpeechTask(args.shared / "music" / "dev"), args.samples,
                       resized_sizes("audio", ["stereo-20x-linear", "stereo-5x-linear"]))
    for rows in (image, audio):
        columns = [(key, key, ".1f" if key != "band" and key != "task" else "") for key in rows[0]]
        print_table(rows, columns)
        print()
    path = write_json(args.out, "latent_bands", __doc__.strip().splitlines()[0],
                      {**env_info(1), "samples": args.samples}, image + audio)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
