"""Training a codec: the wavelet bands of random crops once, then the learned parts on them.

The wavelet packet analysis is fixed, so training computes the bands of a pool of random crops
once and runs per step only the projection, the noisy bottleneck, the synthesis network and one
inverse transform, of the error (the transform is linear, so that is the signal-domain error of
the reference's loss). Decoding PNGs, cutting crops and the forward transform, most of a small
decoder's step on a CPU, leave the loop.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from .codec import WallocCodec
from .config import CodecConfig, TrainOptions
from .errors import InputError
from .registry import load_codec
from .wavelets import wpt_analysis, wpt_synthesis

__all__ = ["PRESETS", "TrainOptions", "bf16_is_fast", "train"]

log = logging.getLogger("walloc.train")

# The shipped codecs' shapes: decoders sized to decode faster than 2 MPix/s on 2 CPU cores.
PRESETS = {
    "rgb-16x": CodecConfig(modality="image", channels=3, levels=3, latent_dim=12, decoder_width=160, decoder_depth=3, decoder_kernel=3),
    "rgb-4x": CodecConfig(modality="image", channels=3, levels=3, latent_dim=48, decoder_width=160, decoder_depth=3, decoder_kernel=3),
    "gray-16x": CodecConfig(modality="image", channels=1, levels=3, latent_dim=4, decoder_width=96, decoder_depth=3, decoder_kernel=5),
    "stereo-20x": CodecConfig(modality="audio", channels=2, levels=8, latent_dim=27, decoder_width=256, decoder_depth=2, decoder_kernel=5, sample_rate=44100, frame_length=1 << 17),
    "stereo-5x": CodecConfig(modality="audio", channels=2, levels=8, latent_dim=108, decoder_width=256, decoder_depth=2, decoder_kernel=5, sample_rate=44100, frame_length=1 << 17),
}


def train(
    config: CodecConfig,
    data: Path,
    out: Path,
    options: TrainOptions,
    *,
    name: str,
    init: str | None = None,
    resume: bool = False,
    device: str = "cpu",
) -> Path:
    """Train ``config`` on the files under ``data``; writes ``out/NAME.pt`` and ``.json``.

    ``init`` names a codec of the same shape (e.g. the closed-form ``rgb-16x-linear``) whose
    analysis and linear decoder start the run; ``resume`` continues ``out/checkpoint.pt``
    exactly as the uninterrupted run would have gone on. Returns the path of the weights file.
    """
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(options.seed)
    codec = WallocCodec(config).to(device)
    if init:
        _start_from(codec, load_codec(init))
    pool = _band_pool(config, data, options)
    validation = next(_crops(config, data, replace(options, batch=16, seed=10_000 + options.seed), held_out=True))
    validation = validation.to(device)
    optimizer = torch.optim.AdamW(_parameter_groups(codec, options), weight_decay=options.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(step, options))
    draws = torch.Generator().manual_seed(options.seed)  # which pool entries each step trains on
    torch.manual_seed(options.seed)  # the bottleneck noise, whatever loading the codecs drew
    step, history = 0, []
    checkpoint = out / "checkpoint.pt"
    if resume and checkpoint.exists():
        state = torch.load(checkpoint, map_location=device, weights_only=True)
        codec.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        draws.set_state(state["draws"])
        torch.set_rng_state(state["noise"])
        step, history = state["step"], json.loads(state["history"])
        # The log as of the checkpoint: records written after it would come again.
        (out / "log.jsonl").write_text("".join(json.dumps(record) + "\n" for record in history))
        log.info("resumed at step %d", step)
    from tqdm import tqdm

    bar = tqdm(total=options.steps, initial=step, desc=f"training {name}", unit="step")
    if not history:  # where the run starts: the init's quality
        _record(out, history, step=0, val_psnr=_validate(codec, validation), seconds=0.0)
    codec.train()
    started = time.perf_counter() - history[-1]["seconds"]
    while step < options.steps:
        bands = pool[torch.randint(len(pool), (options.batch,), generator=draws)].to(device, torch.float32)
        with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=options.amp):
            estimate = codec.decoder(codec.encoder(bands))
        loss = _signal_mse(codec.config, estimate.float(), bands)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        step += 1
        bar.update()
        bar.set_postfix(loss=f"{loss.item():.2e}", psnr=f"{_psnr(loss.item()):.2f}")
        if step % options.validate_every == 0 or step == options.steps:
            _record(out, history, step=step, train_psnr=_psnr(loss.item()), val_psnr=_validate(codec, validation),
                    lr=schedule.get_last_lr()[0], seconds=time.perf_counter() - started)
        if step % options.checkpoint_every == 0 or step == options.steps:
            state = {"model": codec.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                     "draws": draws.get_state(), "noise": torch.get_rng_state(), "step": step,
                     "history": json.dumps(history)}
            _save_checkpoint(checkpoint, state)
    bar.close()
    provenance = {**asdict(options), "data": str(data), "init": init, "device": str(device)}
    return _export(codec.cpu().eval(), out, name, provenance, history)


def _record(out: Path, history: list, **record: float) -> None:
    """Append a validation record to the history and to ``out/log.jsonl``."""
    history.append(record)
    with (out / "log.jsonl").open("a") as fo:
        fo.write(json.dumps(record) + "\n")
    log.info("step %d: validation PSNR %.2f dB", record["step"], record["val_psnr"])


def bf16_is_fast(device: str) -> bool:
    """Whether bfloat16 autocast pays on ``device``: CUDA, or a CPU with AMX or AVX-512 BF16.

    CPU features are read from Linux's /proc/cpuinfo; elsewhere the CPU counts as without.
    """
    if torch.device(device).type == "cuda":
        return True
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def _signal_mse(config: CodecConfig, estimate: torch.Tensor, bands: torch.Tensor) -> torch.Tensor:
    """The signal-domain MSE of estimated bands: bands cost unequally in the signal (by up to 4x)."""
    return torch.mean(wpt_synthesis(estimate - bands, config.levels, config.ndim) ** 2)


def _parameter_groups(codec: WallocCodec, options: TrainOptions) -> list[dict]:
    """The linear parts (analysis, skip decoder) learn slowly: they start near an optimum."""
    linear = [*codec.encoder[0].parameters(), *codec.decoder[1].skip.parameters()]
    ids = {id(p) for p in linear}
    rest = [p for p in codec.parameters() if id(p) not in ids]
    return [{"params": rest, "lr": options.lr}, {"params": linear, "lr": options.lr * options.linear_lr_ratio}]


def _start_from(codec: WallocCodec, source: WallocCodec) -> None:
    """Copy the analysis and the linear decoder of a codec of the same shape."""
    if (source.config.bands, source.config.latent_dim) != (codec.config.bands, codec.config.latent_dim):
        raise InputError(f"cannot start from {source.name!r}: its latent has another shape")
    if source.config.decoder_kernel > codec.config.decoder_kernel:
        raise InputError(f"cannot start from {source.name!r}: its decoder kernel ({source.config.decoder_kernel}) "
                         f"is larger than this config's ({codec.config.decoder_kernel})")
    with torch.no_grad():
        codec.encoder[0].load_state_dict(source.encoder[0].state_dict())
        skip = source.decoder[1].skip
        if skip.weight.shape == codec.decoder[1].skip.weight.shape:
            codec.decoder[1].skip.load_state_dict(skip.state_dict())
        else:  # a smaller closed-form kernel goes to the centre of the larger one
            target = codec.decoder[1].skip
            target.weight.zero_()
            k, K = skip.weight.shape[-1], target.weight.shape[-1]
            lo = (K - k) // 2
            index = (..., *(slice(lo, lo + k),) * codec.config.ndim)
            target.weight[index] = skip.weight
            target.bias.copy_(skip.bias)


def _band_pool(config: CodecConfig, data: Path, options: TrainOptions) -> torch.Tensor:
    """The wavelet bands of ``options.pool`` random training crops, ``[N, bands, *grid]`` float16.

    Half precision halves the memory (bands stay within float16's range; its 11-bit precision
    is far finer than the codec's errors).
    """
    from tqdm import tqdm

    chunk = min(256, options.pool)
    crops = _crops(config, data, replace(options, batch=chunk))
    parts, done = [], 0
    with torch.no_grad(), tqdm(total=options.pool, desc="wavelet bands of the crops", unit="crop") as bar:
        while done < options.pool:
            n = min(chunk, options.pool - done)
            parts.append(wpt_analysis(next(crops)[:n], config.levels, config.ndim).half())
            done += n
            bar.update(n)
    return torch.cat(parts)


def _crops(config: CodecConfig, data: Path, options: TrainOptions, held_out: bool = False) -> Iterator[torch.Tensor]:
    """Endless batches of random crops, normalised as the codec normalises them.

    Every 20th file (at least one) is held out for validation (``held_out=True`` draws only
    from those).
    """
    rng = np.random.default_rng(options.seed)
    size = options.crop if config.modality == "image" else options.crop * config.stride
    signals = [s for s in _load(config, data, held_out) if min(s.shape[1:]) >= size]
    if not signals:
        part = "held-out" if held_out else "training"
        raise InputError(f"no {part} file under {data} is at least {size} samples along each axis; lower --crop")
    while True:
        batch = []
        for _ in range(options.batch):
            signal = signals[rng.integers(len(signals))]
            starts = [int(rng.integers(0, n - size + 1)) for n in signal.shape[1:]]
            crop = signal[(slice(None), *(slice(s, s + size) for s in starts))].astype(np.float32)
            if config.modality == "image":
                crop = crop / 255 - 0.5
                if rng.random() < 0.5:
                    crop = crop[..., ::-1]
            else:
                crop = crop / (2 * max(float(np.abs(crop).max()), 1e-4))
            batch.append(np.ascontiguousarray(crop))
        yield torch.from_numpy(np.stack(batch))


def _load(config: CodecConfig, data: Path, held_out: bool) -> list[np.ndarray]:
    from PIL import Image

    from .audiofile import AUDIO_SUFFIXES, read_audio

    files = sorted(p for p in data.rglob("*") if p.is_file())
    held = set(range(19, len(files), 20)) or {len(files) - 1}  # every 20th, at least one
    files = [p for i, p in enumerate(files) if (i in held) == held_out]
    signals = []
    for path in files:
        if config.modality == "image":
            try:
                with Image.open(path) as image:
                    array = np.asarray(image.convert("RGB" if config.channels == 3 else "L"))
            except OSError:
                continue
            signals.append(array.transpose(2, 0, 1) if array.ndim == 3 else array[None])
        elif path.suffix.lower() in AUDIO_SUFFIXES:
            audio, _ = read_audio(path, config.sample_rate)
            if audio.shape[1] == config.channels:
                signals.append(np.ascontiguousarray((audio.T * 32767).astype(np.int16)))
    if not signals:
        raise InputError(f"no usable {config.modality} files under {data} (training needs at least 2)")
    return signals


def _lr_factor(step: int, options: TrainOptions) -> float:
    """Linear warm-up, then cosine decay to 1 % of the peak."""
    if step < options.warmup:
        return (step + 1) / options.warmup
    progress = (step - options.warmup) / max(1, options.steps - options.warmup)
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def _validate(codec: WallocCodec, x: torch.Tensor) -> float:
    """PSNR with the hard (rounding) bottleneck on fixed held-out crops."""
    codec.eval()
    mse = torch.mean((codec(x).clamp(-0.5, 0.5) - x) ** 2).item()
    codec.train()
    return _psnr(mse)


def _psnr(mse: float) -> float:
    return 10 * math.log10(1 / max(mse, 1e-12))


def _save_checkpoint(path: Path, state: dict) -> None:
    from .files import atomic_write

    with atomic_write(path) as fo:
        torch.save(state, fo)


def _export(codec: WallocCodec, out: Path, name: str, provenance: dict, history: list) -> Path:
    weights = out / f"{name}.pt"
    digest = codec.save_weights(weights)
    card = {
        "config": codec.config.to_dict(),
        "description": f"trained WaLLoC codec, {codec.config.dimensionality_reduction:g}x",
        "meta": {"training": provenance, "start": history[0], "final": history[-1]},
        "name": name,
        "sha256": digest,
    }
    (out / f"{name}.json").write_text(json.dumps(card, indent=4, sort_keys=True) + "\n")
    return weights
