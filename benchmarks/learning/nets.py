"""Classifiers of equal cost for inputs of different shapes: a stem per input, one shared trunk.

Every input of a task reaches the trunk on the same grid (32 x 32 positions for 256 x 256 images,
86 positions for a second of audio). The stem is one patchifying convolution whose patch is
what the input holds per grid position: 8 x 8 pixels of the full image, 2 x 2 of a 64 x 64 resize,
one position of a latent (a 1 x 1 channel-mixing convolution). Inputs with the same number of
values per position (a 64 x 64 resize and 16x latents: 12) get stems of the same size, so their
models match in parameters and FLOPs exactly; the trunk is the same for all.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def _conv(ndim: int) -> type[nn.Conv1d] | type[nn.Conv2d]:
    return nn.Conv2d if ndim == 2 else nn.Conv1d


def _norm(ndim: int, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if ndim == 2 else nn.BatchNorm1d(channels)


class Classifier(nn.Module):
    """Stem, then conv-norm-GELU stages that halve the grid twice, average pooling, linear.

    Args:
        in_channels: channels of the input (3 for pixels, 2 for stereo, D for latents).
        patch: input positions per grid position along each axis (its length is the rank).
        width: channels after the stem; the trunk widens to 2x and 4x.
        classes: number of outputs.
        depth: convolutions per stage after the first (more depth, same grid).
        kernel: trunk kernel size along each axis.
    """

    def __init__(self, in_channels: int, patch: tuple[int, ...], width: int, classes: int,
                 depth: int = 1, kernel: int = 3) -> None:
        super().__init__()
        ndim = len(patch)
        conv = _conv(ndim)
        self.stem = nn.Sequential(conv(in_channels, width, patch, patch), _norm(ndim, width), nn.GELU())
        layers: list[nn.Module] = []
        channels = width
        for stage in (2 * width, 4 * width):
            for stride in (2,) + (1,) * depth:
                layers += [conv(channels, stage, kernel, stride, kernel // 2, bias=False),
                           _norm(ndim, stage), nn.GELU()]
                channels = stage
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.trunk(self.stem(x))
        return self.head(features.flatten(2).mean(-1))


def cost(model: nn.Module, example: torch.Tensor) -> dict[str, float]:
    """Parameters and forward FLOPs (multiply-adds count 2) per sample of shape ``example``."""
    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(example[None].float())
    model.train(was_training)
    return {"params": sum(p.numel() for p in model.parameters()),
            "mflops": counter.get_total_flops() / 1e6}
