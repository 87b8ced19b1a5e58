"""Training and testing one classifier on in-memory tensors: the same loop for every input kind.

Inputs are put on the trunk grid once (``nets.to_grid``), stay in their storage type (uint8,
int16, int8, float16) and are normalised per batch with per-channel statistics of the training
set. The one augmentation is a random crop on the trunk grid (``crop`` grid positions fewer
along each axis), which cuts the same region out of every kind of input: a crop of latents in
units of the codec's stride, of pixels in units of the stem's patch. Horizontal flips are left
out: a mirrored word is not the word.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .nets import Classifier, cost, to_grid


@dataclass(frozen=True)
class Recipe:
    """What every model of a task shares: architecture size, optimiser and schedule."""

    width: int = 16
    blocks: tuple[int, ...] = (0, 2, 2)
    kernel: int = 3
    pool: str = "avg"
    epochs: int = 4
    batch: int = 128
    lr: float = 3e-3
    weight_decay: float = 0.05
    warmup: float = 0.1  # fraction of the steps with a linear warm-up
    crop: int = 2  # grid positions cut off each axis by the random training crop
    bf16: bool = True  # bfloat16 autocast (fast matrix units on recent CPUs)
    norm: str = "channel"  # "channel": each input channel to zero mean, unit variance; "global": one scale


def channel_stats(x: np.ndarray, chunk: int = 1024, pooled: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation of ``[N, C, ...]`` data, computed in chunks;
    ``pooled``: the channels' means, and one standard deviation over all channels."""
    total = np.zeros(x.shape[1], np.float64)
    squares = np.zeros(x.shape[1], np.float64)
    axes = (0, *range(2, x.ndim))
    for i in range(0, len(x), chunk):
        part = x[i : i + chunk].astype(np.float64)
        total += part.sum(axes)
        squares += (part**2).sum(axes)
    count = len(x) * np.prod(x.shape[2:])
    mean = total / count
    variance = squares / count - mean**2
    std = np.sqrt(np.maximum(np.full_like(variance, variance.mean()) if pooled else variance, 1e-12))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return torch.tensor(mean, dtype=torch.float32).view(shape), torch.tensor(std, dtype=torch.float32).view(shape)


def _crops(x: torch.Tensor, index: torch.Tensor, cut: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Samples ``index`` of grid inputs ``x``, each a random crop ``cut`` positions smaller
    along each axis (views, not copies)."""
    sizes = [n - cut for n in x.shape[2:]]
    starts = torch.randint(cut + 1, (len(index), len(sizes)), generator=generator)
    return [x[(i, slice(None), *(slice(s, s + n) for s, n in zip(start, sizes)))]
            for i, start in zip(index.tolist(), starts.tolist())]


def _normalised(samples: list[torch.Tensor], mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """One float32 batch of ``samples`` in the training layout, ``(x - mean) / std``: one copy
    that converts the type, then in place."""
    out = torch.empty((len(samples), *samples[0].shape), memory_format=_layout(samples[0].ndim + 1))
    for row, sample in zip(out, samples):
        row.copy_(sample)
    return out.sub_(mean).div_(std)


def _layout(ndim: int) -> torch.memory_format:
    """Channels-last for images: oneDNN's convolutions train ~1.5x faster on it on CPUs."""
    return torch.channels_last if ndim == 4 else torch.contiguous_format


def _peak_rss_reset() -> bool:
    """Reset the kernel's peak resident-memory mark of this process (Linux); False if unable."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_rss_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def fit(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
        patch: tuple[int, ...], classes: int, recipe: Recipe, seed: int, label: str = "",
        position: int = 0) -> dict:
    """Train a fresh ``Classifier`` with ``recipe`` and ``seed``; test it on the test set.

    ``label`` and ``position`` name and place the progress bar.

    Returns accuracy (percent), training samples per second (steps with batch assembly,
    no testing), peak resident memory (MB, whole process), the mean training loss of each
    epoch (where a run leaves the plateau at chance), and parameters and MFLOPs.
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    mean, std = (s.repeat_interleave(math.prod(patch), 1)  # grid channel c * prod(patch) + offset
                 for s in channel_stats(x_train, pooled=recipe.norm == "global"))
    x_all, y_all = to_grid(torch.from_numpy(x_train), patch), torch.from_numpy(y_train).long()
    x_test = to_grid(torch.from_numpy(x_test), patch)
    model = Classifier(x_all.shape[1], len(patch), recipe.width, classes, recipe.blocks,
                       recipe.kernel, recipe.pool)
    figures = cost(model, x_all[0])
    optimiser = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    steps = recipe.epochs * math.ceil(len(x_train) / recipe.batch)
    warmup = max(1, int(recipe.warmup * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: min(
        (s + 1) / warmup, 0.5 * (1 + math.cos(math.pi * min(1.0, (s - warmup) / max(1, steps - warmup))))))
    model = model.to(memory_format=_layout(x_all.ndim))
    tracked = _peak_rss_reset()
    model.train()
    seconds, seen, epoch_losses = 0.0, 0, []
    with tqdm(total=steps, desc=f"{label} seed {seed}", unit="step", leave=False, position=position) as bar:
        for _ in range(recipe.epochs):
            order = torch.randperm(len(x_all), generator=generator)
            epoch_losses.append(0.0)
            for first in range(0, len(order), recipe.batch):
                start = time.perf_counter()
                index = order[first : first + recipe.batch]
                x = _normalised(_crops(x_all, index, recipe.crop, generator), mean, std)
                with torch.autocast("cpu", torch.bfloat16, enabled=recipe.bf16):
                    loss = nn.functional.cross_entropy(model(x), y_all[index])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                schedule.step()
                seconds += time.perf_counter() - start
                seen += len(index)
                value = loss.item()
                epoch_losses[-1] += value * len(index) / len(order)
                bar.set_postfix(loss=f"{value:.3f}", refresh=False)
                bar.update()
    accuracy = evaluate(model, x_test, y_test, mean, std, recipe)
    return {"seed": seed, "accuracy": accuracy, "train_samples_per_s": seen / seconds,
            "train_s": seconds, "peak_rss_mb": _peak_rss_mb() if tracked else None,
            "final_loss": value, "epoch_losses": epoch_losses, **figures, "recipe": asdict(recipe)}


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: np.ndarray, mean: torch.Tensor, std: torch.Tensor,
             recipe: Recipe) -> float:
    """Top-1 accuracy in percent on the whole (uncropped) grid inputs ``x``."""
    model.eval()
    correct = 0
    for first in range(0, len(x), 256):
        batch = _normalised(list(x[first : first + 256]), mean, std)
        with torch.autocast("cpu", torch.bfloat16, enabled=recipe.bf16):
            predicted = model(batch).argmax(1)
        correct += int((predicted.numpy() == y[first : first + 256]).sum())
    return 100 * correct / len(x)
