"""Classifiers of equal cost for inputs of different shapes: a stem per input, one shared trunk.

Every input of a task reaches the trunk on the same grid (32 x 32 positions for 256 x 256 images,
86 positions for a second of audio). The stem is one patchifying convolution whose patch is
what the input holds per grid position: 8 x 8 pixels of the full image, 2 x 2 of a 64 x 64 resize,
one position of a latent (a 1 x 1 channel-mixing convolution). Inputs with the same number of
values per position (a 64 x 64 resize and 16x latents: 12) get stems of the same size, so their
models match in parameters and FLOPs exactly; the trunk is the same for all.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def _conv(ndim: int) -> type[nn.Conv1d] | type[nn.Conv2d]:
    return nn.Conv2d if ndim == 2 else nn.Conv1d


def _norm(ndim: int, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if ndim == 2 else nn.BatchNorm1d(channels)


class Classifier(nn.Module):
    """Stem, then stages of conv-norm-GELU layers, average or max pooling, linear.

    Stage ``i`` has ``width * 2**i`` channels and ``blocks[i]`` convolutions; stage 0 works on
    the stem's grid, every later stage starts with a stride-2 convolution.

    Args:
        in_channels: channels of the input (3 for pixels, 2 for stereo, D for latents).
        patch: input positions per grid position along each axis (its length is the rank).
        width: channels after the stem.
        classes: number of outputs.
        blocks: convolutions per stage.
        kernel: trunk kernel size along each axis.
        pool: how the grid becomes one prediction: ``"avg"`` or ``"max"`` pool the features
            before the linear head; ``"lse"`` applies the head at every grid position and pools
            the class scores with log-sum-exp (a smooth maximum: the position that shows the
            class best decides, which suits a small object anywhere in the input).
    """

    def __init__(self, in_channels: int, patch: tuple[int, ...], width: int, classes: int,
                 blocks: tuple[int, ...] = (0, 2, 2), kernel: int = 3, pool: str = "avg") -> None:
        super().__init__()
        ndim = len(patch)
        conv = _conv(ndim)
        self.stem = nn.Sequential(conv(in_channels, width, patch, patch), _norm(ndim, width), nn.GELU())
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
