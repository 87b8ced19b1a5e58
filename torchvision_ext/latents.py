"""Augmenting latents without decoding them: crops and flips on the latent grid, and batching.

A crop of ``(h, w)`` latent positions at ``(top, left)`` is the latent of the pixel crop of
``(h * s, w * s)`` at ``(top * s, left * s)``, ``s`` the codec's stride, except within a few
positions of the crop's edges, where the wavelet filters of the whole image saw pixels outside
the crop (4 positions at J = 3). A horizontal flip cannot be exact in general: see
``hflip_latent`` and docs/torchvision.md.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.data import default_collate

from walloc_plugins.codec import WallocCodec
from walloc_plugins.errors import InputError
from walloc_plugins.registry import get_entry, load_codec
from walloc_plugins.wavelets import wpt_analysis

__all__ = [
    "LatentRandomCrop",
    "LatentRandomHorizontalFlip",
    "collate_latents",
    "flip_classes",
    "hflip_latent",
]


class LatentRandomCrop(nn.Module):
    """Crop latents ``(..., D, h, w)`` (or audio ``(..., D, t)``) at a random grid position.

    Args:
        size: latent positions: an int for a square image crop, ``(h, w)`` for images, ``(t,)``
            for audio. The pixel crop it stands for is ``size`` times the codec's stride.
    """

    def __init__(self, size: int | Sequence[int]) -> None:
        super().__init__()
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        if not 1 <= len(self.size) <= 2 or not all(isinstance(n, int) and n > 0 for n in self.size):
            raise InputError(f"size must be a positive int, (h, w) or (t,), got {size!r}")

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        grid = latent.shape[-len(self.size) :]
        if latent.ndim <= len(self.size) or any(n < m for n, m in zip(grid, self.size)):
            raise InputError(
                f"cannot crop {self.size} positions from a latent {tuple(latent.shape)}"
            )
        index: list[Any] = [...]
        for n, m in zip(grid, self.size):
            start = int(torch.randint(n - m + 1, ()))
            index.append(slice(start, start + m))
        return latent[tuple(index)]

    def extra_repr(self) -> str:
        return f"size={self.size}"


class LatentRandomHorizontalFlip(nn.Module):
    """Flip image latents ``(..., D, h, w)`` left to right with probability ``p``.

    See ``hflip_latent`` for what the flipped latent is.

    Args:
        codec: the registered name of the codec the latents come from (its projection decides
            how each channel is flipped; the model is loaded once per process, on first use).
        p: probability of flipping.
    """

    def __init__(self, codec: str, p: float = 0.5) -> None:
        super().__init__()
        if get_entry(codec).config.modality != "image":
            raise InputError(f"codec {codec!r} codes audio; only image latents flip")
        if not 0.0 <= p <= 1.0:
            raise InputError(f"p must be a probability in [0, 1], got {p!r}")
        self.codec, self.p = codec, p

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        if torch.rand(()) >= self.p:
            return latent
        return hflip_latent(latent, load_codec(self.codec))

    def extra_repr(self) -> str:
        return f"codec={self.codec!r}, p={self.p}"


def hflip_latent(latent: torch.Tensor, codec: WallocCodec) -> torch.Tensor:
    """Mirror latents ``(..., D, h, w)`` left to right, channel by channel.

    The wavelet packet filters are symmetric, but mirroring an image moves each band's
    sampling phase. Mirrored about its first pixel column (``x'[..., i] = x[..., -i mod W]``
    on the padded width ``W = w * s``: ``torchvision``'s ``hflip`` then a circular shift of one
    pixel to the right), the bands whose horizontal filters are centred on block starts map to
    themselves with position ``j`` going to ``-j mod w`` (``even`` bands) and those centred on
    block middles with ``j`` going to ``w - 1 - j`` (``odd`` bands); every other band lands
    between grid positions and has no exact image on the grid. Each latent channel is moved
    the way of the band class that carries more of its projection weight
    (``flip_classes``), so a channel that reads only one class flips exactly, and the others
    approximately. docs/torchvision.md has the measured agreement.
    """
    cfg = codec.config
    if cfg.modality != "image" or latent.ndim < 3 or latent.shape[-3] != cfg.latent_dim:
        expected = f"(..., {cfg.latent_dim}, h, w)"
        raise InputError(
            f"codec {codec.name!r} flips latents {expected}, got {tuple(latent.shape)}"
        )
    odd, _ = flip_classes(codec)
    mirrored = latent.flip(-1)
    even_way = mirrored.roll(1, -1)  # j -> -j mod w
    return torch.where(odd.to(latent.device)[:, None, None], mirrored, even_way)


def flip_classes(codec: WallocCodec) -> tuple[torch.Tensor, torch.Tensor]:
    """Per latent channel: ``odd`` (flipped the way of odd bands) and ``leak``.

    ``leak`` is the fraction of the channel's projection weight energy on bands outside its
    class (float64): 0 means the channel flips exactly, and the error grows with it.
    """
    weight = codec.encoder[0].weight.detach().cpu().double().flatten(1) ** 2  # [D, bands]
    classes = _band_classes(codec.config.levels).repeat(codec.config.channels)
    energy = torch.stack([weight[:, classes == k].sum(1) for k in (0, 1)], dim=1)
    odd = energy[:, 1] > energy[:, 0]
    return odd, 1 - energy.max(dim=1).values / weight.sum(1)


@functools.cache
def _band_classes(levels: int) -> torch.Tensor:
    """Per 2D packet (natural order): 0 even, 1 odd, 2 neither, measured on a random image."""
    stride = 1 << levels
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, 1, 2 * stride, 4 * stride, dtype=torch.float64, generator=generator)
    bands = wpt_analysis(x, levels, ndim=2)[0]
    mirrored = wpt_analysis(x.flip(-1).roll(1, -1), levels, ndim=2)[0]
    even = torch.isclose(mirrored, bands.flip(-1).roll(1, -1), atol=1e-9).flatten(1).all(1)
    odd = torch.isclose(mirrored, bands.flip(-1), atol=1e-9).flatten(1).all(1)
    return torch.where(even, 0, torch.where(odd, 1, 2))


def collate_latents(
    batch: Sequence[Any], *, pad_value: float = 0, sizes: bool = False
) -> Any:
    """``collate_fn`` for latents of mixed grid sizes: pads them at the bottom and right.

    Samples are latents ``(D, *grid)`` or tuples whose first item is one (``(latent,
    target)``, as ``WlcFolder`` gives); the rest is collated by ``default_collate``. With
    ``sizes``, the second item of the result is each sample's grid size, ``(B, ndim)``
    int64, for masking the padding. Use ``functools.partial`` to set options (it pickles
    for DataLoader workers under spawn).
    """
    if not batch:
        raise InputError("collate_latents got an empty batch")
    paired = not isinstance(batch[0], torch.Tensor)
    latents = [sample[0] if paired else sample for sample in batch]
    ndim = latents[0].ndim - 1
    grid = torch.tensor([tuple(q.shape[1:]) for q in latents], dtype=torch.int64)
    if any(q.ndim != ndim + 1 or q.shape[0] != latents[0].shape[0] for q in latents):
        raise InputError("collate_latents needs latents with the same channel count and rank")
    shape = (len(latents), latents[0].shape[0], *grid.max(0).values.tolist())
    out = latents[0].new_full(shape, pad_value)
    for target, q in zip(out, latents):
        target[(..., *(slice(0, n) for n in q.shape[1:]))] = q
    head = (out, grid) if sizes else (out,)
    if not paired:
        return head[0] if not sizes else head
    return (*head, *default_collate([tuple(sample[1:]) for sample in batch]))
