"""`walloc eval`: rate, quality and speed of codecs against the codecs people would pick instead.

Images: JPEG, WebP and AVIF through Pillow and Lanczos resizing. Each Pillow codec runs a fixed
quality sweep per image, and its PSNR and MS-SSIM at the codec's bpp are interpolated linearly
in log(bpp) between the two neighbouring qualities (the method of shared/data/BASELINES.md;
outside the sweep the nearest end counts and the row says so). Audio: Opus and MP3 through
ffmpeg at the codec's bitrate and ideal (FFT) resampling with the same reduction.
"""

from __future__ import annotations

import io
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from . import api
from .metrics import ms_ssim, psnr
from .registry import load_codec

__all__ = ["SWEEPS", "evaluate_audio", "evaluate_images", "plot_rate_distortion"]

SWEEPS = {
    "JPEG": ((10, 20, 30, 40, 50, 60, 70, 80, 90, 95), {}),
    "WEBP": ((5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95), {"method": 4}),
    "AVIF": ((0, 10, 20, 30, 40, 50, 60, 70, 80, 90), {"speed": 6, "subsampling": "4:2:0", "max_threads": 1}),
}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm"}


def evaluate_images(codecs: list[str], folder: Path, baselines: tuple[str, ...] = tuple(SWEEPS)) -> dict[str, Any]:
    """Per-image and mean figures for ``codecs`` and the baselines on the images in ``folder``."""
    from tqdm import tqdm

    models = [load_codec(name) for name in codecs]
    mode = "L" if models[0].config.channels == 1 else "RGB"
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    rows = []
    for path in tqdm(paths, desc="evaluating", unit="image"):
        with Image.open(path) as image:
            pixels = np.asarray(image.convert(mode))
        row: dict[str, Any] = {"file": path.name, "width": pixels.shape[1], "height": pixels.shape[0]}
        sweeps = {fmt: _sweep(pixels, fmt) for fmt in baselines}
        row["sweeps"] = sweeps
        for model in models:
            row[model.name] = _codec_figures(model, pixels, sweeps)
        rows.append(row)
    return {"folder": str(folder), "mode": mode, "codecs": codecs, "per_image": rows, "mean": _means(rows, codecs, baselines)}


def _codec_figures(model: Any, pixels: np.ndarray, sweeps: dict[str, list[dict]]) -> dict[str, Any]:
    api.compress(pixels, model)  # warm-up: timings exclude first-call costs
    start = time.perf_counter()
    data = api.compress(pixels, model)
    encode = time.perf_counter() - start
    start = time.perf_counter()
    decoded = api.decompress(data, model)
    decode = time.perf_counter() - start
    megapixels = pixels.shape[0] * pixels.shape[1] / 1e6
    bpp = len(data) * 8 / (pixels.shape[0] * pixels.shape[1])
    reduction = model.config.dimensionality_reduction
    factor = round(math.sqrt(reduction))
    figures = {
        "bytes": len(data), "bpp": bpp, "compression_ratio": pixels.nbytes / len(data),
        "dimensionality_reduction": reduction, "psnr": psnr(pixels, decoded), "ms_ssim": ms_ssim(pixels, decoded),
        "encode_mpix_s": megapixels / encode, "decode_mpix_s": megapixels / decode,
        f"lanczos_x{factor}": _lanczos(pixels, factor),
    }
    for fmt, sweep in sweeps.items():
        figures[fmt.lower()] = _at_rate(sweep, bpp)
    return figures


def _sweep(pixels: np.ndarray, fmt: str) -> list[dict]:
    qualities, options = SWEEPS[fmt]
    image = Image.fromarray(pixels)
    points = []
    for quality in qualities:
        out = io.BytesIO()
        image.save(out, fmt, quality=quality, **options)
        decoded = np.asarray(Image.open(io.BytesIO(out.getvalue())).convert(image.mode))
        points.append({"q": quality, "bpp": out.tell() * 8 / (pixels.shape[0] * pixels.shape[1]),
                       "psnr": psnr(pixels, decoded), "ms_ssim": ms_ssim(pixels, decoded)})
    return sorted(points, key=lambda p: p["bpp"])


def _at_rate(sweep: list[dict], bpp: float) -> dict[str, Any]:
    """PSNR and MS-SSIM interpolated in log(bpp); ``clamped`` when outside the sweep."""
    rates = np.log([p["bpp"] for p in sweep])
    target = math.log(bpp)
    result = {key: float(np.interp(target, rates, [p[key] for p in sweep])) for key in ("psnr", "ms_ssim")}
    result["clamped"] = not rates[0] <= target <= rates[-1]
    return result


def _lanczos(pixels: np.ndarray, factor: int) -> dict[str, float]:
    height, width = pixels.shape[:2]
    small = Image.fromarray(pixels).resize((width // factor, height // factor), Image.LANCZOS)
    restored = np.asarray(small.resize((width, height), Image.LANCZOS))
    return {"psnr": psnr(pixels, restored), "ms_ssim": ms_ssim(pixels, restored)}


def _mean_figures(figures: list[dict[str, Any]]) -> dict[str, Any]:
    """Means of every figure (nested baselines too); ``clamped`` flags become counts."""
    mean: dict[str, Any] = {}
    for key, value in figures[0].items():
        if isinstance(value, dict):
            mean[key] = {k: float(np.mean([f[key][k] for f in figures])) for k in value if k != "clamped"}
            if "clamped" in value:
                mean[key]["clamped_images"] = sum(f[key]["clamped"] for f in figures)
        else:
            mean[key] = float(np.mean([f[key] for f in figures]))
    return mean


def _means(rows: list[dict], codecs: list[str], baselines: tuple[str, ...]) -> dict[str, Any]:
    means: dict[str, Any] = {name: _mean_figures([row[name] for row in rows]) for name in codecs}
    for fmt in baselines:  # mean sweep per quality, for the plot
        qualities = SWEEPS[fmt][0]
        means[f"{fmt.lower()}_sweep"] = [
            {k: float(np.mean([next(p[k] for p in row["sweeps"][fmt] if p["q"] == q) for row in rows]))
             for k in ("bpp", "psnr", "ms_ssim")} | {"q": q}
            for q in qualities
        ]
    return means


def evaluate_audio(codecs: list[str], folder: Path) -> dict[str, Any]:
    """Per-clip and mean figures for audio ``codecs`` on the clips in ``folder`` at their rate."""
    from tqdm import tqdm

    from .audiofile import AUDIO_SUFFIXES, read_audio

    models = [load_codec(name) for name in codecs]
    rate = models[0].config.sample_rate
    rows = []
    for path in tqdm(sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES), desc="evaluating"):
        audio, clip_rate = read_audio(path)
        if clip_rate != rate or audio.shape[1] != models[0].config.channels:
            continue  # the comparison is made at the codec's own rate and channel count
        row: dict[str, Any] = {"file": path.name, "samples": len(audio)}
        for model in models:
            row[model.name] = _audio_figures(model, audio, rate)
        rows.append(row)
    means = {name: _mean_figures([row[name] for row in rows]) for name in codecs}
    return {"folder": str(folder), "modality": "audio", "codecs": codecs, "per_clip": rows, "mean": means}


def _audio_figures(model: Any, audio: np.ndarray, rate: int) -> dict[str, Any]:
    from .metrics import snr

    api.compress(audio, model, sample_rate=rate)  # warm-up: timings exclude first-call costs
    start = time.perf_counter()
    data = api.compress(audio, model, sample_rate=rate)
    encode = time.perf_counter() - start
    start = time.perf_counter()
    decoded = api.decompress(data, model)
    decode = time.perf_counter() - start
    seconds, peak = len(audio) / rate, float(np.abs(audio).max())
    bits = len(data) * 8 / audio.size
    reduction = model.config.dimensionality_reduction
    figures: dict[str, Any] = {
        "bytes": len(data), "bits_per_sample": bits, "kbit_s": len(data) * 8 / seconds / 1000,
        "compression_ratio": audio.size * 16 / (len(data) * 8), "dimensionality_reduction": reduction,
        "snr": snr(audio, decoded), "psnr": psnr(audio, decoded, peak),
        "encode_msamples_s": audio.size / encode / 1e6, "decode_msamples_s": audio.size / decode / 1e6,
        "realtime_encode": seconds / encode, "realtime_decode": seconds / decode,
    }
    resampled = _ideal_resample(audio, reduction)
    figures["resample"] = {"snr": snr(audio, resampled), "psnr": psnr(audio, resampled, peak)}
    for codec in ("opus", "mp3"):
        baseline = _ffmpeg_round_trip(audio, rate, codec, figures["kbit_s"])
        figures[codec] = {"snr": snr(audio, baseline), "psnr": psnr(audio, baseline, peak)}
    return figures


def _ideal_resample(audio: np.ndarray, reduction: float) -> np.ndarray:
    """Keep the lowest 1/reduction of the spectrum: resampling down and up with an ideal filter."""
    spectrum = np.fft.rfft(audio, axis=0)
    spectrum[int(len(spectrum) / reduction) :] = 0
    return np.fft.irfft(spectrum, n=len(audio), axis=0).astype(np.float32)


def _ffmpeg_round_trip(audio: np.ndarray, rate: int, codec: str, kbit_s: float) -> np.ndarray:
    """Encode with libopus or libmp3lame at about ``kbit_s`` and decode, aligned to the input."""
    import subprocess

    from .audiofile import find_ffmpeg
    from .wav import read_wav, write_wav

    source = io.BytesIO()
    write_wav(source, audio, rate, bits=-32)
    encoder = ["-c:a", "libopus", "-b:a", f"{max(6, round(kbit_s))}k", "-f", "ogg"] if codec == "opus" else \
        ["-c:a", "libmp3lame", "-b:a", f"{max(8, round(kbit_s))}k", "-f", "mp3"]
    ffmpeg = [find_ffmpeg(), "-v", "error", "-nostdin"]
    coded = subprocess.run([*ffmpeg, "-f", "wav", "-i", "-", *encoder, "-"], input=source.getvalue(),
                           capture_output=True, check=True).stdout
    wav = subprocess.run([*ffmpeg, "-i", "-", "-ar", str(rate), "-f", "wav", "-c:a", "pcm_f32le", "-"], input=coded,
                         capture_output=True, check=True).stdout
    decoded, _ = read_wav(io.BytesIO(wav))
    return _align(audio, decoded)


def _align(reference: np.ndarray, decoded: np.ndarray, max_lag: int = 4096) -> np.ndarray:
    """Shift ``decoded`` by the lag of the cross-correlation peak and cut it to the reference."""
    n = min(len(reference), len(decoded))
    a, b = reference[:n].mean(axis=1), decoded[:n].mean(axis=1)
    size = 1 << int(np.ceil(np.log2(2 * n)))
    correlation = np.fft.irfft(np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size)), size)
    lags = np.r_[np.arange(0, max_lag + 1), np.arange(-max_lag, 0)]
    lag = int(lags[np.argmax(correlation[lags])])
    shifted = np.zeros_like(reference)
    source = decoded[max(0, -lag) : max(0, -lag) + len(reference) - max(0, lag)]
    shifted[max(0, lag) : max(0, lag) + len(source)] = source
    return shifted


def plot_rate_distortion(result: dict[str, Any], path: Path) -> Path:
    """PSNR against bpp: the baselines' mean sweeps as curves, each codec as a point."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from .errors import MissingDependencyError

        raise MissingDependencyError("matplotlib", extra="eval") from None
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for key, sweep in result["mean"].items():
        if key.endswith("_sweep"):
            ax.plot([p["bpp"] for p in sweep], [p["psnr"] for p in sweep], marker=".", label=key[:-6].upper())
    for index, name in enumerate(result["codecs"]):
        mean = result["mean"][name]
        ax.scatter([mean["bpp"]], [mean["psnr"]], s=90, marker="*", color=f"C{3 + index}", zorder=3,
                   label=f"{name} ({mean['dimensionality_reduction']:g}x)")
        lanczos = next(v for k, v in mean.items() if k.startswith("lanczos"))
        ax.axhline(lanczos["psnr"], color="grey", lw=0.8, ls=":")
    ax.set(xscale="log", xlabel="bits per pixel (whole file)", ylabel="PSNR (dB, 8-bit)",
           title=f"{Path(result['folder']).name}: {len(result['per_image'])} images (dotted: Lanczos, same reduction)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_json(result: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(result, indent=1) + "\n")
    return path
