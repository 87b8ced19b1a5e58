"""Runs the authors' reference implementation (PyPI ``walloc==1.2.1``) for the equality tests.

Run with the Python of the reference environment (``setup_env.sh``), never the project's:

    python reference_tool.py checkpoints OUT [--seed 0]
        random-weight checkpoints of the four published shapes, in the authors' layout:
        OUT/NAME.pth ({"model_state_dict"}) + OUT/NAME.json (the config's attributes), and
        OUT/logs/NAME.pth for RGB_16x and stereo_20x, training logs (state dict and the
        pickled __main__.Config, plus epoch, learning rates and numpy losses for the image
        codec), with no JSON beside.
    python reference_tool.py run INPUTS RESULTS CHECKPOINT...
        INPUTS (torch.save): {"images": [uint8 [H, W, 3]], "audio": [int16 [2, T]]}. For each
        checkpoint (its JSON beside it) RESULTS gets {"keys": [(name, shape)], and per input
        "u" companded latent, "q" rounded latent, "x_hat" reconstruction of q in [-0.5, 0.5]}.

Both follow the authors' usage (their README and evaluation notebooks): images as u8/255 - 0.5
with centred reflect padding to a multiple of 2**J and the crop after the clamp; audio with
the per-clip normalisation, zero padding to a multiple of 2**16 and the post filter.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F

warnings.filterwarnings("ignore")  # pkg_resources and legacy weight_norm deprecations
from walloc import walloc

AUDIO_BLOCK = 1 << 16
TRAINING = {  # the training notebooks' non-architecture fields
    "image": dict(batch_size=64, num_workers=12, grad_accum_steps=1, plot_update=128, patience=64,
                  min_lr=1e-7, max_lr=3e-5, warmup_steps=50000, weight_decay=0.0, epochs=150),
    "audio": dict(batch_size=32, num_workers=24, grad_accum_steps=1, plot_update=64, patience=64,
                  min_lr=1e-7, max_lr=3e-5, warmup_steps=5000, weight_decay=0.0, epochs=30,
                  epoch_len=10000, audio_length=2**19),
}
PUBLISHED = {  # name: (modality, channels, J, latent_dim)
    "RGB_16x": ("image", 3, 3, 12),
    "RGB_4x": ("image", 3, 3, 48),
    "stereo_5x": ("audio", 2, 8, 108),
    "stereo_20x": ("audio", 2, 8, 27),
}
PROJECTION_GAIN = {"image": 60.0, "audio": 100.0}  # spreads random latents over the 8-bit range
LOGGED = ("RGB_16x", "stereo_20x")  # also written as training logs (one of each kind is enough)


class Config:  # the notebooks' bare config class, pickled as __main__.Config
    pass


def make_config(modality: str, channels: int, levels: int, latent_dim: int) -> Config:
    config = Config()
    for key, value in TRAINING[modality].items():
        setattr(config, key, value)
    config.ϕ = 0.0
    config.channels, config.J, config.Ne, config.Nd = channels, levels, None, 768
    config.latent_dim, config.latent_bits, config.lightweight_encode = latent_dim, 8, True
    if modality == "audio":
        config.post_filter = True
    return config


def build(config) -> torch.nn.Module:
    arguments = dict(channels=config.channels, J=config.J, Ne=config.Ne, Nd=config.Nd,
                     latent_dim=config.latent_dim, latent_bits=config.latent_bits,
                     lightweight_encode=config.lightweight_encode)
    if hasattr(config, "post_filter"):
        return walloc.Codec1D(**arguments, post_filter=config.post_filter).eval()
    return walloc.Codec2D(**arguments).eval()


@torch.no_grad()
def randomise(codec: torch.nn.Module, modality: str) -> None:
    """Random weights in which every parameter matters (default init leaves Snake at 0,
    norms at 1 and weight-norm gains equal to the norms)."""
    for name, p in codec.named_parameters():
        if name.endswith(("alpha", "beta")):
            p.normal_(0.0, 0.3)
        elif name.endswith("weight_g"):
            p.mul_(torch.empty_like(p).uniform_(0.5, 1.5))
        elif "norm" in name and name.endswith("weight"):
            p.normal_(1.0, 0.1)
        elif name.endswith("bias"):
            p.normal_(0.0, 0.05)
    codec.encoder[0].weight.mul_(PROJECTION_GAIN[modality])
    if modality == "audio":  # keeps most of the reconstruction inside the output clamp
        codec.decoder[1].conv2.weight_g.mul_(0.05)


def checkpoints(out: Path, seed: int) -> None:
    (out / "logs").mkdir(parents=True, exist_ok=True)
    for index, (name, shape) in enumerate(PUBLISHED.items()):
        torch.manual_seed(seed + index)
        config = make_config(*shape)
        codec = build(config)
        randomise(codec, shape[0])
        state = codec.state_dict()
        torch.save({"model_state_dict": state}, out / f"{name}.pth")
        (out / f"{name}.json").write_text(json.dumps(vars(config), indent=4))
        if name not in LOGGED:
            continue
        log = {"model_state_dict": state, "config": config}
        if shape[0] == "image":
            log.update(i_epoch=149, learning_rates=[1e-7, 3e-5],
                       dist_losses=[np.log10(0.01), np.log10(0.005)])
        torch.save(log, out / "logs" / f"{name}.pth")


def load(path: Path) -> torch.nn.Module:
    config = SimpleNamespace(**json.loads(path.with_suffix(".json").read_text()))
    codec = build(config)
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    codec.load_state_dict(checkpoint["model_state_dict"])
    return codec


@torch.no_grad()
def code_image(codec, image: torch.Tensor) -> dict:
    x = image.permute(2, 0, 1)[None].to(torch.float) / 255 - 0.5
    height, width = x.shape[-2:]
    X = codec.wavelet_analysis(walloc.pad(x, 2**codec.J), J=codec.J)
    u = codec.encoder[0:2](X)
    q = codec.encoder[2](u)
    x_hat = codec.clamp(codec.wavelet_synthesis(codec.decoder(q), J=codec.J))
    return {"u": u[0], "q": q[0], "x_hat": walloc.crop(x_hat, (height, width))[0]}


@torch.no_grad()
def code_audio(codec, audio: torch.Tensor) -> dict:
    x = audio.to(torch.float)
    x = x - x.mean()
    x = x / (x.abs().max() + 1e-8)
    x = x / 2
    length = x.shape[-1]
    padded = F.pad(x[None], (0, -length % AUDIO_BLOCK))
    u = codec.encoder[0:2](codec.wavelet_analysis(padded, J=codec.J))
    q = codec.encoder[2](u)
    x_hat = codec.post(codec.wavelet_synthesis(codec.decoder(q), J=codec.J))
    return {"u": u[0], "q": q[0], "x_hat": codec.clamp(x_hat[0, :, :length])}


def run(inputs: Path, results: Path, paths: list[Path]) -> None:
    signals = torch.load(inputs)
    out = {}
    for path in paths:
        codec = load(path)
        audio = isinstance(codec, walloc.Codec1D)
        coded = [code_audio(codec, a) for a in signals["audio"]] if audio else [
            code_image(codec, i) for i in signals["images"]
        ]
        keys = [(k, tuple(v.shape)) for k, v in codec.state_dict().items()]
        out[path.stem] = {"keys": keys, "coded": coded}
    torch.save(out, results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("checkpoints")
    make.add_argument("out", type=Path)
    make.add_argument("--seed", type=int, default=0)
    coding = commands.add_parser("run")
    coding.add_argument("inputs", type=Path)
    coding.add_argument("results", type=Path)
    coding.add_argument("checkpoints", type=Path, nargs="+")
    args = parser.parse_args()
    if args.command == "checkpoints":
        checkpoints(args.out, args.seed)
    else:
        run(args.inputs, args.results, args.checkpoints)


if __name__ == "__main__":
    main()
