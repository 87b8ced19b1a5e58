"""The authors' image synthesis network: GroupNorm ResNet blocks and one global attention.

It is the decoder of a KL autoencoder with a single block, so it never upsamples: it maps
the latent to the wavelet bands at the latent's resolution. Module names are the
checkpoints' (``conv_in``, ``mid_block.resnets.0`` ...), so their state dicts load as they are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ImageDecoder"]

GROUPS, EPS = 32, 1e-6


def _norm(width: int) -> nn.GroupNorm:
    return nn.GroupNorm(GROUPS, width, eps=EPS)


class _ResnetBlock(nn.Module):
    """x + conv(SiLU(norm(conv(SiLU(norm(x)))))), 3x3 convolutions at a constant width."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = _norm(width), _norm(width)
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        return x + self.conv2(F.silu(self.norm2(h)))


class _Attention(nn.Module):
    """Single-head softmax self-attention over every position of the image, plus the input.

    Every output position depends on the whole latent, so an image decodes in one piece.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.group_norm = _norm(width)
        self.to_q, self.to_k, self.to_v = (nn.Linear(width, width) for _ in range(3))
        self.to_out = nn.ModuleList([nn.Linear(width, width)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, width, height, cols = x.shape
        tokens = self.group_norm(x).flatten(2).transpose(1, 2)  # [B, positions, width]
        heads = [proj(tokens)[:, None] for proj in (self.to_q, self.to_k, self.to_v)]
        mixed = self.to_out[0](F.scaled_dot_product_attention(*heads)[:, 0])
        return x + mixed.transpose(1, 2).reshape(batch, width, height, cols)


class _MidBlock(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.resnets = nn.ModuleList([_ResnetBlock(width), _ResnetBlock(width)])
        self.attentions = nn.ModuleList([_Attention(width)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resnets[1](self.attentions[0](self.resnets[0](x)))


class _UpBlock(nn.Module):
    """Three ResNet blocks (the authors' single block has no upsampler)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.resnets = nn.Sequential(*(_ResnetBlock(width) for _ in range(3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resnets(x)


class ImageDecoder(nn.Module):
    """Latent ``[B, latent_dim, h, w]`` to wavelet bands ``[B, bands, h, w]``.

    ``conv_in`` (3x3 to ``width``), a middle block (ResNet, attention, ResNet), three ResNet
    blocks, then GroupNorm, SiLU and ``conv_out`` (3x3 to ``bands``). GroupNorm uses 32 groups,
    so ``width`` must be a multiple of 32 (768 in the published checkpoints).
    """

    def __init__(self, latent_dim: int, bands: int, width: int) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(latent_dim, width, 3, padding=1)
        self.mid_block = _MidBlock(width)
        self.up_blocks = nn.ModuleList([_UpBlock(width)])
        self.conv_norm_out = _norm(width)
        self.conv_out = nn.Conv2d(width, bands, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.up_blocks[0](self.mid_block(self.conv_in(z)))
        return self.conv_out(F.silu(self.conv_norm_out(x)))
