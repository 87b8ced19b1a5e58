"""Fit the closed-form linear codecs shipped in walloc_plugins/models (no gradient descent).

Analysis: the top principal directions of the wavelet packet bands, each scaled by a gain
min(alpha, cap / sigma) so that strong components do not saturate the compander. Synthesis:
the least-squares linear decoder (one k x k convolution) from the dequantised latents of the
training set to the bands. Deterministic: the same data gives the same weights.

    python tools/fit_linear.py image rgb-16x-linear --latent-dim 12
    python tools/fit_linear.py image rgb-16x-linear --latent-dim 12 --sweep   # pick alpha/cap
    python tools/fit_linear.py audio stereo-20x-linear --latent-dim 27
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from walloc_plugins.audiofile import read_audio
from walloc_plugins.codec import WallocCodec
from walloc_plugins.config import CodecConfig
from walloc_plugins.wavelets import wpt_analysis

SHARED = ROOT.parent / "shared" / "data"
MODELS = ROOT / "walloc_plugins" / "models"


def image_signals(folder: Path, gray: bool, every: int = 1, offset: int = 0) -> Iterator[torch.Tensor]:
    for path in sorted(folder.glob("*.png"))[offset::every]:
        with Image.open(path) as image:
            array = np.asarray(image.convert("L" if gray else "RGB"), np.float32) / 255
        x = torch.from_numpy(array)
        yield (x[None] if gray else x.permute(2, 0, 1)) - 0.5


def audio_signals(folder: Path, frame: int, per_track: int) -> Iterator[torch.Tensor]:
    """Evenly spaced frames of each track, peak-normalised to 0.5 as the codec does."""
    for path in sorted(folder.glob("*.flac")):
        audio, _ = read_audio(path, 44100)
        starts = np.linspace(0, max(0, len(audio) - frame), per_track).astype(int)
        for start in starts:
            x = torch.from_numpy(np.ascontiguousarray(audio[start : start + frame].T))
            if x.shape[1] == frame and x.abs().max() > 1e-4:
                yield x / (2 * x.abs().max())


@torch.no_grad()
def principal_components(cfg: CodecConfig, signals: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """Mean, standard deviations and directions (rows) of the wavelet packet bands."""
    bands = cfg.bands
    total, gram, count = torch.zeros(bands, dtype=torch.float64), torch.zeros(bands, bands, dtype=torch.float64), 0
    for x in tqdm(signals, desc="covariance", file=sys.stderr):
        X = wpt_analysis(x[None].double(), cfg.levels, cfg.ndim)[0].reshape(bands, -1)
        total += X.sum(1)
        gram += X @ X.T
        count += X.shape[1]
    mean = total / count
    eigenvalues, vectors = torch.linalg.eigh(gram / count - torch.outer(mean, mean))
    order = eigenvalues.argsort(descending=True)
    return mean, eigenvalues[order].clamp_min(1e-12).sqrt(), vectors[:, order].T


@torch.no_grad()
def fit(cfg: CodecConfig, signals: list[torch.Tensor], pcs: tuple[torch.Tensor, ...], alpha: float, cap: float) -> WallocCodec:
    codec = WallocCodec(cfg).double()
    ndim, bands = cfg.ndim, cfg.bands
    mean, sigma, directions = pcs[0], pcs[1][: cfg.latent_dim], pcs[2][: cfg.latent_dim]
    gain = torch.minimum(torch.full_like(sigma, alpha), cap / sigma)
    weight = gain[:, None] * directions
    projection = codec.encoder[0]
    projection.weight.copy_(weight.reshape(projection.weight.shape))
    projection.bias.copy_(-(weight @ mean))
    # least-squares decoder from the dequantised latents
    kernel = cfg.decoder_kernel
    features = cfg.latent_dim * kernel**ndim + 1
    A = torch.zeros(features, features, dtype=torch.float64)
    B = torch.zeros(features, bands, dtype=torch.float64)
    for x in tqdm(signals, desc="decoder", file=sys.stderr):
        X = wpt_analysis(x[None].double(), cfg.levels, ndim)[0].reshape(bands, -1)
        y_hat = codec.decoder[0](torch.round(codec._encode_bands(x[None].double(), stages=2)))
        Fm = _neighbourhoods(y_hat, kernel, ndim)
        A += Fm @ Fm.T
        B += Fm @ X.T
    A += 1e-6 * torch.eye(features, dtype=torch.float64) * A.diagonal().mean()
    theta = torch.linalg.solve(A, B)  # [features, bands]
    conv = codec.decoder[1].skip
    conv.weight.copy_(theta[:-1].T.reshape(conv.weight.shape))
    conv.bias.copy_(theta[-1])
    return codec.float()


def _neighbourhoods(y: torch.Tensor, kernel: int, ndim: int) -> torch.Tensor:
    """[1, D, *grid] -> [D * k^ndim + 1, positions], zero-padded like the decoder's conv."""
    if ndim == 2:
        cols = F.unfold(y, kernel, padding=kernel // 2)[0]
    else:
        cols = F.unfold(y[..., None], (kernel, 1), padding=(kernel // 2, 0))[0]
    return torch.cat([cols, torch.ones(1, cols.shape[1], dtype=cols.dtype)])


def evaluate(codec: WallocCodec, signals: list[torch.Tensor]) -> tuple[float, float]:
    """Mean PSNR (8-bit for images, peak 1 for audio) and bits per value of the WebP payload."""
    from walloc_plugins.entropy import WebPCoder

    coder, psnrs, bits, values = WebPCoder(), [], 0, 0
    for x in signals:
        image = codec.config.modality == "image"
        latent = codec.encode((x + 0.5) if image else 2 * x)
        x_hat = codec.decode(latent)
        if image:
            ref, out = ((x + 0.5) * 255).round(), (x_hat * 255).round()
            psnrs.append(10 * np.log10(255**2 / float(((ref - out) ** 2).mean())))
        else:
            psnrs.append(10 * np.log10(1 / float(((2 * x - x_hat) ** 2).mean())))
        bits += 8 * len(coder.encode(latent.q.numpy()))
        values += x.shape[-1] * (x.shape[-2] if image else x.shape[0])
    return float(np.mean(psnrs)), bits / values


def save(codec: WallocCodec, name: str, description: str, meta: dict) -> None:
    MODELS.mkdir(exist_ok=True)
    digest = codec.save_weights(MODELS / f"{name}.pt")
    card = {"config": codec.config.to_dict(), "description": description, "meta": meta, "sha256": digest}
    (MODELS / f"{name}.json").write_text(json.dumps(card, indent=4, sort_keys=True) + "\n")
    print(f"wrote {MODELS / name}.pt/.json (sha256 {digest[:12]})", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modality", choices=["image", "audio"])
    parser.add_argument("name")
    parser.add_argument("--latent-dim", type=int, required=True)
    parser.add_argument("--channels", type=int, default=None, help="default 3 (image) / 2 (audio)")
    parser.add_argument("--alpha", type=float, default=12.0, help="gain of weak components")
    parser.add_argument("--cap", type=float, default=40.0, help="max gain x sigma of a component")
    parser.add_argument("--kernel", type=int, default=3, help="decoder kernel size")
    parser.add_argument("--sweep", action="store_true", help="print train-subset PSNR/rate for a grid")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    if args.modality == "image":
        channels = args.channels or 3
        cfg = CodecConfig(modality="image", channels=channels, levels=3, latent_dim=args.latent_dim, decoder_kernel=args.kernel)
        folder = SHARED / "images" / "train"
        train = list(image_signals(folder, channels == 1))
        held_out = list(image_signals(folder, channels == 1, every=8, offset=3))
        data = "shared/data/images/train (431 crops, 512x512)"
    else:
        channels = args.channels or 2
        cfg = CodecConfig(modality="audio", channels=channels, levels=8, latent_dim=args.latent_dim, decoder_kernel=args.kernel, sample_rate=44100, frame_length=1 << 17)
        train = list(audio_signals(SHARED / "music" / "train", cfg.frame_length, per_track=12))  # type: ignore[arg-type]
        held_out = train[5::16]
        data = "shared/data/music/train (get-music.sh train; 12 frames of 2^17 samples per track)"
    grid = [(a, c) for a in (8, 12, 16) for c in (40, 60)] if args.sweep else [(args.alpha, args.cap)]
    pcs = principal_components(cfg, train)
    for alpha, cap in grid:
        codec = fit(cfg, train, pcs, alpha, cap)
        psnr, rate = evaluate(codec, held_out)
        print(f"alpha {alpha:5.1f} cap {cap:5.1f}: train-subset PSNR {psnr:.2f} dB at {rate:.3f} bits per value", flush=True)
    if not args.sweep:
        save(
            codec,
            args.name,
            f"closed-form linear codec: PCA analysis, least-squares {args.kernel}-tap decoder, {cfg.dimensionality_reduction:g}x",
            {"alpha": alpha, "cap": cap, "data": data, "train_subset_psnr_db": round(psnr, 2), "train_subset_bits_per_value": round(rate, 4), "fitted_by": "tools/fit_linear.py"},
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
