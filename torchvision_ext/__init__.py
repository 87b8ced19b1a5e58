"""WaLLoC for PyTorch data pipelines: transforms, IO and datasets in torchvision / torchaudio style.

Needs only torch to import; torchvision's ``tv_tensors`` and ``ImageFolder`` work with it when
installed. See docs/torchvision.md.
"""

from __future__ import annotations

from . import io
from .datasets import WlcFolder, is_wlc_file, wlc_loader
from .latents import (
    LatentRandomCrop,
    LatentRandomHorizontalFlip,
    collate_latents,
    flip_classes,
    hflip_latent,
)
from .resample import resample
from .shards import WlcShards, wds_decoder
from .transforms import WallocDecode, WallocEncode, WallocRoundTrip

__all__ = [
    "LatentRandomCrop",
    "LatentRandomHorizontalFlip",
    "WallocDecode",
    "WallocEncode",
    "WallocRoundTrip",
    "WlcFolder",
    "WlcShards",
    "collate_latents",
    "flip_classes",
    "hflip_latent",
    "io",
    "is_wlc_file",
    "resample",
    "wds_decoder",
    "wlc_loader",
]
