"""WaLLoC for PyTorch data pipelines: transforms, IO and datasets in torchvision / torchaudio style.

Needs only torch; torchvision's ``tv_tensors``, ``v2.Compose`` and ``ImageFolder`` work with it
when installed. Names resolve on first use, so that the registry's loading of
``torchvision_ext.hooks`` (for ``walloc codecs``) imports no torch. See docs/torchvision.md.
"""

from __future__ import annotations

import importlib
from typing import Any

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

_LAZY = {
    "LatentRandomCrop": "latents",
    "LatentRandomHorizontalFlip": "latents",
    "WallocDecode": "transforms",
    "WallocEncode": "transforms",
    "WallocRoundTrip": "transforms",
    "WlcFolder": "datasets",
    "WlcShards": "shards",
    "collate_latents": "latents",
    "flip_classes": "latents",
    "hflip_latent": "latents",
    "is_wlc_file": "datasets",
    "resample": "resampling",
    "wds_decoder": "shards",
    "wlc_loader": "datasets",
}


def __getattr__(name: str) -> Any:
    if name == "io":
        return importlib.import_module(".io", __name__)
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'torchvision_ext' has no attribute {name!r}")
