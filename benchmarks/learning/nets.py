"""Classifiers of equal cost for inputs of different shapes: a stem per input, one shared trunk.

Every input of a task reaches the trunk on the same grid (32 x 32 positions for 256 x 256 images,
86 positions for a second of audio). ``to_grid`` puts an input on it: the patch an input holds per
grid position (8 x 8 pixels of the full image, 2 x 2 of a 64 x 64 resize, one position of a
latent) becomes channels, and the stem is a 1 x 1 channel-mixing convolution: the same function
and initialisation as a patchifying convolution, but the copy is done once, not in every step,
and channels-last batches need no reordering. Inputs with the same number of values per position
(a 64 x 64 resize and 16x latents: 12) get stems of the same size, so their models match in
parameters and FLOPs exactly; the trunk is the same for all.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def to_grid(x: torch.Tensor, patch: tuple[int, ...]) -> torch.Tensor:
    """``[N, C, *size]`` samples as ``[N, C * prod(patch), *grid]``: each ``patch`` block of
    positions becomes channels (channel ``c * prod(patch) + offset``, the order of a convolution
    kernel's weights); trailing positions that fill no block are dropped, as a strided
    convolution drops them. Images come back channels-last, in their dtype."""
    n, c, *size = x.shape
    grid = [s // p for s, p in zip(size, patch)]
    x = x[(..., *(slice(g * p) for g, p in zip(grid, patch)))]
    if len(patch) == 2:
        blocks = x.reshape(n, c, grid[0], patch[0], grid[1], patch[1]).permute(0, 2, 4, 1, 3, 5)
        out = torch.empty((n, c * patch[0] * patch[1], *grid), dtype=x.dtype, memory_format=torch.channels_last)
        out.permute(0, 2, 3, 1).view(n, *grid, c, *patch).copy_(blocks)
        return out
    return x.reshape(n, c, grid[0], patch[0]).transpose(2, 3).reshape(n, c * patch[0], grid[0])


def _conv(ndim: int) -> type[nn.Conv1d | nn.Conv2d]:
    return nn.Conv2d if ndim == 2 else nn.Conv1d


def _norm(ndim: int, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if ndim == 2 else nn.BatchNorm1d(channels)


class Classifier(nn.Module):
    """Stem, then stages of conv-norm-GELU layers, average or max pooling, linear; for inputs
    on the trunk grid (``to_grid``).

    Stage ``i`` has ``width * 2**i`` channels and ``blocks[i]`` convolutions; stage 0 works on
    the stem's grid, every later stage starts with a stride-2 convolution.

    Args:
        in_channels: channels of the input on the grid (192 for 8 x 8 patches of RGB pixels,
            D for latents).
        ndim: 2 for images, 1 for audio.
        width: channels after the stem.
        classes: number of outputs.
        blocks: convolutions per stage.
        kernel: trunk kernel size along each axis.
        pool: how the grid becomes one prediction: ``"avg"`` or ``"max"`` pool the features
            before the linear head; ``"lse"`` applies the head at every grid position and pools
            the class scores with log-sum-exp (a smooth maximum: the position that shows the
            class best decides, which suits a small object anywhere in the input).
    """

    def __init__(self, in_channels: int, ndim: int, width: int, classes: int,
                 blocks: tuple[int, ...] = (0, 2, 2), kernel: int = 3, pool: str = "avg") -> None:
        super().__init__()
        conv = _conv(ndim)
        self.stem = nn.Sequential(conv(in_channels, width, 1), _norm(ndim, width), nn.GELU())
        layers: list[nn.Module] = []
        channels = width
        for stage, count in enumerate(blocks):
            for block in range(count):
                stride = 2 if stage and not block else 1
                out = width << stage
                layers += [conv(channels, out, kernel, stride, kernel // 2, bias=False),
                           _norm(ndim, out), nn.GELU()]
                channels = out
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Linear(channels, classes)
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.trunk(self.stem(x)).flatten(2)
        if self.pool == "lse":
            scores = self.head(features.transpose(1, 2))  # [B, positions, classes]
            return scores.logsumexp(1) - math.log(scores.shape[1])
        return self.head(features.amax(-1) if self.pool == "max" else features.mean(-1))


def cost(model: nn.Module, example: torch.Tensor) -> dict[str, float]:
    """Parameters and forward FLOPs (multiply-adds count 2) per sample of shape ``example``."""
    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(example[None].float())
    model.train(was_training)
    return {"params": sum(p.numel() for p in model.parameters()),
            "mflops": counter.get_total_flops() / 1e6}
