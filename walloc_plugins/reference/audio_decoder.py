"""The authors' audio synthesis network: weight-normed convolutions with Snake activations.

It is the decoder of an Oobleck (Stable Audio) autoencoder with two blocks of stride 1, so
the frame rate never changes; its two 2-tap transposed convolutions each drop one frame,
which undoes the two frames the analysis projection adds. Module names are the
checkpoints' (``conv1``, ``block.0.res_unit1.snake1`` ...), with the legacy weight-norm
parameters ``weight_g`` and ``weight_v``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AudioDecoder", "Snake", "WeightNormConv1d", "WeightNormConvTranspose1d"]


class Snake(nn.Module):
    """``x + sin(a x)**2 / (b + 1e-9)`` per channel, with ``a = exp(alpha)``, ``b = exp(beta)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(1, channels, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + (self.beta.exp() + 1e-9).reciprocal() * torch.sin(self.alpha.exp() * x).pow(2)


def _weight_norm(conv: nn.Module) -> None:
    """Replace ``conv.weight`` by ``weight_g * weight_v / |weight_v|``, the norm taken over all
    axes but the first (the output channel of a convolution, the input channel of a
    transposed one), as the legacy ``torch.nn.utils.weight_norm`` stores it."""
    v = conv.weight.detach()
    del conv.weight
    conv.weight_g = nn.Parameter(v.norm(dim=(1, 2), keepdim=True))
    conv.weight_v = nn.Parameter(v)


def _weight(conv: nn.Module) -> torch.Tensor:
    return conv.weight_v * (conv.weight_g / conv.weight_v.norm(dim=(1, 2), keepdim=True))


class WeightNormConv1d(nn.Conv1d):
    """A ``Conv1d`` whose weight is stored as direction ``weight_v`` and gain ``weight_g``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _weight_norm(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, _weight(self), self.bias)


class WeightNormConvTranspose1d(nn.ConvTranspose1d):
    """A ``ConvTranspose1d`` whose weight is stored as ``weight_v`` and ``weight_g``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _weight_norm(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose1d(
            x, _weight(self), self.bias, self.stride, self.padding, self.output_padding, self.groups, self.dilation
        )


class _ResidualUnit(nn.Module):
    """x + conv1x1(Snake(conv7(Snake(x)))), the 7-tap convolution dilated, same length."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.snake1 = Snake(channels)
        self.conv1 = WeightNormConv1d(channels, channels, 7, dilation=dilation, padding=3 * dilation)
        self.snake2 = Snake(channels)
        self.conv2 = WeightNormConv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.snake2(self.conv1(self.snake1(x))))


class _Block(nn.Module):
    """Snake, a 2-tap transposed convolution (one frame shorter), residual units of dilation
    1, 3 and 9."""

    def __init__(self, channels: int, out_channels: int) -> None:
        super().__init__()
        self.snake1 = Snake(channels)
        self.conv_t1 = WeightNormConvTranspose1d(channels, out_channels, 2, padding=1)
        self.res_unit1 = _ResidualUnit(out_channels, 1)
        self.res_unit2 = _ResidualUnit(out_channels, 3)
        self.res_unit3 = _ResidualUnit(out_channels, 9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_t1(self.snake1(x))
        return self.res_unit3(self.res_unit2(self.res_unit1(x)))


class AudioDecoder(nn.Module):
    """Latent ``[B, latent_dim, t + 2]`` to wavelet bands ``[B, bands, t]``.

    ``conv1`` (7 taps, to ``width``), a block at ``width``, a block down to ``latent_dim``
    (the second half runs at the latent's width), Snake, and ``conv2`` (7 taps, to
    ``bands``, no bias). ``width`` is a multiple of ``latent_dim`` (756 in the published
    checkpoints, for 108 and 27 latent channels).
    """

    def __init__(self, latent_dim: int, bands: int, width: int) -> None:
        super().__init__()
        self.conv1 = WeightNormConv1d(latent_dim, width, 7, padding=3)
        self.block = nn.ModuleList([_Block(width, width), _Block(width, latent_dim)])
        self.snake1 = Snake(latent_dim)
        self.conv2 = WeightNormConv1d(latent_dim, bands, 7, padding=3, bias=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.block[1](self.block[0](self.conv1(z)))
        return self.conv2(self.snake1(x))
