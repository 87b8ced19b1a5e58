"""Speed of the wavelet packet transform against PyWavelets' per-channel packet transform.

Run from the repository root: ``python benchmarks/bench_wavelets.py [--repeat N] [--threads T]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pywt
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, run as a script
try:
    from ._common import env_info, print_table, time_call, write_json
except ImportError:  # run as a script: benchmarks/ is sys.path[0]
    from _common import env_info, print_table, time_call, write_json

from walloc_plugins.wavelets import wpt_analysis, wpt_synthesis

DEV_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "images" / "dev"
WAVELET, MODE = "bior4.4", "periodization"
COLUMNS = [
    ("case", "case", ""), ("op", "op", ""), ("impl", "impl", ""), ("shape", "shape", ""),
    ("levels", "J", "d"), ("median_ms", "median ms", ".2f"), ("min_ms", "min ms", ".2f"),
    ("throughput", "rate", ".1f"), ("unit", "unit", ""), ("speedup_vs_pywt", "x pywt", ".1f"),
    ("max_abs_err", "max err", ".1e"),
]


def load_image() -> torch.Tensor:
    """[1, 3, 512, 768] in [-0.5, 0.5]: the real photo if present, else seeded noise."""
    try:
        from PIL import Image

        with Image.open(DEV_IMAGES / "jxl-flower.png") as image:
            array = np.asarray(image.convert("RGB"), np.float32) / 255 - 0.5
        return torch.from_numpy(array).permute(2, 0, 1)[None].contiguous()
    except (ImportError, OSError):
        return torch.rand(1, 3, 512, 768, generator=torch.Generator().manual_seed(0)) - 0.5


def make_audio(samples: int = 441088, rate: int = 44100) -> torch.Tensor:
    """[1, 2, samples]: ten seconds of a seeded chord plus noise (the speed is content-blind)."""
    t = np.arange(samples) / rate
    rng = np.random.default_rng(0)
    chord = sum(0.1 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    left = chord + 0.02 * rng.standard_normal(samples)
    right = np.roll(chord, 441) + 0.02 * rng.standard_normal(samples)
    return torch.from_numpy(np.stack([left, right]).astype(np.float32))[None]


def pywt_analysis(x: np.ndarray, levels: int) -> list[list[pywt.BaseNode]]:
    """PyWavelets' level-J packet nodes of every channel of ``x`` [C, *size], natural order."""
    cls = pywt.WaveletPacket if x.ndim == 2 else pywt.WaveletPacket2D
    return [cls(ch, WAVELET, mode=MODE, maxlevel=levels).get_level(levels, order="natural")
            for ch in x]


def pywt_synthesis(nodes: list[list[pywt.BaseNode]], levels: int, ndim: int) -> np.ndarray:
    """Rebuild a packet tree per channel from its level-J nodes and reconstruct."""
    cls = pywt.WaveletPacket if ndim == 1 else pywt.WaveletPacket2D
    out = []
    for channel in nodes:
        tree = cls(None, WAVELET, mode=MODE, maxlevel=levels)
        for node in channel:
            tree[node.path] = node.data
        out.append(tree.reconstruct(update=False))
    return np.stack(out)


def bench_case(
    name: str, x: torch.Tensor, levels: int, ndim: int, repeat: int, warmup: int
) -> list[dict]:
    """Analysis and synthesis of ``x`` [1, C, *size] by this package and by PyWavelets."""
    if ndim == 2:
        unit, count = "MPix/s", x.shape[-2] * x.shape[-1]
    else:
        unit, count = "MSamples/s", x[0].numel()  # both channels
    X = wpt_analysis(x, levels, ndim)
    data = x[0].double().numpy()
    nodes = pywt_analysis(data, levels)
    reference = np.concatenate([np.stack([n.data for n in channel]) for channel in nodes])
    errors = {
        "analysis": float(np.abs(X[0].double().numpy() - reference).max()),
        "synthesis": float((wpt_synthesis(X, levels, ndim) - x).abs().max()),
    }
    calls = {
        ("analysis", "torch"): lambda: wpt_analysis(x, levels, ndim),
        ("analysis", "pywt"): lambda: pywt_analysis(data, levels),
        ("synthesis", "torch"): lambda: wpt_synthesis(X, levels, ndim),
        ("synthesis", "pywt"): lambda: pywt_synthesis(nodes, levels, ndim),
    }
    rows = []
    for op in ("analysis", "synthesis"):
        base = time_call(calls[op, "pywt"], max(3, repeat // 5), min(warmup, 1))  # ~20x slower
        ours = time_call(calls[op, "torch"], repeat, warmup)
        for impl, timing in (("torch", ours), ("pywt", base)):
            rows.append({
                "case": name, "op": op, "impl": impl, "shape": "x".join(map(str, x.shape)),
                "levels": levels, "dtype": "float32", **timing,
                "throughput": count / timing["median_ms"] / 1e3, "unit": unit,
                "speedup_vs_pywt": base["median_ms"] / timing["median_ms"],
                "max_abs_err": errors[op] if impl == "torch" else None,
            })
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50, help="timed runs (median reported)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs first")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"
                                             / "wavelets.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = bench_case("image 768x512 RGB", load_image(), 3, 2, args.repeat, args.warmup)
    rows += bench_case("audio 10 s stereo", make_audio(), 8, 1, args.repeat, args.warmup)
    print_table(rows, COLUMNS)
    description = (
        "wpt_analysis / wpt_synthesis (bior4.4, periodization) in float32 against PyWavelets' "
        "per-channel WaveletPacket(2D) on the same data in the same run; median of --repeat "
        "timed runs after --warmup (PyWavelets: repeat/5, at least 3). max_abs_err: analysis "
        "against PyWavelets, synthesis against the input."
    )
    path = write_json(args.out, "wavelets", description, env_info(args.threads), rows)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
