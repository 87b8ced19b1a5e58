"""Neural parts of a codec: Gaussian-CDF companding, int8 quantisation and the synthesis network."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["Compander", "Decompander", "Quantizer", "SynthesisNet", "compander_constants"]


def compander_constants(bits: int) -> tuple[float, float]:
    """The reference's companding constants: input scale s and half range m for ``bits``.

    u = 2m (Phi(y / s) - 1/2) lies in (-m, m), and rounding gives 2^bits - 1 levels.
    """
    levels = 2 ** (bits - 1) - 1
    return levels / 1.85, levels + 0.5 - 0.001


class Compander(nn.Module):
    """Gaussian-CDF companding of the projected latent into (-m, m)."""

    def __init__(self, bits: int) -> None:
        super().__init__()
        self.scale, self.half_range = compander_constants(bits)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.half_range * torch.special.erf(y * (1 / (self.scale * math.sqrt(2))))


class Quantizer(nn.Module):
    """Uniform noise while training (a differentiable proxy), round half to even at inference."""

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        if self.training:
            return u + torch.rand_like(u) - 0.5
        return torch.round(u)


class Decompander(nn.Module):
    """Inverse of ``Compander``, with the reference's clamp of the CDF to [1e-4, 0.9999]."""

    def __init__(self, bits: int) -> None:
        super().__init__()
        self.scale, self.half_range = compander_constants(bits)

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        p = (q / (2 * self.half_range) + 0.5).clamp(1e-4, 0.9999)
        return self.scale * math.sqrt(2) * torch.special.erfinv(2 * p - 1)


class _ResidualBlock(nn.Module):
    def __init__(self, conv: type[nn.Module], width: int, kernel: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.SiLU(),
            conv(width, width, kernel, padding=kernel // 2),
            nn.SiLU(),
            conv(width, width, kernel, padding=kernel // 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SynthesisNet(nn.Module):
    """Latent to wavelet bands at the latent resolution: convolutions only, bounded field.

    ``skip`` is a linear decoder (one convolution, e.g. fitted in closed form); with
    ``width > 0`` a residual network ``body`` (``conv_in``, ``depth`` residual blocks,
    ``conv_out``) adds what a linear decoder cannot. Its last convolution starts at zero, so a
    network initialised from a closed-form codec starts exactly at that codec. With no
    attention and no normalisation over positions, a tile decoded with a margin of
    ``receptive_radius`` latent positions equals the same region of a whole-signal decode.
    """

    def __init__(
        self, ndim: int, latent_dim: int, bands: int, width: int, depth: int, kernel: int, input_scale: float = 1.0
    ) -> None:
        super().__init__()
        conv = nn.Conv2d if ndim == 2 else nn.Conv1d
        self.input_scale = input_scale  # brings dequantised latents (tens to hundreds) near unit scale
        pad = kernel // 2
        self.skip = conv(latent_dim, bands, kernel, padding=pad)
        self.body = None
        if width:
            conv_out = conv(width, bands, kernel, padding=pad)
            nn.init.zeros_(conv_out.weight)
            nn.init.zeros_(conv_out.bias)
            self.body = nn.Sequential(
                conv(latent_dim, width, kernel, padding=pad),
                *(_ResidualBlock(conv, width, kernel) for _ in range(depth)),
                nn.SiLU(),
                conv_out,
            )
        self.receptive_radius = pad * (1 + 2 * depth + (width > 0))

    def forward(self, y: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Bands ``[B, bands, *grid]``; ``keep`` (indices) computes only those output bands."""
        bands = _output_conv(self.skip, y, keep)
        if self.body is None:
            return bands
        return bands + _output_conv(self.body[-1], self.body[:-1](y * (1 / self.input_scale)), keep)


def _output_conv(conv: nn.Module, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
    if keep is None:
        return conv(x)
    return conv._conv_forward(x, conv.weight[keep], conv.bias[keep])
